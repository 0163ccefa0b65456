"""Idempotent consumers: each event is applied at most once per consumer, in the same
transaction that records its id, and the Kafka offset is committed only afterwards.

A redelivered event (after a crash between the database commit and the offset
commit, or a rebalance) finds its id recorded and is skipped. An event that keeps
failing is retried a bounded number of times, then sent to the dead-letter topic
with the error, and the consumer moves on.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from uuid import UUID

from faststream.kafka import KafkaBroker
from pydantic import ValidationError
from sqlalchemy import Column, DateTime, MetaData, PrimaryKeyConstraint, String, Table, Uuid, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from putright.shared.events import Event, EventData, UnknownEventTypeError, parse_event
from putright.shared.observability import (
    DEAD_LETTERED,
    EVENTS_CONSUMED,
    consuming,
    consuming_batch,
)
from putright.shared.topics import DEAD_LETTER_SUFFIX

logger = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Event[Any]], Awaitable[None]]
# Applies a run of consecutive events in one go (one query for many rows), in order.
BatchHandler = Callable[[AsyncSession, Sequence[Event[Any]]], Awaitable[None]]


def processed_event_table(metadata: MetaData) -> Table:
    """The ids of the events each consumer has applied, declared in a service's metadata."""
    return Table(
        "processed_event",
        metadata,
        Column("consumer", String(100), nullable=False),
        Column("event_id", Uuid, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id"),
    )


def _parse_or_none(raw: bytes) -> Event[Any] | None:
    try:
        return parse_event(raw)
    except (ValidationError, UnknownEventTypeError, ValueError):
        return None


class Outcome(StrEnum):
    """What happened to one message."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class Origin:
    """Where a message came from, for the dead-letter record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()


@dataclass
class Consumer:
    """Applies events to a service's database exactly once, or dead-letters them."""

    name: str
    sessions: async_sessionmaker[AsyncSession]
    processed: Table
    broker: KafkaBroker
    handlers: dict[type[EventData], Handler] = field(default_factory=dict)
    batch_handlers: dict[type[EventData], BatchHandler] = field(default_factory=dict)
    max_attempts: int = 5
    backoff_seconds: float = 0.2
    after_commit: Callable[[], None] = lambda: None

    def on(self, *data_types: type[EventData]) -> Callable[[Handler], Handler]:
        """Register a handler for one or more event types."""

        def register(handler: Handler) -> Handler:
            for data_type in data_types:
                self.handlers[data_type] = handler
            return handler

        return register

    def on_batch(self, *data_types: type[EventData]) -> Callable[[BatchHandler], BatchHandler]:
        """Register a handler given every consecutive event of these types at once."""

        def register(handler: BatchHandler) -> BatchHandler:
            for data_type in data_types:
                self.batch_handlers[data_type] = handler
            return handler

        return register

    def handles(self, event: Event[Any]) -> bool:
        """Whether this consumer applies events of this type (others are ignored)."""
        data_type = type(event.data)
        return data_type in self.handlers or data_type in self.batch_handlers

    async def process(self, raw: bytes, origin: Origin) -> Outcome:
        """Apply one message, retrying a bounded number of times, else dead-letter it."""
        try:
            event = parse_event(raw)
        except (ValidationError, UnknownEventTypeError, ValueError) as error:
            await self.dead_letter(raw, origin, reason=f"invalid event: {error}", attempts=0)
            return Outcome.DEAD_LETTERED
        if not self.handles(event):
            return Outcome.IGNORED
        with consuming(
            f"{self.name} {event.type}", origin.headers, str(event.correlation_id)
        ) as span:
            span.set_attribute("messaging.message.id", str(event.id))
            outcome = await self._apply_with_retries(raw, origin, event)
        EVENTS_CONSUMED.labels(self.name, outcome.value).inc()
        return outcome

    async def process_batch(self, messages: Sequence[tuple[bytes, Origin]]) -> list[Outcome]:
        """Apply a batch of messages in one transaction (one commit, one offset commit);
        if any message is invalid or the batch fails, fall back to one at a time."""
        events = [_parse_or_none(raw) for raw, _ in messages]
        if len(messages) == 1 or any(event is None for event in events):
            return [await self.process(raw, origin) for raw, origin in messages]
        try:
            outcomes = await self._apply_batch(
                [
                    (event, origin)
                    for event, (_, origin) in zip(events, messages, strict=True)
                    if event
                ]
            )
        except Exception:
            logger.warning(
                "consumer %s: a batch failed; applying one at a time", self.name, exc_info=True
            )
            return [await self.process(raw, origin) for raw, origin in messages]
        for outcome in outcomes:
            EVENTS_CONSUMED.labels(self.name, outcome.value).inc()
        if Outcome.APPLIED in outcomes:
            self.after_commit()
        return outcomes

    async def _apply_batch(self, batch: Sequence[tuple[Event[Any], Origin]]) -> list[Outcome]:
        outcomes = [Outcome.IGNORED] * len(batch)
        handled = [index for index, (event, _) in enumerate(batch) if self.handles(event)]
        if not handled:
            return outcomes
        async with self.sessions() as session, session.begin():
            fresh = await self._record_many(session, [batch[index][0] for index in handled])
            to_apply: list[tuple[Event[Any], Origin]] = []
            for index in handled:
                event, origin = batch[index]
                if event.id not in fresh:
                    outcomes[index] = Outcome.DUPLICATE
                    continue
                fresh.discard(event.id)  # the same event twice in one batch applies once
                to_apply.append((event, origin))
                outcomes[index] = Outcome.APPLIED
            await self._dispatch(session, to_apply)
        return outcomes

    async def _dispatch(
        self, session: AsyncSession, messages: Sequence[tuple[Event[Any], Origin]]
    ) -> None:
        """Apply events in order: a run of consecutive events sharing a batch handler goes
        to it in one call; any other event to its own handler."""
        for _, run in itertools.groupby(messages, key=self._run_key):
            group = list(run)
            batch_handler = self.batch_handlers.get(type(group[0][0].data))
            if batch_handler is not None:
                with consuming_batch(f"{self.name} batch", [origin.headers for _, origin in group]):
                    await batch_handler(session, [event for event, _ in group])
                continue
            for event, origin in group:
                with consuming(
                    f"{self.name} {event.type}", origin.headers, str(event.correlation_id)
                ) as span:
                    span.set_attribute("messaging.message.id", str(event.id))
                    await self.handlers[type(event.data)](session, event)

    def _run_key(self, message: tuple[Event[Any], Origin]) -> object:
        # Events with a per-event handler get a key of their own, so they never group.
        event = message[0]
        return self.batch_handlers.get(type(event.data)) or event.id

    async def _record_many(self, session: AsyncSession, events: Sequence[Event[Any]]) -> set[UUID]:
        """Record many event ids at once; returns those not applied before."""
        statement = (
            self._insert(session)(self.processed)
            .values([{"consumer": self.name, "event_id": event.id} for event in events])
            .on_conflict_do_nothing()
            .returning(self.processed.c.event_id)
        )
        result = await (await session.connection()).execute(statement)
        return set(result.scalars())

    @staticmethod
    def _insert(session: AsyncSession) -> Any:
        dialect = session.bind.dialect.name if session.bind else "postgresql"
        return pg_insert if dialect == "postgresql" else sqlite_insert

    async def _apply_with_retries(self, raw: bytes, origin: Origin, event: Event[Any]) -> Outcome:
        for attempt in range(1, self.max_attempts + 1):
            try:
                outcome = await self._apply_once(event)
            except Exception as error:
                logger.warning(
                    "consumer %s failed on event %s (attempt %d)",
                    self.name,
                    event.id,
                    attempt,
                    exc_info=True,
                )
                if attempt == self.max_attempts:
                    await self.dead_letter(raw, origin, reason=repr(error), attempts=attempt)
                    return Outcome.DEAD_LETTERED
                await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))
            else:
                if outcome is Outcome.APPLIED:
                    self.after_commit()
                return outcome
        raise AssertionError("unreachable")

    async def _apply_once(self, event: Event[Any]) -> Outcome:
        async with self.sessions() as session, session.begin():
            if not await self._record(session, event):
                return Outcome.DUPLICATE
            batch_handler = self.batch_handlers.get(type(event.data))
            if batch_handler is not None:
                await batch_handler(session, [event])
            else:
                await self.handlers[type(event.data)](session, event)
        return Outcome.APPLIED

    async def _record(self, session: AsyncSession, event: Event[Any]) -> bool:
        """Record the event id; False when this consumer has applied it before."""
        statement = (
            self._insert(session)(self.processed)
            .values(consumer=self.name, event_id=event.id)
            .on_conflict_do_nothing()
        )
        result = await (await session.connection()).execute(statement)
        return bool(result.rowcount)

    async def dead_letter(self, raw: bytes, origin: Origin, *, reason: str, attempts: int) -> None:
        """Publish the untouched message to its topic's dead-letter topic, with why."""
        logger.error("dead-lettering a message from %s: %s", origin.topic, reason[:500])
        DEAD_LETTERED.labels(self.name).inc()
        await self.broker.publish(
            raw,
            topic=origin.topic + DEAD_LETTER_SUFFIX,
            key=origin.key,
            headers={
                "x-dead-letter-reason": reason[:2000],
                "x-consumer": self.name,
                "x-attempts": str(attempts),
                "x-original-topic": origin.topic,
                "x-original-partition": str(origin.partition),
                "x-original-offset": str(origin.offset),
            },
        )
