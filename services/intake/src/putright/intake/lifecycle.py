"""The complaint lifecycle as commands: each is checked against the Code, then emitted.

Every refusal names the Code paragraph it enforces. A step taken out of order is a 409;
content the Code requires but the command lacks is a 422.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, Field

from putright.intake.auth import Caller
from putright.intake.complaints import (
    ACKNOWLEDGE_WITHIN,
    ComplaintAccepted,
    ComplaintSubmission,
    Context,
    ResidentDetails,
    Status,
    Warning,
    landlord_for,
    load,
    older_than_twelve_months,
    receive,
    record,
)
from putright.intake.directory import load_landlord
from putright.intake.errors import NotFound, RuleViolation
from putright.intake.models import Complaint
from putright.intake.organisations import calendar_of
from putright.shared.calendar import local_date
from putright.shared.events import (
    ComplaintClosed,
    ComplaintRefused,
    ComplaintWithdrawn,
    EscalationRefused,
    EscalationRequested,
    EventData,
    ExtensionNotified,
    LearningRecorded,
    OutstandingActionCompleted,
    RelatedIssueAdded,
    RemedyCompleted,
    Stage1Acknowledged,
    Stage1Responded,
    Stage2Acknowledged,
    Stage2Responded,
)
from putright.shared.events.values import (
    Channel,
    ComplaintDefinition,
    Decision,
    ExclusionReason,
    Handler,
    OutstandingAction,
    Remedy,
    RemedyKind,
    Stage,
    StageResponse,
)

RESPONSE_WITHIN = {Stage.ONE: 10, Stage.TWO: 20}  # working days, 6.3 and 6.14
EXTENSION_LIMIT = {Stage.ONE: 10, Stage.TWO: 20}  # working days, 6.4 and 6.15
EXTENSION_RULE = {Stage.ONE: "6.4", Stage.TWO: "6.15"}
RESPONSE_RULE = {Stage.ONE: "6.9", Stage.TWO: "6.19"}
ACTIONS_RULE = {Stage.ONE: "6.6", Stage.TWO: "6.17"}
OPEN = {
    Status.RECEIVED,
    Status.STAGE1_ACKNOWLEDGED,
    Status.STAGE1_RESPONDED,
    Status.ESCALATION_REQUESTED,
    Status.STAGE2_ACKNOWLEDGED,
    Status.STAGE2_RESPONDED,
    Status.ESCALATION_REFUSED,
    Status.REFUSED,
}
STAGE1_UNANSWERED = {Status.RECEIVED, Status.STAGE1_ACKNOWLEDGED}
STAGE2_STARTED = {
    Status.ESCALATION_REQUESTED,
    Status.STAGE2_ACKNOWLEDGED,
    Status.STAGE2_RESPONDED,
    Status.ESCALATION_REFUSED,
}
CLOSABLE = {
    Status.STAGE1_RESPONDED,
    Status.STAGE2_RESPONDED,
    Status.ESCALATION_REFUSED,
    Status.REFUSED,
}


class StaffMember(BaseModel):
    """The member of staff taking a step; their organisation is the caller's."""

    staff_id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)


class AcknowledgeCommand(BaseModel):
    """Acknowledge, define and log a stage (6.2, 6.11, 5.6, 5.7)."""

    handler: StaffMember
    definition: ComplaintDefinition
    discretion_note: str | None = Field(
        default=None, max_length=5_000, description="Why an old issue is accepted (2.3)."
    )


class RefuseCommand(BaseModel):
    """Refuse to accept a complaint, or to escalate it (2.2, 2.4, 5.11)."""

    decided_by: StaffMember
    reason: ExclusionReason
    explanation: str = Field(min_length=1, max_length=10_000)


