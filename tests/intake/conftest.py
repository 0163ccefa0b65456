"""One running intake app per test module, on the real Kafka and PostgreSQL.

Each module gets its own topic prefix, an app whose clock the tests can move, and a
collector that reads everything intake publishes (and dead-letters) into memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from fastapi import FastAPI

from putright.intake.app import create_app
from putright.intake.settings import IntakeSettings
from putright.shared.events import Event, EventData, parse_event
from putright.shared.topics import Stream, Topics
from tests.conftest import eventually, free_port

ADMIN_TOKEN = "test-admin-token"


class MovableClock:
    """A clock tests set and move; the app asks it for "now"."""

    def __init__(self) -> None:
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        return self.now or datetime.now(UTC)

    def set(self, instant: datetime) -> None:
        """Freeze at `instant`."""
        self.now = instant

    def advance(self, delta: timedelta) -> None:
        """Move a frozen clock on."""
        self.now = self() + delta

    def reset(self) -> None:
        """Follow real time again."""
        self.now = None


@dataclass
class Published:
    """Everything read back from intake's topics."""

    events: list[Event[EventData]] = field(default_factory=list)
    dead_letters: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    def about(self, subject: UUID | str) -> list[Event[EventData]]:
        """The events published about one subject, in order."""
        return [event for event in self.events if str(event.subject) == str(subject)]


@dataclass
class Organisation:
    """A test organisation and the key it calls with."""

    id: str
    slug: str
    token: str
    webhook_secret: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        """Authorization for its API key."""
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Intake:
    """A running intake service and helpers to drive it."""

    app: FastAPI
    client: httpx.AsyncClient
    clock: MovableClock
    settings: IntakeSettings
    published: Published
    producer: AIOKafkaProducer

    @property
    def topics(self) -> Topics:
        """This module's topic names."""
        return self.settings.topics

    async def organisation(
        self,
        kind: str = "landlord",
        *,
        scopes: tuple[str, ...] = ("submit", "handle", "report", "admin"),
        **profile: Any,
    ) -> Organisation:
        """Register an organisation through the admin API and give it a key."""
        name = profile.pop("name", f"Test {kind} {uuid.uuid4().hex[:6]}")
        created = await self.client.post(
            "/v1/admin/organisations",
            json={"name": name, "kind": kind, **profile},
            headers={"X-Admin-Token": ADMIN_TOKEN},
        )
        assert created.status_code == 201, created.text
        body = created.json()
        key = await self.client.post(
            f"/v1/admin/organisations/{body['id']}/api-keys",
            json={"name": "test", "scopes": list(scopes)},
            headers={"X-Admin-Token": ADMIN_TOKEN},
        )
        assert key.status_code == 201, key.text
        return Organisation(
            id=body["id"],
            slug=body["slug"],
            token=key.json()["token"],
            webhook_secret=body.get("webhook_secret"),
        )

    async def contract(
        self,
        landlord: Organisation,
        contractor: Organisation,
        categories: tuple[str, ...] = ("repairs",),
        *,
        handles_stage1: bool = True,
    ) -> dict[str, Any]:
        """Agree a contract through the admin API."""
        response = await self.client.post(
            "/v1/admin/contracts",
            json={
                "landlord_id": landlord.id,
                "contractor_id": contractor.id,
                "categories": list(categories),
                "contractor_handles_stage1": handles_stage1,
            },
            headers={"X-Admin-Token": ADMIN_TOKEN},
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def submit(self, caller: Organisation, **overrides: Any) -> dict[str, Any]:
        """Submit a complaint and insist it is accepted."""
        response = await self.client.post(
            "/v1/complaints", json=complaint_body(**overrides), headers=caller.headers
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def command(
        self, caller: Organisation, complaint_id: str, path: str, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        """POST a lifecycle command."""
        return await self.client.post(
            f"/v1/complaints/{complaint_id}/{path}", json=body or {}, headers=caller.headers
        )

    async def events_about(self, subject: UUID | str, count: int) -> list[Event[EventData]]:
        """Wait until `count` events about `subject` have been published, and return them."""

        async def enough() -> list[Event[EventData]] | None:
            found = self.published.about(subject)
            return found if len(found) >= count else None

        return await eventually(enough, timeout=30)  # type: ignore[no-any-return]


def complaint_body(**overrides: Any) -> dict[str, Any]:
    """A valid complaint submission, with any field replaced."""
    return {
        "description": "The kitchen ceiling has leaked since the roof repair in March.",
        "category": "repairs",
        "outcomes_sought": "Fix the roof and redecorate the kitchen.",
        "resident": {
            "name": "Sam Resident",
            "email": "sam@example.org",
            "disclosed_disabilities": ["partially sighted"],
            "letter_format": "large_print",
            "reasonable_adjustments": ["large print letters"],
        },
    } | overrides


async def _collect(bootstrap: str, topics: list[str], into: Published) -> None:
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        async for record in consumer:
            if record.topic.endswith(".dlt"):
                headers = {key: value.decode() for key, value in record.headers}
                into.dead_letters.append((record.value or b"", headers))
            else:
                into.events.append(parse_event(record.value or b""))
    finally:
        await consumer.stop()


async def _create_topics(bootstrap: str, topics: Topics) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=1, replication_factor=1) for name in topics.all()]
        )
    finally:
        await admin.close()


@pytest.fixture(scope="module")
async def intake(kafka_bootstrap: str, database_url: str) -> AsyncIterator[Intake]:
    """One intake app for the whole module, with its SMTP mailbox listening."""
    settings = IntakeSettings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"intake{uuid.uuid4().hex[:10]}",
        outbox_poll_seconds=0.1,
        consumer_retry_backoff_seconds=0.01,
        consumer_max_attempts=2,
        admin_token=ADMIN_TOKEN,
        smtp_enabled=True,
        smtp_port=free_port(),
        max_request_bytes=200_000,
    )
    await _create_topics(kafka_bootstrap, settings.topics)
    clock = MovableClock()
    app = create_app(settings, clock=clock)
    published = Published()
    collector = asyncio.create_task(
        _collect(
            kafka_bootstrap,
            [
                settings.topics.topic(Stream.COMPLAINTS),
                settings.topics.topic(Stream.ORGANISATIONS),
                settings.topics.dead_letter(Stream.CONTRACTOR_INBOUND),
            ],
            published,
        )
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
                yield Intake(app, client, clock, settings, published, producer)
    finally:
        await producer.stop()
        collector.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collector


@pytest.fixture(autouse=True)
def _real_time(request: pytest.FixtureRequest) -> None:
    """Each test using the app starts on the real clock."""
    if "intake" in request.fixturenames:
        request.getfixturevalue("intake").clock.reset()
