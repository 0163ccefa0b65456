"""The embedded mode's database: the same migrations, projection, figures and dashboard on
a SQLite file, fed through the in-memory broker, agree with PostgreSQL figure for figure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from putright.reporting.app import create_app
from putright.reporting.figures import Scope
from putright.reporting.projection import apply
from putright.reporting.settings import ReportingSettings
from putright.shared.db import create_engine
from putright.shared.events import Event, OrganisationKind
from putright.shared.migrations import upgrade
from putright.shared.topics import stream_of
from tests.reporting.conftest import all_figures, serving
from tests.reporting.dataset import EXPECTED_TSM, example_council

pytestmark = [pytest.mark.connected]

NOW = datetime(2025, 3, 10, 12, tzinfo=UTC)


async def _apply(url: str, schema: str, events: list[Event[Any]]) -> None:
    """Project the events in batches, as a rebuild does."""
    engine = create_engine(url, schema=schema, pool_size=1)
    try:
        for start in range(0, len(events), 500):
            async with engine.begin() as connection:
                await apply(connection, events[start : start + 500])
    finally:
        await engine.dispose()


async def _publish(broker: KafkaBroker, settings: ReportingSettings, events: list[Any]) -> None:
    """Publish as the other services' outbox relays do, onto the in-memory bus."""
    for event in events:
        await broker.publish(
            event.model_dump_json().encode(),
            topic=settings.topics.topic(stream_of(event.type)),
            key=str(event.subject).encode(),
            headers={"ce_id": str(event.id), "ce_type": event.type},
        )


async def test_sqlite_projects_the_same_figures_as_postgresql(
    database_url: str, tmp_path: Path
) -> None:
    council = example_council("sqlite")
    scope = Scope(council.landlord, OrganisationKind.LANDLORD)
    events = council.data.events

    postgres_schema = f"reporting_sqlite_{uuid.uuid4().hex[:8]}"
    await upgrade("putright.reporting", url=database_url, schema=postgres_schema)
    await _apply(database_url, postgres_schema, events)
    batched = f"sqlite+aiosqlite:///{tmp_path / 'batched.db'}"
    await upgrade("putright.reporting", url=batched, schema="reporting")
    await _apply(batched, "reporting", events)

    on_postgres = await all_figures(database_url, postgres_schema, scope)
    assert {key: on_postgres["tsm"][key] for key in EXPECTED_TSM} == EXPECTED_TSM
    assert await all_figures(batched, "reporting", scope) == on_postgres

    # The live consumer, as the embedded mode runs it: in-memory broker, SQLite file.
    live = f"sqlite+aiosqlite:///{tmp_path / 'reporting.db'}"
    await upgrade("putright.reporting", url=live, schema="reporting")
    settings = ReportingSettings(
        database_url=live, kafka_bootstrap_servers="in-process", topic_prefix="embedded"
    )
    broker = KafkaBroker("in-process")
    app = create_app(settings, clock=lambda: NOW, broker=broker)
    async with TestKafkaBroker(broker), serving(app) as api:
        await _publish(broker, settings, events)
        page = await api.get(
            f"/v1/organisations/{council.landlord}/dashboard?year=2024",
            headers={"X-Putright-Organisation": str(council.landlord)},
        )
    assert page.status_code == 200, page.text
    assert "Complaints dashboard 2024/25 — Example Council" in page.text
    assert "80.2%" in page.text  # CH02 stage 1, strict
    assert "86.3%" in page.text  # CH02 stage 1, counting extensions
    assert await all_figures(live, "reporting", scope) == on_postgres
