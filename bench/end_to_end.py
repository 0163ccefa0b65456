"""End to end: all four services as separate uvicorn processes on real Kafka,
PostgreSQL and a local SMTP sink (aiosmtpd, in the bench process).

(a) Sustained: complaints posted flat out; the rate is complaints over the time from the
    first POST to the last downstream effect (acknowledgement clock stored by deadlines,
    receipt email at the sink, register row in reporting). The bench reads the services'
    tables directly to see those effects; it is not a service, so the rule that services
    share no tables does not bind it.
(b) Latency: complaints posted open-loop at a steady rate; each email is matched to its
    POST by the complaint reference in its subject, and timed from the moment the POST
    was due to be sent (so a stall is not hidden by the sender waiting).
(c) Consumer lag of every consumer group of the run, sampled while (a) runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiosmtpd.controller import Controller

from bench.common import Figure, percentile
from bench.intake_http import (
    COMPLAINT,
    Poster,
    Stack,
    cpu_seconds,
    free_port,
    http_client,
    landlord_key,
    post_flat_out,
    scratch_stack,
    service,
    wait_ready,
)

REFERENCE = re.compile(r"C-[0-9A-F]{10}")
SUBJECT = re.compile(
    rb"^Subject:[ \t]*([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", re.IGNORECASE | re.MULTILINE
)
SERVICES = ("intake", "deadlines", "letters", "reporting")
# uvicorn closes a connection idle for 5 s; reuse only those idle for less.
KEEP_ALIVE_SECONDS = 4.0


def infrastructure_pids() -> dict[str, list[int]]:
    """The Kafka broker and PostgreSQL server processes on this machine, found by name,
    so their CPU per complaint completes the budget (on a quiet machine they are the
    bench's; the bench process itself runs the HTTP clients and the SMTP sink)."""
    found: dict[str, list[int]] = {"Kafka broker": [], "PostgreSQL": [], "bench client": []}
    found["bench client"].append(os.getpid())
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ")
        except OSError:
            continue
        if b"kafka.Kafka" in command:
            found["Kafka broker"].append(int(entry))
        elif command.startswith(b"postgres") or b"/postgres " in command:
            found["PostgreSQL"].append(int(entry))
    return found


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """CPU used so far by each process still alive."""
    used = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            used[pid] = cpu_seconds(pid)
    return used


def cpu_since(before: dict[int, float], now: dict[int, float]) -> float:
    """CPU used between two readings; a process started since counts in full (one that
    exited in between is lost, so PostgreSQL's figure is a floor)."""
    return sum(used - before.get(pid, 0.0) for pid, used in now.items())


@dataclass
class Arrivals:
    """An SMTP handler that notes when the first email for each reference arrived."""

    first: dict[str, float] = field(default_factory=dict)
    emails: int = 0

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        """Record the arrival and accept the message."""
        match = REFERENCE.search(subject_of(envelope.content))
        if match:
            self.first.setdefault(match.group(), time.perf_counter())
        self.emails += 1
        return "250 OK"


def subject_of(content: bytes) -> str:
    """The decoded Subject of an email, reading only its header block: the sink shares the
    machine with the services, and parsing each whole message with the `default` policy
    cost it about 0.65 ms of CPU per email."""
    headers = content.split(b"\r\n\r\n", 1)[0]
    found = SUBJECT.search(headers)
    if found is None:
        return ""
    unfolded = re.sub(rb"\r\n[ \t]+", b" ", found.group(1)).decode("ascii", "replace")
    return str(make_header(decode_header(unfolded)))


@contextlib.contextmanager
def smtp_sink(arrivals: Arrivals, port: int) -> Any:
    """aiosmtpd on its own thread, as a real SMTP server on `port`."""
    controller = Controller(arrivals, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


EFFECT_QUERIES = {
    "deadline stored": "SELECT i.reference FROM intake.complaint i WHERE i.reference = ANY($1) "
    "AND EXISTS (SELECT 1 FROM deadlines.clock c WHERE c.complaint_id = i.id)",
    "register updated": "SELECT reference FROM reporting.complaint WHERE reference = ANY($1)",
}


async def effects(
    connection: asyncpg.Connection, pending: dict[str, set[str]], total: int
) -> dict[str, int]:
    """How many of the posted complaints each downstream service has acted on. Only the
    references still pending are asked about, so polling stays cheap for the database
    (whose CPU the bench reports) as the run goes on."""
    for effect, query in EFFECT_QUERIES.items():
        if pending[effect]:
            done = await connection.fetch(query, list(pending[effect]))
            pending[effect].difference_update(row[0] for row in done)
    return {effect: total - len(pending[effect]) for effect in EFFECT_QUERIES}


async def consumer_lag(bootstrap: str, prefix: str) -> dict[str, int]:
    """Messages each of the run's consumer groups has yet to commit, by group."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await probe.start()
    try:
        groups = [
            group_id
            for group_id, _ in await admin.list_consumer_groups()
            if group_id.startswith(f"{prefix}.")
        ]
        lags = {}
        for group in groups:
            committed = await admin.list_consumer_group_offsets(group)
            if not committed:
                continue
            ends = await probe.end_offsets(list(committed))
            lags[group.removeprefix(f"{prefix}.")] = sum(
                max(0, ends[partition] - offset.offset)
                for partition, offset in committed.items()
                if offset.offset >= 0
            )
        return lags
    finally:
        await probe.stop()
        await admin.close()


@contextlib.asynccontextmanager
async def running_services(
    stack: Stack, smtp_port: int
) -> AsyncIterator[tuple[int, dict[str, int]]]:
    """All four services, each its own process; once all are ready, yields intake's port
    and every service's process id."""
    ports = {name: free_port() for name in SERVICES}
    letters = {"PUTRIGHT_SMTP_HOST": "127.0.0.1", "PUTRIGHT_SMTP_PORT": str(smtp_port)}
    with contextlib.ExitStack() as processes:
        # Intake first: its migration and topics are what the others wait on.
        started = {}
        for name in SERVICES:
            extra = letters if name == "letters" else {}
            started[name] = processes.enter_context(service(name, stack, ports[name], **extra))
            if name == "intake":
                await wait_ready(ports[name], started[name])
        for name in SERVICES:
            await wait_ready(ports[name], started[name])
        yield ports["intake"], {name: process.pid for name, process in started.items()}


async def wait_for_effects(
    stack: Stack, arrivals: Arrivals, references: set[str], *, timeout: float
) -> tuple[float, dict[str, int]]:
    """Poll until every posted complaint has all its effects; the time it happened."""
    connection = await asyncpg.connect(stack.dsn)
    deadline = time.perf_counter() + timeout
    pending = {effect: set(references) for effect in EFFECT_QUERIES}
    try:
        while True:
            counts = await effects(connection, pending, len(references))
            counts["email received"] = sum(1 for ref in references if ref in arrivals.first)
            now = time.perf_counter()
            if all(count >= len(references) for count in counts.values()) or now > deadline:
                return now, counts
            await asyncio.sleep(0.25)
    finally:
        await connection.close()


async def settled(stack: Stack, *, timeout: float) -> None:
    """Wait until no consumer group of the run lags, twice in a row two seconds apart."""
    deadline = time.perf_counter() + timeout
    quiet = 0
    while quiet < 2 and time.perf_counter() < deadline:
        lags = await consumer_lag(stack.bootstrap, stack.prefix)
        quiet = quiet + 1 if not any(lags.values()) else 0
        await asyncio.sleep(2)


async def sample_lag(stack: Stack, peaks: dict[str, int], stop: asyncio.Event) -> None:
    """Keep the highest lag seen per consumer group until `stop` is set."""
    while not stop.is_set():
        with contextlib.suppress(Exception):
            for group, lag in (await consumer_lag(stack.bootstrap, stack.prefix)).items():
                peaks[group] = max(peaks.get(group, 0), lag)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=2)


async def sustained(
    stack: Stack, arrivals: Arrivals, port: int, token: str, *, seconds: float, clients: int
) -> list[Figure]:
    """(a) and (c): complaints per second to every effect, and the peak consumer lag."""
    area = "end to end"
    peaks: dict[str, int] = {}
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_lag(stack, peaks, stop))
    async with http_client(port, clients) as client:
        posted = await post_flat_out(client, token, seconds=seconds, clients=clients)
    references = set(posted.references)
    first_post = min(posted.references.values())
    finished, counts = await wait_for_effects(
        stack, arrivals, references, timeout=max(120, seconds * 4)
    )
    stop.set()
    await sampler
    total = len(references)
    complete = min(counts.values())
    figures = [
        Figure(area, "complaints posted", total, "complaints"),
        Figure(area, "POST rate while posting flat out", total / posted.elapsed, "complaints/s"),
        Figure(
            area,
            "sustained, POST to every effect",
            complete / (finished - first_post),
            "complaints/s",
            ">= 500/s",
        ),
        Figure(area, "drain after the last POST", finished - first_post - posted.elapsed, "s"),
    ]
    figures += [
        Figure(area, f"{effect} (of {total:,} posted)", count, "complaints")
        for effect, count in counts.items()
        if count < total
    ]
    if peaks:
        slowest = max(peaks, key=lambda group: peaks[group])
        figures.append(
            Figure(
                area, f"peak consumer lag, slowest group ({slowest})", peaks[slowest], "messages"
            )
        )
        figures += [
            Figure(area, f"peak consumer lag, {group}", lag, "messages")
            for group, lag in sorted(peaks.items())
            if group != slowest
        ]
    return figures


