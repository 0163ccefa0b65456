"""The reporting service (first slice: the register and a count of complaints)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from fastapi import FastAPI
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from putright.reporting.models import RegisterEntry, metadata
from putright.reporting.settings import ReportingSettings
from putright.shared.api import ReadSessionDep
from putright.shared.events import ComplaintReceived, Event
from putright.shared.runtime import Runtime
from putright.shared.topics import Stream


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    """Build the reporting service around one runtime."""
    runtime = Runtime("reporting", settings or ReportingSettings(), metadata)
    consumer = runtime.consumer(
        Stream.COMPLAINTS, description="Projects complaints into the register."
    )

    @consumer.on(ComplaintReceived)
    async def register(session: AsyncSession, event: Event[Any]) -> None:
        received: ComplaintReceived = event.data
        await session.merge(
            RegisterEntry(
                complaint_id=event.subject,
                organisation_id=event.organisation_id,
                handling_organisation_id=received.handling_organisation_id,
                reference=received.reference,
                channel=received.channel,
                category=received.category,
                received_at=received.received_at,
            )
        )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            yield

    app = FastAPI(title="Putright reporting", lifespan=lifespan)
    app.state.runtime = runtime

    @app.get("/v1/organisations/{organisation_id}/volumes")
    async def volumes(organisation_id: UUID, db: ReadSessionDep) -> dict[str, int]:
        received = await db.exec(
            select(func.count()).where(col(RegisterEntry.organisation_id) == organisation_id)
        )
        return {"received": received.one()}

    return app
