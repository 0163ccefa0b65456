"""`python -m putright.intake migrate|serve`."""

from putright.intake.app import create_app
from putright.intake.settings import IntakeSettings
from putright.shared.cli import main

PORT = 8001

if __name__ == "__main__":
    main("intake", create_app, IntakeSettings, PORT)  # type: ignore[arg-type]
