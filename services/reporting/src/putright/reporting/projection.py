"""Events into read models, a batch at a time.

The live consumer applies a batch of one event; a rebuild applies thousands. Both run
the same code, so a rebuild gives the same rows as the live projection. Each event
only fills the columns it knows about and an upsert keeps what other events filled
(COALESCE), so the result does not depend on which topic was read first. The derived
columns (extension totals, working-day counts) are then recomputed, set-based, for
the complaints the batch touched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any
from uuid import UUID

import numpy as np
from sqlalchemy import Connection, Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from putright.reporting.models import (
    clock,
    complaint,
    contract,
    extension,
    learning,
    letter,
    organisation,
    outstanding_action,
    remedy,
)
from putright.reporting.sql import among, insert
from putright.shared.calendar import WorkingCalendar, local_date
from putright.shared.events import (
    ComplaintClosed,
    ComplaintReceived,
    ComplaintRefused,
    ComplaintWithdrawn,
    ContractAgreed,
    DeadlineApproaching,
    DeadlineCancelled,
    DeadlineMet,
    DeadlineMissed,
    DeadlineSet,
    EscalationRefused,
    EscalationRequested,
    Event,
    EventData,
    ExtensionNotified,
    LearningRecorded,
    LetterBlocked,
    LetterDeliveryFailed,
    LetterRendered,
    LetterSent,
    Nation,
    OrganisationProfile,
    OutstandingActionCompleted,
    RemedyCompleted,
    Stage1Acknowledged,
    Stage1Responded,
    Stage2Acknowledged,
    Stage2Responded,
)
from putright.shared.events.deadlines import ClockEvent
from putright.shared.events.letters import LetterEvent
from putright.shared.events.values import StageResponse

Row = dict[str, Any]


@dataclass
class Batch:
    """The rows a batch of events produces, merged per primary key in event order."""

    rows: dict[Table, dict[Any, Row]] = field(default_factory=dict)

    def put(self, table: Table, key: Any, **values: Any) -> None:
        """Merge `values` into the row of `key`; a later event's values win."""
        row = self.rows.setdefault(table, {}).setdefault(key, {})
        row.update({name: value for name, value in values.items() if value is not None})

    def keys(self, table: Table) -> set[Any]:
        """The keys of `table` this batch touched."""
        return set(self.rows.get(table, {}))


def _register(batch: Batch, event: Event[Any], **values: Any) -> None:
    batch.put(
        complaint,
        event.subject,
        complaint_id=event.subject,
        organisation_id=event.organisation_id,
        **values,
    )


def _response(batch: Batch, event: Event[Any], response: StageResponse, on: date) -> None:
    stage = int(response.stage)
    _register(
        batch,
        event,
        **{f"s{stage}_responded_on": on, f"s{stage}_decision": response.decision.value},
    )
    for item in response.remedies:
        batch.put(
            remedy,
            item.remedy_id,
            remedy_id=item.remedy_id,
            complaint_id=event.subject,
            organisation_id=event.organisation_id,
            stage=stage,
            kind=item.kind.value,
            description=item.description,
            compensation_gbp=item.compensation_gbp,
            offered_on=on,
            due_on=item.due_on,
        )
    for action in response.outstanding_actions:
        batch.put(
            outstanding_action,
            action.action_id,
            action_id=action.action_id,
            complaint_id=event.subject,
            organisation_id=event.organisation_id,
            stage=stage,
            description=action.description,
            promised_on=on,
            due_on=action.due_on,
        )


