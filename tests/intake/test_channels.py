"""Every channel ends in the same `ComplaintReceived`: web form, API, staff, email, contractor."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest
import uvicorn
from playwright.async_api import Browser, async_playwright

from putright.intake.contractor import signature
from putright.shared.events import ComplaintReceived, Event, EventData, Stage1Acknowledged
from putright.shared.topics import Stream
from tests.conftest import eventually, free_port
from tests.intake.conftest import Intake, Organisation
from tests.intake.test_lifecycle import acknowledgement

pytestmark = pytest.mark.connected

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
async def landlord(intake: Intake) -> Organisation:
    return await intake.organisation(
        name="Chesterfield Borough Council",
        complaints_email=f"complaints-{uuid.uuid4().hex[:6]}@chesterfield.example.gov.uk",
    )


@pytest.fixture(scope="module")
async def contractor(intake: Intake, landlord: Organisation) -> Organisation:
    contractor = await intake.organisation("contractor", name="Unitas Ltd")
    await intake.contract(landlord, contractor, ("repairs",))
    return contractor


@pytest.fixture(scope="module")
async def web_address(intake: Intake) -> AsyncIterator[str]:
    """Intake served over real HTTP (sharing the module's running app) for the browser."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(intake.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: _started(server), timeout=20)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def _started(server: uvicorn.Server) -> bool:
    return bool(server.started)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


def received_event(events: list[Event[EventData]]) -> ComplaintReceived:
    data = events[0].data
    assert isinstance(data, ComplaintReceived)
    return data


@pytest.mark.browser
async def test_a_resident_completes_the_web_form_and_sees_the_reference(
    intake: Intake, landlord: Organisation, web_address: str, browser: Browser
) -> None:
    page = await browser.new_page()
    await page.goto(f"{web_address}/complain/{landlord.slug}")
    assert await page.title() == "Make a complaint – Chesterfield Borough Council"
    await page.get_by_label("Your full name").fill("Jo Tenant")
    await page.get_by_label("By email").check()
    await page.get_by_label("Email address").fill("jo@example.org")
    await page.get_by_label("What is your complaint about?").select_option("repairs")
    await page.get_by_label("What went wrong?").fill("The front door lock broke a month ago.")
    await page.get_by_label("What would you like us to do").fill("Replace the lock.")
    await page.get_by_label("Do you need us to do anything differently").fill("Large print")
    await page.get_by_role("button", name="Send complaint").click()
    reference = (await page.locator("#reference").inner_text()).strip()
    assert reference.startswith("C-")
    await page.close()

    listed = await intake.client.get(
        f"/v1/complaints?reference={reference}", headers=landlord.headers
    )
    [summary] = listed.json()["items"]
    received = received_event(await intake.events_about(summary["id"], 1))
    assert received.channel == "web"
    assert received.reference == reference
    assert received.resident.name == "Jo Tenant"
    assert received.resident.reasonable_adjustments == ["Large print"]


@pytest.mark.browser
async def test_a_wrong_web_form_shows_each_error_beside_its_field(
    landlord: Organisation, web_address: str, browser: Browser
) -> None:
    page = await browser.new_page()
    await page.goto(f"{web_address}/complain/{landlord.slug}")
    await page.get_by_label("Email address").fill("not-an-email")
    await page.get_by_label("When did the problem start").fill("2099-01-01")
    await page.get_by_role("button", name="Send complaint").click()

    summary = page.get_by_role("alert")
    assert "There is a problem" in await summary.inner_text()
    links = await summary.get_by_role("link").all_inner_texts()
    assert links == [
        "Enter your full name",
        "Enter an email address in the correct format, like name@example.com",
        "Choose what your complaint is about",
        "Tell us what went wrong",
        "The date must be today or in the past",
    ]
    name = page.get_by_label("Your full name")
    assert await name.get_attribute("aria-invalid") == "true"
    assert await name.get_attribute("aria-describedby") == "name-error"
    assert "Enter your full name" in await page.locator("#name-error").inner_text()
    email = page.get_by_label("Email address")
    assert await email.input_value() == "not-an-email"
    assert await page.title() == "Error: Make a complaint – Chesterfield Borough Council"
    await page.close()


async def test_a_forged_form_post_is_refused(intake: Intake, landlord: Organisation) -> None:
    forged = await intake.client.post(
        f"/complain/{landlord.slug}",
        data={"csrf_token": "forged", "name": "X", "description": "Y", "category": "repairs"},
    )
    assert forged.status_code == 400
    assert "This form has expired" in forged.text


@pytest.mark.smtp
async def test_an_email_to_the_complaints_address_is_logged_with_the_original_kept(
    intake: Intake, landlord: Organisation
) -> None:
    profile = (await intake.client.get("/v1/organisation", headers=landlord.headers)).json()
    address = profile["profile"]["complaints_email"]
    message = EmailMessage()
    message["From"] = "Ali Resident <ali@example.org>"
    message["To"] = address
    message["Subject"] = "Mould in the bedroom"
    message["Message-ID"] = f"<{uuid.uuid4()}@example.org>"
    message.set_content("There is black mould on the bedroom wall and nobody has come.")
    message.add_attachment(b"\x89PNG fake", maintype="image", subtype="png", filename="mould.png")

    async def send() -> tuple[dict[str, Any], str]:
        return await aiosmtplib.send(
            message, hostname=intake.settings.smtp_host, port=intake.settings.smtp_port
        )

    refused, reply = await send()
    assert not refused
    assert "C-" in reply
    await send()  # delivered twice: still one complaint

    listed = (
        await intake.client.get("/v1/complaints?channel=email", headers=landlord.headers)
    ).json()
    [summary] = listed["items"]
    received = received_event(await intake.events_about(summary["id"], 1))
    assert received.channel == "email"
    assert received.resident.email == "ali@example.org"
    assert received.resident.name == "Ali Resident"
    assert received.description.startswith("There is black mould")
    record = (
        await intake.client.get(f"/v1/complaints/{summary['id']}", headers=landlord.headers)
    ).json()
    [letter] = record["correspondence"]
    assert letter["subject"] == "Mould in the bedroom"
    assert ["Message-ID", message["Message-ID"]] in letter["headers"]
    assert letter["attachments"][0]["filename"] == "mould.png"
    assert letter["attachments"][0]["size"] == len(b"\x89PNG fake")


@pytest.mark.smtp
async def test_mail_to_an_unknown_address_is_refused(intake: Intake) -> None:
    message = EmailMessage()
    message["From"] = "someone@example.org"
    message["To"] = "nobody@nowhere.example"
    message["Subject"] = "Hello"
    message.set_content("Hi")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await aiosmtplib.send(
            message, hostname=intake.settings.smtp_host, port=intake.settings.smtp_port
        )
    assert refused.value.recipients[0].code == 550


def contractor_message(
    contractor: Organisation, landlord: Organisation, **overrides: Any
) -> dict[str, Any]:
    return {
        "message_id": f"UNI-{uuid.uuid4().hex[:8]}",
        "action": "complaint.received",
        "contractor_id": contractor.id,
        "landlord_id": landlord.id,
        "occurred_at": datetime.now(UTC).isoformat(),
        "body": {
            "description": "The operative left the job half done.",
            "category": "repairs",
            "resident": {"name": "Chris Resident", "phone": "01782 000000"},
        },
    } | overrides


async def _produce(intake: Intake, message: dict[str, Any] | bytes) -> None:
    value = message if isinstance(message, bytes) else json.dumps(message).encode()
    await intake.producer.send_and_wait(
        intake.topics.topic(Stream.CONTRACTOR_INBOUND), value, key=b"k"
    )


async def test_contractor_messages_over_kafka_are_mapped_or_dead_lettered(
    intake: Intake, landlord: Organisation, contractor: Organisation
) -> None:
    stranger = await intake.organisation()
    malformed = b'{"action": "complaint.received", "nonsense": true}'
    unauthorised = contractor_message(contractor, stranger)
    uncovered = contractor_message(contractor, landlord)
    uncovered["body"] = {**uncovered["body"], "category": "rent"}
    good = contractor_message(contractor, landlord)
    for message in (malformed, unauthorised, uncovered, good, good):
        await _produce(intake, message)

    async def dead() -> list[dict[str, str]] | None:
        letters = [headers for _, headers in intake.published.dead_letters]
        return letters if len(letters) >= 3 else None

    reasons = [headers["x-dead-letter-reason"] for headers in await eventually(dead, timeout=30)]
    assert reasons[0].startswith("malformed")
    assert reasons[1].startswith("unauthorised")
    assert reasons[2].startswith("unauthorised")

    # The consumer carried on: the good message became a complaint, once.
    async def logged() -> list[Any] | None:
        answer = await intake.client.get(
            "/v1/complaints?channel=contractor", headers=contractor.headers
        )
        items = answer.json()["items"]
        return items or None

    [summary] = await eventually(logged, timeout=30)
    received = received_event(await intake.events_about(summary["id"], 1))
    assert received.channel == "contractor"
    assert received.external_reference == good["message_id"]
    assert str(received.handling_organisation_id) == contractor.id

    acknowledged = contractor_message(
        contractor,
        landlord,
        action="complaint.acknowledged",
        complaint_id=summary["id"],
        body=acknowledgement("unitas-7"),
    )
    await _produce(intake, acknowledged)
    events = await intake.events_about(summary["id"], 2)
    assert isinstance(events[1].data, Stage1Acknowledged)
    assert str(events[1].data.handler.organisation_id) == contractor.id
    assert len(intake.published.about(summary["id"])) == 2


async def _webhook(
    intake: Intake,
    contractor: Organisation,
    body: bytes,
    *,
    secret: str | None = None,
    at: int | None = None,
) -> Any:
    timestamp = str(at if at is not None else int(time.time()))
    return await intake.client.post(
        "/v1/contractor/events",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Putright-Contractor": contractor.id,
            "X-Putright-Timestamp": timestamp,
            "X-Putright-Signature": signature(
                secret or contractor.webhook_secret or "", timestamp, body
            ),
        },
    )


