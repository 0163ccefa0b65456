"""Logs, metrics and traces, the same in every service.

- Logs are JSON lines carrying the service name and the correlation id of the event or
  request being handled, and never a resident's personal data (handlers log ids only).
- Metrics are Prometheus counters and gauges served at `/metrics`.
- Traces use OpenTelemetry: the trace context of a change is stored with the events it
  stages and travels in their Kafka headers, so one complaint's trace crosses services.
  Spans are exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import Counter, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)
tracer = trace.get_tracer("putright")

EVENTS_CONSUMED = Counter(
    "putright_events_consumed_total", "Events taken from Kafka, by outcome", ["consumer", "outcome"]
)
EVENTS_PUBLISHED = Counter(
    "putright_events_published_total", "Events relayed to Kafka", ["service"]
)
DEAD_LETTERED = Counter(
    "putright_events_dead_lettered_total", "Messages dead-lettered", ["consumer"]
)
OUTBOX_BACKLOG = Gauge("putright_outbox_backlog", "Events waiting in the outbox", ["service"])
CONSUMER_LAG = Gauge(
    "putright_consumer_lag",
    "Messages behind the end of the partition",
    ["consumer", "topic", "partition"],
)
TIMERS_DUE = Gauge("putright_timers_due", "Timers due and not yet fired")
TIMERS_FIRED = Counter("putright_timers_fired_total", "Timers fired, by outcome", ["outcome"])
LETTERS_SENT = Counter(
    "putright_letters_sent_total", "Letters sent or queued for post", ["delivery"]
)
LETTERS_FAILED = Counter("putright_letters_failed_total", "Letters given up after their retries")
HTTP_LATENCY = Histogram(
    "putright_http_request_seconds",
    "HTTP request latency",
    ["service", "method", "route", "status"],
)


class _CorrelationFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.correlation_id = correlation_id.get()
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log record to stdout as one JSON object per line."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(correlation_id)s"
        )
    )
    handler.addFilter(_CorrelationFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def configure_tracing(service: str) -> None:
    """Export spans over OTLP/HTTP when an endpoint is configured; otherwise trace nothing."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": f"putright-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def current_trace_context() -> dict[str, str] | None:
    """The W3C trace context of the current span, to store with staged events."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


@contextlib.contextmanager
def consuming(
    name: str, headers: Sequence[tuple[str, bytes]], correlation: str | None
) -> Iterator[trace.Span]:
    """A span for handling one message, continuing the trace its headers carry."""
    carrier: Mapping[str, str] = {key: value.decode("latin-1") for key, value in headers}
    token = otel_context.attach(propagate.extract(carrier))
    correlation_token = correlation_id.set(correlation)
    try:
        with tracer.start_as_current_span(name, kind=trace.SpanKind.CONSUMER) as span:
            yield span
    finally:
        correlation_id.reset(correlation_token)
        otel_context.detach(token)


@contextlib.contextmanager
def consuming_batch(
    name: str, headers: Sequence[Sequence[tuple[str, bytes]]]
) -> Iterator[trace.Span]:
    """One span for a run of messages handled together, linked to the trace each carries.

    Events staged inside it start from this span, so a complaint's trace continues through
    the link rather than as the parent. Without a tracer provider nothing is extracted."""
    contexts = map(_carried, headers) if _tracing() else iter(())
    links = [trace.Link(context) for context in contexts if context.is_valid]
    with tracer.start_as_current_span(name, kind=trace.SpanKind.CONSUMER, links=links) as span:
        span.set_attribute("messaging.batch.message_count", len(headers))
        yield span


def _tracing() -> bool:
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def _carried(headers: Sequence[tuple[str, bytes]]) -> trace.SpanContext:
    carrier = {key: value.decode("latin-1") for key, value in headers}
    return trace.get_current_span(propagate.extract(carrier)).get_span_context()
