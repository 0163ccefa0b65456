"""The deadlines service: clocks from complaint events, durable timers, and an API to read them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from putright.deadlines import flows
from putright.deadlines.models import metadata
from putright.deadlines.service import Policy
from putright.deadlines.settings import DeadlinesSettings
from putright.deadlines.timekeeping import SystemTime, TimeSource
from putright.deadlines.timers import run_timers
from putright.deadlines.views import router
from putright.shared.runtime import Runtime
from putright.shared.topics import Stream


def create_app(
    settings: DeadlinesSettings | None = None,
    *,
    time: TimeSource | None = None,
    broker: KafkaBroker | None = None,
) -> FastAPI:
    """Build the deadlines service around one runtime and one source of time
    (and, in the embedded mode, the broker it shares with the other services)."""
    settings = settings or DeadlinesSettings()
    time = time or SystemTime()
    runtime = Runtime(settings.instance, settings, metadata, broker=broker)
    policy = Policy(approaching_working_days=settings.approaching_working_days)
    consumer = runtime.consumer(
        Stream.ORGANISATIONS, Stream.COMPLAINTS, description="Starts, moves and stops clocks."
    )
    flows.register(consumer, runtime, policy)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            if settings.timers_enabled:
                runtime.start_background(
                    run_timers(
                        runtime,
                        time,
                        policy=policy,
                        batch_size=settings.timer_batch_size,
                        poll_seconds=settings.timer_poll_seconds,
                    )
                )
            yield

    app = FastAPI(title="Putright deadlines", lifespan=lifespan)
    app.state.runtime = runtime
    runtime.instrument(app)
    app.state.time = time
    app.include_router(router)
    return app
