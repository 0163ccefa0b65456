"""Organisation events, published by intake (which owns organisations) on the organisations topic.

Every service keeps its own copy of the profile it needs from these snapshots:
deadlines the calendar, letters the branding, reporting the number of homes.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from uuid import UUID

from pydantic import EmailStr, Field

from putright.shared.events.envelope import EventData
from putright.shared.events.values import PostalAddress, Value


class OrganisationKind(StrEnum):
    """Landlords own complaints; contractors handle some on a landlord's behalf (5.4)."""

    LANDLORD = "landlord"
    CONTRACTOR = "contractor"


class Nation(StrEnum):
    """UK nations whose bank holidays differ."""

    ENGLAND_AND_WALES = "england_and_wales"
    SCOTLAND = "scotland"
    NORTHERN_IRELAND = "northern_ireland"


class Branding(Value):
    """What a landlord may change in its letters; the Code's content is never among it."""

    logo_url: str | None = None
    primary_colour: str = Field(default="#1d4f91", pattern=r"^#[0-9a-fA-F]{6}$")
    signatory_name: str = "Complaints Team"
    signatory_role: str = "Complaints Team"
    footer: str | None = None


class OrganisationProfile(EventData):
    """The full current profile of an organisation; each one replaces the last."""

    event_type = "organisation.profile.v1"

    name: str = Field(min_length=1)
    kind: OrganisationKind
    homes: int | None = Field(default=None, ge=0, description="Homes owned, for CH01.")
    nation: Nation = Nation.ENGLAND_AND_WALES
    closure_days: list[date] = Field(default_factory=list)
    extra_holidays: list[date] = Field(default_factory=list)
    sender_email: EmailStr | None = None
    complaints_email: EmailStr | None = None
    postal_address: PostalAddress | None = None
    phone: str | None = None
    branding: Branding = Field(default_factory=Branding)


class ContractAgreed(EventData):
    """A contractor acts for a landlord for some service categories (5.4, 5.5)."""

    event_type = "organisation.contract.agreed.v1"

    contract_id: UUID
    landlord_id: UUID
    contractor_id: UUID
    categories: list[str] = Field(min_length=1)
    contractor_handles_stage1: bool
