"""Intake's JSON API: platform admin, an organisation's own keys, complaints and their lifecycle."""

from __future__ import annotations

import hmac
from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from putright.intake import lifecycle
from putright.intake.auth import (
    AdminCaller,
    HandleCaller,
    PlatformAdmin,
    ReportCaller,
    SubmitCaller,
)
from putright.intake.complaints import (
    ComplaintAccepted,
    ComplaintFilter,
    ComplaintPage,
    ComplaintRecord,
    ComplaintSubmission,
    Context,
    Status,
    full_record,
    list_complaints,
    new_complaint,
)
from putright.intake.contractor import ContractorResult, apply_message, signature
from putright.intake.directory import Directory
from putright.intake.errors import NotFound
from putright.intake.models import Organisation
from putright.intake.organisations import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    ContractCreate,
    OrganisationCreate,
    OrganisationCreated,
    OrganisationPublic,
    agree_contract,
    create_organisation,
    get_organisation,
    issue_key,
    list_keys,
    revoke_key,
    update_profile,
)
from putright.shared.api import ReadSessionDep, RuntimeDep, SessionDep
from putright.shared.events import ContractAgreed, ContractorMessage, OrganisationProfile
from putright.shared.events.values import Channel
from putright.shared.runtime import Runtime


async def get_context(request: Request, session: SessionDep) -> Context:
    """A command's transaction, runtime and clock."""
    return Context(
        session=session, runtime=request.app.state.runtime, clock=request.app.state.clock
    )


ContextDep = Annotated[Context, Depends(get_context)]


async def get_directory(request: Request) -> Directory:
    """The service's short-lived copies of callers and landlords."""
    directory: Directory = request.app.state.directory
    return directory


DirectoryDep = Annotated[Directory, Depends(get_directory)]

admin = APIRouter(prefix="/v1/admin", tags=["platform admin"], dependencies=[PlatformAdmin])
api = APIRouter(prefix="/v1", tags=["organisations"])
complaints = APIRouter(prefix="/v1/complaints", tags=["complaints"])
contractor = APIRouter(prefix="/v1/contractor", tags=["contractor systems"])


@admin.post("/organisations", status_code=status.HTTP_201_CREATED)
async def admin_create_organisation(
    created: OrganisationCreate, db: SessionDep, runtime: RuntimeDep
) -> OrganisationCreated:
    """Register a landlord or contractor; a contractor's webhook secret is shown once."""
    return await create_organisation(db, runtime, created=created)


@admin.get("/organisations/{organisation_id}")
async def admin_get_organisation(organisation_id: UUID, db: ReadSessionDep) -> OrganisationPublic:
    """One organisation."""
    return await get_organisation(db, organisation_id=organisation_id)


@admin.put("/organisations/{organisation_id}")
async def admin_update_organisation(
    organisation_id: UUID,
    profile: OrganisationProfile,
    db: SessionDep,
    runtime: RuntimeDep,
    directory: DirectoryDep,
) -> OrganisationPublic:
    """Replace an organisation's profile; the new snapshot is published."""
    directory.forget_landlord(db, organisation_id)
    return await update_profile(db, runtime, organisation_id=organisation_id, profile=profile)


@admin.post("/contracts", status_code=status.HTTP_201_CREATED)
async def admin_agree_contract(
    contract: ContractCreate, db: SessionDep, runtime: RuntimeDep, directory: DirectoryDep
) -> ContractAgreed:
    """Link a contractor to a landlord for some categories (5.4, 5.5)."""
    directory.forget_landlord(db, contract.landlord_id)
    return await agree_contract(db, runtime, contract=contract)


@admin.post("/organisations/{organisation_id}/api-keys", status_code=status.HTTP_201_CREATED)
async def admin_issue_key(
    organisation_id: UUID, key: ApiKeyCreate, db: SessionDep
) -> ApiKeyCreated:
    """Issue a key for an organisation; the token is in this answer only."""
    return await issue_key(db, organisation_id=organisation_id, key=key)


