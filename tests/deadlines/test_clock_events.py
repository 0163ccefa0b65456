"""Clock events built by deadlines (not by `new_event`) are the events a consumer reads."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

from putright.deadlines.models import ClockRecord
from putright.deadlines.rules import derived_id
from putright.deadlines.service import clock_event, deadline_set, envelope
from putright.shared.events import (
    ClockFlag,
    ClockStep,
    DeadlineCancelled,
    DeadlineMissed,
    Event,
    parse_event,
)
from putright.shared.events.values import Stage


def stored_clock() -> ClockRecord:
    """A clock as the database gives it back: step, stage and flags as plain values."""
    landlord = uuid4()
    return ClockRecord(
        id=uuid4(),
        complaint_id=uuid4(),
        organisation_id=landlord,
        handling_organisation_id=uuid4(),
        step="stage1_response",
        stage=1,
        item_id=None,
        starts_on=date(2023, 3, 7),
        base_due_on=date(2023, 3, 21),
        due_on=date(2023, 3, 28),
        working_days=10,
        extension_working_days=5,
        occurrence=None,
        revision=3,
        flags=["extension_beyond_limit_without_reason"],
    )


def same_as_validated(event: Event[Any]) -> None:
    """The event survives a round trip through its JSON unchanged, as a consumer reads it."""
    parsed = parse_event(event.model_dump_json())
    assert parsed == event
    assert parsed.model_dump_json() == event.model_dump_json()


def test_a_deadline_set_equals_its_validated_twin() -> None:
    clock = stored_clock()
    cause = deadline_set(stored_clock())  # any event stands in for the cause
    event = deadline_set(clock, cause)
    same_as_validated(event)
    assert event.data.step is ClockStep.STAGE1_RESPONSE
    assert event.data.stage is Stage.ONE
    assert event.data.flags == [ClockFlag.EXTENSION_BEYOND_LIMIT_WITHOUT_REASON]
    assert (event.correlation_id, event.causation_id) == (cause.correlation_id, cause.id)
    assert event.id == derived_id("set", clock.id, clock.revision)
    assert (event.subject, event.organisation_id) == (clock.complaint_id, clock.organisation_id)


def test_timer_and_stop_events_equal_their_validated_twins() -> None:
    clock = stored_clock()
    missed = clock_event(DeadlineMissed, clock, missed_at=datetime(2023, 3, 29, tzinfo=UTC))
    same_as_validated(envelope(missed, clock, event_id=uuid4()))
    cancelled = clock_event(DeadlineCancelled, clock, reason="complaint withdrawn")
    event = envelope(cancelled, clock, event_id=uuid4())
    same_as_validated(event)
    assert event.correlation_id == event.id
    assert event.causation_id is None
