"""From events to letters: what letters remember, and which letter each event calls for.

Each handler runs inside the consumer's transaction, so the rows it writes and the
events it emits commit together with the record that the event was applied. A letter's
id follows from its complaint, kind and causing event, so a replay finds the same row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from putright.letters.content import LetterFacts, missing_before_rendering, subject_of
from putright.letters.models import ComplaintFile, Letter, LetterStatus, Organisation
from putright.letters.settings import LettersSettings
from putright.shared.consumer import Consumer
from putright.shared.events import (
    ComplaintReceived,
    ComplaintRefused,
    DeadlineApproaching,
    DeadlineMissed,
    Delivery,
    EscalationRefused,
    Event,
    ExtensionNotified,
    LetterBlocked,
    LetterKind,
    OrganisationProfile,
    Stage1Acknowledged,
    Stage1Responded,
    Stage2Acknowledged,
    Stage2Responded,
)
from putright.shared.events.deadlines import ClockStep
from putright.shared.events.envelope import DataT, envelope_class, utc_now
from putright.shared.events.values import (
    ContactPreference,
    LetterFormat,
    OutstandingAction,
    PostalAddress,
    Representative,
    Resident,
    Stage,
)
from putright.shared.runtime import Runtime

logger = logging.getLogger(__name__)
SOURCE = "putright/letters"


def letter_id(complaint_id: UUID, kind: str, caused_by: UUID) -> UUID:
    """A letter's id follows from its complaint, kind and cause, so redelivery finds it."""
    return uuid5(NAMESPACE_URL, f"putright:letter:{complaint_id}:{kind}:{caused_by}")


def message_id(letter: UUID, domain: str) -> str:
    """The deterministic RFC 5322 Message-ID of a letter."""
    return f"<{letter}@{domain}>"


@dataclass(frozen=True)
class Addressee:
    """Who a letter is written to, and how it reaches them."""

    name: str
    email: str | None
    address: PostalAddress | None
    on_behalf_of: str | None
    delivery: Delivery


def addressee_of(resident: Resident, representative: Representative | None) -> Addressee:
    """The representative when the resident consented to them receiving letters, else the
    resident; by email unless there is none or the resident asked for post (and has an
    address)."""
    if (
        representative
        and representative.receives_correspondence
        and (representative.email or representative.address)
    ):
        return Addressee(
            name=representative.name,
            email=representative.email,
            address=representative.address,
            on_behalf_of=resident.name,
            delivery=Delivery.EMAIL if representative.email else Delivery.POST,
        )
    wants_post = resident.contact_preference is ContactPreference.POST and resident.address
    return Addressee(
        name=resident.name,
        email=resident.email,
        address=resident.address,
        on_behalf_of=None,
        delivery=Delivery.EMAIL if resident.email and not wants_post else Delivery.POST,
    )


def needs_large_print(resident: Resident) -> bool:
    """Whether a recorded reasonable adjustment asks for large print (5.10)."""
    return resident.letter_format is LetterFormat.LARGE_PRINT or any(
        "large print" in adjustment.casefold() for adjustment in resident.reasonable_adjustments
    )


@dataclass(frozen=True)
class Draft:
    """A letter an event calls for: whom it is about, its kind, its cause and facts."""

    complaint_id: UUID
    organisation_id: UUID
    reference: str
    resident: Resident
    representative: Representative | None
    kind: LetterKind
    cause: Event[Any]
    facts: dict[str, Any]

    @classmethod
    def from_file(
        cls, file: ComplaintFile, kind: LetterKind, cause: Event[Any], **facts: Any
    ) -> Draft:
        """A draft for a complaint whose file letters keep."""
        return cls(
            complaint_id=file.id,
            organisation_id=file.organisation_id,
            reference=file.reference,
            resident=Resident.model_validate(file.resident),
            representative=Representative.model_validate(file.representative)
            if file.representative
            else None,
            kind=kind,
            cause=cause,
            facts=facts,
        )


