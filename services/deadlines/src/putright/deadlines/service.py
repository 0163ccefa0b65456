"""Starting, moving and stopping clocks, and scheduling the timers that watch them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Row, and_, any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from putright.deadlines.models import (
    CLOCK_COLUMNS,
    ClockRecord,
    ClockState,
    TimerKind,
    calendar_table,
    clock_table,
    timer_table,
)
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


async def lock_calendars(
    session: AsyncSession, organisation_ids: Collection[UUID], *, exclusive: bool
) -> None:
    """Order calendar changes against clock changes of the same landlords, across replicas.

    Complaints' clocks are counted under a shared lock, a new calendar is stored and
    open clocks recounted under an exclusive one, so no clock is ever counted on a
    calendar that a concurrent profile change has already replaced without recounting it.
    Several landlords' locks are taken in key order, in one statement."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        return  # SQLite (the embedded mode) lets one writer in at a time anyway.
    keys = sorted({_lock_key(organisation_id) for organisation_id in organisation_ids})
    await connection.execute(_LOCK_CALENDARS[exclusive], {"keys": keys})


_LOCK_CALENDARS = {
    exclusive: text(
        f"SELECT {function}(key)"  # noqa: S608 (two fixed function names)
        " FROM (SELECT unnest(CAST(:keys AS bigint[])) AS key ORDER BY 1) AS keys"
    )
    for exclusive, function in (
        (True, "pg_advisory_xact_lock"),
        (False, "pg_advisory_xact_lock_shared"),
    )
}


def _lock_key(organisation_id: UUID) -> int:
    """A signed 64-bit advisory lock key for an organisation's calendar."""
    return int.from_bytes(organisation_id.bytes[:8], "big", signed=True)


async def calendars_for(
    session: AsyncSession, organisation_ids: Collection[UUID]
) -> dict[UUID, WorkingCalendar]:
    """The landlords' calendars, in one query; bank holidays alone until a profile arrives."""
    connection = await session.connection()
    table = calendar_table
    rows = await connection.execute(
        select(table.c.organisation_id, table.c.nation, table.c.days_off).where(
            among(connection, table.c.organisation_id, organisation_ids)
        )
    )
    found = {
        row.organisation_id: WorkingCalendar(
            Nation(row.nation), [date.fromisoformat(day) for day in row.days_off]
        )
        for row in rows
    }
    return {
        organisation_id: found.get(organisation_id, WorkingCalendar())
        for organisation_id in organisation_ids
    }


async def calendar_for(session: AsyncSession, organisation_id: UUID) -> WorkingCalendar:
    """One landlord's calendar."""
    return (await calendars_for(session, [organisation_id]))[organisation_id]


async def lock_clocks(session: AsyncSession, where: ColumnElement[bool]) -> list[ClockRecord]:
    """Read and lock the clocks `where` holds, in id order: the order every path locks
    clocks in (the consumer, a calendar change, the timer loop), so none deadlocks."""
    connection = await session.connection()
    rows = await connection.execute(
        select(clock_table).where(where).order_by(clock_table.c.id).with_for_update()
    )
    return [ClockRecord.from_row(row) for row in rows]


async def write_clocks(session: AsyncSession, clocks: Collection[ClockRecord]) -> None:
    """Insert new clocks and update changed ones, in one statement for the lot."""
    if not clocks:
        return
    connection = await session.connection()
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = insert(clock_table)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[clock_table.c.id],
            set_={name: statement.excluded[name] for name in CLOCK_COLUMNS if name != "id"},
        ),
        [clock.values() for clock in clocks],
    )


def clock_event(
    data_class: type[EventData], clock: ClockRecord | Row[Any], **fields: Any
) -> EventData:
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
    data: EventData,
    clock: ClockRecord | Row[Any],
    *,
    event_id: UUID,
    caused_by: Event[Any] | None = None,
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


def deadline_set(clock: ClockRecord, caused_by: Event[Any] | None = None) -> Event[Any]:
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


def counted_due(clock: ClockRecord, calendar: WorkingCalendar) -> date:
    """A counted clock's due date: its working days, plus extensions, from its start."""
    assert clock.working_days is not None
    return calendar.add(clock.starts_on, clock.working_days + clock.extension_working_days)


def timer_rows(
    clock: ClockRecord, calendar: WorkingCalendar, policy: Policy
) -> list[dict[str, Any]]:
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


