"""A service keeps accepting work while Kafka is down; its outbox drains when Kafka returns.

This test starts a Kafka broker of its own (so stopping it disturbs no other test),
through the same script that provisions the shared one.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import select

from putright.intake.app import create_app
from putright.intake.models import outbox
from putright.intake.settings import IntakeSettings
from putright.shared.events import ComplaintReceived, parse_event
from putright.shared.topics import Stream, Topics
from tests.conftest import eventually, free_port

pytestmark = [pytest.mark.connected, pytest.mark.slow]

ADMIN_TOKEN = "outage-admin-token"
KAFKA_SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "local" / "kafka.sh"


class OwnKafka:
    """A single-node Kafka broker this test can stop and start."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"

    def _run(self, action: str) -> None:
        env = {**os.environ, "KAFKA_PORT": str(self.port), "KAFKA_HEAP": "-Xmx384m -Xms128m"}
        subprocess.run(["bash", str(KAFKA_SCRIPT), action], check=True, env=env, timeout=180)

    def start(self) -> None:
        self._run("start")

    def stop(self) -> None:
        self._run("stop")


@pytest.fixture
def own_kafka() -> Iterator[OwnKafka]:
    kafka = OwnKafka(free_port())
    kafka.start()
    yield kafka
    kafka.stop()


async def test_a_complaint_taken_while_kafka_is_down_is_published_when_it_returns(
    own_kafka: OwnKafka, database_url: str, topic_prefix: str
) -> None:
    settings = IntakeSettings(
        database_url=database_url,
        kafka_bootstrap_servers=own_kafka.bootstrap,
        topic_prefix=topic_prefix,
        outbox_poll_seconds=0.2,
        admin_token=ADMIN_TOKEN,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        admin = {"X-Admin-Token": ADMIN_TOKEN}
        landlord = await client.post(
            "/v1/admin/organisations",
            json={"name": "Down Council", "kind": "landlord"},
            headers=admin,
        )
        key = await client.post(
            f"/v1/admin/organisations/{landlord.json()['id']}/api-keys",
            json={"name": "website", "scopes": ["submit"]},
            headers=admin,
        )
        website = {"Authorization": f"Bearer {key.json()['token']}"}

        await asyncio.to_thread(own_kafka.stop)
        posted = await client.post(
            "/v1/complaints",
            json={
                "description": "Nobody came to fix the window.",
                "category": "repairs",
                "resident": {"name": "Jo", "email": "jo@example.org"},
            },
            headers=website,
        )
        assert posted.status_code == 201, posted.text
        complaint_id = posted.json()["id"]
        await asyncio.sleep(2)  # the relay tries, and fails, meanwhile
        assert await _waiting(app) >= 1

        await asyncio.to_thread(own_kafka.start)
        await eventually(lambda: _drained(app), timeout=120)
        await client.aclose()

    received = await _read_complaint_events(own_kafka.bootstrap, Topics(topic_prefix))
    complaint_events = [event for event in received if isinstance(event.data, ComplaintReceived)]
    assert [str(event.subject) for event in complaint_events] == [complaint_id]


async def _waiting(app: Any) -> int:
    async with app.state.runtime.engine.connect() as connection:
        rows = (
            await connection.execute(select(outbox.c.id).where(outbox.c.published_at.is_(None)))
        ).all()
    return len(rows)


async def _drained(app: Any) -> bool:
    return await _waiting(app) == 0


async def _read_complaint_events(bootstrap: str, topics: Topics) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topics.topic(Stream.COMPLAINTS), bootstrap_servers=bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        records = await consumer.getmany(timeout_ms=10_000)
    finally:
        await consumer.stop()
    return [parse_event(record.value) for batch in records.values() for record in batch]
