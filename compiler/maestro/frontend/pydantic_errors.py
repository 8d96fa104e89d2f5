"""Located data -> typed model, every pydantic error mapped to the node that is wrong.

Pydantic reports `loc` tuples in the model's terms (aliases, union member tags, `[key]`
for dict keys). `_resolve_loc` walks the model classes alongside the loc to turn it into
a JSON pointer into the document and to learn which names were allowed, which gives
"did you mean" hints for unknown fields and enum values.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, Union

import pydantic
from pydantic import BaseModel

from maestro.diagnostics import Diagnostic, error
from maestro.frontend.loader import Located, escape

M = TypeVar("M", bound=BaseModel)


def dotted(pointer: str) -> str:
    """`/spec/secrets/0/env` -> `spec.secrets[0].env` (how users name fields)."""
    out = ""
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if token.isdigit():
            out += f"[{token}]"
        else:
            out += ("." if out else "") + token
    return out or "(top level)"


def unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional: what the value itself must be."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin in (Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp


def is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def fields_by_alias(model: type[BaseModel]) -> dict[str, Any]:
    return {(f.alias or name): f for name, f in model.model_fields.items()}


@dataclass
class _Where:
    pointer: str
    is_key: bool  # the error is about a mapping key, not a value
    parent_model: type[BaseModel] | None  # model whose field list applies at the end
    leaf: Any  # type expected at the end
    in_union: bool


def _resolve_loc(root: type[BaseModel], loc: tuple[Any, ...]) -> _Where:
    tp: Any = root
    ptr = ""
    parent: type[BaseModel] | None = None
    in_union = False
    is_key = False
    for elem in loc:
        tp = unwrap(tp)
        if elem == "[key]":
            is_key = True
            continue
        if is_model(tp):
            parent = tp
            field = fields_by_alias(tp).get(str(elem))
            ptr += "/" + escape(str(elem))
            tp = field.annotation if field is not None else Any
            if field is not None:
                # the Annotated metadata lives on FieldInfo; keep the bare annotation
                tp = field.annotation
            continue
        origin = typing.get_origin(tp)
        if origin is dict:
            ptr += "/" + escape(str(elem))
            tp = typing.get_args(tp)[1]
            continue
        if origin is list:
            ptr += "/" + str(elem)
            tp = typing.get_args(tp)[0]
            continue
        if origin in (Union, types.UnionType):
            in_union = True
            members = [unwrap(a) for a in typing.get_args(tp) if a is not type(None)]
            chosen = None
            for m in members:
                if is_model(m):
                    tag_field = m.model_fields.get("type")
                    tag_type = tag_field.annotation if tag_field is not None else None
                    if (
                        tag_type is not None
                        and typing.get_origin(tag_type) is Literal
                        and elem in typing.get_args(tag_type)
                    ) or m.__name__ == elem:
                        chosen = m
            tp = chosen if chosen is not None else Any
            continue
        # past the typed structure (e.g. inside Any): just extend the pointer
        ptr += "/" + escape(str(elem))
        tp = Any
    return _Where(ptr, is_key, parent, unwrap(tp), in_union)


_YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n"}

_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "list_type": "a list",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "int_from_float": "an integer",
    "literal_error": "one of the allowed values",
    "none_required": "null",
}


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _closest(word: str, choices: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return match[0] if match else None


def _one(err: dict[str, Any], where: _Where, located: Located, root: type[BaseModel]) -> Diagnostic:
    kind: str = err["type"]
    ctx = err.get("ctx") or {}
    field = dotted(where.pointer)
    value = err.get("input")
    if kind == "extra_forbidden":
        name = where.pointer.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~")
        allowed = sorted(fields_by_alias(where.parent_model)) if where.parent_model else []
        guess = _closest(name, allowed)
        parent = dotted(where.pointer.rsplit("/", 1)[0])
        hint = f"did you mean '{guess}'?" if guess else (f"allowed here: {', '.join(allowed)}" if allowed else None)
        return error("M101", f"unknown field '{name}' in {parent}", hint=hint, **located.where(where.pointer, key=True))
    if kind == "missing":
        parent_ptr, _, name = where.pointer.rpartition("/")
        desc = None
        if where.parent_model is not None:
            f = fields_by_alias(where.parent_model).get(name)
            desc = f.description if f is not None else None
        pos = located.where(parent_ptr, key=True) if parent_ptr else located.where("")
        pos["pointer"] = where.pointer
        return error("M102", f"missing required field '{name}' in {dotted(parent_ptr)}", hint=desc, **pos)
    if kind.startswith("M") and kind[1:].isdigit():  # our own checks (see spec._checked)
        message = err["msg"]
        return error(
            kind, f"{field}: {message}", hint=ctx.get("hint") or None, **located.where(where.pointer, key=where.is_key)
        )
    if kind == "literal_error":
        expected = [a for a in typing.get_args(where.leaf)] if typing.get_origin(where.leaf) is Literal else []
        guess = _closest(str(value), [str(e) for e in expected]) if expected else None
        choices = ", ".join(str(e) for e in expected) or ctx.get("expected", "")
        return error(
            "M104",
            f"{field}: {_describe(value)} is not one of: {choices}",
            hint=f"did you mean '{guess}'?" if guess else None,
            **located.where(where.pointer),
        )
    if kind == "union_tag_invalid":
        tags = ctx.get("expected_tags", "")
        guess = _closest(str(ctx.get("tag")), [t.strip(" '") for t in str(tags).split(",")])
        return error(
            "M104",
            f"{field}: type {ctx.get('tag')!r} is not one of {tags}",
            hint=f"did you mean '{guess}'?" if guess else None,
            **located.where(where.pointer + "/type"),
        )
    if kind == "union_tag_not_found":
        tags = [
            t
            for m in typing.get_args(where.leaf)
            if is_model(unwrap(m))
            for t in typing.get_args(unwrap(m).model_fields["type"].annotation)
        ]
        return error(
            "M102",
            f"missing required field 'type' in {field}",
            hint=f"type is one of: {', '.join(tags)}" if tags else None,
            **located.where(where.pointer, key=True),
        )
    if kind in _TYPE_WORDS or kind.endswith("_type"):
        wanted = _TYPE_WORDS.get(kind, kind.removesuffix("_type"))
        hint = None
        if isinstance(value, str) and kind == "bool_type" and value.lower() in _YAML11_BOOLS:
            hint = f"YAML 1.2 reads {value!r} as a string; write true or false"
        elif isinstance(value, str) and kind in ("int_type", "float_type", "bool_type"):
            hint = "remove the quotes: a quoted value is a string"
        elif isinstance(value, str) and kind == "list_type":
            hint = "write a list: [" + ", ".join(json.dumps(w) for w in value.split()) + "]"
        elif kind == "string_type" and isinstance(value, (int, float, bool)):
            hint = (
                f'quote it: "{value}"'
                if not isinstance(value, bool)
                else f'quote it ("{str(value).lower()}"); in YAML 1.2 unquoted true/false are booleans'
            )
        return error(
            "M103", f"{field}: expected {wanted}, got {_describe(value)}", hint=hint, **located.where(where.pointer)
        )
    # range, length, pattern and other value constraints
    return error(
        "M104",
        f"{field}: {err['msg'][0].lower() + err['msg'][1:]} (got {_describe(value)})",
        **located.where(where.pointer),
    )


def _collapse_unions(items: list[tuple[dict[str, Any], _Where]]) -> list[tuple[dict[str, Any], _Where]]:
    """A value failing every member of `str | int` yields one error per member; keep one.

    If some member got further than a type mismatch, its error is the informative one;
    otherwise report all member types together.
    """
    out: list[tuple[dict[str, Any], _Where]] = []
    groups: dict[str, list[tuple[dict[str, Any], _Where]]] = {}
    for err, where in items:
        if where.in_union and not where.is_key and err["type"] not in ("extra_forbidden", "missing"):
            groups.setdefault(where.pointer, []).append((err, where))
        else:
            out.append((err, where))
    for _ptr, group in groups.items():
        informative = [g for g in group if not (g[0]["type"].endswith("_type") or g[0]["type"] == "int_from_float")]
        if informative:
            out.append(informative[0])
            continue
        words = " or ".join(dict.fromkeys(_TYPE_WORDS.get(g[0]["type"], g[0]["type"]) for g in group))
        err = dict(group[0][0])
        err["type"] = "union_type"
        err["msg"] = words
        out.append((err, group[0][1]))
    return out


def model_errors(exc: pydantic.ValidationError, located: Located, root: type[BaseModel]) -> list[Diagnostic]:
    items = [(dict(err), _resolve_loc(root, tuple(err["loc"]))) for err in exc.errors(include_url=False)]
    diags = []
    for err, where in _collapse_unions(items):
        if err["type"] == "union_type":
            diags.append(
                error(
                    "M103",
                    f"{dotted(where.pointer)}: expected {err['msg']}, got {_describe(err.get('input'))}",
                    **located.where(where.pointer),
                )
            )
        else:
            diags.append(_one(err, where, located, root))
    return diags


def validate_model(model: type[M], located: Located) -> tuple[M | None, list[Diagnostic]]:
    try:
        return model.model_validate(located.data), []
    except pydantic.ValidationError as exc:
        return None, model_errors(exc, located, model)
