"""Benchmark: the deadlines consumer's CPU per complaint on real Kafka and PostgreSQL.

Publishes organisation profiles for `--landlords` landlords and `--complaints`
complaint.received events to a scratch topic prefix first, then runs a deadlines
service in this process (its whole lifespan: consumer, outbox relay, timer loop) on a
scratch database until every complaint has its acknowledgement clock and every
DeadlineSet has been published. Reports the service's CPU per complaint (this process's
CPU time while it worked, publishing excluded) and the wall rate for reference.
`--profile out.html` samples the run with pyinstrument (`uv run --with pyinstrument`).
Run: `source .local/env && uv run python bench/deadlines/consumer.py [--complaints N]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script: the bench's shared helpers live in the repository's `bench` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import asyncio
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.common import scratch_database
from putright.deadlines.app import create_app
from putright.deadlines.settings import DeadlinesSettings
from putright.shared.events import (
    ComplaintReceived,
    Event,
    Nation,
    OrganisationKind,
    OrganisationProfile,
    new_event,
)
from putright.shared.events.values import Channel, Resident
from putright.shared.messaging import create_broker
from putright.shared.topics import Topics, stream_of

SCHEMA = "deadlines"


def events(landlords: int, complaints: int) -> list[Event[Any]]:
    """The landlords' profiles, then complaints spread over them."""
    owners = [uuid.uuid4() for _ in range(landlords)]
    profiles = [
        new_event(
            OrganisationProfile(
                name=f"Landlord {n}",
                kind=OrganisationKind.LANDLORD,
                nation=Nation.ENGLAND_AND_WALES,
            ),
            source="putright/intake",
            subject=owner,
            organisation_id=owner,
        )
        for n, owner in enumerate(owners)
    ]
    # Received in the last hour, as in service: no timer falls due during the run.
    first = datetime.now(UTC) - timedelta(hours=1)
    received = [
        new_event(
            ComplaintReceived(
                reference=f"C-{n:07d}",
                channel=Channel.PHONE,
                received_at=first + timedelta(seconds=n % 3600),
                description="The kitchen ceiling leaks.",
                category="repairs",
                handling_organisation_id=owners[n % landlords],
                resident=Resident(name="Sam Resident", email="sam@example.org"),
            ),
            source="putright/intake",
            subject=uuid.uuid4(),
            organisation_id=owners[n % landlords],
        )
        for n in range(complaints)
    ]
    return [*profiles, *received]


async def publish(bootstrap: str, topics: Topics, batch: list[Event[Any]]) -> None:
    """Send the events to their topics, keyed by subject, as intake's relay would."""
    broker = create_broker(bootstrap, client_id="bench-deadlines-consumer")
    await broker.start()
    try:
        await asyncio.gather(
            *(
                broker.publish(
                    event.model_dump_json().encode(),
                    topic=topics.topic(stream_of(event.type)),
                    key=str(event.subject).encode(),
                    headers={"ce_id": str(event.id), "ce_type": event.type},
                )
                for event in batch
            )
        )
    finally:
        await broker.stop()


async def done(engine: Any, complaints: int) -> bool:
    """Every complaint has its clock and nothing waits in the outbox."""
    async with engine.connect() as connection:
        clocks = (await connection.execute(text("SELECT count(*) FROM deadlines.clock"))).scalar()
        waiting = (
            await connection.execute(
                text("SELECT count(*) FROM deadlines.outbox WHERE published_at IS NULL")
            )
        ).scalar()
    return clocks == complaints and waiting == 0


async def serve_until_done(settings: DeadlinesSettings, complaints: int) -> tuple[float, float]:
    """Run the service until the work is done; returns (CPU seconds, wall seconds)."""
    app = create_app(settings)
    probe = create_async_engine(settings.database_url)
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        async with app.router.lifespan_context(app):
            while not await done(probe, complaints):
                await asyncio.sleep(0.2)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await probe.dispose()
    return cpu, wall


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--complaints", type=int, default=5000)
    parser.add_argument("--landlords", type=int, default=20)
    parser.add_argument("--profile", help="write a pyinstrument HTML profile here")
    arguments = parser.parse_args()

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    async with scratch_database(SCHEMA) as url:
        await publish(bootstrap, Topics(prefix), events(arguments.landlords, arguments.complaints))
        settings = DeadlinesSettings(
            database_url=url,
            kafka_bootstrap_servers=bootstrap,
            topic_prefix=prefix,
            instance=SCHEMA,
        )
        profiler: Any = None
        if arguments.profile:
            from pyinstrument import Profiler

            profiler = Profiler()
            profiler.start()
        cpu, wall = await serve_until_done(settings, arguments.complaints)
        if profiler is not None:
            profiler.stop()
            await asyncio.to_thread(Path(arguments.profile).write_text, profiler.output_html())
            print(profiler.output_text(unicode=False, color=False, show_all=False)[:20000])
        print(f"complaints: {arguments.complaints:,} across {arguments.landlords} landlords")
        print(f"consumer CPU per complaint: {cpu / arguments.complaints * 1000:.2f} ms")
        print(f"consumed and relayed: {arguments.complaints / wall:,.0f} complaints/s")


if __name__ == "__main__":
    asyncio.run(main())
