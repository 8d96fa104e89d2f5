"""`maestro registry lock` and `maestro promote` against a real `mlflow server`, and render from a lock.

Each test builds a repository in a temporary folder (the shipped config, overlays and
policies, and the fraud-detector spec with a registered model name no other test uses),
registers versions on the session's tracking server (tests/mlflow_server.py) and runs the
CLI in-process.
"""

from __future__ import annotations

import itertools
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT
from maestro.cli import main
from maestro.mlflow.lockfile import LOCK_FILE
from mlflow_server import free_port, mlflow_server, require_mlflow, worker_id  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow

_ids = itertools.count(1)
ENVS = ("dev", "staging", "prod")


@dataclass
class Repo:
    root: Path
    name: str  # the registered model
    client: Any

    @property
    def lock_path(self) -> Path:
        return self.root / "specs" / "fraud-detector" / LOCK_FILE

    def lock(self) -> str:
        return self.lock_path.read_text()

    def register(self, metrics: dict[str, float], *aliases: str, artifacts: str | None = None) -> tuple[int, str]:
        """A new version from a run that logged `metrics`; (version, run id)."""
        experiment = self.client.get_experiment_by_name(f"{self.name}-exp")
        run = self.client.create_run(experiment.experiment_id)
        for key, value in metrics.items():
            self.client.log_metric(run.info.run_id, key, value)
        source = artifacts or f"runs:/{run.info.run_id}/model"
        mv = self.client.create_model_version(self.name, source=source, run_id=run.info.run_id)
        for alias in aliases:
            self.client.set_registered_model_alias(self.name, alias, mv.version)
        return int(mv.version), run.info.run_id

    def maestro(self, *argv: str) -> int:
        return main(["--root", str(self.root), *argv])


GOOD = {"val_auc": 0.93, "val_logloss": 0.2}
BETTER = {"val_auc": 0.95, "val_logloss": 0.18}


def with_cli_endpoints(text: str, endpoints: dict[str, str]) -> str:
    """config/platform.yaml with `endpoints.mlflow_cli` (what `maestro registry` uses) per environment."""
    head, _, rest = text.partition("\nenvironments:\n")
    parts = re.split(r"(?m)^(?=  [a-z]+:$)", rest, maxsplit=len(ENVS))
    out = []
    for part in parts:
        env = part[2:].partition(":")[0]
        if env in endpoints:
            part = re.sub(r"(?m)^      mlflow_cli: .*\n", "", part)
            part, n = re.subn(r"(?m)^(      mlflow: .*\n)", rf"\1      mlflow_cli: {endpoints[env]}\n", part, count=1)
            assert n == 1, env
        out.append(part)
    return head + "\nenvironments:\n" + "".join(out)


def make_repo(
    tmp_path: Path, client: Any, endpoints: dict[str, str], artifact_location: str | None = "s3://mlflow-test"
) -> Repo:
    name = f"fraud-lock-{worker_id()}-{next(_ids)}"  # the server is shared by the xdist workers
    root = tmp_path / "repo"
    for part in ("config", "overlays", "policies"):
        shutil.copytree(ROOT / part, root / part)
    platform = root / "config" / "platform.yaml"
    platform.write_text(with_cli_endpoints(platform.read_text(), endpoints))
    spec = (ROOT / "specs" / "fraud-detector" / "maestro.yaml").read_text()
    spec = spec.replace(
        "    model: fraud-detector\n    experiment: fraud-detector\n",
        f"    model: {name}\n    experiment: {name}-exp\n",
    )
    (root / "specs" / "fraud-detector").mkdir(parents=True)
    (root / "specs" / "fraud-detector" / "maestro.yaml").write_text(spec)
    location = f"{artifact_location}/{name}" if artifact_location else None
    client.create_experiment(f"{name}-exp", artifact_location=location)
    client.create_registered_model(name)
    return Repo(root, name, client)


@pytest.fixture(scope="module")
def client(mlflow_server: str) -> Any:
    from maestro.mlflow.client import connect

    return connect(mlflow_server)