class ExtensionCommand(BaseModel):
    """Tell the resident a response will take longer (6.4, 6.15, 5.9)."""

    stage: Stage
    extension_working_days: int = Field(gt=0, le=250)
    reason: str = Field(min_length=1, max_length=5_000)
    good_reason_beyond_limit: str | None = Field(default=None, max_length=5_000)
    update_interval_working_days: int | None = Field(default=None, gt=0, le=60)


class RelatedIssueCommand(BaseModel):
    """A further issue the resident raised (6.8)."""

    description: str = Field(min_length=1, max_length=20_000)
    related: bool = Field(description="Whether it relates to the complaint being handled.")
    category: str | None = Field(default=None, min_length=1, max_length=100)


class RemedyOffered(BaseModel):
    """A remedy in a response: what will happen and by when (7.3)."""

    kind: RemedyKind
    description: str = Field(min_length=1, max_length=5_000)
    due_on: date | None = None
    compensation_gbp: Decimal | None = Field(default=None, ge=0, decimal_places=2)


class ActionPromised(BaseModel):
    """Work still to do after the response (6.6, 6.17)."""

    description: str = Field(min_length=1, max_length=5_000)
    due_on: date


class RespondCommand(BaseModel):
    """A stage response; each of items b–g is checked, so a missing one names its rule."""

    handler: StaffMember
    complaint_definition: str | None = Field(default=None, max_length=20_000)  # b
    decision: Decision | None = None  # c
    reasons: str | None = Field(default=None, max_length=50_000)  # d
    remedies: list[RemedyOffered] = Field(default_factory=list, max_length=50)  # e
    no_remedy_reason: str | None = Field(default=None, max_length=5_000)  # e
    outstanding_actions: list[ActionPromised] = Field(default_factory=list, max_length=50)  # f
    how_to_escalate: str | None = Field(default=None, max_length=5_000)  # g


class EscalationCommand(BaseModel):
    """The resident asks for stage 2; a reason is optional (6.12)."""

    channel: Channel = Channel.OTHER
    requested_at: AwareDatetime | None = Field(
        default=None, description="When the request actually arrived; default now."
    )
    resident_reason: str | None = Field(default=None, max_length=10_000)


class CompletionCommand(BaseModel):
    """An outstanding action or remedy is done."""

    note: str | None = Field(default=None, max_length=5_000)


class LearningCommand(BaseModel):
    """What was learned, and what changed (9.1)."""

    lesson: str = Field(min_length=1, max_length=10_000)
    service_improvement: str | None = Field(default=None, max_length=10_000)
    service_area: str | None = Field(default=None, max_length=100)


class WithdrawCommand(BaseModel):
    """The resident withdraws."""

    reason: str | None = Field(default=None, max_length=5_000)


class CommandResult(BaseModel):
    """What a lifecycle command did."""

    complaint_id: UUID
    reference: str
    status: Status
    event_id: UUID
    event_type: str
    warnings: list[Warning] = Field(default_factory=list)
    due_on: date | None = None
    new_complaint: ComplaintAccepted | None = None


def _handler(caller: Caller, staff: StaffMember) -> Handler:
    return Handler(organisation_id=caller.organisation_id, staff_id=staff.staff_id, name=staff.name)


def _require(complaint: Complaint, allowed: set[Status], msg: str, *, rule: str) -> None:
    if Status(complaint.status) not in allowed:
        raise RuleViolation.out_of_order(f"{msg} (the complaint is {complaint.status})", rule=rule)


def _require_landlord(caller: Caller, what: str) -> None:
    if not caller.is_landlord:
        raise RuleViolation(
            f"{what} is for the landlord: stage 2 stays with the landlord",
            rule="5.5",
            loc=("organisation",),
            status_code=403,
        )


def _due(complaint: Complaint) -> dict[str, str]:
    due: dict[str, str] = complaint.state.setdefault("due", {})
    return due


def _set_state(complaint: Complaint, status: Status, **changes: Any) -> None:
    # JSON columns are tracked by assignment, so build a new dict each time.
    complaint.state = {**complaint.state, **changes}
    complaint.status = status


