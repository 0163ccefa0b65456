"""The deadlines service (first slice: the stage 1 acknowledgement clock)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from fastapi import FastAPI
from sqlmodel.ext.asyncio.session import AsyncSession

from putright.deadlines.models import Clock, OrganisationCalendar, metadata
from putright.deadlines.settings import DeadlinesSettings
from putright.shared.calendar import WorkingCalendar, local_date
from putright.shared.events import (
    ClockStep,
    ComplaintReceived,
    DeadlineSet,
    Event,
    Nation,
    OrganisationProfile,
    new_event,
)
from putright.shared.runtime import Runtime
from putright.shared.topics import Stream

SOURCE = "putright/deadlines"
ACKNOWLEDGEMENT_WORKING_DAYS = 5


def clock_id(complaint_id: UUID, step: ClockStep) -> UUID:
    """A clock's id follows from what it times, so a replay rebuilds the same clocks."""
    return uuid5(NAMESPACE_URL, f"putright:clock:{complaint_id}:{step.value}")


async def calendar_for(session: AsyncSession, organisation_id: UUID) -> WorkingCalendar:
    """The landlord's calendar; bank holidays alone until its profile arrives."""
    stored = await session.get(OrganisationCalendar, organisation_id)
    if stored is None:
        return WorkingCalendar()
    return WorkingCalendar(Nation(stored.nation), [date.fromisoformat(d) for d in stored.days_off])


def create_app(settings: DeadlinesSettings | None = None) -> FastAPI:
    """Build the deadlines service around one runtime."""
    runtime = Runtime("deadlines", settings or DeadlinesSettings(), metadata)
    consumer = runtime.consumer(
        Stream.ORGANISATIONS, Stream.COMPLAINTS, description="Starts, moves and stops clocks."
    )

    @consumer.on(OrganisationProfile)
    async def remember_calendar(session: AsyncSession, event: Event[Any]) -> None:
        profile: OrganisationProfile = event.data
        days_off = sorted({*profile.closure_days, *profile.extra_holidays})
        await session.merge(
            OrganisationCalendar(
                organisation_id=event.subject,
                nation=profile.nation,
                days_off=[day.isoformat() for day in days_off],
            )
        )

    @consumer.on(ComplaintReceived)
    async def start_acknowledgement_clock(session: AsyncSession, event: Event[Any]) -> None:
        received: ComplaintReceived = event.data
        calendar = await calendar_for(session, event.organisation_id)
        starts_on = local_date(received.received_at)
        due_on = calendar.add(starts_on, ACKNOWLEDGEMENT_WORKING_DAYS)
        step = ClockStep.STAGE1_ACKNOWLEDGEMENT
        clock = Clock(
            id=clock_id(event.subject, step),
            complaint_id=event.subject,
            organisation_id=event.organisation_id,
            handling_organisation_id=received.handling_organisation_id,
            step=step,
            starts_on=starts_on,
            due_on=due_on,
        )
        await session.merge(clock)
        await runtime.emit(
            session,
            new_event(
                DeadlineSet(
                    clock_id=clock.id,
                    step=step,
                    handling_organisation_id=received.handling_organisation_id,
                    due_on=due_on,
                    starts_on=starts_on,
                    base_due_on=due_on,
                ),
                source=SOURCE,
                subject=event.subject,
                organisation_id=event.organisation_id,
                caused_by=event,
            ),
        )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            yield

    app = FastAPI(title="Putright deadlines", lifespan=lifespan)
    app.state.runtime = runtime
    return app
