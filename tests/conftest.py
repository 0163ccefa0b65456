"""Fixtures for real infrastructure: Kafka, PostgreSQL and an SMTP sink.

Kafka and PostgreSQL come from the environment (`KAFKA_BOOTSTRAP_SERVERS`,
`DATABASE_URL`, written by `deploy/local/up.sh`, which `make test` runs), or, where a
Docker engine answers, from testcontainers. With neither, connected tests fail: they
never pass by skipping.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from putright.shared.migrations import upgrade

SERVICES = ("intake", "deadlines", "letters", "reporting")


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The bootstrap address of a real Kafka broker."""
    if servers := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield servers
        return
    if not _docker_available():
        pytest.fail("no Kafka: run `make test` (it provisions one) or set KAFKA_BOOTSTRAP_SERVERS")
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer("apache/kafka:3.9.1").with_kraft() as kafka:
        yield kafka.get_bootstrap_server()


@pytest.fixture(scope="session")
def server_database_url() -> Iterator[str]:
    """The URL of a real PostgreSQL server's maintenance database."""
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    if not _docker_available():
        pytest.fail("no PostgreSQL: run `make test` (it provisions one) or set DATABASE_URL")
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16", driver="asyncpg") as postgres:
        yield postgres.get_connection_url()


@pytest.fixture(scope="session")
async def database_url(server_database_url: str) -> AsyncIterator[str]:
    """A fresh database for this test session, with every service's migrations applied."""
    name = f"putright_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(server_database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_database_url).set(database=name).render_as_string(hide_password=False)
    for service in SERVICES:
        await upgrade(f"putright.{service}", url=url, schema=service)
    yield url
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture
def topic_prefix() -> str:
    """Topics of this test alone, so tests never see each other's events."""
    return f"test{uuid.uuid4().hex[:10]}"


@pytest.fixture
def service_env(kafka_bootstrap: str, database_url: str, topic_prefix: str) -> dict[str, Any]:
    """Settings every service takes in a connected test."""
    return {
        "database_url": database_url,
        "kafka_bootstrap_servers": kafka_bootstrap,
        "topic_prefix": topic_prefix,
        "outbox_poll_seconds": 0.1,
        "consumer_retry_backoff_seconds": 0.01,
    }


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SmtpSink:
    """A real SMTP server (aiosmtpd) that keeps every message it accepts."""

    host: str
    port: int
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.original_content)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    async def wait_for(self, count: int, timeout: float = 60.0) -> list[Message]:
        """Wait until at least `count` messages have arrived."""
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                await asyncio.sleep(0.05)
        return self.messages


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An SMTP server on a free loopback port, for the test's duration."""
    sink = SmtpSink(host="127.0.0.1", port=free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    yield sink
    controller.stop()


async def eventually(check: Any, *, timeout: float = 60.0, interval: float = 0.1) -> Any:
    """Poll an async `check` until it returns something truthy, or fail after `timeout`."""
    last: Any = None
    try:
        async with asyncio.timeout(timeout):
            while not (last := await check()):
                await asyncio.sleep(interval)
    except TimeoutError:
        pytest.fail(f"condition not met within {timeout}s (last value: {last!r})")
    return last


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI a skipped test is a failure: a green run must mean the real thing ran."""
    if not os.environ.get("PUTRIGHT_FORBID_SKIPS"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and reporter:
        reporter.write_line(f"{skipped} test(s) skipped; CI forbids skips", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