async def _finish(
    ctx: Context,
    complaint: Complaint,
    data: EventData,
    *,
    warnings: list[Warning] | None = None,
    due_on: date | None = None,
    new_complaint: ComplaintAccepted | None = None,
) -> CommandResult:
    event = await record(ctx, complaint, data, time=ctx.clock())
    if warnings:
        complaint.state = {
            **complaint.state,
            "warnings": [
                *complaint.state.get("warnings", []),
                *(w.model_dump() for w in warnings),
            ],
        }
    ctx.session.add(complaint)
    return CommandResult(
        complaint_id=complaint.id,
        reference=complaint.reference,
        status=Status(complaint.status),
        event_id=event.id,
        event_type=event.type,
        warnings=warnings or [],
        due_on=due_on,
        new_complaint=new_complaint,
    )


async def acknowledge_stage1(
    ctx: Context, *, caller: Caller, complaint_id: UUID, command: AcknowledgeCommand
) -> CommandResult:
    """Acknowledge, define and log stage 1 (6.2), with the response due in 10 working days."""
    complaint = await load(ctx.session, caller, complaint_id, for_update=True)
    _require(
        complaint, {Status.RECEIVED}, "stage 1 can be acknowledged once, on receipt", rule="6.2"
    )
    now = ctx.clock()
    landlord = await landlord_for(ctx.session, complaint.organisation_id)
    due_on = calendar_of(landlord).add(local_date(now), RESPONSE_WITHIN[Stage.ONE])
    warnings: list[Warning] = []
    note = command.discretion_note
    if complaint.submission.get("issue_noticed_on") and _older(complaint) and not note:
        note = "Accepted at the landlord's discretion; no reason was given."
        warnings.append(
            Warning(
                rule="2.3",
                msg="the issue is older than 12 months; accepted at discretion without a reason",
            )
        )
    handler = _handler(caller, command.handler)
    due = {**_due(complaint), "stage1_response": due_on.isoformat()}
    _set_state(
        complaint,
        Status.STAGE1_ACKNOWLEDGED,
        due=due,
        definition=command.definition.model_dump(mode="json"),
        stage1_handlers=[handler.model_dump(mode="json")],
        stage1_base_due_on=due_on.isoformat(),
    )
    data = Stage1Acknowledged(
        acknowledged_at=now,
        definition=command.definition,
        handler=handler,
        response_due_on=due_on,
        discretion_note=note,
    )
    return await _finish(ctx, complaint, data, warnings=warnings, due_on=due_on)


def _older(complaint: Complaint) -> bool:
    noticed = date.fromisoformat(complaint.submission["issue_noticed_on"])
    return older_than_twelve_months(noticed, local_date(complaint.received_at))


async def refuse(
    ctx: Context, *, caller: Caller, complaint_id: UUID, command: RefuseCommand
) -> CommandResult:
    """Refuse to accept a complaint, for one of section 2's reasons, explained (2.2, 2.4)."""
    complaint = await load(ctx.session, caller, complaint_id, for_update=True)
    _require(
        complaint, STAGE1_UNANSWERED, "only a complaint not yet answered can be refused", rule="2.2"
    )
    if (
        command.reason is ExclusionReason.ISSUE_OVER_TWELVE_MONTHS
        and complaint.submission.get("issue_noticed_on")
        and not _older(complaint)
    ):
        raise RuleViolation(
            "the issue is within 12 months of the complaint, so this exclusion does not apply",
            rule="2.2",
            loc=("body", "reason"),
        )
    _set_state(complaint, Status.REFUSED)
    data = ComplaintRefused(
        reason=command.reason,
        explanation=command.explanation,
        refused_at=ctx.clock(),
        decided_by=_handler(caller, command.decided_by),
    )
    return await _finish(ctx, complaint, data)


