"""Serving and mesh renderers on the example specs: kinds, wiring, schema validity, and the
cluster semantics each field stands for (traffic routing, analysis scope, replica owners,
autoscaling triggers, pod hardening), the analysis queries run by the real promtool."""

from __future__ import annotations

import copy
import dataclasses
import math
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import MODELS, example, example_workspace, require_tool
from maestro.frontend.spec import Spec
from maestro.output.emit import dump
from maestro.output.verify import Verifier
from maestro.render import mesh, servers, serving
from maestro.render.queries import parse_duration

ENVS = ["dev", "staging", "prod"]


def effective(model: str, env: str):  # type: ignore[no-untyped-def]
    return example(model, env)


def objects(spec: Spec, ctx: Any) -> dict[str, dict[str, Any]]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in serving.render(spec, ctx) + mesh.render(spec, ctx)}


def rendered(model: str, env: str) -> dict[str, dict[str, Any]]:
    return objects(*effective(model, env))


def without_ab_test(spec: Spec) -> Spec:
    """The spec with its A/B test stopped (the examples' canaries all run one)."""
    assert spec.spec.serving is not None
    return spec.model_copy(
        update={
            "spec": spec.spec.model_copy(update={"serving": spec.spec.serving.model_copy(update={"ab_test": None})})
        }
    )


def with_serving(spec: Spec, **update: Any) -> Spec:
    assert spec.spec.serving is not None
    return spec.model_copy(
        update={"spec": spec.spec.model_copy(update={"serving": spec.spec.serving.model_copy(update=update)})}
    )


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("model", MODELS)
def test_every_object_passes_its_schema(model: str, env: str) -> None:
    verifier = Verifier(example_workspace().platform.kubernetes_version)
    for key, o in rendered(model, env).items():
        assert verifier.verify(o, source=key) == [], key


def test_traffic_routed_canary_objects_pass_their_schemas() -> None:
    verifier = Verifier(example_workspace().platform.kubernetes_version)
    spec, ctx = effective("fraud-detector", "prod")
    for key, o in objects(without_ab_test(spec), ctx).items():
        assert verifier.verify(o, source=key) == [], key


# ------------------------------------------------------------------ canary through Istio


def test_canary_shifts_traffic_through_istio_subsets() -> None:
    spec, ctx = effective("fraud-detector", "prod")
    objs = objects(without_ab_test(spec), ctx)
    host = "fraud-detector-predictor.payments-risk-prod.svc.cluster.local"  # KServe's Service: what callers call
    canary = objs["Rollout/fraud-detector"]["spec"]["strategy"]["canary"]
    assert canary["trafficRouting"] == {
        "istio": {
            "virtualService": {"name": "fraud-detector", "routes": ["primary"]},
            "destinationRule": {"name": "fraud-detector", "canarySubsetName": "canary", "stableSubsetName": "stable"},
        }
    }
    assert "maxSurge" not in canary  # replica surge is for canaries without a router
    assert canary["scaleDownDelaySeconds"] == 30
    vs = objs["VirtualService/fraud-detector"]["spec"]
    # no port: a multi-port host keeps the port it was called on
    assert vs == {
        "hosts": [host],
        "http": [
            {
                "name": "primary",
                "route": [
                    {"destination": {"host": host, "subset": "stable"}, "weight": 100},
                    {"destination": {"host": host, "subset": "canary"}, "weight": 0},
                ],
            }
        ],
    }
    dr = objs["DestinationRule/fraud-detector"]["spec"]
    pods = {"app.kubernetes.io/name": "fraud-detector", "app.kubernetes.io/component": "serving"}
    assert dr == {
        "host": host,
        "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
        "subsets": [{"name": "stable", "labels": pods}, {"name": "canary", "labels": pods}],
    }
    predictor = objs["InferenceService/fraud-detector"]["spec"]["predictor"]
    assert pods.items() <= predictor["labels"].items()  # the subsets select the Rollout's pods


