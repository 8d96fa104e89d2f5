"""Lint and types are part of the test command: ruff and mypy as configured in pyproject.toml.

They run here rather than as a third README command so that "the tests pass" means the same
thing on a laptop, in the pre-commit hook's absence, and in CI. Both tools are pinned in the
`test` extra; each run reads the whole package (mypy about 15 s of CPU, ruff well under 1 s).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PATHS = ["compiler", "tests", "bench"]


@pytest.mark.parametrize(
    "argv",
    [
        ["ruff", "check", "--no-cache", *PATHS],
        ["ruff", "format", "--check", "--no-cache", *PATHS],
        ["mypy"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_clean(argv: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(argv)} (exit {done.returncode}):\n{done.stdout}{done.stderr}"
