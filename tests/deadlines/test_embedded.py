"""The same clocks and timers on SQLite, as the one-process embedded mode runs them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from uuid import uuid4

from faststream.kafka import KafkaBroker
from sqlalchemy import select
from sqlmodel import select as select_model

from putright.deadlines import flows
from putright.deadlines.models import Clock, metadata, outbox
from putright.deadlines.service import Policy
from putright.deadlines.settings import DeadlinesSettings
from putright.deadlines.timers import fire_due_timers
from putright.shared.consumer import Origin, Outcome
from putright.shared.migrations import upgrade
from putright.shared.runtime import Runtime
from putright.shared.topics import Stream
from tests.deadlines.support import Complaint

# Due Wednesday 14 June 2023 (summer time): missed from 23:00 UTC that evening.
RECEIVED = date(2023, 6, 7)


async def test_clocks_start_and_timers_fire_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'deadlines.db'}"
    await upgrade("putright.deadlines", url=url, schema="deadlines")
    settings = DeadlinesSettings(database_url=url, kafka_bootstrap_servers="in-process")
    runtime = Runtime("deadlines", settings, metadata, broker=KafkaBroker("in-process"))
    consumer = runtime.consumer(Stream.COMPLAINTS, description="test")
    flows.register(consumer, runtime, Policy())
    complaint = Complaint(uuid4())
    try:
        event = complaint.received(RECEIVED)
        origin = Origin(topic="complaints", partition=0, offset=0, key=None)
        assert await consumer.process(event.model_dump_json().encode(), origin) is Outcome.APPLIED

        before = datetime(2023, 6, 14, 22, 59, tzinfo=UTC)
        after = datetime(2023, 6, 14, 23, 0, tzinfo=UTC)
        assert await fire_due_timers(runtime, now=before, policy=Policy(), batch_size=10) == 1
        assert await fire_due_timers(runtime, now=after, policy=Policy(), batch_size=10) == 1
        assert await fire_due_timers(runtime, now=after, policy=Policy(), batch_size=10) == 0

        async with runtime.sessions() as session:
            [clock] = (await session.exec(select_model(Clock))).all()
        async with runtime.engine.connect() as connection:
            types = (await connection.execute(select(outbox.c.event_type))).scalars().all()
        assert clock.due_on == date(2023, 6, 14)
        assert clock.missed_at is not None
        assert [kind.rsplit(".", 2)[-2] for kind in types] == ["set", "approaching", "missed"]
    finally:
        await runtime.engine.dispose()
