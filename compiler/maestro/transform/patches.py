"""`patches`: parsing a patch (YAML 1.1, as Kustomize reads it), and applying one entry (strategic
merge or JSON 6902) to the objects its target selects.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import warnings
from typing import Any, cast

from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import YAMLError

from maestro.diagnostics import Diagnostic
from maestro.transform.bookkeeping import strip_bookkeeping, with_bookkeeping
from maestro.transform.json6902 import apply_json_patch
from maestro.transform.resource import (
    Invalid,
    Resource,
    api_group,
    api_version,
    clone,
    effective_namespace,
    guard,
    meta_of,
    own,
    resid,
    resource_name,
)
from maestro.transform.selectors import select
from maestro.transform.strategic_merge import DELETE, root_info, strategic_merge


class _GoConstructor(SafeConstructor):
    """Integers as Go's YAML libraries read them: 0644 is octal (420), 0o17 and 0x1f too."""

    def construct_go_int(self, node: Any) -> Any:
        text = str(self.construct_scalar(node)).replace("_", "")
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        bases = {"0x": 16, "0o": 8, "0b": 2}
        try:
            if digits[:2].lower() in bases:
                return sign * int(digits[2:], bases[digits[:2].lower()])
            if len(digits) > 1 and digits.startswith("0") and set(digits) <= set("01234567"):
                return sign * int(digits, 8)
            return sign * int(digits)
        except ValueError:
            return text


_GoConstructor.add_constructor("tag:yaml.org,2002:int", _GoConstructor.construct_go_int)


def _yaml_docs(text: str, version: tuple[int, int] | None = None) -> list[Any]:
    loader = YAML(typ="safe", pure=True)
    loader.Constructor = _GoConstructor
    if version:
        loader.version = version
    with warnings.catch_warnings():
        # YAML 1.1 floats such as 1e3 warn in ruamel; they are fine here.
        warnings.simplefilter("ignore")
        return [doc for doc in loader.load_all(text) if doc is not None]


