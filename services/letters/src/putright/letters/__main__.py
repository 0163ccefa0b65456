"""`python -m putright.letters migrate|serve`."""

from putright.letters.app import create_app
from putright.letters.settings import LettersSettings
from putright.shared.cli import main

PORT = 8003

if __name__ == "__main__":
    main("letters", create_app, LettersSettings, PORT)  # type: ignore[arg-type]