@admin.delete("/api-keys/{key_id}")
async def admin_revoke_key(key_id: UUID, db: SessionDep, directory: DirectoryDep) -> ApiKeyPublic:
    """Revoke any key."""
    directory.forget_key(db, key_id)
    return await revoke_key(db, organisation_id=None, key_id=key_id)


@api.get("/organisation")
async def own_organisation(caller: ReportCaller, db: ReadSessionDep) -> OrganisationPublic:
    """The caller's own organisation."""
    return await get_organisation(db, organisation_id=caller.organisation_id)


@api.get("/api-keys")
async def own_keys(caller: AdminCaller, db: ReadSessionDep) -> list[ApiKeyPublic]:
    """The caller's organisation's keys."""
    return await list_keys(db, organisation_id=caller.organisation_id)


@api.post("/api-keys", status_code=status.HTTP_201_CREATED)
async def issue_own_key(caller: AdminCaller, key: ApiKeyCreate, db: SessionDep) -> ApiKeyCreated:
    """Issue another key for the caller's organisation."""
    return await issue_key(db, organisation_id=caller.organisation_id, key=key)


@api.delete("/api-keys/{key_id}")
async def revoke_own_key(
    caller: AdminCaller, key_id: UUID, db: SessionDep, directory: DirectoryDep
) -> ApiKeyPublic:
    """Revoke one of the caller's organisation's keys."""
    directory.forget_key(db, key_id)
    return await revoke_key(db, organisation_id=caller.organisation_id, key_id=key_id)


@complaints.post("", status_code=status.HTTP_201_CREATED, response_model=ComplaintAccepted)
async def submit_complaint(
    submission: ComplaintSubmission, caller: SubmitCaller, request: Request, directory: DirectoryDep
) -> Response:
    """Log a complaint from a landlord's website or staff system, or a contractor's system.

    Staff log phone, in-person, letter, social-media and representative complaints with
    their channel and the time they actually arrived (`received_at`).
    """
    contractor_id = None
    if caller.is_landlord:
        if submission.organisation_id not in (None, caller.organisation_id):
            raise NotFound("organisation")
        landlord = await directory.landlord(caller.organisation_id)
    else:
        if submission.organisation_id is None:
            raise NotFound("organisation")
        landlord = await directory.landlord(submission.organisation_id)
        submission = submission.model_copy(update={"channel": Channel.CONTRACTOR})
        contractor_id = caller.organisation_id
    complaint = new_complaint(
        landlord, submission, now=request.app.state.clock(), contractor_id=contractor_id
    )
    # Shares a transaction with concurrent submissions; returns once it has committed.
    await request.app.state.complaint_writer.write(complaint)
    # Already a validated model: serialised once, not validated again as a response.
    return Response(
        complaint.accepted.model_dump_json(),
        status_code=status.HTTP_201_CREATED,
        media_type="application/json",
    )


