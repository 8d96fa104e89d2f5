"""Cost: spot training and tuning, off-hours scale-down, and `maestro cost`.

Consumers: the CRD schema of KEDA's ScaledObject validates the cron trigger (the render
verifies every object), croniter reads the working hours, and `maestro diff` prices a change
with the very function the report uses (costs.monthly_cost with the environment).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import MODELS, ROOT, example, example_workspace
from maestro.cli import main
from maestro.cost_report import build
from maestro.costs import monthly_cost, off_hours_fraction, on_demand_cost, savings
from maestro.frontend.spec import Spec
from maestro.output.verify import Verifier
from maestro.pipeline import render_model
from maestro.render import spot
from maestro.render.decorate import pod_templates


def objects(model: str, env: str) -> list[dict[str, Any]]:
    spec, _ = example(model, env)
    out, diags = render_model(example_workspace(), env, spec, f"specs/{model}/maestro.yaml")
    assert not diags
    return out


def with_training(spec: Spec, **changes: Any) -> Spec:
    assert spec.spec.training is not None
    body = spec.spec.model_copy(update={"training": spec.spec.training.model_copy(update=changes)})
    return spec.model_copy(update={"spec": body})


# ------------------------------------------------------------------ spot


def test_spot_training_pods_get_the_platforms_scheduling() -> None:
    platform = example_workspace().platforms["prod"]
    objs = objects("fraud-detector", "prod")  # training: spot: true, checkpointPath
    verifier = Verifier(platform.kubernetes_version)
    pods = [p for o in objs for p in pod_templates(o) if p.component in ("training", "training-launcher", "tuning")]
    for o in objs:
        assert verifier.verify(o) == [], o["metadata"]["name"]
    for pod in pods:
        assert pod.spec is not None
        on = pod.component == "training"  # prod: tuning not on spot by default; the launcher is not training
        assert (
            pod.spec.get("tolerations") is not None
            and {"key": "spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in pod.spec["tolerations"]
        ) == on
        if on:
            assert pod.spec["affinity"]["nodeAffinity"] == platform.spot.node_affinity
            env = {e["name"]: e.get("value") for c in pod.env_targets for e in c.get("env", [])}
            assert env["MAESTRO_CHECKPOINT_PATH"] == "s3://ml-checkpoints/payments/fraud-detector"


def test_dev_runs_tuning_on_spot_by_default() -> None:
    pods = [p for o in objects("churn-predictor", "dev") for p in pod_templates(o) if p.component == "tuning"]
    assert pods and all("karpenter.sh/capacity-type" in json.dumps(p.spec) for p in pods)


def test_spot_training_needs_a_checkpoint_or_a_restart_policy() -> None:
    spec, _ = example("fraud-detector", "prod")
    platform = example_workspace().platforms["prod"]
    bare = with_training(spec, checkpoint_path=None)
    [finding] = spot.check(bare, platform, "prod")
    assert (finding.pointer, finding.code, finding.key) == ("/spec/training/spot", "M224", True)
    assert not list(spot.check(with_training(bare, restart_policy="OnFailure"), platform, "prod"))
    assert not list(spot.check(with_training(bare, spot=False), platform, "prod"))


def test_an_environment_default_names_the_section() -> None:
    spec, _ = example("churn-predictor", "prod")
    platform = example_workspace().platforms["prod"]
    env = platform.environments["prod"].model_copy(
        update={"spot": platform.environments["prod"].spot.model_copy(update={"training": True})}
    )
    platform = platform.model_copy(update={"environments": {**platform.environments, "prod": env}})
    [finding] = spot.check(spec, platform, "prod")
    assert (finding.pointer, finding.code) == ("/spec/training", "M224")
    assert "environment prod runs training on spot nodes by default" in finding.message


def test_spot_error_is_positioned_in_the_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for sub in ("config", "specs", "schemas", "overlays", "policies"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    path = tmp_path / "specs" / "fraud-detector" / "maestro.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("    checkpointPath: s3://ml-checkpoints/payments/fraud-detector\n", ""), encoding="utf-8"
    )
    rc = main(["--root", str(tmp_path), "validate", "--env", "prod"])
    out = capsys.readouterr().out
    line = next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if ln.strip().startswith("spot: true"))
    assert rc == 1
    assert f"specs/fraud-detector/maestro.yaml:{line}:5: M224 training on spot nodes needs a checkpointPath" in out


# ------------------------------------------------------------------ off-hours


def scaled_object(model: str, env: str) -> dict[str, Any]:
    [so] = [o for o in objects(model, env) if o["kind"] == "ScaledObject" and o["metadata"]["name"] == model]
    return so


@pytest.mark.parametrize("model", [m for m in MODELS if m != "demand-forecaster"])
def test_non_prod_serving_scales_down_off_hours(model: str) -> None:
    """staging: every server that runs replicas in working hours is owned by one KEDA
    ScaledObject that holds its own minimum in working hours (cron) and `off_hours.replicas`
    outside them, also a server of fixed size or one scaled on CPU alone (an HPA or
    `spec.replicas` before): one owner, the cron trigger on the same ScaledObject."""
    from maestro.render import servers

    spec, ctx = example(model, "staging")
    off = ctx.environment.off_hours
    assert off.enabled
    out = objects(model, "staging")
    assert not [o for o in out if o["kind"] == "HorizontalPodAutoscaler"]
    verifier = Verifier(example_workspace().platform.kubernetes_version)
    for server in servers.servers(spec, ctx):
        assert server.min > off.replicas and server.off_hours, server.name
        [so] = [o for o in out if o["kind"] == "ScaledObject" and o["metadata"]["name"] == server.name]
        crons = [t for t in so["spec"]["triggers"] if t["type"] == "cron"]
        assert crons == [
            {
                "type": "cron",
                "metadata": {
                    "timezone": "Europe/Berlin",
                    "start": "0 7 * * 1-5",
                    "end": "0 20 * * 1-5",
                    "desiredReplicas": str(server.min),  # the variant's own bound, not the main model's
                },
            }
        ]
        assert so["spec"]["minReplicaCount"] == off.replicas == 0
        assert so["spec"]["maxReplicaCount"] == server.max
        assert verifier.verify(so) == []
        ref = so["spec"]["scaleTargetRef"]
        if ref["kind"] == "Deployment" and ref["name"].endswith("-predictor"):  # KServe's: hands it over
            [isvc] = [o for o in out if o["kind"] == "InferenceService" and o["metadata"]["name"] == server.name]
            assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "external"
        else:
            [target] = [o for o in out if o["kind"] == ref["kind"] and o["metadata"]["name"] == ref["name"]]
            assert "replicas" not in target["spec"], ref


def test_scale_to_zero_models_keep_scaling_to_zero_in_working_hours() -> None:
    so = scaled_object("fraud-detector", "dev")  # min 0: no cron trigger that would hold a replica
    assert all(t["type"] != "cron" for t in so["spec"]["triggers"])


@pytest.mark.parametrize("model", MODELS)
def test_prod_serving_runs_around_the_clock(model: str) -> None:
    assert '"type": "cron"' not in json.dumps(objects(model, "prod"))


def test_off_hours_fraction() -> None:
    assert off_hours_fraction("0 7 * * 1-5", "0 19 * * 1-5") == round(1 - 12 * 5 / 168, 4)
    assert off_hours_fraction("30 8 * * *", "0 17 * * *") == round(1 - 8.5 * 7 / 168, 4)


# ------------------------------------------------------------------ the estimate and the report


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_applied_options_are_priced_in(model: str, env: str) -> None:
    spec, _ = example(model, env)
    platform = example_workspace().platforms[env]
    base, cost = on_demand_cost(spec, platform), monthly_cost(spec, platform, env)
    applied = sum(s.monthly for s in savings(spec, platform, env) if s.applied)
    assert round(base.total - applied, 2) == pytest.approx(cost.total, abs=0.03)
    assert monthly_cost(spec, platform) == base  # without an environment: on demand, as before


def test_report_adds_up_and_diff_uses_the_same_numbers() -> None:
    ws = example_workspace()
    pairs = [(env, example(m, env)[0]) for m in MODELS for env in ws.environments]
    report = build(pairs, ws.platforms)
    for row in report.models:
        spec = example(row.model, row.env)[0]
        assert row.total == monthly_cost(spec, ws.platforms[row.env], row.env).total  # what diff/side.py prices
    for team in report.teams:
        assert team.total == round(sum(r.total for r in report.models if r.team == team.team), 2)
        assert team.budget == ws.platform.team(team.team).budget.monthly


def test_cost_cli_formats(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(ROOT), "cost", "--env", "staging"]) == 0
    text = capsys.readouterr().out
    assert "staging/fraud-detector [payments-risk]" in text and "off-hours applied" in text
    assert main(["--root", str(ROOT), "cost", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["environments"] == ["dev", "prod", "staging"] and {t["team"] for t in data["teams"]} >= {"growth"}
    assert main(["--root", str(ROOT), "cost", "--env", "prod", "--format", "markdown"]) == 0
    assert capsys.readouterr().out.startswith("### Monthly cost estimate (USD)\n")
    assert main(["--root", str(ROOT), "cost", "--env", "qa"]) == 2


def test_cost_cli_fails_over_budget(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAESTRO_TEAMS__OVERRIDES__VISION__BUDGET__MONTHLY", "100")
    assert main(["--root", str(ROOT), "cost", "--env", "prod"]) == 1
    out = capsys.readouterr()
    assert "vision" in out.err and "OVER BUDGET" in out.out
