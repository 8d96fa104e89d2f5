"""Serving: the model server, its rollout, autoscaling and disruption budget.

runtime `kserve`: an InferenceService in RawDeployment mode (plain Deployment + Service,
so HPA, KEDA, Argo Rollouts and Istio work as they do for any Deployment). KServe's own
autoscaler is switched off (`autoscalerClass: external`) because we emit the autoscaler.
runtime `deployment`: a Deployment + Service running the platform's MLServer image with
its MLflow runtime.

Rollouts: `rolling` is the Deployment's own strategy. `canary` and `blueGreen` use Argo
Rollouts: for `deployment` the Rollout replaces the Deployment (it embeds the pod
template); for `kserve` it adopts the Deployment KServe creates (`workloadRef`), since
the InferenceService must stay the owner of the model server. Canary weights are
replica-based (no traffic router), which works with or without the mesh; A/B variants
are routed by Istio (`mesh.py`).
"""

from __future__ import annotations

import math
from typing import Any

from maestro.frontend.spec import Spec, Variant
from maestro.render import Context, Resource, obj, pod_labels, selector_labels, served, service_account_name
from maestro.render.pod import (
    GRPC,
    HTTP,
    METRICS,
    TMP_MOUNT,
    TMP_VOLUME,
    container_security_context,
    gpu_scheduling,
    metrics_service,
    pod_security_context,
    resource_requirements,
    tracing_env,
)
from maestro.render.queries import error_ratio, latency_quantile_ms, matcher, request_rate
from maestro.render.secrets import secret_env

COMPONENT = "serving"
ROLLOUT_API = "argoproj.io/v1alpha1"


def render(spec: Spec, ctx: Context) -> list[Resource]:
    serving = spec.spec.serving
    if serving is None:
        return []
    name = spec.metadata.name
    out: list[Resource] = []
    rollout = serving.rollout
    progressive = rollout.strategy in ("canary", "blueGreen")
    if serving.runtime == "kserve":
        out.append(_inference_service(spec, ctx, name))
        target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{name}-predictor"}
    else:
        if not progressive:  # with Argo Rollouts, the Rollout itself holds the pod template
            out.append(_deployment(spec, ctx, name))
        out.append(_service(name, _pods(spec, name)))
        target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    if progressive:
        out.extend(_rollout(spec, ctx, name, target))
        target = {"apiVersion": ROLLOUT_API, "kind": "Rollout", "name": name}
    for variant in serving.ab_test.variants if serving.ab_test else []:
        vname = f"{name}-{variant.name}"
        if serving.runtime == "kserve":
            out.append(_inference_service(spec, ctx, vname, variant))
        else:
            out.append(_deployment(spec, ctx, vname, variant))
            out.append(_service(vname, selector_labels(spec, f"{COMPONENT}-{variant.name}")))
    out.extend(_autoscaler(spec, ctx, name, target))
    if serving.replicas.min > 1:
        out.append(_pdb(spec, name))
    return out


# ---------------------------------------------------------------- model servers


def _env(spec: Spec, ctx: Context, uri: str) -> list[dict[str, Any]]:
    return (
        [
            {"name": "MLFLOW_TRACKING_URI", "value": ctx.environment.endpoints.mlflow},
            {"name": "MAESTRO_MODEL", "value": spec.metadata.name},
            {"name": "MAESTRO_ENV", "value": ctx.env},
            {"name": "MODEL_URI", "value": uri},
        ]
        + tracing_env(spec, ctx)
        + secret_env(spec)
    )


def _probes() -> dict[str, Any]:
    # Open Inference Protocol (v2) health endpoints, served by MLServer and KServe runtimes.
    return {
        "readinessProbe": {
            "httpGet": {"path": "/v2/health/ready", "port": HTTP},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/v2/health/live", "port": HTTP},
            "initialDelaySeconds": 30,
            "periodSeconds": 20,
            "failureThreshold": 3,
        },
    }


def _variant_replicas(spec: Spec, variant: Variant | None) -> tuple[int, int]:
    replicas = spec.spec.serving.replicas  # type: ignore[union-attr]
    if variant is None:
        return replicas.min, replicas.max
    # A variant takes `weight` percent of the traffic: size it to match, at least one pod.
    return 1, max(1, math.ceil(replicas.max * variant.weight / 100))


