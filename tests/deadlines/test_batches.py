"""A Kafka batch of complaint events is applied at once (one load, one write): it must
leave exactly what the same events leave applied one at a time."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any
from uuid import uuid4

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from putright.deadlines.app import create_app
from putright.deadlines.models import clock_table, metadata, timer_table
from putright.deadlines.settings import DeadlinesSettings
from putright.deadlines.timekeeping import ManualTime
from putright.shared.consumer import Origin
from putright.shared.events import ComplaintWithdrawn, Event, OutstandingActionCompleted
from putright.shared.events.values import Stage
from putright.shared.migrations import upgrade
from tests.deadlines.support import Complaint, at, profile
from tests.deadlines.test_replay import LONG_AGO

pytestmark = pytest.mark.connected


def stream() -> list[Event[Any]]:
    """Two landlords' complaints interleaved, each one's steps in order, calendar changes
    between that move open clocks."""
    landlord, closing = uuid4(), uuid4()
    action = uuid4()
    first, second, third = Complaint(landlord), Complaint(landlord), Complaint(closing)
    return [
        first.received(date(2022, 12, 22)),
        third.received(date(2022, 12, 22)),
        first.acknowledged(date(2023, 1, 3)),
        second.received(date(2022, 5, 30)),
        first.extended(date(2023, 1, 16), 12, update_interval=4),
        # A run of calendar changes: two landlords, one of them twice.
        profile(closing, closure_days=[date(2022, 12, 29)]),
        profile(landlord, closure_days=[date(2023, 1, 4)]),
        profile(closing, closure_days=[date(2022, 12, 29), date(2023, 1, 3)]),
        first.extended(date(2023, 1, 17), 3),
        second.event(ComplaintWithdrawn(withdrawn_at=at(date(2022, 6, 1)))),
        first.responded(date(2023, 2, 1), actions={action: date(2023, 3, 1)}),
        first.event(
            OutstandingActionCompleted(action_id=action, completed_at=at(date(2023, 3, 2)))
        ),
        first.escalation_requested(date(2023, 3, 6)),
        first.acknowledged(date(2023, 3, 8), Stage.TWO),
        third.acknowledged(date(2023, 1, 5)),
    ]


async def state(app: FastAPI) -> dict[str, Any]:
    """Every clock and timer row, and every staged event's id, type and payload."""
    runtime = app.state.runtime
    outbox = metadata.tables["outbox"]
    async with runtime.engine.connect() as connection:
        clocks = (await connection.execute(select(clock_table).order_by("id"))).all()
        timers = (await connection.execute(select(timer_table).order_by("id"))).all()
        staged = (await connection.execute(select(outbox).order_by(outbox.c.id))).all()
    events = []
    for row in staged:
        payload = json.loads(row.payload)
        del payload["time"]  # the instant it was built
        events.append((row.event_id, row.event_type, row.key, payload))
    return {
        "clocks": [tuple(row) for row in clocks],
        "timers": [tuple(row) for row in timers],
        "events": events,
    }


async def test_a_batch_leaves_what_one_event_at_a_time_leaves(
    deadlines_env: dict[str, Any], database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    events = stream()
    messages = [
        (event.model_dump_json().encode(), Origin("complaints", 0, offset, None))
        for offset, event in enumerate(events)
    ]
    other = f"deadlines_{uuid.uuid4().hex[:10]}"
    await upgrade("putright.deadlines", url=database_url, schema=other)
    apps = [
        create(DeadlinesSettings(**{**deadlines_env, "instance": instance}))
        for instance in (deadlines_env["instance"], other)
    ]
    batched, single = apps
    try:
        [consumer] = batched.state.runtime.consumers
        assert set(await consumer.process_batch(messages)) == {"applied"}
        # Applied as a batch, not by the consumer's one-at-a-time fallback.
        assert "a batch failed" not in caplog.text
        [consumer] = single.state.runtime.consumers
        for raw, origin in messages:
            assert await consumer.process(raw, origin) == "applied"
        expected = await state(single)
        found = await state(batched)
    finally:
        for app in apps:
            await app.state.runtime.engine.dispose()
    assert len(expected["clocks"]) == 9
    # The calendar changes moved open clocks of both landlords.
    profiles = {str(event.id) for event in events if event.type.startswith("uk.putright.org")}
    moved = {
        payload["organisation_id"]
        for *_, payload in expected["events"]
        if payload["causation_id"] in profiles
    }
    assert len(moved) == 2
    assert found == expected


def create(settings: DeadlinesSettings) -> FastAPI:
    """A deadlines app whose consumer is driven by hand (no broker, no timer loop)."""
    return create_app(settings, time=ManualTime(LONG_AGO))
