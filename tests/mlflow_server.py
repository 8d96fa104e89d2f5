"""A real MLflow tracking server for the tests: one per test run, shared by every xdist worker.

`mlflow server` on a sqlite store, on a free port of 127.0.0.1, one worker. The first test
that asks for it starts it, under a file lock in a folder that the controlling pytest
process made and handed to its workers (`pytest_configure_node`, tests/conftest.py); the
other workers find its address there and reuse it. The controlling process stops it when
the run ends (`stop_shared_server`), whichever worker started it: one server start (≈7 s
idle, 46 s on a loaded machine, 1.3 GB) per run instead of one per worker.

Sharing means tests run concurrently against one server: each uses registered model and
experiment names no other test uses (`tests/test_registry.py::unique`, which includes the
xdist worker id).

Without mlflow the tests that need it skip, and fail in CI (MAESTRO_REQUIRE_TOOLS=1).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from filelock import FileLock

# ≈7 s on an idle machine (FACTS.md); 46 s measured on 2 busy CPUs (load 9), most of it
# importing plugins (feast's MLflow header provider, when feast is installed).
START_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
SHARED_DIR_KEY = "maestro_shared_dir"  # config.workerinput key and config attribute (conftest.py)


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


def worker_id() -> str:
    """The xdist worker running this test (`gw0`, `gw1`, ...), `main` without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


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


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie does not: its parent may be gone or not reaping)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _start(folder: Path) -> dict[str, object]:
    """Start the server detached from this process; return its address or why it failed."""
    folder.mkdir(parents=True, exist_ok=True)
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
        # A session of its own: the process group (the server, its uvicorn worker) is what
        # stop_shared_server signals, from another process than this one.
        proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=folder,
            env=env,
            start_new_session=True,
        )
    _DETACHED.append(proc)  # the controller stops it; keep the handle so that it is not collected
    started = time.monotonic()
    while not _healthy(uri):
        if proc.poll() is not None:
            return {"error": f"mlflow server exited with {proc.returncode}:\n{_tail(log_path)}"}
        if time.monotonic() - started > START_TIMEOUT:
            _stop_group(proc.pid)
            return {"error": f"mlflow server not healthy after {START_TIMEOUT:.0f} s:\n{_tail(log_path)}"}
        time.sleep(0.25)
    return {"uri": uri, "pgid": proc.pid, "seconds": round(time.monotonic() - started, 1), "started_by": worker_id()}


_DETACHED: list[subprocess.Popen[bytes]] = []


def _stop_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT
    while _alive(pgid) and time.monotonic() < deadline:
        _reap()
        time.sleep(0.1)
    if _alive(pgid):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _reap()


def _reap() -> None:
    for proc in _DETACHED:
        proc.poll()


def shared_server(shared: Path) -> str:
    """The run's server address, starting it if no worker has yet (fails the test if it cannot)."""
    info = shared / "mlflow-server.json"
    with FileLock(str(shared / "mlflow-server.lock")):
        if not info.exists():
            info.write_text(json.dumps(_start(shared / "mlflow-server")))
        state = json.loads(info.read_text())
    if "error" in state:  # reported by every test that needs it; started once only
        pytest.fail(state["error"])
    return str(state["uri"])


def stop_shared_server(shared: Path) -> None:
    """Stop the run's server if a worker started one (the controlling process, at the end)."""
    info = shared / "mlflow-server.json"
    if info.exists():
        state = json.loads(info.read_text())
        if "pgid" in state:
            _stop_group(int(state["pgid"]))


@pytest.fixture(scope="session")
def mlflow_server(pytestconfig: pytest.Config) -> str:
    """The tracking URI of the run's `mlflow server`, e.g. http://127.0.0.1:41234."""
    require_mlflow()
    return shared_server(Path(getattr(pytestconfig, SHARED_DIR_KEY)))


def start_server(folder: Path) -> tuple[int, str]:
    """A server of its own for a script (tests/example_locks.py): (process group, URI).

    RuntimeError, with the log's tail, when it does not start."""
    state = _start(folder)
    if "error" in state:
        raise RuntimeError(str(state["error"]))
    return int(str(state["pgid"])), str(state["uri"])


def stop_server(pgid: int) -> None:
    _stop_group(pgid)
