"""The letters consumer's CPU per event: complaint.received events applied in batches
(as the Kafka subscriber hands them over), each writing a complaint file and a pending
receipt letter. Runs the service's own consumer on a scratch PostgreSQL database, without
Kafka (the bytes are fed to `Consumer.process_batch` directly), so the figure is the
consumer's work alone.

Run: `source .local/env && uv run python bench/letters/consume_rate.py [--events 2000]`
(`--profile out.txt` samples it with pyinstrument: `uv run --with pyinstrument ...`).
"""

from __future__ import annotations

import sys
from pathlib import Path

# The benchmarks reuse the tests' sample events, so run them from anywhere in the repo.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import asyncio
import time
import uuid
from importlib import import_module
from typing import Any

from sqlalchemy import func, select

from bench.common import scratch_database
from putright.letters.flows import Letters, register
from putright.letters.models import Letter, metadata
from putright.letters.settings import LettersSettings
from putright.shared.consumer import Origin
from putright.shared.runtime import Runtime
from putright.shared.topics import Stream
from tests.letters.samples import envelope, profile, received, resident


async def consume(url: str, events: int, batch: int, profile_to: str | None) -> None:
    settings = LettersSettings(database_url=url)
    runtime = Runtime("letters", settings, metadata)
    consumer = runtime.consumer(Stream.ORGANISATIONS, Stream.COMPLAINTS, description="bench")
    register(consumer, Letters(runtime, settings))
    landlord = uuid.uuid4()
    origin = Origin(topic="bench", partition=0, offset=0, key=None)
    first = envelope(profile(), subject=landlord, organisation_id=landlord)
    await consumer.process_batch([(first.model_dump_json().encode(), origin)])
    messages: list[tuple[bytes, Any]] = [
        (
            envelope(
                received(f"PR-{n}", resident=resident()),
                subject=uuid.uuid4(),
                organisation_id=landlord,
            )
            .model_dump_json()
            .encode(),
            origin,
        )
        for n in range(events)
    ]
    profiler: Any = None
    if profile_to:  # pyinstrument is not a dependency: `uv run --with pyinstrument`
        profiler = import_module("pyinstrument").Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, events, batch):
        await consumer.process_batch(messages[start : start + batch])
    elapsed, cpu_ms = time.perf_counter() - started, (time.process_time() - cpu) * 1000 / events
    if profiler and profile_to:
        profiler.stop()
        report = profiler.output_text(unicode=False, color=False)
        await asyncio.to_thread(Path(profile_to).write_text, report)
    async with runtime.engine.connect() as connection:
        written = (await connection.execute(select(func.count()).select_from(Letter))).scalar_one()
    assert written == events, f"{written} letters for {events} events"
    print(f"complaints received, consumed:          {events / elapsed:8.0f} events/s")
    print(f"consumer, CPU per complaint received:   {cpu_ms:8.2f} ms")
    await runtime.engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100, help="events per Kafka batch")
    parser.add_argument("--profile", default=None)
    arguments = parser.parse_args()
    async with scratch_database("letters") as url:
        await consume(url, arguments.events, arguments.batch, arguments.profile)


if __name__ == "__main__":
    asyncio.run(main())
