"""Contractor systems: their messages, over Kafka or a signed webhook, mapped onto the lifecycle.

A contractor acts only for landlords it has a contract with, only in the categories the
contract covers, and only on complaints routed to it. Each message carries the
contractor's own id; a message seen before returns its first result and emits nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from pydantic import BaseModel, Field, ValidationError
from sqlmodel import col, select

from putright.intake import lifecycle
from putright.intake.auth import Caller, Scope
from putright.intake.complaints import ComplaintSubmission, Context, load, receive
from putright.intake.directory import load_landlord
from putright.intake.errors import NotFound, RuleViolation
from putright.intake.models import ComplaintEvent, ContractorReceipt, Organisation
from putright.shared.consumer import Consumer, Origin, Outcome
from putright.shared.events import ContractorMessage, OrganisationKind
from putright.shared.events.values import Channel

SIGNATURE_PREFIX = "sha256="


class ItemCompletion(lifecycle.CompletionCommand):
    """The body of an action or remedy completion."""

    item_id: UUID = Field(description="The action_id or remedy_id from the response.")


class ContractorResult(BaseModel):
    """What applying a contractor message did."""

    complaint_id: UUID
    reference: str
    event_type: str
    event_id: UUID


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Putright-Signature` of a webhook body: HMAC-SHA256 of "timestamp.body"."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def complaint_id_for(message: ContractorMessage) -> UUID:
    """A complaint first reported by a contractor gets an id derived from the message."""
    return uuid5(NAMESPACE_URL, f"putright:contractor:{message.contractor_id}:{message.message_id}")


async def apply_message(ctx: Context, message: ContractorMessage) -> tuple[int, dict[str, Any]]:
    """Apply one contractor message in the caller's transaction; replays answer as before."""
    seen = (
        await ctx.session.exec(
            select(ContractorReceipt).where(
                ContractorReceipt.contractor_id == message.contractor_id,
                ContractorReceipt.message_id == message.message_id,
            )
        )
    ).first()
    if seen is not None:
        return seen.status_code, seen.result
    contractor = await ctx.session.get(Organisation, message.contractor_id)
    if contractor is None or contractor.kind != OrganisationKind.CONTRACTOR:
        raise NotFound("contractor")
    caller = Caller(
        organisation_id=contractor.id,
        kind=OrganisationKind.CONTRACTOR,
        scopes=frozenset({Scope.SUBMIT, Scope.HANDLE}),
    )
    status_code, result = await _dispatch(ctx, caller, message)
    ctx.session.add(
        ContractorReceipt(
            contractor_id=message.contractor_id,
            message_id=message.message_id,
            status_code=status_code,
            result=result.model_dump(mode="json"),
        )
    )
    return status_code, result.model_dump(mode="json")


def _body(model: type[Any], message: ContractorMessage) -> Any:
    try:
        return model.model_validate(message.body)
    except ValidationError as error:
        first = error.errors()[0]
        raise RuleViolation(
            f"{first['msg']} ({len(error.errors())} problem(s))",
            rule="contract",
            loc=("body", "body", *first["loc"]),
        ) from error


async def _dispatch(
    ctx: Context, caller: Caller, message: ContractorMessage
) -> tuple[int, ContractorResult]:
    if message.action == "complaint.received":
        landlord = await load_landlord(ctx.session, message.landlord_id)
        submission = _body(ComplaintSubmission, message).model_copy(
            update={
                "organisation_id": landlord.id,
                "channel": Channel.CONTRACTOR,
                "external_reference": message.message_id,
            }
        )
        if submission.received_at is None:
            submission = submission.model_copy(update={"received_at": message.occurred_at})
        accepted = await receive(
            ctx,
            landlord=landlord,
            submission=submission,
            contractor_id=caller.organisation_id,
            complaint_id=complaint_id_for(message),
        )
        return 201, ContractorResult(
            complaint_id=accepted.id,
            reference=accepted.reference,
            event_type="uk.putright.complaint.received.v1",
            event_id=await _last_event_id(ctx, accepted.id),
        )
    if message.complaint_id is None:
        raise RuleViolation(
            "complaint_id is required", rule="contract", loc=("body", "complaint_id")
        )
    complaint = await load(ctx.session, caller, message.complaint_id)
    if complaint.organisation_id != message.landlord_id:
        raise NotFound("complaint")
    result = await _command(ctx, caller, message)
    return 200, ContractorResult(
        complaint_id=result.complaint_id,
        reference=result.reference,
        event_type=result.event_type,
        event_id=result.event_id,
    )


