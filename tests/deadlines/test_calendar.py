"""The working-day calendar: properties that must hold for any date, and dates known to hold."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from putright.shared.calendar import (
    WorkingCalendar,
    bank_holidays,
    local_date,
    local_dates,
    start_of_day,
)
from putright.shared.events import Nation

ENGLAND = WorkingCalendar()
days = st.dates(min_value=date(2016, 1, 1), max_value=date(2044, 6, 30))
counts = st.integers(min_value=1, max_value=120)
nations = st.sampled_from(list(Nation))


@given(start=days, working_days=counts, nation=nations)
def test_adding_then_counting_working_days_round_trips(
    start: date, working_days: int, nation: Nation
) -> None:
    calendar = WorkingCalendar(nation)
    assert calendar.count(start, calendar.add(start, working_days)) == working_days


@given(start=days, working_days=st.integers(min_value=1, max_value=120), nation=nations)
def test_a_due_date_is_never_a_weekend_or_holiday(
    start: date, working_days: int, nation: Nation
) -> None:
    due = WorkingCalendar(nation).add(start, working_days)
    assert due.weekday() < 5
    assert due not in bank_holidays(nation)
    assert due > start


@given(start=days, working_days=st.integers(min_value=1, max_value=60))
def test_the_start_day_itself_is_never_counted(start: date, working_days: int) -> None:
    due = ENGLAND.add(start, working_days)
    between = [start + timedelta(days=n) for n in range(1, (due - start).days + 1)]
    assert sum(ENGLAND.is_working_day(day) for day in between) == working_days


@given(start=days, working_days=st.integers(min_value=1, max_value=30))
def test_counting_back_lands_the_same_number_of_working_days_before(
    start: date, working_days: int
) -> None:
    due = ENGLAND.add(start, working_days + 5)
    warn_on = ENGLAND.add(due, -working_days)
    assert ENGLAND.count(warn_on, due) == working_days


@pytest.mark.parametrize(
    "day",
    [
        date(2023, 5, 8),  # the coronation
        date(2022, 6, 2),  # spring bank holiday moved for the jubilee
        date(2022, 6, 3),  # the platinum jubilee
        date(2022, 9, 19),  # the state funeral
        date(2021, 12, 27),  # Christmas Day observed
        date(2021, 12, 28),  # Boxing Day observed
        date(2026, 12, 28),  # Boxing Day observed
        date(2023, 4, 7),  # Good Friday
        date(2023, 4, 10),  # Easter Monday
    ],
)
def test_known_days_off_are_not_working_days(day: date) -> None:
    assert not ENGLAND.is_working_day(day)


@pytest.mark.parametrize(
    ("start", "working_days", "due"),
    [
        # Received Thursday 22 Dec 2022: Fri 23, Wed 28, Thu 29, Fri 30, Tue 3 Jan.
        (date(2022, 12, 22), 5, date(2023, 1, 3)),
        # Across Easter 2023: Thu 6 Apr, Tue 11, Wed 12, Thu 13, Fri 14.
        (date(2023, 4, 5), 5, date(2023, 4, 14)),
        # Across the coronation weekend: Fri 5 May, Tue 9, Wed 10.
        (date(2023, 5, 4), 3, date(2023, 5, 10)),
        # Across the jubilee: Tue 31 May, Wed 1 Jun, Mon 6, Tue 7, Wed 8.
        (date(2022, 5, 30), 5, date(2022, 6, 8)),
        # From Saturday 17 Sep 2022, Monday 19th being the funeral: Tue 20, Wed 21.
        (date(2022, 9, 17), 2, date(2022, 9, 21)),
    ],
)
def test_known_due_dates(start: date, working_days: int, due: date) -> None:
    assert ENGLAND.add(start, working_days) == due


def test_the_nations_keep_their_own_bank_holidays() -> None:
    scotland = WorkingCalendar(Nation.SCOTLAND)
    northern_ireland = WorkingCalendar(Nation.NORTHERN_IRELAND)
    assert not scotland.is_working_day(date(2024, 1, 2))  # 2 January
    assert ENGLAND.is_working_day(date(2024, 1, 2))
    assert not scotland.is_working_day(date(2024, 12, 2))  # St Andrew's Day observed
    assert not northern_ireland.is_working_day(date(2024, 7, 12))  # Battle of the Boyne
    assert not northern_ireland.is_working_day(date(2024, 3, 18))  # St Patrick's observed
    assert ENGLAND.is_working_day(date(2024, 3, 18))
    assert scotland.is_working_day(date(2024, 4, 1))  # no Easter Monday holiday in Scotland
    assert not ENGLAND.is_working_day(date(2024, 4, 1))


@given(start=days, working_days=st.integers(min_value=1, max_value=40), data=st.data())
def test_closure_days_and_extra_holidays_are_never_working_days(
    start: date, working_days: int, data: st.DataObject
) -> None:
    closures = data.draw(st.lists(days, max_size=10))
    extras = data.draw(st.lists(days, max_size=5))
    calendar = WorkingCalendar(Nation.ENGLAND_AND_WALES, closures, extra_holidays=extras)
    due = calendar.add(start, working_days)
    assert due not in closures
    assert due not in extras
    assert calendar.count(start, due) == working_days
    for day in (*closures, *extras):
        assert not calendar.is_working_day(day)


def test_an_announced_holiday_moves_a_due_date() -> None:
    # Mon 13 Jan 2025 + 5 = Mon 20 Jan; with Friday 17th off, Tue 21 Jan.
    announced = WorkingCalendar(extra_holidays=[date(2025, 1, 17)])
    assert ENGLAND.add(date(2025, 1, 13), 5) == date(2025, 1, 20)
    assert announced.add(date(2025, 1, 13), 5) == date(2025, 1, 21)


@settings(max_examples=50)
@given(
    starts=st.lists(days, min_size=1, max_size=300),
    working_days=st.integers(min_value=0, max_value=40),
    nation=nations,
)
def test_add_many_matches_add_for_every_date(
    starts: list[date], working_days: int, nation: Nation
) -> None:
    calendar = WorkingCalendar(nation)
    vectorised = calendar.add_many(np.array(starts, dtype="datetime64[D]"), working_days)
    assert [date.fromisoformat(str(day)) for day in vectorised] == [
        calendar.add(start, working_days) for start in starts
    ]


@given(
    instants=st.lists(
        st.datetimes(min_value=datetime(2016, 1, 1), max_value=datetime(2044, 12, 31)),
        min_size=1,
        max_size=200,
    )
)
def test_local_dates_matches_local_date_for_every_instant(instants: list[datetime]) -> None:
    vectorised = local_dates(np.array(instants, dtype="datetime64[us]"))
    assert [date.fromisoformat(str(day)) for day in vectorised] == [
        local_date(instant.replace(tzinfo=UTC)) for instant in instants
    ]


def test_the_uk_date_is_the_local_one_around_the_clock_changes() -> None:
    # 23:30 UTC on 28 Oct 2023 is 00:30 on Sunday 29 Oct in London (still summer time).
    assert local_date(datetime(2023, 10, 28, 23, 30, tzinfo=UTC)) == date(2023, 10, 29)
    assert local_date(datetime(2023, 12, 28, 23, 30, tzinfo=UTC)) == date(2023, 12, 28)
    assert start_of_day(date(2023, 7, 1)).astimezone(UTC) == datetime(2023, 6, 30, 23, tzinfo=UTC)
