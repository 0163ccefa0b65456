"""`python -m putright.deadlines migrate|serve`."""

from putright.deadlines.app import create_app
from putright.deadlines.settings import DeadlinesSettings
from putright.shared.cli import main

PORT = 8002

if __name__ == "__main__":
    main("deadlines", create_app, DeadlinesSettings, PORT)  # type: ignore[arg-type]
