"""Shared test helpers.

`--update-goldens` rewrites expected files (diagnostics, rendered output) from the current
behaviour; review the diff before committing. Tests that need an external tool call
`require_tool`: they skip on a laptop without it and fail in CI (MAESTRO_REQUIRE_TOOLS=1).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CRD_SCHEMAS = SHARED / "crd-schemas"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", help="rewrite golden files from current output")


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


def require_tool(name: str) -> str:
    """Path of an external tool, or skip (fail when MAESTRO_REQUIRE_TOOLS=1)."""
    path = shutil.which(name)
    if path is None:
        message = f"'{name}' is not installed (see .ci/run for how CI installs it)"
        if os.environ.get("MAESTRO_REQUIRE_TOOLS") == "1":
            pytest.fail(message + "; MAESTRO_REQUIRE_TOOLS=1 makes this a failure")
        pytest.skip(message)
    return path


def require_path(path: Path, what: str) -> Path:
    if not path.exists():
        message = f"{what} not found at {path}"
        if os.environ.get("MAESTRO_REQUIRE_TOOLS") == "1":
            pytest.fail(message + "; MAESTRO_REQUIRE_TOOLS=1 makes this a failure")
        pytest.skip(message)
    return path
