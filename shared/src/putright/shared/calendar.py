"""Working days as the Code counts them, for one complaint or a million at once.

A working day is Monday to Friday, except the bank holidays of the landlord's nation
(from the `holidays` library, substitute and one-off days included) and the landlord's
own closure days. "N working days from D" is the N-th working day after D, D itself
not counted whether or not it is a working day. numpy's business-day functions do the
arithmetic, vectorised, with the holidays as a sorted array.
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


class WorkingCalendar:
    """A landlord's working days: weekdays less bank holidays and its own closure days."""

    def __init__(self, nation: Nation = Nation.ENGLAND_AND_WALES, closures: Iterable[date] = ()):
        days_off = sorted(bank_holidays(nation) | set(closures))
        self._calendar = np.busdaycalendar(
            weekmask="1111100", holidays=np.array(days_off, dtype="datetime64[D]")
        )

    def is_working_day(self, day: date) -> bool:
        """Whether a single day is a working day."""
        return bool(np.is_busday(np.datetime64(day, "D"), busdaycal=self._calendar))

    def add(self, start: date, working_days: int) -> date:
        """The `working_days`-th working day after `start`."""
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
