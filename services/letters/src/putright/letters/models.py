"""Letters' tables: what letters know of landlords and complaints, and every letter."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, Column, DateTime, LargeBinary, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from putright.shared.events.envelope import utc_now
from putright.shared.runtime import delivery_tables


class LettersModel(SQLModel, registry=registry()):
    """Base of letters' tables, in its own metadata."""


metadata = LettersModel.metadata
outbox, processed_event = delivery_tables(metadata)


def _json(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=nullable))


def _moment(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable))


class LetterStatus(StrEnum):
    """Where a letter is: waiting to go, gone, given up on, or held back."""

    PENDING = "pending"
    SENT = "sent"
    QUEUED_FOR_PRINT = "queued_for_print"
    FAILED = "failed"
    BLOCKED = "blocked"


class Organisation(LettersModel, table=True):
    """A landlord's latest profile, as letters need it (from `organisation.profile.v1`)."""

    id: UUID = Field(primary_key=True)
    name: str
    sender_email: str | None = None
    complaints_email: str | None = None
    phone: str | None = None
    postal_address: dict[str, Any] | None = _json(nullable=True)
    branding: dict[str, Any] = _json()


class LetterLayout(LettersModel, table=True):
    """A landlord's own versions of the layout's overridable blocks (Jinja source)."""

    __tablename__ = "letter_layout"

    organisation_id: UUID = Field(primary_key=True)
    blocks: dict[str, str] = _json()


class ComplaintFile(LettersModel, table=True):
    """What letters need to know about one complaint, kept up to date from its events."""

    __tablename__ = "complaint"

    id: UUID = Field(primary_key=True)
    organisation_id: UUID = Field(index=True)
    reference: str
    resident: dict[str, Any] = _json()
    representative: dict[str, Any] | None = _json(nullable=True)
    definition: dict[str, Any] | None = _json(nullable=True)
    outstanding_actions: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )


class Letter(LettersModel, table=True):
    """One letter to one recipient: its facts, what was rendered and what became of it."""

    id: UUID = Field(primary_key=True)
    complaint_id: UUID = Field(index=True)
    organisation_id: UUID = Field(index=True)
    kind: str
    caused_by_event_id: UUID
    correlation_id: UUID
    message_id: str = Field(unique=True)
    delivery: str = "email"
    recipient: str | None = None
    recipient_name: str = ""
    to_representative: bool = False
    subject: str
    facts: dict[str, Any] = _json()
    html: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status: str = Field(default=LetterStatus.PENDING, index=True)
    missing_items: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    attempts: int = 0
    next_attempt_at: datetime | None = _moment()
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    sent_at: datetime | None = _moment()


class LetterDelivery(LettersModel, table=True):
    """A mail server's acceptance of a letter, committed the moment it is accepted.

    The sender marks a batch of letters sent in one transaction; this journal, written
    outside that transaction right after each acceptance, stops a crash before the
    batch commits from sending those letters again. Rows live until the letter is
    marked sent. No foreign key: the letter's row is locked by the batch meanwhile."""

    __tablename__ = "letter_delivery"

    letter_id: UUID = Field(primary_key=True)
    accepted_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    reply: str = Field(default="", sa_column=Column(Text, nullable=False))


class PrintJob(LettersModel, table=True):
    """A letter to post: the print-ready PDF and where it goes."""

    __tablename__ = "print_job"

    letter_id: UUID = Field(primary_key=True)
    organisation_id: UUID = Field(index=True)
    complaint_id: UUID
    addressee: str
    address: dict[str, Any] | None = _json(nullable=True)
    pdf: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    queued_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    printed_at: datetime | None = _moment()


class LetterPublic(SQLModel):
    """A letter as staff see it in a list: where it is and, if held back, why."""

    id: UUID
    complaint_id: UUID
    kind: str
    status: str
    delivery: str
    recipient: str | None
    recipient_name: str
    to_representative: bool
    subject: str
    message_id: str
    missing_items: list[str]
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class LetterRecord(LetterPublic):
    """A letter as kept in the correspondence record, with what it said."""

    html: str | None
    text: str | None


class PrintJobPublic(SQLModel):
    """A posted letter waiting in, or gone from, the print queue."""

    letter_id: UUID
    complaint_id: UUID
    addressee: str
    address: dict[str, Any] | None
    queued_at: datetime
    printed_at: datetime | None


class LayoutUpdate(SQLModel):
    """A landlord's overrides of the layout's blocks, by block name."""

    blocks: dict[str, str]