async def test_the_signed_webhook_checks_signature_age_replays_and_contracts(
    intake: Intake, landlord: Organisation, contractor: Organisation
) -> None:
    message = contractor_message(contractor, landlord)
    body = json.dumps(message).encode()
    first = await _webhook(intake, contractor, body)
    assert first.status_code == 201, first.text
    complaint = first.json()["complaint_id"]
    again = await _webhook(intake, contractor, body)
    assert again.status_code == 201
    assert again.json() == first.json()
    await intake.events_about(complaint, 1)
    assert len(intake.published.about(complaint)) == 1

    forged = await _webhook(intake, contractor, body, secret="guess")
    assert forged.status_code == 401
    stale = await _webhook(intake, contractor, body, at=int(time.time()) - 600)
    assert stale.status_code == 401
    assert "stale" in stale.text
    malformed = await _webhook(intake, contractor, b'{"message_id": 1}')
    assert malformed.status_code == 422
    stranger = await intake.organisation()
    unauthorised = await _webhook(
        intake, contractor, json.dumps(contractor_message(contractor, stranger)).encode()
    )
    assert unauthorised.status_code == 404


async def test_every_channel_produces_the_same_canonical_event(
    intake: Intake, landlord: Organisation, contractor: Organisation
) -> None:
    staff = await intake.submit(landlord, channel="phone", received_at="2026-11-02T09:15:00+00:00")
    website = await intake.submit(landlord)
    webhook = await _webhook(
        intake, contractor, json.dumps(contractor_message(contractor, landlord)).encode()
    )
    ids = [staff["id"], website["id"], webhook.json()["complaint_id"]]
    events = [(await intake.events_about(complaint, 1))[0] for complaint in ids]
    assert {event.type for event in events} == {"uk.putright.complaint.received.v1"}
    assert {str(event.organisation_id) for event in events} == {landlord.id}
    channels = [received_event([event]).channel for event in events]
    assert channels == ["phone", "web", "contractor"]
    assert received_event([events[0]]).received_at == datetime(2026, 11, 2, 9, 15, tzinfo=UTC)
