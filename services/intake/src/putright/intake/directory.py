"""Short-lived copies of what every API request looks up: the caller behind an API key
and the landlord a complaint is for.

Both change rarely (a key is revoked, a profile is updated, a contract is agreed) but
were read on every request, in a session of their own. Entries live `ttl_seconds`.
A change made through this process forgets the affected entries once its transaction
commits; a change made elsewhere (another replica, the admin command line) shows here
within `ttl_seconds`. A lookup that started before such a commit does not store what it
read, so a forgotten entry cannot come back stale.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from sqlalchemy import event
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from putright.intake.auth import Caller, KeyHolder, hash_token, key_for_token
from putright.intake.errors import NotFound
from putright.intake.models import Contract, Organisation
from putright.intake.organisations import calendar_of
from putright.shared.calendar import WorkingCalendar
from putright.shared.events import OrganisationKind

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class ContractTerms:
    """A contractor acting for a landlord in some categories (5.4, 5.5)."""

    contractor_id: UUID
    categories: frozenset[str]
    handles_stage1: bool


@dataclass(frozen=True)
class Landlord:
    """What taking a complaint in needs to know about its landlord."""

    id: UUID
    calendar: WorkingCalendar
    contracts: tuple[ContractTerms, ...]

    def stage1_contractor(self, category: str) -> UUID | None:
        """The contractor that handles stage 1 of `category`, if any."""
        return next(
            (
                c.contractor_id
                for c in self.contracts
                if c.handles_stage1 and category in c.categories
            ),
            None,
        )

    def contract_with(self, contractor_id: UUID, category: str) -> ContractTerms | None:
        """The contract under which `contractor_id` acts in `category`, if any."""
        return next(
            (
                c
                for c in self.contracts
                if c.contractor_id == contractor_id and category in c.categories
            ),
            None,
        )


async def landlord_snapshot(session: AsyncSession, organisation: Organisation) -> Landlord:
    """A landlord's calendar and contracts, read now."""
    contracts = await session.exec(select(Contract).where(Contract.landlord_id == organisation.id))
    return Landlord(
        id=organisation.id,
        calendar=calendar_of(organisation),
        contracts=tuple(
            ContractTerms(c.contractor_id, frozenset(c.categories), c.contractor_handles_stage1)
            for c in contracts
        ),
    )


async def load_landlord(session: AsyncSession, organisation_id: UUID) -> Landlord:
    """A landlord by id, read now, or not found."""
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None or organisation.kind != OrganisationKind.LANDLORD:
        raise NotFound("organisation")
    return await landlord_snapshot(session, organisation)


class Expiring(Generic[K, V]):
    """Values that expire. Concurrent misses of one key share one load; a forget also
    keeps whatever loads in flight then read from being stored or shared further."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float]) -> None:
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self.entries: dict[K, tuple[float, V]] = {}
        self.loading: dict[K, asyncio.Future[V]] = {}
        self.generation = 0

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The value of `key`, loaded with `load` when missing or expired."""
        entry = self.entries.get(key)
        if entry is not None and entry[0] > self.clock():
            return entry[1]
        pending = self.loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._load(key, load))
            self.loading[key] = pending
        # Shielded: one waiter's cancellation must not fail the others.
        return await asyncio.shield(pending)

    async def _load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        generation, started = self.generation, self.clock()
        try:
            value = await load()
        finally:
            if generation == self.generation:
                self.loading.pop(key, None)
        if value is not None and generation == self.generation and self.ttl_seconds > 0:
            self.entries[key] = (started + self.ttl_seconds, value)
        return value

    def forget(self, matches: Callable[[K, V], bool]) -> None:
        """Drop the entries that match, and stop sharing the loads in flight."""
        self.generation += 1
        self.loading.clear()
        for key in [key for key, (_, value) in self.entries.items() if matches(key, value)]:
            del self.entries[key]


class Directory:
    """In-process, short-lived callers by API key and landlords by id."""

    def __init__(
        self,
        sessions: Callable[[], Any],
        *,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self._callers: Expiring[str, KeyHolder | None] = Expiring(ttl_seconds, clock)
        self._landlords: Expiring[UUID, Landlord] = Expiring(ttl_seconds, clock)

    async def caller(self, token: str) -> Caller | None:
        """The caller a live token belongs to, if any."""

        async def load() -> KeyHolder | None:
            async with self.sessions() as session:
                return await key_for_token(session, token)

        found = await self._callers.get(hash_token(token), load)
        return found.caller if found else None

    async def landlord(self, organisation_id: UUID) -> Landlord:
        """A landlord by id, or not found."""

        async def load() -> Landlord:
            async with self.sessions() as session:
                return await load_landlord(session, organisation_id)

        return await self._landlords.get(organisation_id, load)

    def forget_key(self, session: AsyncSession, key_id: UUID) -> None:
        """Forget the caller of a key once `session`'s transaction commits."""
        _after_commit(
            session, lambda: self._callers.forget(lambda _, v: v is not None and v.key_id == key_id)
        )

    def forget_landlord(self, session: AsyncSession, organisation_id: UUID) -> None:
        """Forget a landlord once `session`'s transaction commits."""
        _after_commit(session, lambda: self._landlords.forget(lambda k, _: k == organisation_id))


def _after_commit(session: AsyncSession, forget: Callable[[], None]) -> None:
    event.listen(session.sync_session, "after_commit", lambda _: forget(), once=True)
