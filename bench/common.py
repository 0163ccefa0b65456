"""What every benchmark shares: the machine it ran on, and how figures are reported.

Benchmarks report figures; they assert nothing. Each returns `Figure`s that
`bench/run.py` prints as a table and writes to docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from putright.shared.migrations import upgrade


@dataclass(frozen=True)
class Figure:
    """One measured figure, with the target it is judged against, if any."""

    area: str
    name: str
    value: float
    unit: str
    target: str = ""

    def row(self) -> str:
        """The figure as a Markdown table row."""
        return f"| {self.area} | {self.name} | {self.value:,.1f} {self.unit} | {self.target} |"


def percentile(samples: list[float], fraction: float) -> float:
    """The `fraction` quantile of `samples` (0.5 = median)."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=1000, method="inclusive")[int(fraction * 1000) - 1]


def machine() -> str:
    """A one-line description of the machine the figures came from."""
    memory_kib = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    kafka = os.environ.get("KAFKA_VERSION", "see deploy/local/versions.env")
    postgres = subprocess.run(
        ["postgres", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory_kib / 1024 / 1024:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"Kafka {kafka}, {postgres or 'PostgreSQL'}"
    )


@contextlib.asynccontextmanager
async def scratch_database(service: str) -> AsyncIterator[str]:
    """A database of the run's own on the server `DATABASE_URL` names, with `service`'s
    migrations applied, dropped afterwards; yields its URL."""
    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        raise SystemExit("set DATABASE_URL (source .local/env)")
    name = f"putright_bench_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        await upgrade(f"putright.{service}", url=url, schema=service)
        yield url
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.dispose()
