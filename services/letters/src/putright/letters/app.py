"""The letters service: the Code's standard letters, emailed (or posted) exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from putright.letters.flows import Letters, register
from putright.letters.models import metadata
from putright.letters.sending import Clock, Mailer, Sender, SmtpMailer
from putright.letters.settings import LettersSettings
from putright.letters.views import router
from putright.shared.events.envelope import utc_now
from putright.shared.runtime import Runtime
from putright.shared.topics import Stream


def create_app(
    settings: LettersSettings | None = None,
    *,
    mailer: Mailer | None = None,
    clock: Clock = utc_now,
    broker: KafkaBroker | None = None,
) -> FastAPI:
    """Build the letters service around one runtime (a mailer, clock and broker — the
    embedded mode's in-memory one — can be injected)."""
    settings = settings or LettersSettings()
    runtime = Runtime("letters", settings, metadata, broker=broker)
    letters = Letters(runtime, settings)
    consumer = runtime.consumer(
        Stream.ORGANISATIONS,
        Stream.COMPLAINTS,
        Stream.DEADLINES,
        description="Writes the letters each step of a complaint needs.",
    )
    register(consumer, letters)
    sender = Sender(runtime, settings, letters, mailer=mailer or SmtpMailer(settings), clock=clock)
    wake_relay = consumer.after_commit

    def after_commit() -> None:
        # New letters are due at once: wake the sender as well as the outbox relay.
        wake_relay()
        sender.wake()

    consumer.after_commit = after_commit

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            for _worker in range(settings.send_workers):
                runtime.start_background(sender.run())
            yield

    app = FastAPI(title="Putright letters", lifespan=lifespan)
    app.state.runtime = runtime
    app.state.sender = sender
    app.include_router(router)
    runtime.instrument(app)
    return app
