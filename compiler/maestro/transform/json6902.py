"""JSON 6902 patches, as Kustomize's library (evanphx/json-patch v4) reads RFC 6902."""

from __future__ import annotations

import re
from typing import Any

import jsonpatch

from maestro.transform.bookkeeping import strip_bookkeeping, with_bookkeeping
from maestro.transform.resource import MISSING, Invalid, Resource, clone, describe


def _tokens(path: str) -> list[str]:
    # Kustomize's JSON patch library drops whatever precedes the first "/": "spec/x" means "/x".
    return [t.replace("~1", "/").replace("~0", "~") for t in str(path).split("/")[1:]]


def _pointer(tokens: list[str]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def _index(token: str, size: int, inserting: bool) -> str:
    """An array index as Kustomize's JSON patch library reads it: "+1" and "01" are 1,
    and negative indexes count from the end (-1 appends when inserting)."""
    if not re.fullmatch(r"[+-]?\d+", token):
        return token
    index = int(token)
    if index < 0:
        index += size + 1 if inserting else size
    return str(index)


def _locate(doc: Any, tokens: list[str], inserting: bool = False) -> tuple[list[str], Any, Any]:
    """(normalised tokens, parent, value or MISSING)."""
    normal: list[str] = []
    parent, node = None, doc
    for i, token in enumerate(tokens):
        parent = node
        if isinstance(node, list):
            token = _index(token, len(node), inserting and i == len(tokens) - 1)
            node = node[int(token)] if token.isdigit() and int(token) < len(node) else MISSING
        elif isinstance(node, dict):
            node = node.get(token, MISSING)
        else:
            node = MISSING
        normal.append(token)
        if node is MISSING and i < len(tokens) - 1:
            return normal + tokens[i + 1 :], None, MISSING
    return normal, parent, node


def _missing(doc: Any, tokens: list[str]) -> str | None:
    """Where `tokens` stop resolving in `doc`, in words (the library's message prints the
    whole parent object, which for a pod template is a screenful)."""
    node = doc
    for i, token in enumerate(tokens):
        at = _pointer(tokens[:i]) or "the object"
        if isinstance(node, dict):
            if token not in node:
                return f"{at} has no key '{token}' (its keys: {', '.join(sorted(map(str, node))) or 'none'})"
            node = node[token]
        elif isinstance(node, list):
            if not token.isdigit() or int(token) >= len(node):
                return f"{at} is a list of {len(node)} item(s): no index {token}"
            node = node[int(token)]
        else:
            return f"{at} is a value, not a map or a list"
    return None


def _same_json(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b))
    return (a == b and type(a) in (int, float) and type(b) in (int, float)) or (type(a) is type(b) and a == b)


def _json_op(doc: Any, op: dict[str, Any]) -> Any:
    """One RFC 6902 operation, read the way Kustomize's library (evanphx/json-patch v4)
    reads it, then applied by the jsonpatch library."""
    kind = op.get("op")
    if "path" not in op:
        raise Invalid("M504", f"{kind} operation failed to decode path")
    if kind == "move" and _tokens(op.get("from", "")) and _tokens(op["path"]):
        # remove, then add at the path as it reads after the removal
        value = _locate(doc, _tokens(op["from"]))[2]
        if value is MISSING:
            raise Invalid("M504", f"move: the from path {op['from']} does not exist")
        doc = _json_op(doc, {"op": "remove", "path": op["from"]})
        return _json_op(doc, {"op": "add", "path": op["path"], "value": value})
    tokens, parent, current = _locate(doc, _tokens(op["path"]), inserting=kind in ("add", "move", "copy"))
    if kind == "test":
        if current is MISSING and isinstance(parent, dict) and "value" in op and op["value"] is None:
            return doc  # a missing map key equals null
        if current is MISSING or not _same_json(current, op.get("value")):
            raise Invalid("M504", f"testing value {op['path']} failed")
        return doc
    if not tokens:
        # The whole document: Kustomize's library replaces it by a map, ignores a
        # replace by anything else, and refuses the other operations.
        if kind == "replace" and not isinstance(op.get("value"), list):
            return clone(op["value"]) if isinstance(op.get("value"), dict) else doc
        raise Invalid("M504", f'{kind} operation does not apply: doc is missing path: ""')
    fixed = dict(op, path=_pointer(tokens))
    if kind in ("add", "replace"):
        fixed.setdefault("value", None)  # a missing value is null
    if kind == "replace" and isinstance(parent, dict) and current is MISSING:
        fixed["op"] = "add"  # replacing a missing map key adds it
    if kind in ("move", "copy"):
        source = _tokens(op.get("from", ""))
        if not source:
            raise Invalid("M504", f"{kind} operation does not apply: doc is missing from path")
        source, source_parent, value = _locate(doc, source)
        if kind == "copy" and value is MISSING and isinstance(source_parent, dict):
            # copying a missing map key copies null
            fixed = {"op": "add", "path": fixed["path"], "value": None}
        else:
            fixed["from"] = _pointer(source)
    try:
        return jsonpatch.JsonPatch([fixed]).apply(doc, in_place=True)
    except (
        jsonpatch.JsonPatchException,
        jsonpatch.JsonPointerException,
        KeyError,
        TypeError,
        ValueError,
        IndexError,
    ) as exc:
        paths = [_tokens(fixed["from"])] if "from" in fixed else []
        paths.append(tokens[:-1] if fixed["op"] in ("add", "move", "copy") else tokens)
        where = next((w for w in map(lambda t: _missing(doc, t), paths) if w), None)
        raise Invalid("M504", f"{kind} {op.get('path')}: {where or exc}") from None


def apply_json_patch(resource: Resource, ops: list[dict[str, Any]]) -> Resource:
    doc: Any = with_bookkeeping(resource)
    for op in clone(ops):
        try:
            doc = _json_op(doc, op)
        except Invalid as exc:
            raise Invalid("M504", f"{describe(resource)}: {exc.message}") from None
    if not isinstance(doc, dict) or not doc.get("kind"):
        raise Invalid("M504", f"{describe(resource)}: the patched object has no kind")
    return strip_bookkeeping(doc)
