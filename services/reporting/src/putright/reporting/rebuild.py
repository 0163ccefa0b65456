"""Rebuild every projection by replaying the topics from their beginning.

`python -m putright.reporting rebuild` replays each topic from offset 0 up to the end
it had when the rebuild started, folding the events through the same projectors the
live consumer uses into rows held in memory (one per complaint, clock, letter...).
It then derives what the live consumer derives (extension totals, working-day
counts, numpy over whole arrays) and, in one transaction, empties the projection
tables (never the report sections landlords wrote) and writes each table once with
COPY (the rebuild is for PostgreSQL). A rebuild that fails leaves the previous rows
untouched. The event ids are recorded for the live consumer and those
end offsets committed as its group's, so when the service starts again it carries on
from where the rebuild stopped and skips anything applied twice. Stop the service
(scale it to zero) while rebuilding the live schema; `--schema` rebuilds into a shadow
schema instead, e.g. to compare its figures with the live ones.
"""

from __future__ import annotations

import gc
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import ValidationError
from sqlalchemy import JSON, Table, delete, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from putright.reporting.models import (
    PROJECTIONS,
    complaint,
    extension,
    metadata,
    organisation,
    processed_event,
    report_section,
)
from putright.reporting.projection import (
    DEFAULT_CALENDAR,
    Batch,
    Row,
    calendar_of,
    collect,
    count_working_days,
    extension_summary,
)
from putright.reporting.settings import ReportingSettings
from putright.shared.db import create_engine
from putright.shared.events import Event, EventData, UnknownEventTypeError, parse_event
from putright.shared.events.envelope import UPCASTERS, utc_now
from putright.shared.topics import Stream

logger = logging.getLogger(__name__)

SERVICE = "reporting"
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


@dataclass
class Replay:
    """Events folded into rows, and what became of the records read."""

    batch: Batch = field(default_factory=Batch)
    event_ids: dict[UUID, None] = field(default_factory=dict)  # an ordered set
    skipped: int = 0


async def rebuild(
    settings: ReportingSettings, *, schema: str = SERVICE, hand_over: bool | None = None
) -> RebuildReport:
    """Replace the projections in `schema` with every event replayed; `hand_over`
    (by default, when rebuilding the live schema) commits the replayed offsets for the
    live consumer group."""
    started = _Lap()
    ends = await _end_offsets(settings)
    with _no_cycle_collection():
        replay = await _replay(settings, ends)
        read = _Lap()
        batch = Batch({table: replay.batch.rows.get(table, {}) for table in PROJECTIONS})
        derive(batch)
        derived = _Lap()
        engine = create_engine(settings.database_url, schema=schema, pool_size=2)
        try:
            await create_tables(engine, schema)
            await _store(engine, schema, consumer_name(settings), batch, replay.event_ids)
        finally:
            await engine.dispose()
    stored = _Lap()
    logger.info(
        "rebuild (wall s / CPU s of this process): read and folded %s, derived %s, stored %s",
        read - started,
        derived - read,
        stored - derived,
    )
    if hand_over if hand_over is not None else schema == SERVICE:
        await _hand_over(settings, ends)
    return RebuildReport(len(replay.event_ids), replay.skipped, time.perf_counter() - started.wall)


@dataclass(frozen=True)
class _Lap:
    """Wall and CPU clocks read at one moment; the difference of two is a phase."""

    wall: float = field(default_factory=time.perf_counter)
    cpu: float = field(default_factory=time.process_time)

    def __sub__(self, earlier: _Lap) -> str:
        return f"{self.wall - earlier.wall:.1f} / {self.cpu - earlier.cpu:.1f}"


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Millions of live rows and no reference cycles among them: the cyclic collector
    would rescan them all, again and again, for nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def create_tables(engine: AsyncEngine, schema: str) -> None:
    """Create `schema` and the tables a rebuild writes, where missing."""
    async with engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await connection.run_sync(
            lambda sync: metadata.create_all(
                sync, tables=[*PROJECTIONS, processed_event, report_section]
            )
        )