def _complaint_event(batch: Batch, event: Event[Any]) -> bool:
    """Project a complaint lifecycle event; False if it is not one."""
    data = event.data
    match data:
        case ComplaintReceived():
            _register(
                batch,
                event,
                handling_organisation_id=data.handling_organisation_id,
                reference=data.reference,
                channel=data.channel.value,
                category=data.category,
                received_at=data.received_at,
                received_on=local_date(data.received_at),
            )
        case ComplaintRefused():
            _register(
                batch, event, refused_on=local_date(data.refused_at), refusal_reason=data.reason
            )
        case Stage1Acknowledged():
            _register(batch, event, s1_acknowledged_on=local_date(data.acknowledged_at))
        case Stage2Acknowledged():
            _register(batch, event, s2_acknowledged_on=local_date(data.acknowledged_at))
        case ExtensionNotified():
            _register(batch, event)
            batch.put(
                extension,
                event.id,
                event_id=event.id,
                complaint_id=event.subject,
                stage=int(data.stage),
                notified_on=local_date(data.notified_at),
                working_days=data.extension_working_days,
                previous_due_on=data.previous_due_on,
                new_due_on=data.new_due_on,
                reason=data.reason,
                good_reason=data.good_reason_beyond_limit,
            )
        case Stage1Responded() | Stage2Responded():
            _response(batch, event, data.response, local_date(data.responded_at))
        case EscalationRequested():
            _register(batch, event, escalated_on=local_date(data.requested_at))
        case EscalationRefused():
            _register(
                batch,
                event,
                escalation_refused_on=local_date(data.refused_at),
                escalation_refusal_reason=data.reason,
            )
        case ComplaintWithdrawn():
            _register(batch, event, withdrawn_on=local_date(data.withdrawn_at))
        case ComplaintClosed():
            _register(batch, event, closed_on=local_date(data.closed_at))
        case _:
            return False
    return True


def _follow_up_event(batch: Batch, event: Event[Any]) -> bool:
    """Project completions and learning; False if the event is not one."""
    data = event.data
    base = {"complaint_id": event.subject, "organisation_id": event.organisation_id}
    match data:
        case RemedyCompleted():
            batch.put(
                remedy,
                data.remedy_id,
                remedy_id=data.remedy_id,
                completed_on=local_date(data.completed_at),
                **base,
            )
        case OutstandingActionCompleted():
            batch.put(
                outstanding_action,
                data.action_id,
                action_id=data.action_id,
                completed_on=local_date(data.completed_at),
                **base,
            )
        case LearningRecorded():
            batch.put(
                learning,
                data.learning_id,
                learning_id=data.learning_id,
                recorded_on=local_date(data.recorded_at),
                lesson=data.lesson,
                service_improvement=data.service_improvement,
                service_area=data.service_area,
                **base,
            )
        case _:
            return False
    return True


def _clock_event(batch: Batch, event: Event[Any]) -> bool:
    """Project a deadlines-service clock event; False if it is not one."""
    data = event.data
    if not isinstance(data, ClockEvent):
        return False
    values: Row = {
        "clock_id": data.clock_id,
        "complaint_id": event.subject,
        "organisation_id": event.organisation_id,
        "handling_organisation_id": data.handling_organisation_id,
        "step": data.step.value,
        "stage": int(data.stage) if data.stage is not None else None,
        "due_on": data.due_on,
    }
    match data:
        case DeadlineMissed():
            values["missed"] = True
        case DeadlineMet():
            values["met_on"] = data.completed_on
        case DeadlineCancelled():
            values["cancelled_on"] = local_date(event.time)
        case DeadlineSet() | DeadlineApproaching():
            pass
    batch.put(clock, data.clock_id, **values)
    return True


def _letter_event(batch: Batch, event: Event[Any]) -> bool:
    """Project a letter's fate; False if the event is not a letter event."""
    data = event.data
    if not isinstance(data, LetterEvent):
        return False
    values: Row = {
        "letter_id": data.letter_id,
        "complaint_id": event.subject,
        "organisation_id": event.organisation_id,
        "kind": data.kind.value,
    }
    day = local_date(event.time)
    match data:
        case LetterSent():
            values["sent_on"] = local_date(data.sent_at)
        case LetterBlocked():
            values.update(blocked_on=day, missing_items=list(data.missing_items))
        case LetterDeliveryFailed():
            values["failed_on"] = day
        case LetterRendered():
            pass
    batch.put(letter, data.letter_id, **values)
    return True


def _organisation_event(batch: Batch, event: Event[Any]) -> bool:
    """Project an organisation's profile or contract; False if the event is neither."""
    data = event.data
    match data:
        case OrganisationProfile():
            days_off = sorted({*data.closure_days, *data.extra_holidays})
            # A profile is a whole snapshot: replace, never merge, the row.
            batch.rows.setdefault(organisation, {})[event.subject] = {
                "organisation_id": event.subject,
                "name": data.name,
                "kind": data.kind.value,
                "homes": data.homes,
                "nation": data.nation.value,
                "days_off": [day.isoformat() for day in days_off],
            }
        case ContractAgreed():
            batch.put(
                contract,
                data.contract_id,
                contract_id=data.contract_id,
                landlord_id=data.landlord_id,
                contractor_id=data.contractor_id,
                categories=list(data.categories),
                contractor_handles_stage1=data.contractor_handles_stage1,
            )
        case _:
            return False
    return True


