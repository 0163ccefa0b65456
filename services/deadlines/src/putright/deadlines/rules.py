"""The Code's timescales, and the ids that make a replay rebuild the same clocks."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from putright.shared.events import ClockStep
from putright.shared.events.values import Stage

SOURCE = "putright/deadlines"

# Working days allowed for each counted step, and from what (BRIEF.md's table).
WORKING_DAYS = {
    ClockStep.STAGE1_ACKNOWLEDGEMENT: 5,  # 6.2: from receipt
    ClockStep.STAGE1_RESPONSE: 10,  # 6.3: from the stage 1 acknowledgement
    ClockStep.STAGE2_ACKNOWLEDGEMENT: 5,  # 6.11: from the escalation request
    ClockStep.STAGE2_RESPONSE: 20,  # 6.14: from the stage 2 acknowledgement
}

# The most a response may be extended, in total, without a good reason (6.4, 6.15).
EXTENSION_LIMIT = {Stage.ONE: 10, Stage.TWO: 20}

RESPONSE_STEP = {Stage.ONE: ClockStep.STAGE1_RESPONSE, Stage.TWO: ClockStep.STAGE2_RESPONSE}


def clock_id(complaint_id: UUID, step: ClockStep, qualifier: object = None) -> UUID:
    """A clock's id follows from what it times, so a replay rebuilds the same clocks."""
    name = f"putright:clock:{complaint_id}:{step.value}"
    if qualifier is not None:
        name += f":{qualifier}"
    return uuid5(NAMESPACE_URL, name)


def derived_id(*parts: object) -> UUID:
    """A deterministic id for an event or timer derived from what caused it."""
    return uuid5(NAMESPACE_URL, "putright:deadlines:" + ":".join(str(part) for part in parts))
