"""Counting working days for whole arrays gives what counting one pair at a time gives."""

from datetime import date, timedelta

import numpy as np

from putright.shared.calendar import WorkingCalendar
from putright.shared.events import Nation


def test_count_many_agrees_with_count_pair_by_pair() -> None:
    calendar = WorkingCalendar(Nation.SCOTLAND, [date(2024, 12, 27)])
    starts = [date(2024, 12, 20) + timedelta(days=n) for n in range(20)]
    ends = [date(2025, 1, 6) - timedelta(days=3 * n) for n in range(20)]

    counted = calendar.count_many(
        np.array(starts, dtype="datetime64[D]"), np.array(ends, dtype="datetime64[D]")
    )

    assert counted.tolist() == [calendar.count(s, e) for s, e in zip(starts, ends, strict=True)]
    # After 23 Dec 2024 up to 6 Jan 2025 in Scotland (2 Jan is a holiday there too), less
    # the landlord's 27 Dec: 24, 30 and 31 Dec, 3 and 6 Jan.
    assert calendar.count_many(
        np.array([date(2024, 12, 23)], dtype="datetime64[D]"),
        np.array([date(2025, 1, 6)], dtype="datetime64[D]"),
    ).tolist() == [5]
