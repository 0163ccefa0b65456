"""Benchmark: CPU the live reporting consumer spends per complaint.

Run with the local infrastructure up: `source .local/env && uv run python
bench/reporting/consumer_cpu.py [--complaints N]`. Publishes the events of N complaints
(as `rebuild_and_views` makes them: five or eight events each) to fresh topics, then
starts the reporting service in this process and measures the CPU time
(`time.process_time`) it takes to project them all. CPU time, unlike a wall-clock
rate, barely depends on what else the machine is running.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script (bench/run.py does), the repository root is not on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import asyncio
import os
import random
import time
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.common import scratch_database
from bench.reporting.rebuild_and_views import complaint_events, say
from putright.reporting.app import create_app
from putright.reporting.rebuild import consumer_name
from putright.reporting.settings import ReportingSettings
from putright.shared.events import Event, OrganisationKind, OrganisationProfile, new_event
from tests.reporting.conftest import publish


def events_of(complaints: int) -> list[Event[Any]]:
    """Profiles of 20 landlords, then the events of `complaints` complaints."""
    rng = random.Random(5)
    landlords = [uuid.uuid4() for _ in range(20)]
    events: list[Event[Any]] = [
        new_event(
            OrganisationProfile(name=f"Landlord {n}", kind=OrganisationKind.LANDLORD, homes=100),
            source="bench",
            subject=landlord,
            organisation_id=landlord,
        )
        for n, landlord in enumerate(landlords)
    ]
    for index in range(complaints):
        events += complaint_events(rng.choice(landlords), index, rng)
    return events


async def measure(settings: ReportingSettings, complaints: int) -> None:
    """Publish, then time the live consumer projecting everything."""
    events = events_of(complaints)
    await publish(settings, events)
    engine = create_async_engine(settings.database_url)
    app = create_app(settings)
    started_cpu = time.process_time()
    async with app.router.lifespan_context(app):
        ready_cpu, started = time.process_time(), time.perf_counter()
        while True:
            async with engine.connect() as connection:
                done = await connection.scalar(
                    text("SELECT count(*) FROM reporting.processed_event WHERE consumer = :c"),
                    {"c": consumer_name(settings)},
                )
            if done == len(events):
                break
            await asyncio.sleep(0.2)
        cpu, wall = time.process_time() - ready_cpu, time.perf_counter() - started
    await engine.dispose()
    say(f"start-up CPU {ready_cpu - started_cpu:.2f} s")
    say(
        f"CONSUMER: {len(events):,} events of {complaints:,} complaints in {wall:.1f} s; "
        f"CPU {cpu * 1000 / complaints:.2f} ms per complaint, "
        f"{cpu * 1e6 / len(events):.0f} µs per event"
    )
    say(f"reporting consumer CPU per complaint: {cpu * 1000 / complaints:.2f} ms")


async def main(complaints: int) -> None:
    """Run on a fresh database and fresh topics."""
    async with scratch_database("reporting") as url:
        settings = ReportingSettings(
            database_url=url,
            topic_prefix=f"bench{uuid.uuid4().hex[:8]}",
            kafka_bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        )
        await measure(settings, complaints)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--complaints", type=int, default=5000)
    asyncio.run(main(parser.parse_args().complaints))
