"""Starting, moving and stopping clocks, and scheduling the timers that watch them."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Row, any_, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from putright.deadlines.models import Clock, ClockState, OrganisationCalendar, Timer, TimerKind
from putright.deadlines.rules import EXTENSION_LIMIT, RESPONSE_STEP, SOURCE, clock_id, derived_id
from putright.shared.calendar import WorkingCalendar, start_of_day
from putright.shared.events import (
    ClockFlag,
    ClockStep,
    DeadlineCancelled,
    DeadlineMet,
    DeadlineSet,
    Event,
    EventData,
    Nation,
)
from putright.shared.events.envelope import utc_now
from putright.shared.events.values import Stage


@dataclass(frozen=True)
class Policy:
    """How the service warns: the number of working days before a step falls due."""

    approaching_working_days: int = 2


def among(
    connection: AsyncConnection, column: ColumnElement[Any], values: Collection[Any]
) -> ColumnElement[bool]:
    """`column IN values`: one array parameter on PostgreSQL, so one prepared statement
    serves any number of values; an IN list on SQLite (the embedded mode)."""
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


async def lock_calendar(session: AsyncSession, organisation_id: UUID, *, exclusive: bool) -> None:
    """Order calendar changes against clock changes of the same landlord, across replicas.

    A complaint's clocks are counted under a shared lock, a new calendar is stored and
    open clocks recounted under an exclusive one, so no clock is ever counted on a
    calendar that a concurrent profile change has already replaced without recounting it."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        return  # SQLite (the embedded mode) lets one writer in at a time anyway.
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await connection.execute(text(f"SELECT {function}(:key)"), {"key": _lock_key(organisation_id)})


def _lock_key(organisation_id: UUID) -> int:
    """A signed 64-bit advisory lock key for an organisation's calendar."""
    return int.from_bytes(organisation_id.bytes[:8], "big", signed=True)


async def calendar_for(session: AsyncSession, organisation_id: UUID) -> WorkingCalendar:
    """The landlord's calendar; bank holidays alone until its profile arrives."""
    stored = await session.get(OrganisationCalendar, organisation_id)
    if stored is None:
        return WorkingCalendar()
    return WorkingCalendar(Nation(stored.nation), [date.fromisoformat(d) for d in stored.days_off])


def clock_event(data_class: type[EventData], clock: Clock | Row[Any], **fields: Any) -> EventData:
    """A clock event payload carrying the fields every clock event shares."""
    return data_class(
        clock_id=clock.id,
        step=clock.step,
        stage=clock.stage,
        item_id=clock.item_id,
        handling_organisation_id=clock.handling_organisation_id,
        due_on=clock.due_on,
        **fields,
    )


# Each payload's envelope class, looked up once: parametrising `Event[...]` per event
# (as `new_event` does) cost more than validating the event itself.
_ENVELOPES: dict[type[EventData], type[Event[Any]]] = {}


def envelope(
    data: EventData, clock: Clock | Row[Any], *, event_id: UUID, caused_by: Event[Any] | None = None
) -> Event[Any]:
    """Wrap a clock event, keyed by its complaint so a complaint's events stay in order."""
    data_class = type(data)
    model = _ENVELOPES.get(data_class)
    if model is None:
        model = _ENVELOPES[data_class] = Event[data_class]  # type: ignore[valid-type]
    return model(
        id=event_id,
        type=data_class.full_type(),
        source=SOURCE,
        time=utc_now(),
        subject=clock.complaint_id,
        organisation_id=clock.organisation_id,
        correlation_id=caused_by.correlation_id if caused_by else event_id,
        causation_id=caused_by.id if caused_by else None,
        data=data,
    )


def deadline_set(clock: Clock, caused_by: Event[Any] | None = None) -> Event[Any]:
    """DeadlineSet for a clock's current due date; one id per revision, so replays dedupe."""
    data = clock_event(
        DeadlineSet,
        clock,
        starts_on=clock.starts_on,
        base_due_on=clock.base_due_on,
        extension_working_days=clock.extension_working_days,
        flags=list(clock.flags),
        occurrence=clock.occurrence,
    )
    return envelope(
        data, clock, event_id=derived_id("set", clock.id, clock.revision), caused_by=caused_by
    )


def counted_due(clock: Clock, calendar: WorkingCalendar) -> date:
    """A counted clock's due date: its working days, plus extensions, from its start."""
    assert clock.working_days is not None
    return calendar.add(clock.starts_on, clock.working_days + clock.extension_working_days)


