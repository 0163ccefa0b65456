"""Intake over HTTP: complaints accepted per second through the JSON API, with the
outbox write included, and p50/p99 latency under concurrency.

Intake runs as a real uvicorn process (`python -m putright.intake serve`) on a fresh
database and its own topic prefix; the bench drives it with httpx clients. The helpers
here (scratch databases, service processes, a landlord with an API key) are shared with
the end-to-end bench.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from bench.common import Figure, percentile

ADMIN_TOKEN = secrets.token_urlsafe(16)
IDLE_SECONDS = 3.0
COMPLAINT = {
    "description": "Water has come through the bathroom ceiling twice this month "
    "and the repair booked in the spring never happened. " * 3,
    "category": "repairs",
    "resident": {"name": "Sam Resident", "email": "sam.resident@example.org"},
}


@dataclass
class Stack:
    """One bench run's infrastructure: a scratch database and a topic prefix."""

    database_url: str
    bootstrap: str
    prefix: str = field(default_factory=lambda: f"bench{uuid.uuid4().hex[:8]}")

    @property
    def dsn(self) -> str:
        """The database as asyncpg wants it."""
        url = make_url(self.database_url).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    def environment(self, **extra: str) -> dict[str, str]:
        """Environment for a service process pointed at this run."""
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "PUTRIGHT_TOPIC_PREFIX": self.prefix,
            "PUTRIGHT_ADMIN_TOKEN": ADMIN_TOKEN,
            "PUTRIGHT_OUTBOX_POLL_SECONDS": "0.1",
            **extra,
        }


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def scratch_stack(server_url: str, bootstrap: str) -> AsyncIterator[Stack]:
    """A fresh database (dropped afterwards) and a fresh topic prefix."""
    name = f"putright_bench_{uuid.uuid4().hex[:10]}"
    server = make_url(server_url)
    admin_dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    try:
        yield Stack(server.set(database=name).render_as_string(hide_password=False), bootstrap)
    finally:
        connection = await asyncpg.connect(admin_dsn)
        try:
            await connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        finally:
            await connection.close()


@contextlib.contextmanager
def service(name: str, stack: Stack, port: int, **extra: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run `python -m putright.<name> serve --migrate` as its own process, logs discarded."""
    command = ["serve", "--migrate", "--host", "127.0.0.1", "--port", str(port)]
    # BENCH_LOG_DIR keeps each service's log there, for finding out why a request failed.
    log_dir = os.environ.get("BENCH_LOG_DIR")
    log = open(os.path.join(log_dir, f"{name}.log"), "ab") if log_dir else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", f"putright.{name}", *command],
        env=stack.environment(**extra),
        stdout=log,
        stderr=log,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if not isinstance(log, int):
            log.close()


async def wait_ready(port: int, process: subprocess.Popen[bytes], *, timeout: float = 90) -> None:
    """Wait until a service answers HTTP at all (uvicorn listens only once the app's
    startup, consumers included, is complete), or fail if it died."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"service on port {port} exited with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                await client.get("/openapi.json")
                return
            await asyncio.sleep(0.3)
    raise TimeoutError(f"service on port {port} not ready after {timeout:.0f} s")


async def landlord_key(client: httpx.AsyncClient) -> str:
    """Register a landlord through the admin API and return a submit key for it."""
    admin = {"X-Admin-Token": ADMIN_TOKEN}
    landlord = await client.post(
        "/v1/admin/organisations",
        json={"name": "Bench Homes", "kind": "landlord", "homes": 40_000},
        headers=admin,
    )
    landlord.raise_for_status()
    key = await client.post(
        f"/v1/admin/organisations/{landlord.json()['id']}/api-keys",
        json={"name": "bench", "scopes": ["submit"]},
        headers=admin,
    )
    key.raise_for_status()
    return str(key.json()["token"])


@dataclass
class Posted:
    """What a burst of POSTs achieved."""

    references: dict[str, float] = field(default_factory=dict)  # reference -> POST sent at
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    elapsed: float = 0.0
    reasons: collections.Counter[str] = field(default_factory=collections.Counter)


class Poster:
    """One kept-alive HTTP/1.1 connection that POSTs the same JSON body again and again.

    Hand-written rather than httpx: httpx spent about 12 ms of CPU per POST here, twice
    what intake spends on it, and the bench shares the machine's 2 cores with the
    service, so the accepted rate measured the client. Our server always answers with
    a Content-Length, which is all this needs.
    """

    def __init__(self, host: str, port: int, path: str, headers: dict[str, str], body: bytes):
        self.host, self.port = host, port
        lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}", "", ""]
        self.request = "\r\n".join(lines).encode() + body
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self) -> tuple[int, bytes]:
        """Send the request; the answer's status and body."""
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        writer.write(self.request)
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await reader.readexactly(length)

    def close(self) -> None:
        """Drop the connection; the next POST opens a new one."""
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def post_flat_out(
    client: httpx.AsyncClient, token: str, *, seconds: float, clients: int
) -> Posted:
    """`clients` concurrent submitters, each posting back to back for `seconds` on a
    connection of its own to `client`'s server."""
    posted = Posted()
    url = client.base_url
    body = json.dumps(COMPLAINT).encode()
    started = time.perf_counter()
    stop = started + seconds

    async def submitter() -> None:
        poster = Poster(
            url.host, url.port or 80, "/v1/complaints", {"Authorization": f"Bearer {token}"}, body
        )
        try:
            while (sent_at := time.perf_counter()) < stop:
                try:
                    async with asyncio.timeout(30):
                        status, answer = await poster.post()
                except (OSError, EOFError, TimeoutError, ValueError, IndexError) as error:
                    poster.close()
                    posted.failures += 1
                    posted.reasons[type(error).__name__] += 1
                    continue
                if status != 201:
                    posted.failures += 1
                    posted.reasons[f"{status} {answer[:200]!r}"] += 1
                    continue
                posted.latencies.append(time.perf_counter() - sent_at)
                posted.references[json.loads(answer)["reference"]] = sent_at
        finally:
            poster.close()

    await asyncio.gather(*(submitter() for _ in range(clients)))
    posted.elapsed = time.perf_counter() - started
    return posted


