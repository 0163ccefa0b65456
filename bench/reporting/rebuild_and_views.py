"""Benchmark: rebuild every projection from 1,000,000 events, and answer the TSM and
volume views over 1,000,000 complaints.

Run with the local infrastructure up: `source .local/env && uv run python
bench/reporting/rebuild_and_views.py [--events N] [--complaints N]`. It makes its own
database and topics (named after a random run id) and drops the database at the end.

1. Publishes N events (profiles of 20 landlords, then complaints of five events each —
   received, acknowledged, a deadline set and met, responded — one in ten escalated with
   three more) to Kafka, then times `rebuild()` into the reporting schema.
2. Bulk-loads N register rows for one landlord with COPY (what the projections would
   hold after a million complaints) and times the TSM and volume views over HTTP.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script: the bench's shared helpers live in the repository's `bench` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import asyncio
import json
import logging
import os
import random
import statistics
import time
import uuid
import zlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
from aiokafka import AIOKafkaProducer
from sqlalchemy.engine import make_url

from bench.common import scratch_database
from putright.reporting.app import create_app
from putright.reporting.rebuild import rebuild
from putright.reporting.settings import ReportingSettings
from putright.shared.events import (
    ComplaintReceived,
    DeadlineMet,
    DeadlineSet,
    EscalationRequested,
    Event,
    OrganisationKind,
    OrganisationProfile,
    Stage1Acknowledged,
    Stage1Responded,
    Stage2Acknowledged,
    Stage2Responded,
    new_event,
)
from putright.shared.events.deadlines import ClockStep
from putright.shared.events.values import (
    Channel,
    ComplaintDefinition,
    Decision,
    Handler,
    Resident,
    Stage,
    StageResponse,
)
from putright.shared.topics import stream_of

CATEGORIES = ["repairs", "anti-social behaviour", "damp and mould", "estate services", "rent"]
CHANNELS = list(Channel)
DECISIONS = list(Decision)
FIRST_DAY = date(2023, 4, 3)


def say(message: str) -> None:
    """Progress on stdout."""
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def complaint_events(landlord: uuid.UUID, index: int, rng: random.Random) -> list[Event[Any]]:
    """The events of one complaint, with plausible dates."""
    complaint = uuid.uuid4()
    received = datetime.combine(
        FIRST_DAY + timedelta(days=rng.randrange(730)), datetime.min.time(), UTC
    ) + timedelta(hours=9)
    acknowledged = received + timedelta(days=rng.randint(0, 8))
    responded = acknowledged + timedelta(days=rng.randint(3, 20))
    handler = Handler(organisation_id=landlord, staff_id="s1", name="Officer")
    definition = ComplaintDefinition(summary="The issue.", outcomes_sought="A fix.")

    def event(data: Any, when: datetime) -> Event[Any]:
        return new_event(
            data, source="bench", subject=complaint, organisation_id=landlord, time=when
        )

    def response(stage: Stage) -> StageResponse:
        return StageResponse(
            stage=stage,
            complaint_definition="The issue.",
            decision=rng.choice(DECISIONS),
            reasons="Because.",
            no_remedy_reason="None needed.",
            how_to_escalate="Ask us.",
        )

    clock = uuid.uuid4()
    due = acknowledged.date() + timedelta(days=14)
    events = [
        event(
            ComplaintReceived(
                reference=f"B-{index:07d}",
                channel=rng.choice(CHANNELS),
                received_at=received,
                description="Something went wrong.",
                category=rng.choice(CATEGORIES),
                handling_organisation_id=landlord,
                resident=Resident(name="A Resident"),
            ),
            received,
        ),
        event(
            Stage1Acknowledged(
                acknowledged_at=acknowledged,
                definition=definition,
                handler=handler,
                response_due_on=due,
            ),
            acknowledged,
        ),
        event(
            DeadlineSet(
                clock_id=clock,
                step=ClockStep.STAGE1_RESPONSE,
                stage=Stage.ONE,
                handling_organisation_id=landlord,
                due_on=due,
                starts_on=acknowledged.date(),
                base_due_on=due,
            ),
            acknowledged,
        ),
        event(
            DeadlineMet(
                clock_id=clock,
                step=ClockStep.STAGE1_RESPONSE,
                stage=Stage.ONE,
                handling_organisation_id=landlord,
                due_on=due,
                completed_on=responded.date(),
                on_time=responded.date() <= due,
            ),
            responded,
        ),
        event(
            Stage1Responded(responded_at=responded, handler=handler, response=response(Stage.ONE)),
            responded,
        ),
    ]
    if index % 10 == 0:
        escalated = responded + timedelta(days=rng.randint(1, 30))
        second_ack = escalated + timedelta(days=rng.randint(0, 7))
        second = second_ack + timedelta(days=rng.randint(10, 35))
        events += [
            event(EscalationRequested(requested_at=escalated, channel=Channel.PHONE), escalated),
            event(
                Stage2Acknowledged(
                    acknowledged_at=second_ack,
                    definition=definition,
                    handler=handler,
                    response_due_on=second.date(),
                ),
                second_ack,
            ),
            event(
                Stage2Responded(responded_at=second, handler=handler, response=response(Stage.TWO)),
                second,
            ),
        ]
    return events


class Documents:
    """Events as JSON documents, made from one complaint's pydantic-built events by
    changing their ids, dates and choices: building every event with pydantic cost the
    bench ~80 µs each, most of its publishing time. The rebuild validates every one
    (and the bench reports any it could not read)."""

    def __init__(self) -> None:
        landlord = uuid.uuid4()
        sample = complaint_events(landlord, 0, random.Random(1))  # index 0: escalated
        self.templates = {event.type: event.model_dump(mode="json") for event in sample}

    def complaint(self, landlord: uuid.UUID, index: int, rng: random.Random) -> list[Any]:
        """The documents of one complaint, with the dates `complaint_events` gives."""
        subject, clock = str(uuid.uuid4()), str(uuid.uuid4())
        owner = str(landlord)
        received = datetime.combine(
            FIRST_DAY + timedelta(days=rng.randrange(730)), datetime.min.time(), UTC
        ) + timedelta(hours=9)
        acknowledged = received + timedelta(days=rng.randint(0, 8))
        responded = acknowledged + timedelta(days=rng.randint(3, 20))
        due = (acknowledged.date() + timedelta(days=14)).isoformat()
        handler = {"organisation_id": owner, "staff_id": "s1", "name": "Officer"}

        def document(kind: type[Any], when: datetime, **data: Any) -> dict[str, Any]:
            template = self.templates[kind.full_type()]
            identity = str(uuid.uuid4())
            return {
                **template,
                "id": identity,
                "correlation_id": identity,
                "time": when.isoformat(),
                "subject": subject,
                "organisation_id": owner,
                "data": {**template["data"], **data},
            }

        def response(stage: int) -> dict[str, Any]:
            template = self.templates[Stage1Responded.full_type()]["data"]["response"]
            return {**template, "stage": stage, "decision": rng.choice(DECISIONS).value}

        clock_data = {"clock_id": clock, "handling_organisation_id": owner, "due_on": due}
        documents = [
            document(
                ComplaintReceived,
                received,
                reference=f"B-{index:07d}",
                channel=rng.choice(CHANNELS).value,
                received_at=received.isoformat(),
                category=rng.choice(CATEGORIES),
                handling_organisation_id=owner,
            ),
            document(
                Stage1Acknowledged,
                acknowledged,
                acknowledged_at=acknowledged.isoformat(),
                handler=handler,
                response_due_on=due,
            ),
            document(
                DeadlineSet,
                acknowledged,
                **clock_data,
                starts_on=acknowledged.date().isoformat(),
                base_due_on=due,
            ),
            document(
                DeadlineMet,
                responded,
                **clock_data,
                completed_on=responded.date().isoformat(),
                on_time=responded.date().isoformat() <= due,
            ),
            document(
                Stage1Responded,
                responded,
                responded_at=responded.isoformat(),
                handler=handler,
                response=response(1),
            ),
        ]
        if index % 10 == 0:
            escalated = responded + timedelta(days=rng.randint(1, 30))
            second_ack = escalated + timedelta(days=rng.randint(0, 7))
            second = second_ack + timedelta(days=rng.randint(10, 35))
            documents += [
                document(EscalationRequested, escalated, requested_at=escalated.isoformat()),
                document(
                    Stage2Acknowledged,
                    second_ack,
                    acknowledged_at=second_ack.isoformat(),
                    handler=handler,
                    response_due_on=second.date().isoformat(),
                ),
                document(
                    Stage2Responded,
                    second,
                    responded_at=second.isoformat(),
                    handler=handler,
                    response=response(2),
                ),
            ]
        return documents


class Publisher:
    """Appends records to one batch per partition and sends each batch when full:
    `send()` per record costs aiokafka tens of microseconds of Python each."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.partitions: dict[str, list[int]] = {}
        self.batches: dict[tuple[str, int], Any] = {}
        self.sending: list[asyncio.Future[Any]] = []
        self.sent = 0

    async def send(self, topic: str, key: bytes, value: bytes, headers: list[Any]) -> None:
        """Queue one record for `topic`, on the partition its key hashes to."""
        if topic not in self.partitions:
            self.partitions[topic] = sorted(await self.producer.partitions_for(topic))
        numbers = self.partitions[topic]
        # Any fixed choice per key keeps a complaint's events in order; crc32 is C,
        # aiokafka's murmur2 pure Python (~6 µs a record).
        partition = numbers[zlib.crc32(key) % len(numbers)]
        batch = self.batches.get((topic, partition))
        if batch is None:
            batch = self.batches[topic, partition] = self.producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
            await self._flush(topic, partition)
            batch = self.batches[topic, partition] = self.producer.create_batch()
            batch.append(key=key, value=value, timestamp=None, headers=headers)
        self.sent += 1

    async def _flush(self, topic: str, partition: int) -> None:
        batch = self.batches.pop((topic, partition))
        self.sending.append(await self.producer.send_batch(batch, topic, partition=partition))
        if len(self.sending) > 64:
            await asyncio.gather(*self.sending)
            self.sending.clear()

    async def close(self) -> None:
        """Send what is queued and wait for every batch to be acknowledged."""
        for topic, partition in list(self.batches):
            await self._flush(topic, partition)
        await asyncio.gather(*self.sending)


