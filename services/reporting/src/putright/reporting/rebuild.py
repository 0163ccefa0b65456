"""Rebuild every projection by replaying the topics from their beginning.

`python -m putright.reporting rebuild` empties the projection tables (never the
report sections landlords wrote) and replays each topic from offset 0 up to the end it
had when the rebuild started, in batches through the same `projection.apply` the live
consumer uses. The event ids are recorded for the live consumer and those end offsets
committed as its group's, so when the service starts again it carries on from where the
rebuild stopped and skips anything applied twice. Stop the service (scale it to
zero) while rebuilding the live schema; `--schema` rebuilds into a shadow schema
instead, e.g. to compare its figures with the live ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import cache
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import ValidationError
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncEngine

from putright.reporting.models import PROJECTIONS, metadata, processed_event, report_section
from putright.reporting.projection import Batch, collect, write
from putright.reporting.settings import ReportingSettings
from putright.reporting.sql import insert
from putright.shared.db import create_engine
from putright.shared.events import Event, EventData, UnknownEventTypeError, parse_event
from putright.shared.events.envelope import UPCASTERS
from putright.shared.topics import Stream

logger = logging.getLogger(__name__)

SERVICE = "reporting"
# Organisations first, so complaints are counted on their landlord's calendar at once.
REPLAY_ORDER = (Stream.ORGANISATIONS, Stream.COMPLAINTS, Stream.DEADLINES, Stream.LETTERS)


@dataclass(frozen=True)
class RebuildReport:
    """What a rebuild did."""

    events: int
    skipped: int
    seconds: float


def consumer_name(settings: ReportingSettings) -> str:
    """The live consumer's name, under which processed event ids are recorded."""
    return f"{settings.topic_prefix}.{SERVICE}"


async def rebuild(
    settings: ReportingSettings, *, schema: str = SERVICE, hand_over: bool | None = None
) -> RebuildReport:
    """Empty the projections in `schema` and replay every event into them; `hand_over`
    (by default, when rebuilding the live schema) commits the replayed offsets for the
    live consumer group."""
    started = time.perf_counter()
    engine = create_engine(settings.database_url, schema=schema, pool_size=2)
    try:
        await _reset(engine, schema, consumer_name(settings))
        events, skipped, ends = await _replay(engine, settings)
        if hand_over if hand_over is not None else schema == SERVICE:
            await _hand_over(settings, ends)
    finally:
        await engine.dispose()
    return RebuildReport(events, skipped, time.perf_counter() - started)


async def _reset(engine: AsyncEngine, schema: str, consumer: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await connection.run_sync(
            lambda sync: metadata.create_all(
                sync, tables=[*PROJECTIONS, processed_event, report_section]
            )
        )
        names = ", ".join(table.name for table in PROJECTIONS)
        await connection.execute(text(f"TRUNCATE {names}"))
        await connection.execute(
            delete(processed_event).where(processed_event.c.consumer == consumer)
        )


async def _hand_over(settings: ReportingSettings, ends: dict[TopicPartition, int]) -> None:
    """Commit the replayed end offsets as the live consumer group's, so the service,
    restarted, carries on from there instead of re-reading (and skipping) everything."""
    group = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=consumer_name(settings),
        enable_auto_commit=False,
    )
    await group.start()
    try:
        group.assign(list(ends))
        await group.commit(ends)
    finally:
        await group.stop()


async def _replay(
    engine: AsyncEngine, settings: ReportingSettings
) -> tuple[int, int, dict[TopicPartition, int]]:
    partitions = await _partitions(settings)
    kafka = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await kafka.start()
    applied = skipped = 0
    ends: dict[TopicPartition, int] = {}
    try:
        for stream in REPLAY_ORDER:
            topic = settings.topics.topic(stream)
            if partitions.get(topic):
                done, bad, topic_ends = await _replay_topic(
                    kafka, engine, settings, topic, partitions[topic]
                )
                applied, skipped = applied + done, skipped + bad
                ends.update(topic_ends)
    finally:
        await kafka.stop()
    return applied, skipped, ends


