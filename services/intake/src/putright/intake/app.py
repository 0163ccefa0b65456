"""Intake's HTTP API (the thin first slice: organisations and web complaints)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from uuid import UUID, uuid4

from fastapi import FastAPI, HTTPException, status
from pydantic import BaseModel, Field

from putright.intake.models import Complaint, Organisation, metadata
from putright.intake.settings import IntakeSettings
from putright.shared.api import SessionDep
from putright.shared.events import ComplaintReceived, OrganisationProfile, new_event
from putright.shared.events.envelope import utc_now
from putright.shared.events.values import Channel, Representative, Resident
from putright.shared.runtime import Runtime

SOURCE = "putright/intake"


class ComplaintSubmission(BaseModel):
    """What a resident or their landlord's website submits."""

    organisation_id: UUID
    description: str = Field(min_length=1, max_length=20_000)
    category: str = Field(min_length=1, max_length=100)
    outcomes_sought: str | None = Field(default=None, max_length=5_000)
    issue_noticed_on: date | None = None
    resident: Resident
    representative: Representative | None = None


class ComplaintAccepted(BaseModel):
    """What the submitter gets back."""

    id: UUID
    reference: str


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    """Build the intake service around one runtime."""
    runtime = Runtime("intake", settings or IntakeSettings(), metadata)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            yield

    app = FastAPI(title="Putright intake", lifespan=lifespan)
    app.state.runtime = runtime

    @app.post("/v1/organisations", status_code=status.HTTP_201_CREATED)
    async def register_organisation(
        profile: OrganisationProfile, db: SessionDep
    ) -> dict[str, UUID]:
        organisation = Organisation(
            name=profile.name, kind=profile.kind, profile=profile.model_dump(mode="json")
        )
        db.add(organisation)
        await runtime.emit(
            db,
            new_event(
                profile, source=SOURCE, subject=organisation.id, organisation_id=organisation.id
            ),
        )
        return {"id": organisation.id}

    @app.post("/v1/complaints", status_code=status.HTTP_201_CREATED)
    async def submit_complaint(
        submission: ComplaintSubmission, db: SessionDep
    ) -> ComplaintAccepted:
        if await db.get(Organisation, submission.organisation_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "organisation not found")
        complaint_id = uuid4()
        received = ComplaintReceived(
            reference=f"C-{complaint_id.hex[:10].upper()}",
            channel=Channel.WEB,
            received_at=utc_now(),
            description=submission.description,
            category=submission.category,
            outcomes_sought=submission.outcomes_sought,
            issue_noticed_on=submission.issue_noticed_on,
            handling_organisation_id=submission.organisation_id,
            resident=submission.resident,
            representative=submission.representative,
        )
        db.add(
            Complaint(
                id=complaint_id,
                organisation_id=submission.organisation_id,
                reference=received.reference,
                channel=received.channel,
                received_at=received.received_at,
                status="received",
                submission=submission.model_dump(mode="json"),
            )
        )
        await runtime.emit(
            db,
            new_event(
                received,
                source=SOURCE,
                subject=complaint_id,
                organisation_id=submission.organisation_id,
            ),
        )
        return ComplaintAccepted(id=complaint_id, reference=received.reference)

    return app
