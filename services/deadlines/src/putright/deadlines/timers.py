"""Durable timers: claimed from PostgreSQL in batches, fired once, however many replicas run.

A replica claims due timers with `FOR UPDATE SKIP LOCKED` (another replica skips
them rather than waiting), locks their clocks, checks each clock is still in the state
the timer was scheduled for, and in the same transaction stages the event in the
outbox and marks the timer fired. A crash before the commit leaves the timer unfired
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

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from putright.deadlines.models import Clock, ClockState, Timer, TimerKind, TimerOutcome
from putright.deadlines.rules import derived_id
from putright.deadlines.service import (
    Policy,
    calendar_for,
    clock_event,
    counted_due,
    deadline_set,
    envelope,
    schedule,
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
    kind: TimerKind
    revision: int


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

    async def fire(self, timer: Due, clock: Clock | None) -> Event[Any] | None:
        """The event a timer emits now, or None when its clock has moved on."""
        if clock is None or clock.state != ClockState.OPEN or clock.revision != timer.revision:
            return None
        event_id = derived_id("fire", timer.id)
        if timer.kind == TimerKind.APPROACHING:
            return await self._approaching(clock, event_id)
        if timer.kind == TimerKind.MISSED:
            return self._missed(clock, event_id)
        return await self._next_update(clock)

    async def _approaching(self, clock: Clock, event_id: UUID) -> Event[Any] | None:
        today = local_date(self.now)
        if today > clock.due_on:
            return None
        calendar = await self.calendar(clock.organisation_id)
        left = calendar.count(today, clock.due_on)
        data = clock_event(DeadlineApproaching, clock, working_days_left=left)
        return envelope(data, clock, event_id=event_id)

    def _missed(self, clock: Clock, event_id: UUID) -> Event[Any] | None:
        if clock.missed_at is not None:
            return None
        self.missed.append(clock.id)
        data = clock_event(DeadlineMissed, clock, missed_at=self.now)
        return envelope(data, clock, event_id=event_id)

    async def _next_update(self, clock: Clock) -> Event[Any]:
        """A resident update fell due: the clock repeats from that date (5.9)."""
        calendar = await self.calendar(clock.organisation_id)
        clock.starts_on = clock.due_on
        clock.base_due_on = clock.due_on = counted_due(clock, calendar)
        clock.occurrence = (clock.occurrence or 0) + 1
        clock.revision += 1
        await schedule(self.session, [clock], calendar, self.policy)
        return deadline_set(clock)

    async def record(self, outcomes: dict[TimerOutcome, list[UUID]]) -> None:
        """Mark the clocks missed and the timers fired, a statement each."""
        connection = await self.session.connection()
        if self.missed:
            await connection.execute(
                update(Clock).where(col(Clock.id).in_(self.missed)).values(missed_at=self.now)
            )
        for outcome, timer_ids in outcomes.items():
            if timer_ids:
                await connection.execute(
                    update(Timer)
                    .where(col(Timer.id).in_(timer_ids))
                    .values(fired_at=self.now, outcome=outcome.value)
                )


async def claim(session: AsyncSession, *, now: datetime, batch_size: int) -> list[Due]:
    """Lock up to `batch_size` due timers that no other replica holds, soonest first."""
    connection = await session.connection()
    rows = await connection.execute(
        select(col(Timer.id), col(Timer.clock_id), col(Timer.kind), col(Timer.revision))
        .where(col(Timer.fired_at).is_(None), col(Timer.fire_at) <= now)
        .order_by(col(Timer.fire_at))
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    )
    return [Due(row.id, row.clock_id, TimerKind(row.kind), row.revision) for row in rows]


async def fire_due_timers(
    runtime: Runtime, *, now: datetime, policy: Policy, batch_size: int
) -> int:
    """Claim up to `batch_size` due timers and fire them in one transaction; returns how many."""
    now = now.astimezone(UTC)
    async with runtime.unit_of_work() as session:
        timers = await claim(session, now=now, batch_size=batch_size)
        if not timers:
            return 0
        # Clocks are locked in id order, as the consumer locks them, so neither deadlocks.
        clocks = {
            clock.id: clock
            for clock in await session.exec(
                select(Clock)
                .where(col(Clock.id).in_({timer.clock_id for timer in timers}))
                .order_by(col(Clock.id))
                .with_for_update()
            )
        }
        firing = Firing(session, now, policy)
        events = []
        outcomes: dict[TimerOutcome, list[UUID]] = {outcome: [] for outcome in TimerOutcome}
        for timer in timers:
            event = await firing.fire(timer, clocks.get(timer.clock_id))
            outcomes[TimerOutcome.FIRED if event else TimerOutcome.STALE].append(timer.id)
            if event:
                events.append(event)
        await firing.record(outcomes)
        await runtime.emit(session, *events)
    for outcome, fired in outcomes.items():
        TIMERS_FIRED.labels(outcome.value).inc(len(fired))
    return len(timers)


async def count_due(runtime: Runtime, *, now: datetime) -> int:
    """How many timers are due and not yet fired (a metric of how far behind firing is)."""
    async with runtime.sessions() as session:
        connection = await session.connection()
        result = await connection.execute(
            select(func.count())
            .select_from(Timer)
            .where(col(Timer.fired_at).is_(None), col(Timer.fire_at) <= now.astimezone(UTC))
        )
    return int(result.scalar_one())


async def run_timers(
    runtime: Runtime, time: TimeSource, *, policy: Policy, batch_size: int, poll_seconds: float
) -> None:
    """Fire due timers for the life of the service; a failed batch is retried next poll."""
    while True:
        try:
            fired = await fire_due_timers(
                runtime, now=time.now(), policy=policy, batch_size=batch_size
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("firing timers failed; will retry", exc_info=True)
            fired = 0
        if fired < batch_size:
            with contextlib.suppress(Exception):
                TIMERS_DUE.set(await count_due(runtime, now=time.now()))
            await asyncio.sleep(poll_seconds)