PROJECTORS: tuple[Callable[[Batch, Event[Any]], bool], ...] = (
    _complaint_event,
    _follow_up_event,
    _clock_event,
    _letter_event,
    _organisation_event,
)


PROJECTED: tuple[type[EventData], ...] = (
    OrganisationProfile,
    ContractAgreed,
    ComplaintReceived,
    ComplaintRefused,
    Stage1Acknowledged,
    ExtensionNotified,
    Stage1Responded,
    EscalationRequested,
    EscalationRefused,
    Stage2Acknowledged,
    Stage2Responded,
    ComplaintWithdrawn,
    ComplaintClosed,
    RemedyCompleted,
    OutstandingActionCompleted,
    LearningRecorded,
    DeadlineSet,
    DeadlineApproaching,
    DeadlineMissed,
    DeadlineMet,
    DeadlineCancelled,
    LetterRendered,
    LetterSent,
    LetterBlocked,
    LetterDeliveryFailed,
)
"""Every event type the projections use; others are ignored."""


Projector = Callable[[Batch, Event[Any]], bool]
# Which projector takes each event type, learnt from the first event of the type: a
# rebuild folds a million events, and trying the projectors in turn was a third of it.
_ROUTES: dict[type[EventData], Projector | None] = {}


def collect(events: Iterable[Event[Any]], batch: Batch | None = None) -> Batch:
    """The rows a sequence of events produces, merged into `batch` (pure: no database)."""
    batch = batch if batch is not None else Batch()
    for event in events:
        kind = type(event.data)
        if kind in _ROUTES:
            project = _ROUTES[kind]
            if project is not None:
                project(batch, event)
        else:
            _ROUTES[kind] = next((p for p in PROJECTORS if p(batch, event)), None)
    return batch


def _upsert(connection: Connection, table: Table, rows: Sequence[Row]) -> None:
    """Insert rows, or fill in the columns they carry on the rows already there."""
    if not rows:
        return
    names = [column.name for column in table.columns]
    keys = [column.name for column in table.primary_key.columns]
    statement = insert(connection, table)
    merged: dict[str, Any]
    if table is organisation:
        merged = {name: statement.excluded[name] for name in names if name not in keys}
    else:
        merged = {
            name: func.coalesce(statement.excluded[name], table.c[name])
            for name in names
            if name not in keys
        }
    statement = statement.on_conflict_do_update(index_elements=keys, set_=merged)
    blank = dict.fromkeys(names)
    connection.execute(statement, [blank | row for row in rows])


# Tables in the order a batch writes them: organisations first, so that the working-day
# counts that follow use the calendar the same batch brought.
WRITE_ORDER = (
    organisation,
    contract,
    complaint,
    extension,
    remedy,
    outstanding_action,
    learning,
    letter,
    clock,
)


async def apply(connection: AsyncConnection, events: Iterable[Event[Any]]) -> None:
    """Project a batch of events and recompute what they change, in the caller's transaction."""
    batch = collect(events)
    await connection.run_sync(write, batch)


def write(connection: Connection, batch: Batch) -> None:
    """Write a collected batch and recompute what it changes, in the caller's transaction."""
    recalendared = _calendar_changes(connection, batch)
    _upsert(connection, organisation, list(batch.rows.get(organisation, {}).values()))
    _count_batch_working_days(connection, batch)
    for table in WRITE_ORDER[1:]:
        _upsert(connection, table, list(batch.rows.get(table, {}).values()))
    extended = {row["complaint_id"] for row in batch.rows.get(extension, {}).values()}
    if extended:
        _summarise_extensions(connection, extended)
    if recalendared:
        _recount_working_days(connection, recalendared)


