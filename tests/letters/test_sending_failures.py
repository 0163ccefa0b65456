"""Exactly once as far as SMTP allows: a crash after the send resends the same message,
and an outage is retried with back-off, then reported, with nothing lost."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select as select_rows
from sqlmodel import col, select

from putright.letters.flows import Letters, letter_id, message_id
from putright.letters.models import Letter, LetterDelivery, metadata, outbox
from putright.letters.sending import OutgoingEmail, Sender, SmtpMailer
from putright.shared.events import LetterDeliveryFailed, LetterKind, LetterSent, parse_event
from putright.shared.events.envelope import utc_now
from putright.shared.runtime import Runtime
from tests.conftest import SmtpSink, eventually, free_port
from tests.letters.harness import (
    Publisher,
    header,
    letters_service,
    read_letter_events,
    settings_for,
)
from tests.letters.samples import facts_for, profile, received, resident
from tests.letters.test_suite_delivered import all_settled, letters_of

pytestmark = [pytest.mark.connected, pytest.mark.smtp]


class DiesAfterSending:
    """Sends for real, then stops dead: the process is gone before the row is committed."""

    def __init__(self, real: SmtpMailer) -> None:
        self.real = real
        self.sent = asyncio.Event()

    async def send(self, email: OutgoingEmail) -> str:
        reply = await self.real.send(email)
        self.sent.set()
        await asyncio.Event().wait()  # never returns; shutdown cancels it and rolls back
        return reply


async def test_a_crash_between_send_and_commit_resends_only_that_letter_with_its_message_id(
    service_env: dict[str, Any], smtp_sink: SmtpSink, kafka_bootstrap: str, topic_prefix: str
) -> None:
    landlord, first, second = uuid4(), uuid4(), uuid4()
    settings = settings_for(service_env, smtp_sink)
    dying = DiesAfterSending(SmtpMailer(settings))
    async with Publisher(kafka_bootstrap, topic_prefix) as publish:
        async with letters_service(settings, mailer=dying) as (_, client):
            await publish.about(landlord, landlord, profile())
            await publish.about(first, landlord, received("PR-10", resident=resident()))
            await asyncio.wait_for(dying.sent.wait(), timeout=60)
            [crashed] = await letters_of(client, landlord, first)
            assert crashed["status"] == "pending", "the send was never committed"
        assert len(smtp_sink.messages) == 1

        # Restart: the letter is still pending, so it goes again, and nothing else twice.
        await publish.about(second, landlord, received("PR-11", resident=resident()))
        async with letters_service(settings) as (_, client):
            [resent] = await eventually(lambda: all_settled(client, landlord, first, 1))
            [other] = await eventually(lambda: all_settled(client, landlord, second, 1))
            events = await read_letter_events(
                kafka_bootstrap,
                topic_prefix,
                lambda seen: sum(isinstance(event.data, LetterSent) for event in seen) >= 2,
            )
        assert resent["status"] == other["status"] == "sent"
        message_ids = [email["Message-ID"] for email in smtp_sink.messages]
        assert sorted(message_ids) == sorted(
            [crashed["message_id"], crashed["message_id"], other["message_id"]]
        )
        sent = [event.data for event in events if isinstance(event.data, LetterSent)]
        assert sorted(str(data.letter_id) for data in sent) == sorted([resent["id"], other["id"]])


class DiesOnSecondLetter:
    """Sends every letter for real; after the second, the process dies mid-batch."""

    def __init__(self, real: SmtpMailer) -> None:
        self.real = real
        self.sent = 0

    async def send(self, email: OutgoingEmail) -> str:
        reply = await self.real.send(email)
        self.sent += 1
        if self.sent == 2:
            raise RuntimeError("the process died")
        return reply


async def test_a_crash_mid_batch_resends_only_the_letter_in_flight(
    service_env: dict[str, Any], smtp_sink: SmtpSink
) -> None:
    # The database is shared with other tests: these two letters are the oldest, and a
    # batch takes exactly them.
    settings = settings_for(service_env, smtp_sink, profile_wait_seconds=0, send_batch_size=2)
    runtime = Runtime("letters", settings, metadata)
    landlord, kind = uuid4(), LetterKind.RECEIPT
    async with runtime.unit_of_work() as session:
        for minute in range(2):
            complaint, cause = uuid4(), uuid4()
            identity = letter_id(complaint, kind, cause)
            session.add(
                Letter(
                    id=identity,
                    complaint_id=complaint,
                    organisation_id=landlord,
                    kind=kind,
                    caused_by_event_id=cause,
                    correlation_id=cause,
                    message_id=message_id(identity, "crash.invalid"),
                    recipient=f"resident{minute}@example.org",
                    subject="ignored",
                    facts=facts_for(kind).model_dump(mode="json"),
                    created_at=datetime(2000, 1, 1, tzinfo=UTC) + timedelta(minutes=minute),
                )
            )
    letters = Letters(runtime, settings)
    dying = Sender(
        runtime, settings, letters, mailer=DiesOnSecondLetter(SmtpMailer(settings)), clock=utc_now
    )
    with pytest.raises(RuntimeError):
        await dying.send_due()
    async with runtime.sessions() as session:
        rows = (
            await session.exec(select(Letter).where(col(Letter.organisation_id) == landlord))
        ).all()
        journalled = (await session.exec(select(LetterDelivery.letter_id))).all()
    first, second = sorted(rows, key=lambda row: row.created_at)
    assert {first.status, second.status} == {"pending"}, "the batch never committed"
    assert first.id in journalled
    assert second.id not in journalled

    # Restart: the first is only marked sent, the second (in flight at the crash) goes again.
    sender = Sender(runtime, settings, letters, mailer=SmtpMailer(settings), clock=utc_now)
    assert await sender.send_due() == 2
    async with runtime.sessions() as session:
        rows = (
            await session.exec(select(Letter).where(col(Letter.organisation_id) == landlord))
        ).all()
        journal_left = (
            await session.exec(
                select(LetterDelivery).where(col(LetterDelivery.letter_id).in_([first.id]))
            )
        ).all()
        staged = await (await session.connection()).execute(
            select_rows(outbox.c.payload).where(outbox.c.event_type == LetterSent.full_type())
        )
    assert {row.status for row in rows} == {"sent"}
    assert journal_left == []
    assert sorted(email["Message-ID"] for email in smtp_sink.messages) == sorted(
        [first.message_id, second.message_id, second.message_id]
    )
    ours = {first.id, second.id}
    sent = [parse_event(payload).data.letter_id for payload in staged.scalars()]  # type: ignore[attr-defined]
    assert sorted(letter for letter in sent if letter in ours) == sorted(ours), "one event each"
    await runtime.engine.dispose()


class Switchable:
    """A mailer whose server can be changed while the service runs."""

    def __init__(self, target: SmtpMailer) -> None:
        self.target = target

    async def send(self, email: OutgoingEmail) -> str:
        return await self.target.send(email)


async def test_an_smtp_outage_is_retried_then_reported_and_nothing_is_lost(
    service_env: dict[str, Any], smtp_sink: SmtpSink, kafka_bootstrap: str, topic_prefix: str
) -> None:
    landlord, during, after = uuid4(), uuid4(), uuid4()
    outage = settings_for(service_env, smtp_port=free_port(), send_max_attempts=3)
    mailer = Switchable(SmtpMailer(outage))
    async with (
        Publisher(kafka_bootstrap, topic_prefix) as publish,
        letters_service(outage, mailer=mailer) as (_, client),
    ):
        await publish.about(landlord, landlord, profile())
        await publish.about(during, landlord, received("PR-20", resident=resident()))
        events = await read_letter_events(
            kafka_bootstrap,
            topic_prefix,
            lambda seen: any(isinstance(e.data, LetterDeliveryFailed) for e in seen),
        )
        failed = next(e.data for e in events if isinstance(e.data, LetterDeliveryFailed))
        assert failed.attempts == 3
        assert "Connect" in failed.last_error or "refused" in failed.last_error.lower()
        [letter] = await letters_of(client, landlord, during)
        assert (letter["status"], letter["attempts"]) == ("failed", 3)
        assert letter["last_error"] == failed.last_error
        assert smtp_sink.messages == []

        # The mail server is back: new letters go, and the failed one is sent on request.
        mailer.target = SmtpMailer(settings_for(service_env, smtp_sink))
        await publish.about(after, landlord, received("PR-21", resident=resident()))
        [later] = await eventually(lambda: all_settled(client, landlord, after, 1))
        resend = await client.post(
            f"/v1/letters/{failed.letter_id}/resend", headers=header(landlord)
        )
        assert resend.status_code == 200, resend.text
        again = await client.post(
            f"/v1/letters/{failed.letter_id}/resend", headers=header(landlord)
        )
        assert again.status_code == 409
        [retried] = await eventually(lambda: _sent(client, landlord, during))
    assert later["status"] == "sent"
    assert retried["message_id"] == letter["message_id"]
    assert sorted(email["Message-ID"] for email in smtp_sink.messages) == sorted(
        [retried["message_id"], later["message_id"]]
    )


async def _sent(client: Any, landlord: UUID, complaint: UUID) -> list[dict[str, Any]] | None:
    letters = await letters_of(client, landlord, complaint)
    return letters if letters and letters[0]["status"] == "sent" else None
