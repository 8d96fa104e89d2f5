"""Platform config: precedence (file, per-env file, env vars) and team defaults."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import ROOT
from maestro.resolve.config import load_config


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path


def test_shipped_config_is_valid_for_every_env() -> None:
    for env in (None, "dev", "staging", "prod"):
        platform, diags = load_config(ROOT, env)
        assert diags == [] and platform is not None
        assert set(platform.environments) == {"dev", "staging", "prod"}


def test_per_env_file_then_env_vars(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (root / "config" / "platform.prod.yaml").write_text("costs: {gpu_hour: 3.1}\nkubernetes_version: '1.31'\n")
    prod, _ = load_config(root, "prod")
    dev, _ = load_config(root, "dev")
    assert prod is not None and dev is not None
    assert prod.costs.gpu_hour == 3.1 and prod.costs.cpu_hour == 0.034  # merged, not replaced
    assert dev.costs.gpu_hour == 2.48
    monkeypatch.setenv("MAESTRO_KUBERNETES_VERSION", "1.30")
    monkeypatch.setenv("MAESTRO_COSTS__GPU_HOUR", "4.0")
    prod, _ = load_config(root, "prod")
    assert prod is not None and prod.kubernetes_version == "1.30" and prod.costs.gpu_hour == 4.0


def test_per_env_file_errors_point_at_that_file(root: Path) -> None:
    (root / "config" / "platform.prod.yaml").write_text("costs:\n  gpu_hour: -1\n")
    platform, diags = load_config(root, "prod")
    assert platform is None
    assert (diags[0].file, diags[0].line, diags[0].code) == ("config/platform.prod.yaml", 2, "M301")


def test_unlisted_team_gets_defaults() -> None:
    platform, _ = load_config(ROOT)
    assert platform is not None
    assert platform.team("brand-new-team") == platform.teams.defaults
    vision = platform.team("vision")
    assert vision.limits.max_gpus_per_pod == 8
    assert vision.budget.gpu_hours == 400


def test_bad_team_override_is_reported(root: Path) -> None:
    cfg = root / "config" / "platform.yaml"
    cfg.write_text(cfg.read_text().replace("limits: {max_replicas: 30}", "limits: {max_replica: 30}"))
    _platform, diags = load_config(root)
    assert diags and diags[0].code == "M301" and "payments-risk" in diags[0].message


def test_pods_tracking_uri_must_be_a_server(root: Path) -> None:
    """A sqlite/file store handed to pods is one empty database per pod, on a read-only root."""
    cfg = root / "config" / "platform.yaml"
    text = cfg.read_text()
    cfg.write_text(text.replace("mlflow: http://mlflow.mlflow.svc:5000 ", "mlflow: sqlite:///.maestro/mlflow.db", 1))
    _platform, diags = load_config(root)
    [d] = diags
    assert (d.code, d.file, d.line, d.pointer) == (
        "M301",
        "config/platform.yaml",
        15,
        "/environments/dev/endpoints/mlflow",
    )
    assert "mlflow_cli" in (d.hint or "")


def test_every_environment_gives_pods_a_tracking_server_and_the_cli_keeps_its_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from maestro.mlflow.client import tracking_uri_for
    from maestro.resolve.workspace import open_workspace

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    ws, _ = open_workspace(ROOT)
    assert ws is not None
    for env in ("dev", "staging", "prod"):
        endpoints = ws.platforms[env].environments[env].endpoints
        assert endpoints.mlflow.startswith("http://") and ".svc:" in endpoints.mlflow, env
    assert tracking_uri_for(ws, "dev") == f"sqlite:///{ROOT.resolve()}/.maestro/mlflow.db"
    assert tracking_uri_for(ws, "prod") == "http://mlflow.mlflow.svc:5000"  # no mlflow_cli: the pods' server


def test_provided_patterns_take_only_known_placeholders(root: Path) -> None:
    (root / "config" / "platform.prod.yaml").write_text("provided:\n  secrets: ['{model}-db', '{modle}-tuning-db']\n")
    _, diags = load_config(root, "prod")
    [d] = diags
    assert (d.code, d.file, d.line, d.col) == ("M301", "config/platform.prod.yaml", 2, 27)
    assert "{modle}" in d.message and d.hint == "placeholders are {model}, {team} and {env}"


def test_a_mesh_revision_needs_sidecar_mode(root: Path) -> None:
    (root / "config" / "platform.dev.yaml").write_text("mesh: {mode: ambient, revision: 1-24}\n")
    _, diags = load_config(root, "dev")
    assert [(d.code, d.file) for d in diags] == [("M301", "config/platform.dev.yaml")]


def test_tuning_storage_secret_lies_under_every_kv_mount(root: Path) -> None:
    (root / "config" / "platform.staging.yaml").write_text(
        "tuning:\n  storage_secret: {vault_path: 'kv/data/optuna/{team}'}\n"
    )
    _, diags = load_config(root, "staging")
    assert {(d.code, d.file, d.line) for d in diags} == {("M301", "config/platform.staging.yaml", 2)}
    assert "under environment dev's mount 'secret'" in diags[0].message