def _calendar_changes(connection: Connection, batch: Batch) -> set[UUID]:
    """Organisations in the batch that are new or whose working days changed."""
    profiles = batch.rows.get(organisation, {})
    if not profiles:
        return set()
    stored = connection.execute(
        select(
            organisation.c.organisation_id, organisation.c.nation, organisation.c.days_off
        ).where(among(connection, organisation.c.organisation_id, profiles))
    )
    before = {row.organisation_id: (row.nation, row.days_off) for row in stored}
    return {
        key for key, row in profiles.items() if before.get(key) != (row["nation"], row["days_off"])
    }


def _summarise_extensions(connection: Connection, complaint_ids: set[UUID]) -> None:
    """Total each stage's extensions onto the register: days, first notice, reasons."""
    # Summed here rather than in SQL: string_agg and bool_or are not SQLite's.
    e = extension.c
    notices = connection.execute(
        select(
            e.complaint_id,
            e.stage,
            e.notified_on,
            e.working_days,
            e.previous_due_on,
            e.reason,
            e.good_reason,
        )
        .where(among(connection, e.complaint_id, complaint_ids))
        .order_by(e.complaint_id, e.stage, e.notified_on, e.event_id)
    )
    by_stage: dict[int, dict[UUID, list[Any]]] = {1: defaultdict(list), 2: defaultdict(list)}
    for notice in notices:
        by_stage[notice.stage][notice.complaint_id].append(notice._mapping)
    for stage, summaries in by_stage.items():
        if not summaries:
            continue
        connection.execute(
            update(complaint)
            .where(complaint.c.complaint_id == bindparam("key"))
            .values(
                {
                    f"s{stage}_{name}": bindparam(name)
                    for name in (
                        "extension_days",
                        "extension_notified_on",
                        "extension_reason",
                        "extension_good_reason",
                        "extension_notified_late",
                    )
                }
            ),
            [extension_summary(key, notices) for key, notices in summaries.items()],
        )


def extension_summary(key: UUID, notices: Sequence[Mapping[str, Any]]) -> Row:
    """One stage's extensions of one complaint, in the order they were notified."""
    good = [notice["good_reason"] for notice in notices if notice.get("good_reason") is not None]
    return {
        "key": key,
        "extension_days": sum(notice["working_days"] for notice in notices),
        "extension_notified_on": notices[0]["notified_on"],
        "extension_reason": "; ".join(notice["reason"] for notice in notices),
        "extension_good_reason": "; ".join(good) if good else None,
        "extension_notified_late": any(
            notice["notified_on"] > notice["previous_due_on"] for notice in notices
        ),
    }


@lru_cache(maxsize=256)
def _calendar(nation: str, days_off: tuple[str, ...]) -> WorkingCalendar:
    return WorkingCalendar(Nation(nation), [date.fromisoformat(day) for day in days_off])


DEFAULT_CALENDAR = (Nation.ENGLAND_AND_WALES.value, ())


def warm_calendars() -> None:
    """Load every nation's bank holidays now (about 1.7 s of CPU, once per process), so
    the first events after start-up do not pay for it."""
    for nation in Nation:
        _calendar(nation.value, ())


def calendar_of(nation: str, days_off: Iterable[str]) -> WorkingCalendar:
    """The working calendar of a landlord's nation and days off (as stored)."""
    return _calendar(nation, tuple(days_off))


async def calendar_for(connection: AsyncConnection, organisation_id: UUID) -> WorkingCalendar:
    """One organisation's working calendar."""
    found = await connection.run_sync(_calendars, {organisation_id})
    return found[organisation_id]


def _calendars(connection: Connection, organisation_ids: set[UUID]) -> dict[UUID, WorkingCalendar]:
    """Each landlord's working calendar; England and Wales until its profile arrives."""
    rows = connection.execute(
        select(
            organisation.c.organisation_id, organisation.c.nation, organisation.c.days_off
        ).where(among(connection, organisation.c.organisation_id, organisation_ids))
    )
    known = {row.organisation_id: (row.nation, tuple(row.days_off)) for row in rows}
    return {key: _calendar(*known.get(key, DEFAULT_CALENDAR)) for key in organisation_ids}


# The dates each working-day count runs between. An unacknowledged response
# acknowledges the complaint when it is sent, hence the "or" pairs.
DATES = (
    "received_on",
    "s1_acknowledged_on",
    "s1_responded_on",
    "escalated_on",
    "s2_acknowledged_on",
    "s2_responded_on",
)


