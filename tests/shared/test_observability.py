"""Logs, traces, metrics and health, as the ops team relies on them."""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import logging
from typing import Any
from uuid import uuid4

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from putright.shared.consumer import Consumer, Origin, Outcome
from putright.shared.db import session_maker
from putright.shared.events import ComplaintWithdrawn, Event
from putright.shared.messaging import create_broker
from putright.shared.observability import configure_logging, correlation_id, tracer
from putright.shared.outbox import Outbox
from putright.shared.runtime import Runtime, delivery_tables
from putright.shared.settings import ServiceSettings
from putright.shared.topics import Stream, Topics
from tests.conftest import eventually
from tests.shared.test_delivery import engine, outbox, processed, withdrawn  # noqa: F401

spans = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(provider)


def test_log_lines_are_json_with_the_service_and_correlation_id() -> None:
    configure_logging("intake")
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    token = correlation_id.set("5c7c8f0e-0000-4000-8000-000000000001")
    try:
        logging.getLogger("putright.test").info("complaint accepted")
    finally:
        correlation_id.reset(token)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["message"] == "complaint accepted"
    assert line["service"] == "intake"
    assert line["correlation_id"] == "5c7c8f0e-0000-4000-8000-000000000001"
    assert line["levelname"] == "INFO"


@pytest.mark.connected
async def test_a_trace_follows_an_event_through_the_outbox_and_kafka_to_its_consumer(
    engine: AsyncEngine,  # noqa: F811
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    topics = Topics(topic_prefix)
    box = Outbox(outbox, topics)
    event = withdrawn()
    with tracer.start_as_current_span("POST /v1/complaints") as request_span:
        async with session_maker(engine)() as session, session.begin():
            await box.stage(session, event)
    broker = create_broker(kafka_bootstrap, client_id="test")
    await broker.start()
    try:
        await box.relay_once(engine, broker, batch_size=100)
        reader = AIOKafkaConsumer(
            topics.topic(Stream.COMPLAINTS),
            bootstrap_servers=kafka_bootstrap,
            auto_offset_reset="earliest",
        )
        await reader.start()
        try:
            record = await reader.getone()
        finally:
            await reader.stop()
        consumer = Consumer(
            name=f"{topic_prefix}.traced",
            sessions=session_maker(engine),
            processed=processed,
            broker=broker,
        )

        @consumer.on(ComplaintWithdrawn)
        async def apply(session: Any, event: Event[Any]) -> None:
            pass

        origin = Origin(
            record.topic, record.partition, record.offset, record.key, tuple(record.headers)
        )
        assert await consumer.process(record.value, origin) is Outcome.APPLIED
    finally:
        await broker.stop()
    [consumed] = [
        span
        for span in spans.get_finished_spans()
        if (span.attributes or {}).get("messaging.message.id") == str(event.id)
    ]
    assert consumed.context.trace_id == request_span.get_span_context().trace_id
    assert consumed.parent is not None
    assert consumed.parent.span_id == request_span.get_span_context().span_id


@pytest.mark.connected
async def test_health_readiness_and_metrics_endpoints(
    database_url: str, kafka_bootstrap: str
) -> None:
    metadata = MetaData()
    delivery_tables(metadata)
    settings = ServiceSettings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"obs{uuid4().hex[:8]}",
    )
    runtime = Runtime("intake", settings, metadata)
    app = FastAPI()
    runtime.instrument(app)
    async with (
        runtime.running(),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        alive = await client.get("/healthz")
        ready = await client.get("/readyz")
        metrics = await client.get("/metrics/")
    assert alive.status_code == 200
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"database": "ok", "kafka": "ok"}
    assert "putright_http_request_seconds" in metrics.text
    assert 'route="/readyz"' in metrics.text


@pytest.mark.connected
async def test_a_subscription_reports_its_consumer_lag(
    database_url: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    metadata = MetaData()
    delivery_tables(metadata)
    settings = ServiceSettings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=topic_prefix,
    )
    runtime = Runtime("intake", settings, metadata)
    consumer = runtime.consumer(Stream.COMPLAINTS, description="lag test")
    applied: list[Any] = []

    @consumer.on(ComplaintWithdrawn)
    async def apply(session: Any, event: Event[Any]) -> None:
        applied.append(event.id)

    topic = settings.topics.topic(Stream.COMPLAINTS)
    subject = uuid4()  # one key, one partition
    async with runtime.running():
        for _ in range(3):
            event = withdrawn(subject)
            await runtime.broker.publish(
                event.model_dump_json().encode(), topic=topic, key=str(subject).encode()
            )
        await eventually(lambda: asyncio.sleep(0, result=len(applied) == 3))
    samples = [
        sample
        for metric in REGISTRY.collect()
        if metric.name == "putright_consumer_lag"
        for sample in metric.samples
        if sample.labels["consumer"] == consumer.name
    ]
    assert samples, "no lag was reported"
    assert all(sample.value == 0 for sample in samples)


@pytest.mark.parametrize("service", ["intake", "deadlines", "letters", "reporting"])
def test_every_service_answers_health_readiness_and_metrics(service: str) -> None:
    """Kubernetes probes and Prometheus rely on these paths on every service."""
    module = importlib.import_module(f"putright.{service}.app")
    paths = {getattr(route, "path", None) for route in module.create_app().routes}
    assert {"/healthz", "/readyz", "/metrics"} <= paths
