"""Helpers for reporting's tests: run the app, publish events, read a schema."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from sqlalchemy import text

from putright.reporting import figures
from putright.reporting.figures import Scope
from putright.reporting.periods import Period, reporting_year
from putright.reporting.rebuild import consumer_name
from putright.reporting.settings import ExtensionRule, ReportingSettings
from putright.shared.db import create_engine
from putright.shared.events import Event
from putright.shared.topics import stream_of
from tests.conftest import eventually
from tests.reporting.dataset import d

YEAR = reporting_year(2024)


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run an app's lifespan (broker, consumers) and give an HTTP client to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def publish(settings: ReportingSettings, events: Iterable[Event[Any]]) -> int:
    """Publish events as the other services' outboxes do: keyed by subject, JSON bodies."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=5
    )
    await producer.start()
    count = 0
    try:
        for event in events:
            await producer.send(
                settings.topics.topic(stream_of(event.type)),
                value=event.model_dump_json().encode(),
                key=str(event.subject).encode(),
                # As the outbox relay sends them: the type travels in a header too.
                headers=[("ce_type", event.type.encode())],
            )
            count += 1
        await producer.flush()
    finally:
        await producer.stop()
    return count


async def wait_until_projected(settings: ReportingSettings, count: int) -> None:
    """Wait until the live consumer has applied `count` events."""
    engine = create_engine(settings.database_url, schema="reporting", pool_size=1)

    async def applied() -> bool:
        async with engine.connect() as connection:
            done = await connection.scalar(
                text("SELECT count(*) FROM processed_event WHERE consumer = :name"),
                {"name": consumer_name(settings)},
            )
        return bool(done == count)

    try:
        await eventually(applied, timeout=120)
    finally:
        await engine.dispose()


async def all_figures(url: str, schema: str, scope: Scope) -> dict[str, Any]:
    """Every figure of the 2024/25 reporting year for `scope`, read from one schema."""
    engine = create_engine(url, schema=schema, pool_size=1)
    try:
        async with engine.connect() as db:
            rule = ExtensionRule.WITHIN_LIMIT_OR_GOOD_REASON
            return {
                "tsm": await figures.tsm(db, scope=scope, period=YEAR, rule=rule),
                "volumes": {
                    (by, every): await figures.volumes(
                        db, scope=scope, period=YEAR, every=every, by=by
                    )
                    for by in figures.DIMENSIONS
                    for every in Period
                },
                "timeliness": await figures.timeliness(db, scope=scope, period=YEAR, rule=rule),
                "by_handler": await figures.timeliness(
                    db, scope=scope, period=YEAR, rule=rule, by_handler=True
                ),
                "refusals": await figures.refusals(db, scope=scope, period=YEAR),
                "remedies": await figures.remedies(db, scope=scope, period=YEAR),
                "actions": await figures.outstanding_actions(
                    db, scope=scope, period=YEAR, today=d("2025-03-10")
                ),
                "learning": await figures.learning(db, scope=scope, period=YEAR),
                "letters": await figures.letters(db, scope=scope, period=YEAR),
                "open": await figures.open_clocks(
                    db, scope=scope, today=d("2025-03-10"), due_soon_by=d("2025-03-12")
                ),
                "register": await figures.register(db, scope=scope, period=YEAR),
                "rules": {
                    rule: await figures.tsm(db, scope=scope, period=YEAR, rule=rule)
                    for rule in ExtensionRule
                },
            }
    finally:
        await engine.dispose()
