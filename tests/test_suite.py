"""The suite's own machinery, run as an inner pytest on a scratch test folder with this
suite's conftest: skips fail under MAESTRO_REQUIRE_TOOLS=1 (CI), and xdist workers share
one MLflow server that is gone when the run ends."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

SKIPS = """
import pytest
from conftest import require_tool, skip_unless_opted_in

def test_passes():
    pass

def test_needs_a_tool():
    require_tool("no-such-tool-here")

def test_skips_itself():
    pytest.skip("kubectl is not installed")

@pytest.mark.skipif(True, reason="feast is missing")
def test_skipif():
    pass

def test_opted_in():
    skip_unless_opted_in("MAESTRO_TEST_NEVER_SET", "a long install")

@pytest.mark.xfail(reason="known", strict=True)
def test_expected_failure():
    assert False
"""

SERVER = """
import os
from pathlib import Path
from mlflow_server import mlflow_server  # noqa: F401 - the fixture

def test_server(mlflow_server):
    Path(os.environ["OUT"], os.environ["PYTEST_XDIST_WORKER"]).write_text(mlflow_server)
"""


def _inner(tmp_path: Path, tests: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    suite = tmp_path / "suite"
    suite.mkdir()
    for name in ("conftest.py", "mlflow_server.py"):
        shutil.copy2(HERE / name, suite / name)
    (suite / "test_inner.py").write_text(tests, encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MAESTRO_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", *args],
        cwd=suite,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def _summary(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout.strip().splitlines()[-1]


def test_a_skip_is_a_skip_on_a_laptop(tmp_path: Path) -> None:
    done = _inner(tmp_path, SKIPS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _summary(done).startswith("1 passed, 4 skipped, 1 xfailed")


def test_every_skip_but_an_opt_in_fails_in_ci(tmp_path: Path) -> None:
    done = _inner(tmp_path, SKIPS, MAESTRO_REQUIRE_TOOLS="1")
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    # a skip in the test fails it; one in its setup (a skipif mark) is an error there
    assert _summary(done).startswith("2 failed, 1 passed, 1 skipped, 1 xfailed, 1 error"), out
    for test in ("test_needs_a_tool", "test_skips_itself"):
        assert f"FAILED test_inner.py::{test}" in out
    assert "ERROR test_inner.py::test_skipif" in out and "Skipped: feast is missing" in out
    assert "SKIPPED [1]" in out and "opt-in: a long install; set MAESTRO_TEST_NEVER_SET=1" in out
    assert "MAESTRO_REQUIRE_TOOLS=1 makes every skip a failure: Skipped: kubectl is not installed" in out


def _up(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2):
            return True
    except (urllib.error.URLError, OSError):
        return False


@pytest.mark.slow
def test_workers_share_one_mlflow_server_that_stops_with_the_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    # `--dist each`: every worker runs the test, so two workers ask for the server
    done = _inner(tmp_path, SERVER, "-n", "2", "--dist", "each", OUT=str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    uris = {p.name: p.read_text() for p in out.iterdir()}
    assert sorted(uris) == ["gw0", "gw1"]
    assert len(set(uris.values())) == 1, uris
    assert not _up(uris["gw0"]), "the server outlived the test run"
