"""Convert CustomResourceDefinition YAML into the JSON Schema files `verify` reads.

    python -m maestro.output.crdschema CRD.yaml [CRD.yaml ...] --out DIR

writes `DIR/<group>/<kind>_<version>.json` (lower case) for every served version of every
CRD in the files: the version's `openAPIV3Schema`, made the way kubeconform's
`openapi2jsonschema` and the datreeio CRDs-catalog make theirs, so that a refreshed file
can be compared with the catalog's byte for byte:
- every nested object schema that has `properties` (and a `type` that includes `object`)
  gets `additionalProperties: false` unless it says otherwise: the API server prunes or
  rejects unknown fields there, so a typo in a rendered object must fail here too;
- the root stays open (`verify` closes it itself, knowing which kinds keep unknowns);
- `format: int-or-string` becomes `oneOf: [string, integer]`;
- key order is the CRD's, JSON is indented by two spaces and ASCII-escaped.

This is how the schemas shipped in `data/crd-schemas` are refreshed when an operator
releases (record the source and version in that folder's README), and how a platform team
builds the folder `crd_schema_dir` names for its own CRDs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


def _is_object_type(value: Any) -> bool:
    return value == "object" or (isinstance(value, list) and "object" in value)


def strict(node: Any, *, root: bool = True) -> Any:
    """A copy of `node` with nested object schemas closed and int-or-string spelled out."""
    if isinstance(node, list):
        return [strict(item, root=False) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: (
            _int_or_string()
            if isinstance(value, dict) and value.get("format") == "int-or-string"
            else strict(value, root=False)
        )
        for key, value in node.items()
    }
    if not root and "properties" in out and _is_object_type(out.get("type")) and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def _int_or_string() -> dict[str, Any]:
    return {"oneOf": [{"type": "string"}, {"type": "integer"}]}


def _definitions(documents: Sequence[Any]) -> Iterator[dict[str, Any]]:
    """The CRDs among the documents of a file (a `List` of them counts too)."""
    for doc in documents:
        if not isinstance(doc, dict):
            continue
        is_list = str(doc.get("kind", "")).endswith("List")
        for item in (doc.get("items") or []) if is_list else [doc]:
            if isinstance(item, dict) and item.get("kind") == "CustomResourceDefinition":
                yield item


def convert(documents: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """`{"<group>/<kind>_<version>.json": schema}` for every version that has a schema."""
    out: dict[str, dict[str, Any]] = {}
    for crd in _definitions(documents):
        spec = crd.get("spec") or {}
        group, kind = spec.get("group", ""), (spec.get("names") or {}).get("kind", "")
        if not group or not kind:
            raise ValueError(
                f"CustomResourceDefinition {crd.get('metadata', {}).get('name', '?')} has no "
                "spec.group or spec.names.kind"
            )
        for version in spec.get("versions") or []:
            schema = (version.get("schema") or {}).get("openAPIV3Schema") or (spec.get("validation") or {}).get(
                "openAPIV3Schema"
            )  # apiextensions v1beta1
            if schema:
                out[f"{group}/{kind}_{version['name']}.json".lower()] = strict(schema)
    return out


def dumps(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    parser = argparse.ArgumentParser(prog="python -m maestro.output.crdschema", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", metavar="CRD.yaml")
    parser.add_argument("--out", required=True, metavar="DIR", help="schema folder ({group}/{kind}_{version}.json)")
    args = parser.parse_args(argv)
    yaml = YAML(typ="safe", pure=True)
    written = 0
    for name in args.files:
        try:
            with open(name, encoding="utf-8") as f:
                schemas = convert(list(yaml.load_all(f)))
        except (OSError, YAMLError, ValueError) as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            return 2
        if not schemas:
            print(f"{name}: no CustomResourceDefinition with an openAPIV3Schema", file=sys.stderr)
            return 2
        for rel, schema in sorted(schemas.items()):
            target = Path(args.out) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(dumps(schema), encoding="utf-8")
            print(f"wrote {target}")
            written += 1
    return 0 if written else 2


if __name__ == "__main__":
    sys.exit(main())
