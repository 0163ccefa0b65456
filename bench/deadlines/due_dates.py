"""Benchmark: acknowledgement and response due dates for 1,000,000 complaints, vectorised.

The complaints belong to 100 landlords, each with its own calendar (nation, closure
days); their receipt instants are spread over four years in UTC. The run converts
every instant to its UK date, then counts 5 working days (acknowledgement) and 10 more
(stage 1 response) on each landlord's calendar, and checks a sample against the
one-complaint path. Run: `uv run python bench/deadlines/due_dates.py [--complaints N]`.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, date, timedelta

import numpy as np

from putright.shared.calendar import WorkingCalendar, local_date, local_dates
from putright.shared.events import Nation

LANDLORDS = 100


def calendars(rng: np.random.Generator) -> list[WorkingCalendar]:
    """One calendar per landlord: a nation and a few closure days each."""
    nations = list(Nation)
    built = []
    for _ in range(LANDLORDS):
        closures = [date(2022, 1, 1) + timedelta(days=int(day)) for day in rng.integers(0, 1460, 4)]
        built.append(WorkingCalendar(nations[int(rng.integers(0, 3))], closures))
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--complaints", type=int, default=1_000_000)
    arguments = parser.parse_args()
    rng = np.random.default_rng(2024)
    count = arguments.complaints
    start = np.datetime64("2022-01-01T00:00:00", "s")
    received = start + rng.integers(0, 4 * 365 * 86400, count).astype("timedelta64[s]")
    landlord = rng.integers(0, LANDLORDS, count)
    books = calendars(rng)

    began = time.perf_counter()
    received_on = local_dates(received)
    # Group the complaints by landlord once; each group is one vectorised call.
    order = np.argsort(landlord, kind="stable")
    bounds = np.searchsorted(landlord[order], np.arange(LANDLORDS + 1))
    acknowledge_by = np.empty(count, dtype="datetime64[D]")
    respond_by = np.empty(count, dtype="datetime64[D]")
    for index, calendar in enumerate(books):
        mine = order[bounds[index] : bounds[index + 1]]
        acknowledge_by[mine] = calendar.add_many(received_on[mine], 5)
        respond_by[mine] = calendar.add_many(acknowledge_by[mine], 10)
    elapsed = time.perf_counter() - began

    for row in rng.integers(0, count, 1000):
        instant = received[row].astype(object).replace(tzinfo=UTC)
        calendar = books[int(landlord[row])]
        acknowledged = calendar.add(local_date(instant), 5)
        assert acknowledged == acknowledge_by[row].astype(object)
        assert calendar.add(acknowledged, 10) == respond_by[row].astype(object)

    print(f"complaints: {count:,} across {LANDLORDS} landlord calendars")
    print(f"UK dates + acknowledgement + response due dates: {elapsed:.3f} s")
    print(f"throughput: {count / elapsed:,.0f} complaints/s (two due dates each)")


if __name__ == "__main__":
    main()