async def paced(
    stack: Stack, arrivals: Arrivals, port: int, token: str, *, seconds: float, rate: float
) -> list[Figure]:
    """(b): POST-to-email latency with complaints sent open-loop at `rate` per second,
    each on an idle kept-alive connection (a new one when all are busy)."""
    due: dict[str, float] = {}
    failures = 0
    body = json.dumps(COMPLAINT).encode()
    idle: list[tuple[Poster, float]] = []  # each with when it was last used

    def fresh() -> Poster:
        return Poster(
            "127.0.0.1", port, "/v1/complaints", {"Authorization": f"Bearer {token}"}, body
        )

    def reused() -> Poster | None:
        while idle:
            poster, used_at = idle.pop()
            if time.perf_counter() - used_at < KEEP_ALIVE_SECONDS:
                return poster
            poster.close()
        return None

    async def post(scheduled: float) -> None:
        nonlocal failures
        kept = reused()
        poster = kept or fresh()
        try:
            async with asyncio.timeout(30):
                try:
                    status, answer = await poster.post()
                except (EOFError, IndexError, ConnectionResetError):
                    if kept is None:
                        raise
                    # The server closed the kept-alive connection before reading the
                    # request; as any HTTP client does, try once more on a new one.
                    poster.close()
                    poster = fresh()
                    status, answer = await poster.post()
        except (OSError, EOFError, TimeoutError, ValueError, IndexError) as error:
            poster.close()
            failures += 1
            print(f"paced POST failed: {error!r}", flush=True)
            return
        idle.append((poster, time.perf_counter()))
        if status != 201:
            failures += 1
            print(f"paced POST answered {status}: {answer[:200]!r}", flush=True)
            return
        due[json.loads(answer)["reference"]] = scheduled

    began = time.perf_counter()
    tasks = []
    for index in range(int(seconds * rate)):
        scheduled = began + index / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        tasks.append(asyncio.create_task(post(scheduled)))
    await asyncio.gather(*tasks)
    for poster, _ in idle:
        poster.close()
    await wait_for_effects(stack, arrivals, set(due), timeout=60)
    latencies = [arrivals.first[ref] - sent for ref, sent in due.items() if ref in arrivals.first]
    area = "end to end"
    figures = [
        Figure(area, f"POST-to-email p50 at {rate:.0f}/s", percentile(latencies, 0.5), "s"),
        Figure(
            area, f"POST-to-email p99 at {rate:.0f}/s", percentile(latencies, 0.99), "s", "< 2 s"
        ),
    ]
    missing = len(due) - len(latencies)
    if failures:
        figures.append(Figure(area, f"POSTs failed at {rate:.0f}/s", failures, "requests"))
    if missing:
        figures.append(Figure(area, f"emails missing at {rate:.0f}/s", missing, "complaints"))
    return figures


