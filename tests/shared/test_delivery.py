"""Delivery guarantees on real Kafka and PostgreSQL: the outbox and idempotent consumers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from sqlalchemy import Column, MetaData, String, Table, Uuid, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from putright.shared.consumer import Consumer, Origin, Outcome, processed_event_table
from putright.shared.db import create_engine, session_maker
from putright.shared.events import (
    ComplaintClosed,
    ComplaintWithdrawn,
    Event,
    new_event,
    parse_event,
)
from putright.shared.events.values import Stage
from putright.shared.messaging import create_broker
from putright.shared.outbox import Outbox, outbox_table
from putright.shared.topics import Stream, Topics

pytestmark = pytest.mark.connected

SCHEMA = "delivery_test"
metadata = MetaData()
outbox = outbox_table(metadata)
processed = processed_event_table(metadata)
effect = Table(
    "effect", metadata, Column("event_id", Uuid, nullable=False), Column("consumer", String(100))
)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a scratch schema holding an outbox, processed ids and an effect table."""
    admin = create_engine(database_url, schema="public")
    async with admin.begin() as connection:
        await connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    await admin.dispose()
    engine = create_engine(database_url, schema=SCHEMA)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


def withdrawn(subject: UUID | None = None) -> Event[ComplaintWithdrawn]:
    return new_event(
        ComplaintWithdrawn(withdrawn_at=datetime.now(UTC), reason="Resolved informally"),
        source="putright/test",
        subject=subject or uuid4(),
        organisation_id=uuid4(),
    )


@contextlib.asynccontextmanager
async def reading(
    bootstrap: str, *topics: str, group: str | None = None
) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def read(
    consumer: AIOKafkaConsumer, count: int, timeout: float = 60.0
) -> list[ConsumerRecord[Any, Any]]:
    records: list[ConsumerRecord[Any, Any]] = []
    async with asyncio.timeout(timeout):
        while len(records) < count:
            batch = await consumer.getmany(timeout_ms=500)
            for partition_records in batch.values():
                records.extend(partition_records)
    return records


async def unpublished(engine: AsyncEngine, event_id: UUID) -> bool:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(outbox.c.published_at).where(outbox.c.event_id == event_id)
            )
        ).one()
    return row.published_at is None


async def test_committed_events_are_published_keyed_by_subject(
    engine: AsyncEngine, kafka_bootstrap: str, topic_prefix: str
) -> None:
    box = Outbox(outbox, Topics(topic_prefix))
    event = withdrawn()
    async with session_maker(engine)() as session, session.begin():
        await box.stage(session, event)
    broker = create_broker(kafka_bootstrap, client_id="test")
    await broker.start()
    try:
        while await box.relay_once(engine, broker, batch_size=100):
            pass
    finally:
        await broker.stop()
    assert not await unpublished(engine, event.id)
    async with reading(kafka_bootstrap, Topics(topic_prefix).topic(Stream.COMPLAINTS)) as consumer:
        [record] = await read(consumer, 1)
    assert record.key == str(event.subject).encode()
    assert parse_event(record.value) == event
    assert dict(record.headers)["ce_type"] == b"uk.putright.complaint.withdrawn.v1"


async def test_a_rolled_back_transaction_leaves_nothing_to_publish(
    engine: AsyncEngine, topic_prefix: str
) -> None:
    box = Outbox(outbox, Topics(topic_prefix))
    event = withdrawn()
    with pytest.raises(RuntimeError):
        async with session_maker(engine)() as session, session.begin():
            await box.stage(session, event)
            raise RuntimeError("the change failed")
    async with engine.connect() as connection:
        count = (
            await connection.execute(select(func.count()).where(outbox.c.event_id == event.id))
        ).scalar_one()
    assert count == 0


