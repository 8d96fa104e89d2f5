"""`maestro fmt`: canonical key order and indentation, comments and quoting kept.

Key order is the order of the fields in the spec models (which follows DESIGN.md); keys
the models do not know keep their relative order after the known ones, so `fmt` never
hides a typo that `validate` reports. Maps the user names (searchSpace, env,
environments) keep the user's order.
"""

from __future__ import annotations

import io
import typing
from typing import Any, Literal

from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from maestro.frontend.pydantic_errors import fields_by_alias, is_model, unwrap
from maestro.frontend.spec import Spec, SpecBody


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.version = None  # do not write a %YAML directive
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long strings
    yaml.indent(mapping=2, sequence=4, offset=2)  # '- ' indented under its key, as in DESIGN.md
    yaml.brace_single_entry_mapping_in_flow_sequence = True  # keep [{a: 1}], not [a: 1]
    return yaml


def _member(tp: Any, value: Any) -> Any:
    """For a union (e.g. a search-space parameter), the member matching the value's `type`."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        for member in typing.get_args(tp):
            member = unwrap(member)
            if is_model(member) and isinstance(value, dict):
                tag = member.model_fields.get("type")
                if (
                    tag is not None
                    and typing.get_origin(tag.annotation) is Literal
                    and value.get("type") in typing.get_args(tag.annotation)
                ):
                    return member
    return tp


def _reorder(node: Any, tp: Any) -> None:
    tp = _member(unwrap(tp), node)
    if isinstance(node, CommentedMap) and is_model(tp):
        fields = fields_by_alias(typing.cast(type[BaseModel], tp))
        for name in [n for n in fields if n in node] + [k for k in list(node) if k not in fields]:
            node.move_to_end(name)
        for name, value in node.items():
            if name in fields:
                child = fields[name].annotation
                if tp is SpecBody and name == "environments":
                    child = dict[str, SpecBody]
                _reorder(value, child)
        return
    origin = typing.get_origin(tp)
    if isinstance(node, CommentedMap) and origin is dict:
        value_type = typing.get_args(tp)[1]
        for value in node.values():
            _reorder(value, value_type)
    elif isinstance(node, CommentedSeq) and origin is list:
        item_type = typing.get_args(tp)[0]
        for value in node:
            _reorder(value, item_type)


def format_text(text: str) -> str:
    """Canonical form of a spec that loads (the caller has checked it parses)."""
    yaml = _yaml()
    data = yaml.load(text)
    _reorder(data, Spec)
    out = io.StringIO()
    yaml.dump(data, out)
    result = out.getvalue()
    return result if result.endswith("\n") else result + "\n"
