"""What every benchmark shares: the machine it ran on, and how figures are reported.

Benchmarks report figures; they assert nothing. Each returns `Figure`s that
`bench/run.py` prints as a table and writes to docs/benchmarks.md.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from dataclasses import dataclass


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