def _inference_service(spec: Spec, ctx: Context, name: str, variant: Variant | None = None) -> Resource:
    serving = spec.spec.serving
    assert serving is not None
    lo, hi = _variant_replicas(spec, variant)
    uri, version = served(spec, ctx, variant)
    fmt = ctx.platform.images.serving.kserve_runtimes.get(spec.spec.framework, "mlflow")
    component = COMPONENT if variant is None else f"{COMPONENT}-{variant.name}"
    predictor: dict[str, Any] = {
        "minReplicas": lo,
        "maxReplicas": hi,
        "serviceAccountName": service_account_name(spec),
        "labels": pod_labels(spec, ctx, component),
        "securityContext": pod_security_context(),
        "model": {
            "modelFormat": {"name": fmt},
            "protocolVersion": "v2",
            "storageUri": uri,
            "resources": resource_requirements(serving.resources, ctx.platform),
            "env": _env(spec, ctx, uri),
            # KServe's raw-mode Service targets the first port; the metrics port is what the
            # PodMonitor scrapes (and the NetworkPolicy opens to the monitoring namespace).
            "ports": [
                {"name": "http1", "containerPort": HTTP, "protocol": "TCP"},
                {"name": "metrics", "containerPort": METRICS, "protocol": "TCP"},
            ],
            "securityContext": container_security_context(),
            "volumeMounts": [dict(TMP_MOUNT)],
            **_probes(),
        },
        "volumes": [dict(TMP_VOLUME)],
        **gpu_scheduling(serving.resources, ctx.platform),
    }
    isvc = obj("serving.kserve.io/v1beta1", "InferenceService", name, {"predictor": predictor})
    isvc["metadata"]["annotations"] = {
        "serving.kserve.io/deploymentMode": "RawDeployment",
        "serving.kserve.io/autoscalerClass": "external",
        **version,
    }
    return isvc


def _pod_template(spec: Spec, ctx: Context, component: str, uri: str) -> dict[str, Any]:
    serving = spec.spec.serving
    assert serving is not None
    container = {
        "name": "mlserver",
        "image": ctx.platform.images.serving.mlserver,
        "env": _env(spec, ctx, uri)
        + [
            {"name": "MLSERVER_MODEL_IMPLEMENTATION", "value": "mlserver_mlflow.MLflowRuntime"},
            {"name": "MLSERVER_MODEL_NAME", "value": spec.metadata.name},
            {"name": "MLSERVER_MODEL_URI", "value": uri},
            {"name": "MLSERVER_HTTP_PORT", "value": str(HTTP)},
            {"name": "MLSERVER_GRPC_PORT", "value": str(GRPC)},
            {"name": "MLSERVER_METRICS_PORT", "value": str(METRICS)},
        ],
        "ports": [
            {"name": "http", "containerPort": HTTP, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS, "protocol": "TCP"},
        ],
        "resources": resource_requirements(serving.resources, ctx.platform),
        "securityContext": container_security_context(),
        "volumeMounts": [dict(TMP_MOUNT)],
        **_probes(),
    }
    return {
        "metadata": {"labels": pod_labels(spec, ctx, component)},
        "spec": {
            "serviceAccountName": service_account_name(spec),
            "securityContext": pod_security_context(),
            "containers": [container],
            "volumes": [dict(TMP_VOLUME)],
            **gpu_scheduling(serving.resources, ctx.platform),
        },
    }


def _deployment(spec: Spec, ctx: Context, name: str, variant: Variant | None = None) -> Resource:
    serving = spec.spec.serving
    assert serving is not None
    component = COMPONENT if variant is None else f"{COMPONENT}-{variant.name}"
    lo, _ = _variant_replicas(spec, variant)
    uri, version = served(spec, ctx, variant)
    body: dict[str, Any] = {
        "replicas": max(lo, 1),
        "revisionHistoryLimit": 3,
        "selector": {"matchLabels": selector_labels(spec, component)},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": _pod_template(spec, ctx, component, uri),
    }
    deployment = obj("apps/v1", "Deployment", name, body)
    if version:
        deployment["metadata"]["annotations"] = version
    return deployment