async def notify_extension(
    ctx: Context, *, caller: Caller, complaint_id: UUID, command: ExtensionCommand
) -> CommandResult:
    """Extend a stage's response date; beyond the Code's limit only with a good reason."""
    complaint = await load(ctx.session, caller, complaint_id, for_update=True)
    stage = command.stage
    if stage is Stage.ONE:
        _require(
            complaint,
            {Status.STAGE1_ACKNOWLEDGED},
            "stage 1 is not awaiting its response",
            rule="6.4",
        )
    else:
        _require_landlord(caller, "a stage 2 extension")
        _require(
            complaint,
            {Status.STAGE2_ACKNOWLEDGED},
            "stage 2 is not awaiting its response",
            rule="6.15",
        )
    key = f"stage{int(stage)}_extension_days"
    total = int(complaint.state.get(key, 0)) + command.extension_working_days
    if total > EXTENSION_LIMIT[stage] and not (command.good_reason_beyond_limit or "").strip():
        raise RuleViolation(
            f"extensions may total at most {EXTENSION_LIMIT[stage]} working days at stage "
            f"{int(stage)} unless a good reason is given ({total} asked)",
            rule=EXTENSION_RULE[stage],
            loc=("body", "good_reason_beyond_limit"),
        )
    due_key = f"stage{int(stage)}_response"
    previous = date.fromisoformat(_due(complaint)[due_key])
    landlord = await landlord_for(ctx.session, complaint.organisation_id)
    new_due = calendar_of(landlord).add(previous, command.extension_working_days)
    _set_state(
        complaint,
        Status(complaint.status),
        due={**_due(complaint), due_key: new_due.isoformat()},
        **{key: total},
    )
    data = ExtensionNotified(
        stage=stage,
        notified_at=ctx.clock(),
        extension_working_days=command.extension_working_days,
        previous_due_on=previous,
        new_due_on=new_due,
        reason=command.reason,
        good_reason_beyond_limit=command.good_reason_beyond_limit,
        update_interval_working_days=command.update_interval_working_days,
    )
    return await _finish(ctx, complaint, data, due_on=new_due)


async def add_related_issue(
    ctx: Context, *, caller: Caller, complaint_id: UUID, command: RelatedIssueCommand
) -> CommandResult:
    """Join a related issue to an unanswered stage 1, otherwise log it as a new complaint (6.8)."""
    complaint = await load(ctx.session, caller, complaint_id, for_update=True)
    joins = command.related and Status(complaint.status) in STAGE1_UNANSWERED
    new_complaint = None
    if not joins:
        landlord = await load_landlord(ctx.session, complaint.organisation_id)
        original = complaint.submission
        submission = ComplaintSubmission(
            organisation_id=landlord.id,
            channel=Channel(complaint.channel),
            description=command.description,
            category=command.category or complaint.category,
            resident=ResidentDetails.model_validate(original["resident"] | complaint.personal),
            representative=original.get("representative"),
        )
        new_complaint = await receive(
            ctx,
            landlord=landlord,
            submission=submission,
            contractor_id=None if caller.is_landlord else caller.organisation_id,
        )
    issue_id = uuid4()
    issues = [*complaint.state.get("related_issues", []), {"id": str(issue_id), "joined": joins}]
    _set_state(complaint, Status(complaint.status), related_issues=issues)
    data = RelatedIssueAdded(
        issue_id=issue_id,
        description=command.description,
        added_at=ctx.clock(),
        joined_stage1=joins,
        new_complaint_id=new_complaint.id if new_complaint else None,
    )
    return await _finish(ctx, complaint, data, new_complaint=new_complaint)