async def _command(
    ctx: Context, caller: Caller, message: ContractorMessage
) -> lifecycle.CommandResult:
    complaint_id = message.complaint_id
    assert complaint_id is not None
    match message.action:
        case "complaint.acknowledged":
            return await lifecycle.acknowledge_stage1(
                ctx,
                caller=caller,
                complaint_id=complaint_id,
                command=_body(lifecycle.AcknowledgeCommand, message),
            )
        case "complaint.extension_notified":
            return await lifecycle.notify_extension(
                ctx,
                caller=caller,
                complaint_id=complaint_id,
                command=_body(lifecycle.ExtensionCommand, message),
            )
        case "complaint.responded":
            return await lifecycle.respond_stage1(
                ctx,
                caller=caller,
                complaint_id=complaint_id,
                command=_body(lifecycle.RespondCommand, message),
            )
        case "complaint.outstanding_action_completed" | "complaint.remedy_completed":
            completion = _body(ItemCompletion, message)
            return await lifecycle.complete_item(
                ctx,
                caller=caller,
                complaint_id=complaint_id,
                item_id=completion.item_id,
                kind="actions" if message.action.endswith("action_completed") else "remedies",
                command=completion,
            )
        case _:
            return await lifecycle.record_learning(
                ctx,
                caller=caller,
                complaint_id=complaint_id,
                command=_body(lifecycle.LearningCommand, message),
            )


async def _last_event_id(ctx: Context, complaint_id: UUID) -> UUID:
    row = (
        await ctx.session.exec(
            select(ComplaintEvent)
            .where(ComplaintEvent.complaint_id == complaint_id)
            .order_by(col(ComplaintEvent.sequence).desc())
        )
    ).first()
    assert row is not None
    return row.id


@dataclass
class ContractorInbox(Consumer):
    """The shared consumer, taught to read contractor messages rather than Putright events.

    Malformed and unauthorised messages are dead-lettered with the reason at once; other
    failures are retried with back-off, then dead-lettered; the consumer carries on.
    """

    apply: Callable[[ContractorMessage], Awaitable[None]] | None = None

    async def process(self, raw: bytes, origin: Origin) -> Outcome:
        """Validate, authorise and apply one message, or dead-letter it with why."""
        try:
            message = ContractorMessage.model_validate_json(raw)
        except ValidationError as error:
            await self.dead_letter(raw, origin, reason=f"malformed: {error}", attempts=0)
            return Outcome.DEAD_LETTERED
        assert self.apply is not None
        for attempt in range(1, self.max_attempts + 1):
            try:
                await self.apply(message)
            except NotFound as refusal:
                reason = f"unauthorised: {refusal} for contractor {message.contractor_id}"
                await self.dead_letter(raw, origin, reason=reason, attempts=attempt)
                return Outcome.DEAD_LETTERED
            except RuleViolation as refusal:
                await self.dead_letter(
                    raw, origin, reason=f"refused: {refusal.detail}", attempts=attempt
                )
                return Outcome.DEAD_LETTERED
            except Exception as error:
                if attempt == self.max_attempts:
                    await self.dead_letter(raw, origin, reason=repr(error), attempts=attempt)
                    return Outcome.DEAD_LETTERED
                await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))
            else:
                self.after_commit()
                return Outcome.APPLIED
        raise AssertionError("unreachable")