def make_consumer(engine: AsyncEngine, broker: Any, name: str, *, fail_times: int = 0) -> Consumer:
    consumer = Consumer(
        name=name,
        sessions=session_maker(engine),
        processed=processed,
        broker=broker,
        max_attempts=3,
        backoff_seconds=0.01,
    )
    failures = {"left": fail_times}

    @consumer.on(ComplaintWithdrawn)
    async def apply(session: AsyncSession, event: Event[Any]) -> None:
        connection = await session.connection()
        await connection.execute(insert(effect).values(event_id=event.id, consumer=name))
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("a transient fault")

    return consumer


async def effects(engine: AsyncEngine, event_id: UUID) -> int:
    async with engine.connect() as connection:
        return int(
            (
                await connection.execute(select(func.count()).where(effect.c.event_id == event_id))
            ).scalar_one()
        )


async def test_a_consumer_killed_before_committing_its_offset_does_not_apply_twice(
    engine: AsyncEngine, kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = Topics(topic_prefix).topic(Stream.COMPLAINTS)
    event = withdrawn()
    broker = create_broker(kafka_bootstrap, client_id="test")
    await broker.start()
    try:
        await broker.publish(
            event.model_dump_json().encode(), topic=topic, key=str(event.subject).encode()
        )
        group = f"{topic_prefix}.crashing"
        consumer = make_consumer(engine, broker, group)
        # First life: apply the event, then die without committing the Kafka offset.
        async with reading(kafka_bootstrap, topic, group=group) as first_life:
            [record] = await read(first_life, 1)
            origin = Origin(record.topic, record.partition, record.offset, record.key)
            assert await consumer.process(record.value, origin) is Outcome.APPLIED
        # Second life: Kafka redelivers the same message; it is recognised and skipped.
        async with reading(kafka_bootstrap, topic, group=group) as second_life:
            [again] = await read(second_life, 1)
            assert (again.partition, again.offset) == (record.partition, record.offset)
            assert await consumer.process(again.value, origin) is Outcome.DUPLICATE
    finally:
        await broker.stop()
    assert await effects(engine, event.id) == 1


async def test_a_transient_failure_is_retried_and_applied_once(
    engine: AsyncEngine, kafka_bootstrap: str, topic_prefix: str
) -> None:
    broker = create_broker(kafka_bootstrap, client_id="test")
    event = withdrawn()
    consumer = make_consumer(engine, broker, f"{topic_prefix}.flaky", fail_times=2)
    origin = Origin(f"{topic_prefix}.complaints.v1", 0, 0, None)
    assert await consumer.process(event.model_dump_json().encode(), origin) is Outcome.APPLIED
    assert await effects(engine, event.id) == 1


async def test_poison_and_failing_messages_are_dead_lettered_and_the_consumer_moves_on(
    engine: AsyncEngine, kafka_bootstrap: str, topic_prefix: str
) -> None:
    topics = Topics(topic_prefix)
    topic = topics.topic(Stream.COMPLAINTS)
    broker = create_broker(kafka_bootstrap, client_id="test")
    await broker.start()
    try:
        failing = make_consumer(engine, broker, f"{topic_prefix}.broken", fail_times=99)
        healthy = make_consumer(engine, broker, f"{topic_prefix}.healthy")
        origin = Origin(topic, 0, 7, b"key")
        assert await failing.process(b"{not json", origin) is Outcome.DEAD_LETTERED
        doomed = withdrawn()
        assert (
            await failing.process(doomed.model_dump_json().encode(), origin)
            is Outcome.DEAD_LETTERED
        )
        assert await effects(engine, doomed.id) == 0, "a failed attempt must leave no partial write"
        fine = withdrawn()
        assert await healthy.process(fine.model_dump_json().encode(), origin) is Outcome.APPLIED
        async with reading(kafka_bootstrap, topics.dead_letter(Stream.COMPLAINTS)) as dead_letters:
            records = await read(dead_letters, 2)
    finally:
        await broker.stop()
    reasons = [dict(record.headers)["x-dead-letter-reason"].decode() for record in records]
    assert reasons[0].startswith("invalid event")
    assert "a transient fault" in reasons[1]
    assert dict(records[1].headers)["x-attempts"] == b"3"
    assert dict(records[1].headers)["x-original-offset"] == b"7"
    assert records[1].value == doomed.model_dump_json().encode()


async def test_a_batch_is_applied_in_one_go_and_skips_what_was_applied_before(
    engine: AsyncEngine, kafka_bootstrap: str, topic_prefix: str
) -> None:
    broker = create_broker(kafka_bootstrap, client_id="test")
    consumer = make_consumer(engine, broker, f"{topic_prefix}.batched")
    first, second, third = withdrawn(), withdrawn(), withdrawn()
    origin = Origin(f"{topic_prefix}.complaints.v1", 0, 0, None)
    assert await consumer.process(first.model_dump_json().encode(), origin) is Outcome.APPLIED
    batch = [(event.model_dump_json().encode(), origin) for event in (first, second, third, second)]
    outcomes = await consumer.process_batch(batch)
    assert outcomes == [Outcome.DUPLICATE, Outcome.APPLIED, Outcome.APPLIED, Outcome.DUPLICATE]
    assert [await effects(engine, event.id) for event in (first, second, third)] == [1, 1, 1]


async def test_a_batch_handler_gets_each_run_of_its_events_at_once_and_in_order(
    engine: AsyncEngine, kafka_bootstrap: str, topic_prefix: str
) -> None:
    broker = create_broker(kafka_bootstrap, client_id="test")
    name = f"{topic_prefix}.runs"
    consumer = make_consumer(engine, broker, name)
    calls: list[list[UUID]] = []

    @consumer.on_batch(ComplaintClosed)
    async def apply_many(session: AsyncSession, events: Sequence[Event[Any]]) -> None:
        calls.append([event.id for event in events])
        connection = await session.connection()
        await connection.execute(
            insert(effect), [{"event_id": event.id, "consumer": name} for event in events]
        )

    closed = [closed_event() for _ in range(4)]
    between = withdrawn()
    origin = Origin(f"{topic_prefix}.complaints.v1", 0, 0, None)
    assert await consumer.process(closed[0].model_dump_json().encode(), origin) is Outcome.APPLIED
    ordered: list[Event[Any]] = [closed[0], closed[1], closed[2], between, closed[3], closed[1]]
    outcomes = await consumer.process_batch(
        [(event.model_dump_json().encode(), origin) for event in ordered]
    )
    assert outcomes == [
        Outcome.DUPLICATE,
        Outcome.APPLIED,
        Outcome.APPLIED,
        Outcome.APPLIED,
        Outcome.APPLIED,
        Outcome.DUPLICATE,
    ]
    assert calls == [[closed[0].id], [closed[1].id, closed[2].id], [closed[3].id]]
    everything: list[Event[Any]] = [*closed, between]
    assert [await effects(engine, event.id) for event in everything] == [1] * 5


def closed_event() -> Event[ComplaintClosed]:
    return new_event(
        ComplaintClosed(closed_at=datetime.now(UTC), final_stage=Stage.ONE),
        source="putright/test",
        subject=uuid4(),
        organisation_id=uuid4(),
    )


async def test_a_batch_with_a_poison_message_falls_back_to_one_at_a_time(
    engine: AsyncEngine, kafka_bootstrap: str, topic_prefix: str
) -> None:
    broker = create_broker(kafka_bootstrap, client_id="test")
    await broker.start()
    try:
        consumer = make_consumer(engine, broker, f"{topic_prefix}.mixed")
        good = withdrawn()
        origin = Origin(f"{topic_prefix}.complaints.v1", 0, 0, None)
        outcomes = await consumer.process_batch(
            [(b"not an event", origin), (good.model_dump_json().encode(), origin)]
        )
    finally:
        await broker.stop()
    assert outcomes == [Outcome.DEAD_LETTERED, Outcome.APPLIED]
    assert await effects(engine, good.id) == 1
