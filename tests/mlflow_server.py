"""A real MLflow tracking server for the tests, one per session.

`mlflow server` on a sqlite store in a temporary folder, on a free port of 127.0.0.1, one
worker. Started in its own session so that stopping it (SIGTERM to the process group)
also ends the uvicorn worker and job runner it spawns. Without mlflow the tests that need
it skip, and fail in CI (MAESTRO_REQUIRE_TOOLS=1).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

# ≈7 s on an idle machine (FACTS.md); 46 s measured on 2 busy CPUs (load 9), most of it
# importing plugins (feast's MLflow header provider, when feast is installed).
START_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
START_SECONDS: float | None = None  # how long the session's server took to become healthy


def require_mlflow() -> None:
    if importlib.util.find_spec("mlflow") is None:
        message = "mlflow is not installed (pip install -e '.[test]' installs it)"
        if os.environ.get("MAESTRO_REQUIRE_TOOLS") == "1":
            pytest.fail(message + "; MAESTRO_REQUIRE_TOOLS=1 makes this a failure")
        pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT)
    except ProcessLookupError:
        proc.wait(timeout=STOP_TIMEOUT)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The tracking URI of a running `mlflow server`, e.g. http://127.0.0.1:41234."""
    require_mlflow()
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    log_path = folder / "server.log"
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{folder / 'mlflow.db'}",
        "--default-artifact-root",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # MLflow 3's job runner adds about seven huey consumer processes (≈240 MB each) that
    # registry tests never use.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=folder,
            env=env,
            start_new_session=True,
        )
    try:
        started = time.monotonic()
        while not _healthy(uri):
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited with {proc.returncode}:\n{_tail(log_path)}")
            if time.monotonic() - started > START_TIMEOUT:
                pytest.fail(f"mlflow server not healthy after {START_TIMEOUT:.0f} s:\n{_tail(log_path)}")
            time.sleep(0.25)
        global START_SECONDS
        START_SECONDS = time.monotonic() - started
        yield uri
    finally:
        _stop(proc)
