"""Each clock from the events that start, extend and stop it, on real Kafka and PostgreSQL,
across Christmas, Easter and the 2022 and 2023 one-off bank holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from putright.deadlines.models import Clock
from putright.deadlines.timekeeping import ManualTime
from putright.shared.events import (
    ComplaintRefused,
    ComplaintWithdrawn,
    EscalationRefused,
    Nation,
    OutstandingActionCompleted,
)
from putright.shared.events.values import ExclusionReason, Stage
from tests.conftest import eventually
from tests.deadlines.support import Complaint, at, clocks_of, harness, of_type, profile, serving

pytestmark = pytest.mark.connected

# Before every date in these tests, so no timer fires: this file is about due dates.
LONG_AGO = datetime(2021, 1, 1, tzinfo=UTC)

Summary = dict[tuple[str, UUID | None], tuple[date, str, bool | None]]


def summary(clocks: list[Clock]) -> Summary:
    """Each clock as (step, item) -> (due date, state, on time)."""
    return {
        (clock.step, clock.item_id): (clock.due_on, clock.state, clock.on_time) for clock in clocks
    }


async def test_every_clock_starts_moves_and_stops_from_events(
    deadlines_env: dict[str, Any],
) -> None:
    landlord, closing, scottish = uuid4(), uuid4(), uuid4()
    action, remedy = uuid4(), uuid4()
    christmas = Complaint(landlord)
    easter = Complaint(landlord)
    jubilee = Complaint(landlord)
    funeral = Complaint(landlord)
    refused_escalation = Complaint(landlord)
    with_closures = Complaint(closing)
    in_scotland = Complaint(scottish)

    async with harness(deadlines_env) as bench:
        app = bench.app(ManualTime(LONG_AGO))
        async with serving(app):
            await bench.publish(
                profile(
                    closing, closure_days=[date(2024, 1, 3)], extra_holidays=[date(2024, 1, 5)]
                ),
                profile(scottish, nation=Nation.SCOTLAND),
                # Christmas 2022, then a stage 1 response extended twice, the second time past
                # the 10-working-day limit with no reason recorded.
                christmas.received(date(2022, 12, 22)),
                christmas.acknowledged(date(2023, 1, 3)),
                christmas.extended(date(2023, 1, 16), 10, update_interval=5),
                christmas.extended(date(2023, 1, 30), 2),
                christmas.responded(
                    date(2023, 2, 1),
                    actions={action: date(2023, 3, 1)},
                    remedies={remedy: date(2023, 2, 10)},
                ),
                christmas.event(
                    OutstandingActionCompleted(action_id=action, completed_at=at(date(2023, 3, 2)))
                ),
                # Stage 2 across Easter and the coronation, extended past 20 with a good reason.
                easter.received(date(2023, 3, 1)),
                easter.acknowledged(date(2023, 3, 2)),
                easter.responded(date(2023, 3, 15)),
                easter.escalation_requested(date(2023, 4, 5)),
                easter.acknowledged(date(2023, 4, 14), Stage.TWO),
                easter.extended(
                    date(2023, 5, 10), 25, stage=Stage.TWO, good_reason="Awaiting a court report"
                ),
                easter.responded(date(2023, 6, 20), Stage.TWO),
                # The jubilee, then withdrawn; the funeral, then refused.
                jubilee.received(date(2022, 5, 30)),
                jubilee.event(ComplaintWithdrawn(withdrawn_at=at(date(2022, 6, 1)))),
                funeral.received(date(2022, 9, 16)),
                funeral.event(
                    ComplaintRefused(
                        reason=ExclusionReason.LEGAL_PROCEEDINGS,
                        explanation="A claim has been filed at court.",
                        refused_at=at(date(2022, 9, 20)),
                        decided_by=funeral.handler,
                    )
                ),
                refused_escalation.escalation_requested(date(2023, 6, 6)),
                refused_escalation.event(
                    EscalationRefused(
                        reason=ExclusionReason.ALREADY_CONSIDERED,
                        explanation="Already considered.",
                        refused_at=at(date(2023, 6, 7)),
                        decided_by=refused_escalation.handler,
                    )
                ),
                # New Year 2024 with the landlord's own days off, and in Scotland.
                with_closures.received(date(2024, 1, 1)),
                in_scotland.received(date(2024, 1, 1)),
            )

            expected: dict[UUID, Summary] = {
                christmas.id: {
                    # Thu 22 Dec 2022 + 5: Fri 23, Wed 28, Thu 29, Fri 30, Tue 3 Jan.
                    ("stage1_acknowledgement", None): (date(2023, 1, 3), "met", True),
                    # 3 Jan + 10 = 17 Jan; + 10 = 31 Jan; + 2 = 2 Feb; responded 1 Feb.
                    ("stage1_response", None): (date(2023, 2, 2), "met", True),
                    # Agreed on 16 Jan, every 5 working days; stopped by the response.
                    ("resident_update", None): (date(2023, 1, 23), "cancelled", None),
                    ("outstanding_action", action): (date(2023, 3, 1), "met", False),
                    ("remedy", remedy): (date(2023, 2, 10), "open", None),
                },
                easter.id: {
                    ("stage1_acknowledgement", None): (date(2023, 3, 8), "met", True),
                    ("stage1_response", None): (date(2023, 3, 16), "met", True),
                    # Wed 5 Apr 2023 + 5, Good Friday and Easter Monday off: Fri 14 Apr.
                    ("stage2_acknowledgement", None): (date(2023, 4, 14), "met", True),
                    # 14 Apr + 20 (1 and 8 May off) = 16 May; + 25 (29 May off) = 21 Jun.
                    ("stage2_response", None): (date(2023, 6, 21), "met", True),
                },
                # Mon 30 May 2022 + 5, 2 and 3 June off: Wed 8 Jun.
                jubilee.id: {
                    ("stage1_acknowledgement", None): (date(2022, 6, 8), "cancelled", None)
                },
                # Fri 16 Sep 2022 + 5, Mon 19th off: Mon 26 Sep.
                funeral.id: {
                    ("stage1_acknowledgement", None): (date(2022, 9, 26), "cancelled", None)
                },
                # Tue 6 Jun 2023 + 5 = Tue 13 Jun.
                refused_escalation.id: {
                    ("stage2_acknowledgement", None): (date(2023, 6, 13), "cancelled", None)
                },
                # Mon 1 Jan 2024 + 5, with Wed 3 (closure) and Fri 5 (extra holiday) off.
                with_closures.id: {
                    ("stage1_acknowledgement", None): (date(2024, 1, 10), "open", None)
                },
                # In Scotland 2 January is a bank holiday too.
                in_scotland.id: {
                    ("stage1_acknowledgement", None): (date(2024, 1, 9), "open", None)
                },
            }

            async def all_as_expected() -> dict[UUID, Summary] | None:
                found = {key: summary(await clocks_of(app, key)) for key in expected}
                return found if found == expected else None

            await eventually(all_as_expected, timeout=60)

            # A closure announced later moves the open clock: Mon 8 Jan 2024 closed too.
            await bench.publish(
                profile(
                    closing,
                    closure_days=[date(2024, 1, 3), date(2024, 1, 8)],
                    extra_holidays=[date(2024, 1, 5)],
                )
            )

            async def moved() -> bool:
                [clock] = await clocks_of(app, with_closures.id)
                return clock.due_on == date(2024, 1, 11)

            await eventually(moved)

            [response] = [
                clock
                for clock in await clocks_of(app, christmas.id)
                if clock.step == "stage1_response"
            ]
            assert response.base_due_on == date(2023, 1, 17)
            assert response.extension_working_days == 12
            assert response.flags == ["extension_beyond_limit_without_reason"]
            [stage2] = [
                clock
                for clock in await clocks_of(app, easter.id)
                if clock.step == "stage2_response"
            ]
            assert (stage2.base_due_on, stage2.flags) == (date(2023, 5, 16), [])

            emitted = await bench.wait_for_emitted(
                lambda events: (
                    len(of_type(events, "deadline.met", christmas.id)) == 3
                    and len(of_type(events, "deadline.cancelled")) == 4
                    and any(
                        event.data.due_on == date(2024, 1, 11)
                        for event in of_type(events, "deadline.set", with_closures.id)
                    )
                )
            )

    sets = [
        event.data
        for event in of_type(emitted, "deadline.set", christmas.id)
        if event.data.step == "stage1_response"
    ]
    assert [(data.due_on, data.extension_working_days, data.flags) for data in sets] == [
        (date(2023, 1, 17), 0, []),
        (date(2023, 1, 31), 10, []),
        (date(2023, 2, 2), 12, ["extension_beyond_limit_without_reason"]),
    ]
    met = {
        event.data.step: event.data.on_time
        for event in of_type(emitted, "deadline.met", christmas.id)
    }
    assert met == {
        "stage1_acknowledgement": True,
        "stage1_response": True,
        "outstanding_action": False,
    }
    reasons = {event.subject: event.data.reason for event in of_type(emitted, "deadline.cancelled")}
    assert reasons == {
        christmas.id: "response issued",
        jubilee.id: "complaint withdrawn",
        funeral.id: "complaint refused",
        refused_escalation.id: "escalation refused",
    }
    assert [event.data.due_on for event in of_type(emitted, "deadline.set", with_closures.id)][
        -1
    ] == date(2024, 1, 11)
    [update] = [
        event.data
        for event in of_type(emitted, "deadline.set", christmas.id)
        if event.data.step == "resident_update"
    ]
    assert (update.due_on, update.occurrence) == (date(2023, 1, 23), 1)
