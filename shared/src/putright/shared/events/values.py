"""Value types the event payloads are built from, named after the Code's own terms."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

HEADER_UNSAFE = "\r\n\x00"


def header_safe(value: str) -> str:
    """Refuse CR, LF and NUL, which would let a value forge an email header."""
    if any(character in value for character in HEADER_UNSAFE):
        raise ValueError("must not contain line breaks or NUL characters")
    return value


HeaderSafeStr = Annotated[str, AfterValidator(header_safe)]
"""Text that may reach an email header (names, subjects)."""


class Value(BaseModel):
    """Base of every value type: immutable, and tolerant of fields added later."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Stage(IntEnum):
    """The Code allows exactly two stages (5.2, 5.3)."""

    ONE = 1
    TWO = 2


class Channel(StrEnum):
    """How the complaint reached the landlord (3.1, 3.2)."""

    WEB = "web"
    EMAIL = "email"
    PHONE = "phone"
    IN_PERSON = "in_person"
    LETTER = "letter"
    SOCIAL_MEDIA = "social_media"
    REPRESENTATIVE = "representative"
    CONTRACTOR = "contractor"
    OTHER = "other"


class ExclusionReason(StrEnum):
    """The Code's acceptable reasons not to accept a complaint (2.2)."""

    ISSUE_OVER_TWELVE_MONTHS = "issue_over_twelve_months"
    LEGAL_PROCEEDINGS = "legal_proceedings"
    ALREADY_CONSIDERED = "already_considered"


class Decision(StrEnum):
    """The outcome of a stage response (6.9 c, 6.19 c)."""

    UPHELD = "upheld"
    PARTLY_UPHELD = "partly_upheld"
    NOT_UPHELD = "not_upheld"


class RemedyKind(StrEnum):
    """Ways of putting things right (section 7)."""

    APOLOGY = "apology"
    ACKNOWLEDGEMENT = "acknowledgement"
    EXPLANATION = "explanation"
    ACTION = "action"
    RECONSIDER_DECISION = "reconsider_decision"
    AMEND_RECORD = "amend_record"
    FINANCIAL = "financial"
    CHANGE_POLICY = "change_policy"


class ContactPreference(StrEnum):
    """How the resident wants to hear from the landlord."""

    EMAIL = "email"
    POST = "post"
    PHONE = "phone"


class LetterFormat(StrEnum):
    """Formats a reasonable adjustment may ask for (5.10)."""

    STANDARD = "standard"
    LARGE_PRINT = "large_print"
    EASY_READ = "easy_read"


class PostalAddress(Value):
    """A UK postal address."""

    lines: list[str] = Field(min_length=1, max_length=6)
    postcode: str = Field(min_length=2, max_length=10)


class Resident(Value):
    """The resident's contact details and needs, as letters need them (5.10).

    Disclosed disabilities stay in intake: only the adjustments agreed travel on.
    """

    name: HeaderSafeStr = Field(min_length=1, max_length=200)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=40)
    address: PostalAddress | None = None
    contact_preference: ContactPreference = ContactPreference.EMAIL
    letter_format: LetterFormat = LetterFormat.STANDARD
    reasonable_adjustments: list[str] = Field(default_factory=list)


class Representative(Value):
    """Someone acting for the resident with their consent (1.3, 3.6)."""

    name: HeaderSafeStr = Field(min_length=1, max_length=200)
    relationship: str = Field(
        min_length=1, max_length=100, description="e.g. councillor, MP, advocate"
    )
    email: EmailStr | None = None
    address: PostalAddress | None = None
    consent_recorded_on: date
    receives_correspondence: bool = True


class Handler(Value):
    """The member of staff who handles a stage; 6.13 compares these across stages."""

    organisation_id: UUID
    staff_id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)


class NotResponsibleAspect(Value):
    """Part of a complaint the landlord is not responsible for, and who is (5.7)."""

    aspect: str = Field(min_length=1)
    explanation: str = Field(min_length=1)


class ComplaintDefinition(Value):
    """The landlord's written understanding of the complaint (5.6, 5.7)."""

    summary: str = Field(min_length=1, description="What the complaint is about.")
    outcomes_sought: str = Field(min_length=1, description="What the resident wants to happen.")
    not_responsible_for: list[NotResponsibleAspect] = Field(default_factory=list)


class Remedy(Value):
    """A remedy offered: what will happen and by when (7.3)."""

    remedy_id: UUID
    kind: RemedyKind
    description: str = Field(min_length=1)
    due_on: date | None = None
    compensation_gbp: Decimal | None = Field(default=None, ge=0, decimal_places=2)


class OutstandingAction(Value):
    """Work still to do after the response, tracked to completion (6.6, 6.17)."""

    action_id: UUID
    description: str = Field(min_length=1)
    due_on: date


class StageResponse(Value):
    """The content a stage response must carry, items a–g of 6.9 and 6.19."""

    stage: Stage  # a
    complaint_definition: str = Field(min_length=1)  # b
    decision: Decision  # c
    reasons: str = Field(min_length=1)  # d
    remedies: list[Remedy] = Field(default_factory=list)  # e
    no_remedy_reason: str | None = Field(
        default=None, description="Why no remedy is offered; required when `remedies` is empty."
    )
    outstanding_actions: list[OutstandingAction] = Field(default_factory=list)  # f
    how_to_escalate: str = Field(min_length=1)  # g
