"""Replaying the event stream into a fresh schema and consumer group rebuilds the same clocks."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI
from sqlmodel import col, select

from putright.deadlines.models import Clock, metadata
from putright.deadlines.timekeeping import ManualTime
from putright.shared.events import ComplaintWithdrawn, Event, OutstandingActionCompleted
from putright.shared.events.values import Stage
from putright.shared.migrations import upgrade
from tests.conftest import eventually
from tests.deadlines.support import Complaint, at, harness, of_type, profile, serving

pytestmark = pytest.mark.connected

LONG_AGO = datetime(2021, 1, 1, tzinfo=UTC)


async def rows(app: FastAPI) -> list[dict[str, Any]]:
    """Every clock, as plain data in id order; the revision counter is bookkeeping only."""
    async with app.state.runtime.sessions() as session:
        clocks = (await session.exec(select(Clock).order_by(col(Clock.id)))).all()
    columns = [column.name for column in metadata.tables["clock"].columns]
    columns.remove("revision")
    return [{name: getattr(clock, name) for name in columns} for clock in clocks]


async def test_a_replay_rebuilds_identical_clocks(
    deadlines_env: dict[str, Any], database_url: str
) -> None:
    landlord, closing = uuid4(), uuid4()
    action = uuid4()
    first, second, third = Complaint(landlord), Complaint(landlord), Complaint(closing)
    stream = [
        profile(closing, closure_days=[date(2022, 12, 29)]),
        first.received(date(2022, 12, 22)),
        first.acknowledged(date(2023, 1, 3)),
        first.extended(date(2023, 1, 16), 12, update_interval=4),
        first.responded(date(2023, 2, 1), actions={action: date(2023, 3, 1)}),
        first.event(
            OutstandingActionCompleted(action_id=action, completed_at=at(date(2023, 3, 2)))
        ),
        first.escalation_requested(date(2023, 3, 6)),
        first.acknowledged(date(2023, 3, 8), Stage.TWO),
        second.received(date(2022, 5, 30)),
        second.event(ComplaintWithdrawn(withdrawn_at=at(date(2022, 6, 1)))),
        third.received(date(2022, 12, 22)),
    ]
    async with harness(deadlines_env) as bench:
        original = bench.app(ManualTime(LONG_AGO))
        async with serving(original):
            await bench.publish(*stream)
            built = await eventually(lambda: _settled(original, count=8))
            await bench.wait_for_emitted(lambda events: _landlords(events, landlord) == 14)

        replica_schema = f"deadlines_{uuid.uuid4().hex[:10]}"
        await upgrade("putright.deadlines", url=database_url, schema=replica_schema)
        replay = bench.app(ManualTime(LONG_AGO), instance=replica_schema, timers_enabled=False)
        async with serving(replay):
            rebuilt = await eventually(lambda: _settled(replay, count=8))
            emitted = await bench.wait_for_emitted(
                lambda events: _landlords(events, landlord) == 2 * 14
            )

    assert rebuilt == built
    assert {row["id"] for row in built} == {row["id"] for row in rebuilt}
    # The replay's events carry the same ids, so every downstream consumer skips them.
    about_landlord = [event.id for event in emitted if event.organisation_id == landlord]
    assert set(Counter(about_landlord).values()) == {2}
    assert len(of_type(emitted, "deadline.set", first.id)) == 2 * 7


def _landlords(events: list[Event[Any]], landlord: UUID) -> int:
    return sum(event.organisation_id == landlord for event in events)


async def _settled(app: FastAPI, *, count: int) -> list[dict[str, Any]] | None:
    """The clocks once all `count` exist and the last event of the stream has been applied."""
    found = await rows(app)
    # The last complaint event applied, and the closure day (29 Dec) counted, whichever
    # of the two topics was read first.
    done = (
        len(found) == count
        and any(row["step"] == "stage2_response" for row in found)
        and any(row["due_on"] == date(2023, 1, 4) for row in found)
    )
    return found if done else None
