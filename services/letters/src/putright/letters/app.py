"""The letters service (first slice: a receipt for every complaint received)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlmodel.ext.asyncio.session import AsyncSession

from putright.letters.models import Letter, metadata
from putright.letters.sending import letter_id, message_id, run_sender
from putright.letters.settings import LettersSettings
from putright.shared.events import ComplaintReceived, Event, LetterKind
from putright.shared.runtime import Runtime
from putright.shared.topics import Stream

templates = Environment(
    loader=PackageLoader("putright.letters", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
)


def create_app(settings: LettersSettings | None = None) -> FastAPI:
    """Build the letters service around one runtime."""
    settings = settings or LettersSettings()
    runtime = Runtime("letters", settings, metadata)
    consumer = runtime.consumer(
        Stream.COMPLAINTS, description="Writes the letters each step needs."
    )

    @consumer.on(ComplaintReceived)
    async def write_receipt(session: AsyncSession, event: Event[Any]) -> None:
        received: ComplaintReceived = event.data
        if received.resident.email is None:
            return
        kind = LetterKind.RECEIPT
        identity = letter_id(event.subject, kind, event.id)
        context = {"resident_name": received.resident.name, "reference": received.reference}
        session.add(
            Letter(
                id=identity,
                complaint_id=event.subject,
                organisation_id=event.organisation_id,
                kind=kind,
                caused_by_event_id=event.id,
                correlation_id=event.correlation_id,
                message_id=message_id(identity, settings.message_id_domain),
                recipient=received.resident.email,
                subject=f"We have received your complaint ({received.reference})",
                html=templates.get_template("receipt.html").render(context),
                text=templates.get_template("receipt.txt").render(context),
            )
        )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            runtime.start_background(run_sender(runtime, settings))
            yield

    app = FastAPI(title="Putright letters", lifespan=lifespan)
    app.state.runtime = runtime
    return app
