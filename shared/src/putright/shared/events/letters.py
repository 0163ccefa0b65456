"""Letter events, published by the letters service on the letters topic."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import AwareDatetime, Field

from putright.shared.events.envelope import EventData


class LetterKind(StrEnum):
    """The standard letters the Code's process needs."""

    RECEIPT = "receipt"
    STAGE1_ACKNOWLEDGEMENT = "stage1_acknowledgement"
    REFUSAL = "refusal"
    EXTENSION = "extension"
    STAGE1_RESPONSE = "stage1_response"
    STAGE2_ACKNOWLEDGEMENT = "stage2_acknowledgement"
    ESCALATION_REFUSAL = "escalation_refusal"
    STAGE2_RESPONSE = "stage2_response"
    OUTSTANDING_ACTION_UPDATE = "outstanding_action_update"
    LATE_RESPONSE_UPDATE = "late_response_update"


class Delivery(StrEnum):
    """How a letter reaches its recipient."""

    EMAIL = "email"
    POST = "post"


class LetterEvent(EventData):
    """Fields every letter event carries."""

    letter_id: UUID
    kind: LetterKind
    caused_by_event_id: UUID


class LetterRendered(LetterEvent):
    """A letter was rendered and is ready to send or print."""

    event_type = "letter.rendered.v1"

    delivery: Delivery
    message_id: str
    to_representative: bool = False


class LetterSent(LetterEvent):
    """A letter was accepted by the mail server (email) or queued for print (post)."""

    event_type = "letter.sent.v1"

    delivery: Delivery
    message_id: str
    sent_at: AwareDatetime


class LetterDeliveryFailed(LetterEvent):
    """Sending gave up after its retries."""

    event_type = "letter.delivery_failed.v1"

    attempts: int
    last_error: str


class LetterBlocked(LetterEvent):
    """A letter lacked content the Code requires, so it was not sent."""

    event_type = "letter.blocked.v1"

    missing_items: list[str] = Field(min_length=1, description="e.g. ['e: remedy']")
