"""`maestro fmt`: idempotent, preserves the data and the comments."""

from __future__ import annotations

import io
import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from conftest import ROOT
from maestro.frontend.fmt import format_text
from maestro.frontend.loader import loads

SPECS = sorted((ROOT / "specs").glob("*/maestro.yaml"))


def _shuffled(data: object, rnd: random.Random) -> object:
    if isinstance(data, dict):
        items = list(data.items())
        rnd.shuffle(items)
        return {k: _shuffled(v, rnd) for k, v in items}
    if isinstance(data, list):
        return [_shuffled(v, rnd) for v in data]
    return data


def test_examples_are_formatted() -> None:
    for path in SPECS:
        text = path.read_text()
        assert format_text(text) == text, f"run: maestro fmt {path.relative_to(ROOT)}"


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.sampled_from(SPECS), st.integers(0, 2**32), st.booleans(), st.sampled_from([2, 4]))
def test_fmt_is_idempotent_and_preserves_data(path: Path, seed: int, flow: bool, indent: int) -> None:
    original = loads(path.read_text(), "x")[0].data  # type: ignore[union-attr]
    data = _shuffled(original, random.Random(seed))
    yaml = YAML(typ="rt")
    yaml.default_flow_style = flow
    yaml.indent(mapping=indent, sequence=indent + 2, offset=indent)
    buf = io.StringIO()
    yaml.dump(data, buf)
    text = "# header comment\n" + buf.getvalue()
    once = format_text(text)
    assert format_text(once) == once
    assert loads(once, "x")[0].data == original  # type: ignore[union-attr]
    assert once.startswith("# header comment\n")


def test_comments_survive_reordering() -> None:
    text = (ROOT / "specs" / "demand-forecaster" / "maestro.yaml").read_text()
    moved = text.replace("kind: Model\n", "").replace("metadata:\n", "kind: Model\nmetadata:\n", 1)
    out = format_text(moved)
    assert "# pinned version; promotion is a reviewed change" in out
    assert out.index("apiVersion") < out.index("kind: Model") < out.index("metadata:")