def test_kserve_rollout_adopts_the_predictor_deployment() -> None:
    objs = rendered("fraud-detector", "prod")
    rollout = objs["Rollout/fraud-detector"]["spec"]
    assert rollout["workloadRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "fraud-detector-predictor",
        "scaleDown": "progressively",
    }
    # KServe leaves the Deployment's replicas to others only with an external autoscaler class
    isvc = objs["InferenceService/fraud-detector"]
    assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "external"
    assert rollout["selector"]["matchLabels"].items() <= isvc["spec"]["predictor"]["labels"].items()


def test_a_b_test_keeps_the_route_and_the_canary_stays_replica_based() -> None:
    objs = rendered("fraud-detector", "prod")
    canary = objs["Rollout/fraud-detector"]["spec"]["strategy"]["canary"]
    # Argo Rollouts would delete the variants' destinations from a route it manages
    assert "trafficRouting" not in canary and canary["maxSurge"] == "25%"
    assert [s for s in canary["steps"] if "setWeight" in s] == [{"setWeight": 10}, {"setWeight": 25}, {"setWeight": 50}]
    vs = objs["VirtualService/fraud-detector"]["spec"]
    assert vs["http"] == [
        {
            "name": "ab-test",
            "route": [
                {
                    "destination": {"host": "fraud-detector-predictor.payments-risk-prod.svc.cluster.local"},
                    "weight": 90,
                },
                {
                    "destination": {"host": "fraud-detector-challenger-predictor.payments-risk-prod.svc.cluster.local"},
                    "weight": 10,
                },
            ],
        }
    ]


# ------------------------------------------------------------------ analysis scoped to the new revision


