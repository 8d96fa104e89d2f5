"""The JSON Schema of maestro.yaml, generated from the pydantic models, and `explain`.

`spec.environments.<env>` takes a *fragment* of `spec`: the same fields, none required.
Pydantic types it as a free mapping (it is validated after merging), so the schema gets
"Patch" copies of the spec's definitions with `required` dropped, for editors.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from maestro.frontend.spec import Spec, SpecBody

SCHEMA_PATH = "schemas/maestro.schema.json"
SCHEMA_ID = "https://maestro.ml/schemas/maestro.schema.json"


def _patch_defs(defs: dict[str, Any], root: str) -> dict[str, Any]:
    """Copies of `root` and every definition it reaches, with nothing required."""
    out: dict[str, Any] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        if name + "Patch" in out:
            continue
        node = copy.deepcopy(defs[name])

        def rewrite(n: Any) -> Any:
            if isinstance(n, dict):
                if "$ref" in n:
                    target = n["$ref"].rsplit("/", 1)[-1]
                    todo.append(target)
                    return {**n, "$ref": f"#/$defs/{target}Patch"}
                return {k: rewrite(v) for k, v in n.items() if k != "required"}
            if isinstance(n, list):
                return [rewrite(v) for v in n]
            return n

        node = rewrite(node)
        node.pop("default", None)
        if "properties" in node:
            for prop in node["properties"].values():
                prop.pop("default", None)  # a fragment sets only what it names
        node["title"] = f"{node.get('title', name)} (override)"
        out[name + "Patch"] = node
    # an override fragment does not nest further environments
    out[root + "Patch"]["properties"].pop("environments", None)
    return out


def _close_pattern_maps(node: Any) -> None:
    """Maps with constrained keys become `patternProperties`; keys matching no pattern
    must be rejected as pydantic rejects them, not silently allowed."""
    if isinstance(node, dict):
        if "patternProperties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close_pattern_maps(value)
    elif isinstance(node, list):
        for value in node:
            _close_pattern_maps(value)


def generate() -> dict[str, Any]:
    schema = Spec.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    _close_pattern_maps(schema)
    defs = schema["$defs"]
    defs.update(_patch_defs(defs, "SpecBody"))
    envs = defs["SpecBody"]["properties"]["environments"]
    # The key pattern moves to propertyNames: a `patternProperties` entry matching every
    # environment name would shadow `additionalProperties` (JSON Schema applies the latter
    # only to names no pattern matches), and overrides would go unchecked in editors.
    envs.pop("patternProperties", None)
    envs["additionalProperties"] = {"$ref": "#/$defs/SpecBodyPatch"}
    envs["propertyNames"] = {"pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def render() -> str:
    return json.dumps(generate(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------ explain


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Follow $ref and Optional (anyOf with null) to the node that describes the value."""
    seen = 0
    while seen < 20:
        seen += 1
        if "$ref" in node:
            extra = {k: v for k, v in node.items() if k != "$ref"}
            node = {**defs[node["$ref"].rsplit("/", 1)[-1]], **extra}
            continue
        options = node.get("anyOf")
        if options:
            real = [o for o in options if o.get("type") != "null"]
            if len(real) == 1:
                node = {**real[0], **{k: v for k, v in node.items() if k != "anyOf"}}
                continue
        return node
    return node


def _type_name(node: dict[str, Any], defs: dict[str, Any]) -> str:
    if "anyOf" in node or "oneOf" in node:
        return " | ".join(_type_name(_resolve(o, defs), defs) for o in node.get("anyOf", node.get("oneOf", [])))
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return "one of " + ", ".join(json.dumps(e) for e in node["enum"])
    t = node.get("type", "any")
    if t == "array":
        return f"list of {_type_name(_resolve(node.get('items', {}), defs), defs)}"
    if t == "object" and node.get("patternProperties"):
        return f"map of {_type_name(_resolve(next(iter(node['patternProperties'].values())), defs), defs)}"
    if t == "object" and isinstance(node.get("additionalProperties"), dict) and not node.get("properties"):
        return f"map of {_type_name(_resolve(node['additionalProperties'], defs), defs)}"
    if t == "object" and node.get("title"):
        return f"object ({node['title']})"
    return str(t)


