"""Shared test helpers.

`--update-goldens` rewrites expected files (diagnostics, rendered output) from the current
behaviour; review the diff before committing. Tests that need an external tool call
`require_tool`: they skip on a laptop without it and fail in CI (MAESTRO_REQUIRE_TOOLS=1).
Under MAESTRO_REQUIRE_TOOLS=1 *every* skip is a failure (`pytest_runtest_makereport`
below), whoever raised it, except a test that a variable opts into (`skip_unless_opted_in`):
CI cannot pass with a tool missing.

The suite runs on every core (`-n auto` in pyproject's addopts; `-n 0` runs it in one
process, e.g. for `--pdb`). What the workers share (the MLflow server) lives in a folder
the controlling process makes (`pytest_configure`) and hands to each worker.
"""

from __future__ import annotations

import functools
import gc
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlflow_server import SHARED_DIR_KEY, stop_shared_server

ROOT = Path(__file__).resolve().parents[1]
CRD_SCHEMAS = ROOT / "compiler" / "maestro" / "data" / "crd-schemas"  # shipped in the package
# the shipped example models (specs/<model>/maestro.yaml), in name order
MODELS = sorted(p.parent.name for p in (ROOT / "specs").glob("*/maestro.yaml"))


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


OPT_IN = "opt-in:"  # how the reason of a skip that is not about a missing tool starts


def skip_unless_opted_in(variable: str, what: str) -> None:
    """Skip a test that only runs when asked (a long install, say), even in CI."""
    if os.environ.get(variable) != "1":
        pytest.skip(f"{OPT_IN} {what}; set {variable}=1 to run it")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under MAESTRO_REQUIRE_TOOLS=1 (CI) a skipped test fails: a skip there means something
    the suite needs is missing, and a green run would hide it."""
    report = yield
    if (
        os.environ.get("MAESTRO_REQUIRE_TOOLS") == "1"
        and report.skipped
        and not hasattr(report, "wasxfail")
        and isinstance(report.longrepr, tuple)
        and not report.longrepr[2].removeprefix("Skipped: ").startswith(OPT_IN)
    ):
        report.outcome = "failed"
        path, line, reason = report.longrepr
        report.longrepr = (
            f"{path}:{line + 1}: skipped, and MAESTRO_REQUIRE_TOOLS=1 makes every skip a failure: {reason}"
        )
    return report


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


# ------------------------------------------------------------------ what the xdist workers share


# The test files that make regorus engines in the test process itself (not in a policy worker).
_ENGINE_MAKERS = frozenset(
    {"test_cli", "test_policies", "test_policy_engine", "test_policy_sandbox", "test_rego_conformance"}
)


@pytest.fixture(autouse=True)
def _engines_die_on_their_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """A regorus Engine may only be dropped on the thread that made it (PyO3 `unsendable`).
    One left in a reference cycle (a `pytest.raises` block keeps its frame, and with it the
    policy set, alive) and collected later by a garbage collection that a process pool's
    result-handler thread happens to trigger makes that thread fail what it was doing
    (`RuntimeError: regoruspy::Engine is unsendable, but is being dropped on another thread`,
    seen once in a later render test of the same worker). So the files that make engines here
    collect their garbage on the main thread after each test. A render's own process holds no
    engine: its policies run in workers (policy/sandbox.py)."""
    yield
    if request.module.__name__ in _ENGINE_MAKERS:
        gc.collect()


def pytest_configure(config: pytest.Config) -> None:
    """The run's shared folder: made by the controlling process, handed to each worker."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        setattr(config, SHARED_DIR_KEY, workerinput[SHARED_DIR_KEY])
    else:
        setattr(config, SHARED_DIR_KEY, tempfile.mkdtemp(prefix="maestro-tests-"))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist, in the controlling process, before it starts a worker."""
    node.workerinput[SHARED_DIR_KEY] = getattr(node.config, SHARED_DIR_KEY)


def pytest_unconfigure(config: pytest.Config) -> None:
    """In the controlling process, once every worker has finished: stop what they shared."""
    if getattr(config, "workerinput", None) is None and hasattr(config, SHARED_DIR_KEY):
        shared = Path(getattr(config, SHARED_DIR_KEY))
        stop_shared_server(shared)
        shutil.rmtree(shared, ignore_errors=True)
