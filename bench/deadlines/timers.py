"""Benchmark: claim-and-fire throughput with 1,000,000 pending timers on real PostgreSQL.

Creates a scratch database, migrates the deadlines schema, bulk-loads 1,000,000 open
clocks and one due "missed" timer for each with COPY, then runs the service's own
`fire_due_timers` (SKIP LOCKED claim, clock lock and re-check, DeadlineMissed staged in
the outbox, timer marked fired, one transaction per batch) from several processes at
once, as replicas would, until `--fire` timers have fired. Reports timers/s, and how
many events were staged (equal to the timers fired: none twice).
Run: `source .local/env && uv run python bench/deadlines/timers.py [--fire N] [--replicas R]`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from putright.deadlines.models import metadata
from putright.deadlines.service import Policy
from putright.deadlines.settings import DeadlinesSettings
from putright.deadlines.timers import fire_due_timers
from putright.shared.migrations import upgrade
from putright.shared.runtime import Runtime

SCHEMA = "deadlines"
NOW = datetime(2024, 6, 3, 9, tzinfo=UTC)
LANDLORDS = 100


async def load(dsn: str, pending: int) -> float:
    """COPY `pending` open clocks and their due timers; returns seconds taken."""
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
        fire_at = datetime(2024, 5, 9, tzinfo=UTC)
        await connection.copy_records_to_table(
            "timer",
            schema_name=SCHEMA,
            columns=["id", "clock_id", "kind", "revision", "fire_at"],
            records=(
                (uuid.uuid4(), clock_id, "missed", 0, fire_at + timedelta(microseconds=n))
                for n, clock_id in enumerate(clock_ids)
            ),
        )
        await connection.execute(f"ANALYZE {SCHEMA}.clock; ANALYZE {SCHEMA}.timer")
    finally:
        await connection.close()
    return time.perf_counter() - began


async def replica(url: str, target: int, batch_size: int) -> int:
    """One replica's timer loop, as the service runs it, until `target` fired or none due."""
    settings = DeadlinesSettings(database_url=url, instance=SCHEMA)
    runtime = Runtime(SCHEMA, settings, metadata)
    fired = 0
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
    return fired


def run_replica(url: str, target: int, batch_size: int) -> int:
    """Entry point of a replica process."""
    return asyncio.run(replica(url, target, batch_size))


def fire(url: str, target: int, replicas: int, batch_size: int) -> tuple[int, float]:
    """Fire `target` timers from `replicas` separate processes; returns (fired, seconds)."""
    share = -(-target // replicas)
    began = time.perf_counter()
    with ProcessPoolExecutor(replicas, mp_context=multiprocessing.get_context("spawn")) as pool:
        fired = sum(
            pool.map(run_replica, [url] * replicas, [share] * replicas, [batch_size] * replicas)
        )
    return fired, time.perf_counter() - began


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--fire", type=int, default=1_000_000)
    parser.add_argument("--replicas", type=int, default=2, help="processes, as pods would be")
    parser.add_argument("--batch-size", type=int, default=1000)
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
        fired, elapsed = await asyncio.to_thread(
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
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
