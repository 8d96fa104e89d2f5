"""Serving and mesh renderers on the example specs: kinds, wiring, schema validity."""

from __future__ import annotations

import copy

import pytest

from conftest import ROOT
from maestro.output.verify import Verifier
from maestro.pipeline import check_file, context_for
from maestro.render import mesh, serving
from maestro.resolve.workspace import open_workspace

WS, _ = open_workspace(ROOT)
assert WS is not None


def effective(model: str, env: str):  # type: ignore[no-untyped-def]
    source = f"specs/{model}/maestro.yaml"
    c = check_file(ROOT / source, source, WS.inputs, root=ROOT)
    spec = c.effective[env]
    return spec, context_for(WS, env, spec, source)


def rendered(model: str, env: str) -> dict[str, dict]:
    spec, ctx = effective(model, env)
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in serving.render(spec, ctx) + mesh.render(spec, ctx)}


MODELS = sorted(p.parent.name for p in (ROOT / "specs").glob("*/maestro.yaml"))


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
@pytest.mark.parametrize("model", MODELS)
def test_every_object_passes_its_schema(model: str, env: str) -> None:
    verifier = Verifier(WS.platform.kubernetes_version)
    for key, o in rendered(model, env).items():
        assert verifier.verify(o, source=key) == [], key


def test_fraud_detector_prod_canary_with_ab_test() -> None:
    objs = rendered("fraud-detector", "prod")
    assert sorted(objs) == [
        "AnalysisTemplate/fraud-detector-analysis",
        "DestinationRule/fraud-detector",
        "DestinationRule/fraud-detector-challenger",
        "HorizontalPodAutoscaler/fraud-detector",
        "InferenceService/fraud-detector",
        "InferenceService/fraud-detector-challenger",
        "PodDisruptionBudget/fraud-detector",
        "Rollout/fraud-detector",
        "VirtualService/fraud-detector",
    ]
    isvc = objs["InferenceService/fraud-detector"]["spec"]["predictor"]
    assert isvc["model"]["storageUri"] == "models:/fraud-detector@champion"
    assert (isvc["minReplicas"], isvc["maxReplicas"]) == (3, 12)
    challenger = objs["InferenceService/fraud-detector-challenger"]["spec"]["predictor"]
    assert challenger["model"]["storageUri"] == "models:/fraud-detector@challenger"
    rollout = objs["Rollout/fraud-detector"]["spec"]
    assert rollout["workloadRef"]["name"] == "fraud-detector-predictor"
    assert [s for s in rollout["strategy"]["canary"]["steps"] if "setWeight" in s] == [
        {"setWeight": 10},
        {"setWeight": 25},
        {"setWeight": 50},
    ]
    assert {"pause": {"duration": "10m"}} in rollout["strategy"]["canary"]["steps"]
    hpa = objs["HorizontalPodAutoscaler/fraud-detector"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "fraud-detector"}
    assert [m["type"] for m in hpa["metrics"]] == ["Resource", "Pods", "Pods"]
    vs = objs["VirtualService/fraud-detector"]["spec"]
    assert [r["weight"] for r in vs["http"][0]["route"]] == [90, 10]
    assert vs["hosts"] == ["fraud-detector-predictor.payments-risk-prod.svc.cluster.local"]
    analysis = objs["AnalysisTemplate/fraud-detector-analysis"]["spec"]["metrics"]
    assert analysis[0]["successCondition"] == "result[0] <= 0.01"
    assert analysis[1]["successCondition"] == "isNaN(result[0]) || result[0] <= 80"
    assert 'destination_service_name="{{args.service}}"' in analysis[0]["provider"]["prometheus"]["query"]


def test_dev_scales_to_zero_with_keda() -> None:
    objs = rendered("fraud-detector", "dev")
    assert sorted(objs) == ["InferenceService/fraud-detector", "ScaledObject/fraud-detector"]
    so = objs["ScaledObject/fraud-detector"]["spec"]
    assert so["minReplicaCount"] == 0 and so["scaleTargetRef"]["name"] == "fraud-detector-predictor"
    assert so["triggers"][0]["type"] == "prometheus"


def test_deployment_runtime_blue_green() -> None:
    objs = rendered("churn-predictor", "prod")
    assert sorted(objs) == [
        "AnalysisTemplate/churn-predictor-analysis",
        "HorizontalPodAutoscaler/churn-predictor",
        "PodDisruptionBudget/churn-predictor",
        "Rollout/churn-predictor",
        "Service/churn-predictor",
        "Service/churn-predictor-preview",
    ]
    bg = objs["Rollout/churn-predictor"]["spec"]["strategy"]["blueGreen"]
    assert (bg["activeService"], bg["previewService"]) == ("churn-predictor", "churn-predictor-preview")
    template = objs["Rollout/churn-predictor"]["spec"]["template"]
    selector = objs["Rollout/churn-predictor"]["spec"]["selector"]["matchLabels"]
    assert selector.items() <= template["metadata"]["labels"].items()
    assert objs["Service/churn-predictor"]["spec"]["selector"] == selector
    [container] = template["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MLSERVER_MODEL_URI"] == "models:/churn-predictor@champion"
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.mlflow.svc:5000"


def test_pinned_version_and_batch_models() -> None:
    assert rendered("demand-forecaster", "prod") == {}
    objs = rendered("image-classifier", "prod")
    variant = objs["InferenceService/image-classifier-distilled"]["spec"]["predictor"]
    assert variant["model"]["storageUri"] == "models:/image-classifier/12"
    assert variant["tolerations"] and variant["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_every_container_is_restricted() -> None:
    for model in MODELS:
        for key, o in rendered(model, "prod").items():
            spec = o.get("spec", {})
            pods = [spec.get("predictor"), spec.get("template", {}).get("spec")]
            for pod in filter(None, pods):
                assert pod["securityContext"]["runAsNonRoot"] is True, key
                containers = [pod["model"]] if "model" in pod else pod["containers"]
                for c in containers:
                    assert c["securityContext"]["allowPrivilegeEscalation"] is False, key
                    assert c["securityContext"]["readOnlyRootFilesystem"] is True, key


def test_render_is_pure_and_deterministic() -> None:
    spec, ctx = effective("fraud-detector", "prod")
    before = spec.model_dump()
    first = serving.render(spec, ctx)
    assert serving.render(spec, ctx) == first
    assert spec.model_dump() == before
    copy.deepcopy(first)
