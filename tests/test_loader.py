"""The located loader: positions, YAML 1.2, safety bounds, and never raising."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from maestro.frontend import loader
from maestro.frontend.loader import MAX_BYTES, MAX_NODES, loads, pointer
from maestro.resolve.merge import deep_merge, get, merge_located


def test_positions_of_keys_and_values() -> None:
    loc, diags = loads("a:\n  b: [1, two]\n  'c/d': {e: null}\n", "f.yaml")
    assert diags == []
    assert loc is not None
    assert loc.data == {"a": {"b": [1, "two"], "c/d": {"e": None}}}
    assert (loc.keys["/a/b"].line, loc.keys["/a/b"].col) == (2, 3)
    assert (loc.values["/a/b/1"].line, loc.values["/a/b/1"].col) == (2, 10)
    assert (loc.keys["/a/c~1d"].line, loc.keys["/a/c~1d"].col) == (3, 3)
    assert loc.pos("/a/b/7").line == 2  # unknown child: nearest located parent


def test_yaml_12_scalars() -> None:
    loc, _ = loads("a: no\nb: on\nc: 010\nd: 0o10\ne: 1e3\nf: ~\ng: 2027-01-31\nh: true\n")
    assert loc is not None
    assert loc.data == {"a": "no", "b": "on", "c": 10, "d": 8, "e": 1000.0, "f": None, "g": "2027-01-31", "h": True}


def test_merge_keys_are_supported_and_explicit_keys_win() -> None:
    loc, diags = loads("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n")
    assert diags == [] and loc is not None
    assert loc.data["use"] == {"x": 1, "y": 3}


def test_recursive_alias_is_bounded() -> None:
    loc, diags = loads("a: &a [*a]\n")
    assert loc is None
    assert diags[0].code in ("M001", "M009")


def test_billion_laughs_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """The expansion stops after MAX_NODES nodes, whatever the document expands to (9^12 here):
    the work is bounded by counting nodes, not by a clock (speed is bench/'s business)."""
    levels = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 12):
        levels.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    built = 0
    original = loader._Builder.build

    def counting(self: Any, *args: Any) -> Any:
        nonlocal built
        built += 1
        return original(self, *args)

    monkeypatch.setattr(loader._Builder, "build", counting)
    loc, diags = loads("\n".join(levels) + "\n")
    assert loc is None and diags[0].code == "M009"
    assert MAX_NODES < built <= MAX_NODES + 1


def test_deep_nesting_is_bounded() -> None:
    loc, diags = loads("a: " + "[" * 1000 + "]" * 1000 + "\n")
    assert loc is None and diags[0].code == "M009"


def test_size_bound() -> None:
    loc, diags = loads(b"a: " + b"x" * MAX_BYTES)
    assert loc is None and diags[0].code == "M008"


def test_bom_is_accepted() -> None:
    loc, diags = loads("\ufeffa: 1\n".encode())
    assert diags == [] and loc is not None and loc.data == {"a": 1}


def test_non_string_keys_become_strings() -> None:
    loc, _ = loads("1: a\ntrue: b\n")
    assert loc is not None and loc.data == {"1": "a", "True": "b"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises_and_positions_are_in_the_file(text: str) -> None:
    loc, diags = loads(text, "f.yaml")
    assert (loc is None) == bool(diags)
    # YAML's line breaks, as the parser counts them (editors agree on \r, \n and \r\n)
    lines = re.split("\r\n|\r|\n|\x85|\u2028|\u2029", text)
    for d in diags:
        assert d.code.startswith("M0")
        assert 1 <= d.line <= max(len(lines), 1)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    loc, diags = loads(raw, "f.yaml")
    assert (loc is None) == bool(diags)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
)
# Keys start with a letter: ruamel's *dumper* writes some indicator-led keys (`?0`) unquoted
# in flow style, which is its bug, not the loader's.
keys = st.from_regex(r"[A-Za-z\u00e9\u4e2d][\w./ ~-]{0,7}", fullmatch=True).map(str.strip).filter(bool)
documents = st.dictionaries(
    keys,
    st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=20
    ),
    min_size=1,
    max_size=5,
)


def _dump(data: object, flow: bool) -> str:
    if flow:  # JSON is flow-style YAML 1.2 (ruamel's own flow dumper leaves `:0` unquoted)
        return json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _walk(data: object, ptr: str = ""):  # type: ignore[no-untyped-def]
    yield ptr
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _walk(v, ptr + pointer(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _walk(v, f"{ptr}/{i}")


@settings(max_examples=200, deadline=None)
@given(documents, st.booleans())
def test_round_trip_and_every_node_is_located(data: dict, flow: bool) -> None:
    text = _dump(data, flow)
    loc, diags = loads(text, "f.yaml")
    assert diags == [], (text, diags)
    assert loc is not None
    assert loc.data == data
    n_lines = len(text.split("\n"))
    for ptr in _walk(data):
        assert ptr in loc.values
        assert 1 <= loc.values[ptr].line <= n_lines


@settings(max_examples=80, deadline=None)
@given(documents, documents)
def test_merge_maps_merge_lists_replace(a: dict, b: dict) -> None:
    merged = deep_merge(a, b)
    for k, v in b.items():
        if v is None:
            assert k not in merged
        elif isinstance(v, dict) and isinstance(a.get(k), dict):
            assert isinstance(merged[k], dict)
            for kk, vv in v.items():
                if vv is not None and not isinstance(vv, dict):
                    assert merged[k][kk] == vv
        elif not isinstance(v, dict):
            assert merged[k] == v
    for k in a:
        if k not in b:
            assert merged[k] == a[k]


@settings(max_examples=60, deadline=None)
@given(documents, documents)
def test_merged_positions_follow_values(a: dict, b: dict) -> None:
    la, _ = loads(_dump(a, False), "a.yaml")
    lb, _ = loads(_dump(b, False), "b.yaml")
    assert la is not None and lb is not None
    merged = merge_located(la, lb)
    assert merged.data == deep_merge(a, b)
    for ptr in _walk(merged.data):
        if ptr and get(b, ptr) is not None and get(a, ptr) is None:
            assert merged.values[ptr].file == "b.yaml"
