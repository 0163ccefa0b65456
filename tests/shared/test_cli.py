"""The production entry point, `python -m putright.<service> serve`, as its own process."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import httpx
import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.connected


async def test_a_service_serves_from_its_command_line_and_stops_cleanly_on_sigterm(
    database_url: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "putright.deadlines", "serve"),
        *("--host", "127.0.0.1", "--port", str(port)),
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "PUTRIGHT_TOPIC_PREFIX": topic_prefix,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = b""
    try:
        ready = await wait_for_readiness(port, process)
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            output, _ = await process.communicate()
    assert ready == {"database": "ok", "kafka": "ok"}, output.decode()[-2000:]
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert process.returncode in (0, -signal.SIGTERM), output.decode()[-2000:]
    assert b"Application shutdown complete." in output


async def wait_for_readiness(port: int, process: asyncio.subprocess.Process) -> object:
    """The body of the first successful /readyz, polling while the process lives."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(240):
            if process.returncode is not None:
                return None
            try:
                response = await client.get("/readyz")
            except httpx.TransportError:
                await asyncio.sleep(0.25)
                continue
            if response.status_code == 200:
                return response.json()
            await asyncio.sleep(0.25)
    return None
