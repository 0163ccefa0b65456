"""Reading clocks over HTTP, each organisation seeing only its own."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from sqlalchemy import ColumnElement, or_
from sqlmodel import col, select

from putright.deadlines.models import Clock, ClockPublic, ClockState
from putright.shared.api import ReadSessionDep
from putright.shared.tenancy import CallerOrganisationDep, not_found

router = APIRouter(prefix="/v1", tags=["clocks"])
# Soonest due first; ties in a fixed order so pages are stable.
DUE_ORDER = (col(Clock.due_on), col(Clock.step), col(Clock.id))


def public(clock: Clock) -> ClockPublic:
    """A clock as the API shows it: overdue when missed and still running."""
    return ClockPublic.model_validate(
        clock, update={"overdue": clock.missed_at is not None and clock.state == ClockState.OPEN}
    )


def visible_to(organisation_id: UUID) -> ColumnElement[bool]:
    """Clocks an organisation may see: its own complaints, or steps it handles for a landlord."""
    return or_(
        col(Clock.organisation_id) == organisation_id,
        col(Clock.handling_organisation_id) == organisation_id,
    )


@router.get("/complaints/{complaint_id}/clocks")
async def complaint_clocks(
    complaint_id: UUID, caller: CallerOrganisationDep, db: ReadSessionDep
) -> list[ClockPublic]:
    """Every clock of one complaint: step, due date and state."""
    clocks = (
        await db.exec(
            select(Clock)
            .where(Clock.complaint_id == complaint_id, visible_to(caller))
            .order_by(*DUE_ORDER)
        )
    ).all()
    if not clocks:
        raise not_found("complaint")
    return [public(clock) for clock in clocks]


@router.get("/organisations/{organisation_id}/clocks")
async def organisation_clocks(
    organisation_id: UUID,
    caller: CallerOrganisationDep,
    db: ReadSessionDep,
    state: ClockState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ClockPublic]:
    """An organisation's clocks (optionally in one state), soonest due first."""
    if organisation_id != caller:
        raise not_found("organisation")
    query = select(Clock).where(visible_to(organisation_id))
    if state is not None:
        query = query.where(Clock.state == state)
    clocks = (await db.exec(query.order_by(*DUE_ORDER).offset(offset).limit(limit))).all()
    return [public(clock) for clock in clocks]
