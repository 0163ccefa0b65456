"""Clock events, published by the deadlines service on the deadlines topic."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from uuid import UUID

from pydantic import AwareDatetime, Field

from putright.shared.events.envelope import EventData
from putright.shared.events.values import Stage


class ClockStep(StrEnum):
    """Every step of the Code that has a due date."""

    STAGE1_ACKNOWLEDGEMENT = "stage1_acknowledgement"
    STAGE1_RESPONSE = "stage1_response"
    STAGE2_ACKNOWLEDGEMENT = "stage2_acknowledgement"
    STAGE2_RESPONSE = "stage2_response"
    OUTSTANDING_ACTION = "outstanding_action"
    REMEDY = "remedy"
    RESIDENT_UPDATE = "resident_update"


class ClockFlag(StrEnum):
    """Something about a clock that governance should see."""

    EXTENSION_BEYOND_LIMIT_WITHOUT_REASON = "extension_beyond_limit_without_reason"


class ClockEvent(EventData):
    """Fields every clock event carries."""

    clock_id: UUID
    step: ClockStep
    stage: Stage | None = None
    item_id: UUID | None = Field(default=None, description="The action or remedy, if any.")
    handling_organisation_id: UUID
    due_on: date


class DeadlineSet(ClockEvent):
    """A clock started, or moved by an extension."""

    event_type = "deadline.set.v1"

    starts_on: date
    base_due_on: date = Field(description="The due date before any extension.")
    extension_working_days: int = 0
    flags: list[ClockFlag] = Field(default_factory=list)
    occurrence: int | None = Field(
        default=None, ge=1, description="Which resident update this is, for repeating clocks (5.9)."
    )


class DeadlineApproaching(ClockEvent):
    """A step is due within the warning window."""

    event_type = "deadline.approaching.v1"

    working_days_left: int


class DeadlineMissed(ClockEvent):
    """A step passed its due date undone."""

    event_type = "deadline.missed.v1"

    missed_at: AwareDatetime


class DeadlineMet(ClockEvent):
    """A step was done; `on_time` says whether by its due date."""

    event_type = "deadline.met.v1"

    completed_on: date
    on_time: bool


class DeadlineCancelled(ClockEvent):
    """A clock stopped without its step being done (withdrawn, refused, superseded)."""

    event_type = "deadline.cancelled.v1"

    reason: str
