"""The committed prod locks of the examples are what tests/example_locks.py makes.

The script registers the examples on an empty MLflow store and runs `maestro registry lock`;
here it runs against an embedded sqlite store in a copy of the repository (the session's
server already holds some of the examples' names), and the result must match the committed
locks in everything but the run IDs MLflow generates.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import ROOT
from example_locks import register_examples
from maestro.cli import main
from maestro.mlflow.lockfile import LOCK_FILE
from mlflow_server import require_mlflow

RUN_ID = re.compile(r"[0-9a-f]{32}")


def without_run_ids(text: str) -> str:
    return RUN_ID.sub("<run>", text)


@pytest.mark.slow
def test_committed_prod_locks_regenerate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_mlflow()
    from maestro.mlflow.client import connect

    root = tmp_path / "repo"
    for part in ("config", "overlays", "policies", "specs"):
        shutil.copytree(ROOT / part, root / part)
    committed = {p.parent.name: p.read_text() for p in sorted((ROOT / "specs").glob(f"*/{LOCK_FILE}"))}
    assert sorted(committed) == [
        "churn-predictor",
        "fraud-detector",
        "image-classifier",
        "recsys-ranker",
        "sentiment-bert",
    ]  # every example that serves in prod
    for lock in root.glob(f"specs/*/{LOCK_FILE}"):
        lock.unlink()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)  # MLflow's ./mlruns, should anything land there
    register_examples(root, connect(uri), "prod")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert main(["--root", str(root), "registry", "lock", "--env", "prod"]) == 0
    made = {p.parent.name: p.read_text() for p in sorted((root / "specs").glob(f"*/{LOCK_FILE}"))}
    assert {k: without_run_ids(v) for k, v in made.items()} == {k: without_run_ids(v) for k, v in committed.items()}