def test_analysis_queries_only_the_new_revisions_pods() -> None:
    objs = rendered("fraud-detector", "prod")
    analysis = objs["Rollout/fraud-detector"]["spec"]["strategy"]["canary"]["analysis"]
    assert analysis["args"] == [{"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}]
    template = objs["AnalysisTemplate/fraud-detector-analysis"]["spec"]
    assert template["args"] == [{"name": "canary-hash"}]
    for metric in template["metrics"]:
        query = metric["provider"]["prometheus"]["query"]
        # ReplicaSets of a Rollout are <rollout>-<pod template hash>, their pods one suffix more
        assert 'pod=~"fraud-detector-{{args.canary-hash}}-[a-z0-9]+"' in query
        assert query.count('reporter="destination"') == query.count("istio_request")
        assert "destination_service_name" not in query  # cannot tell the revisions apart


def _promtool_eval(tmp_path: Path, series: list[dict[str, str]], exprs: dict[str, float]) -> None:
    promtool = require_tool("promtool")
    (tmp_path / "rules.yaml").write_text("groups: []\n", encoding="utf-8")
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "30s",
        "tests": [
            {
                "interval": "30s",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": f"round(({e}) * 1000)",
                        "eval_time": "10m",
                        "exp_samples": [{"labels": "{}", "value": round(v * 1000)}],
                    }
                    for e, v in exprs.items()
                ],
            }
        ],
    }
    (tmp_path / "tests.yaml").write_text(dump(tests), encoding="utf-8")
    result = subprocess.run(
        [promtool, "test", "rules", "tests.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_analysis_error_ratio_is_the_canarys_not_diluted_by_stable_traffic(tmp_path: Path) -> None:
    """10% of the traffic on the canary, failing 20% of it; the stable pods never fail, and the
    callers' side counts every request again: the analysis must see 0.2, not 0.02 or 0.01."""
    spec, ctx = effective("fraud-detector", "prod")
    template = objects(spec, ctx)["AnalysisTemplate/fraud-detector-analysis"]["spec"]
    query = template["metrics"][0]["provider"]["prometheus"]["query"].replace("{{args.canary-hash}}", "7c9d5b8f4")
    ns = ctx.namespace

    def counter(pod: str, code: str, per_step: float, reporter: str = "destination") -> dict[str, str]:
        labels = {
            "reporter": reporter,
            "destination_workload_namespace": ns,
            "pod": pod,
            "response_code": code,
            "destination_service": "fraud-detector-predictor." + ns + ".svc.cluster.local",
        }
        body = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        return {"series": f"istio_requests_total{{{body}}}", "values": f"0+{per_step}x40"}

    series = [
        counter("fraud-detector-7c9d5b8f4-x2k9p", "200", 80),
        counter("fraud-detector-7c9d5b8f4-x2k9p", "503", 20),
        counter("fraud-detector-6f8b7d9c5-q4r7t", "200", 900),  # stable revision
        counter("fraud-detector-7c9d5b8f4x-abcde", "503", 500),  # another Rollout's pods, a longer name
        counter("caller-5d9f-abcde", "200", 980, "source"),
        counter("caller-5d9f-abcde", "503", 20, "source"),
    ]
    _promtool_eval(tmp_path, series, {query: 0.2})


# ------------------------------------------------------------------ blue-green through Istio


def test_blue_green_mirrors_traffic_to_the_full_size_new_version_before_switching() -> None:
    objs = rendered("churn-predictor", "prod")
    assert "Service/churn-predictor-preview" not in objs  # nobody calls a preview Service
    canary = objs["Rollout/churn-predictor"]["spec"]["strategy"]["canary"]
    assert "blueGreen" not in objs["Rollout/churn-predictor"]["spec"]["strategy"]
    assert canary["trafficRouting"]["managedRoutes"] == [{"name": "preview-mirror"}]
    assert canary["trafficRouting"]["istio"]["virtualService"] == {"name": "churn-predictor", "routes": ["primary"]}
    assert canary["steps"] == [
        {"setCanaryScale": {"weight": 100}},  # green at full size, no traffic yet
        {"setMirrorRoute": {"name": "preview-mirror", "percentage": 100, "match": [{"path": {"prefix": "/"}}]}},
        {
            "analysis": {
                "templates": [{"templateName": "churn-predictor-analysis"}],
                "args": [{"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}],
            }
        },
        {"setMirrorRoute": {"name": "preview-mirror"}},  # only a name: the route goes
        {"pause": {"duration": "5m"}},
    ]  # then the end of the steps switches all traffic at once
    assert "setWeight" not in str(canary["steps"])
    assert canary["scaleDownDelaySeconds"] == 30


def test_blue_green_with_an_a_b_test_is_refused() -> None:
    from maestro.frontend.semantics import check_serving

    spec, _ = effective("fraud-detector", "prod")
    s = with_serving(
        spec,
        rollout=spec.spec.serving.rollout.model_copy(  # type: ignore[union-attr]
            update={"strategy": "blueGreen", "steps": []}
        ),
    )
    findings = list(check_serving(s.spec, s.metadata.name))
    assert [(f.pointer, f.code) for f in findings] == [("/spec/serving/rollout/strategy", "M222")]


# ------------------------------------------------------------------ replica owners


def _targets(objs: dict[str, dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(kind, name) of each autoscaler target -> the autoscaler."""
    out = {}
    for key, o in objs.items():
        if o["kind"] in ("HorizontalPodAutoscaler", "ScaledObject"):
            ref = o["spec"]["scaleTargetRef"]
            assert (ref["kind"], ref["name"]) not in out, "two autoscalers on one target"
            out[(ref["kind"], ref["name"])] = key
    return out


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("model", MODELS)
def test_replicas_have_exactly_one_owner(model: str, env: str) -> None:
    spec, ctx = effective(model, env)
    for s in (spec, without_ab_test(spec)) if spec.spec.serving else (spec,):
        objs = objects(s, ctx)
        targets = _targets(objs)
        for server in servers.servers(s, ctx):
            isvc = objs.get(f"InferenceService/{server.name}")
            rollout = objs.get(f"Rollout/{server.name}")
            deployment = objs.get(f"Deployment/{server.name}")
            workload = rollout or deployment
            if isvc is not None and rollout is None:
                target = ("Deployment", f"{server.name}-predictor")
            else:
                target = ("Rollout" if rollout else "Deployment", server.name)
            if server.autoscaled:
                assert target in targets, (server.name, targets)
                # a replica count in git would be reverted onto the target by every selfHeal
                assert workload is None or "replicas" not in workload["spec"], server.name
            else:
                assert target not in targets
                if workload is not None:
                    assert workload["spec"]["replicas"] == server.min
            if isvc is not None:
                klass = isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"]
                # KServe writes the Deployment's replicas only for `none`
                assert klass == ("external" if server.autoscaled or rollout else "none"), server.name
                if klass == "none":
                    assert isvc["spec"]["predictor"]["minReplicas"] == server.min


def test_fraud_detector_rollout_leaves_its_replicas_to_keda() -> None:
    objs = rendered("fraud-detector", "prod")
    assert "replicas" not in objs["Rollout/fraud-detector"]["spec"]
    so = objs["ScaledObject/fraud-detector"]["spec"]
    assert so["scaleTargetRef"] == {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "fraud-detector"}
    assert (so["minReplicaCount"], so["maxReplicaCount"]) == (3, 12)


def test_fixed_size_kserve_server_is_kserves_to_keep() -> None:
    spec, ctx = effective("sentiment-bert", "prod")
    s = with_serving(spec, replicas=spec.spec.serving.replicas.model_copy(update={"min": 3, "max": 3}))  # type: ignore
    objs = objects(s, ctx)
    isvc = objs["InferenceService/sentiment-bert"]
    assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "none"
    assert (isvc["spec"]["predictor"]["minReplicas"], isvc["spec"]["predictor"]["maxReplicas"]) == (3, 3)
    assert not _targets(objs)


# ------------------------------------------------------------------ autoscaling triggers


def test_request_and_latency_targets_are_keda_prometheus_triggers() -> None:
    _, ctx = effective("fraud-detector", "prod")
    so = rendered("fraud-detector", "prod")["ScaledObject/fraud-detector"]["spec"]
    host = "fraud-detector-predictor.payments-risk-prod.svc.cluster.local"
    rps, latency, cpu = so["triggers"]
    assert (rps["type"], rps["metricType"], rps["metadata"]["threshold"]) == ("prometheus", "AverageValue", "200")
    assert (
        rps["metadata"]["query"]
        == f'sum(rate(istio_requests_total{{reporter="source",destination_service="{host}"}}[1m]))'
    )
    # one p99 over the whole server against the target: `Value`, not a per-pod average
    assert (latency["type"], latency["metricType"], latency["metadata"]["threshold"]) == ("prometheus", "Value", "60")
    assert latency["metadata"]["query"].endswith(">= 0) or vector(0)")  # NaN without traffic becomes 0
    assert cpu == {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}}
    assert rps["metadata"]["serverAddress"] == ctx.environment.endpoints.prometheus


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("model", MODELS)
def test_no_hpa_needs_a_custom_metrics_adapter(model: str, env: str) -> None:
    for o in rendered(model, env).values():
        if o["kind"] == "HorizontalPodAutoscaler":
            assert {m["type"] for m in o["spec"]["metrics"]} == {"Resource"}, o["metadata"]["name"]


def test_scale_to_zero_activates_on_what_callers_sent() -> None:
    objs = rendered("fraud-detector", "dev")
    assert sorted(objs) == ["InferenceService/fraud-detector", "ScaledObject/fraud-detector"]
    so = objs["ScaledObject/fraud-detector"]["spec"]
    assert so["minReplicaCount"] == 0 and so["scaleTargetRef"]["name"] == "fraud-detector-predictor"
    trigger = so["triggers"][0]
    # with no pod there is no destination-side series at all: the callers' side sees the demand
    assert 'reporter="source"' in trigger["metadata"]["query"]
    assert trigger["metadata"]["activationThreshold"] == "0"


# ------------------------------------------------------------------ A/B variants


def test_a_b_variants_scale_with_their_share() -> None:
    objs = rendered("fraud-detector", "prod")
    isvc = objs["InferenceService/fraud-detector-challenger"]
    assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "external"
    so = objs["ScaledObject/fraud-detector-challenger"]["spec"]
    assert so["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "fraud-detector-challenger-predictor",
    }
    assert (so["minReplicaCount"], so["maxReplicaCount"]) == (1, 2)  # 10% of 3..12
    assert "fraud-detector-challenger-predictor.payments-risk-prod" in so["triggers"][0]["metadata"]["query"]
    objs = rendered("image-classifier", "prod")
    for variant, weight in (("convnext", 10), ("distilled", 5)):
        # 10% and 5% of at most 8 replicas is less than one: one pod each, KServe keeps it
        assert math.ceil(8 * weight / 100) == 1 and f"ScaledObject/image-classifier-{variant}" not in objs
        isvc = objs[f"InferenceService/image-classifier-{variant}"]
        assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "none"
        assert (isvc["spec"]["predictor"]["minReplicas"], isvc["spec"]["predictor"]["maxReplicas"]) == (1, 1)


# ------------------------------------------------------------------ pod hardening


def test_server_pods_are_meshed_and_name_their_canonical_service() -> None:
    objs = rendered("fraud-detector", "prod")
    for name in ("fraud-detector", "fraud-detector-challenger"):
        labels = objs[f"InferenceService/{name}"]["spec"]["predictor"]["labels"]
        assert labels["sidecar.istio.io/inject"] == "true"
        assert labels["service.istio.io/canonical-name"] == name


def test_pinned_version_and_batch_models() -> None:
    assert rendered("demand-forecaster", "prod") == {}
    objs = rendered("image-classifier", "prod")
    variant = objs["InferenceService/image-classifier-distilled"]["spec"]["predictor"]
    assert variant["model"]["storageUri"] == "models:/image-classifier/12"
    assert variant["tolerations"] and variant["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_deployment_runtime_wiring() -> None:
    objs = rendered("churn-predictor", "prod")
    template = objs["Rollout/churn-predictor"]["spec"]["template"]
    selector = objs["Rollout/churn-predictor"]["spec"]["selector"]["matchLabels"]
    assert selector.items() <= template["metadata"]["labels"].items()
    assert objs["Service/churn-predictor"]["spec"]["selector"] == selector
    assert [p["name"] for p in objs["Service/churn-predictor"]["spec"]["ports"]] == ["http", "grpc"]
    [container] = template["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MLSERVER_MODEL_URI"] == "models:/churn-predictor@champion"
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.mlflow.svc:5000"


def _pods(objs: dict[str, dict[str, Any]]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """key -> (pod spec, model container) of every model server pod template."""
    out = {}
    for key, o in objs.items():
        spec = o.get("spec", {})
        if "predictor" in spec:
            out[key] = (spec["predictor"], spec["predictor"]["model"])
        elif "containers" in spec.get("template", {}).get("spec", {}):
            out[key] = (spec["template"]["spec"], spec["template"]["spec"]["containers"][0])
    return out


@pytest.mark.parametrize(("timeout", "threshold"), [("10m", 60), ("3m", 18), ("45s", 5), ("1h", 360)])
def test_startup_probe_gives_the_model_its_load_budget(timeout: str, threshold: int) -> None:
    for model, env in (("fraud-detector", "prod"), ("churn-predictor", "prod")):  # kserve, deployment runtime
        spec, ctx = effective(model, env)
        platform = ctx.platform.model_copy(
            update={"serving": ctx.platform.serving.model_copy(update={"model_load_timeout": timeout})}
        )
        pods = _pods(objects(spec, dataclasses.replace(ctx, platform=platform)))
        assert pods
        for key, (_, container) in pods.items():
            startup = container["startupProbe"]
            assert startup["httpGet"] == {"path": "/v2/health/live", "port": 8080}, key
            assert startup["periodSeconds"] * startup["failureThreshold"] >= parse_duration(timeout), key
            assert startup["failureThreshold"] == threshold, key
            # The startupProbe holds liveness off: no initial delay that a slow load outlives.
            assert "initialDelaySeconds" not in container["livenessProbe"], key


def test_model_load_timeout_default_is_ten_minutes() -> None:
    spec, ctx = effective("sentiment-bert", "prod")
    assert ctx.platform.serving.model_load_timeout == "10m"
    for _, container in _pods(objects(spec, ctx)).values():
        assert container["startupProbe"]["failureThreshold"] * container["startupProbe"]["periodSeconds"] == 600


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("model", MODELS)
def test_servers_that_may_run_several_replicas_spread_over_zones_and_nodes(model: str, env: str) -> None:
    spec, ctx = effective(model, env)
    objs = objects(spec, ctx)
    pods = _pods(objs)
    for server in servers.servers(spec, ctx):
        keys = [k for k in pods if k.split("/")[1] == server.name]
        assert keys, server.name
        for key in keys:
            pod, _ = pods[key]
            if server.max <= 1:
                assert "topologySpreadConstraints" not in pod, key
                continue
            constraints = pod["topologySpreadConstraints"]
            assert [c["topologyKey"] for c in constraints] == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
            for c in constraints:
                assert c["maxSkew"] == 1 and c["whenUnsatisfiable"] == "ScheduleAnyway", key
                # The selector counts this server's pods (their labels), per revision.
                assert c["labelSelector"]["matchLabels"].items() <= _labels(objs[key]).items(), key
                assert c["matchLabelKeys"] == ["pod-template-hash", "rollouts-pod-template-hash"], key


def _labels(o: dict[str, Any]) -> dict[str, str]:
    spec = o["spec"]
    return spec["predictor"]["labels"] if "predictor" in spec else spec["template"]["metadata"]["labels"]


def test_a_single_replica_server_has_no_spread_and_a_variant_spreads_by_its_own_bound() -> None:
    spec, ctx = effective("fraud-detector", "prod")
    one = with_serving(spec, replicas=spec.spec.serving.replicas.model_copy(update={"min": 1, "max": 1}))  # type: ignore
    for pod, _ in _pods(objects(one, ctx)).values():
        assert "topologySpreadConstraints" not in pod
    big = _pods(objects(spec, ctx))
    assert "topologySpreadConstraints" in big["InferenceService/fraud-detector"][0]
    variant = next(s for s in servers.servers(spec, ctx) if s.variant is not None)
    assert ("topologySpreadConstraints" in big[f"InferenceService/{variant.name}"][0]) == (variant.max > 1)


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


def _shm(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, Any] | None:
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = [m for m in container["volumeMounts"] if m["mountPath"] == "/dev/shm"]
    if not mounts:
        return None
    [mount] = mounts
    return volumes[mount["name"]]


SERVED = [(m, e) for m in MODELS for e in ENVS if effective(m, e)[0].spec.serving is not None]


@pytest.mark.parametrize(("model", "env"), SERVED)
def test_gpu_and_pytorch_servers_get_a_memory_backed_dev_shm(model: str, env: str) -> None:
    """The container runtime's /dev/shm is 64 MiB: NCCL, Triton's Python backend and PyTorch
    DataLoader workers fail on it (training pods got one already; serving pods did not)."""
    spec, ctx = effective(model, env)
    assert spec.spec.serving is not None
    res = spec.spec.serving.resources
    wanted = spec.spec.framework in ("pytorch", "huggingface") or res.gpu > 0
    pods = _pods(objects(spec, ctx))
    assert pods
    for key, (pod, container) in pods.items():
        shm = _shm(pod, container)
        if not wanted:
            assert shm is None, key
            continue
        assert shm == {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": res.memory}}, key


def test_a_gpu_server_on_the_deployment_runtime_gets_dev_shm_too() -> None:
    """churn-predictor (sklearn, no shm on CPU) serves through the mlserver Deployment: given a
    GPU, its pod template gets the volume and the mount, and still passes the schemas."""
    spec, ctx = effective("churn-predictor", "prod")
    assert spec.spec.serving is not None
    gpu = with_serving(spec, resources=spec.spec.serving.resources.model_copy(update={"gpu": 1}))
    pods = _pods(objects(gpu, ctx))
    assert pods and all(_shm(pod, c) is not None for pod, c in pods.values())
    assert all(_shm(pod, c) is None for pod, c in _pods(objects(spec, ctx)).values())
    verifier = Verifier(example_workspace().platform.kubernetes_version)
    for key, o in objects(gpu, ctx).items():
        assert verifier.verify(o, source=key) == [], key