@complaints.get("")
async def complaint_list(
    caller: ReportCaller,
    db: ReadSessionDep,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    stage: Annotated[int | None, Query(ge=1, le=2)] = None,
    channel: Channel | None = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
    reference: Annotated[str | None, Query(max_length=40)] = None,
    received_from: date | None = None,
    received_to: date | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ComplaintPage:
    """The caller's complaints, newest first, filtered and paged."""
    filters = ComplaintFilter(
        status=status_,
        stage=stage,
        channel=channel,
        category=category,
        reference=reference,
        received_from=received_from,
        received_to=received_to,
    )
    return await list_complaints(db, caller=caller, filters=filters, page=page, page_size=page_size)


@complaints.get("/{complaint_id}")
async def complaint_record(
    complaint_id: UUID, caller: ReportCaller, db: ReadSessionDep
) -> ComplaintRecord:
    """A complaint's full record (5.12): submission, events in order, correspondence, dates."""
    return await full_record(db, caller=caller, complaint_id=complaint_id)


Result = lifecycle.CommandResult


@complaints.post("/{complaint_id}/stage1/acknowledgement")
async def acknowledge_stage1(
    complaint_id: UUID, command: lifecycle.AcknowledgeCommand, caller: HandleCaller, ctx: ContextDep
) -> Result:
    """Acknowledge, define and log stage 1 (6.2, 5.6, 5.7)."""
    return await lifecycle.acknowledge_stage1(
        ctx, caller=caller, complaint_id=complaint_id, command=command
    )


@complaints.post("/{complaint_id}/refusal")
async def refuse(
    complaint_id: UUID, command: lifecycle.RefuseCommand, caller: HandleCaller, ctx: ContextDep
) -> Result:
    """Refuse to accept the complaint (2.2, 2.4)."""
    return await lifecycle.refuse(ctx, caller=caller, complaint_id=complaint_id, command=command)


@complaints.post("/{complaint_id}/extensions")
async def notify_extension(
    complaint_id: UUID, command: lifecycle.ExtensionCommand, caller: HandleCaller, ctx: ContextDep
) -> Result:
    """Extend a stage's response date (6.4, 6.15, 5.9)."""
    return await lifecycle.notify_extension(
        ctx, caller=caller, complaint_id=complaint_id, command=command
    )


@complaints.post("/{complaint_id}/related-issues")
async def add_related_issue(
    complaint_id: UUID,
    command: lifecycle.RelatedIssueCommand,
    caller: HandleCaller,
    ctx: ContextDep,
) -> Result:
    """Add an issue raised during stage 1 (6.8)."""
    return await lifecycle.add_related_issue(
        ctx, caller=caller, complaint_id=complaint_id, command=command
    )


@complaints.post("/{complaint_id}/stage1/response")
async def respond_stage1(
    complaint_id: UUID, command: lifecycle.RespondCommand, caller: HandleCaller, ctx: ContextDep
) -> Result:
    """Issue the stage 1 response (6.3, 6.9)."""
    return await lifecycle.respond_stage1(
        ctx, caller=caller, complaint_id=complaint_id, command=command
    )


@complaints.post("/{complaint_id}/escalation")
async def request_escalation(
    complaint_id: UUID,
    command: lifecycle.EscalationCommand,
    caller: HandleCaller,
    ctx: ContextDep,
) -> Result:
    """Record the resident's request for stage 2 (6.10, 6.12, 5.3)."""
    return await lifecycle.request_escalation(
        ctx, caller=caller, complaint_id=complaint_id, command=command
    )


@complaints.post("/{complaint_id}/escalation/refusal")
async def refuse_escalation(
    complaint_id: UUID, command: lifecycle.RefuseCommand, caller: HandleCaller, ctx: ContextDep
) -> Result:
    """Refuse to escalate, with reasons (5.11)."""
    return await lifecycle.refuse_escalation(
        ctx, caller=caller, complaint_id=complaint_id, command=command
    )


@complaints.post("/{complaint_id}/stage2/acknowledgement")
async def acknowledge_stage2(
    complaint_id: UUID, command: lifecycle.AcknowledgeCommand, caller: HandleCaller, ctx: ContextDep
) -> Result:
    """Accept, acknowledge, define and log stage 2 (6.11, 6.13)."""
    return await lifecycle.acknowledge_stage2(
        ctx, caller=caller, complaint_id=complaint_id, command=command
    )


@complaints.post("/{complaint_id}/stage2/response")
async def respond_stage2(
    complaint_id: UUID, command: lifecycle.RespondCommand, caller: HandleCaller, ctx: ContextDep
) -> Result:
    """Issue the stage 2 final response (6.14, 6.19)."""
    return await lifecycle.respond_stage2(
        ctx, caller=caller, complaint_id=complaint_id, command=command
    )


@complaints.post("/{complaint_id}/actions/{action_id}/completion")
async def complete_action(
    complaint_id: UUID,
    action_id: UUID,
    command: lifecycle.CompletionCommand,
    caller: HandleCaller,
    ctx: ContextDep,
) -> Result:
    """Record an outstanding action as done (6.6, 6.17)."""
    return await lifecycle.complete_item(
        ctx,
        caller=caller,
        complaint_id=complaint_id,
        item_id=action_id,
        kind="actions",
        command=command,
    )


@complaints.post("/{complaint_id}/remedies/{remedy_id}/completion")
async def complete_remedy(
    complaint_id: UUID,
    remedy_id: UUID,
    command: lifecycle.CompletionCommand,
    caller: HandleCaller,
    ctx: ContextDep,
) -> Result:
    """Record a remedy as carried out (7.3)."""
    return await lifecycle.complete_item(
        ctx,
        caller=caller,
        complaint_id=complaint_id,
        item_id=remedy_id,
        kind="remedies",
        command=command,
    )


@complaints.post("/{complaint_id}/learning")
async def record_learning(
    complaint_id: UUID, command: lifecycle.LearningCommand, caller: HandleCaller, ctx: ContextDep
) -> Result:
    """Record learning and the service improvement that followed (9.1)."""
    return await lifecycle.record_learning(
        ctx, caller=caller, complaint_id=complaint_id, command=command
    )


@complaints.post("/{complaint_id}/withdrawal")
async def withdraw(
    complaint_id: UUID, command: lifecycle.WithdrawCommand, caller: HandleCaller, ctx: ContextDep
) -> Result:
    """Record that the resident withdrew the complaint."""
    return await lifecycle.withdraw(ctx, caller=caller, complaint_id=complaint_id, command=command)


@complaints.post("/{complaint_id}/closure")
async def close(complaint_id: UUID, caller: HandleCaller, ctx: ContextDep) -> Result:
    """Close the complaint once every action and remedy is done (6.6, 6.17, 7.3)."""
    return await lifecycle.close(ctx, caller=caller, complaint_id=complaint_id)


def _unauthorised(msg: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, msg)


async def _webhook_secret(runtime: Runtime, contractor_id: UUID) -> str:
    async with runtime.sessions() as session:
        organisation = await session.get(Organisation, contractor_id)
    if organisation is None or not organisation.webhook_secret:
        raise _unauthorised("unknown contractor")
    return organisation.webhook_secret


@contractor.post(
    "/events",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ContractorMessage.model_json_schema()}},
        }
    },
    responses={201: {"model": ContractorResult}},
)
async def contractor_event(
    request: Request,
    runtime: RuntimeDep,
    x_putright_contractor: Annotated[UUID, Header()],
    x_putright_timestamp: Annotated[str, Header(max_length=20)],
    x_putright_signature: Annotated[str, Header(max_length=100)],
) -> JSONResponse:
    """A contractor system's message, signed with its secret: `sha256=` HMAC of "timestamp.body".

    Stale timestamps are refused; a message id seen before returns its first result.
    """
    body = await request.body()
    secret = await _webhook_secret(runtime, x_putright_contractor)
    if not hmac.compare_digest(signature(secret, x_putright_timestamp, body), x_putright_signature):
        raise _unauthorised("bad signature")
    try:
        sent_at = int(x_putright_timestamp)
    except ValueError:
        raise _unauthorised("the timestamp must be Unix seconds") from None
    now = request.app.state.clock().timestamp()
    if abs(now - sent_at) > runtime.settings.webhook_tolerance_seconds:  # type: ignore[attr-defined]
        raise _unauthorised("stale timestamp")
    try:
        message = ContractorMessage.model_validate_json(body)
    except ValidationError as error:
        return JSONResponse(
            {"detail": _errors(error)}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
        )
    if message.contractor_id != x_putright_contractor:
        raise NotFound("contractor")
    for attempt in (1, 2):
        try:
            async with runtime.unit_of_work() as session:
                ctx = Context(session=session, runtime=runtime, clock=request.app.state.clock)
                status_code, result = await apply_message(ctx, message)
        except IntegrityError:
            # The same message arrived at once by another route; its receipt now answers.
            if attempt == 2:
                raise
        else:
            break
    return JSONResponse(result, status_code=status_code)


def _errors(error: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": ["body", *item["loc"]], "msg": item["msg"], "type": item["type"]}
        for item in error.errors(include_url=False, include_input=False)
    ]
