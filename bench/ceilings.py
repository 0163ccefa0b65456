"""The bare infrastructure, measured in the same run as Putright: what the machine's
Kafka and PostgreSQL can do with nothing of ours in the way. Intake's figures are
reported as ratios to these."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaProducer

from bench.common import Figure, percentile

# About the size of a complaint.received.v1 envelope with a short description.
MESSAGE = json.dumps(
    {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "type": "uk.putright.complaint.received.v1",
        "source": "putright/intake",
        "time": datetime.now(UTC).isoformat(),
        "data": {"description": "x" * 900, "resident": {"name": "A Resident"}},
    }
).encode()


async def bare_producer(bootstrap: str, *, messages: int = 20_000) -> list[Figure]:
    """A bare aiokafka producer with acks=all and idempotence: messages per second."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    topic = f"bench.ceiling.{uuid.uuid4().hex[:8]}"
    await producer.start()
    try:
        await (await producer.send(topic, MESSAGE, key=b"warm-up"))
        started = time.perf_counter()
        futures = [
            await producer.send(topic, MESSAGE, key=str(index).encode())
            for index in range(messages)
        ]
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    return [Figure("ceiling", "bare aiokafka producer (acks=all)", messages / elapsed, "msg/s")]


async def bare_postgres(dsn: str, *, rows: int = 5_000, clients: int = 8) -> list[Figure]:
    """Bare single-row inserts, one transaction each, from a pool: rows per second and latency."""
    pool = await asyncpg.create_pool(dsn, min_size=clients, max_size=clients)
    assert pool is not None
    async with pool.acquire() as connection:
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS public.bench_ceiling (id uuid primary key, payload text)"
        )
    latencies: list[float] = []

    async def insert_some(count: int) -> None:
        async with pool.acquire() as connection:
            for _ in range(count):
                started = time.perf_counter()
                await connection.execute(
                    "INSERT INTO public.bench_ceiling VALUES ($1, $2)",
                    uuid.uuid4(),
                    MESSAGE.decode(),
                )
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(insert_some(rows // clients) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    async with pool.acquire() as connection:
        await connection.execute("DROP TABLE public.bench_ceiling")
    await pool.close()
    return [
        Figure("ceiling", "bare PostgreSQL insert (8 clients)", len(latencies) / elapsed, "rows/s"),
        Figure("ceiling", "bare PostgreSQL insert p99", percentile(latencies, 0.99) * 1000, "ms"),
    ]