async def publish_events(settings: ReportingSettings, total: int) -> int:
    """Publish `total` events; returns how many were sent."""
    rng = random.Random(7)
    landlords = [uuid.uuid4() for _ in range(20)]
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        max_batch_size=1024 * 1024,
        compression_type=None,
    )
    await producer.start()
    publisher = Publisher(producer)
    documents = Documents()

    async def send(document: dict[str, Any]) -> None:
        await publisher.send(
            settings.topics.topic(stream_of(document["type"])),
            key=document["subject"].encode(),
            value=json.dumps(document).encode(),
            # As the outbox relay sends them: the type travels in a header too.
            headers=[("ce_type", document["type"].encode())],
        )

    try:
        for number, landlord in enumerate(landlords):
            profile = new_event(
                OrganisationProfile(
                    name=f"Landlord {number}",
                    kind=OrganisationKind.LANDLORD,
                    homes=rng.randint(1000, 40000),
                ),
                source="bench",
                subject=landlord,
                organisation_id=landlord,
            )
            await send(profile.model_dump(mode="json"))
        index = 0
        while publisher.sent < total:
            for document in documents.complaint(rng.choice(landlords), index, rng)[
                : total - publisher.sent
            ]:
                await send(document)
            index += 1
            if index % 40000 == 0:
                say(f"  published {publisher.sent:,} events")
        await publisher.close()
    finally:
        await producer.stop()
    return publisher.sent