def _check_response(command: RespondCommand, stage: Stage) -> StageResponse:
    """Refuse a response that lacks any of items b–g (item a is the stage itself)."""
    rule = RESPONSE_RULE[stage]
    problems: list[tuple[str, str, str]] = []
    for field, item in (
        ("complaint_definition", "b"),
        ("decision", "c"),
        ("reasons", "d"),
        ("how_to_escalate", "g"),
    ):
        value = getattr(command, field)
        if value is None or (isinstance(value, str) and not value.strip()):
            problems.append(
                (field, f"item {item} is required in a stage {int(stage)} response", rule)
            )
    if not command.remedies and not (command.no_remedy_reason or "").strip():
        problems.append(
            ("no_remedy_reason", "item e: offer a remedy or say why none is offered", rule)
        )
    problems.extend(
        (f"remedies.{index}.due_on", "a remedy must say by when it will happen", "7.3")
        for index, remedy in enumerate(command.remedies)
        if remedy.due_on is None
    )
    if problems:
        violation = RuleViolation(problems[0][1], rule=problems[0][2])
        violation.detail = [
            {"loc": ["body", *_path(field)], "msg": msg, "rule": rule_}
            for field, msg, rule_ in problems
        ]
        raise violation
    return StageResponse(
        stage=stage,
        complaint_definition=command.complaint_definition or "",
        decision=command.decision or Decision.NOT_UPHELD,
        reasons=command.reasons or "",
        remedies=[Remedy(remedy_id=uuid4(), **remedy.model_dump()) for remedy in command.remedies],
        no_remedy_reason=command.no_remedy_reason,
        outstanding_actions=[
            OutstandingAction(action_id=uuid4(), **action.model_dump())
            for action in command.outstanding_actions
        ],
        how_to_escalate=command.how_to_escalate or "",
    )


def _path(field: str) -> list[str | int]:
    return [int(part) if part.isdigit() else part for part in field.split(".")]


def _track(complaint: Complaint, response: StageResponse) -> dict[str, Any]:
    """The actions and remedies a response promised, to follow to completion."""
    actions = dict(complaint.state.get("actions", {}))
    remedies = dict(complaint.state.get("remedies", {}))
    for action in response.outstanding_actions:
        actions[str(action.action_id)] = action.model_dump(mode="json") | {
            "stage": int(response.stage),
            "completed_at": None,
        }
    for remedy in response.remedies:
        remedies[str(remedy.remedy_id)] = remedy.model_dump(mode="json") | {
            "stage": int(response.stage),
            "completed_at": None,
        }
    return {"actions": actions, "remedies": remedies}


async def respond_stage1(
    ctx: Context, *, caller: Caller, complaint_id: UUID, command: RespondCommand
) -> CommandResult:
    """Issue the stage 1 response with items a–g (6.3, 6.9)."""
    complaint = await load(ctx.session, caller, complaint_id, for_update=True)
    _require(
        complaint, {Status.STAGE1_ACKNOWLEDGED}, "stage 1 must be acknowledged first", rule="6.2"
    )
    response = _check_response(command, Stage.ONE)
    handler = _handler(caller, command.handler)
    handlers = [*complaint.state.get("stage1_handlers", []), handler.model_dump(mode="json")]
    _set_state(
        complaint,
        Status.STAGE1_RESPONDED,
        stage1_handlers=handlers,
        decision=response.decision,
        **_track(complaint, response),
    )
    data = Stage1Responded(responded_at=ctx.clock(), handler=handler, response=response)
    return await _finish(ctx, complaint, data)


