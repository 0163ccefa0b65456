"""Who a letter goes to and how, and how an email is built, without infrastructure."""

from __future__ import annotations

from datetime import date, timedelta
from email import message_from_bytes
from email.policy import default
from uuid import uuid4

from putright.letters.flows import addressee_of, letter_id, message_id, needs_large_print
from putright.letters.models import Letter
from putright.letters.printing import print_ready_pdf
from putright.letters.rendering import UNBRANDED, render
from putright.letters.sending import backoff, build_email, header_text
from putright.letters.settings import LettersSettings
from putright.shared.events import Delivery, LetterKind
from putright.shared.events.values import (
    ContactPreference,
    LetterFormat,
    PostalAddress,
    Representative,
)
from tests.letters.samples import NOW, facts, resident

HOME = PostalAddress(lines=["4 Elm Row", "Elmbridge"], postcode="EL2 2BB")
COUNCILLOR = Representative(
    name="Cllr Morgan",
    relationship="councillor",
    email="morgan@council.example",
    consent_recorded_on=date(2026, 11, 1),
)


def test_the_resident_is_emailed_by_default() -> None:
    addressee = addressee_of(resident(), None)
    assert (addressee.name, addressee.email, addressee.delivery) == (
        "Alex Resident",
        "alex@example.org",
        Delivery.EMAIL,
    )
    assert addressee.on_behalf_of is None


def test_a_consenting_representative_receives_the_letter_on_the_residents_behalf() -> None:
    addressee = addressee_of(resident(), COUNCILLOR)
    assert addressee.name == "Cllr Morgan"
    assert addressee.email == "morgan@council.example"
    assert addressee.on_behalf_of == "Alex Resident"


def test_a_representative_who_does_not_receive_correspondence_is_not_written_to() -> None:
    quiet = COUNCILLOR.model_copy(update={"receives_correspondence": False})
    assert addressee_of(resident(), quiet).name == "Alex Resident"


def test_no_email_or_a_preference_for_post_means_a_posted_letter() -> None:
    no_email = resident(email=None, address=HOME)
    assert addressee_of(no_email, None).delivery is Delivery.POST
    prefers_post = resident(contact_preference=ContactPreference.POST, address=HOME)
    assert addressee_of(prefers_post, None).delivery is Delivery.POST
    assert addressee_of(prefers_post, None).address == HOME


def test_large_print_comes_from_the_format_or_a_recorded_adjustment() -> None:
    assert needs_large_print(resident(letter_format=LetterFormat.LARGE_PRINT))
    assert needs_large_print(resident(reasonable_adjustments=["Large print, please"]))
    assert not needs_large_print(resident())


def test_ids_follow_from_complaint_kind_and_cause() -> None:
    complaint, cause = uuid4(), uuid4()
    assert letter_id(complaint, "receipt", cause) == letter_id(complaint, "receipt", cause)
    assert letter_id(complaint, "receipt", cause) != letter_id(complaint, "extension", cause)
    assert message_id(letter_id(complaint, "receipt", cause), "example.org").endswith(
        "@example.org>"
    )


def test_header_text_strips_cr_lf_and_nul() -> None:
    assert header_text("Alex\r\nBcc: victim@example.org\x00") == "AlexBcc: victim@example.org"


def test_an_email_has_both_parts_its_message_id_and_safe_headers() -> None:
    rendered = render(LetterKind.RECEIPT, facts(), letterhead=UNBRANDED, written_on=NOW.date())
    letter = Letter(
        id=uuid4(),
        complaint_id=uuid4(),
        organisation_id=uuid4(),
        kind=LetterKind.RECEIPT,
        caused_by_event_id=uuid4(),
        correlation_id=uuid4(),
        message_id="<abc@putright.invalid>",
        recipient="alex@example.org",
        subject="Your complaint\r\nBcc: someone@example.org",
        html=rendered.html,
        text=rendered.text,
    )
    email = build_email(
        letter,
        sender="complaints@elmbridge.example",
        sender_name="Elmbridge\nHomes",
        reply_to=None,
        sent_at=NOW,
    )
    parsed = message_from_bytes(email.as_bytes())
    assert parsed["Message-ID"] == "<abc@putright.invalid>"
    assert parsed["Subject"] == "Your complaintBcc: someone@example.org"
    assert parsed["Bcc"] is None
    assert parsed["From"] == "ElmbridgeHomes <complaints@elmbridge.example>"
    assert parsed.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in parsed.get_payload()] == [  # type: ignore[union-attr]
        "text/plain",
        "text/html",
    ]


def test_non_ascii_subjects_names_and_addresses_survive_the_trip() -> None:
    rendered = render(LetterKind.RECEIPT, facts(), letterhead=UNBRANDED, written_on=NOW.date())
    letter = Letter(
        id=uuid4(),
        complaint_id=uuid4(),
        organisation_id=uuid4(),
        kind=LetterKind.RECEIPT,
        caused_by_event_id=uuid4(),
        correlation_id=uuid4(),
        message_id="<def@putright.invalid>",
        recipient="alex@example.org",
        subject="Eich cwyn — Tŷ Glan",
        html=rendered.html,
        text=rendered.text + "Diolch — £5\n",
    )
    options = {"sender": "post@ty.example", "reply_to": None, "sent_at": NOW}
    email = build_email(letter, sender_name="Cartrefi Tŷ", **options)  # type: ignore[arg-type]
    parsed = message_from_bytes(email.as_bytes(), policy=default)
    assert not email.smtputf8
    assert email.recipients == ("alex@example.org",)
    assert parsed["Subject"] == "Eich cwyn — Tŷ Glan"
    assert parsed["From"] == "Cartrefi Tŷ <post@ty.example>"
    assert parsed.get_body(("plain",)).get_content().endswith("Diolch — £5\n")  # type: ignore[union-attr]
    international = letter.model_copy(update={"recipient": "zoë@example.org"})
    email = build_email(international, sender_name="Cartrefi Tŷ", **options)  # type: ignore[arg-type]
    assert email.smtputf8
    assert message_from_bytes(email.as_bytes(), policy=default)["To"] == "zoë@example.org"


def test_back_off_doubles_up_to_a_ceiling() -> None:
    settings = LettersSettings(send_backoff_seconds=30, send_backoff_max_seconds=100)
    assert [backoff(attempt, settings) for attempt in (1, 2, 3, 4)] == [
        timedelta(seconds=30),
        timedelta(seconds=60),
        timedelta(seconds=100),
        timedelta(seconds=100),
    ]


def test_a_posted_letter_prints_as_a_pdf_with_the_address() -> None:
    letter_facts = facts(address=HOME, large_print=True)
    rendered = render(LetterKind.RECEIPT, letter_facts, letterhead=UNBRANDED, written_on=NOW.date())
    assert "4 Elm Row" in rendered.html
    pdf = print_ready_pdf(rendered.html)
    assert pdf.startswith(b"%PDF-")
    assert len(pdf) > 1000