async def load_register(url: str, landlord: uuid.UUID, complaints: int) -> None:
    """COPY `complaints` register rows for one landlord, spread over three years."""
    rng = random.Random(11)
    connection = await asyncpg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        await connection.execute(
            "INSERT INTO reporting.organisation VALUES ($1, 'Big Landlord', 'landlord', 400000,"
            " 'england_and_wales', '[]')",
            landlord,
        )
        rows = []
        for index in range(complaints):
            received = FIRST_DAY + timedelta(days=rng.randrange(1095))
            ack = received + timedelta(days=rng.randint(0, 9))
            responded = ack + timedelta(days=rng.randint(3, 25)) if rng.random() < 0.95 else None
            escalated = responded + timedelta(days=5) if responded and index % 10 == 0 else None
            second = escalated + timedelta(days=30) if escalated else None
            extension = rng.choice([None] * 9 + [5, 15])
            rows.append(
                (
                    uuid.uuid4(),
                    landlord,
                    landlord,
                    f"L-{index:07d}",
                    rng.choice(CHANNELS).value,
                    rng.choice(CATEGORIES),
                    received,
                    ack,
                    responded,
                    rng.choice(DECISIONS).value if responded else None,
                    extension,
                    "reason" if extension else None,
                    "good reason" if extension == 15 and index % 2 else None,
                    False if extension else None,
                    rng.randint(0, 7),
                    rng.randint(3, 18) if responded else None,
                    escalated,
                    escalated,
                    second,
                    rng.choice(DECISIONS).value if second else None,
                    2 if escalated else None,
                    21 if second else None,
                )
            )
        await connection.copy_records_to_table(
            "complaint",
            schema_name="reporting",
            records=rows,
            columns=[
                "complaint_id",
                "organisation_id",
                "handling_organisation_id",
                "reference",
                "channel",
                "category",
                "received_on",
                "s1_acknowledged_on",
                "s1_responded_on",
                "s1_decision",
                "s1_extension_days",
                "s1_extension_reason",
                "s1_extension_good_reason",
                "s1_extension_notified_late",
                "s1_ack_wd",
                "s1_resp_wd",
                "escalated_on",
                "s2_acknowledged_on",
                "s2_responded_on",
                "s2_decision",
                "s2_ack_wd",
                "s2_resp_wd",
            ],
        )
        await connection.execute("ANALYZE reporting.complaint")
    finally:
        await connection.close()


