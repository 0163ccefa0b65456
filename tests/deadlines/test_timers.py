"""Durable timers on real Kafka and PostgreSQL, with time moved by hand: warnings, misses,
repeating updates, a restart and a crash in the middle of a fire, and two replicas."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from putright.deadlines.service import Policy
from putright.deadlines.timekeeping import ManualTime
from putright.deadlines.timers import fire_due_timers
from putright.shared.events import Event
from putright.shared.tenancy import ORGANISATION_HEADER
from tests.conftest import eventually
from tests.deadlines.support import (
    Complaint,
    Harness,
    clock_count,
    clocks_of,
    harness,
    of_type,
    pending_timers,
    serving,
)

pytestmark = pytest.mark.connected

# Received Monday 6 March 2023: acknowledgement due Monday 13 March; warned at the start of
# Thursday 9 March (2 working days before); missed at the start of Tuesday 14 March.
RECEIVED = date(2023, 3, 6)
BEFORE_WARNING = datetime(2023, 3, 6, 12, tzinfo=UTC)
WARNING_DAY = datetime(2023, 3, 9, 9, tzinfo=UTC)
AFTER_DUE = datetime(2023, 3, 14, 0, 30, tzinfo=UTC)


def about(events: list[Event[Any]], name: str, subject: UUID) -> list[Any]:
    """The payloads of one type of event about one complaint."""
    return [event.data for event in of_type(events, name, subject)]


async def test_a_clock_warns_misses_repeats_updates_and_is_read_over_http(
    deadlines_env: dict[str, Any],
) -> None:
    landlord, stranger = uuid4(), uuid4()
    complaint, other = Complaint(landlord), Complaint(landlord)
    action = uuid4()
    time = ManualTime(BEFORE_WARNING)
    async with harness(deadlines_env) as bench:
        app = bench.app(time)
        async with serving(app) as api:
            await bench.publish(complaint.received(RECEIVED))
            await eventually(lambda: clocks_of(app, complaint.id))

            time.set(WARNING_DAY)
            emitted = await bench.wait_for_emitted(
                lambda events: bool(of_type(events, "deadline.approaching", complaint.id))
            )
            [warning] = about(emitted, "deadline.approaching", complaint.id)
            assert (warning.step, warning.due_on, warning.working_days_left) == (
                "stage1_acknowledgement",
                date(2023, 3, 13),
                2,
            )

            time.set(AFTER_DUE)
            emitted = await bench.wait_for_emitted(
                lambda events: bool(of_type(events, "deadline.missed", complaint.id))
            )
            [missed] = about(emitted, "deadline.missed", complaint.id)
            assert missed.missed_at == AFTER_DUE
            shown = await api.get(
                f"/v1/complaints/{complaint.id}/clocks",
                headers={ORGANISATION_HEADER: str(landlord)},
            )
            assert shown.status_code == 200, shown.text
            [clock] = shown.json()
            assert (clock["step"], clock["state"], clock["overdue"]) == (
                "stage1_acknowledgement",
                "open",
                True,
            )

            # Acknowledged late; the response (due 29 Mar) is extended by 5 with updates
            # every 3 working days, agreed on Monday 27 March: first due Thursday 30 March.
            await bench.publish(
                complaint.acknowledged(date(2023, 3, 15)),
                complaint.extended(date(2023, 3, 27), 5, update_interval=3),
                other.received(date(2023, 3, 20)),
            )

            async def update_clock_started() -> bool:
                steps = {clock.step for clock in await clocks_of(app, complaint.id)}
                return "resident_update" in steps and bool(await clocks_of(app, other.id))

            await eventually(update_clock_started)
            time.set(datetime(2023, 3, 31, 8, tzinfo=UTC))
            emitted = await bench.wait_for_emitted(
                lambda events: any(
                    data.occurrence == 2 for data in about(events, "deadline.set", complaint.id)
                )
            )
            updates = [
                (data.due_on, data.occurrence)
                for data in about(emitted, "deadline.set", complaint.id)
                if data.step == "resident_update"
            ]
            # The second update falls due 3 working days after the first: Tuesday 4 April.
            assert updates == [(date(2023, 3, 30), 1), (date(2023, 4, 4), 2)]

            await bench.publish(
                complaint.responded(date(2023, 4, 4), actions={action: date(2023, 5, 2)})
            )
            emitted = await bench.wait_for_emitted(
                lambda events: len(about(events, "deadline.met", complaint.id)) == 2
            )
            met = {data.step: data.on_time for data in about(emitted, "deadline.met", complaint.id)}
            assert met == {"stage1_acknowledgement": False, "stage1_response": True}
            assert [data.step for data in about(emitted, "deadline.cancelled", complaint.id)] == [
                "resident_update"
            ]

            own = {ORGANISATION_HEADER: str(landlord)}
            listed = await api.get(f"/v1/organisations/{landlord}/clocks?state=open", headers=own)
            assert listed.status_code == 200, listed.text
            assert [(row["complaint_id"], row["step"], row["due_on"]) for row in listed.json()] == [
                (str(other.id), "stage1_acknowledgement", "2023-03-27"),
                (str(complaint.id), "outstanding_action", "2023-05-02"),
            ]
            # Organisations are kept apart: someone else's data is simply not found.
            strange = {ORGANISATION_HEADER: str(stranger)}
            elsewhere = await api.get(f"/v1/complaints/{complaint.id}/clocks", headers=strange)
            assert elsewhere.status_code == 404
            listing = await api.get(f"/v1/organisations/{landlord}/clocks", headers=strange)
            assert listing.status_code == 404
            anonymous = await api.get(f"/v1/complaints/{complaint.id}/clocks")
            assert anonymous.status_code == 401
            assert ORGANISATION_HEADER in anonymous.json()["detail"]
            wrong_state = await api.get(
                f"/v1/organisations/{landlord}/clocks?state=late", headers=own
            )
            assert wrong_state.status_code == 422
            assert wrong_state.json()["detail"][0]["loc"] == ["query", "state"]


async def test_a_timer_survives_a_crash_mid_fire_and_a_restart_and_fires_once(
    deadlines_env: dict[str, Any],
) -> None:
    complaint = Complaint(uuid4())
    async with harness(deadlines_env) as bench:
        first = bench.app(ManualTime(BEFORE_WARNING))
        async with serving(first):
            await bench.publish(complaint.received(RECEIVED))
            await eventually(lambda: clocks_of(first, complaint.id))
        # While the service is down the due date passes. A replica that crashes in the
        # middle of firing leaves nothing behind: its transaction never commits.
        crashing = bench.app(ManualTime(AFTER_DUE))
        runtime = crashing.state.runtime

        async def crash(*_: Any) -> None:
            raise ConnectionError("the pod was killed")

        runtime.emit = crash
        with pytest.raises(ConnectionError):
            await fire_due_timers(runtime, now=AFTER_DUE, policy=Policy(), batch_size=10)
        assert await pending_timers(crashing, AFTER_DUE) == 2
        await runtime.engine.dispose()

        restarted = bench.app(ManualTime(AFTER_DUE))
        async with serving(restarted):
            await eventually(lambda: _all_fired_and_published(restarted))
            emitted = await bench.read_emitted()
    assert len(about(emitted, "deadline.missed", complaint.id)) == 1
    # The warning's day went by while the service was down; a warning after the due
    # date would be noise, so that timer found its moment gone and stayed silent.
    assert about(emitted, "deadline.approaching", complaint.id) == []


async def test_two_replicas_fire_each_due_timer_exactly_once(deadlines_env: dict[str, Any]) -> None:
    landlord = uuid4()
    complaints = [Complaint(landlord) for _ in range(40)]
    times = [ManualTime(BEFORE_WARNING), ManualTime(BEFORE_WARNING)]
    async with harness(deadlines_env) as bench:
        one, two = (bench.app(time) for time in times)
        async with serving(one), serving(two):
            await bench.publish(*(complaint.received(RECEIVED) for complaint in complaints))
            await eventually(lambda: clock_count(one, len(complaints)))
            for moment in (WARNING_DAY, AFTER_DUE):
                for time in times:
                    time.set(moment)
                await eventually(lambda: _all_fired_and_published(one))
            emitted = await _read_all(bench, expected=len(complaints) * 3)
    for name in ("deadline.approaching", "deadline.missed"):
        fired = of_type(emitted, name)
        assert len(fired) == len(complaints), name
        assert {event.subject for event in fired} == {complaint.id for complaint in complaints}


async def _all_fired_and_published(app: Any) -> bool:
    runtime = app.state.runtime
    now = app.state.time.now()
    return await pending_timers(app, now) == 0 and await runtime.outbox.backlog(runtime.engine) == 0


async def _read_all(bench: Harness, *, expected: int) -> list[Event[Any]]:
    """Everything emitted, once at least `expected` events are there (more would be a bug)."""
    return await bench.wait_for_emitted(lambda events: len(events) >= expected)


async def test_an_extension_after_a_miss_gives_a_new_date_that_can_be_missed_again(
    deadlines_env: dict[str, Any],
) -> None:
    landlord = uuid4()
    complaint = Complaint(landlord)
    time = ManualTime(BEFORE_WARNING)
    own = {ORGANISATION_HEADER: str(landlord)}
    async with harness(deadlines_env) as bench:
        app = bench.app(time)
        async with serving(app) as api:
            # Acknowledged Tuesday 7 March 2023: the response is due Tuesday 21 March.
            await bench.publish(
                complaint.received(RECEIVED), complaint.acknowledged(date(2023, 3, 7))
            )

            async def responding() -> bool:
                steps = {clock.step for clock in await clocks_of(app, complaint.id)}
                return "stage1_response" in steps

            await eventually(responding)
            time.set(datetime(2023, 3, 22, 0, 30, tzinfo=UTC))
            await bench.wait_for_emitted(
                lambda events: len(of_type(events, "deadline.missed", complaint.id)) == 1
            )
            # Extended by 5 on the 22nd: due Tuesday 28 March, no longer overdue.
            await bench.publish(complaint.extended(date(2023, 3, 22), 5))

            async def extended() -> list[Any] | None:
                response = await api.get(f"/v1/complaints/{complaint.id}/clocks", headers=own)
                rows = [row for row in response.json() if row["step"] == "stage1_response"]
                return rows if rows and rows[0]["due_on"] == "2023-03-28" else None

            [row] = await eventually(extended)
            assert (row["overdue"], row["missed_at"]) == (False, None)

            time.set(datetime(2023, 3, 29, 0, 30, tzinfo=UTC))
            emitted = await bench.wait_for_emitted(
                lambda events: len(of_type(events, "deadline.missed", complaint.id)) == 2
            )
    assert [data.due_on for data in about(emitted, "deadline.missed", complaint.id)] == [
        date(2023, 3, 21),
        date(2023, 3, 28),
    ]
