"""Which organisation a request to a read-only service speaks for.

Only intake holds API keys. In front of the other services the platform's ingress
authenticates the caller's key with intake and forwards the request with the header
below set to the caller's organisation, removing any value the client sent. Those
services trust the header only from the ingress (the trust boundary is the cluster
network; see docs/deadlines.md) and never show one organisation another's data:
anything not the caller's is reported as not found, so ids cannot be probed.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, HTTPException, status

ORGANISATION_HEADER = "X-Putright-Organisation"


def caller_organisation(
    organisation: Annotated[UUID | None, Header(alias=ORGANISATION_HEADER)] = None,
) -> UUID:
    """The organisation the ingress authenticated, or 401 when the header is absent."""
    if organisation is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, f"the {ORGANISATION_HEADER} header is required"
        )
    return organisation


def not_found(what: str) -> HTTPException:
    """The one answer for "missing" and "not yours" alike (404, never 403)."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} not found")


CallerOrganisationDep = Annotated[UUID, Depends(caller_organisation)]