async def time_views(settings: ReportingSettings, landlord: uuid.UUID) -> dict[str, float]:
    """Median seconds of five requests to each view, over HTTP (in-process ASGI)."""
    app = create_app(settings)
    base = f"/v1/organisations/{landlord}"
    views = {
        "TSM (year 2024/25)": f"{base}/tsm?year=2024",
        "volumes by category per month": f"{base}/volumes?year=2024&period=month&by=category",
        "volumes by stage per quarter": f"{base}/volumes?year=2024&period=quarter&by=stage",
        "timeliness": f"{base}/timeliness?year=2024",
    }
    results = {}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=120
        ) as client,
    ):
        for name, path in views.items():
            timings = []
            for _ in range(6):
                started = time.perf_counter()
                response = await client.get(
                    path, headers={"X-Putright-Organisation": str(landlord)}
                )
                timings.append(time.perf_counter() - started)
                response.raise_for_status()
            results[name] = statistics.median(timings[1:])
            say(f"  {name}: median {results[name] * 1000:.0f} ms")
    return results


async def bench_rebuild(settings: ReportingSettings, events: int) -> None:
    """Publish `events`, then time a rebuild of every projection from them."""
    say(f"publishing {events:,} events to {settings.topic_prefix}.*")
    started, cpu = time.perf_counter(), time.process_time()
    sent = await publish_events(settings, events)
    say(
        f"published {sent:,} events in {time.perf_counter() - started:.1f}s "
        f"(CPU of this process {time.process_time() - cpu:.1f}s)"
    )
    cpu = time.process_time()
    report = await rebuild(settings)
    cpu = time.process_time() - cpu
    say(
        f"REBUILD: {report.events:,} events into every projection in {report.seconds:.1f}s "
        f"({report.events / report.seconds:,.0f} events/s; {report.skipped} unreadable; "
        f"CPU of this process {cpu:.1f}s)"
    )


async def main(events: int, complaints: int) -> None:
    """Run both benchmarks on a fresh database and fresh topics."""
    async with scratch_database("reporting") as url:
        settings = ReportingSettings(
            database_url=url,
            topic_prefix=f"bench{uuid.uuid4().hex[:8]}",
            kafka_bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        )
        if events:
            await bench_rebuild(settings, events)
        if complaints:
            landlord = uuid.uuid4()
            started = time.perf_counter()
            await load_register(url, landlord, complaints)
            say(
                f"loaded {complaints:,} register rows for one landlord in "
                f"{time.perf_counter() - started:.1f}s"
            )
            say("VIEWS over one landlord's complaints:")
            await time_views(settings, landlord)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="0: views only")
    parser.add_argument("--complaints", type=int, default=1_000_000, help="0: rebuild only")
    arguments = parser.parse_args()
    # The rebuild logs its phases' wall and CPU times.
    logging.basicConfig(format="%(message)s", stream=sys.stdout)
    logging.getLogger("putright.reporting.rebuild").setLevel(logging.INFO)
    asyncio.run(main(arguments.events, arguments.complaints))
