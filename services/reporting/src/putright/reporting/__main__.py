"""`python -m putright.reporting migrate|serve|rebuild [--schema NAME]`."""

import asyncio
import sys

from putright.reporting.app import create_app
from putright.reporting.rebuild import rebuild
from putright.reporting.settings import ReportingSettings
from putright.shared.cli import main

PORT = 8004


def rebuild_command(arguments: list[str]) -> None:
    """Replay every topic into fresh projections (see `putright.reporting.rebuild`)."""
    schema = arguments[arguments.index("--schema") + 1] if "--schema" in arguments else "reporting"
    report = asyncio.run(rebuild(ReportingSettings(), schema=schema))
    sys.stdout.write(
        f"rebuilt {schema}: {report.events} events applied, {report.skipped} unreadable "
        f"skipped, in {report.seconds:.1f}s\n"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["rebuild"]:
        rebuild_command(sys.argv[2:])
    else:
        main("reporting", create_app, ReportingSettings, PORT)  # type: ignore[arg-type]