async def schedule(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Store timers (see `timer_rows`); older revisions' timers will find themselves stale."""
    if rows:
        connection = await session.connection()
        insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        await connection.execute(insert(timer_table).on_conflict_do_nothing(), rows)


@dataclass
class ClockBatch:
    """The clocks of every complaint in a run of events, locked for one transaction,
    and what the events changed: written back, timers and all, in a statement each."""

    policy: Policy
    calendars: dict[UUID, WorkingCalendar]
    clocks: dict[UUID, dict[UUID, ClockRecord]]
    changed: dict[UUID, ClockRecord] = field(default_factory=dict)
    timers: list[dict[str, Any]] = field(default_factory=list)
    events: list[Event[Any]] = field(default_factory=list)

    @classmethod
    async def load(
        cls, session: AsyncSession, causes: Sequence[Event[Any]], policy: Policy
    ) -> ClockBatch:
        """Lock the landlords' calendars, then the complaints' clocks in id order: the same
        order as a calendar change and the timer loop take their locks, so none deadlocks."""
        landlords = {cause.organisation_id for cause in causes}
        await lock_calendars(session, landlords, exclusive=False)
        connection = await session.connection()
        complaints = {cause.subject for cause in causes}
        found = await lock_clocks(
            session, among(connection, clock_table.c.complaint_id, complaints)
        )
        clocks: dict[UUID, dict[UUID, ClockRecord]] = {complaint: {} for complaint in complaints}
        for clock in found:
            clocks[clock.complaint_id][clock.id] = clock
        return cls(policy, await calendars_for(session, landlords), clocks)

    def complaint(self, cause: Event[Any]) -> ComplaintClocks:
        """The clocks of the complaint `cause` is about, to change for that event."""
        return ComplaintClocks(
            self, cause, self.calendars[cause.organisation_id], self.clocks[cause.subject]
        )

    async def write(self, session: AsyncSession) -> list[Event[Any]]:
        """Store the changed clocks and their new timers; return the events to emit."""
        await write_clocks(session, list(self.changed.values()))
        await schedule(session, self.timers)
        return self.events


@dataclass
class ComplaintClocks:
    """The clocks of one complaint as one event changes them, within a `ClockBatch`."""

    batch: ClockBatch
    cause: Event[Any]
    calendar: WorkingCalendar
    clocks: dict[UUID, ClockRecord]
    events: list[Event[Any]] = field(default_factory=list)
    changed: list[ClockRecord] = field(default_factory=list)
    started: set[UUID] = field(default_factory=set)

    def find(self, step: ClockStep, qualifier: object = None) -> ClockRecord | None:
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
    ) -> ClockRecord:
        """Start a clock due `working_days` after `starts_on`."""
        due_on = self.calendar.add(starts_on, working_days)
        return self._start(
            ClockRecord(
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
    ) -> ClockRecord:
        """Start a clock to the date promised to the resident (7.3)."""
        return self._start(
            ClockRecord(
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

    def _start(self, new: ClockRecord) -> ClockRecord:
        existing = self.clocks.get(new.id)
        if existing is None:
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

    def extend(self, stage: Stage, *, working_days: int, good_reason: bool) -> ClockRecord | None:
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
        self.batch.changed[clock.id] = clock
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
            self.batch.changed[clock.id] = clock
            data = clock_event(DeadlineCancelled, clock, reason=reason)
            self.events.append(
                envelope(
                    data, clock, event_id=derived_id("cancelled", clock.id), caused_by=self.cause
                )
            )

    def _changed(self, clock: ClockRecord) -> None:
        if all(known.id != clock.id for known in self.changed):
            self.changed.append(clock)
        self.batch.changed[clock.id] = clock

    def finish(self) -> None:
        """Announce every started or moved clock and plan its timers, into the batch."""
        announced = [clock for clock in self.changed if clock.state == ClockState.OPEN]
        for clock in announced:
            if clock.id not in self.started:
                clock.revision += 1
                # A new date is a new chance: missing it is reported afresh.
                clock.missed_at = None
            self.events.append(deadline_set(clock, self.cause))
            self.batch.timers += timer_rows(clock, self.calendar, self.batch.policy)
        self.batch.events += self.events


async def remember_calendar(
    session: AsyncSession, *, organisation_id: UUID, nation: Nation, days_off: list[date]
) -> WorkingCalendar:
    """Keep a landlord's calendar from its latest profile (under its exclusive lock)."""
    connection = await session.connection()
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    row = {
        "organisation_id": organisation_id,
        "nation": nation.value,
        "days_off": [day.isoformat() for day in sorted(set(days_off))],
    }
    statement = insert(calendar_table).values(row)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[calendar_table.c.organisation_id],
            set_={"nation": statement.excluded.nation, "days_off": statement.excluded.days_off},
        )
    )
    return WorkingCalendar(nation, days_off)


async def lock_open_counted_clocks(
    session: AsyncSession, organisation_ids: Collection[UUID]
) -> dict[UUID, list[ClockRecord]]:
    """Lock the landlords' open counted clocks (one statement, id order), by landlord."""
    connection = await session.connection()
    found = await lock_clocks(
        session,
        and_(
            among(connection, clock_table.c.organisation_id, organisation_ids),
            clock_table.c.state == ClockState.OPEN.value,
            clock_table.c.working_days.is_not(None),
        ),
    )
    by_landlord: dict[UUID, list[ClockRecord]] = {landlord: [] for landlord in organisation_ids}
    for clock in found:
        by_landlord[clock.organisation_id].append(clock)
    return by_landlord


def recount(clocks: list[ClockRecord], calendar: WorkingCalendar) -> list[ClockRecord]:
    """Recount open counted clocks on a changed calendar; returns those whose date moved.

    Also makes a replay independent of how the organisations and complaints topics
    interleave: every open clock ends on the latest calendar either way."""
    moved = []
    for clock in clocks:
        due_on = counted_due(clock, calendar)
        if due_on == clock.due_on:
            continue
        assert clock.working_days is not None
        clock.due_on = due_on
        clock.base_due_on = calendar.add(clock.starts_on, clock.working_days)
        clock.missed_at = None
        clock.revision += 1
        moved.append(clock)
    return moved