def _pods(spec: Spec, name: str) -> dict[str, str]:
    """Labels that select the main model server's pods, whichever runtime made them."""
    serving = spec.spec.serving
    assert serving is not None
    if serving.runtime == "kserve":
        return {"serving.kserve.io/inferenceservice": name}
    return selector_labels(spec, COMPONENT)


def _service(name: str, selector: dict[str, str]) -> Resource:
    return obj(
        "v1",
        "Service",
        name,
        {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                {"name": "grpc", "port": GRPC, "targetPort": "grpc", "protocol": "TCP"},
                {"name": "metrics", "port": METRICS, "targetPort": "metrics", "protocol": "TCP"},
            ],
        },
    )


# ---------------------------------------------------------------- rollouts


def _rollout(spec: Spec, ctx: Context, name: str, workload: dict[str, str]) -> list[Resource]:
    serving = spec.spec.serving
    assert serving is not None
    ro = serving.rollout
    out: list[Resource] = []
    version: dict[str, str] = {}
    body: dict[str, Any] = {
        "replicas": max(serving.replicas.min, 1),
        "revisionHistoryLimit": 3,
        "selector": {"matchLabels": selector_labels(spec, COMPONENT)},
    }
    if serving.runtime == "kserve":
        # Adopt the Deployment KServe manages; scale it down step by step as the Rollout takes over.
        body["workloadRef"] = {**workload, "scaleDown": "progressively"}
        body["selector"] = {"matchLabels": _pods(spec, name)}
    else:
        uri, version = served(spec, ctx)
        body["template"] = _pod_template(spec, ctx, COMPONENT, uri)
    analysis = ro.analysis
    if analysis is not None:
        out.append(_analysis_template(spec, ctx, name))
    if ro.strategy == "canary":
        steps: list[dict[str, Any]] = []
        for weight in ro.steps[:-1]:  # the last step is 100: completing the steps promotes
            steps.append({"setWeight": weight})
            if ro.pause_minutes:
                steps.append({"pause": {"duration": f"{ro.pause_minutes}m"}})
        canary: dict[str, Any] = {"steps": steps, "maxSurge": "25%", "maxUnavailable": 0}
        if analysis is not None:
            canary["analysis"] = {
                "templates": [{"templateName": f"{name}-analysis"}],
                "startingStep": 1,
                "args": [{"name": "service", "value": metrics_service(spec, name)}],
            }
        body["strategy"] = {"canary": canary}
    else:
        preview = f"{name}-preview"
        blue_green: dict[str, Any] = {
            "activeService": name,
            "previewService": preview,
            "autoPromotionEnabled": True,
            "scaleDownDelaySeconds": 30,
        }
        if ro.pause_minutes:
            blue_green["autoPromotionSeconds"] = ro.pause_minutes * 60
        if analysis is not None:
            blue_green["prePromotionAnalysis"] = {
                "templates": [{"templateName": f"{name}-analysis"}],
                "args": [{"name": "service", "value": preview}],
            }
        body["strategy"] = {"blueGreen": blue_green}
        if serving.runtime == "kserve":
            # KServe owns `<name>-predictor`, and Argo Rollouts edits the selectors of the
            # services it switches: the active service is one of our own.
            out.append(_service(name, _pods(spec, name)))
        out.append(_service(preview, _pods(spec, name)))
    rollout = obj(ROLLOUT_API, "Rollout", name, body)
    if version:  # the Rollout holds the model server's pod template (runtime deployment)
        rollout["metadata"]["annotations"] = version
    out.append(rollout)
    return out


