"""Shared test helpers.

`--update-goldens` rewrites expected files (diagnostics, rendered output) from the current
behaviour; review the diff before committing. Tests that need an external tool call
`require_tool`: they skip on a laptop without it and fail in CI (MAESTRO_REQUIRE_TOOLS=1).
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CRD_SCHEMAS = ROOT / "compiler" / "maestro" / "data" / "crd-schemas"  # shipped in the package


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


@functools.cache
def example_workspace() -> Any:
    """The repository's own workspace (config, overlays), loaded once per test session."""
    from maestro.resolve.workspace import open_workspace

    ws, diags = open_workspace(ROOT)
    assert ws is not None, diags
    return ws


@functools.cache
def example_specs(model: str) -> dict[str, Any]:
    """env -> effective spec of an example model (which must validate)."""
    from maestro.pipeline import check_file

    rel = f"specs/{model}/maestro.yaml"
    checked = check_file(ROOT / rel, rel, example_workspace().inputs, root=ROOT)
    assert not [d for d in checked.diagnostics if d.severity == "error"], checked.diagnostics
    return checked.effective


def example(model: str, env: str = "prod") -> tuple[Any, Any]:
    """(effective spec, render Context) of an example model, as the pipeline builds them."""
    from maestro.pipeline import context_for

    spec = example_specs(model)[env]
    return spec, context_for(example_workspace(), env, spec, f"specs/{model}/maestro.yaml")
