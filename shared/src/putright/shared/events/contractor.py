"""What contractor systems send on the inbound topic (or the signed webhook).

Intake validates each message, checks the contract, and maps it onto the canonical
complaint events; anything malformed or unauthorised is dead-lettered with the reason.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

ContractorAction = Literal[
    "complaint.received",
    "complaint.acknowledged",
    "complaint.extension_notified",
    "complaint.responded",
    "complaint.outstanding_action_completed",
    "complaint.remedy_completed",
    "complaint.learning_recorded",
]


class ContractorMessage(BaseModel):
    """One step of a complaint, as a contractor's own system reports it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    message_id: str = Field(min_length=1, max_length=200, description="The contractor's own id.")
    action: ContractorAction
    contractor_id: UUID
    landlord_id: UUID
    complaint_id: UUID | None = Field(default=None, description="Absent on the first message.")
    occurred_at: AwareDatetime
    body: dict[str, Any]
