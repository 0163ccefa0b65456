"""Projection behaviour on PostgreSQL: calendar changes, replays, and the rebuild's hand-over."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import select, text

from putright.reporting.models import complaint, letter
from putright.reporting.projection import apply
from putright.reporting.rebuild import consumer_name, create_tables, rebuild
from putright.reporting.settings import ReportingSettings
from putright.shared.db import create_engine
from putright.shared.events import OrganisationKind, OrganisationProfile
from putright.shared.events.letters import LetterBlocked, LetterDeliveryFailed, LetterKind
from putright.shared.topics import Stream
from tests.reporting.conftest import publish
from tests.reporting.dataset import Dataset, d, local

pytestmark = [pytest.mark.connected]


async def _ack_working_days(settings: ReportingSettings, complaint_id: UUID) -> Any:
    engine = create_engine(settings.database_url, schema="reporting", pool_size=1)
    async with engine.connect() as connection:
        days = await connection.scalar(
            select(complaint.c.s1_ack_wd).where(complaint.c.complaint_id == complaint_id)
        )
    await engine.dispose()
    return days


async def _apply(settings: ReportingSettings, events: list[Any]) -> None:
    engine = create_engine(settings.database_url, schema="reporting", pool_size=1)
    async with engine.begin() as connection:
        await apply(connection, events)
    await engine.dispose()


async def test_a_new_closure_day_recounts_the_landlords_complaints(
    service_env: dict[str, Any],
) -> None:
    settings = ReportingSettings(**service_env)
    data = Dataset(service_env["topic_prefix"])
    # The complaint arrives before the landlord's profile (they travel on different
    # topics): it is counted on the England and Wales calendar at first.
    landlord = data.id("landlord")
    complaint_id = data.complaint(landlord, local(d("2024-12-23")))
    data.acknowledge(complaint_id, landlord, d("2025-01-03"))
    await _apply(settings, data.events)
    # 24, 27, 30, 31 Dec, 2 and 3 Jan: 6 working days (25 and 26 Dec, 1 Jan are holidays).
    assert await _ack_working_days(settings, complaint_id) == 6

    profile = OrganisationProfile(
        name="Council", kind=OrganisationKind.LANDLORD, homes=10, closure_days=[d("2024-12-27")]
    )
    data.emit(profile, landlord, landlord)
    await _apply(settings, data.events[-1:])
    assert await _ack_working_days(settings, complaint_id) == 5

    # Applying the same events again (a replay) changes nothing.
    await _apply(settings, data.events)
    assert await _ack_working_days(settings, complaint_id) == 5


async def test_a_rebuild_hands_its_end_offsets_to_the_live_consumer_group(
    service_env: dict[str, Any],
) -> None:
    settings = ReportingSettings(**service_env)
    data = Dataset(service_env["topic_prefix"])
    landlord = data.organisation("Council", OrganisationKind.LANDLORD, 10, [])
    complaint_id = data.complaint(landlord, local(d("2024-06-03")))
    data.acknowledge(complaint_id, landlord, d("2024-06-04"))
    await publish(settings, data.events)

    report = await rebuild(settings, schema=f"reporting_{uuid4().hex[:8]}", hand_over=True)

    assert report.events == 3
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        topics = [settings.topics.topic(s) for s in (Stream.ORGANISATIONS, Stream.COMPLAINTS)]
        partitions = [
            TopicPartition(item["topic"], partition["partition"])
            for item in await admin.describe_topics(topics)
            for partition in item["partitions"]
        ]
    finally:
        await admin.close()
    group = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=consumer_name(settings),
        enable_auto_commit=False,
    )
    await group.start()
    committed: dict[str, int] = {}
    try:
        for partition in partitions:
            offset = await group.committed(partition) or 0
            committed[partition.topic] = committed.get(partition.topic, 0) + offset
    finally:
        await group.stop()
    # One profile on the organisations topic; a receipt and an acknowledgement on the
    # complaints topic: the live service resumes after them, whatever the partitions.
    assert committed == {topics[0]: 1, topics[1]: 2}


async def test_a_later_letter_event_keeps_the_items_a_blocked_letter_lacked(
    service_env: dict[str, Any],
) -> None:
    settings = ReportingSettings(**service_env)
    data = Dataset(service_env["topic_prefix"])
    landlord = data.id("landlord")
    complaint_id = data.complaint(landlord, local(d("2024-06-03")))
    letter_id, caused_by = data.id("letter"), data.events[-1].id
    blocked = LetterBlocked(
        letter_id=letter_id,
        kind=LetterKind.STAGE1_RESPONSE,
        caused_by_event_id=caused_by,
        missing_items=["e: remedy"],
    )
    failed = LetterDeliveryFailed(
        letter_id=letter_id,
        kind=LetterKind.STAGE1_RESPONSE,
        caused_by_event_id=caused_by,
        attempts=3,
        last_error="timeout",
    )
    data.emit(blocked, complaint_id, landlord)
    await _apply(settings, data.events)
    # The later event arrives in a batch of its own, as an upsert over the stored row.
    data.emit(failed, complaint_id, landlord)
    await _apply(settings, data.events[-1:])

    engine = create_engine(settings.database_url, schema="reporting", pool_size=1)
    async with engine.connect() as connection:
        stored = (
            await connection.execute(
                select(letter.c.missing_items, letter.c.failed_on).where(
                    letter.c.letter_id == letter_id
                )
            )
        ).one()
    await engine.dispose()
    assert stored.missing_items == ["e: remedy"]
    assert stored.failed_on is not None


async def test_a_rebuild_leaves_every_index_and_key_as_it_found_them(
    service_env: dict[str, Any],
) -> None:
    settings = ReportingSettings(**service_env)
    data = Dataset(service_env["topic_prefix"])
    landlord = data.organisation("Council", OrganisationKind.LANDLORD, 10, [])
    data.complaint(landlord, local(d("2024-06-03")))
    await publish(settings, data.events)
    schema = f"reporting_{uuid4().hex[:8]}"
    engine = create_engine(settings.database_url, schema=schema, pool_size=1)

    async def definitions() -> set[tuple[str, str]]:
        async with engine.connect() as connection:
            found = await connection.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = :schema"),
                {"schema": schema},
            )
            return {(row.indexname, row.indexdef) for row in found}

    try:
        await create_tables(engine, schema)
        created = await definitions()
        # The rebuild drops them to load the rows and builds them again: twice, so the
        # second one also drops and builds over rows already there.
        await rebuild(settings, schema=schema)
        await rebuild(settings, schema=schema)
        assert await definitions() == created
        assert any(name == "processed_event_pkey" for name, _ in created)
        assert any(name == "complaint_org_received" for name, _ in created)
    finally:
        await engine.dispose()
