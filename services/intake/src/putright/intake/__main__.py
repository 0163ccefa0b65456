"""`python -m putright.intake migrate|serve`, and `... admin <command>` for the platform admin."""

import sys

from putright.intake import admin_cli
from putright.intake.app import create_app
from putright.intake.settings import IntakeSettings
from putright.shared.cli import main

PORT = 8001

if __name__ == "__main__":
    if sys.argv[1:2] == ["admin"]:
        admin_cli.main(sys.argv[2:])
    else:
        main("intake", create_app, IntakeSettings, PORT)  # type: ignore[arg-type]
