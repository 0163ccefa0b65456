"""Deadlines' tables: each landlord's calendar, every clock, and the timers that watch them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, Column, DateTime, Index, Row, String, Table, text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from putright.shared.events import ClockFlag, ClockStep
from putright.shared.runtime import delivery_tables


class DeadlinesModel(SQLModel, registry=registry()):
    """Base of deadlines' tables, in its own metadata."""


metadata = DeadlinesModel.metadata
outbox, processed_event = delivery_tables(metadata)


class OrganisationCalendar(DeadlinesModel, table=True):
    """The days a landlord works, from its organisation profile."""

    organisation_id: UUID = Field(primary_key=True)
    nation: str
    # Closure days and extra holidays together: both are simply days off.
    days_off: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class ClockState(StrEnum):
    """Where a clock is: running, or stopped by its step being done or cancelled."""

    OPEN = "open"
    MET = "met"
    CANCELLED = "cancelled"


class ClockBase(DeadlinesModel):
    """What a clock times and when it is due; shared by the table and the API."""

    complaint_id: UUID = Field(index=True)
    # Indexed by ix_clock_organisation_state_due, which starts with it.
    organisation_id: UUID
    handling_organisation_id: UUID = Field(index=True)
    step: ClockStep = Field(sa_type=String)
    stage: int | None = None
    item_id: UUID | None = Field(default=None, description="The action or remedy, if any.")
    starts_on: date
    base_due_on: date
    due_on: date = Field(index=True)
    extension_working_days: int = 0
    flags: list[ClockFlag] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    occurrence: int | None = None
    state: ClockState = Field(default=ClockState.OPEN, sa_type=String)
    missed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    completed_on: date | None = None
    on_time: bool | None = None
    cancel_reason: str | None = None


class Clock(ClockBase, table=True):
    """One step of one complaint and the date it is due."""

    __table_args__ = (
        Index("ix_clock_organisation_state_due", "organisation_id", "state", "due_on"),
    )

    id: UUID = Field(primary_key=True)
    # Working days the Code allows (None when the due date was promised, not counted).
    working_days: int | None = None
    good_reason_recorded: bool = False
    # Bumped on every change; a timer scheduled for an older revision is stale.
    revision: int = 0
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ClockPublic(ClockBase):
    """A clock as the HTTP API returns it."""

    id: UUID
    overdue: bool


class TimerKind(StrEnum):
    """What a timer does when it fires."""

    APPROACHING = "approaching"
    MISSED = "missed"
    UPDATE = "update"


class TimerOutcome(StrEnum):
    """What a timer did: emitted its event, or found its clock had moved on."""

    FIRED = "fired"
    STALE = "stale"


class Timer(DeadlinesModel, table=True):
    """A durable timer: fire `kind` for `clock_id` at `fire_at`, once."""

    __table_args__ = (
        Index("ix_timer_pending", "fire_at", postgresql_where=text("fired_at IS NULL")),
    )

    id: UUID = Field(primary_key=True)
    clock_id: UUID
    kind: TimerKind = Field(sa_type=String)
    revision: int
    fire_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    fired_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    outcome: TimerOutcome | None = Field(default=None, sa_type=String)


# The tables themselves, for Core statements on the hot paths (a batch's rows at once).
clock_table: Table = metadata.tables["clock"]
timer_table: Table = metadata.tables["timer"]
calendar_table: Table = metadata.tables["organisationcalendar"]


@dataclass(slots=True)
class ClockRecord:
    """A clock row held in memory while a batch changes it; written back with Core.

    The consumer and the timer loop change hundreds of clocks per transaction, so they
    read rows into these plain objects and write them in one statement, rather than
    tracking each as an ORM object (the API still reads `Clock`)."""

    id: UUID
    complaint_id: UUID
    organisation_id: UUID
    handling_organisation_id: UUID
    step: str
    starts_on: date
    base_due_on: date
    due_on: date
    stage: int | None = None
    working_days: int | None = None
    item_id: UUID | None = None
    extension_working_days: int = 0
    good_reason_recorded: bool = False
    flags: list[str] = field(default_factory=list)
    occurrence: int | None = None
    state: str = ClockState.OPEN
    missed_at: datetime | None = None
    completed_on: date | None = None
    on_time: bool | None = None
    cancel_reason: str | None = None
    revision: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Row[Any]) -> ClockRecord:
        """A record from a row selected with every column of the clock table."""
        return cls(**row._mapping)

    def values(self) -> dict[str, Any]:
        """The row to write."""
        return {name: getattr(self, name) for name in CLOCK_COLUMNS}


CLOCK_COLUMNS = tuple(column.name for column in clock_table.columns)
