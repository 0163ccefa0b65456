"""What each service runs on: its database, its broker, its outbox and its consumers.

A service builds one `Runtime` from its settings and its table metadata, declares its
consumers on it, and runs inside `runtime.running()` (its FastAPI lifespan): the broker
starts, the outbox relay publishes in the background, and both stop cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from putright.shared.consumer import Consumer, processed_event_table
from putright.shared.db import create_engine, session_maker, transaction
from putright.shared.events import Event
from putright.shared.messaging import create_broker, subscribe
from putright.shared.outbox import Outbox, outbox_table
from putright.shared.settings import ServiceSettings
from putright.shared.topics import Stream

OUTBOX_RETENTION = timedelta(days=7)


def delivery_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Declare the outbox and processed-event tables in a service's metadata."""
    return outbox_table(metadata), processed_event_table(metadata)


class Runtime:
    """One service's connections and delivery machinery."""

    def __init__(self, name: str, settings: ServiceSettings, metadata: MetaData) -> None:
        self.name = name
        self.settings = settings
        self.engine: AsyncEngine = create_engine(settings.database_url, schema=name)
        self.sessions: async_sessionmaker[AsyncSession] = session_maker(self.engine)
        self.broker = create_broker(settings.kafka_bootstrap_servers, client_id=f"putright-{name}")
        self.outbox = Outbox(metadata.tables["outbox"], settings.topics)
        self.processed = metadata.tables["processed_event"]
        self._tasks: list[asyncio.Task[Any]] = []

    def consumer(self, *streams: Stream, description: str) -> Consumer:
        """A consumer of `streams` in this service's own consumer group."""
        consumer = Consumer(
            name=f"{self.settings.topic_prefix}.{self.name}",
            sessions=self.sessions,
            processed=self.processed,
            broker=self.broker,
            max_attempts=self.settings.consumer_max_attempts,
            backoff_seconds=self.settings.consumer_retry_backoff_seconds,
            after_commit=self.outbox.wake,
        )
        subscribe(
            self.broker,
            consumer,
            *(self.settings.topics.topic(stream) for stream in streams),
            description=description,
        )
        return consumer

    async def emit(self, session: AsyncSession, *events: Event[Any]) -> None:
        """Stage events in the caller's transaction (see `Outbox.stage`)."""
        await self.outbox.stage(session, *events)

    @contextlib.asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction; when it commits, the relay is woken for any events it staged."""
        async with transaction(self.sessions) as session:
            yield session
        self.outbox.wake()

    def start_background(self, coroutine: Any) -> None:
        """Run a coroutine for the life of the service, cancelled at shutdown."""
        self._tasks.append(asyncio.create_task(coroutine))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Start the broker and the outbox relay; stop them, then the database, on exit."""
        await self.broker.start()
        self.start_background(
            self.outbox.run_relay(
                self.engine,
                self.broker,
                batch_size=self.settings.outbox_batch_size,
                poll_seconds=self.settings.outbox_poll_seconds,
            )
        )
        self.start_background(self._purge_outbox_hourly())
        try:
            yield
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks.clear()
            await self.broker.stop()
            await self.engine.dispose()

    async def _purge_outbox_hourly(self) -> None:
        while True:
            await asyncio.sleep(3600)
            await self.outbox.purge_published(self.engine, older_than=OUTBOX_RETENTION)
