"""Export the JSON Schema of every event type, so the committed contract can be checked.

Run `python -m putright.shared.events.schemas` after adding an optional field; a test
fails if the committed schemas and the models disagree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from putright.shared.events import ContractorMessage, Event, EventData

SCHEMA_DIR = Path(__file__).resolve().parents[4] / "schemas"


def event_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of each event type's envelope, keyed by file name."""
    schemas: dict[str, dict[str, Any]] = {}
    for event_type, data_class in sorted(EventData.registry.items()):
        schema = Event[data_class].model_json_schema()  # type: ignore[valid-type]
        schema["title"] = event_type
        schema["properties"]["type"] = {"const": event_type, "title": "Type", "type": "string"}
        schemas[f"{event_type}.json"] = schema
    schemas["contractor-message.json"] = ContractorMessage.model_json_schema()
    return schemas


def render(schema: dict[str, Any]) -> str:
    """The canonical text of a schema file."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> None:
    """Write every schema into `shared/schemas/`, removing ones no longer defined."""
    SCHEMA_DIR.mkdir(exist_ok=True)
    expected = event_schemas()
    for stale in {path.name for path in SCHEMA_DIR.glob("*.json")} - expected.keys():
        (SCHEMA_DIR / stale).unlink()
    for name, schema in expected.items():
        (SCHEMA_DIR / name).write_text(render(schema))
    sys.stdout.write(f"wrote {len(expected)} schemas to {SCHEMA_DIR}\n")


if __name__ == "__main__":
    main()
