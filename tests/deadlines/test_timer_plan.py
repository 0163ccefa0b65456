"""Which timers a clock gets, when they fire (UK local midnight, summer time included),
and how long the timer loop waits between claims."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

from putright.deadlines.models import ClockRecord, ClockState, TimerKind
from putright.deadlines.service import Policy, timer_rows
from putright.deadlines.timers import SHORTEST_PAUSE_SECONDS, pause
from putright.shared.calendar import WorkingCalendar
from putright.shared.events import ClockStep


def clock(
    starts_on: date, due_on: date, step: ClockStep = ClockStep.STAGE1_ACKNOWLEDGEMENT
) -> ClockRecord:
    organisation = uuid4()
    return ClockRecord(
        id=uuid4(),
        complaint_id=uuid4(),
        organisation_id=organisation,
        handling_organisation_id=organisation,
        step=step,
        starts_on=starts_on,
        base_due_on=due_on,
        due_on=due_on,
        working_days=5,
    )


def plan(timed: ClockRecord, policy: Policy = Policy()) -> dict[str, datetime]:
    return {
        row["kind"]: row["fire_at"].astimezone(UTC)
        for row in timer_rows(timed, WorkingCalendar(), policy)
    }


def test_a_warning_two_working_days_before_and_a_miss_the_day_after() -> None:
    assert plan(clock(date(2023, 3, 6), date(2023, 3, 13))) == {
        TimerKind.APPROACHING: datetime(2023, 3, 9, tzinfo=UTC),
        TimerKind.MISSED: datetime(2023, 3, 14, tzinfo=UTC),
    }


def test_the_warning_window_is_configurable() -> None:
    fired = plan(clock(date(2023, 3, 6), date(2023, 3, 13)), Policy(approaching_working_days=3))
    assert fired[TimerKind.APPROACHING] == datetime(2023, 3, 8, tzinfo=UTC)


def test_in_summer_a_uk_day_starts_at_23_00_utc_the_evening_before() -> None:
    # Due Wednesday 14 June 2023: missed from 00:00 BST on the 15th.
    fired = plan(clock(date(2023, 6, 7), date(2023, 6, 14)))
    assert fired[TimerKind.MISSED] == datetime(2023, 6, 14, 23, tzinfo=UTC)
    assert fired[TimerKind.APPROACHING] == datetime(2023, 6, 11, 23, tzinfo=UTC)


def test_a_warning_is_not_planned_before_the_clock_starts() -> None:
    assert set(plan(clock(date(2023, 3, 10), date(2023, 3, 13)))) == {TimerKind.MISSED}


def test_an_update_clock_repeats_instead_of_being_missed() -> None:
    updates = clock(date(2023, 3, 6), date(2023, 3, 13), ClockStep.RESIDENT_UPDATE)
    assert set(plan(updates)) == {TimerKind.APPROACHING, TimerKind.UPDATE}


def test_a_stopped_clock_needs_no_timers() -> None:
    done = clock(date(2023, 3, 6), date(2023, 3, 13))
    done.state = ClockState.MET
    assert plan(done) == {}


def test_the_loop_waits_until_the_next_timer_falls_due_at_most_a_poll() -> None:
    now = datetime(2023, 3, 6, 12, tzinfo=UTC)
    assert pause(now, now + timedelta(milliseconds=300), poll_seconds=1.0) == 0.3
    assert pause(now, now + timedelta(hours=1), poll_seconds=1.0) == 1.0
    assert pause(now, None, poll_seconds=1.0) == 1.0
    # Due already but held by another replica's batch: a short wait, not a spin.
    assert pause(now, now - timedelta(seconds=5), poll_seconds=1.0) == SHORTEST_PAUSE_SECONDS
