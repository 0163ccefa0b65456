"""Taking complaints in from any channel, and the record intake keeps of each one."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import func, insert
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from putright.intake.auth import Caller
from putright.intake.directory import Landlord
from putright.intake.errors import NotFound, RuleViolation
from putright.intake.group_commit import GroupCommit
from putright.intake.models import Complaint, ComplaintEvent, Correspondence, Organisation
from putright.shared.calendar import LONDON, local_date
from putright.shared.events import ComplaintReceived, Event, EventData, OrganisationKind, new_event
from putright.shared.events.envelope import parse_event
from putright.shared.events.values import Channel, Representative, Resident
from putright.shared.runtime import Runtime

SOURCE = "putright/intake"
ACKNOWLEDGE_WITHIN = 5  # working days, 6.2 and 6.11
FUTURE_TOLERANCE = timedelta(minutes=5)

Clock = Callable[[], datetime]
COMPLAINT = Complaint.__table__  # type: ignore[attr-defined]
COMPLAINT_EVENT = ComplaintEvent.__table__  # type: ignore[attr-defined]


class Status(StrEnum):
    """Where a complaint stands in the Code's two stages."""

    RECEIVED = "received"
    STAGE1_ACKNOWLEDGED = "stage1_acknowledged"
    STAGE1_RESPONDED = "stage1_responded"
    ESCALATION_REQUESTED = "escalation_requested"
    STAGE2_ACKNOWLEDGED = "stage2_acknowledged"
    STAGE2_RESPONDED = "stage2_responded"
    REFUSED = "refused"
    ESCALATION_REFUSED = "escalation_refused"
    WITHDRAWN = "withdrawn"
    CLOSED = "closed"


class Warning(BaseModel):
    """Something the Code leaves to the landlord's discretion, recorded rather than refused."""

    rule: str
    msg: str


class ResidentDetails(Resident):
    """The resident as intake records them; disclosed disabilities stay in intake (5.10)."""

    disclosed_disabilities: list[str] = Field(default_factory=list, max_length=20)


class ComplaintSubmission(BaseModel):
    """A complaint from a landlord's website, a staff system or a contractor's system."""

    organisation_id: UUID | None = Field(
        default=None, description="The landlord; required when a contractor submits."
    )
    channel: Channel = Field(default=Channel.WEB, description="How it reached the landlord.")
    received_at: AwareDatetime | None = Field(
        default=None, description="When it actually arrived (not when keyed in); default now."
    )
    description: str = Field(min_length=1, max_length=20_000)
    category: str = Field(min_length=1, max_length=100)
    outcomes_sought: str | None = Field(default=None, max_length=5_000)
    issue_noticed_on: date | None = None
    resident: ResidentDetails
    representative: Representative | None = None
    external_reference: str | None = Field(default=None, max_length=200)


class ComplaintAccepted(BaseModel):
    """What the submitter gets back."""

    id: UUID
    reference: str
    handling_organisation_id: UUID
    warnings: list[Warning] = Field(default_factory=list)


@dataclass
class Context:
    """What every command needs: a transaction, the runtime to emit through, and now."""

    session: AsyncSession
    runtime: Runtime
    clock: Clock


def reference_for(complaint_id: UUID) -> str:
    """The reference a resident quotes."""
    return f"C-{complaint_id.hex[:10].upper()}"


def older_than_twelve_months(noticed_on: date | None, received_on: date) -> bool:
    """Whether the issue predates the Code's 12-month window (2.3)."""
    if noticed_on is None:
        return False
    try:
        year_before = received_on.replace(year=received_on.year - 1)
    except ValueError:  # 29 February
        year_before = received_on.replace(year=received_on.year - 1, day=28)
    return noticed_on < year_before


async def landlord_for(session: AsyncSession, organisation_id: UUID) -> Organisation:
    """A landlord by id, or not found."""
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None or organisation.kind != OrganisationKind.LANDLORD:
        raise NotFound("organisation")
    return organisation


