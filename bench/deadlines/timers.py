"""Benchmark: claim-and-fire throughput with 1,000,000 pending timers on real PostgreSQL.

Creates a scratch database, migrates the deadlines schema, bulk-loads 1,000,000 open
clocks and one due "missed" timer for each with COPY, then runs the service's own
`fire_due_timers` (SKIP LOCKED claim, clock lock and re-check, DeadlineMissed staged in
the outbox, timer marked fired, one transaction per batch) from several processes at
once, as replicas would, until `--fire` timers have fired. Reports timers/s, the
replicas' CPU per timer, and how many events were staged (equal to the timers fired:
none twice).

Then the fire lag: `--lag-timers` more timers fall due at a steady rate in (shifted)
real time, before the remaining pending ones, while the replicas run the service's own
timer loop (`run_timers`, with its default poll interval and batch size). The lag is
from each timer's due instant to the instant its firing batch claimed it; the commit
follows within one batch's time.
Run: `source .local/env && uv run python bench/deadlines/timers.py [--fire N] [--replicas R]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from putright.deadlines.models import metadata
from putright.deadlines.service import Policy
from putright.deadlines.settings import DeadlinesSettings
from putright.deadlines.timers import fire_due_timers, run_timers
from putright.shared.migrations import upgrade
from putright.shared.runtime import Runtime

SCHEMA = "deadlines"
NOW = datetime(2024, 6, 3, 9, tzinfo=UTC)
LANDLORDS = 100
# The lag phase's timers fall due from this (virtual) instant on: before the pending
# million (due 9 May 2024), so those stay pending while the lag is measured.
LAG_EPOCH = datetime(2024, 5, 2, tzinfo=UTC)


async def load(dsn: str, pending: int, fire_at: Callable[[int], datetime] | None = None) -> float:
    """COPY `pending` open clocks and a "missed" timer each (the n-th due at `fire_at(n)`,
    by default all due long before the bench's instant); returns seconds taken."""
    fire_at = fire_at or (lambda n: datetime(2024, 5, 9, tzinfo=UTC) + timedelta(microseconds=n))
    landlords = [uuid.uuid4() for _ in range(LANDLORDS)]
    began = time.perf_counter()
    connection = await asyncpg.connect(dsn)
    try:
        clock_ids = [uuid.uuid4() for _ in range(pending)]
        starts_on, due_on = date(2024, 5, 1), date(2024, 5, 8)
        await connection.copy_records_to_table(
            "clock",
            schema_name=SCHEMA,
            columns=[
                "id",
                "complaint_id",
                "organisation_id",
                "handling_organisation_id",
                "step",
                "stage",
                "starts_on",
                "working_days",
                "base_due_on",
                "due_on",
                "state",
                "details",
            ],
            records=(
                (
                    clock_id,
                    uuid.uuid4(),
                    landlords[n % LANDLORDS],
                    landlords[n % LANDLORDS],
                    "stage1_acknowledgement",
                    1,
                    starts_on,
                    5,
                    due_on,
                    due_on,
                    "open",
                    "{}",
                )
                for n, clock_id in enumerate(clock_ids)
            ),
        )
        await connection.copy_records_to_table(
            "timer",
            schema_name=SCHEMA,
            columns=["id", "clock_id", "kind", "revision", "fire_at"],
            records=(
                (uuid.uuid4(), clock_id, "missed", 0, fire_at(n))
                for n, clock_id in enumerate(clock_ids)
            ),
        )
        await connection.execute(f"ANALYZE {SCHEMA}.clock; ANALYZE {SCHEMA}.timer")
    finally:
        await connection.close()
    return time.perf_counter() - began


async def replica(url: str, target: int, batch_size: int) -> tuple[int, float]:
    """One replica firing as fast as it can until `target` fired or none due;
    returns (fired, CPU seconds of this process)."""
    settings = DeadlinesSettings(database_url=url, instance=SCHEMA)
    runtime = Runtime(SCHEMA, settings, metadata)
    fired = 0
    cpu = time.process_time()
    try:
        while fired < target:
            claimed = await fire_due_timers(
                runtime, now=NOW, policy=Policy(), batch_size=batch_size
            )
            if not claimed:
                break
            fired += claimed
    finally:
        await runtime.engine.dispose()
    return fired, time.process_time() - cpu


def run_replica(url: str, target: int, batch_size: int) -> tuple[int, float]:
    """Entry point of a replica process."""
    return asyncio.run(replica(url, target, batch_size))


def fire(url: str, target: int, replicas: int, batch_size: int) -> tuple[int, float, float]:
    """Fire `target` timers from `replicas` separate processes;
    returns (fired, seconds, CPU seconds summed over the replicas)."""
    share = -(-target // replicas)
    began = time.perf_counter()
    with ProcessPoolExecutor(replicas, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(
            pool.map(run_replica, [url] * replicas, [share] * replicas, [batch_size] * replicas)
        )
    elapsed = time.perf_counter() - began
    return sum(fired for fired, _ in results), elapsed, sum(cpu for _, cpu in results)


@dataclass(frozen=True)
class ShiftedTime:
    """Real time moved back to LAG_EPOCH at `started` (a `time.time()`), so timers
    loaded to fall due just after LAG_EPOCH fall due in real time."""

    started: float

    def now(self) -> datetime:
        """The shifted instant."""
        return LAG_EPOCH + timedelta(seconds=time.time() - self.started)


async def lag_replica(url: str, started: float, ready: Any, stop: Any) -> None:
    """One replica running the service's own timer loop with its default settings,
    from when it says it is ready until it is told to stop."""
    settings = DeadlinesSettings(database_url=url, instance=SCHEMA)
    runtime = Runtime(SCHEMA, settings, metadata)
    loop = asyncio.create_task(
        run_timers(
            runtime,
            ShiftedTime(started),
            policy=Policy(),
            batch_size=settings.timer_batch_size,
            poll_seconds=settings.timer_poll_seconds,
        )
    )
    ready.put(os.getpid())
    try:
        await asyncio.to_thread(stop.wait)
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        await runtime.engine.dispose()


def run_lag_replica(url: str, started: float, ready: Any, stop: Any) -> None:
    """Entry point of a lag-phase replica process."""
    asyncio.run(lag_replica(url, started, ready, stop))


async def measure_lag(url: str, dsn: str, *, timers: int, rate: float, replicas: int) -> None:
    """Start the replicas' timer loops; once they run, load `timers` falling due at
    `rate`/s from 3 s later; stop 3 s after the last is due and print the lag percentiles."""
    context = multiprocessing.get_context("spawn")
    started = time.time()
    clock = ShiftedTime(started)
    with context.Manager() as manager, ProcessPoolExecutor(replicas, mp_context=context) as pool:
        ready, stop = manager.Queue(), manager.Event()
        running = [
            asyncio.wrap_future(pool.submit(run_lag_replica, url, started, ready, stop))
            for _ in range(replicas)
        ]
        for _ in range(replicas):
            await asyncio.to_thread(ready.get)
        first = clock.now() + timedelta(seconds=3)
        await load(dsn, timers, lambda n: first + timedelta(seconds=n / rate))
        last = first + timedelta(seconds=timers / rate)
        await asyncio.sleep((last - clock.now()).total_seconds() + 3.0)
        stop.set()
        await asyncio.gather(*running)
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            "SELECT count(fired_at) AS fired,"
            " percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP"
            " (ORDER BY extract(epoch FROM fired_at - fire_at)) AS lag,"
            " max(extract(epoch FROM fired_at - fire_at)) AS worst"
            " FROM deadlines.timer WHERE fire_at < $1",
            datetime(2024, 5, 9, tzinfo=UTC),
        )
    finally:
        await connection.close()
    p50, p99 = row["lag"]
    print(f"lag phase: {timers:,} timers due at {rate:,.0f}/s, {row['fired']:,} fired")
    print(f"fire lag p50: {p50 * 1000:,.0f} ms (due to claimed)")
    print(f"fire lag p99: {p99 * 1000:,.0f} ms (due to claimed)")
    print(f"fire lag max: {float(row['worst']) * 1000:,.0f} ms (due to claimed)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--fire", type=int, default=1_000_000)
    parser.add_argument("--replicas", type=int, default=2, help="processes, as pods would be")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--lag-timers", type=int, default=10_000)
    parser.add_argument("--lag-rate", type=float, default=500, help="timers falling due per s")
    arguments = parser.parse_args()

    server = os.environ.get("DATABASE_URL", DeadlinesSettings().database_url)
    name = f"putright_bench_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name)
    try:
        await upgrade(
            "putright.deadlines", url=url.render_as_string(hide_password=False), schema=SCHEMA
        )
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        loaded = await load(dsn, arguments.pending)
        print(f"loaded {arguments.pending:,} clocks + timers with COPY in {loaded:.1f} s")
        plain_url = url.render_as_string(hide_password=False)
        fired, elapsed, cpu = await asyncio.to_thread(
            fire, plain_url, arguments.fire, arguments.replicas, arguments.batch_size
        )
        connection = await asyncpg.connect(dsn)
        try:
            staged = await connection.fetchval("SELECT count(*) FROM deadlines.outbox")
            marked = await connection.fetchval(
                "SELECT count(*) FROM deadlines.timer WHERE fired_at IS NOT NULL"
            )
        finally:
            await connection.close()
        print(f"replica processes: {arguments.replicas}, batch: {arguments.batch_size}")
        print(f"fired {fired:,} of {arguments.pending:,} pending timers in {elapsed:.1f} s")
        print(f"events staged in the outbox: {staged:,}; timers marked fired: {marked:,}")
        print(f"throughput: {fired / elapsed:,.0f} timers/s (claim, re-check, emit, mark)")
        print(f"replicas' CPU per timer: {cpu / max(fired, 1) * 1000:.3f} ms")
        if arguments.lag_timers:
            await measure_lag(
                plain_url,
                dsn,
                timers=arguments.lag_timers,
                rate=arguments.lag_rate,
                replicas=arguments.replicas,
            )
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
