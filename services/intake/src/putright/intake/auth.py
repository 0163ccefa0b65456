"""API keys and the caller they identify.

A key is `pr_<prefix>_<secret>`, 32 random bytes from `secrets`. Only its SHA-256 is
stored: the token is high-entropy, so a fast unsalted hash cannot be brute-forced and
allows a direct indexed lookup (password hashes such as bcrypt exist for low-entropy
secrets and would cost a slow hash per request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from putright.intake.models import ApiKey, Organisation
from putright.intake.settings import IntakeSettings
from putright.shared.api import get_runtime
from putright.shared.events import OrganisationKind

if TYPE_CHECKING:
    from putright.intake.directory import Directory

TOKEN_PREFIX = "pr_"  # noqa: S105 - a prefix, not a secret


class Scope(StrEnum):
    """What a key may do."""

    SUBMIT = "submit"
    HANDLE = "handle"
    REPORT = "report"
    ADMIN = "admin"


@dataclass(frozen=True)
class Caller:
    """The organisation behind a request, and what its key allows."""

    organisation_id: UUID
    kind: OrganisationKind
    scopes: frozenset[Scope]

    @property
    def is_landlord(self) -> bool:
        """Landlords own complaints; contractors handle some for them."""
        return self.kind is OrganisationKind.LANDLORD


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh token and the short prefix that identifies it in listings."""
    prefix = secrets.token_hex(4)
    return f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix


@dataclass(frozen=True)
class KeyHolder:
    """A live key's id and the caller it identifies."""

    key_id: UUID
    caller: Caller


async def key_for_token(session: AsyncSession, token: str) -> KeyHolder | None:
    """The live key a token is, and its caller, if any."""
    row = (
        await session.exec(
            select(ApiKey, Organisation)
            .join(Organisation, Organisation.id == ApiKey.organisation_id)  # type: ignore[arg-type]
            .where(ApiKey.token_hash == hash_token(token), ApiKey.revoked_at.is_(None))  # type: ignore[union-attr]
        )
    ).first()
    if row is None:
        return None
    key, organisation = row
    return KeyHolder(
        key_id=key.id,
        caller=Caller(
            organisation_id=organisation.id,
            kind=OrganisationKind(organisation.kind),
            scopes=frozenset(Scope(scope) for scope in key.scopes),
        ),
    )


bearer = HTTPBearer(auto_error=False, description="An organisation's API key.")


async def authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The caller of a request carrying `Authorization: Bearer <api key>`."""
    unauthorised = HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "a valid API key is required",
        headers={"WWW-Authenticate": "Bearer"},
    )
    if credentials is None:
        raise unauthorised
    directory: Directory = request.app.state.directory
    caller = await directory.caller(credentials.credentials)
    if caller is None:
        raise unauthorised
    return caller


def requires(scope: Scope) -> Any:
    """A dependency giving the caller, refusing keys without `scope`."""

    async def check(caller: Annotated[Caller, Depends(authenticated)]) -> Caller:
        if scope not in caller.scopes:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this key lacks the {scope} scope")
        return caller

    return Depends(check)


SubmitCaller = Annotated[Caller, requires(Scope.SUBMIT)]
HandleCaller = Annotated[Caller, requires(Scope.HANDLE)]
ReportCaller = Annotated[Caller, requires(Scope.REPORT)]
AdminCaller = Annotated[Caller, requires(Scope.ADMIN)]


async def platform_admin(
    request: Request, x_admin_token: Annotated[str | None, Header()] = None
) -> None:
    """Allow only the platform administrator (the token in settings)."""
    settings: IntakeSettings = get_runtime(request).settings  # type: ignore[assignment]
    expected = settings.admin_token
    if (
        expected is None
        or x_admin_token is None
        or not hmac.compare_digest(expected.get_secret_value(), x_admin_token)
    ):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the platform admin token is required")


PlatformAdmin = Depends(platform_admin)