class Letters:
    """Writes letter rows (pending, or blocked with a "letter blocked" event)."""

    def __init__(self, runtime: Runtime, settings: LettersSettings) -> None:
        self.runtime = runtime
        self.settings = settings

    async def write(self, session: AsyncSession, drafts: Sequence[Draft]) -> list[UUID]:
        """Write the letters the drafts call for in one statement, skipping any a cause
        has written already; returns the ids written."""
        rows = [self.row(draft) for draft in drafts]
        if not rows:
            return []
        table = Letter.__table__  # type: ignore[attr-defined]
        # executemany: compiled once and cached, sent as multi-row INSERTs by SQLAlchemy.
        statement = (
            dialect_insert(session)(table)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(table.c.id)
        )
        result = await (await session.connection()).execute(statement, rows)
        written = set(result.scalars())
        blocked = [
            self.blocked(Letter(**row), row["missing_items"])
            for row in rows
            if row["id"] in written and row["missing_items"]
        ]
        await self.runtime.emit(session, *blocked)
        return [row["id"] for row in rows if row["id"] in written]

    def row(self, draft: Draft) -> dict[str, Any]:
        """The letter row a draft makes: pending, or blocked when a required item is blank."""
        identity = letter_id(draft.complaint_id, draft.kind, draft.cause.id)
        resident = draft.resident
        addressee = addressee_of(resident, draft.representative)
        letter_facts = LetterFacts(
            reference=draft.reference,
            resident_name=resident.name,
            addressee_name=addressee.name,
            on_behalf_of=addressee.on_behalf_of,
            large_print=needs_large_print(resident),
            address=addressee.address if addressee.delivery is Delivery.POST else None,
            **draft.facts,
        )
        missing = missing_before_rendering(draft.kind, letter_facts)
        return {
            "id": identity,
            "complaint_id": draft.complaint_id,
            "organisation_id": draft.organisation_id,
            "kind": draft.kind.value,
            "caused_by_event_id": draft.cause.id,
            "correlation_id": draft.cause.correlation_id,
            "message_id": message_id(identity, self.settings.message_id_domain),
            "delivery": addressee.delivery.value,
            "recipient": addressee.email if addressee.delivery is Delivery.EMAIL else None,
            "recipient_name": addressee.name,
            "to_representative": addressee.on_behalf_of is not None,
            "subject": subject_of(draft.kind, letter_facts),
            "facts": letter_facts.model_dump(mode="json"),
            "html": None,
            "text": None,
            "status": LetterStatus.BLOCKED.value if missing else LetterStatus.PENDING.value,
            "missing_items": missing,
            "attempts": 0,
            "next_attempt_at": None,
            "last_error": None,
            "created_at": utc_now(),
            "sent_at": None,
        }

    async def block(self, session: AsyncSession, letter: Letter, missing: list[str]) -> None:
        """Hold a letter back and say which required items it lacks."""
        session.add(letter)
        await self.runtime.emit(session, self.blocked(letter, missing))

    @staticmethod
    def blocked(letter: Letter, missing: list[str]) -> Event[LetterBlocked]:
        """Mark a letter blocked for lacking `missing`; returns the event to emit."""
        logger.warning("letter %s blocked: missing %s", letter.id, missing)
        letter.status = LetterStatus.BLOCKED
        letter.missing_items = missing
        return letter_event(
            letter,
            LetterBlocked(
                letter_id=letter.id,
                kind=LetterKind(letter.kind),
                caused_by_event_id=letter.caused_by_event_id,
                missing_items=missing,
            ),
        )


def letter_event(letter: Letter, data: DataT) -> Event[DataT]:
    """An event about a letter, in the correlation chain of the event that caused it."""
    envelope: Event[DataT] = envelope_class(type(data))(
        type=data.full_type(),
        source=SOURCE,
        subject=letter.complaint_id,
        organisation_id=letter.organisation_id,
        correlation_id=letter.correlation_id,
        causation_id=letter.caused_by_event_id,
        data=data,
    )
    return envelope


async def remember_organisation(session: AsyncSession, event: Event[Any]) -> None:
    """Keep the landlord's latest profile: the name, contact details and branding."""
    profile: OrganisationProfile = event.data
    await session.merge(
        Organisation(
            id=event.subject,
            name=profile.name,
            sender_email=profile.sender_email,
            complaints_email=profile.complaints_email,
            phone=profile.phone,
            postal_address=profile.postal_address.model_dump(mode="json")
            if profile.postal_address
            else None,
            branding=profile.branding.model_dump(mode="json"),
        )
    )


async def open_files(session: AsyncSession, events: Sequence[Event[Any]]) -> None:
    """Start (or restart) complaints' files from their receipts, in one statement."""
    rows = {
        event.subject: {
            "id": event.subject,
            "organisation_id": event.organisation_id,
            "reference": event.data.reference,
            "resident": event.data.resident.model_dump(mode="json"),
            "representative": event.data.representative.model_dump(mode="json")
            if event.data.representative
            else None,
            "definition": None,
            "outstanding_actions": [],
        }
        for event in events
    }
    await session.flush()  # earlier changes to these files go first
    table = ComplaintFile.__table__  # type: ignore[attr-defined]
    statement = dialect_insert(session)(table)
    statement = statement.on_conflict_do_update(
        index_elements=["id"],
        set_={
            column.name: statement.excluded[column.name]
            for column in table.c
            if column.name != "id"
        },
    )
    await (await session.connection()).execute(statement, list(rows.values()))


def dialect_insert(session: AsyncSession) -> Any:
    """PostgreSQL's INSERT, or SQLite's in the embedded mode (both know ON CONFLICT)."""
    dialect = session.bind.dialect.name if session.bind else "postgresql"
    return pg_insert if dialect == "postgresql" else sqlite_insert