def _json_ready(value: Any, rfc3339: bool = False) -> Any:
    """YAML values as Kustomize passes them on: no inf/nan; a date is its text in a
    JSON patch and an RFC 3339 time in a strategic merge patch."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v, rfc3339) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v, rfc3339) for v in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat().replace("+00:00", "Z") if rfc3339 else value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat() + ("T00:00:00Z" if rfc3339 else "")
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid("M502", f"unable to parse JSON patch: {value} is not a JSON number")
    return value


def parse_patch(text: str) -> tuple[str, Any]:
    """("json", ops) or ("smp", [documents]), told apart as Kustomize does.

    A text starting with "[" must be strict JSON. A JSON patch written as YAML is read
    with YAML 1.1 rules (yes -> true, 0644 -> 420), a strategic merge patch with 1.2
    rules, as Kustomize's two YAML libraries do.
    """
    try:
        if text.strip().startswith("["):
            docs = [json.loads(text)]
        else:
            docs = [_json_ready(doc, rfc3339=True) for doc in _yaml_docs(text)]
            if len(docs) == 1 and isinstance(docs[0], list):
                docs = [_json_ready(_yaml_docs(text, (1, 1))[0])]
    except (YAMLError, ValueError) as exc:
        raise Invalid("M502", f"unable to parse SM or JSON patch: {str(exc).splitlines()[0]}") from None
    is_json = len(docs) == 1 and isinstance(docs[0], list) and all(isinstance(op, dict) for op in docs[0])
    is_smp = all(
        isinstance(d, dict) and d.get("kind") and isinstance(d.get("metadata"), dict) and d["metadata"].get("name")
        for d in docs
    )
    if (is_json and not docs[0]) or (not docs and is_smp):
        raise Invalid("M502", "patch illegally qualifies as both an SM and JSON patch")
    if is_json:
        return "json", docs[0]
    if is_smp:
        return "smp", docs
    raise Invalid(
        "M502",
        "unable to parse SM or JSON patch",
        hint="a JSON 6902 patch is a list of operations; a strategic merge patch is a map with kind and metadata.name",
    )


def _apply_smp(resource: Resource, doc: dict[str, Any]) -> Resource | None:
    """None when the patch deletes the object (`$patch: delete` at the top)."""
    doc = clone(doc)
    # The object keeps its identity, whatever apiVersion, kind, name or namespace the
    # patch states (they served only to find the object).
    doc["apiVersion"], doc["kind"] = resource.get("apiVersion"), resource.get("kind")
    doc["metadata"]["name"] = meta_of(resource).get("name")
    if "namespace" in meta_of(resource):
        doc["metadata"]["namespace"] = meta_of(resource)["namespace"]
    else:
        doc["metadata"].pop("namespace", None)
    merged = strategic_merge(with_bookkeeping(resource), doc, root_info(resource))
    if merged is DELETE:
        return None
    return strip_bookkeeping(merged)


def transform_patch(
    resources: list[Resource], entry: dict[str, Any], *, base_dir: str | os.PathLike[str] | None = None
) -> list[Resource]:
    """One kustomize `patches` entry ({patch | path, target?}) applied to the list."""
    if not isinstance(entry, dict):
        raise Invalid("M501", "a patches entry must be a map")
    unknown = set(entry) - {"patch", "path", "target", "options"}
    if unknown:
        raise Invalid("M501", f"unknown field(s) in patches entry: {', '.join(sorted(unknown))}")
    text = patch_text(entry, base_dir)
    kind, body = parse_patch(text)
    target = entry.get("target")
    if target is not None and not isinstance(target, dict):
        raise Invalid("M506", "patch target must be a map")
    out = own(resources)
    if kind == "json":
        if target is None:
            raise Invalid("M502", "must specify a target for JSON patch")
        for i in select(out, target):
            out[i] = apply_json_patch(out[i], body)
        return out
    if target is not None:
        if len(body) > 1:
            raise Invalid("M502", "multiple strategic merge patches in one `patches` entry cannot have a target")
        selected = set(select(out, target))
        patched = [_apply_smp(r, body[0]) if i in selected else r for i, r in enumerate(out)]
        return [r for r in patched if r is not None]
    kept: list[Resource | None] = list(out)
    for doc in body:
        wanted = (api_group(doc), api_version(doc), str(doc["kind"]), resource_name(doc), effective_namespace(doc))
        hits = [i for i, r in enumerate(kept) if r is not None and resid(r) == wanted]
        if len(hits) != 1:
            what = "no resource matches" if not hits else "more than one resource matches"
            raise Invalid(
                "M503",
                f"{what} strategic merge patch for {doc.get('apiVersion')} {doc['kind']} '{resource_name(doc)}'",
                hint="add a `target`, or check apiVersion, kind, name and namespace",
            )
        kept[hits[0]] = _apply_smp(cast(Resource, kept[hits[0]]), doc)
    return [r for r in kept if r is not None]


def patch_text(entry: dict[str, Any], base_dir: str | os.PathLike[str] | None) -> str:
    patch, path = entry.get("patch"), entry.get("path")
    if patch and path:
        raise Invalid("M501", "patch and path can't be set at the same time")
    if path:
        if base_dir is None:
            raise Invalid("M509", f"patch path '{path}' given but no base directory")
        root = os.path.realpath(base_dir)
        full = os.path.realpath(os.path.join(root, str(path)))
        if os.path.commonpath([root, full]) != root:
            # Kustomize's load restrictor: files must sit in or below the kustomization.
            raise Invalid("M509", f"patch file '{path}' is not in or below '{base_dir}'")
        try:
            with open(full, encoding="utf-8") as handle:
                return handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise Invalid("M509", f"cannot read patch file '{path}': {exc}") from None
    if not isinstance(patch, str) or not patch.strip():
        raise Invalid("M501", "must specify one of patch and path")
    return patch


def apply_patch(
    resources: list[Resource], entry: dict[str, Any], *, base_dir: str | os.PathLike[str] | None = None
) -> tuple[list[Resource], list[Diagnostic]]:
    """One `patches:` entry ({patch | path, target?}); `path` is read below `base_dir`."""
    return guard("/patches", resources, lambda: transform_patch(resources, entry, base_dir=base_dir))