async def end_to_end(
    server_url: str,
    bootstrap: str,
    *,
    sustained_seconds: float,
    paced_seconds: float,
    rate: float = 100,
    clients: int = 32,
) -> list[Figure]:
    """Run all four services and measure (a), (b) and (c)."""
    arrivals = Arrivals()
    smtp_port = free_port()
    async with scratch_stack(server_url, bootstrap) as stack:
        with smtp_sink(arrivals, smtp_port):
            async with running_services(stack, smtp_port) as (port, pids):
                async with http_client(port, 1) as client:
                    token = await landlord_key(client)
                    # Let every service see the landlord's profile before complaints come.
                    await asyncio.sleep(3)
                    warm = await post_flat_out(client, token, seconds=1, clients=1)
                await wait_for_effects(stack, arrivals, set(warm.references), timeout=60)
                cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                others_before = {
                    name: cpu_by_pid(group) for name, group in infrastructure_pids().items()
                }
                figures = await sustained(
                    stack, arrivals, port, token, seconds=sustained_seconds, clients=clients
                )
                complaints = figures[0].value
                figures += [
                    Figure(
                        "end to end",
                        f"{name} CPU per complaint",
                        (cpu_seconds(pid) - cpu_before[name]) / complaints * 1000,
                        "ms",
                    )
                    for name, pid in pids.items()
                ]
                figures += [
                    Figure(
                        "end to end",
                        f"{name} CPU per complaint",
                        cpu_since(others_before[name], cpu_by_pid(group)) / complaints * 1000,
                        "ms",
                    )
                    for name, group in infrastructure_pids().items()
                ]
                # The sustained phase leaves events no figure waits for (reporting projects
                # letters and clocks too): let every consumer catch up before pacing.
                await settled(stack, timeout=180)
                figures += await paced(
                    stack, arrivals, port, token, seconds=paced_seconds, rate=rate
                )
    return figures
