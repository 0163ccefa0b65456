"""Run every benchmark, print one table and rewrite docs/benchmarks.md.

`uv run python -m bench.run [--quick]` with the local infrastructure's environment
loaded (`make bench` does all of it). The bench measures the bare ceilings, intake over
HTTP and the four services end to end itself, then runs each service's own benchmark
script (bench/<area>/*.py) as a subprocess: lines of the form `name: 1,234 unit` become
figures, and each script's whole output is kept verbatim in the report.

Everything below the notes marker in docs/benchmarks.md is written by hand (where the
time goes, fixes with before/after figures) and survives a rerun.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.ceilings import bare_postgres, bare_producer
from bench.common import Figure, machine
from bench.end_to_end import end_to_end
from bench.intake_http import intake_http

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
NOTES_MARKER = "<!-- Everything below is written by hand and kept by bench/run.py. -->"
PRODUCER = "bare aiokafka producer (acks=all)"
POSTGRES = "bare PostgreSQL insert (8 clients)"
INTAKE = "complaints accepted over HTTP (32 clients)"
SUSTAINED = "sustained, POST to every effect"

# A figure line printed by a service's script: "label: 1,234.5 unit ..."
FIGURE_LINE = re.compile(
    r"^\s*(?P<name>[^:]{3,80}?):\s+(?:median\s+)?(?P<value>\d[\d,]*(?:\.\d+)?)\s*"
    r"(?P<unit>[A-Za-z]+/s|ms|s)\b"
)
REBUILD_LINE = re.compile(r"REBUILD: (?P<events>[\d,]+) events .* in (?P<seconds>[\d.]+)\s*s")


@dataclass(frozen=True)
class Script:
    """One service's benchmark script and the arguments for a full and a quick run."""

    area: str
    file: str
    full: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()
    # Target of a figure whose label starts with the key.
    targets: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = 300

    @property
    def path(self) -> Path:
        """Where the script lives."""
        return ROOT / "bench" / self.area / self.file


SCRIPTS = (
    Script("deadlines", "due_dates.py", quick=("--complaints", "100000")),
    Script(
        "deadlines",
        "timers.py",
        # Firing is measured with 1,000,000 pending; firing them all would take minutes.
        full=("--fire", "200000"),
        quick=("--pending", "20000", "--fire", "20000"),
        targets={"throughput": ">= 5,000/s"},
    ),
    Script(
        "letters",
        "render_rate.py",
        quick=("--letters", "300"),
        targets={"rendered": ">= 5,000/s"},
    ),
    Script("letters", "send_rate.py", quick=("--letters", "100")),
    Script("deadlines", "consumer.py", quick=("--complaints", "1000")),
    Script("letters", "consume_rate.py", quick=("--events", "500")),
    Script("reporting", "consumer_cpu.py", quick=("--complaints", "1000")),
    Script(
        "reporting",
        "rebuild_and_views.py",
        quick=("--events", "20000", "--complaints", "20000"),
        targets={"rebuild": "< 60 s"},
        # Publishing the million events alone took 220 s on a busy 2-core machine.
        timeout_seconds=600,
    ),
)


@dataclass
class Outcome:
    """A script's figures and its whole output."""

    script: Script
    figures: list[Figure]
    output: str
    seconds: float


