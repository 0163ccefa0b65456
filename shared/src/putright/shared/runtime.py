"""What each service runs on: its database, its broker, its outbox and its consumers.

A service builds one `Runtime` from its settings and its table metadata, declares its
consumers on it, and runs inside `runtime.running()` (its FastAPI lifespan): the broker
starts, the outbox relay publishes in the background, and both stop cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from prometheus_client import make_asgi_app
from sqlalchemy import MetaData, Table, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from putright.shared.consumer import Consumer, processed_event_table
from putright.shared.db import create_engine, session_maker, transaction
from putright.shared.events import Event
from putright.shared.messaging import create_broker, subscribe
from putright.shared.observability import HTTP_LATENCY, OUTBOX_BACKLOG
from putright.shared.outbox import Outbox, outbox_table
from putright.shared.settings import ServiceSettings
from putright.shared.topics import Stream

OUTBOX_RETENTION = timedelta(days=7)
# Three steps of shutdown fit well inside the 30 s uvicorn allows (and k8s' 45 s).
SHUTDOWN_STEP_SECONDS = 8.0
logger = logging.getLogger(__name__)


def delivery_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Declare the outbox and processed-event tables in a service's metadata."""
    return outbox_table(metadata), processed_event_table(metadata)


async def _alive() -> dict[str, str]:
    return {"status": "ok"}


class RequestTimer:
    """Times every HTTP request by route and status, as plain ASGI: Starlette's
    `BaseHTTPMiddleware` costs far more per request than the timing itself."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            # The router records the matched route in the scope it was given.
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_LATENCY.labels(self.service, scope["method"], route, status).observe(
                time.perf_counter() - started
            )


class Runtime:
    """One service's connections and delivery machinery."""

    def __init__(
        self,
        name: str,
        settings: ServiceSettings,
        metadata: MetaData,
        *,
        broker: KafkaBroker | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.engine: AsyncEngine = create_engine(settings.database_url, schema=name)
        self.sessions: async_sessionmaker[AsyncSession] = session_maker(self.engine)
        # A broker passed in (the embedded mode shares one in-memory broker between the
        # four services) is started and stopped by whoever passed it.
        self._owns_broker = broker is None
        self.broker = broker or create_broker(
            settings.kafka_bootstrap_servers,
            client_id=f"putright-{name}",
            security=settings.kafka_security(),
        )
        self.outbox = Outbox(metadata.tables["outbox"], settings.topics, service=name)
        self.processed = metadata.tables["processed_event"]
        self.consumers: list[Consumer] = []
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
        self.consumers.append(consumer)
        subscribe(
            self.broker,
            consumer,
            *(self.settings.topics.topic(stream) for stream in streams),
            description=description,
            batch_size=self.settings.consumer_batch_size,
            fetch_wait_ms=self.settings.consumer_fetch_wait_ms,
            fetch_min_bytes=self.settings.consumer_fetch_min_bytes,
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

    def instrument(self, app: FastAPI) -> None:
        """Give the app liveness, readiness and metrics endpoints, and time every request."""
        app.get("/healthz", include_in_schema=False)(_alive)
        app.get("/readyz", include_in_schema=False)(self._ready)
        app.mount("/metrics", make_asgi_app())
        app.add_middleware(RequestTimer, service=self.name)

    async def _ready(self) -> JSONResponse:
        # Only the database decides readiness: while Kafka is down the outbox keeps
        # accepting work, so taking the service out of rotation would lose requests.
        database, kafka = await self._database_ok(), await self.broker.ping(timeout=2)
        body = {"database": "ok" if database else "down", "kafka": "ok" if kafka else "down"}
        return JSONResponse(body, status_code=200 if database else 503)

    async def _database_ok(self) -> bool:
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Start the broker and the outbox relay; stop them, then the database, on exit."""
        if self._owns_broker:
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
        self.start_background(self._observe_outbox())
        try:
            yield
        finally:
            await self._stop()

    async def _stop(self) -> None:
        """Stop background work, then the broker, then the database, each in bounded time:
        a stuck Kafka coordinator must not keep a pod (or a test) from shutting down."""
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SHUTDOWN_STEP_SECONDS):
                await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._owns_broker:
            try:
                async with asyncio.timeout(SHUTDOWN_STEP_SECONDS):
                    await self.broker.stop()
            except TimeoutError:
                logger.warning("the Kafka broker did not stop in time; leaving it")
        await self.engine.dispose()

    async def _observe_outbox(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                OUTBOX_BACKLOG.labels(self.name).set(await self.outbox.backlog(self.engine))
            await asyncio.sleep(15)

    async def _purge_outbox_hourly(self) -> None:
        while True:
            await asyncio.sleep(3600)
            await self.outbox.purge_published(self.engine, older_than=OUTBOX_RETENTION)