async def _store(
    engine: AsyncEngine, schema: str, consumer: str, batch: Batch, event_ids: Iterable[UUID]
) -> None:
    """Replace every projection's rows, and the live consumer's record of applied events,
    in one transaction: a rebuild that fails leaves the previous rows in place."""
    async with engine.begin() as connection:
        names = ", ".join(table.name for table in PROJECTIONS)
        await connection.execute(text(f"TRUNCATE {names}"))
        await connection.execute(
            delete(processed_event).where(processed_event.c.consumer == consumer)
        )
        # Sorting a million keys into a fresh index once is far cheaper than COPY
        # inserting them one by one into the btrees: build every index after the load.
        await connection.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        indexes = await _indexes(connection, schema, [*PROJECTIONS, processed_event])
        for index in indexes:
            await connection.execute(text(index.drop))
        for table in PROJECTIONS:
            await _insert_all(connection, schema, table, list(batch.rows[table].values()))
        at = utc_now()
        await _copy(
            connection,
            schema,
            processed_event,
            [(consumer, key, at) for key in event_ids],
            names=["consumer", "event_id", "processed_at"],
        )
        for index in indexes:
            await connection.execute(text(index.create))


@dataclass(frozen=True)
class _Index:
    """How to drop an index (or the key constraint it backs) and create it again."""

    drop: str
    create: str


_INDEXES = text(
    """
    SELECT quote_ident(n.nspname) || '.' || quote_ident(t.relname) AS "table",
           quote_ident(n.nspname) || '.' || quote_ident(i.relname) AS "index",
           quote_ident(k.conname) AS "constraint",
           pg_get_indexdef(x.indexrelid) AS index_definition,
           pg_get_constraintdef(k.oid) AS constraint_definition
      FROM pg_index x
      JOIN pg_class t ON t.oid = x.indrelid
      JOIN pg_class i ON i.oid = x.indexrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
      LEFT JOIN pg_constraint k ON k.conindid = x.indexrelid AND k.conrelid = x.indrelid
     WHERE n.nspname = :schema AND t.relname = ANY(:tables)
     ORDER BY t.relname, i.relname
    """
)


async def _indexes(connection: AsyncConnection, schema: str, tables: list[Table]) -> list[_Index]:
    """Every index of `tables` in `schema`, primary keys included, as the database has
    them (the migrations' expression indexes too)."""
    found = await connection.execute(
        _INDEXES, {"schema": schema, "tables": [table.name for table in tables]}
    )
    return [
        _Index(
            drop=f"ALTER TABLE {row.table} DROP CONSTRAINT {row.constraint}",
            create=f"ALTER TABLE {row.table} ADD CONSTRAINT {row.constraint} "
            f"{row.constraint_definition}",
        )
        if row.constraint
        else _Index(drop=f"DROP INDEX {row.index}", create=row.index_definition)
        for row in found
    ]


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


async def _end_offsets(settings: ReportingSettings) -> dict[TopicPartition, int]:
    """Where each partition of each existing topic ends now: the replay stops there."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        topics = [settings.topics.topic(stream) for stream in REPLAY_ORDER]
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    partitions = [
        TopicPartition(item["topic"], partition["partition"])
        for item in described
        if item["error_code"] == 0
        for partition in item["partitions"]
    ]
    if not partitions:
        return {}
    kafka = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await kafka.start()
    try:
        ends: dict[TopicPartition, int] = await kafka.end_offsets(partitions)
    finally:
        await kafka.stop()
    return ends


async def _replay(settings: ReportingSettings, ends: dict[TopicPartition, int]) -> Replay:
    """Read every partition from its beginning to its end offset, topic by topic in
    replay order, and fold the events into rows."""
    kafka = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await kafka.start()
    replay = Replay()
    try:
        for stream in REPLAY_ORDER:
            topic = settings.topics.topic(stream)
            partitions = [partition for partition in ends if partition.topic == topic]
            if not partitions:
                continue
            kafka.assign(partitions)
            await kafka.seek_to_beginning(*partitions)
            read = 0
            size = settings.rebuild_batch_size
            while records := await _next_records(kafka, partitions, ends, size):
                fold_records(replay, records)
                read += len(records)
                logger.debug("rebuild: %s records read from %s", read, topic)
    finally:
        await kafka.stop()
    return replay


async def _next_records(
    kafka: AIOKafkaConsumer,
    partitions: list[TopicPartition],
    ends: dict[TopicPartition, int],
    size: int,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Up to about `size` records from before the end offsets."""
    records: list[ConsumerRecord[bytes, bytes]] = []
    while len(records) < size:
        remaining = [p for p in partitions if await kafka.position(p) < ends[p]]
        if not remaining:
            break
        fetched = await kafka.getmany(*remaining, timeout_ms=1000, max_records=size)
        for partition, batch in fetched.items():
            end = ends[partition]
            # Whole batches before the end, the common case, need no test per record.
            if batch and batch[-1].offset < end:
                records += batch
            else:
                records += [record for record in batch if record.offset < end]
    return records


