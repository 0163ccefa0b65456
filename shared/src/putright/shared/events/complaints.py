"""Complaint lifecycle events, published by intake on the complaints topic."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import AwareDatetime, Field

from putright.shared.events.envelope import EventData
from putright.shared.events.values import (
    Channel,
    ComplaintDefinition,
    Decision,
    ExclusionReason,
    Handler,
    Representative,
    Resident,
    Stage,
    StageResponse,
)


class ComplaintReceived(EventData):
    """A complaint reached the landlord through any channel (3.1)."""

    event_type = "complaint.received.v1"

    reference: str = Field(description="The reference the resident is given.")
    channel: Channel
    received_at: AwareDatetime = Field(description="When it actually reached the landlord.")
    description: str = Field(min_length=1)
    category: str = Field(min_length=1, description="The service area, e.g. repairs.")
    outcomes_sought: str | None = None
    issue_noticed_on: date | None = Field(default=None, description="For the 12-month rule (2.3).")
    issue_older_than_twelve_months: bool = False
    handling_organisation_id: UUID = Field(description="Landlord, or contractor handling stage 1.")
    resident: Resident
    representative: Representative | None = None
    external_reference: str | None = Field(default=None, description="The sender's own id.")


class ComplaintRefused(EventData):
    """The landlord decided not to accept the complaint (2.2, 2.4)."""

    event_type = "complaint.refused.v1"

    reason: ExclusionReason
    explanation: str = Field(min_length=1)
    refused_at: AwareDatetime
    decided_by: Handler


class Stage1Acknowledged(EventData):
    """Stage 1 acknowledged, defined and logged (6.2, 5.6)."""

    event_type = "complaint.stage1.acknowledged.v1"

    acknowledged_at: AwareDatetime
    definition: ComplaintDefinition
    handler: Handler
    response_due_on: date
    discretion_note: str | None = Field(
        default=None, description="Why an issue older than 12 months was accepted (2.3)."
    )


class ExtensionNotified(EventData):
    """The resident was told a response will take longer (6.4, 6.15, 5.9)."""

    event_type = "complaint.extension.notified.v1"

    stage: Stage
    notified_at: AwareDatetime
    extension_working_days: int = Field(gt=0)
    previous_due_on: date
    new_due_on: date
    reason: str = Field(min_length=1)
    good_reason_beyond_limit: str | None = Field(
        default=None, description="Required when the total extension exceeds the Code's limit."
    )
    update_interval_working_days: int | None = Field(default=None, gt=0)


class RelatedIssueAdded(EventData):
    """A further issue was raised during stage 1 (6.8)."""

    event_type = "complaint.related_issue.added.v1"

    issue_id: UUID
    description: str = Field(min_length=1)
    added_at: AwareDatetime
    joined_stage1: bool
    new_complaint_id: UUID | None = Field(
        default=None, description="Set when the issue became a complaint of its own."
    )


class Stage1Responded(EventData):
    """The stage 1 response was issued (6.3, 6.9)."""

    event_type = "complaint.stage1.responded.v1"

    responded_at: AwareDatetime
    handler: Handler
    response: StageResponse


class EscalationRequested(EventData):
    """The resident asked for stage 2; no reason is needed (6.12)."""

    event_type = "complaint.escalation.requested.v1"

    requested_at: AwareDatetime
    channel: Channel
    resident_reason: str | None = None


class Stage2Acknowledged(EventData):
    """Stage 2 accepted, acknowledged, defined and logged (6.11)."""

    event_type = "complaint.stage2.acknowledged.v1"

    acknowledged_at: AwareDatetime
    definition: ComplaintDefinition
    handler: Handler
    response_due_on: date


class EscalationRefused(EventData):
    """The landlord refused to escalate to stage 2, with reasons (5.11, section 2)."""

    event_type = "complaint.escalation.refused.v1"

    reason: ExclusionReason
    explanation: str = Field(min_length=1)
    refused_at: AwareDatetime
    decided_by: Handler


class Stage2Responded(EventData):
    """The stage 2 final response was issued (6.14, 6.19)."""

    event_type = "complaint.stage2.responded.v1"

    responded_at: AwareDatetime
    handler: Handler
    response: StageResponse


class OutstandingActionCompleted(EventData):
    """An action promised in a response is done (6.6, 6.17)."""

    event_type = "complaint.outstanding_action.completed.v1"

    action_id: UUID
    completed_at: AwareDatetime
    note: str | None = None


class RemedyCompleted(EventData):
    """A remedy offered has been carried out (7.3)."""

    event_type = "complaint.remedy.completed.v1"

    remedy_id: UUID
    completed_at: AwareDatetime
    note: str | None = None


class ComplaintWithdrawn(EventData):
    """The resident withdrew the complaint."""

    event_type = "complaint.withdrawn.v1"

    withdrawn_at: AwareDatetime
    reason: str | None = None


class ComplaintClosed(EventData):
    """The complaint is closed: responded to and every action and remedy done."""

    event_type = "complaint.closed.v1"

    closed_at: AwareDatetime
    final_stage: Stage
    decision: Decision | None = None


class LearningRecorded(EventData):
    """What the landlord learned from the complaint and what it changed (9.1, 8.1 d)."""

    event_type = "complaint.learning.recorded.v1"

    learning_id: UUID
    recorded_at: AwareDatetime
    lesson: str = Field(min_length=1)
    service_improvement: str | None = None
    service_area: str | None = None
