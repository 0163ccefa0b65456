"""Running the letters service against real Kafka, PostgreSQL and SMTP in a test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from email.message import Message
from typing import Any
from uuid import UUID

import httpx
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI

from putright.letters.app import create_app
from putright.letters.sending import Mailer
from putright.letters.settings import LettersSettings
from putright.shared.events import Event, EventData, parse_event
from putright.shared.messaging import create_broker
from putright.shared.topics import Stream, Topics, stream_of
from tests.conftest import SmtpSink
from tests.letters.samples import envelope

FAST = {
    "send_poll_seconds": 0.05,
    "send_backoff_seconds": 0.05,
    "send_backoff_max_seconds": 0.2,
    "profile_wait_seconds": 30,
}


def settings_for(
    service_env: dict[str, Any], sink: SmtpSink | None = None, **overrides: Any
) -> LettersSettings:
    """Letters' settings for a connected test, sending to `sink` if given."""
    smtp = {"smtp_host": sink.host, "smtp_port": sink.port} if sink else {}
    return LettersSettings(**(service_env | FAST | smtp | overrides))


@contextlib.asynccontextmanager
async def letters_service(
    settings: LettersSettings, *, mailer: Mailer | None = None
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """Run the service (consumers, relay, sender) and give an HTTP client to it."""
    app = create_app(settings, mailer=mailer)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client


class Publisher:
    """Publishes events as intake and deadlines would, keyed by subject."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.broker = create_broker(bootstrap, client_id="letters-tests")
        self.topics = Topics(prefix)

    async def __aenter__(self) -> Publisher:
        await self.broker.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.broker.stop()

    async def send(self, *events: Event[Any]) -> None:
        """Publish events in order, waiting for each acknowledgement."""
        for event in events:
            await self.broker.publish(
                event.model_dump_json().encode(),
                topic=self.topics.topic(stream_of(event.type)),
                key=str(event.subject).encode(),
            )

    async def about(
        self, complaint: UUID, organisation: UUID, *payloads: EventData
    ) -> list[Event[Any]]:
        """Publish payloads about one complaint; returns the events sent."""
        events = [
            envelope(data, subject=complaint, organisation_id=organisation) for data in payloads
        ]
        await self.send(*events)
        return events


async def read_letter_events(
    bootstrap: str,
    prefix: str,
    until: Callable[[list[Event[Any]]], bool],
    timeout: float = 60.0,
) -> list[Event[Any]]:
    """Read the letters topic from the start until `until` holds for what was read."""
    consumer = AIOKafkaConsumer(
        Topics(prefix).topic(Stream.LETTERS),
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    events: list[Event[Any]] = []
    try:
        async with asyncio.timeout(timeout):
            while not until(events):
                batches = await consumer.getmany(timeout_ms=200)
                events += [parse_event(r.value) for rs in batches.values() for r in rs]
    finally:
        await consumer.stop()
    return events


def parts(email: Message) -> dict[str, str]:
    """The text and HTML parts of an email, by content type."""
    found = {}
    for part in email.walk():
        if part.get_content_type() in ("text/plain", "text/html"):
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found[part.get_content_type()] = payload.decode(part.get_content_charset() or "utf-8")
    return found


def header(organisation: UUID) -> dict[str, str]:
    """The organisation header the platform's ingress sets."""
    return {"X-Putright-Organisation": str(organisation)}
