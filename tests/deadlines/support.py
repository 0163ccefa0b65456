"""A harness for the deadlines service on real Kafka and PostgreSQL, and event builders.

Events go to the complaints and organisations topics through a real broker; the
service runs its full lifespan (consumer, outbox relay, timer loop) with a hand-moved
clock; what it emits is read back from the deadlines topic.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from sqlmodel import col, select

from putright.deadlines.app import create_app
from putright.deadlines.models import Clock, Timer
from putright.deadlines.settings import DeadlinesSettings
from putright.deadlines.timekeeping import ManualTime
from putright.shared.events import (
    ComplaintReceived,
    EscalationRequested,
    Event,
    EventData,
    ExtensionNotified,
    OrganisationKind,
    OrganisationProfile,
    Stage1Acknowledged,
    Stage1Responded,
    Stage2Acknowledged,
    Stage2Responded,
    new_event,
    parse_event,
)
from putright.shared.events.values import (
    Channel,
    ComplaintDefinition,
    Decision,
    Handler,
    OutstandingAction,
    Remedy,
    RemedyKind,
    Resident,
    Stage,
    StageResponse,
)
from putright.shared.messaging import create_broker
from putright.shared.topics import Stream, Topics, stream_of
from tests.conftest import eventually


def at(day: date, hour: int = 10) -> datetime:
    """An instant on a UK day (UTC hours; every test day is well inside its UK date)."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@dataclass
class Complaint:
    """Builds one complaint's events, in the shape intake publishes them."""

    organisation_id: UUID
    id: UUID = field(default_factory=uuid4)
    handler: Handler = field(init=False)

    def __post_init__(self) -> None:
        self.handler = Handler(organisation_id=self.organisation_id, staff_id="s1", name="Kim")

    def event(self, data: EventData) -> Event[Any]:
        """Wrap a payload about this complaint."""
        return new_event(
            data, source="putright/intake", subject=self.id, organisation_id=self.organisation_id
        )

    def received(self, day: date) -> Event[Any]:
        return self.event(
            ComplaintReceived(
                reference=f"C-{self.id.hex[:6]}",
                channel=Channel.PHONE,
                received_at=at(day),
                description="The kitchen ceiling leaks.",
                category="repairs",
                handling_organisation_id=self.organisation_id,
                resident=Resident(name="Sam Resident", email="sam@example.org"),
            )
        )

    def acknowledged(self, day: date, stage: Stage = Stage.ONE) -> Event[Any]:
        definition = ComplaintDefinition(summary="A leak", outcomes_sought="A repair")
        fields: dict[str, Any] = {
            "acknowledged_at": at(day),
            "definition": definition,
            "handler": self.handler,
            "response_due_on": day,
        }
        if stage is Stage.ONE:
            return self.event(Stage1Acknowledged(**fields))
        return self.event(Stage2Acknowledged(**fields))

    def extended(
        self,
        day: date,
        working_days: int,
        *,
        stage: Stage = Stage.ONE,
        good_reason: str | None = None,
        update_interval: int | None = None,
    ) -> Event[Any]:
        return self.event(
            ExtensionNotified(
                stage=stage,
                notified_at=at(day),
                extension_working_days=working_days,
                previous_due_on=day,
                new_due_on=day,
                reason="A surveyor's report is awaited.",
                good_reason_beyond_limit=good_reason,
                update_interval_working_days=update_interval,
            )
        )

    def responded(
        self,
        day: date,
        stage: Stage = Stage.ONE,
        *,
        actions: dict[UUID, date] | None = None,
        remedies: dict[UUID, date] | None = None,
    ) -> Event[Any]:
        response = StageResponse(
            stage=stage,
            complaint_definition="A leak",
            decision=Decision.UPHELD,
            reasons="The repair was late.",
            remedies=[
                Remedy(remedy_id=key, kind=RemedyKind.ACTION, description="Redecorate", due_on=due)
                for key, due in (remedies or {}).items()
            ],
            no_remedy_reason=None if remedies else "None needed",
            outstanding_actions=[
                OutstandingAction(action_id=key, description="Replace the ceiling", due_on=due)
                for key, due in (actions or {}).items()
            ],
            how_to_escalate="Reply to this letter.",
        )
        data = Stage1Responded if stage is Stage.ONE else Stage2Responded
        return self.event(data(responded_at=at(day), handler=self.handler, response=response))

    def escalation_requested(self, day: date) -> Event[Any]:
        return self.event(EscalationRequested(requested_at=at(day), channel=Channel.EMAIL))


