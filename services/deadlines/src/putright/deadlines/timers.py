"""Durable timers: claimed from PostgreSQL in batches, fired once, however many replicas run.

A replica claims due timers with `FOR UPDATE SKIP LOCKED` (another replica skips
them rather than waiting) and marks them fired in the same statement, locks their
clocks, checks each clock is still in the state the timer was scheduled for (a timer
whose clock moved on is marked stale instead), and in the same transaction stages the
events in the outbox. A crash before the commit leaves the timer unfired
for the next claim; after the commit it is never claimed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, any_, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from putright.deadlines.models import (
    ClockState,
    TimerKind,
    TimerOutcome,
    clock_table,
    timer_table,
)
from putright.deadlines.rules import derived_id
from putright.deadlines.service import (
    Policy,
    among,
    calendar_for,
    clock_event,
    counted_due,
    deadline_set,
    envelope,
    lock_clocks,
    schedule,
    timer_rows,
    write_clocks,
)
from putright.deadlines.timekeeping import TimeSource
from putright.shared.calendar import WorkingCalendar, local_date
from putright.shared.events import DeadlineApproaching, DeadlineMissed, Event
from putright.shared.observability import TIMERS_DUE, TIMERS_FIRED
from putright.shared.runtime import Runtime

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Due:
    """A claimed timer: which clock, what to do, and for which revision of the clock."""

    id: UUID
    clock_id: UUID
    kind: str
    revision: int


# What a timer needs to know of its clock: whether it still needs the timer, and the
# fields of the event it emits. Read with Core, not the ORM: a batch is a thousand rows.
CLOCK_FIELDS = tuple(
    clock_table.c[name]
    for name in (
        "id",
        "complaint_id",
        "organisation_id",
        "handling_organisation_id",
        "step",
        "stage",
        "item_id",
        "due_on",
        "state",
        "revision",
        "missed_at",
    )
)


@dataclass
class Firing:
    """One batch's shared state: its instant, its session, the calendars it loaded and
    the clocks it found missed (marked in one statement at the end)."""

    session: AsyncSession
    now: datetime
    policy: Policy
    calendars: dict[UUID, WorkingCalendar] = field(default_factory=dict)
    missed: list[UUID] = field(default_factory=list)

    async def calendar(self, organisation_id: UUID) -> WorkingCalendar:
        """The landlord's calendar, loaded once per batch."""
        if organisation_id not in self.calendars:
            self.calendars[organisation_id] = await calendar_for(self.session, organisation_id)
        return self.calendars[organisation_id]

    async def fire(self, timer: Due, clock: Row[Any] | None) -> Event[Any] | None:
        """The event a timer emits now, or None when its clock has moved on."""
        if clock is None or clock.state != ClockState.OPEN or clock.revision != timer.revision:
            return None
        event_id = derived_id("fire", timer.id)
        if timer.kind == TimerKind.MISSED:
            return self._missed(clock, event_id)
        if timer.kind == TimerKind.APPROACHING:
            return await self._approaching(clock, event_id)
        return await self._next_update(timer.clock_id)

    async def _approaching(self, clock: Row[Any], event_id: UUID) -> Event[Any] | None:
        today = local_date(self.now)
        if today > clock.due_on:
            return None
        calendar = await self.calendar(clock.organisation_id)
        left = calendar.count(today, clock.due_on)
        data = clock_event(DeadlineApproaching, clock, working_days_left=left)
        return envelope(data, clock, event_id=event_id)

    def _missed(self, clock: Row[Any], event_id: UUID) -> Event[Any] | None:
        if clock.missed_at is not None:
            return None
        self.missed.append(clock.id)
        data = clock_event(DeadlineMissed, clock, missed_at=self.now)
        return envelope(data, clock, event_id=event_id)

    async def _next_update(self, clock_id: UUID) -> Event[Any]:
        """A resident update fell due: the clock repeats from that date (5.9)."""
        # Already locked by this batch; read whole, as the repeat changes most of it.
        [clock] = await lock_clocks(self.session, clock_table.c.id == clock_id)
        calendar = await self.calendar(clock.organisation_id)
        clock.starts_on = clock.due_on
        clock.base_due_on = clock.due_on = counted_due(clock, calendar)
        clock.occurrence = (clock.occurrence or 0) + 1
        clock.revision += 1
        await write_clocks(self.session, [clock])
        await schedule(self.session, timer_rows(clock, calendar, self.policy))
        return deadline_set(clock)

    async def record(self, stale: list[UUID]) -> None:
        """Mark the clocks missed and the stale timers' outcome, a statement each."""
        connection = await self.session.connection()
        if self.missed:
            await connection.execute(
                update(clock_table)
                .where(among(connection, clock_table.c.id, self.missed))
                .values(missed_at=self.now)
            )
        if stale:
            await connection.execute(
                update(timer_table)
                .where(among(connection, timer_table.c.id, stale))
                .values(outcome=TimerOutcome.STALE.value)
            )


