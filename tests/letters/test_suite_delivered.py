"""The right letter for each event reaches the right person, once, on real Kafka, PostgreSQL
and SMTP; incomplete letters are blocked; posted letters wait in the print queue."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from putright.shared.events import (
    DeadlineApproaching,
    DeadlineMissed,
    Event,
    LetterBlocked,
    LetterKind,
    LetterSent,
    Stage1Acknowledged,
    Stage1Responded,
)
from putright.shared.events.deadlines import ClockStep
from putright.shared.events.values import PostalAddress, Representative, Stage
from tests.conftest import SmtpSink, eventually
from tests.letters.harness import (
    Publisher,
    header,
    letters_service,
    parts,
    read_letter_events,
    settings_for,
)
from tests.letters.samples import (
    ACTION_ID,
    DEFINITION,
    HANDLER,
    LIFECYCLE_KINDS,
    NOW,
    clock_event,
    envelope,
    escalation_refused,
    lifecycle,
    profile,
    received,
    refused,
    resident,
    response,
)

pytestmark = [pytest.mark.connected, pytest.mark.smtp]


async def letters_of(
    client: httpx.AsyncClient, organisation: UUID, complaint: UUID
) -> list[dict[str, Any]]:
    answer = await client.get(
        "/v1/letters", params={"complaint_id": str(complaint)}, headers=header(organisation)
    )
    assert answer.status_code == 200, answer.text
    letters: list[dict[str, Any]] = answer.json()
    return letters


async def all_settled(
    client: httpx.AsyncClient, organisation: UUID, complaint: UUID, count: int
) -> list[dict[str, Any]] | None:
    letters = await letters_of(client, organisation, complaint)
    settled = [letter for letter in letters if letter["status"] != "pending"]
    return letters if len(settled) >= count else None


async def test_each_event_brings_its_letter_to_the_right_person(
    service_env: dict[str, Any], smtp_sink: SmtpSink, kafka_bootstrap: str, topic_prefix: str
) -> None:
    landlord, complaint, represented, refused_one = uuid4(), uuid4(), uuid4(), uuid4()
    councillor = Representative(
        name="Cllr Morgan",
        relationship="councillor",
        email="morgan@council.example",
        consent_recorded_on=date(2026, 11, 1),
    )
    async with (
        letters_service(settings_for(service_env, smtp_sink)) as (_, client),
        Publisher(kafka_bootstrap, topic_prefix) as publish,
    ):
        logo = '<img src="https://elmbridge.example/logo.png" alt="Elmbridge Homes">'
        layout = await client.put(
            "/v1/letter-layout", json={"blocks": {"logo": logo}}, headers=header(landlord)
        )
        assert layout.status_code == 200, layout.text
        await publish.about(landlord, landlord, profile())
        await publish.about(
            complaint, landlord, received("PR-1", resident=resident()), *lifecycle()
        )
        await publish.about(
            represented,
            landlord,
            received("PR-2", resident=resident(), representative=councillor),
            refused(),
        )
        await publish.about(
            refused_one,
            landlord,
            received("PR-3", resident=resident(email="sam@example.org")),
            escalation_refused(),
        )
        await eventually(lambda: all_settled(client, landlord, complaint, 6))
        # Clock events come on another topic: send them once the response's actions are known.
        await publish.about(
            complaint,
            landlord,
            clock_event(DeadlineMissed, ClockStep.STAGE1_RESPONSE, stage=Stage.ONE),
            clock_event(DeadlineApproaching, ClockStep.OUTSTANDING_ACTION, item_id=ACTION_ID),
            clock_event(DeadlineApproaching, ClockStep.RESIDENT_UPDATE, stage=Stage.TWO),
            clock_event(DeadlineApproaching, ClockStep.STAGE2_RESPONSE, stage=Stage.TWO),
        )
        letters = await eventually(lambda: all_settled(client, landlord, complaint, 9))
        await eventually(lambda: all_settled(client, landlord, represented, 2))
        await eventually(lambda: all_settled(client, landlord, refused_one, 2))
        emails = await smtp_sink.wait_for(13)

        by_message_id = {email["Message-ID"]: email for email in emails}
        assert len(by_message_id) == len(emails) == 13, "one email per letter"
        kinds = [letter["kind"] for letter in letters]
        assert kinds == [
            LetterKind.RECEIPT,
            *LIFECYCLE_KINDS,
            LetterKind.LATE_RESPONSE_UPDATE,
            LetterKind.OUTSTANDING_ACTION_UPDATE,
            LetterKind.LATE_RESPONSE_UPDATE,
        ]
        for letter in letters:
            email = by_message_id[letter["message_id"]]
            assert letter["status"] == "sent"
            assert email["To"] == "alex@example.org"
            assert email["From"] == "Elmbridge Homes <complaints@elmbridge-homes.example>"
            assert email["Subject"] == letter["subject"]
            assert "PR-1" in email["Subject"]
            body = parts(email)
            assert set(body) == {"text/plain", "text/html"}
            assert "0300 111 3000" in body["text/plain"]
            assert "0300 111 3000" in body["text/html"]
            assert "https://elmbridge.example/logo.png" in body["text/html"]
            record = await client.get(f"/v1/letters/{letter['id']}", headers=header(landlord))
            assert (
                record.json()["html"] == body["text/html"].replace("\r\n", "\n").rstrip("\n") + "\n"
            )

        to_councillor = await letters_of(client, landlord, represented)
        assert [letter["kind"] for letter in to_councillor] == ["receipt", "refusal"]
        for letter in to_councillor:
            email = by_message_id[letter["message_id"]]
            assert email["To"] == "morgan@council.example"
            assert letter["to_representative"] is True
            assert "on behalf of Alex Resident" in parts(email)["text/plain"]
        escalation = await letters_of(client, landlord, refused_one)
        assert [letter["kind"] for letter in escalation] == ["receipt", "escalation_refusal"]
        assert by_message_id[escalation[1]["message_id"]]["To"] == "sam@example.org"


async def test_a_new_letter_is_sent_without_waiting_for_the_senders_poll(
    service_env: dict[str, Any], smtp_sink: SmtpSink, kafka_bootstrap: str, topic_prefix: str
) -> None:
    landlord, complaint = uuid4(), uuid4()
    # The sender polls far less often than the test waits: only the consumer's wake-up
    # can get the receipt out in time.
    settings = settings_for(service_env, smtp_sink, send_poll_seconds=600, profile_wait_seconds=0)
    async with (
        letters_service(settings),
        Publisher(kafka_bootstrap, topic_prefix) as publish,
    ):
        await publish.about(complaint, landlord, received("PR-10", resident=resident()))
        emails = await smtp_sink.wait_for(1, timeout=60)
    assert "PR-10" in str(emails[0]["Subject"])


async def test_the_same_event_twice_sends_one_email(
    service_env: dict[str, Any], smtp_sink: SmtpSink, kafka_bootstrap: str, topic_prefix: str
) -> None:
    landlord, complaint = uuid4(), uuid4()
    receipt = envelope(
        received("PR-9", resident=resident()), subject=complaint, organisation_id=landlord
    )
    acknowledged = envelope(
        Stage1Acknowledged(
            acknowledged_at=NOW,
            definition=DEFINITION,
            handler=HANDLER,
            response_due_on=date(2026, 12, 9),
        ),
        subject=complaint,
        organisation_id=landlord,
    )
    async with (
        letters_service(settings_for(service_env, smtp_sink)) as (_, client),
        Publisher(kafka_bootstrap, topic_prefix) as publish,
    ):
        await publish.about(landlord, landlord, profile())
        # The acknowledgement follows both copies on the complaint's partition, so once its
        # letter is sent the duplicate has been consumed too.
        await publish.send(receipt, receipt, acknowledged, acknowledged)
        await eventually(lambda: all_settled(client, landlord, complaint, 2))
        emails = await smtp_sink.wait_for(2)
        assert len(emails) == 2
        assert len({email["Message-ID"] for email in emails}) == 2


async def test_a_response_missing_an_item_is_blocked_and_staff_see_why(
    service_env: dict[str, Any], smtp_sink: SmtpSink, kafka_bootstrap: str, topic_prefix: str
) -> None:
    landlord, complaint = uuid4(), uuid4()
    incomplete = response(Stage.ONE, reasons="   ", remedies=[], no_remedy_reason=None)
    async with (
        letters_service(settings_for(service_env, smtp_sink)) as (_, client),
        Publisher(kafka_bootstrap, topic_prefix) as publish,
    ):
        await publish.about(landlord, landlord, profile())
        sent = await publish.about(
            complaint,
            landlord,
            received("PR-4", resident=resident()),
            Stage1Responded(responded_at=NOW, handler=HANDLER, response=incomplete),
        )
        events = await read_letter_events(
            kafka_bootstrap,
            topic_prefix,
            lambda seen: (
                any(isinstance(event.data, LetterBlocked) for event in seen)
                and any(isinstance(event.data, LetterSent) for event in seen)
            ),
        )
        blocked: Event[Any] = next(e for e in events if isinstance(e.data, LetterBlocked))
        assert blocked.data.kind is LetterKind.STAGE1_RESPONSE
        assert blocked.data.missing_items == [
            "d: the reasons for the decision",
            "e: the remedy offered, or why there is none",
        ]
        assert blocked.causation_id == sent[1].id
        assert blocked.correlation_id == sent[1].correlation_id
        letters = await letters_of(client, landlord, complaint)
        assert [(letter["kind"], letter["status"]) for letter in letters] == [
            ("receipt", "sent"),
            ("stage1_response", "blocked"),
        ]
        assert letters[1]["missing_items"] == blocked.data.missing_items
        assert [email["Subject"] for email in smtp_sink.messages] == [letters[0]["subject"]]


async def test_a_resident_without_email_gets_a_printed_letter(
    service_env: dict[str, Any], smtp_sink: SmtpSink, kafka_bootstrap: str, topic_prefix: str
) -> None:
    landlord, complaint = uuid4(), uuid4()
    home = PostalAddress(lines=["4 Elm Row", "Elmbridge"], postcode="EL2 2BB")
    async with (
        letters_service(settings_for(service_env, smtp_sink)) as (_, client),
        Publisher(kafka_bootstrap, topic_prefix) as publish,
    ):
        await publish.about(landlord, landlord, profile())
        await publish.about(
            complaint,
            landlord,
            received(
                "PR-5",
                resident=resident(email=None, address=home, reasonable_adjustments=["large print"]),
            ),
        )
        events = await read_letter_events(
            kafka_bootstrap,
            topic_prefix,
            lambda seen: any(isinstance(event.data, LetterSent) for event in seen),
        )
        sent = next(event.data for event in events if isinstance(event.data, LetterSent))
        assert sent.delivery == "post"
        queue = (await client.get("/v1/print-queue", headers=header(landlord))).json()
        assert [job["letter_id"] for job in queue] == [str(sent.letter_id)]
        assert queue[0]["address"]["postcode"] == "EL2 2BB"
        pdf = await client.get(f"/v1/print-queue/{sent.letter_id}/pdf", headers=header(landlord))
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF-")
        record = (
            await client.get(f"/v1/letters/{sent.letter_id}", headers=header(landlord))
        ).json()
        assert record["status"] == "queued_for_print"
        assert "large-print" in record["html"]
        printed = await client.post(
            f"/v1/print-queue/{sent.letter_id}/printed", headers=header(landlord)
        )
        assert printed.json()["printed_at"] is not None
        assert smtp_sink.messages == []


async def test_letters_are_seen_only_by_their_own_organisation(
    service_env: dict[str, Any], smtp_sink: SmtpSink, kafka_bootstrap: str, topic_prefix: str
) -> None:
    landlord, stranger, complaint = uuid4(), uuid4(), uuid4()
    async with (
        letters_service(settings_for(service_env, smtp_sink)) as (_, client),
        Publisher(kafka_bootstrap, topic_prefix) as publish,
    ):
        await publish.about(landlord, landlord, profile())
        await publish.about(complaint, landlord, received("PR-6", resident=resident()))
        letters = await eventually(lambda: all_settled(client, landlord, complaint, 1))
        letter = letters[0]["id"]
        assert (
            await client.get(f"/v1/letters/{letter}", headers=header(stranger))
        ).status_code == 404
        assert await letters_of(client, stranger, complaint) == []
        resend = await client.post(f"/v1/letters/{letter}/resend", headers=header(stranger))
        assert resend.status_code == 404
        anonymous = await client.get(f"/v1/letters/{letter}")
        assert anonymous.status_code == 401
        assert "X-Putright-Organisation" in anonymous.text
        refused_layout = await client.put(
            "/v1/letter-layout",
            json={"blocks": {"content": "<p>Nothing</p>"}},
            headers=header(landlord),
        )
        assert refused_layout.status_code == 422
        assert refused_layout.json()["detail"][0]["loc"] == ["body", "blocks", "content"]