def count_working_days(
    calendars: dict[UUID, WorkingCalendar], rows: Sequence[Row]
) -> list[dict[str, int | None]]:
    """Each step's working days for register rows (dicts with `organisation_id` and the
    DATES), on their landlord's calendar: numpy counts a whole landlord's rows at once."""
    by_landlord: dict[UUID, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        by_landlord[row["organisation_id"]].append(index)
    counts: list[dict[str, int | None]] = [{} for _ in rows]
    for landlord, indexes in by_landlord.items():
        columns = {
            name: np.array([rows[i][name] for i in indexes], dtype="datetime64[D]")
            for name in DATES
        }
        s1_ack = np.where(
            np.isnat(columns["s1_acknowledged_on"]),
            columns["s1_responded_on"],
            columns["s1_acknowledged_on"],
        )
        s2_ack = np.where(
            np.isnat(columns["s2_acknowledged_on"]),
            columns["s2_responded_on"],
            columns["s2_acknowledged_on"],
        )
        steps = {
            "s1_ack_wd": (columns["received_on"], s1_ack),
            "s1_resp_wd": (s1_ack, columns["s1_responded_on"]),
            "s2_ack_wd": (columns["escalated_on"], s2_ack),
            "s2_resp_wd": (s2_ack, columns["s2_responded_on"]),
        }
        calendar = calendars[landlord]
        for name, (starts, ends) in steps.items():
            known = ~(np.isnat(starts) | np.isnat(ends))
            days = np.zeros(len(indexes), dtype=np.int64)
            days[known] = calendar.count_many(starts[known], ends[known])
            # Python lists, not numpy scalars one at a time: a tenth of the cost per row.
            for index, count, counted in zip(indexes, days.tolist(), known.tolist(), strict=True):
                counts[index][name] = count if counted else None
    return counts


def _count_batch_working_days(connection: Connection, batch: Batch) -> None:
    """Put each step's working days on the register rows the batch touched, counted from
    their dates as they will be once the batch is written (stored ones filled in)."""
    touched = batch.rows.get(complaint, {})
    if not touched:
        return
    c = complaint.c
    # Locked, so a replica writing the same complaints waits rather than counts from
    # dates about to change.
    stored = {
        row.complaint_id: row
        for row in connection.execute(
            select(c.complaint_id, *(c[name] for name in DATES))
            .where(among(connection, c.complaint_id, touched))
            .with_for_update()
        )
    }
    merged: list[Row] = []
    for key, row in touched.items():
        before = stored.get(key)
        merged.append(
            {
                "organisation_id": row["organisation_id"],
                **{
                    name: row[name] if name in row else getattr(before, name, None)
                    for name in DATES
                },
            }
        )
    calendars = _calendars(connection, {row["organisation_id"] for row in merged})
    for row, counts in zip(touched.values(), count_working_days(calendars, merged), strict=True):
        row.update(counts)


def _recount_working_days(connection: Connection, organisation_ids: set[UUID]) -> None:
    """Recount every register row of landlords whose calendar changed."""
    c = complaint.c
    rows = [
        row._asdict()
        for row in connection.execute(
            select(c.complaint_id, c.organisation_id, *(c[name] for name in DATES)).where(
                among(connection, c.organisation_id, organisation_ids)
            )
        )
    ]
    if not rows:
        return
    calendars = _calendars(connection, organisation_ids)
    connection.execute(
        update(complaint)
        .where(c.complaint_id == bindparam("key"))
        .values(
            s1_ack_wd=bindparam("s1_ack"),
            s1_resp_wd=bindparam("s1_resp"),
            s2_ack_wd=bindparam("s2_ack"),
            s2_resp_wd=bindparam("s2_resp"),
        ),
        [
            {
                "key": row["complaint_id"],
                "s1_ack": counts["s1_ack_wd"],
                "s1_resp": counts["s1_resp_wd"],
                "s2_ack": counts["s2_ack_wd"],
                "s2_resp": counts["s2_resp_wd"],
            }
            for row, counts in zip(rows, count_working_days(calendars, rows), strict=True)
        ],
    )