def fold_records(replay: Replay, records: list[ConsumerRecord[bytes, bytes]]) -> None:
    """Parse records and fold them into the replay's rows; unreadable ones are counted,
    not facts (the live consumer dead-lettered them)."""
    events: list[Event[Any]] = []
    for record in records:
        try:
            events.append(parse_record(record.value, record.headers))
        except (ValidationError, UnknownEventTypeError, ValueError, AttributeError):
            replay.skipped += 1
    collect(events, replay.batch)
    replay.event_ids.update(dict.fromkeys([event.id for event in events]))


@cache
def _envelope(header: bytes) -> tuple[str, type[Event[Any]]] | None:
    """The type a `ce_type` header names and its typed envelope, for a current event
    type; None for a type this build lacks or one that older versions upcast to."""
    event_type = header.decode()
    data_class = EventData.registry.get(event_type)
    if data_class is None or event_type in UPCASTERS:
        return None
    return event_type, Event[data_class]  # type: ignore[valid-type]


def parse_record(value: bytes, headers: Sequence[tuple[str, bytes]]) -> Event[Any]:
    """An event from a Kafka record: validated straight from its bytes when the outbox's
    `ce_type` header names a current type (no `json.loads` into dicts first), otherwise
    by `parse_event`, which upcasts old versions."""
    for key, header in headers:
        if key == "ce_type":
            named = _envelope(header)
            break
    else:
        named = None
    if named is not None:
        event_type, envelope = named
        with suppress(ValidationError):  # e.g. a header that disagrees with the body
            event = envelope.model_validate_json(value)
            if event.type == event_type:
                return event
    return parse_event(value.decode())


def derive(batch: Batch) -> None:
    """Fill in the register's derived columns from the rows themselves, as the live
    projection does from the tables: extension totals and working-day counts."""
    registers = batch.rows.get(complaint, {})
    notices: dict[tuple[UUID, int], list[Row]] = defaultdict(list)
    for notice in sorted(
        batch.rows.get(extension, {}).values(),
        key=lambda row: (row["stage"], row["notified_on"], row["event_id"]),
    ):
        notices[notice["complaint_id"], notice["stage"]].append(notice)
    for (key, stage), listed in notices.items():
        summary = extension_summary(key, listed)
        del summary["key"]
        registers[key].update({f"s{stage}_{name}": value for name, value in summary.items()})
    profiles = batch.rows.get(organisation, {})
    calendars = {
        landlord: calendar_of(*_nation_and_days_off(profiles.get(landlord)))
        for landlord in {row["organisation_id"] for row in registers.values()}
    }
    rows = list(registers.values())
    blank = dict.fromkeys(("received_on", "s1_acknowledged_on", "s1_responded_on"))
    blank |= dict.fromkeys(("escalated_on", "s2_acknowledged_on", "s2_responded_on"))
    counted = count_working_days(calendars, [blank | row for row in rows])
    for row, counts in zip(rows, counted, strict=True):
        row.update({name: value for name, value in counts.items() if value is not None})


def _nation_and_days_off(profile: Row | None) -> tuple[str, tuple[str, ...]]:
    if profile is None:
        return DEFAULT_CALENDAR
    return profile["nation"], tuple(profile["days_off"])


async def _insert_all(
    connection: AsyncConnection, schema: str, table: Table, rows: list[Row]
) -> None:
    """Insert rows (dicts, absent columns null) into an empty table."""
    names = [column.name for column in table.columns]
    records = [tuple(map(row.get, names)) for row in rows]
    # COPY takes a json column as its text; an absent document stays SQL NULL.
    documents = {i for i, column in enumerate(table.columns) if isinstance(column.type, JSON)}
    if documents:
        records = [
            tuple(
                json.dumps(v) if i in documents and v is not None else v
                for i, v in enumerate(record)
            )
            for record in records
        ]
    await _copy(connection, schema, table, records, names=names)


async def _copy(
    connection: AsyncConnection,
    schema: str,
    table: Table,
    records: list[tuple[Any, ...]],
    *,
    names: list[str],
) -> None:
    """Insert records (values in the order of `names`) into an empty table with COPY:
    no statement per row, no parameters to bind."""
    if not records:
        return
    raw = await connection.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        table.name, schema_name=schema, columns=names, records=records
    )
