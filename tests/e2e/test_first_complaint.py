"""One complaint through all four services, on real Kafka, PostgreSQL and SMTP."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlmodel import select

from putright.deadlines.app import create_app as create_deadlines
from putright.deadlines.models import Clock
from putright.deadlines.settings import DeadlinesSettings
from putright.intake.app import create_app as create_intake
from putright.intake.settings import IntakeSettings
from putright.letters.app import create_app as create_letters
from putright.letters.models import Letter
from putright.letters.settings import LettersSettings
from putright.reporting.app import create_app as create_reporting
from putright.reporting.settings import ReportingSettings
from putright.shared.calendar import WorkingCalendar, local_date
from putright.shared.events.envelope import utc_now
from tests.conftest import SmtpSink, eventually

pytestmark = [pytest.mark.connected, pytest.mark.smtp]
ADMIN_TOKEN = "e2e-admin-token"


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run an app's lifespan (broker, relay, consumers) and give an HTTP client to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_a_complaint_posted_to_intake_reaches_every_service(
    service_env: dict[str, Any], smtp_sink: SmtpSink
) -> None:
    intake = create_intake(IntakeSettings(**service_env, admin_token=ADMIN_TOKEN))
    deadlines = create_deadlines(DeadlinesSettings(**service_env))
    letters = create_letters(
        LettersSettings(
            **service_env,
            smtp_host=smtp_sink.host,
            smtp_port=smtp_sink.port,
            mail_from="complaints@example-council.gov.uk",
        )
    )
    reporting = create_reporting(ReportingSettings(**service_env))

    async with (
        serving(intake) as intake_api,
        serving(deadlines),
        serving(letters),
        serving(reporting) as reporting_api,
    ):
        admin = {"X-Admin-Token": ADMIN_TOKEN}
        landlord = await intake_api.post(
            "/v1/admin/organisations",
            json={"name": "Example Council", "kind": "landlord", "homes": 4000},
            headers=admin,
        )
        assert landlord.status_code == 201, landlord.text
        landlord_id = landlord.json()["id"]
        key = await intake_api.post(
            f"/v1/admin/organisations/{landlord_id}/api-keys",
            json={"name": "website", "scopes": ["submit"]},
            headers=admin,
        )
        assert key.status_code == 201, key.text

        posted = await intake_api.post(
            "/v1/complaints",
            json={
                "description": "The boiler has been broken for three weeks.",
                "category": "repairs",
                "resident": {"name": "Alex Resident", "email": "alex@example.org"},
            },
            headers={"Authorization": f"Bearer {key.json()['token']}"},
        )
        assert posted.status_code == 201, posted.text
        complaint_id = posted.json()["id"]
        reference = posted.json()["reference"]

        # Deadlines: an acknowledgement clock 5 working days after the day received.
        async def clock() -> Clock | None:
            async with deadlines.state.runtime.sessions() as session:
                return (  # type: ignore[no-any-return]
                    await session.exec(select(Clock).where(Clock.complaint_id == complaint_id))
                ).first()

        stored_clock = await eventually(clock)
        assert stored_clock.step == "stage1_acknowledgement"
        assert stored_clock.starts_on == local_date(utc_now())
        assert stored_clock.due_on == WorkingCalendar().add(stored_clock.starts_on, 5)
        assert WorkingCalendar().count(stored_clock.starts_on, stored_clock.due_on) == 5

        # Letters: a receipt emailed to the resident, once, with both parts.
        messages = await smtp_sink.wait_for(1)
        email = messages[0]
        assert email["To"] == "alex@example.org"
        assert reference in email["Subject"]
        assert {part.get_content_type() for part in email.walk()} >= {"text/plain", "text/html"}
        async with letters.state.runtime.sessions() as session:
            letter = (
                await session.exec(select(Letter).where(Letter.complaint_id == complaint_id))
            ).one()
        assert email["Message-ID"] == letter.message_id
        await eventually(lambda: _sent(letters, letter.id))

        # Reporting: the register counts it.
        async def counted() -> bool:
            # The ingress vouches for the viewer's organisation (see putright.reporting.app).
            response = await reporting_api.get(
                f"/v1/organisations/{landlord_id}/volumes",
                headers={"X-Putright-Organisation": landlord_id},
            )
            return bool(response.json()["received"] == 1)

        await eventually(counted)
        assert len(smtp_sink.messages) == 1
        # The ops team sees the same in the metrics.
        assert (
            REGISTRY.get_sample_value("putright_letters_sent_total", {"delivery": "email"}) or 0
        ) >= 1


async def _sent(letters: FastAPI, letter_id: Any) -> bool:
    async with letters.state.runtime.sessions() as session:
        letter = await session.get(Letter, letter_id)
    return letter is not None and letter.status == "sent"
