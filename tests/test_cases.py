"""Golden diagnostics: each tests/cases/invalid/<case>/maestro.yaml and its expected.txt.

The expected text is exactly what `maestro validate maestro.yaml` prints from inside the
case folder. Regenerate with `pytest tests/test_cases.py --update-goldens`, then review.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT
from maestro.cli import main

CASES = sorted(p.parent for p in (ROOT / "tests" / "cases" / "invalid").glob("*/maestro.yaml"))


def run_validate(
    case: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str]:
    monkeypatch.chdir(case)
    rc = main(["--root", str(ROOT), "validate", "maestro.yaml", *extra])
    out = capsys.readouterr()
    assert out.err == "", out.err
    return rc, out.out


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_invalid_case(
    case: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], update_goldens: bool
) -> None:
    rc, out = run_validate(case, monkeypatch, capsys)
    expected = case / "expected.txt"
    if update_goldens:
        expected.write_text(out, encoding="utf-8")
    assert rc == 1
    assert out == expected.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_diagnostic_is_positioned_inside_the_file(
    case: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    rc, out = run_validate(case, monkeypatch, capsys, "--format", "json")
    assert rc == 1
    diags = json.loads(out)["diagnostics"]
    assert diags
    lines = (case / "maestro.yaml").read_bytes().split(b"\n")
    for d in diags:
        assert d["file"] == "maestro.yaml"
        assert 1 <= d["line"] <= len(lines)
        assert 1 <= d["col"] <= len(lines[d["line"] - 1]) + 1