@dataclass(frozen=True)
class NewComplaint:
    """A complaint ready to be stored: its row, its first event, and the submitter's answer."""

    row: dict[str, Any]
    event: Event[ComplaintReceived]
    accepted: ComplaintAccepted

    def event_row(self) -> dict[str, Any]:
        """The first entry of the complaint's record (5.12)."""
        return {
            "id": self.event.id,
            "complaint_id": self.event.subject,
            "sequence": 1,
            "type": self.event.type,
            "envelope": self.event.model_dump(mode="json"),
        }


def new_complaint(
    landlord: Landlord,
    submission: ComplaintSubmission,
    *,
    now: datetime,
    contractor_id: UUID | None = None,
    complaint_id: UUID | None = None,
) -> NewComplaint:
    """Check a complaint from any channel against the Code and build what storing it writes."""
    received_at = submission.received_at or now
    if received_at > now + FUTURE_TOLERANCE:
        raise RuleViolation("cannot be in the future", rule="3.1", loc=("body", "received_at"))
    received_on = local_date(received_at)
    if submission.issue_noticed_on and submission.issue_noticed_on > received_on:
        raise RuleViolation(
            "cannot be after the complaint was received",
            rule="2.3",
            loc=("body", "issue_noticed_on"),
        )
    category = submission.category.strip().lower()
    if contractor_id is not None:
        contract = landlord.contract_with(contractor_id, category)
        if contract is None:
            raise NotFound("contract")
        acting: UUID | None = contractor_id
        handling = contractor_id if contract.handles_stage1 else landlord.id
    else:
        acting = landlord.stage1_contractor(category)
        handling = acting or landlord.id
    identity = complaint_id or uuid4()
    older = older_than_twelve_months(submission.issue_noticed_on, received_on)
    # Already validated as ResidentDetails: only the fields that may leave intake, as they are.
    details = submission.resident
    resident = Resident.model_construct(
        {name for name in Resident.model_fields if name in details.model_fields_set},
        **{name: getattr(details, name) for name in Resident.model_fields},
    )
    received = ComplaintReceived(
        reference=reference_for(identity),
        channel=submission.channel,
        received_at=received_at,
        description=submission.description,
        category=category,
        outcomes_sought=submission.outcomes_sought,
        issue_noticed_on=submission.issue_noticed_on,
        issue_older_than_twelve_months=older,
        handling_organisation_id=handling,
        resident=resident,
        representative=submission.representative,
        external_reference=submission.external_reference,
    )
    event = new_event(
        received, source=SOURCE, subject=identity, organisation_id=landlord.id, time=now
    )
    due = landlord.calendar.add(received_on, ACKNOWLEDGE_WITHIN)
    row = {
        "id": identity,
        "organisation_id": landlord.id,
        "handling_organisation_id": handling,
        "contractor_id": acting,
        "reference": received.reference,
        "channel": str(received.channel),
        "category": category,
        "received_at": received_at,
        "status": str(Status.RECEIVED),
        "stage": 1,
        "submission": submission.model_dump(mode="json", exclude={"resident"})
        | {"resident": resident.model_dump(mode="json")},
        "personal": {"disclosed_disabilities": details.disclosed_disabilities},
        "state": {"due": {"stage1_acknowledgement": due.isoformat()}},
        "event_count": 1,
    }
    warnings = (
        [Warning(rule="2.3", msg="the issue is older than 12 months; accepting it is discretion")]
        if older
        else []
    )
    accepted = ComplaintAccepted(
        id=identity,
        reference=received.reference,
        handling_organisation_id=handling,
        warnings=warnings,
    )
    return NewComplaint(row=row, event=event, accepted=accepted)


async def store(
    session: AsyncSession, runtime: Runtime, complaints: Sequence[NewComplaint]
) -> None:
    """Write new complaints, their first events and their outbox rows in the session's
    transaction: one multi-row statement per table, whatever the number of complaints."""
    connection = await session.connection()
    await connection.execute(insert(COMPLAINT), [complaint.row for complaint in complaints])
    await connection.execute(
        insert(COMPLAINT_EVENT), [complaint.event_row() for complaint in complaints]
    )
    await runtime.emit(session, *(complaint.event for complaint in complaints))


