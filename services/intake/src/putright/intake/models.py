"""Intake's tables: organisations and the complaints it has taken in."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import JSON, Column, DateTime
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from putright.shared.runtime import delivery_tables


class IntakeModel(SQLModel, registry=registry()):
    """Base of intake's tables, in intake's own metadata."""


metadata = IntakeModel.metadata
outbox, processed_event = delivery_tables(metadata)


class Organisation(IntakeModel, table=True):
    """A landlord or contractor using Putright."""

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    name: str
    kind: str
    profile: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class Complaint(IntakeModel, table=True):
    """A complaint as intake holds it: the original submission and where it stands."""

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    organisation_id: UUID = Field(index=True, foreign_key="organisation.id")
    reference: str = Field(unique=True)
    channel: str
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    status: str
    submission: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
