"""`python -m putright.reporting migrate|serve`."""

from putright.reporting.app import create_app
from putright.reporting.settings import ReportingSettings
from putright.shared.cli import main

PORT = 8004

if __name__ == "__main__":
    main("reporting", create_app, ReportingSettings, PORT)  # type: ignore[arg-type]