def complaint_writer(runtime: Runtime) -> GroupCommit[NewComplaint]:
    """Stores new complaints from concurrent requests together, one transaction per batch."""

    async def store_batch(complaints: Sequence[NewComplaint]) -> None:
        async with runtime.unit_of_work() as session:
            await store(session, runtime, complaints)

    # A few transactions in flight: a slow round trip to the database does not stall
    # every submission, and batches stay large under load.
    return GroupCommit(store_batch, in_flight=4)


async def receive(
    ctx: Context,
    *,
    landlord: Landlord,
    submission: ComplaintSubmission,
    contractor_id: UUID | None = None,
    complaint_id: UUID | None = None,
    correspondence: Correspondence | None = None,
) -> ComplaintAccepted:
    """Log a complaint from any channel and publish `ComplaintReceived`."""
    complaint = new_complaint(
        landlord,
        submission,
        now=ctx.clock(),
        contractor_id=contractor_id,
        complaint_id=complaint_id,
    )
    await store(ctx.session, ctx.runtime, [complaint])
    if correspondence is not None:
        ctx.session.add(correspondence)
    return complaint.accepted


async def record(
    ctx: Context, complaint: Complaint, data: EventData, *, time: datetime
) -> Event[Any]:
    """Emit an event about a complaint and keep it in the complaint's record, in order."""
    previous = None
    if complaint.event_count:
        last = (
            await ctx.session.exec(
                select(ComplaintEvent).where(
                    ComplaintEvent.complaint_id == complaint.id,
                    ComplaintEvent.sequence == complaint.event_count,
                )
            )
        ).one()
        previous = parse_event(last.envelope)
    event = new_event(
        data,
        source=SOURCE,
        subject=complaint.id,
        organisation_id=complaint.organisation_id,
        caused_by=previous,
        time=time,
    )
    complaint.event_count += 1
    ctx.session.add(complaint)
    ctx.session.add(
        ComplaintEvent(
            id=event.id,
            complaint_id=complaint.id,
            sequence=complaint.event_count,
            type=event.type,
            envelope=json.loads(event.model_dump_json()),
        )
    )
    await ctx.runtime.emit(ctx.session, event)
    return event


def visible_to(caller: Caller) -> Any:
    """The SQL condition for complaints a caller may see."""
    if caller.is_landlord:
        return Complaint.organisation_id == caller.organisation_id
    return or_(
        col(Complaint.contractor_id) == caller.organisation_id,
        col(Complaint.handling_organisation_id) == caller.organisation_id,
    )


async def load(
    session: AsyncSession, caller: Caller, complaint_id: UUID, *, for_update: bool = False
) -> Complaint:
    """A complaint the caller may see, locked for a command when `for_update`."""
    statement = select(Complaint).where(Complaint.id == complaint_id, visible_to(caller))
    if for_update:
        statement = statement.with_for_update()
    complaint = (await session.exec(statement)).first()
    if complaint is None:
        raise NotFound("complaint")
    return complaint


class ComplaintSummary(BaseModel):
    """A complaint in a list."""

    id: UUID
    reference: str
    organisation_id: UUID
    handling_organisation_id: UUID
    channel: Channel
    category: str
    received_at: datetime
    status: Status
    stage: int


class ComplaintPage(BaseModel):
    """One page of a caller's complaints, newest first."""

    items: list[ComplaintSummary]
    total: int
    page: int
    page_size: int


class RecordedEvent(BaseModel):
    """One event in a complaint's record."""

    id: UUID
    sequence: int
    type: str
    time: datetime
    data: dict[str, Any]


