"""Letters' tables: every letter, from pending to sent or failed."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Column, DateTime, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from putright.shared.runtime import delivery_tables


class LettersModel(SQLModel, registry=registry()):
    """Base of letters' tables, in its own metadata."""


metadata = LettersModel.metadata
outbox, processed_event = delivery_tables(metadata)


class Letter(LettersModel, table=True):
    """One letter to one recipient: what was rendered and what became of it."""

    id: UUID = Field(primary_key=True)
    complaint_id: UUID = Field(index=True)
    organisation_id: UUID = Field(index=True)
    kind: str
    caused_by_event_id: UUID
    correlation_id: UUID
    message_id: str = Field(unique=True)
    recipient: str
    subject: str
    html: str = Field(sa_column=Column(Text, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", index=True)
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
