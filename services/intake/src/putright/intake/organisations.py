"""Organisations, contracts and API keys: the platform-admin path and each organisation's own."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from uuid import UUID, uuid4

from pydantic import BaseModel, Field, field_validator
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from putright.intake.auth import Scope, hash_token, new_token
from putright.intake.errors import NotFound, RuleViolation
from putright.intake.models import ApiKey, Contract, Organisation
from putright.shared.calendar import WorkingCalendar
from putright.shared.events import (
    ContractAgreed,
    Nation,
    OrganisationKind,
    OrganisationProfile,
    new_event,
)
from putright.shared.events.envelope import utc_now
from putright.shared.events.values import header_safe
from putright.shared.runtime import Runtime

SOURCE = "putright/intake"


class OrganisationCreate(OrganisationProfile):
    """A new organisation: its profile, and optionally the slug of its web form."""

    slug: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{1,60}$")

    @field_validator("name")
    @classmethod
    def _name_fits_a_header(cls, name: str) -> str:
        # The name becomes the display name of letters' From header.
        return header_safe(name)


class OrganisationPublic(BaseModel):
    """An organisation as its own systems and the admin see it."""

    id: UUID
    slug: str
    profile: OrganisationProfile


class OrganisationCreated(OrganisationPublic):
    """Shown once: a contractor's webhook secret."""

    webhook_secret: str | None = None


class ContractCreate(BaseModel):
    """A contract between a landlord and a contractor."""

    landlord_id: UUID
    contractor_id: UUID
    categories: list[str] = Field(min_length=1, max_length=50)
    contractor_handles_stage1: bool


class ApiKeyCreate(BaseModel):
    """A key to issue."""

    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1)


class ApiKeyPublic(BaseModel):
    """A key as listings show it: never the token."""

    id: UUID
    organisation_id: UUID
    name: str
    prefix: str
    scopes: list[Scope]
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    """The only time the token is shown."""

    token: str


def slugify(name: str) -> str:
    """A URL-safe slug from a name."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:50] or "organisation"


def calendar_of(organisation: Organisation) -> WorkingCalendar:
    """The landlord's working days, as the Code counts them."""
    profile = OrganisationProfile.model_validate(organisation.profile)
    return WorkingCalendar(Nation(profile.nation), [*profile.closure_days, *profile.extra_holidays])


async def _unique_slug(session: AsyncSession, wanted: str) -> str:
    slug, suffix = wanted, 1
    while (await session.exec(select(Organisation).where(Organisation.slug == slug))).first():
        suffix += 1
        slug = f"{wanted}-{suffix}"
    return slug


async def create_organisation(
    session: AsyncSession, runtime: Runtime, *, created: OrganisationCreate
) -> OrganisationCreated:
    """Register an organisation and publish its first profile snapshot."""
    profile = OrganisationProfile.model_validate(created.model_dump(exclude={"slug"}))
    await _ensure_complaints_email_free(session, profile.complaints_email, None)
    if (
        created.slug
        and (
            await session.exec(select(Organisation).where(Organisation.slug == created.slug))
        ).first()
    ):
        raise RuleViolation("slug is taken", rule="unique", loc=("body", "slug"))
    organisation = Organisation(
        name=profile.name,
        kind=profile.kind,
        slug=created.slug or await _unique_slug(session, slugify(profile.name)),
        profile=profile.model_dump(mode="json"),
        complaints_email=_lower(profile.complaints_email),
        webhook_secret=secrets.token_urlsafe(32)
        if profile.kind is OrganisationKind.CONTRACTOR
        else None,
    )
    session.add(organisation)
    await session.flush()
    await _publish_profile(session, runtime, organisation, profile)
    return OrganisationCreated(
        id=organisation.id,
        slug=organisation.slug,
        profile=profile,
        webhook_secret=organisation.webhook_secret,
    )


async def update_profile(
    session: AsyncSession, runtime: Runtime, *, organisation_id: UUID, profile: OrganisationProfile
) -> OrganisationPublic:
    """Replace an organisation's profile and publish the new snapshot."""
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound("organisation")
    if profile.kind != organisation.kind:
        raise RuleViolation(
            "an organisation's kind cannot change", rule="kind", loc=("body", "kind")
        )
    await _ensure_complaints_email_free(session, profile.complaints_email, organisation.id)
    organisation.name = profile.name
    organisation.profile = profile.model_dump(mode="json")
    organisation.complaints_email = _lower(profile.complaints_email)
    session.add(organisation)
    await _publish_profile(session, runtime, organisation, profile)
    return OrganisationPublic(id=organisation.id, slug=organisation.slug, profile=profile)


