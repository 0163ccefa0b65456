"""Transactional outbox: a service stores the events it emits in the same transaction
as the change that caused them, and a relay publishes them to Kafka afterwards.

The relay holds a PostgreSQL advisory lock while it publishes a batch, so with several
replicas only one publishes at a time and each complaint's events leave in order.
Publishing is at least once (a crash between publish and mark republishes the batch);
consumers are idempotent by event id, so nothing is done twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import zlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from faststream.kafka import KafkaBroker
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from putright.shared.db import is_postgres
from putright.shared.events import Event
from putright.shared.events.envelope import utc_now
from putright.shared.observability import EVENTS_PUBLISHED, current_trace_context
from putright.shared.topics import Topics, stream_of

logger = logging.getLogger(__name__)
WAKE_COALESCE_SECONDS = 0.005


def outbox_table(metadata: MetaData) -> Table:
    """The outbox table, declared in a service's own metadata."""
    return Table(
        "outbox",
        metadata,
        # SQLite only auto-increments an INTEGER primary key.
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(100), nullable=False),
        Column("event_type", String(200), nullable=False),
        Column("correlation_id", Uuid, nullable=False),
        Column("payload", Text, nullable=False),
        # W3C trace context of the change that staged the event, so a trace follows the
        # complaint across services although the relay publishes it later.
        Column("trace_context", JSON, nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    )


class Outbox:
    """Stages events inside a service's transactions and relays them to Kafka."""

    def __init__(self, table: Table, topics: Topics, *, service: str = "") -> None:
        self.table = table
        self.topics = topics
        self.service = service
        self._wake = asyncio.Event()

    async def stage(self, session: AsyncSession, *events: Event[Any]) -> None:
        """Add events to the caller's transaction; they leave only if it commits."""
        if not events:
            return
        connection = await session.connection()
        trace_context = current_trace_context()  # one change, one trace: read it once
        await connection.execute(
            insert(self.table),
            [
                {
                    "event_id": event.id,
                    "topic": self.topics.topic(stream_of(event.type)),
                    "key": str(event.subject),
                    "event_type": event.type,
                    "correlation_id": event.correlation_id,
                    "payload": event.model_dump_json(),
                    "trace_context": trace_context,
                }
                for event in events
            ],
        )

    def wake(self) -> None:
        """Tell the relay there is something new, so it need not wait for its next poll."""
        self._wake.set()

    async def relay_once(self, engine: AsyncEngine, broker: KafkaBroker, *, batch_size: int) -> int:
        """Publish one batch of unpublished events and mark them; returns how many."""
        async with engine.begin() as connection:
            if is_postgres(str(engine.url)) and not await self._take_relay_lock(connection):
                return 0
            rows = (
                await connection.execute(
                    select(self.table)
                    .where(self.table.c.published_at.is_(None))
                    .order_by(self.table.c.id)
                    .limit(batch_size)
                )
            ).all()
            if not rows:
                return 0
            await publish_rows(broker, rows)
            await connection.execute(
                update(self.table)
                .where(self.table.c.id.in_([row.id for row in rows]))
                .values(published_at=utc_now())
            )
        EVENTS_PUBLISHED.labels(self.service).inc(len(rows))
        return len(rows)

    async def _take_relay_lock(self, connection: Any) -> bool:
        lock_key = zlib.crc32(f"{self.table.fullname}:{connection.engine.url.database}".encode())
        result = await connection.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": lock_key}
        )
        return bool(result.scalar())

    async def run_relay(
        self,
        engine: AsyncEngine,
        broker: KafkaBroker,
        *,
        batch_size: int = 500,
        poll_seconds: float = 0.5,
        publish_timeout_seconds: float = 15.0,
    ) -> None:
        """Relay forever: drain the outbox, then wait for a wake-up or the next poll."""
        failures = 0
        while True:
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
                # cancellation that arrives as the batch completes, and shutdown then hangs.
                async with asyncio.timeout(publish_timeout_seconds):
                    published = await self.relay_once(engine, broker, batch_size=batch_size)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                logger.warning("outbox relay failed; will retry", exc_info=True)
                await asyncio.sleep(min(poll_seconds * 2**failures, 10.0))
                continue
            if published < batch_size:
                await self._wait_for_work(poll_seconds)

    async def _wait_for_work(self, poll_seconds: float) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
        # that arrives as the wake-up fires, and the relay then never stops.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(poll_seconds):
                await self._wake.wait()
                # Let the commits of the next few milliseconds join this round: under
                # load one round then carries many transactions' events, not one.
                await asyncio.sleep(WAKE_COALESCE_SECONDS)
        self._wake.clear()

    async def purge_published(self, engine: AsyncEngine, *, older_than: timedelta) -> int:
        """Delete rows published longer ago than `older_than`; returns how many."""
        async with engine.begin() as connection:
            result = await connection.execute(
                delete(self.table).where(self.table.c.published_at < utc_now() - older_than)
            )
        return int(result.rowcount or 0)

    async def backlog(self, engine: AsyncEngine) -> int:
        """How many events wait to be published (a metric and a health signal)."""
        async with engine.connect() as connection:
            result = await connection.execute(
                select(func.count())
                .select_from(self.table)
                .where(self.table.c.published_at.is_(None))
            )
        return int(result.scalar_one())


async def publish_rows(broker: KafkaBroker, rows: Sequence[Any]) -> None:
    """Publish outbox rows in order, then wait for every acknowledgement.

    Each row is handed to the producer without waiting (`no_confirm`), so the whole
    batch travels in a few produce requests and keeps its order per partition; awaiting
    each acknowledgement in turn, or gathering one task per row, costs about ten times
    the CPU per event (docs/benchmarks.md)."""
    acknowledgements = [
        await broker.publish(
            row.payload.encode(),
            topic=row.topic,
            key=row.key.encode(),
            headers={
                **(row.trace_context or {}),
                "ce_id": str(row.event_id),
                "ce_type": row.event_type,
                "correlation_id": str(row.correlation_id),
                "content-type": "application/cloudevents+json",
            },
            no_confirm=True,
        )
        for row in rows
    ]
    # The in-memory broker of the embedded mode delivers at once and returns no future.
    await asyncio.gather(*(ack for ack in acknowledgements if inspect.isawaitable(ack)))