def timer_rows(clock: Clock, calendar: WorkingCalendar, policy: Policy) -> list[dict[str, Any]]:
    """The timers an open clock needs at its current revision."""
    if clock.state != ClockState.OPEN:
        return []
    # The step is met if done on its due date, so it is missed when the next day starts.
    after_due = start_of_day(clock.due_on + timedelta(days=1))
    last = TimerKind.UPDATE if clock.step == ClockStep.RESIDENT_UPDATE else TimerKind.MISSED
    plan = [(last, after_due)]
    warn_on = calendar.add(clock.due_on, -policy.approaching_working_days)
    if warn_on > clock.starts_on:
        plan.append((TimerKind.APPROACHING, start_of_day(warn_on)))
    return [
        {
            "id": derived_id("timer", clock.id, kind.value, clock.revision),
            "clock_id": clock.id,
            "kind": kind.value,
            "revision": clock.revision,
            # Stored in UTC: SQLite keeps no offset, and "now" is compared in UTC.
            "fire_at": fire_at.astimezone(UTC),
        }
        for kind, fire_at in plan
    ]


async def schedule(
    session: AsyncSession, clocks: list[Clock], calendar: WorkingCalendar, policy: Policy
) -> None:
    """Store the timers of `clocks`; older revisions' timers will find themselves stale."""
    rows = [row for clock in clocks for row in timer_rows(clock, calendar, policy)]
    if rows:
        connection = await session.connection()
        insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        await connection.execute(insert(Timer).values(rows).on_conflict_do_nothing())


@dataclass
class ComplaintClocks:
    """The clocks of one complaint, locked for one event's transaction, and what changed."""

    session: AsyncSession
    cause: Event[Any]
    calendar: WorkingCalendar
    policy: Policy
    clocks: dict[UUID, Clock]
    events: list[Event[Any]] = field(default_factory=list)
    changed: list[Clock] = field(default_factory=list)
    started: set[UUID] = field(default_factory=set)

    @classmethod
    async def load(
        cls, session: AsyncSession, cause: Event[Any], policy: Policy
    ) -> ComplaintClocks:
        """Lock the landlord's calendar, then the complaint's clocks in id order: the same
        order as a calendar change and the timer loop take their locks, so none deadlocks."""
        await lock_calendar(session, cause.organisation_id, exclusive=False)
        found = await session.exec(
            select(Clock)
            .where(Clock.complaint_id == cause.subject)
            .order_by(col(Clock.id))
            .with_for_update()
        )
        calendar = await calendar_for(session, cause.organisation_id)
        return cls(session, cause, calendar, policy, {clock.id: clock for clock in found})

    def find(self, step: ClockStep, qualifier: object = None) -> Clock | None:
        """The complaint's clock for a step, if it was ever started."""
        return self.clocks.get(clock_id(self.cause.subject, step, qualifier))

    def handler_of(self, step: ClockStep) -> UUID:
        """Who handles a step already timed, else the landlord itself."""
        clock = self.find(step)
        return clock.handling_organisation_id if clock else self.cause.organisation_id

    def start_counted(
        self,
        step: ClockStep,
        *,
        starts_on: date,
        working_days: int,
        handling_organisation_id: UUID,
        stage: Stage | None,
        qualifier: object = None,
    ) -> Clock:
        """Start a clock due `working_days` after `starts_on`."""
        due_on = self.calendar.add(starts_on, working_days)
        return self._start(
            Clock(
                id=clock_id(self.cause.subject, step, qualifier),
                complaint_id=self.cause.subject,
                organisation_id=self.cause.organisation_id,
                handling_organisation_id=handling_organisation_id,
                step=step,
                stage=stage,
                starts_on=starts_on,
                working_days=working_days,
                base_due_on=due_on,
                due_on=due_on,
            )
        )

    def start_promised(
        self,
        step: ClockStep,
        *,
        item_id: UUID,
        starts_on: date,
        due_on: date,
        handling_organisation_id: UUID,
        stage: Stage,
    ) -> Clock:
        """Start a clock to the date promised to the resident (7.3)."""
        return self._start(
            Clock(
                id=clock_id(self.cause.subject, step, item_id),
                complaint_id=self.cause.subject,
                organisation_id=self.cause.organisation_id,
                handling_organisation_id=handling_organisation_id,
                step=step,
                stage=stage,
                item_id=item_id,
                starts_on=starts_on,
                base_due_on=due_on,
                due_on=due_on,
            )
        )

    def _start(self, new: Clock) -> Clock:
        existing = self.clocks.get(new.id)
        if existing is None:
            self.session.add(new)
            self.clocks[new.id] = new
            self.started.add(new.id)
            self._changed(new)
            return new
        # The same step started again (a corrected acknowledgement, an action promised
        # anew at stage 2) moves an open clock; a stopped clock stays stopped.
        same = (existing.starts_on, existing.due_on) == (new.starts_on, new.due_on)
        if existing.state == ClockState.OPEN and not same:
            existing.starts_on, existing.due_on = new.starts_on, new.due_on
            existing.base_due_on, existing.working_days = new.base_due_on, new.working_days
            existing.extension_working_days = 0
            self._changed(existing)
        return existing

    def extend(self, stage: Stage, *, working_days: int, good_reason: bool) -> Clock | None:
        """Move a stage's response date; flag a total past the Code's limit with no reason."""
        clock = self.find(RESPONSE_STEP[stage])
        if clock is None or clock.state != ClockState.OPEN:
            return None
        clock.extension_working_days += working_days
        clock.good_reason_recorded = clock.good_reason_recorded or good_reason
        clock.due_on = counted_due(clock, self.calendar)
        beyond = clock.extension_working_days > EXTENSION_LIMIT[stage]
        flag = ClockFlag.EXTENSION_BEYOND_LIMIT_WITHOUT_REASON
        if beyond and not clock.good_reason_recorded and flag not in clock.flags:
            clock.flags = [*clock.flags, flag]
        self._changed(clock)
        return clock

    def agree_updates(self, stage: Stage, *, starts_on: date, interval_working_days: int) -> None:
        """Start (or restart) the repeating clock of updates agreed with the resident (5.9)."""
        existing = self.find(ClockStep.RESIDENT_UPDATE, stage)
        if existing is None:
            clock = self.start_counted(
                ClockStep.RESIDENT_UPDATE,
                starts_on=starts_on,
                working_days=interval_working_days,
                handling_organisation_id=self.handler_of(RESPONSE_STEP[stage]),
                stage=stage,
                qualifier=stage,
            )
            clock.occurrence = 1
        elif existing.state == ClockState.OPEN:
            existing.starts_on, existing.working_days = starts_on, interval_working_days
            existing.base_due_on = existing.due_on = counted_due(existing, self.calendar)
            existing.occurrence = (existing.occurrence or 0) + 1
            self._changed(existing)

    def complete(self, step: ClockStep, *, on: date, qualifier: object = None) -> None:
        """The step was done on `on`: stop its clock, met on time or late."""
        clock = self.find(step, qualifier)
        if clock is None or clock.state != ClockState.OPEN:
            return
        clock.state, clock.completed_on = ClockState.MET, on
        clock.on_time = on <= clock.due_on
        clock.revision += 1
        data = clock_event(DeadlineMet, clock, completed_on=on, on_time=clock.on_time)
        self.events.append(
            envelope(data, clock, event_id=derived_id("met", clock.id), caused_by=self.cause)
        )

    def cancel(
        self, reason: str, *, steps: tuple[ClockStep, ...] = (), stage: Stage | None = None
    ) -> None:
        """Stop open clocks without their step being done (all of them when no filter)."""
        for clock in self.clocks.values():
            if clock.state != ClockState.OPEN:
                continue
            if steps and clock.step not in steps:
                continue
            if stage is not None and clock.stage != stage:
                continue
            clock.state, clock.cancel_reason = ClockState.CANCELLED, reason
            clock.revision += 1
            data = clock_event(DeadlineCancelled, clock, reason=reason)
            self.events.append(
                envelope(
                    data, clock, event_id=derived_id("cancelled", clock.id), caused_by=self.cause
                )
            )

    def _changed(self, clock: Clock) -> None:
        if all(known.id != clock.id for known in self.changed):
            self.changed.append(clock)

    async def finish(self) -> list[Event[Any]]:
        """Announce every started or moved clock and schedule its timers; return all events."""
        announced = [clock for clock in self.changed if clock.state == ClockState.OPEN]
        for clock in announced:
            if clock.id not in self.started:
                clock.revision += 1
                # A new date is a new chance: missing it is reported afresh.
                clock.missed_at = None
            self.events.append(deadline_set(clock, self.cause))
        await schedule(self.session, announced, self.calendar, self.policy)
        return self.events