async def _partitions(settings: ReportingSettings) -> dict[str, list[int]]:
    """The partitions of each topic that exists (a stream never used has none)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        topics = [settings.topics.topic(stream) for stream in REPLAY_ORDER]
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {
        item["topic"]: sorted(p["partition"] for p in item["partitions"])
        for item in described
        if item["error_code"] == 0
    }


async def _replay_topic(
    kafka: AIOKafkaConsumer,
    engine: AsyncEngine,
    settings: ReportingSettings,
    topic: str,
    numbers: list[int],
) -> tuple[int, int, dict[TopicPartition, int]]:
    partitions = [TopicPartition(topic, number) for number in numbers]
    kafka.assign(partitions)
    await kafka.seek_to_beginning(*partitions)
    ends = await kafka.end_offsets(partitions)
    applied = skipped = 0
    writing: asyncio.Task[None] | None = None
    while True:
        records = await _next_records(kafka, partitions, ends, settings.rebuild_batch_size)
        # The next batch is parsed while the previous one is written, still in order.
        parsed = collect_records(records)
        skipped += parsed.skipped
        if writing:
            await writing
        if not records:
            return applied, skipped, ends
        writing = asyncio.create_task(_write(engine, settings, parsed))
        applied += len(parsed.event_ids)
        logger.info("rebuild: %s events read from %s", applied, topic)


Record = tuple[bytes, Sequence[tuple[str, bytes]]]


async def _next_records(
    kafka: AIOKafkaConsumer,
    partitions: list[TopicPartition],
    ends: dict[TopicPartition, int],
    size: int,
) -> list[Record]:
    """Up to `size` records (value and headers) from before the end offsets."""
    records: list[Record] = []
    while len(records) < size:
        remaining = [p for p in partitions if await kafka.position(p) < ends[p]]
        if not remaining:
            break
        fetched = await kafka.getmany(*remaining, timeout_ms=1000, max_records=size)
        records += [
            (record.value, record.headers)
            for batch in fetched.values()
            for record in batch
            if record.offset < ends[TopicPartition(record.topic, record.partition)]
        ]
    return records


@dataclass(frozen=True)
class Parsed:
    """A batch of records as rows to write, and what became of them."""

    batch: Batch
    event_ids: list[UUID]
    skipped: int


def collect_records(records: list[Record]) -> Parsed:
    """Parse records into one batch of rows; unreadable ones are counted, not facts."""
    events: list[Event[Any]] = []
    skipped = 0
    for value, headers in records:
        try:
            events.append(parse_record(value, headers))
        except (ValidationError, UnknownEventTypeError, ValueError, AttributeError):
            # The live consumer dead-lettered these.
            skipped += 1
    return Parsed(collect(events), [event.id for event in events], skipped)


@cache
def _envelope(event_type: str) -> type[Event[Any]] | None:
    """The typed envelope of a current event type; None for a type this build lacks."""
    data_class = EventData.registry.get(event_type)
    return Event[data_class] if data_class else None  # type: ignore[valid-type]


def parse_record(value: bytes, headers: Sequence[tuple[str, bytes]]) -> Event[Any]:
    """An event from a Kafka record: validated straight from its bytes when the outbox's
    `ce_type` header names a current type (no `json.loads` into dicts first), otherwise
    by `parse_event`, which upcasts old versions."""
    named = next((raw.decode() for key, raw in headers if key == "ce_type"), None)
    envelope = _envelope(named) if named and named not in UPCASTERS else None
    if envelope is not None:
        with suppress(ValidationError):  # e.g. a header that disagrees with the body
            event = envelope.model_validate_json(value)
            if event.type == named:
                return event
    return parse_event(value.decode())


async def _write(engine: AsyncEngine, settings: ReportingSettings, parsed: Parsed) -> None:
    async with engine.begin() as connection:
        await write(connection, parsed.batch)
        if parsed.event_ids:
            await connection.execute(
                insert(connection, processed_event).on_conflict_do_nothing(),
                [
                    {"consumer": consumer_name(settings), "event_id": event_id}
                    for event_id in parsed.event_ids
                ],
            )