async def request_escalation(
    ctx: Context, *, caller: Caller, complaint_id: UUID, command: EscalationCommand
) -> CommandResult:
    """The resident asks for stage 2 (6.10, 6.12); there is no third stage (5.3)."""
    complaint = await load(ctx.session, caller, complaint_id, for_update=True)
    status = Status(complaint.status)
    if status in STAGE2_STARTED or complaint.stage == 2:
        raise RuleViolation.out_of_order(
            "stage 2 is the landlord's final response: there is no third stage", rule="5.3"
        )
    allowed = {Status.STAGE1_RESPONDED} | (
        {Status.CLOSED} if complaint.state.get("decision") else set()
    )
    _require(complaint, allowed, "escalation follows the stage 1 response", rule="6.10")
    now = ctx.clock()
    requested_at = command.requested_at or now
    if requested_at > now:
        raise RuleViolation("cannot be in the future", rule="6.11", loc=("body", "requested_at"))
    landlord = await landlord_for(ctx.session, complaint.organisation_id)
    due_on = calendar_of(landlord).add(local_date(requested_at), ACKNOWLEDGE_WITHIN)
    _set_state(
        complaint,
        Status.ESCALATION_REQUESTED,
        due={**_due(complaint), "stage2_acknowledgement": due_on.isoformat()},
    )
    complaint.stage = 2
    data = EscalationRequested(
        requested_at=requested_at, channel=command.channel, resident_reason=command.resident_reason
    )
    return await _finish(ctx, complaint, data, due_on=due_on)


def _check_not_stage1_handler(complaint: Complaint, handler: Handler, field: str) -> None:
    for earlier in complaint.state.get("stage1_handlers", []):
        if (
            earlier["organisation_id"] == str(handler.organisation_id)
            and earlier["staff_id"] == handler.staff_id
        ):
            raise RuleViolation(
                "the stage 2 handler must not be the person who considered stage 1",
                rule="6.13",
                loc=("body", field, "staff_id"),
            )


async def acknowledge_stage2(
    ctx: Context, *, caller: Caller, complaint_id: UUID, command: AcknowledgeCommand
) -> CommandResult:
    """Accept, acknowledge, define and log stage 2 (6.11), response due in 20 working days."""
    complaint = await load(ctx.session, caller, complaint_id, for_update=True)
    _require_landlord(caller, "acknowledging stage 2")
    _require(
        complaint, {Status.ESCALATION_REQUESTED}, "stage 2 needs an escalation request", rule="6.11"
    )
    handler = _handler(caller, command.handler)
    _check_not_stage1_handler(complaint, handler, "handler")
    now = ctx.clock()
    landlord = await landlord_for(ctx.session, complaint.organisation_id)
    due_on = calendar_of(landlord).add(local_date(now), RESPONSE_WITHIN[Stage.TWO])
    _set_state(
        complaint,
        Status.STAGE2_ACKNOWLEDGED,
        due={**_due(complaint), "stage2_response": due_on.isoformat()},
        stage2_definition=command.definition.model_dump(mode="json"),
    )
    data = Stage2Acknowledged(
        acknowledged_at=now, definition=command.definition, handler=handler, response_due_on=due_on
    )
    return await _finish(ctx, complaint, data, due_on=due_on)


async def refuse_escalation(
    ctx: Context, *, caller: Caller, complaint_id: UUID, command: RefuseCommand
) -> CommandResult:
    """Refuse stage 2, only for a section 2 reason, set out clearly (5.11)."""
    complaint = await load(ctx.session, caller, complaint_id, for_update=True)
    _require_landlord(caller, "refusing escalation")
    _require(
        complaint,
        {Status.ESCALATION_REQUESTED},
        "there is no escalation request to refuse",
        rule="5.11",
    )
    _set_state(complaint, Status.ESCALATION_REFUSED)
    data = EscalationRefused(
        reason=command.reason,
        explanation=command.explanation,
        refused_at=ctx.clock(),
        decided_by=_handler(caller, command.decided_by),
    )
    return await _finish(ctx, complaint, data)


async def respond_stage2(
    ctx: Context, *, caller: Caller, complaint_id: UUID, command: RespondCommand
) -> CommandResult:
    """Issue the stage 2 final response with items a–g (6.14, 6.19), not by the stage 1 handler."""
    complaint = await load(ctx.session, caller, complaint_id, for_update=True)
    _require_landlord(caller, "the stage 2 response")
    _require(
        complaint, {Status.STAGE2_ACKNOWLEDGED}, "stage 2 must be acknowledged first", rule="6.11"
    )
    handler = _handler(caller, command.handler)
    _check_not_stage1_handler(complaint, handler, "handler")
    response = _check_response(command, Stage.TWO)
    _set_state(
        complaint,
        Status.STAGE2_RESPONDED,
        decision=response.decision,
        **_track(complaint, response),
    )
    data = Stage2Responded(responded_at=ctx.clock(), handler=handler, response=response)
    return await _finish(ctx, complaint, data)