def profile(organisation_id: UUID, **fields: Any) -> Event[Any]:
    """An organisation profile snapshot, as intake publishes it."""
    return new_event(
        OrganisationProfile(name="Example Homes", kind=OrganisationKind.LANDLORD, **fields),
        source="putright/intake",
        subject=organisation_id,
        organisation_id=organisation_id,
    )


@dataclass
class Harness:
    """Publishes events, runs deadlines apps, and reads what they emit."""

    service_env: dict[str, Any]
    broker: KafkaBroker
    emitted: list[Event[Any]] = field(default_factory=list)
    reader: AIOKafkaConsumer | None = None

    @property
    def topics(self) -> Topics:
        return Topics(self.service_env["topic_prefix"])

    async def publish(self, *events: Event[Any]) -> None:
        """Send events to their topics, as intake's outbox would."""
        for event in events:
            stream = stream_of(event.type)
            await self.broker.publish(
                event.model_dump_json().encode(),
                topic=self.topics.topic(stream),
                key=str(event.subject).encode(),
            )

    def app(self, time: ManualTime, **settings: Any) -> FastAPI:
        """A deadlines service on the shared database, with fast polls for tests."""
        options = {"timer_poll_seconds": 0.05, **self.service_env, **settings}
        return create_app(DeadlinesSettings(**options), time=time)

    async def read_emitted(self) -> list[Event[Any]]:
        """Every event on the deadlines topic so far (read to the topic's current end)."""
        if self.reader is None:
            self.reader = AIOKafkaConsumer(
                self.topics.topic(Stream.DEADLINES),
                bootstrap_servers=self.service_env["kafka_bootstrap_servers"],
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                metadata_max_age_ms=500,
            )
            await self.reader.start()
        records = list((await self.reader.getmany(timeout_ms=200)).values())
        partitions = list(self.reader.assignment())
        if partitions:
            ends = await self.reader.end_offsets(partitions)
            while [p for p in partitions if await self.reader.position(p) < ends[p]]:
                records.extend((await self.reader.getmany(timeout_ms=200)).values())
        self.emitted += [parse_event(record.value) for batch in records for record in batch]
        return self.emitted

    async def wait_for_emitted(
        self, check: Callable[[list[Event[Any]]], bool], timeout: float = 60.0
    ) -> list[Event[Any]]:
        """Read the deadlines topic until `check` holds for what was emitted."""

        async def holds() -> list[Event[Any]] | None:
            events = await self.read_emitted()
            return events if check(events) else None

        result: list[Event[Any]] = await eventually(holds, timeout=timeout)
        return result


@contextlib.asynccontextmanager
async def harness(service_env: dict[str, Any]) -> AsyncIterator[Harness]:
    """A harness with a started broker for publishing."""
    broker = create_broker(service_env["kafka_bootstrap_servers"], client_id="deadlines-test")
    await broker.start()
    bench = Harness(service_env, broker)
    try:
        yield bench
    finally:
        if bench.reader is not None:
            await bench.reader.stop()
        await broker.stop()


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run an app's lifespan (consumer, relay, timers) and give an HTTP client to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def clocks_of(app: FastAPI, complaint_id: UUID) -> list[Clock]:
    """A complaint's clock rows, soonest due first."""
    async with app.state.runtime.sessions() as session:
        found = await session.exec(
            select(Clock)
            .where(Clock.complaint_id == complaint_id)
            .order_by(col(Clock.due_on), col(Clock.step))
        )
        return list(found.all())


async def clock_count(app: FastAPI, expected: int) -> bool:
    """Whether the app holds at least `expected` clocks."""
    async with app.state.runtime.sessions() as session:
        return len((await session.exec(select(Clock))).all()) >= expected


async def pending_timers(app: FastAPI, before: datetime) -> int:
    """Timers due before `before` that have not fired."""
    async with app.state.runtime.sessions() as session:
        found = await session.exec(
            select(Timer).where(col(Timer.fired_at).is_(None), col(Timer.fire_at) <= before)
        )
        return len(found.all())


def of_type(events: list[Event[Any]], name: str, subject: UUID | None = None) -> list[Event[Any]]:
    """The emitted events of one type (e.g. "deadline.missed"), optionally about one complaint."""
    return [
        event
        for event in events
        if event.type.startswith(f"uk.putright.{name}.")
        and (subject is None or event.subject == subject)
    ]