def http_client(port: int, clients: int) -> httpx.AsyncClient:
    """A client with one kept-alive connection per concurrent submitter."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=httpx.Timeout(30)
    )


async def intake_http(
    server_url: str,
    bootstrap: str,
    *,
    seconds: float,
    clients: int = 32,
    profile: str | None = None,
) -> list[Figure]:
    """Complaints per second and latency through a real intake process; with `profile`,
    py-spy records the process during the measured burst into that file."""
    async with scratch_stack(server_url, bootstrap) as stack:
        port = free_port()
        with service("intake", stack, port) as process:
            await wait_ready(port, process)
            async with http_client(port, clients) as client:
                token = await landlord_key(client)
                await post_flat_out(client, token, seconds=min(2.0, seconds), clients=clients)
                idle_before = cpu_seconds(process.pid)
                await asyncio.sleep(IDLE_SECONDS)
                idle = (cpu_seconds(process.pid) - idle_before) / IDLE_SECONDS
                cpu_before = cpu_seconds(process.pid)
                client_cpu_before = time.process_time()
                with py_spy(process.pid, profile, seconds):
                    posted = await post_flat_out(client, token, seconds=seconds, clients=clients)
                client_cpu = time.process_time() - client_cpu_before
            relayed = await outbox_drained(stack, timeout=60)
            cpu = cpu_seconds(process.pid) - cpu_before
    count = max(1, len(posted.latencies))
    rate = len(posted.latencies) / posted.elapsed
    area = "intake"
    figures = [
        Figure(area, f"complaints accepted over HTTP ({clients} clients)", rate, "complaints/s"),
        Figure(area, "POST /v1/complaints p50", percentile(posted.latencies, 0.5) * 1000, "ms"),
        Figure(area, "POST /v1/complaints p99", percentile(posted.latencies, 0.99) * 1000, "ms"),
        Figure(area, "failed POSTs", posted.failures, "requests"),
        # CPU per complaint barely depends on how busy the machine is, unlike the rates.
        Figure(area, "intake CPU per complaint (HTTP + relay)", cpu / count * 1000, "ms"),
        # Polling the outbox, Kafka's consumer and metrics cost CPU with no traffic at
        # all; at low rates that share of the figure above is large.
        Figure(area, "intake CPU while idle", idle * 1000, "ms/s"),
        Figure(
            area,
            "intake CPU per complaint above idle",
            max(0.0, cpu - idle * posted.elapsed) / count * 1000,
            "ms",
        ),
    ]
    # The HTTP client shares the 2 cores: when it needs more CPU per POST than intake
    # does, the accepted rate says more about the client than about intake.
    figures.append(Figure(area, "bench client CPU per POST", client_cpu / count * 1000, "ms"))
    for reason, times in posted.reasons.items():
        print(f"failed {times} time(s): {reason}", file=sys.stderr)
    if relayed is not None:
        figures.append(Figure(area, "outbox drained to Kafka after the burst", relayed, "s"))
    return figures


@contextlib.contextmanager
def py_spy(pid: int, output: str | None, seconds: float) -> Iterator[None]:
    """Record `pid` with py-spy (a flame graph, or raw folded stacks for `.txt`) while
    the block runs; nothing when `output` is None. Only samples holding the GIL count,
    so the shares are of Python CPU, not of time spent waiting."""
    if output is None:
        yield
        return
    form = "raw" if output.endswith(".txt") else "flamegraph"
    recorder = subprocess.Popen(
        [
            "uvx",
            "py-spy",
            "record",
            "--gil",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--format",
            form,
            "--output",
            output,
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        recorder.wait(timeout=seconds + 30)


async def outbox_drained(stack: Stack, *, timeout: float) -> float | None:
    """Seconds until intake's outbox holds nothing unpublished (None if it never empties)."""
    started = time.perf_counter()
    connection = await asyncpg.connect(stack.dsn)
    try:
        while time.perf_counter() - started < timeout:
            waiting = await connection.fetchval(
                "SELECT count(*) FROM intake.outbox WHERE published_at IS NULL"
            )
            if waiting == 0:
                return time.perf_counter() - started
            await asyncio.sleep(0.2)
    finally:
        await connection.close()
    return None


def main() -> None:
    """`python -m bench.intake_http [--seconds N] [--profile out.svg|out.txt]`: this
    benchmark alone, against DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--profile", help="py-spy output for the measured burst")
    arguments = parser.parse_args()
    figures = asyncio.run(
        intake_http(
            os.environ["DATABASE_URL"],
            os.environ["KAFKA_BOOTSTRAP_SERVERS"],
            seconds=arguments.seconds,
            clients=arguments.clients,
            profile=arguments.profile,
        )
    )
    for figure in figures:
        print(f"{figure.name}: {figure.value:,.2f} {figure.unit}")


if __name__ == "__main__":
    main()