def _analysis_template(spec: Spec, ctx: Context, name: str) -> Resource:
    serving = spec.spec.serving
    assert serving is not None and serving.rollout.analysis is not None
    a = serving.rollout.analysis
    m = ctx.platform.monitoring.metrics
    match = matcher(m, ctx.namespace, name, "{{args.service}}")
    address = ctx.environment.endpoints.prometheus
    metrics: list[dict[str, Any]] = [
        {
            "name": "error-ratio",
            "interval": "1m",
            "count": 5,
            "failureLimit": 1,
            "successCondition": f"result[0] <= {a.max_error_rate:g}",
            "provider": {"prometheus": {"address": address, "query": error_ratio(m, match)}},
        }
    ]
    if a.max_latency_p99_ms is not None:
        metrics.append(
            {
                "name": "latency-p99-ms",
                "interval": "1m",
                "count": 5,
                "failureLimit": 1,
                # NaN means no traffic in the window: not a failure of the new version.
                "successCondition": f"isNaN(result[0]) || result[0] <= {a.max_latency_p99_ms}",
                "provider": {"prometheus": {"address": address, "query": latency_quantile_ms(m, match)}},
            }
        )
    return obj(ROLLOUT_API, "AnalysisTemplate", f"{name}-analysis", {"args": [{"name": "service"}], "metrics": metrics})


# ---------------------------------------------------------------- scaling


def _autoscaler(spec: Spec, ctx: Context, name: str, target: dict[str, str]) -> list[Resource]:
    serving = spec.spec.serving
    assert serving is not None
    a, r = serving.autoscaling, serving.replicas
    if r.min == 0:
        return [_scaled_object(spec, ctx, name, target)]
    if r.max <= r.min:
        return []
    metrics: list[dict[str, Any]] = []
    for resource, utilization in (("cpu", a.cpu), ("memory", a.memory)):
        if utilization is not None:
            metrics.append(
                {
                    "type": "Resource",
                    "resource": {
                        "name": resource,
                        "target": {"type": "Utilization", "averageUtilization": utilization},
                    },
                }
            )
    # Per-pod custom metrics, served by prometheus-adapter from the same PromQL as alerts.
    if a.rps is not None:
        metrics.append(
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "requests_per_second"},
                    "target": {"type": "AverageValue", "averageValue": str(a.rps)},
                },
            }
        )
    if a.latency_p99_ms is not None:
        metrics.append(
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "request_latency_p99_ms"},
                    "target": {"type": "AverageValue", "averageValue": str(a.latency_p99_ms)},
                },
            }
        )
    if not metrics:
        metrics.append(
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
            }
        )
    return [
        obj(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            name,
            {
                "scaleTargetRef": target,
                "minReplicas": r.min,
                "maxReplicas": r.max,
                "metrics": metrics,
                "behavior": {
                    "scaleDown": {
                        "stabilizationWindowSeconds": 300,
                        "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}],
                    }
                },
            },
        )
    ]


def _scaled_object(spec: Spec, ctx: Context, name: str, target: dict[str, str]) -> Resource:
    """Scale to zero needs a request-driven trigger: KEDA's Prometheus scaler."""
    serving = spec.spec.serving
    assert serving is not None
    a = serving.autoscaling
    m = ctx.platform.monitoring.metrics
    match = matcher(m, ctx.namespace, name, metrics_service(spec, name))
    triggers: list[dict[str, Any]] = [
        {
            "type": "prometheus",
            "metadata": {
                "serverAddress": ctx.environment.endpoints.prometheus,
                "query": request_rate(m, match),
                "threshold": str(a.rps or 1),
                "activationThreshold": "0",
            },
        }
    ]
    if a.cpu is not None:
        triggers.append({"type": "cpu", "metricType": "Utilization", "metadata": {"value": str(a.cpu)}})
    return obj(
        "keda.sh/v1alpha1",
        "ScaledObject",
        name,
        {
            "scaleTargetRef": {"apiVersion": target["apiVersion"], "kind": target["kind"], "name": target["name"]},
            "minReplicaCount": 0,
            "maxReplicaCount": serving.replicas.max,
            "cooldownPeriod": 300,
            "triggers": triggers,
        },
    )


def _pdb(spec: Spec, name: str) -> Resource:
    serving = spec.spec.serving
    assert serving is not None
    return obj(
        "policy/v1", "PodDisruptionBudget", name, {"maxUnavailable": 1, "selector": {"matchLabels": _pods(spec, name)}}
    )
