"""Intake's tables: organisations, contracts, API keys, complaints and their records."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import JSON, Column, DateTime, LargeBinary, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from putright.shared.events.envelope import utc_now
from putright.shared.runtime import delivery_tables


class IntakeModel(SQLModel, registry=registry()):
    """Base of intake's tables, in intake's own metadata."""


metadata = IntakeModel.metadata
outbox, processed_event = delivery_tables(metadata)


class Organisation(IntakeModel, table=True):
    """A landlord or contractor using Putright; `profile` is its latest published snapshot."""

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    name: str
    kind: str
    slug: str = Field(unique=True)
    profile: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # HMAC needs the secret itself, so unlike API keys it cannot be stored hashed.
    webhook_secret: str | None = None
    complaints_email: str | None = Field(default=None, index=True)


class Contract(IntakeModel, table=True):
    """A contractor acting for a landlord for some categories of service (5.4, 5.5)."""

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    landlord_id: UUID = Field(index=True, foreign_key="organisation.id")
    contractor_id: UUID = Field(index=True, foreign_key="organisation.id")
    categories: list[str] = Field(sa_column=Column(JSON, nullable=False))
    contractor_handles_stage1: bool


class ApiKey(IntakeModel, table=True):
    """An organisation's API key: only the SHA-256 of the token is kept."""

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    organisation_id: UUID = Field(index=True, foreign_key="organisation.id")
    name: str
    prefix: str
    token_hash: str = Field(unique=True)
    scopes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class Complaint(IntakeModel, table=True):
    """A complaint as intake holds it: the original submission and where it stands."""

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    organisation_id: UUID = Field(index=True, foreign_key="organisation.id")
    handling_organisation_id: UUID = Field(index=True)
    # The contractor that sees this complaint under a contract, if any.
    contractor_id: UUID | None = Field(default=None, index=True)
    reference: str = Field(unique=True)
    channel: str
    category: str = Field(index=True)
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    status: str = Field(index=True)
    stage: int = 1
    submission: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # Disclosed disabilities and other personal data that never leave intake (5.10).
    personal: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    event_count: int = 0


class ComplaintEvent(IntakeModel, table=True):
    """Every event intake emitted about a complaint, in order, for its full record (5.12)."""

    id: UUID = Field(primary_key=True)
    complaint_id: UUID = Field(index=True, foreign_key="complaint.id")
    sequence: int
    type: str
    envelope: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class Correspondence(IntakeModel, table=True):
    """A message received about a complaint, kept as it arrived (5.12)."""

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    complaint_id: UUID = Field(index=True, foreign_key="complaint.id")
    channel: str
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    sender: str | None = None
    subject: str | None = None
    headers: list[list[str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    body: str = ""
    attachments: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    raw: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class IdempotencyRecord(IntakeModel, table=True):
    """The first answer to a request carrying an `Idempotency-Key`, replayed on retries."""

    __table_args__ = (UniqueConstraint("caller", "key"),)

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    caller: str
    key: str
    request_hash: str
    status_code: int | None = None
    body: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class ContractorReceipt(IntakeModel, table=True):
    """A contractor message already applied, by the contractor's own id, with its result."""

    __table_args__ = (UniqueConstraint("contractor_id", "message_id"),)

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    contractor_id: UUID
    message_id: str
    status_code: int
    result: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