def _lower(email: str | None) -> str | None:
    return email.lower() if email else None


async def _ensure_complaints_email_free(
    session: AsyncSession, email: str | None, owner: UUID | None
) -> None:
    if email is None:
        return
    holder = (
        await session.exec(
            select(Organisation).where(Organisation.complaints_email == email.lower())
        )
    ).first()
    if holder is not None and holder.id != owner:
        raise RuleViolation(
            "another organisation already receives complaints at this address",
            rule="unique",
            loc=("body", "complaints_email"),
        )


async def _publish_profile(
    session: AsyncSession,
    runtime: Runtime,
    organisation: Organisation,
    profile: OrganisationProfile,
) -> None:
    await runtime.emit(
        session,
        new_event(profile, source=SOURCE, subject=organisation.id, organisation_id=organisation.id),
    )


async def get_organisation(session: AsyncSession, *, organisation_id: UUID) -> OrganisationPublic:
    """One organisation's public view."""
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound("organisation")
    return OrganisationPublic(
        id=organisation.id,
        slug=organisation.slug,
        profile=OrganisationProfile.model_validate(organisation.profile),
    )


async def agree_contract(
    session: AsyncSession, runtime: Runtime, *, contract: ContractCreate
) -> ContractAgreed:
    """Record a contract and publish it on the organisations stream."""
    landlord = await session.get(Organisation, contract.landlord_id)
    contractor = await session.get(Organisation, contract.contractor_id)
    if landlord is None or landlord.kind != OrganisationKind.LANDLORD:
        raise RuleViolation("no such landlord", rule="5.4", loc=("body", "landlord_id"))
    if contractor is None or contractor.kind != OrganisationKind.CONTRACTOR:
        raise RuleViolation("no such contractor", rule="5.4", loc=("body", "contractor_id"))
    categories = sorted({category.strip().lower() for category in contract.categories})
    row = Contract(
        id=uuid4(),
        landlord_id=landlord.id,
        contractor_id=contractor.id,
        categories=categories,
        contractor_handles_stage1=contract.contractor_handles_stage1,
    )
    session.add(row)
    agreed = ContractAgreed(
        contract_id=row.id,
        landlord_id=landlord.id,
        contractor_id=contractor.id,
        categories=categories,
        contractor_handles_stage1=contract.contractor_handles_stage1,
    )
    await runtime.emit(
        session, new_event(agreed, source=SOURCE, subject=landlord.id, organisation_id=landlord.id)
    )
    return agreed


async def issue_key(
    session: AsyncSession, *, organisation_id: UUID, key: ApiKeyCreate
) -> ApiKeyCreated:
    """Issue an API key; the token is returned now and never again."""
    if await session.get(Organisation, organisation_id) is None:
        raise NotFound("organisation")
    token, prefix = new_token()
    row = ApiKey(
        organisation_id=organisation_id,
        name=key.name,
        prefix=prefix,
        token_hash=hash_token(token),
        scopes=sorted({scope.value for scope in key.scopes}),
    )
    session.add(row)
    await session.flush()
    return ApiKeyCreated(**_key_public(row).model_dump(), token=token)


def _key_public(row: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic(
        id=row.id,
        organisation_id=row.organisation_id,
        name=row.name,
        prefix=row.prefix,
        scopes=[Scope(scope) for scope in row.scopes],
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


async def list_keys(session: AsyncSession, *, organisation_id: UUID) -> list[ApiKeyPublic]:
    """An organisation's keys, live and revoked."""
    rows = await session.exec(
        select(ApiKey).where(ApiKey.organisation_id == organisation_id).order_by(ApiKey.created_at)  # type: ignore[arg-type]
    )
    return [_key_public(row) for row in rows]


async def revoke_key(
    session: AsyncSession, *, organisation_id: UUID | None, key_id: UUID
) -> ApiKeyPublic:
    """Revoke a key (of `organisation_id`, unless the platform admin asks)."""
    row = await session.get(ApiKey, key_id)
    if row is None or (organisation_id is not None and row.organisation_id != organisation_id):
        raise NotFound("API key")
    if row.revoked_at is None:
        row.revoked_at = utc_now()
        session.add(row)
    return _key_public(row)
