"""Reporting years (1 April to 31 March), their quarters and months, and their labels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


class Period(StrEnum):
    """How figures over time are bucketed."""

    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


@dataclass(frozen=True)
class DateRange:
    """Inclusive first and last day."""

    start: date
    end: date


def reporting_year_of(day: date) -> int:
    """The reporting year a day falls in, named by the calendar year it starts in."""
    return day.year if day.month >= 4 else day.year - 1


def reporting_year(year: int) -> DateRange:
    """1 April `year` to 31 March the year after."""
    return DateRange(date(year, 4, 1), date(year + 1, 3, 31))


def year_label(year: int) -> str:
    """e.g. 2024/25."""
    return f"{year}/{(year + 1) % 100:02d}"


def quarter_range(year: int, quarter: int) -> DateRange:
    """Quarter 1 is April to June of reporting year `year`; quarter 4 is January to March."""
    first_month = (3 + 3 * (quarter - 1)) % 12 + 1
    start_year = year if quarter < 4 else year + 1
    end_month = first_month + 2
    next_month = date(start_year + (end_month == 12), end_month % 12 + 1, 1)
    return DateRange(date(start_year, first_month, 1), date.fromordinal(next_month.toordinal() - 1))


def quarter_of(day: date) -> tuple[int, int]:
    """The reporting year and quarter (1–4) a day falls in."""
    return reporting_year_of(day), (day.month - 4) % 12 // 3 + 1


def bucket_label(period: Period, first_day: date) -> str:
    """A reader's label for the bucket that starts on `first_day`."""
    if period is Period.MONTH:
        return f"{MONTHS[first_day.month - 1]} {first_day.year}"
    if period is Period.QUARTER:
        year, quarter = quarter_of(first_day)
        return f"{year_label(year)} Q{quarter}"
    return year_label(reporting_year_of(first_day))


BUCKET_SQL = {
    "postgresql": {
        Period.MONTH: "date_trunc('month', {d})::date",
        # Calendar quarters start in January, April, July and October: the same days
        # as the reporting year's quarters, which start in April.
        Period.QUARTER: "date_trunc('quarter', {d})::date",
        Period.YEAR: "make_date(extract(year from {d} - interval '3 months')::int, 4, 1)",
    },
    # SQLite keeps dates as ISO text; date() and its modifiers give the same first days.
    "sqlite": {
        Period.MONTH: "date({d}, 'start of month')",
        Period.QUARTER: (
            "date({d}, 'start of month', "
            "printf('-%d months', (CAST(strftime('%m', {d}) AS INTEGER) - 1) % 3))"
        ),
        Period.YEAR: "date({d}, '-3 months', 'start of year', '+3 months')",
    },
}
"""SQL giving the first day of the bucket a date column `{d}` falls in, per dialect."""


def bucket_sql(dialect: str, period: Period, column: str) -> str:
    """The first day of `column`'s bucket, in `dialect`'s SQL."""
    return BUCKET_SQL[dialect][period].format(d=column)
