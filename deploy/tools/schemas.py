"""Turn the schemas we can fetch from package registries into the files kubeconform reads.

kubeconform looks a schema up by a path template and must find a self-contained JSON
Schema there, because it fetches any `$ref` it cannot resolve locally over the network
(and there is no network here). Two sources need reshaping:

- `kubernetes`: the kubernetes-validate wheel's `vX.Y.Z-local-strict` schemas point into
  one shared `_definitions.json` by absolute URL. Each kind's file is rewritten to carry
  the definitions it reaches under its own `$defs`, so refs stay local (recursive types
  stay refs, so nothing is expanded forever).
- `crds`: a CustomResourceDefinition's `openAPIV3Schema` per served version becomes a
  JSON Schema at `<group>/<kind>_<version>.json`, made strict as kubeconform's own
  openapi2jsonschema does it (unknown fields are errors unless the CRD preserves them),
  with OpenAPI's `nullable` and `x-kubernetes-int-or-string` spelled in JSON Schema.

Written here rather than taken from a package because the published converters target
the network layout (schemas fetched by URL) and only need a few lines of logic.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import yaml

DEFINITIONS_REF = re.compile(r"^/api/_definitions\.json#/\$defs/(?P<name>.+)$")


def local_refs(node: Any) -> set[str]:
    """Names of the `$defs` a schema fragment refers to."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                match = DEFINITIONS_REF.match(value) or re.match(r"^#/\$defs/(?P<name>.+)$", value)
                if match:
                    found.add(match["name"])
            else:
                found |= local_refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= local_refs(item)
    return found


def rewrite_refs(node: Any) -> Any:
    """The fragment with every shared-definitions ref pointing at the file's own `$defs`."""
    if isinstance(node, dict):
        rewritten = {key: rewrite_refs(value) for key, value in node.items()}
        ref = rewritten.get("$ref")
        if isinstance(ref, str) and (match := DEFINITIONS_REF.match(ref)):
            rewritten["$ref"] = f"#/$defs/{match['name']}"
        return rewritten
    if isinstance(node, list):
        return [rewrite_refs(item) for item in node]
    return node


def bundle_kubernetes(source: Path, out: Path) -> int:
    """Write one standalone schema per kind; return how many."""
    definitions: dict[str, Any] = json.loads((source / "_definitions.json").read_text())["$defs"]
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(source.glob("*.json")):
        if path.name in {"_definitions.json", "all.json"}:
            continue
        schema = json.loads(path.read_text())
        needed: set[str] = set()
        pending = local_refs(schema)
        while pending:
            name = pending.pop()
            if name not in needed:
                needed.add(name)
                pending |= local_refs(definitions[name]) - needed
        schema.pop("$id", None)
        standalone = rewrite_refs(schema)
        if needed:
            standalone["$defs"] = {name: definitions[name] for name in sorted(needed)}
        (out / path.name).write_text(json.dumps(standalone, separators=(",", ":")))
        count += 1
    return count


def strict_json_schema(node: Any) -> Any:
    """An OpenAPI v3 schema fragment from a CRD as strict JSON Schema."""
    if isinstance(node, list):
        return [strict_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    schema = {
        key: (strict_json_schema(value) if key not in {"enum", "default", "example"} else value)
        for key, value in node.items()
    }
    if schema.pop("x-kubernetes-int-or-string", False):
        schema.pop("type", None)
        schema.pop("anyOf", None)
        schema["oneOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.pop("nullable", False) and isinstance(schema.get("type"), str):
        schema["type"] = [schema["type"], "null"]
    preserves_unknown = schema.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in schema and "additionalProperties" not in schema and not preserves_unknown:
        schema["additionalProperties"] = False
    return schema


def convert_crds(files: list[Path], out: Path) -> int:
    """Write one schema per served version of every CRD in `files`; return how many."""
    count = 0
    for file in files:
        for document in yaml.safe_load_all(file.read_text()):
            if not document or document.get("kind") != "CustomResourceDefinition":
                continue
            spec = document["spec"]
            group, kind = spec["group"], spec["names"]["kind"].lower()
            for version in spec["versions"]:
                if not version.get("served", True):
                    continue
                target = out / group / f"{kind}_{version['name']}.json"
                target.parent.mkdir(parents=True, exist_ok=True)
                schema = strict_json_schema(version["schema"]["openAPIV3Schema"])
                target.write_text(json.dumps(schema, separators=(",", ":")))
                count += 1
    return count


def main() -> None:
    """Run one of the two conversions from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    kubernetes = commands.add_parser("kubernetes", help="bundle kubernetes-validate's schemas")
    kubernetes.add_argument("--source", type=Path, required=True)
    kubernetes.add_argument("--out", type=Path, required=True)
    crds = commands.add_parser("crds", help="convert CRD YAML files")
    crds.add_argument("--out", type=Path, required=True)
    crds.add_argument("files", type=Path, nargs="+")
    arguments = parser.parse_args()
    if arguments.command == "kubernetes":
        count = bundle_kubernetes(arguments.source, arguments.out)
    else:
        count = convert_crds(arguments.files, arguments.out)
    print(f"{count} schemas written to {arguments.out}")


if __name__ == "__main__":
    main()