def register(consumer: Consumer, letters: Letters) -> None:
    """Route each event the letters service consumes to its handler."""

    @consumer.on(OrganisationProfile)
    async def on_profile(session: AsyncSession, event: Event[Any]) -> None:
        await remember_organisation(session, event)

    @consumer.on_batch(ComplaintReceived)
    async def on_received(session: AsyncSession, events: Sequence[Event[Any]]) -> None:
        await open_files(session, events)
        drafts = [
            Draft(
                complaint_id=event.subject,
                organisation_id=event.organisation_id,
                reference=event.data.reference,
                resident=event.data.resident,
                representative=event.data.representative,
                kind=LetterKind.RECEIPT,
                cause=event,
                facts={},
            )
            for event in events
        ]
        await letters.write(session, drafts)

    @consumer.on_batch(
        ComplaintRefused,
        Stage1Acknowledged,
        ExtensionNotified,
        Stage1Responded,
        Stage2Acknowledged,
        EscalationRefused,
        Stage2Responded,
        DeadlineMissed,
        DeadlineApproaching,
    )
    async def on_steps(session: AsyncSession, events: Sequence[Event[Any]]) -> None:
        statement = (
            select(ComplaintFile)
            .where(col(ComplaintFile.id).in_({event.subject for event in events}))
            .execution_options(populate_existing=True)
        )
        files = {file.id: file for file in (await session.exec(statement)).all()}
        drafts = []
        for event in events:
            file = files.get(event.subject)
            if file is None:
                logger.warning(
                    "no complaint %s for %s; no letter written", event.subject, event.type
                )
                continue
            letter = letter_for(file, event.data)
            if letter is not None:
                kind, facts = letter
                drafts.append(Draft.from_file(file, kind, event, **facts))
            session.add(file)
        await letters.write(session, drafts)


def letter_for(file: ComplaintFile, data: Any) -> tuple[LetterKind, dict[str, Any]] | None:
    """The letter an event calls for and its facts, updating the file on the way."""
    match data:
        case ComplaintRefused(reason=reason, explanation=explanation):
            return LetterKind.REFUSAL, {"exclusion": reason, "reason": explanation}
        case EscalationRefused(reason=reason, explanation=explanation):
            return LetterKind.ESCALATION_REFUSAL, {"exclusion": reason, "reason": explanation}
        case Stage1Acknowledged() | Stage2Acknowledged():
            file.definition = data.definition.model_dump(mode="json")
            kind = (
                LetterKind.STAGE1_ACKNOWLEDGEMENT
                if isinstance(data, Stage1Acknowledged)
                else LetterKind.STAGE2_ACKNOWLEDGEMENT
            )
            return kind, {"definition": data.definition, "due_on": data.response_due_on}
        case ExtensionNotified():
            return LetterKind.EXTENSION, {
                "stage": data.stage,
                "due_on": data.new_due_on,
                "previous_due_on": data.previous_due_on,
                "reason": data.reason,
                "update_interval_working_days": data.update_interval_working_days,
            }
        case Stage1Responded() | Stage2Responded():
            known = {action["action_id"]: action for action in file.outstanding_actions}
            for action in data.response.outstanding_actions:
                known[str(action.action_id)] = action.model_dump(mode="json")
            file.outstanding_actions = list(known.values())
            kind = (
                LetterKind.STAGE1_RESPONSE
                if isinstance(data, Stage1Responded)
                else LetterKind.STAGE2_RESPONSE
            )
            return kind, {"response": data.response}
        case DeadlineMissed() | DeadlineApproaching():
            return _update_for(file, data)
    return None


RESPONSE_STEPS = {ClockStep.STAGE1_RESPONSE: Stage.ONE, ClockStep.STAGE2_RESPONSE: Stage.TWO}


def _update_for(
    file: ComplaintFile, clock: DeadlineMissed | DeadlineApproaching
) -> tuple[LetterKind, dict[str, Any]] | None:
    overdue = isinstance(clock, DeadlineMissed)
    if clock.step is ClockStep.OUTSTANDING_ACTION:
        action = next(
            (
                OutstandingAction.model_validate(action)
                for action in file.outstanding_actions
                if action["action_id"] == str(clock.item_id)
            ),
            None,
        )
        return LetterKind.OUTSTANDING_ACTION_UPDATE, {"action": action, "overdue": overdue}
    if overdue and clock.step in RESPONSE_STEPS:
        return LetterKind.LATE_RESPONSE_UPDATE, {
            "stage": RESPONSE_STEPS[clock.step],
            "due_on": clock.due_on,
            "overdue": True,
        }
    if not overdue and clock.step is ClockStep.RESIDENT_UPDATE:
        return LetterKind.LATE_RESPONSE_UPDATE, {"stage": clock.stage, "overdue": False}
    return None
