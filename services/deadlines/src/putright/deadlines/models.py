"""Deadlines' tables: each landlord's calendar and every clock."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, Column
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from putright.shared.runtime import delivery_tables


class DeadlinesModel(SQLModel, registry=registry()):
    """Base of deadlines' tables, in its own metadata."""


metadata = DeadlinesModel.metadata
outbox, processed_event = delivery_tables(metadata)


class OrganisationCalendar(DeadlinesModel, table=True):
    """The days a landlord works, from its organisation profile."""

    organisation_id: UUID = Field(primary_key=True)
    nation: str
    days_off: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Clock(DeadlinesModel, table=True):
    """One step of one complaint and the date it is due."""

    id: UUID = Field(primary_key=True)
    complaint_id: UUID = Field(index=True)
    organisation_id: UUID = Field(index=True)
    handling_organisation_id: UUID
    step: str
    starts_on: date
    due_on: date = Field(index=True)
    state: str = "open"
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