class CorrespondencePublic(BaseModel):
    """A message received about the complaint."""

    id: UUID
    channel: str
    received_at: datetime
    sender: str | None
    subject: str | None
    headers: list[list[str]]
    body: str
    attachments: list[dict[str, Any]]


class ComplaintRecord(ComplaintSummary):
    """The full record of a complaint (5.12)."""

    submission: dict[str, Any]
    disclosed_disabilities: list[str]
    due_dates: dict[str, date]
    outstanding_actions: list[dict[str, Any]]
    remedies: list[dict[str, Any]]
    warnings: list[Warning]
    events: list[RecordedEvent]
    correspondence: list[CorrespondencePublic]


def summary_of(complaint: Complaint) -> ComplaintSummary:
    """The list view of a complaint."""
    return ComplaintSummary(
        id=complaint.id,
        reference=complaint.reference,
        organisation_id=complaint.organisation_id,
        handling_organisation_id=complaint.handling_organisation_id,
        channel=Channel(complaint.channel),
        category=complaint.category,
        received_at=complaint.received_at,
        status=Status(complaint.status),
        stage=complaint.stage,
    )


async def full_record(
    session: AsyncSession, *, caller: Caller, complaint_id: UUID
) -> ComplaintRecord:
    """Everything intake knows about a complaint the caller may see."""
    complaint = await load(session, caller, complaint_id)
    events = await session.exec(
        select(ComplaintEvent)
        .where(ComplaintEvent.complaint_id == complaint.id)
        .order_by(col(ComplaintEvent.sequence))
    )
    letters = await session.exec(
        select(Correspondence)
        .where(Correspondence.complaint_id == complaint.id)
        .order_by(col(Correspondence.received_at))
    )
    state = complaint.state
    return ComplaintRecord(
        **summary_of(complaint).model_dump(),
        submission=complaint.submission,
        disclosed_disabilities=complaint.personal.get("disclosed_disabilities", []),
        due_dates=state.get("due", {}),
        outstanding_actions=list(state.get("actions", {}).values()),
        remedies=list(state.get("remedies", {}).values()),
        warnings=[Warning.model_validate(w) for w in state.get("warnings", [])],
        events=[
            RecordedEvent(
                id=event.id,
                sequence=event.sequence,
                type=event.type,
                time=event.envelope["time"],
                data=event.envelope["data"],
            )
            for event in events
        ],
        correspondence=[
            CorrespondencePublic.model_validate(letter, from_attributes=True) for letter in letters
        ],
    )


@dataclass(frozen=True)
class ComplaintFilter:
    """What a list of complaints may be narrowed by."""

    status: Status | None = None
    stage: int | None = None
    channel: Channel | None = None
    category: str | None = None
    received_from: date | None = None
    received_to: date | None = None
    reference: str | None = None


async def list_complaints(
    session: AsyncSession, *, caller: Caller, filters: ComplaintFilter, page: int, page_size: int
) -> ComplaintPage:
    """A page of the complaints the caller may see."""
    conditions = [visible_to(caller)]
    if filters.status:
        conditions.append(Complaint.status == filters.status)
    if filters.stage:
        conditions.append(Complaint.stage == filters.stage)
    if filters.channel:
        conditions.append(Complaint.channel == filters.channel)
    if filters.category:
        conditions.append(Complaint.category == filters.category.lower())
    if filters.reference:
        conditions.append(Complaint.reference == filters.reference)
    if filters.received_from:
        conditions.append(col(Complaint.received_at) >= _start_of(filters.received_from))
    if filters.received_to:
        conditions.append(
            col(Complaint.received_at) < _start_of(filters.received_to + timedelta(days=1))
        )
    total = (
        await session.exec(select(func.count()).select_from(Complaint).where(*conditions))
    ).one()
    rows = await session.exec(
        select(Complaint)
        .where(*conditions)
        .order_by(col(Complaint.received_at).desc(), col(Complaint.id))
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return ComplaintPage(
        items=[summary_of(row) for row in rows], total=total, page=page, page_size=page_size
    )


def _start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=LONDON)
