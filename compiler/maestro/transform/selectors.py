"""Patch targets: group, version, kind, name, namespace (anchored regular expressions), labelSelector
and annotationSelector (Kubernetes selector syntax).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from maestro.transform.resource import (
    Invalid,
    Resource,
    api_group,
    api_version,
    as_text,
    effective_namespace,
    meta_of,
    resource_name,
)


def _regex(pattern: str, what: str) -> re.Pattern[str]:
    try:
        return re.compile(f"(?:{pattern})")
    except re.error as exc:
        raise Invalid("M506", f"invalid regular expression in target {what}: {exc}") from None


_LABEL_NAME = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")

_TOKEN = re.compile(r"\s*(!=|==|=|,|\(|\)|!|>|<|[^\s!=,()<>]+)")


def _valid_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", prefix)):
        return False
    return 0 < len(name) <= 63 and _LABEL_NAME.fullmatch(name) is not None


def _valid_value(value: str) -> bool:
    return len(value) <= 63 and _LABEL_NAME.fullmatch(value) is not None


# A requirement of a label selector: (key, operator, values); operators are "exists",
# "!exists", "in", "notin", "gt", "lt" ("=" is "in" with one value, "!=" is "notin").
Requirement = tuple[str, str, frozenset[str]]


def _parse_selector(text: str) -> list[Requirement]:
    """A Kubernetes label selector ("a=b,c in (d,e),!f"), as labels.Parse reads it."""
    tokens: list[str] = _TOKEN.findall(text)
    if "".join(tokens) != re.sub(r"\s+", "", text):
        raise Invalid("M506", f"unable to parse selector '{text}'")
    requirements: list[Requirement] = []
    pos = 0

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise Invalid("M506", f"unable to parse selector '{text}': unexpected end")
        pos += 1
        return tokens[pos - 1]

    def check(key: str, values: Iterable[str] = ()) -> None:
        if not _valid_key(key):
            raise Invalid("M506", f"invalid label key '{key}' in selector '{text}'")
        for value in values:
            if not _valid_value(value):
                raise Invalid("M506", f"invalid label value '{value}' in selector '{text}'")

    while pos < len(tokens):
        token = take()
        if token == "!":
            key = take()
            check(key)
            requirements.append((key, "!exists", frozenset()))
        elif pos >= len(tokens) or tokens[pos] == ",":
            check(token)
            requirements.append((token, "exists", frozenset()))
        else:
            key, op = token, take()
            if op in ("in", "notin"):
                if take() != "(":
                    raise Invalid("M506", f"unable to parse selector '{text}': expected '('")
                values: set[str] = set()
                while (token := take()) != ")":
                    if token != ",":
                        values.add(token)
                values = values or {""}  # "in ()" means the empty value
            elif op in ("=", "==", "!="):
                values = {take() if pos < len(tokens) and tokens[pos] != "," else ""}
                op = "notin" if op == "!=" else "in"
            elif op in (">", "<"):
                values = {take()}
                if not re.fullmatch(r"\d+", next(iter(values))):
                    raise Invalid("M506", f"'{next(iter(values))}' is not an integer in selector '{text}'")
                op = "gt" if op == ">" else "lt"
            else:
                raise Invalid(
                    "M506", f"unable to parse selector '{text}': found '{op}', expected one of =, !=, ==, in, notin"
                )
            check(key, values)
            requirements.append((key, op, frozenset(values)))
        if pos < len(tokens) and take() != ",":
            raise Invalid("M506", f"unable to parse selector '{text}'")
    return requirements


def _selects(requirements: list[Requirement], labels: dict[str, str]) -> bool:
    for key, op, values in requirements:
        value = labels.get(key)
        if (op == "exists" and value is None) or (op == "!exists" and value is not None):
            return False
        if (op == "in" and value not in values) or (op == "notin" and value in values):
            return False
        if op in ("gt", "lt"):
            if value is None or not re.fullmatch(r"-?\d+", value):
                return False
            bound = int(next(iter(values)))
            if not (int(value) > bound if op == "gt" else int(value) < bound):
                return False
    return True


def _string_map(value: Any) -> dict[str, str]:
    return {str(k): as_text(v) for k, v in value.items()} if isinstance(value, dict) else {}


_TARGET_FIELDS: dict[str, Callable[[Resource], str]] = {
    "group": api_group,
    "version": api_version,
    "kind": lambda r: str(r.get("kind") or ""),
    "name": resource_name,
    "namespace": effective_namespace,
}


def select(resources: list[Resource], target: dict[str, Any]) -> list[int]:
    """Indexes of the resources a kustomize patch `target` selects."""
    unknown = set(target) - set(_TARGET_FIELDS) - {"labelSelector", "annotationSelector"}
    if unknown:
        raise Invalid("M506", f"unknown field(s) in patch target: {', '.join(sorted(unknown))}")
    patterns = [
        (_TARGET_FIELDS[field], _regex(str(target[field]), field)) for field in _TARGET_FIELDS if target.get(field)
    ]
    selectors = [
        (field, _parse_selector(str(target[field])))
        for field in ("labelSelector", "annotationSelector")
        if target.get(field)
    ]

    def selected(resource: Resource) -> bool:
        if not all(pattern.fullmatch(get(resource)) for get, pattern in patterns):
            return False
        for field, requirements in selectors:
            labels = meta_of(resource).get("labels" if field == "labelSelector" else "annotations")
            if not _selects(requirements, _string_map(labels)):
                return False
        return True

    return [i for i, resource in enumerate(resources) if selected(resource)]