async def complete_item(
    ctx: Context,
    *,
    caller: Caller,
    complaint_id: UUID,
    item_id: UUID,
    kind: str,
    command: CompletionCommand,
) -> CommandResult:
    """Mark an outstanding action (6.6, 6.17) or a remedy (7.3) done."""
    complaint = await load(ctx.session, caller, complaint_id, for_update=True)
    items = dict(complaint.state.get(kind, {}))
    item = items.get(str(item_id))
    if item is None:
        raise NotFound("outstanding action" if kind == "actions" else "remedy")
    rule = ACTIONS_RULE[Stage(item["stage"])] if kind == "actions" else "7.3"
    if item["completed_at"]:
        raise RuleViolation.out_of_order("this was already completed", rule=rule)
    now = ctx.clock()
    items[str(item_id)] = item | {"completed_at": now.isoformat(), "note": command.note}
    _set_state(complaint, Status(complaint.status), **{kind: items})
    data: EventData
    if kind == "actions":
        data = OutstandingActionCompleted(action_id=item_id, completed_at=now, note=command.note)
    else:
        data = RemedyCompleted(remedy_id=item_id, completed_at=now, note=command.note)
    return await _finish(ctx, complaint, data)


async def record_learning(
    ctx: Context, *, caller: Caller, complaint_id: UUID, command: LearningCommand
) -> CommandResult:
    """Record what the complaint taught the landlord (9.1, 8.1 d)."""
    complaint = await load(ctx.session, caller, complaint_id, for_update=True)
    data = LearningRecorded(
        learning_id=uuid4(),
        recorded_at=ctx.clock(),
        lesson=command.lesson,
        service_improvement=command.service_improvement,
        service_area=command.service_area or complaint.category,
    )
    return await _finish(ctx, complaint, data)


async def withdraw(
    ctx: Context, *, caller: Caller, complaint_id: UUID, command: WithdrawCommand
) -> CommandResult:
    """The resident withdraws an open complaint."""
    complaint = await load(ctx.session, caller, complaint_id, for_update=True)
    _require(complaint, OPEN, "only an open complaint can be withdrawn", rule="5.12")
    _set_state(complaint, Status.WITHDRAWN)
    data = ComplaintWithdrawn(withdrawn_at=ctx.clock(), reason=command.reason)
    return await _finish(ctx, complaint, data)


async def close(ctx: Context, *, caller: Caller, complaint_id: UUID) -> CommandResult:
    """Close a complaint once answered and every promised action and remedy is done."""
    complaint = await load(ctx.session, caller, complaint_id, for_update=True)
    _require(complaint, CLOSABLE, "a complaint closes after its response or refusal", rule="6.6")
    for kind, what in (("actions", "outstanding actions"), ("remedies", "remedies")):
        pending = [
            item for item in complaint.state.get(kind, {}).values() if not item["completed_at"]
        ]
        if pending:
            rule = ACTIONS_RULE[Stage(pending[0]["stage"])] if kind == "actions" else "7.3"
            raise RuleViolation.out_of_order(
                f"{len(pending)} {what} are not yet completed", rule=rule
            )
    decision = complaint.state.get("decision")
    final_stage = Stage.TWO if complaint.status == Status.STAGE2_RESPONDED else Stage.ONE
    _set_state(complaint, Status.CLOSED)
    data = ComplaintClosed(
        closed_at=ctx.clock(),
        final_stage=final_stage,
        decision=Decision(decision) if decision else None,
    )
    return await _finish(ctx, complaint, data)
