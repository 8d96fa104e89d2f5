"""The hostile-input corpus: each tests/cases/hostile/<case>/ is a change to a small copy of
the example repository and the exact output of one command on it.

A case folder holds `case.yaml`:

    about: what the case is and what must happen (one line)
    command: [validate, --env, prod]      # maestro arguments (--root is added)
    exit: 1                               # the exit code it must give
    remove: [policies/k8s]                # paths removed from the copy (optional)
    edit:                                 # text replacements, each must match (optional)
      - {file: specs/fraud-detector/maestro.yaml, old: "...", new: "..."}

plus `files/` (copied over the repository; optional) and `expected.txt`: exit code, stdout
and stderr with the repository's path written as <repo>. The base repository is config/,
overlays/, schemas/, policies/ and specs/fraud-detector of this repository. Regenerate with
`pytest tests/test_hostile_cases.py --update-goldens`, then review the diff.

Whatever the case, Maestro never prints a traceback, never calls a bad input an internal
error, and never echoes content from outside the repository.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import ROOT
from maestro.cli import main

HOSTILE = ROOT / "tests" / "cases" / "hostile"
CASES = sorted(p.parent for p in HOSTILE.glob("*/case.yaml"))


def load_case(case: Path) -> dict:
    return YAML(typ="safe", pure=True).load((case / "case.yaml").read_text())


def build(case: Path, spec: dict, repo: Path) -> Path:
    for sub in ("config", "overlays", "schemas", "policies"):
        shutil.copytree(ROOT / sub, repo / sub)
    shutil.copytree(ROOT / "specs" / "fraud-detector", repo / "specs" / "fraud-detector")
    for rel in spec.get("remove", []):
        target = repo / rel
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    if (case / "files").is_dir():
        shutil.copytree(case / "files", repo, dirs_exist_ok=True)
    for change in spec.get("edit", []):
        path = repo / change["file"]
        text = path.read_text()
        assert change["old"] in text, f"{case.name}: {change['file']} has no {change['old']!r}"
        path.write_text(text.replace(change["old"], change["new"]))
    return repo


def run_case(case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    spec = load_case(case)
    repo = build(case, spec, tmp_path / "repo")
    rc = main(["--root", str(repo), *spec["command"]])
    out = capsys.readouterr()
    text = f"exit: {rc}\n--- stdout\n{out.out}--- stderr\n{out.err}"
    return rc, text.replace(str(repo), "<repo>")


def test_corpus_covers_the_issue() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_case(case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], update_goldens: bool) -> None:
    spec = load_case(case)
    assert set(spec) <= {"about", "command", "exit", "remove", "edit"}, case
    rc, text = run_case(case, tmp_path, capsys)
    expected = case / "expected.txt"
    if update_goldens:
        expected.write_text(text)
    assert "Traceback" not in text and "internal error" not in text
    assert rc == spec["exit"], text
    assert text == expected.read_text()