_INDEX = re.compile(r"\[[0-9]*\]")


def field_parts(path: str) -> list[str]:
    """A field path as diagnostics print it -> its parts: `spec.secrets[0].vaultPath`,
    `serving.replicas.min` (a section of `spec`, as governance messages name it), a JSON
    pointer (`/spec/serving/replicas/min`, as `--format json` prints it). List indices are
    dropped: every item of a list has the same fields."""
    if path.startswith("/"):
        parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
    else:
        parts = _INDEX.sub("", path).split(".")
    parts = [p for p in parts if p and not p.isdigit()]
    sections = {f.alias or name for name, f in SpecBody.model_fields.items()}
    top = {f.alias or name for name, f in Spec.model_fields.items()}
    if parts and parts[0] not in top and parts[0] in sections:
        parts = ["spec", *parts]
    return parts


def lookup(path: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The schema node for a field path (`field_parts`), or (None, the names allowed where it failed)."""
    schema = generate()
    defs = schema["$defs"]
    node = _resolve(schema, defs)
    for part in field_parts(path):
        props = node.get("properties")
        if props and part in props:
            node = _resolve(props[part], defs)
            continue
        if node.get("type") == "array":
            node = _resolve(node.get("items", {}), defs)
            props = node.get("properties", {})
            if part in props:
                node = _resolve(props[part], defs)
                continue
        if node.get("patternProperties"):
            node = _resolve(next(iter(node["patternProperties"].values())), defs)
            continue
        if isinstance(node.get("additionalProperties"), dict):
            node = _resolve(node["additionalProperties"], defs)
            continue
        if "oneOf" in node or "discriminator" in node:
            variants = [_resolve(o, defs) for o in node.get("oneOf", [])]
            for v in variants:
                if part in v.get("properties", {}):
                    node = _resolve(v["properties"][part], defs)
                    break
            else:
                return None, sorted({k for v in variants for k in v.get("properties", {})})
            continue
        return None, sorted(props or {})
    return node, []


def explain(path: str) -> str | None:
    schema = generate()
    defs = schema["$defs"]
    node, _ = lookup(path)
    if node is None:
        return None
    lines = [path or "(maestro.yaml)", f"  type:        {_type_name(node, defs)}"]
    if "default" in node:
        lines.append(f"  default:     {json.dumps(node['default'])}")
    if "enum" in node:
        lines.append(f"  allowed:     {', '.join(json.dumps(e) for e in node['enum'])}")
    bounds = [
        f"{label} {node[k]}"
        for k, label in (
            ("minimum", ">="),
            ("exclusiveMinimum", ">"),
            ("maximum", "<="),
            ("exclusiveMaximum", "<"),
            ("minLength", "min length"),
            ("maxLength", "max length"),
            ("minItems", "min items"),
            ("maxItems", "max items"),
        )
        if k in node
    ]
    if bounds:
        lines.append(f"  constraints: {', '.join(bounds)}")
    if "pattern" in node:
        lines.append(f"  pattern:     {node['pattern']}")
    if node.get("examples"):
        lines.append(f"  examples:    {', '.join(json.dumps(e) for e in node['examples'])}")
    if node.get("description"):
        lines.append("")
        lines.append("  " + node["description"])
    variants = [_resolve(o, defs) for o in node.get("oneOf", [])]
    fields = node.get("properties") or {k: v for var in variants for k, v in var.get("properties", {}).items()}
    if node.get("type") == "array":
        fields = _resolve(node.get("items", {}), defs).get("properties", {})
    if fields:
        required = set(node.get("required", []))
        lines.append("")
        lines.append("  fields:")
        width = max(len(k) for k in fields)
        for name, sub in fields.items():
            sub_r = _resolve(sub, defs)
            desc = sub_r.get("description") or sub.get("description") or ""
            mark = " (required)" if name in required else ""
            lines.append(f"    {name.ljust(width)}  {desc}{mark}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ the spec reference (docs)

REFERENCE_PATH = "docs/spec-reference.md"

_REFERENCE_HEAD = """\
<!-- Generated by `maestro schema` from the spec models (the same source as
     schemas/maestro.schema.json); `maestro schema --check` fails when it is stale. Do not edit:
     change the field descriptions in compiler/maestro/frontend/spec.py and run `maestro schema`. -->
# Spec reference

Every field of `maestro.yaml`, section by section. `maestro explain FIELD` prints the same
for one field (`maestro explain spec.serving.rollout.steps`). Only `apiVersion`, `kind`,
`metadata` (with `name`, `team` and `owners`) and `spec.framework` are required; a section
that is left out is not rendered. `spec.environments.<env>` takes any field of `spec` but
`environments`, none of them required, and deep-merges it onto `spec` for that environment
(maps merge, lists replace, `null` removes a key); see [concepts](concepts.md#precedence).
"""


def _constraints(node: dict[str, Any]) -> list[str]:
    out = [
        f"{label} {node[k]}"
        for k, label in (
            ("minimum", "≥"),
            ("exclusiveMinimum", ">"),
            ("maximum", "≤"),
            ("exclusiveMaximum", "<"),
            ("minLength", "min length"),
            ("maxLength", "max length"),
            ("minItems", "min items"),
            ("maxItems", "max items"),
            ("minProperties", "min entries"),
        )
        if k in node
    ]
    if "pattern" in node:
        out.append(f"pattern `{node['pattern']}`")
    if node.get("uniqueItems"):
        out.append("unique items")
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _children(node: dict[str, Any], defs: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The objects below a field, with the path suffix that reaches them."""
    if node.get("type") == "array":
        item = _resolve(node.get("items", {}), defs)
        return [("[]", item)] if item.get("properties") else []
    values = [*node.get("patternProperties", {}).values()]
    if isinstance(node.get("additionalProperties"), dict):
        values.append(node["additionalProperties"])
    for value in values:
        value = _resolve(value, defs)
        if "oneOf" in value:
            variants = [_resolve(v, defs) for v in value["oneOf"]]
            return [(".<name>", v) for v in variants if v.get("properties")]
        if value.get("properties"):
            return [(".<name>", value)]
    return [("", node)] if node.get("properties") else []


def _section(path: str, node: dict[str, Any], defs: dict[str, Any], out: list[str]) -> None:
    props = node.get("properties", {})
    required = set(node.get("required", []))
    kind = (
        f" with `type: {_resolve(props['type'], defs)['const']}`"
        if "type" in props and "const" in _resolve(props["type"], defs)
        else ""
    )
    out += [f"## `{path or 'maestro.yaml'}`{kind}", ""]
    if node.get("description"):
        out += [node["description"], ""]
    out += ["| field | type | default | description |", "|---|---|---|---|"]
    nested: list[tuple[str, dict[str, Any]]] = []
    for name, raw in props.items():
        sub = _resolve(raw, defs)
        here = f"{path}.{name}" if path else name
        if name == "environments" and path == "spec":
            kind, default = "map of environment name to a fragment of `spec`", "`{}`"
        else:
            kind = _type_name(sub, defs)
            default = "required" if name in required else ""
            if sub.get("default") is not None:  # a null default: the field is simply absent
                default = f"`{json.dumps(sub['default'])}`"
            for suffix, child in _children(sub, defs):
                nested.append((here + suffix, child))
        desc = sub.get("description") or raw.get("description") or ""
        extra = _constraints(sub)
        if sub.get("type") == "array":
            extra += [f"items: {c}" for c in _constraints(_resolve(sub.get("items", {}), defs))]
        if extra:
            desc = f"{desc} ({'; '.join(extra)})" if desc else "; ".join(extra)
        if sub.get("examples"):
            desc += f" Example: {', '.join(f'`{json.dumps(e)}`' for e in sub['examples'])}."
        out.append(f"| `{name}` | {_cell(kind)} | {_cell(default)} | {_cell(desc.strip())} |")
    out.append("")
    for child_path, child in nested:
        _section(child_path, child, defs, out)


def reference() -> str:
    """docs/spec-reference.md: every section of the spec as a table, from the schema."""
    schema = generate()
    defs = schema["$defs"]
    out = [_REFERENCE_HEAD]
    top = {k: v for k, v in schema.items() if k in ("properties", "required", "description")}
    _section("", {**top, "description": ""}, defs, out)
    return "\n".join(out).rstrip("\n") + "\n"
