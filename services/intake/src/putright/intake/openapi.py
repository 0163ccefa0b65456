"""Export intake's OpenAPI document: `python -m putright.intake.openapi [--check]`.

The committed copy is `docs/openapi/intake.json`; a test fails when it and the app differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from putright.intake.app import create_app
from putright.intake.settings import IntakeSettings

DOCUMENT = Path(__file__).resolve().parents[5] / "docs" / "openapi" / "intake.json"


def document() -> dict[str, Any]:
    """The OpenAPI document of the intake app (building it connects to nothing)."""
    app = create_app(IntakeSettings(contractor_consumer_enabled=False))
    return app.openapi()


def render(openapi: dict[str, Any]) -> str:
    """The canonical text of the document."""
    return json.dumps(openapi, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    """Write the document, or with --check fail if the committed one is stale."""
    parser = argparse.ArgumentParser(prog="putright-intake-openapi")
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    arguments = parser.parse_args()
    text = render(document())
    if arguments.check:
        if not DOCUMENT.exists() or DOCUMENT.read_text() != text:
            sys.exit(f"{DOCUMENT} is stale: run python -m putright.intake.openapi")
        return
    DOCUMENT.parent.mkdir(parents=True, exist_ok=True)
    DOCUMENT.write_text(text)
    sys.stdout.write(f"wrote {DOCUMENT}\n")


if __name__ == "__main__":
    main()