def run_script(script: Script, *, quick: bool, timeout: float) -> Outcome:
    """Run a script as `uv run python bench/<area>/<file>`, and read figures off its output."""
    arguments = script.quick if quick else script.full
    started = time.perf_counter()
    try:
        completed = subprocess.run(
            ["uv", "run", "python", str(script.path.relative_to(ROOT)), *arguments],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        output = completed.stdout + (
            f"\n[exit status {completed.returncode}]\n{completed.stderr[-3000:]}"
            if completed.returncode
            else ""
        )
    except subprocess.TimeoutExpired as expired:
        partial = expired.stdout.decode() if isinstance(expired.stdout, bytes) else expired.stdout
        output = f"{partial or ''}\n[stopped after {timeout:.0f} s]"
    return Outcome(script, figures_in(script, output), output, time.perf_counter() - started)


def figures_in(script: Script, output: str) -> list[Figure]:
    """The figures a script printed, each with its target if it has one."""
    figures = []
    for line in output.splitlines():
        if rebuild := REBUILD_LINE.search(line):
            name = f"rebuild from {rebuild['events']} events"
            figures.append(Figure(script.area, name, float(rebuild["seconds"]), "s", "< 60 s"))
        elif found := FIGURE_LINE.match(line):
            name, unit = found["name"].strip(), found["unit"]
            # A rate target belongs to the rate, not to the CPU line of the same name.
            target = next(
                (
                    goal
                    for prefix, goal in script.targets.items()
                    if name.startswith(prefix) and goal.endswith("/s") == unit.endswith("/s")
                ),
                "",
            )
            value = float(found["value"].replace(",", ""))
            figures.append(Figure(script.area, name, value, unit, target))
    return figures


def verdict(figure: Figure) -> str:
    """Whether a figure meets its target: 'met', 'missed' or '' when it has none."""
    target = re.match(r"(>=|<)\s*([\d,.]+)", figure.target)
    if not target:
        return ""
    limit = float(target[2].replace(",", ""))
    met = figure.value >= limit if target[1] == ">=" else figure.value < limit
    return "met" if met else "**missed**"


def ratios(figures: list[Figure]) -> dict[str, str]:
    """Intake's and end to end's rates as fractions of the bare ceilings, by figure name."""
    by_name = {figure.name: figure.value for figure in figures}
    producer, postgres = by_name.get(PRODUCER), by_name.get(POSTGRES)
    found = {}
    for name in (INTAKE, SUSTAINED):
        if name in by_name and producer and postgres:
            value = by_name[name]
            found[name] = (
                f"{value / producer:.2f} of producer, {value / postgres:.2f} of insert loop"
            )
    if INTAKE in by_name and producer:
        found[INTAKE] += " (target >= 0.50 of producer)"
    return found


def table(figures: list[Figure]) -> str:
    """Every figure as one Markdown table."""
    ratio = ratios(figures)
    lines = [
        "| Area | Figure | Value | Target | Verdict | Ratio to ceiling |",
        "|---|---|---:|---|---|---|",
    ]
    for figure in figures:
        lines.append(
            f"| {figure.area} | {figure.name} | {figure.value:,.2f} {figure.unit} | "
            f"{figure.target} | {verdict(figure)} | {ratio.get(figure.name, '')} |"
        )
    return "\n".join(lines)


def verbatim(output: str) -> str:
    """A script's output without the coloured log lines its services print."""
    return "\n".join(line for line in output.strip().splitlines() if "\x1b[" not in line)


def load() -> str:
    """The machine's load averages, as a witness to how quiet it was."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def kafka_version() -> None:
    """Tell machine() the Kafka version deploy/local pins, unless the environment says."""
    pinned = ROOT / "deploy" / "local" / "versions.env"
    if "KAFKA_VERSION" in os.environ or not pinned.exists():
        return
    for line in pinned.read_text().splitlines():
        if line.startswith("KAFKA_VERSION="):
            os.environ["KAFKA_VERSION"] = line.split("=", 1)[1].strip()


def kept_notes() -> str:
    """The hand-written notes of the current report, if any."""
    if not DOCS.exists():
        return ""
    text = DOCS.read_text()
    return text.split(NOTES_MARKER, 1)[1].lstrip("\n") if NOTES_MARKER in text else ""


def report(
    figures: list[Figure],
    outcomes: list[Outcome],
    *,
    quick: bool,
    loads: tuple[str, str],
    took: float,
) -> str:
    """docs/benchmarks.md: machine, date, conditions, the table, each script's output, notes."""
    mode = "quick (a few seconds per phase: for debugging, not for quoting)" if quick else "full"
    sections = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`bench/run.py`); see bench/README.md. Benchmarks report",
        "figures and assert nothing; the test suite does not run them.",
        "",
        f"- Machine: {machine()}",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; run: {mode}; took {took / 60:.1f} min",
        f"- Load average (1/5/15 min) at start: {loads[0]}; at end: {loads[1]}",
        "",
        table(figures),
        "",
        "## Each service's own benchmark, verbatim",
    ]
    for outcome in outcomes:
        sections += [
            "",
            f"### {outcome.script.area}: `bench/{outcome.script.area}/{outcome.script.file}"
            f"{''.join(' ' + a for a in (outcome.script.quick if quick else outcome.script.full))}`"
            f" ({outcome.seconds:.0f} s)",
            "",
            "```text",
            verbatim(outcome.output),
            "```",
        ]
    sections += ["", NOTES_MARKER, "", kept_notes()]
    return "\n".join(sections).rstrip() + "\n"


async def measure_ourselves(server_url: str, bootstrap: str, *, quick: bool) -> list[Figure]:
    """The ceilings, intake over HTTP and end to end, in that order."""
    figures = await bare_producer(bootstrap, messages=2_000 if quick else 20_000)
    figures += await bare_postgres(_asyncpg_dsn(server_url), rows=800 if quick else 5_000)
    print("ceilings measured", flush=True)
    figures += await intake_http(server_url, bootstrap, seconds=3 if quick else 20)
    print("intake measured", flush=True)
    figures += await end_to_end(
        server_url,
        bootstrap,
        sustained_seconds=5 if quick else 45,
        paced_seconds=5 if quick else 20,
    )
    print("end to end measured", flush=True)
    return figures


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def main() -> None:
    """Measure everything, print the table and rewrite docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds per phase")
    parser.add_argument("--only-ours", action="store_true", help="skip bench/<area>/*.py")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    arguments = parser.parse_args()
    server_url = os.environ.get("DATABASE_URL")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not server_url or not bootstrap:
        sys.exit("set DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS (source .local/env)")
    kafka_version()
    started, load_before = time.perf_counter(), load()
    ours = asyncio.run(measure_ourselves(server_url, bootstrap, quick=arguments.quick))
    outcomes: list[Outcome] = []

    def write() -> None:
        # Rewritten after every step, so a run cut short still leaves its figures.
        figures = ours + [figure for outcome in outcomes for figure in outcome.figures]
        if not arguments.no_docs:
            took = time.perf_counter() - started
            loads = (load_before, load())
            DOCS.write_text(
                report(figures, outcomes, quick=arguments.quick, loads=loads, took=took)
            )

    write()
    if not arguments.only_ours:
        for script in SCRIPTS:
            if script.path.exists():
                outcomes.append(
                    run_script(script, quick=arguments.quick, timeout=script.timeout_seconds)
                )
                print(f"{script.area}/{script.file} done", flush=True)
                write()
    print(table(ours + [figure for outcome in outcomes for figure in outcome.figures]))
    if not arguments.no_docs:
        print(f"wrote {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
