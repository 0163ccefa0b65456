"""Reporting's read models, projected from the events."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Column, DateTime
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from putright.shared.runtime import delivery_tables


class ReportingModel(SQLModel, registry=registry()):
    """Base of reporting's tables, in its own metadata."""


metadata = ReportingModel.metadata
outbox, processed_event = delivery_tables(metadata)


class RegisterEntry(ReportingModel, table=True):
    """The complaints register: one row per complaint with the dates that matter."""

    complaint_id: UUID = Field(primary_key=True)
    organisation_id: UUID = Field(index=True)
    handling_organisation_id: UUID
    reference: str
    channel: str
    category: str
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