@pytest.fixture
def repo(tmp_path: Path, client: Any, mlflow_server: str) -> Repo:
    return make_repo(tmp_path, client, dict.fromkeys(ENVS, mlflow_server))


def test_lock_pins_serve_and_variants_and_rewrites_nothing_the_second_time(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    v1, run1 = repo.register(GOOD, "champion")
    v2, run2 = repo.register(BETTER, "challenger")
    assert repo.maestro("registry", "lock", "--env", "prod", "--model", "fraud-detector") == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"prod/fraud-detector: unlocked -> model version {v1}, val_auc 0.93, val_logloss 0.2",
        f"prod/fraud-detector (A/B variant challenger): unlocked -> model version {v2}, val_auc 0.95, val_logloss 0.18",
        "wrote specs/fraud-detector/maestro.lock.yaml",
        "locked 1 model(s) in prod: 1 lock file(s) changed",
    ]
    assert repo.lock().splitlines()[3:] == [
        "apiVersion: maestro.ml/v1alpha1",
        "environments:",
        "  prod:",
        f"    registeredModel: {repo.name}",
        "    serve:",
        "      alias: champion",
        "      metrics:",
        "        val_auc: 0.93",
        "        val_logloss: 0.2",
        f"      runId: {run1}",
        f"      source: s3://mlflow-test/{repo.name}/{run1}/artifacts/model",
        f"      version: {v1}",
        "    variants:",
        "      challenger:",
        "        alias: challenger",
        "        metrics:",
        "          val_auc: 0.95",
        "          val_logloss: 0.18",
        f"        runId: {run2}",
        f"        source: s3://mlflow-test/{repo.name}/{run2}/artifacts/model",
        f"        version: {v2}",
        "kind: ModelLock",
        "model: fraud-detector",
    ]
    before = repo.lock_path.stat().st_mtime_ns
    assert repo.maestro("registry", "lock", "--env", "prod") == 0
    assert capsys.readouterr().out.splitlines() == ["locked 1 model(s) in prod: 0 lock file(s) changed"]
    assert repo.lock_path.stat().st_mtime_ns == before


def test_lock_check_lists_an_alias_that_moved_and_writes_nothing(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    v1, _ = repo.register(GOOD, "champion", "challenger")
    assert repo.maestro("registry", "lock", "--env", "prod") == 0
    assert repo.maestro("registry", "lock", "--env", "prod", "--check") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "locks are current (1 model(s), 1 environment(s))"
    locked = repo.lock()
    v2, _ = repo.register(BETTER, "champion")  # someone moves the alias in MLflow
    assert repo.maestro("registry", "lock", "--env", "prod", "--check") == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"prod/fraud-detector: model version {v1} -> {v2}, "
        f"run {_short(repo, v1)} -> {_short(repo, v2)}, val_auc 0.93 -> 0.95, val_logloss 0.2 -> 0.18"
    ]
    assert err == "1 locked version(s) out of date: run `maestro registry lock` (nothing written)\n"
    assert repo.lock() == locked


def _short(repo: Repo, version: int) -> str:
    return str(repo.client.get_model_version(repo.name, str(version)).run_id)[:8]


