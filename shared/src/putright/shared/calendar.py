"""Working days as the Code counts them, for one complaint or a million at once.

A working day is Monday to Friday, except the bank holidays of the landlord's nation
(from the `holidays` library, substitute and one-off days included), any extra
holidays the landlord adds (a new bank holiday can be announced before the library
knows it) and the landlord's own closure days. "N working days from D" is the N-th
working day after D, D itself not counted whether or not it is a working day.
numpy's business-day functions do the arithmetic, vectorised, with the days off as a
sorted array.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import numpy.typing as npt

from putright.shared.events.organisations import Nation

LONDON = ZoneInfo("Europe/London")
# Far enough either side of today for any complaint, old or future; a calendar is built once.
FIRST_YEAR, LAST_YEAR = 2015, 2045

_SUBDIVISIONS = {
    Nation.ENGLAND_AND_WALES: "ENG",
    Nation.SCOTLAND: "SCT",
    Nation.NORTHERN_IRELAND: "NIR",
}

DateArray = npt.NDArray[np.datetime64]


@lru_cache(maxsize=8)
def bank_holidays(nation: Nation) -> frozenset[date]:
    """The bank holidays of a UK nation over the years the calendar covers."""
    return frozenset(
        holidays.country_holidays(
            "GB", subdiv=_SUBDIVISIONS[nation], years=range(FIRST_YEAR, LAST_YEAR + 1)
        )
    )


def local_date(instant: datetime) -> date:
    """The UK calendar date of an instant: the Code's days are landlords' local days."""
    return instant.astimezone(LONDON).date()


def start_of_day(day: date) -> datetime:
    """The instant a UK local day begins (midnight in Europe/London)."""
    return datetime(day.year, day.month, day.day, tzinfo=LONDON)


@lru_cache(maxsize=1)
def _summer_time_bounds() -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.datetime64]]:
    """The UTC instants British Summer Time starts and ends, for every covered year.

    Read from the tz database (not typed in), one search per transition."""
    starts, ends = [], []
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        starts.append(_transition(year, month=3))
        ends.append(_transition(year, month=10))
    return np.array(starts, dtype="datetime64[s]"), np.array(ends, dtype="datetime64[s]")


def _transition(year: int, *, month: int) -> np.datetime64:
    """The UTC second in `month` of `year` when London's offset changes."""
    utc = ZoneInfo("UTC")
    low = int(datetime(year, month, 1, tzinfo=utc).timestamp())
    high = int(datetime(year, month + 1, 1, tzinfo=utc).timestamp())
    first_offset = datetime.fromtimestamp(low, LONDON).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, LONDON).utcoffset() == first_offset:
            low = middle
        else:
            high = middle
    return np.datetime64(high, "s")


def local_dates(instants: npt.NDArray[np.datetime64]) -> DateArray:
    """`local_date` for an array of UTC instants (naive datetime64, any unit)."""
    seconds = instants.astype("datetime64[s]")
    starts, ends = _summer_time_bounds()
    year_index = seconds.astype("datetime64[Y]").astype(np.int64) + 1970 - FIRST_YEAR
    if year_index.size and (year_index.min() < 0 or year_index.max() >= len(starts)):
        raise ValueError(f"instants must fall between {FIRST_YEAR} and {LAST_YEAR}")
    in_summer = (seconds >= starts[year_index]) & (seconds < ends[year_index])
    shifted = seconds + in_summer.astype(np.int64) * np.timedelta64(3600, "s")
    return shifted.astype("datetime64[D]")


@lru_cache(maxsize=1024)
def _business_days(
    nation: Nation, closures: frozenset[date], extra_holidays: frozenset[date]
) -> np.busdaycalendar:
    """numpy's calendar for these days off, built once: services build a WorkingCalendar
    per complaint or batch, and converting ~250 dates each time was a tenth of intake's
    CPU per complaint (see docs/benchmarks.md)."""
    days_off = sorted(bank_holidays(nation) | closures | extra_holidays)
    return np.busdaycalendar(weekmask="1111100", holidays=np.array(days_off, dtype="datetime64[D]"))


class WorkingCalendar:
    """A landlord's working days: weekdays less bank holidays and its own days off."""

    def __init__(
        self,
        nation: Nation = Nation.ENGLAND_AND_WALES,
        closures: Iterable[date] = (),
        *,
        extra_holidays: Iterable[date] = (),
    ) -> None:
        self._calendar = _business_days(nation, frozenset(closures), frozenset(extra_holidays))

    def is_working_day(self, day: date) -> bool:
        """Whether a single day is a working day."""
        return bool(np.is_busday(np.datetime64(day, "D"), busdaycal=self._calendar))

    def add(self, start: date, working_days: int) -> date:
        """The `working_days`-th working day after `start` (before it, if negative)."""
        result = self.add_many(np.array([start], dtype="datetime64[D]"), working_days)[0]
        return date.fromisoformat(str(result))

    def add_many(self, starts: DateArray, working_days: int | npt.NDArray[np.int64]) -> DateArray:
        """`add` for whole arrays of start dates (and optionally of day counts)."""
        # Rolling a non-working start back to the working day before it keeps the
        # rule "the start itself is never counted".
        return np.busday_offset(starts, working_days, roll="backward", busdaycal=self._calendar)

    def count(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (negative if `end` is earlier)."""
        one_day = np.timedelta64(1, "D")
        begin = np.datetime64(start, "D") + one_day
        finish = np.datetime64(end, "D") + one_day
        return int(np.busday_count(begin, finish, busdaycal=self._calendar))

    def count_many(self, starts: DateArray, ends: DateArray) -> npt.NDArray[np.int64]:
        """`count` for whole arrays of start and end dates, pair by pair."""
        one_day = np.timedelta64(1, "D")
        counted: npt.NDArray[np.int64] = np.busday_count(
            starts.astype("datetime64[D]") + one_day,
            ends.astype("datetime64[D]") + one_day,
            busdaycal=self._calendar,
        )
        return counted
