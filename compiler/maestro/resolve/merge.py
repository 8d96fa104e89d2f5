"""Deep merge of plain data, with provenance for positions.

Semantics (DESIGN.md "Precedence"): maps merge key by key, lists and scalars replace, and
an explicit `null` removes the key (as in Helm values and strategic-merge patches).
"""

from __future__ import annotations

from typing import Any

from maestro.frontend.loader import Located, escape


def deep_merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = deep_merge(out[key], value)
            else:
                out[key] = _strip_nulls(value)
        return out
    return _strip_nulls(over)


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    return value


def get(data: Any, pointer: str) -> Any:
    """The value at a JSON pointer, or None."""
    for token in pointer.split("/")[1:] if pointer else []:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(data, dict):
            data = data.get(token)
        elif isinstance(data, list) and token.isdigit() and int(token) < len(data):
            data = data[int(token)]
        else:
            return None
    return data


def _under(table: dict[str, Any], prefix: str) -> list[str]:
    return [p for p in table if p == prefix or p.startswith(prefix + "/")]


def merge_located(
    base: Located, over: Located, over_root: str = "", into: str = "", *, keep_base_keys: bool = False
) -> Located:
    """Merge `over`'s subtree at `over_root` onto `base` at `into`; positions follow values.

    Where a value comes from `over`, so does its position, so that a diagnostic about a
    merged value points at the file and line that set it. A map both sides have is
    declared where `over` declares it, unless `keep_base_keys` (an enforced fragment
    tightens a section; the section is still the one the spec declared).
    """
    values, keys = dict(base.values), dict(base.keys)

    def replace_subtree(bptr: str, optr: str) -> None:
        for table in (values, keys):
            for p in _under(table, bptr):
                if not (table is keys and p == bptr):
                    del table[p]
        for src, dst in ((over.values, values), (over.keys, keys)):
            for p in _under(src, optr):
                if src is over.keys and p == optr:
                    continue
                dst[bptr + p[len(optr) :]] = src[p]

    def walk(b: Any, o: Any, bptr: str, optr: str) -> None:
        for key, value in o.items():
            bp, op = f"{bptr}/{escape(key)}", f"{optr}/{escape(key)}"
            merging = (
                value is not None and isinstance(b, dict) and isinstance(b.get(key), dict) and isinstance(value, dict)
            )
            if op in over.keys and not (merging and keep_base_keys and bp in keys):
                keys[bp] = over.keys[op]
            if merging:
                walk(b[key], value, bp, op)
            elif value is None:
                for table in (values, keys):
                    for p in _under(table, bp):
                        del table[p]
            else:
                replace_subtree(bp, op)

    target = get(base.data, into) if into else base.data
    fragment = get(over.data, over_root)
    if isinstance(fragment, dict) and isinstance(target, dict):
        walk(target, fragment, into, over_root)
        merged_sub = deep_merge(target, fragment)
    else:
        replace_subtree(into, over_root)
        merged_sub = _strip_nulls(fragment)
    data = set_at(base.data, into, merged_sub)
    return Located(file=base.file, data=data, values=values, keys=keys)


def set_at(data: Any, pointer: str, value: Any) -> Any:
    """A copy of `data` with `value` at `pointer` (parents created as maps)."""
    if not pointer:
        return value
    head, _, rest = pointer[1:].partition("/")
    key = head.replace("~1", "/").replace("~0", "~")
    out = dict(data) if isinstance(data, dict) else {}
    out[key] = set_at(out.get(key), "/" + rest if rest else "", value)
    return out
