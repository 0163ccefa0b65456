"""Which letter each event calls for, and what the complaint file remembers (no infrastructure)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from putright.letters.flows import letter_for
from putright.letters.models import ComplaintFile
from putright.letters.rendering import UNBRANDED, render
from putright.shared.events import DeadlineApproaching, DeadlineMissed, EventData, LetterKind
from putright.shared.events.deadlines import ClockStep
from putright.shared.events.values import Stage
from tests.letters.samples import (
    ACTION_ID,
    LIFECYCLE_KINDS,
    NOW,
    clock_event,
    escalation_refused,
    facts,
    lifecycle,
    refused,
    resident,
)


def new_file() -> ComplaintFile:
    return ComplaintFile(
        id=uuid4(),
        organisation_id=uuid4(),
        reference="PR-1",
        resident=resident().model_dump(mode="json"),
    )


def test_the_lifecycle_calls_for_its_letters_and_fills_the_file() -> None:
    file = new_file()
    kinds = []
    for data in lifecycle():
        letter = letter_for(file, data)
        assert letter is not None
        kinds.append(letter[0])
    assert kinds == LIFECYCLE_KINDS
    assert file.definition is not None
    assert [action["action_id"] for action in file.outstanding_actions] == [str(ACTION_ID)]


def test_refusals_carry_their_reason_and_explanation() -> None:
    assert letter_for(new_file(), refused()) == (
        LetterKind.REFUSAL,
        {"exclusion": refused().reason, "reason": refused().explanation},
    )
    kind, found = letter_for(new_file(), escalation_refused()) or (None, {})
    assert kind is LetterKind.ESCALATION_REFUSAL
    assert found["reason"] == "You have filed a claim at the county court about this."


@pytest.mark.parametrize(
    ("clock", "kind", "overdue"),
    [
        (
            clock_event(DeadlineMissed, ClockStep.STAGE1_RESPONSE),
            LetterKind.LATE_RESPONSE_UPDATE,
            True,
        ),
        (
            clock_event(DeadlineMissed, ClockStep.STAGE2_RESPONSE),
            LetterKind.LATE_RESPONSE_UPDATE,
            True,
        ),
        (
            clock_event(DeadlineApproaching, ClockStep.RESIDENT_UPDATE, stage=Stage.ONE),
            LetterKind.LATE_RESPONSE_UPDATE,
            False,
        ),
        (
            clock_event(DeadlineApproaching, ClockStep.OUTSTANDING_ACTION, item_id=ACTION_ID),
            LetterKind.OUTSTANDING_ACTION_UPDATE,
            False,
        ),
        (
            clock_event(DeadlineMissed, ClockStep.OUTSTANDING_ACTION, item_id=ACTION_ID),
            LetterKind.OUTSTANDING_ACTION_UPDATE,
            True,
        ),
    ],
)
def test_clock_events_call_for_updates(clock: EventData, kind: LetterKind, overdue: bool) -> None:
    file = new_file()
    for data in lifecycle():
        letter_for(file, data)
    letter = letter_for(file, clock)
    assert letter is not None
    assert letter[0] is kind
    assert letter[1]["overdue"] is overdue
    if kind is LetterKind.OUTSTANDING_ACTION_UPDATE:
        assert letter[1]["action"].action_id == ACTION_ID


@pytest.mark.parametrize(
    "clock",
    [
        clock_event(DeadlineApproaching, ClockStep.STAGE1_RESPONSE),
        clock_event(DeadlineMissed, ClockStep.STAGE1_ACKNOWLEDGEMENT),
        clock_event(DeadlineMissed, ClockStep.RESIDENT_UPDATE),
        clock_event(DeadlineApproaching, ClockStep.REMEDY),
    ],
)
def test_other_clock_events_write_no_letter(clock: EventData) -> None:
    assert letter_for(new_file(), clock) is None


def test_an_update_for_an_unknown_action_is_blocked() -> None:
    clock = clock_event(DeadlineApproaching, ClockStep.OUTSTANDING_ACTION, item_id=uuid4())
    kind, found = letter_for(new_file(), clock) or (None, {})
    assert kind is LetterKind.OUTSTANDING_ACTION_UPDATE
    assert found["action"] is None


def test_overdue_wording_apologises() -> None:
    overdue = render(
        LetterKind.OUTSTANDING_ACTION_UPDATE,
        facts(overdue=True),
        letterhead=UNBRANDED,
        written_on=NOW.date(),
    )
    assert "it is not done yet. We are sorry." in overdue.text
    late = render(
        LetterKind.LATE_RESPONSE_UPDATE,
        facts(overdue=True, stage=Stage.TWO),
        letterhead=UNBRANDED,
        written_on=NOW.date(),
    )
    assert "we have not sent you our stage 2 response by 9 December 2026" in late.text
