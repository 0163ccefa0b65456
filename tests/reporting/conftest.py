"""Helpers for reporting's tests: run the app, publish events, read a schema."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from sqlalchemy import text

from putright.reporting.rebuild import consumer_name
from putright.reporting.settings import ReportingSettings
from putright.shared.db import create_engine
from putright.shared.events import Event
from putright.shared.topics import stream_of
from tests.conftest import eventually


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
