"""Precedence (DESIGN.md): platform spec_defaults < overlay defaults < spec < spec.environments.<env>
< overlay enforce; maps merge, lists replace, null removes; positions follow the values."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import ROOT
from maestro.cli import main
from maestro.pipeline import check_file
from maestro.resolve.workspace import open_workspace

SPEC = """\
apiVersion: maestro.ml/v1alpha1
kind: Model
metadata: {name: m1, team: t1, owners: ["@t1"]}
spec:
  framework: sklearn
  serving:
    replicas: {min: 2, max: 4}
    autoscaling: {cpu: 60}
    rollout: {strategy: canary, steps: [50, 100]}
  environments:
    prod:
      serving: {autoscaling: {cpu: 50}}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    (tmp_path / "specs" / "m1").mkdir(parents=True)
    (tmp_path / "specs" / "m1" / "maestro.yaml").write_text(SPEC)
    for env in ("dev", "staging", "prod"):
        (tmp_path / "overlays" / env).mkdir(parents=True)
    cfg = tmp_path / "config" / "platform.yaml"
    cfg.write_text(
        cfg.read_text() + "spec_defaults:\n  serving: {autoscaling: {memory: 90}, resources: {memory: 3Gi}}\n"
    )
    return tmp_path


def overlay(repo: Path, env: str, body: str) -> None:
    (repo / "overlays" / env / "overlay.yaml").write_text(
        f"apiVersion: maestro.ml/v1alpha1\nkind: Overlay\nenvironment: {env}\n{body}"
    )


def effective(repo: Path, env: str):  # type: ignore[no-untyped-def]
    ws, diags = open_workspace(repo)
    assert ws is not None, diags
    c = check_file(repo / "specs/m1/maestro.yaml", "specs/m1/maestro.yaml", ws.inputs, [env], repo)
    return c


def test_precedence_order(repo: Path) -> None:
    overlay(
        repo,
        "prod",
        "defaults: {serving: {autoscaling: {cpu: 10, rps: 5}, replicas: {max: 9}}}\n"
        "enforce: {serving: {replicas: {min: 3}}}\n",
    )
    c = effective(repo, "prod")
    assert c.diagnostics == []
    s = c.effective["prod"].spec.serving
    assert s is not None
    assert s.autoscaling.memory == 90  # platform spec_defaults, nobody overrides
    assert s.resources.memory == "3Gi"
    assert s.autoscaling.rps == 5  # overlay defaults
    assert s.replicas.max == 4  # the spec beats overlay defaults
    assert s.autoscaling.cpu == 50  # environments.prod beats the spec and the defaults
    assert s.replicas.min == 3  # enforce beats everything


def test_lists_replace_and_null_removes(repo: Path) -> None:
    overlay(repo, "prod", "enforce: {serving: {rollout: {steps: [25, 75, 100]}, autoscaling: {cpu: null}}}\n")
    s = effective(repo, "prod").effective["prod"].spec.serving
    assert s is not None
    assert s.rollout.steps == [25, 75, 100]
    assert s.autoscaling.cpu is None


def test_fragments_never_add_a_section(repo: Path) -> None:
    overlay(repo, "prod", "defaults: {tuning: {trials: 3}}\nenforce: {monitoring: {dashboard: true}}\n")
    spec = effective(repo, "prod").effective["prod"].spec
    assert spec.tuning is None and spec.monitoring is None


def test_overlay_that_breaks_a_spec_is_reported_at_the_overlay_line(repo: Path) -> None:
    overlay(repo, "staging", "enforce:\n  serving:\n    replicas: {max: 1}\n")
    c = effective(repo, "staging")
    [d] = c.diagnostics
    assert (d.file, d.code) == ("specs/m1/maestro.yaml", "M204")  # min comes from the spec...
    overlay(repo, "staging", "enforce:\n  serving:\n    replicas: {min: 7}\n")
    [d] = effective(repo, "staging").diagnostics
    assert (d.file, d.line, d.col, d.code) == ("overlays/staging/overlay.yaml", 6, 21, "M204")  # ...here the overlay's
    overlay(repo, "staging", "enforce:\n  serving:\n    replicaz: {min: 7}\n")
    [d] = effective(repo, "staging").diagnostics
    assert (d.file, d.line, d.code) == ("overlays/staging/overlay.yaml", 6, "M101")
    assert d.hint == "did you mean 'replicas'?"


def test_invalid_overlay_is_a_usage_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    overlay(repo, "dev", "namespace: 3\nbogus: 1\n")
    rc = main(["--root", str(repo), "validate"])
    out = capsys.readouterr().out
    assert rc == 2
    assert "overlays/dev/overlay.yaml:4:12: M302" in out
    assert "overlays/dev/overlay.yaml:5:1: M302 unknown field 'bogus'" in out