async def claim(session: AsyncSession, *, now: datetime, batch_size: int) -> list[Due]:
    """Claim up to `batch_size` due timers that no other replica holds, soonest first, and
    mark them fired (outcome "fired" until found stale), in one statement."""
    connection = await session.connection()
    due = (
        select(timer_table.c.id)
        .where(timer_table.c.fired_at.is_(None), timer_table.c.fire_at <= now)
        .order_by(timer_table.c.fire_at)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    )
    # ANY(ARRAY(...)) rather than IN (...): PostgreSQL then updates the claimed rows by
    # their key instead of hash-joining the subquery against the whole table.
    claimed = (
        timer_table.c.id == any_(func.array(due.scalar_subquery()))
        if connection.dialect.name == "postgresql"
        else timer_table.c.id.in_(due.scalar_subquery())
    )
    rows = await connection.execute(
        update(timer_table)
        .where(claimed)
        .values(fired_at=now, outcome=TimerOutcome.FIRED.value)
        .returning(
            timer_table.c.id, timer_table.c.clock_id, timer_table.c.kind, timer_table.c.revision
        )
    )
    return [Due(*row) for row in rows]


async def lock_timed_clocks(session: AsyncSession, clock_ids: set[UUID]) -> dict[UUID, Row[Any]]:
    """Lock the timers' clocks in id order, as the consumer locks them, so neither deadlocks."""
    connection = await session.connection()
    rows = await connection.execute(
        select(*CLOCK_FIELDS)
        .where(among(connection, clock_table.c.id, clock_ids))
        .order_by(clock_table.c.id)
        .with_for_update()
    )
    return {row.id: row for row in rows}


async def fire_due_timers(
    runtime: Runtime, *, now: datetime, policy: Policy, batch_size: int
) -> int:
    """Claim up to `batch_size` due timers and fire them in one transaction; returns how many."""
    now = now.astimezone(UTC)
    async with runtime.unit_of_work() as session:
        timers = await claim(session, now=now, batch_size=batch_size)
        if not timers:
            return 0
        clocks = await lock_timed_clocks(session, {timer.clock_id for timer in timers})
        firing = Firing(session, now, policy)
        events, stale = [], []
        for timer in timers:
            event = await firing.fire(timer, clocks.get(timer.clock_id))
            if event:
                events.append(event)
            else:
                stale.append(timer.id)
        await firing.record(stale)
        await runtime.emit(session, *events)
    TIMERS_FIRED.labels(TimerOutcome.FIRED.value).inc(len(events))
    TIMERS_FIRED.labels(TimerOutcome.STALE.value).inc(len(stale))
    return len(timers)


async def count_due(runtime: Runtime, *, now: datetime) -> int:
    """How many timers are due and not yet fired (a metric of how far behind firing is)."""
    async with runtime.sessions() as session:
        connection = await session.connection()
        result = await connection.execute(
            select(func.count())
            .select_from(timer_table)
            .where(timer_table.c.fired_at.is_(None), timer_table.c.fire_at <= now.astimezone(UTC))
        )
    return int(result.scalar_one())


async def next_due(runtime: Runtime) -> datetime | None:
    """When the soonest unfired timer falls due (the first entry of the pending index)."""
    async with runtime.sessions() as session:
        connection = await session.connection()
        result = await connection.execute(
            select(timer_table.c.fire_at)
            .where(timer_table.c.fired_at.is_(None))
            .order_by(timer_table.c.fire_at)
            .limit(1)
        )
    upcoming: datetime | None = result.scalar()
    # SQLite keeps no offset; fire times are stored in UTC.
    return upcoming.replace(tzinfo=UTC) if upcoming and upcoming.tzinfo is None else upcoming


# The shortest wait between claims: a timer already due but held by another replica's
# batch must not make this one spin.
SHORTEST_PAUSE_SECONDS = 0.05


def pause(now: datetime, upcoming: datetime | None, *, poll_seconds: float) -> float:
    """Seconds to wait before the next claim: until the soonest timer falls due, but no
    longer than the poll interval (a timer scheduled meanwhile may fall due sooner)."""
    if upcoming is None:
        return poll_seconds
    until = (upcoming - now).total_seconds()
    return min(poll_seconds, max(until, SHORTEST_PAUSE_SECONDS))


async def run_timers(
    runtime: Runtime, time: TimeSource, *, policy: Policy, batch_size: int, poll_seconds: float
) -> None:
    """Fire due timers for the life of the service; a failed batch is retried next poll.

    Between claims it sleeps until the soonest pending timer falls due (at most the
    poll interval), so a timer fires within a batch's time of falling due, not a poll's."""
    while True:
        try:
            fired = await fire_due_timers(
                runtime, now=time.now(), policy=policy, batch_size=batch_size
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("firing timers failed; will retry", exc_info=True)
            await asyncio.sleep(poll_seconds)
            continue
        if fired < batch_size:
            wait = poll_seconds
            with contextlib.suppress(Exception):
                TIMERS_DUE.set(await count_due(runtime, now=time.now()))
                wait = pause(time.now(), await next_due(runtime), poll_seconds=poll_seconds)
            await asyncio.sleep(wait)