async def remember_calendar(
    session: AsyncSession, *, organisation_id: UUID, nation: Nation, days_off: list[date]
) -> WorkingCalendar:
    """Keep a landlord's calendar from its latest profile."""
    await lock_calendar(session, organisation_id, exclusive=True)
    await session.merge(
        OrganisationCalendar(
            organisation_id=organisation_id,
            nation=nation,
            days_off=[day.isoformat() for day in sorted(set(days_off))],
        )
    )
    return WorkingCalendar(nation, days_off)


async def recount_open_clocks(
    session: AsyncSession,
    *,
    organisation_id: UUID,
    calendar: WorkingCalendar,
    policy: Policy,
    cause: Event[Any],
) -> list[Event[Any]]:
    """Recount a landlord's open counted clocks on a changed calendar; announce those that move.

    Also makes a replay independent of how the organisations and complaints topics
    interleave: every open clock ends on the latest calendar either way."""
    found = await session.exec(
        select(Clock)
        .where(
            Clock.organisation_id == organisation_id,
            Clock.state == ClockState.OPEN,
            col(Clock.working_days).is_not(None),
        )
        .order_by(col(Clock.id))
        .with_for_update()
    )
    moved = []
    for clock in found:
        due_on = counted_due(clock, calendar)
        if due_on == clock.due_on:
            continue
        assert clock.working_days is not None
        clock.due_on = due_on
        clock.base_due_on = calendar.add(clock.starts_on, clock.working_days)
        clock.missed_at = None
        clock.revision += 1
        moved.append(clock)
    await schedule(session, moved, calendar, policy)
    return [deadline_set(clock, cause) for clock in moved]
