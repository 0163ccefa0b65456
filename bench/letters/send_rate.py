"""Letters sent per second to a local SMTP sink (aiosmtpd, in its own process), through
the real sender.

Letters are claimed a batch at a time, rendered, checked, sent over SMTP and marked sent
with their "letter sent" events staged, as in production. Needs
PostgreSQL (`source .local/env`); Kafka is not used (events stay in the outbox).
Also reports the bare SMTP rate (aiosmtplib to the sink, no database) for comparison.

Run: `source .local/env && uv run python bench/letters/send_rate.py [--letters 500]`
(on uvloop, as the service runs; `--loop asyncio` for the standard loop)
"""

from __future__ import annotations

import sys
from pathlib import Path

# The benchmarks reuse the tests' sample letters, so run them from anywhere in the repo.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import asyncio
import os
import socket
import time
import uuid

import uvloop
from sqlmodel import col, select

from bench.common import scratch_database
from putright.letters.flows import Letters, letter_id, message_id
from putright.letters.models import Letter, metadata
from putright.letters.sending import OutgoingEmail, Sender, SmtpMailer
from putright.letters.settings import LettersSettings
from putright.shared.events import LetterKind
from putright.shared.events.envelope import utc_now
from putright.shared.events.values import Stage
from putright.shared.runtime import Runtime
from tests.letters.samples import facts_for


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_for_port(port: int) -> None:
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise SystemExit("the SMTP sink did not start")


async def bare_smtp_rate(settings: LettersSettings, letters: int) -> float:
    mailer = SmtpMailer(settings)
    started = time.perf_counter()
    for index in range(letters):
        data = (
            "From: bench@putright.invalid\r\nTo: resident@example.org\r\n"
            f"Subject: bench {index}\r\n\r\nhello\r\n"
        )
        await mailer.send(
            OutgoingEmail("bench@putright.invalid", ("resident@example.org",), data.encode())
        )
    return letters / (time.perf_counter() - started)


async def sender_rate(
    settings: LettersSettings, letters: int, workers: int, kind: LetterKind
) -> tuple[float, float, float]:
    """Letters per second, and this process's CPU milliseconds per letter, all and in the
    kernel (the sink runs in a process of its own, so this is the sender's share; on a
    busy machine the kernel's share of each socket write is large)."""
    runtime = Runtime("letters", settings, metadata)
    organisation = uuid.uuid4()
    facts = facts_for(kind, Stage.ONE)
    async with runtime.unit_of_work() as session:
        for _ in range(letters):
            complaint, cause = uuid.uuid4(), uuid.uuid4()
            identity = letter_id(complaint, kind, cause)
            session.add(
                Letter(
                    id=identity,
                    complaint_id=complaint,
                    organisation_id=organisation,
                    kind=kind,
                    caused_by_event_id=cause,
                    correlation_id=cause,
                    message_id=message_id(identity, "bench.invalid"),
                    recipient="resident@example.org",
                    recipient_name=facts.addressee_name,
                    subject="bench",
                    facts=facts.model_dump(mode="json"),
                    created_at=utc_now(),
                )
            )
    sender = Sender(
        runtime, settings, Letters(runtime, settings), mailer=SmtpMailer(settings), clock=utc_now
    )

    async def drain() -> None:
        while await sender.send_due():
            pass

    started, cpu, kernel = time.perf_counter(), time.process_time(), os.times().system
    await asyncio.gather(*(drain() for _ in range(workers)))
    elapsed = time.perf_counter() - started
    cpu_ms = (time.process_time() - cpu) * 1000 / letters
    kernel_ms = (os.times().system - kernel) * 1000 / letters
    async with runtime.sessions() as session:
        statuses = (
            await session.exec(
                select(Letter.status).where(col(Letter.organisation_id) == organisation)
            )
        ).all()
    assert statuses.count("sent") == letters, "every letter sent"
    await runtime.engine.dispose()
    return letters / elapsed, cpu_ms, kernel_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--letters", type=int, default=500)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument(
        "--kind", type=LetterKind, default=LetterKind.STAGE1_RESPONSE, help="letter kind sent"
    )
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="event loop (the service runs on uvloop: `python -m putright.letters serve`)",
    )
    arguments = parser.parse_args()
    if arguments.loop == "uvloop":
        uvloop.run(measure(arguments))
    else:
        asyncio.run(measure(arguments))


async def measure(arguments: argparse.Namespace) -> None:
    port = free_port()
    sink = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aiosmtpd",
        "-n",
        "-l",
        f"127.0.0.1:{port}",
        "-c",
        "aiosmtpd.handlers.Sink",
    )
    await wait_for_port(port)
    try:
        async with scratch_database("letters") as url:
            await send_all(url, port, arguments)
    finally:
        sink.terminate()
        await sink.wait()


async def send_all(url: str, port: int, arguments: argparse.Namespace) -> None:
    """The bare SMTP rate, then the sender's with each number of workers asked for."""
    settings = LettersSettings(
        database_url=url, smtp_host="127.0.0.1", smtp_port=port, profile_wait_seconds=0
    )
    bare = await bare_smtp_rate(settings, arguments.letters)
    print(f"bare SMTP (no database):   {bare:8.0f} emails/s")
    for workers in arguments.workers:
        rate, cpu_ms, kernel_ms = await sender_rate(
            settings, arguments.letters, workers, arguments.kind
        )
        print(f"sender, {workers} worker(s):     {rate:8.0f} letters/s ({arguments.kind})")
        print(f"sender, {workers} worker(s), CPU per letter: {cpu_ms:8.2f} ms")
        print(f"sender, {workers} worker(s), kernel CPU per letter: {kernel_ms:8.2f} ms")


if __name__ == "__main__":
    main()
