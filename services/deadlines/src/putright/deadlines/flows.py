"""How each complaint event starts, moves or stops clocks: the Code's steps in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlmodel.ext.asyncio.session import AsyncSession

from putright.deadlines.models import ClockRecord
from putright.deadlines.rules import RESPONSE_STEP, WORKING_DAYS
from putright.deadlines.service import (
    ClockBatch,
    ComplaintClocks,
    Policy,
    deadline_set,
    lock_calendars,
    lock_open_counted_clocks,
    recount,
    remember_calendar,
    schedule,
    timer_rows,
    write_clocks,
)
from putright.shared.calendar import local_date
from putright.shared.consumer import Consumer
from putright.shared.events import (
    ClockStep,
    ComplaintClosed,
    ComplaintReceived,
    ComplaintRefused,
    ComplaintWithdrawn,
    EscalationRefused,
    EscalationRequested,
    Event,
    ExtensionNotified,
    OrganisationProfile,
    OutstandingActionCompleted,
    RemedyCompleted,
    Stage1Acknowledged,
    Stage1Responded,
    Stage2Acknowledged,
    Stage2Responded,
)
from putright.shared.events.values import Stage
from putright.shared.runtime import Runtime


def start_from_receipt(clocks: ComplaintClocks, data: ComplaintReceived) -> None:
    """Acknowledge within 5 working days of receipt (6.2)."""
    step = ClockStep.STAGE1_ACKNOWLEDGEMENT
    clocks.start_counted(
        step,
        starts_on=local_date(data.received_at),
        working_days=WORKING_DAYS[step],
        handling_organisation_id=data.handling_organisation_id,
        stage=Stage.ONE,
    )


def acknowledge(
    clocks: ComplaintClocks, data: Stage1Acknowledged | Stage2Acknowledged, stage: Stage
) -> None:
    """Acknowledgement met; respond within 10 (6.3) or 20 (6.14) working days of it."""
    acknowledged_on = local_date(data.acknowledged_at)
    step = RESPONSE_STEP[stage]
    acknowledgement = (
        ClockStep.STAGE1_ACKNOWLEDGEMENT if stage is Stage.ONE else ClockStep.STAGE2_ACKNOWLEDGEMENT
    )
    clocks.complete(acknowledgement, on=acknowledged_on)
    clocks.start_counted(
        step,
        starts_on=acknowledged_on,
        working_days=WORKING_DAYS[step],
        handling_organisation_id=data.handler.organisation_id,
        stage=stage,
    )


def extend(clocks: ComplaintClocks, data: ExtensionNotified) -> None:
    """Move the response date (6.4, 6.15) and keep the agreed update interval (5.9)."""
    notified_on = local_date(data.notified_at)
    clocks.extend(
        data.stage,
        working_days=data.extension_working_days,
        good_reason=bool(data.good_reason_beyond_limit),
    )
    if data.update_interval_working_days:
        clocks.agree_updates(
            data.stage,
            starts_on=notified_on,
            interval_working_days=data.update_interval_working_days,
        )


def respond(clocks: ComplaintClocks, data: Stage1Responded | Stage2Responded, stage: Stage) -> None:
    """Response met; updates stop; each action and dated remedy runs to its promised date."""
    responded_on = local_date(data.responded_at)
    clocks.complete(RESPONSE_STEP[stage], on=responded_on)
    clocks.cancel("response issued", steps=(ClockStep.RESIDENT_UPDATE,), stage=stage)
    handler = data.handler.organisation_id
    for action in data.response.outstanding_actions:
        clocks.start_promised(
            ClockStep.OUTSTANDING_ACTION,
            item_id=action.action_id,
            starts_on=responded_on,
            due_on=action.due_on,
            handling_organisation_id=handler,
            stage=stage,
        )
    for remedy in data.response.remedies:
        if remedy.due_on is not None:
            clocks.start_promised(
                ClockStep.REMEDY,
                item_id=remedy.remedy_id,
                starts_on=responded_on,
                due_on=remedy.due_on,
                handling_organisation_id=handler,
                stage=stage,
            )


def request_escalation(clocks: ComplaintClocks, data: EscalationRequested) -> None:
    """Acknowledge stage 2 within 5 working days of the request (6.11); the landlord handles it."""
    step = ClockStep.STAGE2_ACKNOWLEDGEMENT
    clocks.start_counted(
        step,
        starts_on=local_date(data.requested_at),
        working_days=WORKING_DAYS[step],
        handling_organisation_id=clocks.cause.organisation_id,
        stage=Stage.TWO,
    )


def apply(clocks: ComplaintClocks, data: Any) -> None:
    """Route one complaint event to the change it makes."""
    match data:
        case ComplaintReceived():
            start_from_receipt(clocks, data)
        case Stage1Acknowledged():
            acknowledge(clocks, data, Stage.ONE)
        case Stage2Acknowledged():
            acknowledge(clocks, data, Stage.TWO)
        case ExtensionNotified():
            extend(clocks, data)
        case Stage1Responded():
            respond(clocks, data, Stage.ONE)
        case Stage2Responded():
            respond(clocks, data, Stage.TWO)
        case EscalationRequested():
            request_escalation(clocks, data)
        case EscalationRefused():
            clocks.cancel("escalation refused", steps=(ClockStep.STAGE2_ACKNOWLEDGEMENT,))
        case OutstandingActionCompleted():
            clocks.complete(
                ClockStep.OUTSTANDING_ACTION,
                on=local_date(data.completed_at),
                qualifier=data.action_id,
            )
        case RemedyCompleted():
            clocks.complete(
                ClockStep.REMEDY, on=local_date(data.completed_at), qualifier=data.remedy_id
            )
        case ComplaintWithdrawn():
            clocks.cancel("complaint withdrawn")
        case ComplaintRefused():
            clocks.cancel("complaint refused")
        case ComplaintClosed():
            clocks.cancel("complaint closed")


COMPLAINT_EVENTS = (
    ComplaintReceived,
    Stage1Acknowledged,
    Stage2Acknowledged,
    ExtensionNotified,
    Stage1Responded,
    Stage2Responded,
    EscalationRequested,
    EscalationRefused,
    OutstandingActionCompleted,
    RemedyCompleted,
    ComplaintWithdrawn,
    ComplaintRefused,
    ComplaintClosed,
)


def register(consumer: Consumer, runtime: Runtime, policy: Policy) -> None:
    """Subscribe the clock flows to the organisations and complaints streams."""

    @consumer.on_batch(OrganisationProfile)
    async def change_calendars(session: AsyncSession, events: Sequence[Event[Any]]) -> None:
        # Every landlord's lock, then every open counted clock, each in one statement and
        # in order, so a run of profiles cannot deadlock with the consumer or the timers.
        landlords = {event.subject for event in events}
        await lock_calendars(session, landlords, exclusive=True)
        clocks = await lock_open_counted_clocks(session, landlords)
        moved: dict[UUID, ClockRecord] = {}
        timers, announced = [], []
        for event in events:
            profile: OrganisationProfile = event.data
            calendar = await remember_calendar(
                session,
                organisation_id=event.subject,
                nation=profile.nation,
                days_off=[*profile.closure_days, *profile.extra_holidays],
            )
            for clock in recount(clocks[event.subject], calendar):
                moved[clock.id] = clock
                timers += timer_rows(clock, calendar, policy)
                announced.append(deadline_set(clock, event))
        await write_clocks(session, list(moved.values()))
        await schedule(session, timers)
        await runtime.emit(session, *announced)

    @consumer.on_batch(*COMPLAINT_EVENTS)
    async def change_clocks(session: AsyncSession, events: Sequence[Event[Any]]) -> None:
        # Every complaint of the run is loaded, changed in order and written back at once.
        batch = await ClockBatch.load(session, events, policy)
        for event in events:
            clocks = batch.complaint(event)
            apply(clocks, event.data)
            clocks.finish()
        await runtime.emit(session, *await batch.write(session))