def test_render_serves_the_locked_artifact_and_unlocked_keeps_the_alias(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    from ruamel.yaml import YAML

    v1, run1 = repo.register(GOOD, "champion")
    v2, run2 = repo.register(BETTER, "challenger")
    yaml = YAML(typ="safe", pure=True)
    assert repo.maestro("render", "--env", "staging", "--model", "fraud-detector") == 0
    assert repo.maestro("registry", "lock", "--env", "prod") == 0
    assert repo.maestro("render", "--env", "prod", "--model", "fraud-detector") == 0
    capsys.readouterr()
    staging = yaml.load(repo.root / "rendered/staging/fraud-detector/inferenceservice-fraud-detector.yaml")
    assert staging["spec"]["predictor"]["model"]["storageUri"] == f"models:/{repo.name}@champion"
    assert "maestro.ml/model-version" not in staging["metadata"]["annotations"]
    for file, version, run in (("fraud-detector", v1, run1), ("fraud-detector-challenger", v2, run2)):
        isvc = yaml.load(repo.root / f"rendered/prod/fraud-detector/inferenceservice-{file}.yaml")
        uri = f"s3://mlflow-test/{repo.name}/{run}/artifacts/model"
        assert isvc["spec"]["predictor"]["model"]["storageUri"] == uri
        assert {"name": "MODEL_URI", "value": uri} in isvc["spec"]["predictor"]["model"]["env"]
        assert isvc["metadata"]["annotations"]["maestro.ml/model-version"] == str(version)
        assert isvc["metadata"]["annotations"]["maestro.ml/model-run-id"] == run


def test_artifacts_the_serving_pods_cannot_download_are_refused_at_the_spec_line(
    tmp_path: Path, client: Any, mlflow_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # No artifact_location: the server's --default-artifact-root, a folder on its disk.
    repo = make_repo(tmp_path, client, {"prod": mlflow_server}, artifact_location=None)
    repo.register(GOOD, "champion", "challenger")
    assert repo.maestro("registry", "lock", "--env", "prod") == 1
    out = capsys.readouterr().out
    assert "specs/fraud-detector/maestro.yaml:17:12: M813" in out  # registry.serve
    assert "it is a path on the tracking server's file system" in out
    assert not repo.lock_path.exists()


def test_proxied_artifacts_resolve_through_the_configured_destination(
    tmp_path: Path, client: Any, mlflow_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path, client, {"prod": mlflow_server}, artifact_location="mlflow-artifacts:")
    _, run = repo.register(GOOD, "champion", "challenger")
    assert repo.maestro("registry", "lock", "--env", "prod") == 1
    assert "endpoints.mlflow_artifacts" in capsys.readouterr().out
    platform = repo.root / "config" / "platform.yaml"
    platform.write_text(
        platform.read_text().replace(
            f"      mlflow_cli: {mlflow_server}\n",
            f"      mlflow_cli: {mlflow_server}\n      mlflow_artifacts: s3://acme-mlflow/proxied\n",
        )
    )
    assert repo.maestro("registry", "lock", "--env", "prod") == 0
    assert f"source: s3://acme-mlflow/proxied/{repo.name}/{run}/artifacts/model" in repo.lock()


def test_promote_copies_the_version_when_the_gates_hold(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    v1, _ = repo.register(GOOD, "champion", "challenger")
    assert repo.maestro("registry", "lock", "--env", "prod") == 0
    v2, run2 = repo.register(BETTER)
    repo.client.set_registered_model_alias(repo.name, "champion", str(v2))  # staging's alias; prod's too (one server)
    assert repo.maestro("registry", "lock", "--env", "staging") == 0
    capsys.readouterr()
    locked = repo.lock()
    assert repo.maestro("promote", "fraud-detector", "--from", "staging", "--to", "prod", "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"prod/fraud-detector: model version {v1} -> {v2}" in out
    assert "dry run: nothing written" in out
    assert repo.lock() == locked
    assert repo.maestro("promote", "fraud-detector", "--from", "staging", "--to", "prod") == 0
    out = capsys.readouterr().out
    assert "staging and prod use the same tracking server" in out
    assert "val_auc 0.95 >= 0.92: holds" in out
    lock = repo.lock()
    assert "      promotedFrom: staging\n" in lock
    assert f"      runId: {run2}\n" in lock
    # A promoted entry is the lock's to keep: locking every environment leaves it, --env prod re-resolves it.
    assert repo.maestro("registry", "lock", "--env", "dev") == 0
    assert repo.maestro("registry", "lock", "--check") == 0
    assert repo.maestro("registry", "lock", "--env", "prod", "--check") == 0  # champion is v2 there too
    capsys.readouterr()
    repo.client.set_registered_model_alias(repo.name, "champion", str(v1))
    assert repo.maestro("registry", "lock", "--check") == 1  # the alias moved back; prod keeps its promotion
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"prod/fraud-detector: kept model version {v2} (promoted from staging")
    assert [line.split(":")[0] for line in out[1:]] == ["dev/fraud-detector", "staging/fraud-detector"]
    assert repo.maestro("registry", "lock", "--env", "prod", "--check") == 1  # naming prod re-resolves it
    assert capsys.readouterr().out.startswith(f"prod/fraud-detector: model version {v2} -> {v1}")


def test_promote_refuses_a_failing_gate(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.register(GOOD, "champion", "challenger")
    assert repo.maestro("registry", "lock", "--env", "prod") == 0
    v2, _ = repo.register({"val_auc": 0.96, "val_logloss": 0.31}, "champion")
    assert repo.maestro("registry", "lock", "--env", "staging") == 0
    capsys.readouterr()
    locked = repo.lock()
    assert repo.maestro("promote", "fraud-detector", "--from", "staging", "--to", "prod") == 1
    out = capsys.readouterr().out
    assert f"M806 {repo.name} version {v2}: val_logloss = 0.31, needs <= 0.25" in out
    assert repo.lock() == locked
    assert repo.maestro("promote", "fraud-detector", "--from", "staging", "--to", "prod", "--format", "markdown") == 1
    out = capsys.readouterr().out
    assert "| val_logloss | <= 0.25 | 0.31 | ❌ |" in out


def test_promote_between_different_servers_says_so(
    tmp_path: Path, client: Any, mlflow_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    other = f"sqlite:///{tmp_path / 'prod-mlflow.db'}"
    repo = make_repo(tmp_path, client, {"staging": mlflow_server, "prod": other})
    repo.register(GOOD, "champion", "challenger")
    assert repo.maestro("registry", "lock", "--env", "staging") == 0
    capsys.readouterr()
    assert repo.maestro("promote", "fraud-detector", "--from", "staging", "--to", "prod") == 1
    out = capsys.readouterr().out
    assert f"staging and prod use different tracking servers ({mlflow_server} and {other})" in out
    assert f"M803 {repo.name}: version 1 does not exist on prod's tracking server" in out
    assert "prod:" not in repo.lock()


def test_bad_names_exit_2_with_the_choices(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    assert repo.maestro("registry", "lock", "--env", "qa") == 2
    assert capsys.readouterr().err == "maestro: unknown environment 'qa' (configured: dev, staging, prod)\n"
    assert repo.maestro("registry", "lock", "--model", "fraud") == 2
    assert capsys.readouterr().err == "maestro: no spec named 'fraud' under specs/ (models: fraud-detector)\n"
    assert repo.maestro("promote", "fraud", "--from", "staging", "--to", "prod") == 2
    assert capsys.readouterr().err == "maestro: no spec named 'fraud' under specs/ (models: fraud-detector)\n"
    assert repo.maestro("promote", "fraud-detector", "--from", "stage", "--to", "prod") == 2
    assert capsys.readouterr().err == "maestro: unknown environment 'stage' (configured: dev, staging, prod)\n"
    assert repo.maestro("promote", "fraud-detector", "--from", "prod", "--to", "prod") == 2
    assert "--from and --to are the same environment" in capsys.readouterr().err


def test_an_unreachable_server_exits_2_in_bounded_time(
    tmp_path: Path, client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    require_mlflow()
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    repo = make_repo(tmp_path, client, {"prod": uri})
    started = time.monotonic()
    assert repo.maestro("registry", "lock", "--env", "prod") == 2
    assert capsys.readouterr().err.startswith(f"maestro: MLflow tracking server {uri} is not reachable (")
    assert repo.maestro("promote", "fraud-detector", "--from", "staging", "--to", "prod") == 1  # staging unlocked
    assert time.monotonic() - started < 30
    assert not repo.lock_path.exists()
