"""Serving: the model servers, how a new version reaches traffic, and who owns the replicas.

Model servers (`servers.py`): the main model `<model>` and each A/B variant `<model>-<variant>`.
Runtime `kserve` renders an InferenceService in RawDeployment mode (KServe makes the Deployment
and the Service `<name>-predictor`, which callers call); runtime `deployment` a Deployment +
Service `<name>` running the platform's MLServer image with its MLflow runtime. Every server pod
is in the mesh (`sidecar.istio.io/inject`), names its Istio canonical service
(`service.istio.io/canonical-name: <name>`), and carries its runtime's metrics endpoint in the
`prometheus.io/*` annotations: Istio's injector moves it into the sidecar, which serves the app's
metrics merged with Envoy's in plaintext on :15020 (`monitoring.py` scrapes that; STRICT mTLS
refuses a direct scrape of the app's port, which for most KServe runtimes is the inference port).

Rollouts. `rolling` is the Deployment's own strategy. `canary` and `blueGreen` use an Argo
Rollout `<model>` (ReplicaSets `<model>-<pod template hash>`): for `deployment` it holds the pod
template; for `kserve` it adopts KServe's Deployment (`workloadRef`, `scaleDown: progressively`).
That is sound because with `autoscalerClass: external` KServe never writes the Deployment's
replicas (deployment_reconciler.go compares them only for `none`), the InferenceService stays
Ready at 0 replicas (a Deployment at 0 is Available), and the Rollout's pods carry the
InferenceService's labels and annotations, so KServe's Service and storage-initializer webhook
treat them as its own. A plain Rollout instead would lose KServe's runtimes and storage
initializer, which Maestro cannot reproduce.

Traffic is routed by Istio (`trafficRouting.istio`, subset level on the host callers call:
`mesh.py` renders VirtualService `<model>` route `primary` and DestinationRule `<model>` with
subsets `stable`/`canary`, which Argo Rollouts pins to ReplicaSet hashes):
- canary: `setWeight` steps with pauses; the analysis runs in the background from the first step.
- blueGreen: Argo's blueGreen strategy has no traffic router, and its preview Service receives no
  traffic, so an analysis of it measures nothing (empty result: every rollout aborts). It is a
  canary that scales the new version to full size without traffic (`setCanaryScale: {weight:
  100}`), mirrors production traffic to it (`setMirrorRoute`, responses dropped) while the
  analysis runs on its pods, stops mirroring, pauses `pauseMinutes`, then switches all traffic
  at once; the old pods go 30 s later (`scaleDownDelaySeconds`).
With an A/B test the route's weights are the test's: Argo Rollouts deletes every destination of
the route it manages other than stable and canary (istio.go `processRoutes`), and routes are
first-match, so the canary of the main model is replica-based inside the main model's share
(blueGreen with an A/B test is refused at validation, M222). Either way the analysis queries
only the new revision's pods (`queries.revision_matcher`: Istio's server side, pods
`<model>-<hash>-*`, the hash from `podTemplateHashValue: Latest`), never a Service's whole
traffic, in which a canary's errors are diluted.

Replicas have exactly one owner. A server whose replicas may vary (max > min, or min 0 for
scale to zero) gets an autoscaler: an HPA when it scales on CPU/memory only, else a KEDA
ScaledObject (requests per second per replica; p99 latency as a query-level `Value` target,
since an average of per-pod p99s means nothing; CPU/memory as KEDA triggers). KEDA's Prometheus
scaler, already what scales to zero, instead of HPA custom metrics, which need an adapter
nobody installs. The target (Rollout `<model>`, or Deployment `<name>-predictor` / `<name>`)
then has no `spec.replicas`, so Argo CD's self-heal never reverts a scale, and the
InferenceService says `autoscalerClass: external`. A fixed size (min = max) is the Rollout's or
Deployment's `spec.replicas`, or KServe's own (`autoscalerClass: none`). A/B variants get bounds
scaled by their weight (`servers.servers`).
"""

from __future__ import annotations

import copy
import math
from typing import Any

from maestro.frontend.spec import Spec
from maestro.render import Context, Resource, obj, pod_labels, selector_labels, service_account_name
from maestro.render.offhours import cron_trigger
from maestro.render.pod import (
    GRPC,
    HTTP,
    METRICS,
    TMP_MOUNT,
    TMP_VOLUME,
    container_security_context,
    gpu_scheduling,
    needs_shm,
    pod_security_context,
    resource_requirements,
    shm_mount,
    shm_volume,
    tracing_env,
)
from maestro.render.queries import (
    error_ratio,
    latency_quantile_ms,
    parse_duration,
    request_rate,
    revision_matcher,
    zero_when_absent,
)
from maestro.render.secrets import secret_env
from maestro.render.servers import (
    CANARY_SUBSET,
    CANONICAL_NAME_LABEL,
    COMPONENT,
    INJECT_LABEL,
    MIRROR_ROUTE,
    PRIMARY_ROUTE,
    STABLE_SUBSET,
    Server,
    callers_see,
    metrics_endpoint,
    model_format,
    progressive,
    servers,
    sidecars,
    traffic_routed,
)

ROLLOUT_API = "argoproj.io/v1alpha1"
KEDA_API = "keda.sh/v1alpha1"
CANARY_HASH_ARG = "canary-hash"
SCALE_DOWN_DELAY = 30  # seconds the old pods keep serving after a traffic-routed promotion
DEFAULT_CPU = 80  # % of the CPU request, when the spec names no scaling target
ZONE_KEY, HOSTNAME_KEY = "topology.kubernetes.io/zone", "kubernetes.io/hostname"
REVISION_LABELS = ("pod-template-hash", "rollouts-pod-template-hash")  # set by Deployments / Argo Rollouts
SCALE_DOWN = {"stabilizationWindowSeconds": 300, "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}]}


def render(spec: Spec, ctx: Context) -> list[Resource]:
    serving = spec.spec.serving
    if serving is None:
        return []
    out: list[Resource] = []
    for server in servers(spec, ctx):
        rollout = server.variant is None and progressive(spec)
        if serving.runtime == "kserve":
            out.append(_inference_service(spec, ctx, server, rollout))
            target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{server.name}-predictor"}
        else:
            if not rollout:  # else the Rollout holds the pod template
                out.append(_deployment(spec, ctx, server))
            out.append(_service(server.name, selector_labels(spec, server.component)))
            target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": server.name}
        if rollout:
            out.extend(_rollout(spec, ctx, server, target))
            target = {"apiVersion": ROLLOUT_API, "kind": "Rollout", "name": server.name}
        out.extend(_autoscaler(spec, ctx, server, target))
    if serving.replicas.min > 1:
        out.append(_pdb(spec))
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


def _pod_metadata(spec: Spec, ctx: Context, server: Server) -> tuple[dict[str, str], dict[str, str]]:
    """Labels and annotations of a server's pods."""
    labels = {**pod_labels(spec, ctx, server.component), CANONICAL_NAME_LABEL: server.name}
    if sidecars(ctx):
        labels[INJECT_LABEL] = "true"  # the pod's label wins over its namespace's (ambient pods get none)
    port, path = metrics_endpoint(spec, ctx)
    # Istio's injector rewrites these to its merged endpoint (:15020/stats/prometheus) and
    # scrapes the app's endpoint from inside the pod (istio.io: Prometheus, "metrics merging").
    annotations = {"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": path}
    return labels, annotations


STARTUP_PERIOD = 10  # seconds between startupProbe attempts while the model loads


def _probes(ctx: Context) -> dict[str, Any]:
    """Open Inference Protocol (v2) health endpoints, served by MLServer and KServe runtimes.

    Loading a model can take minutes; the startupProbe gives it `serving.model_load_timeout`
    (failureThreshold x periodSeconds) and holds the liveness probe off until it succeeds, so
    liveness needs no initial delay and a hung server is still restarted within a minute."""
    budget = parse_duration(ctx.platform.serving.model_load_timeout)
    return {
        "startupProbe": {
            "httpGet": {"path": "/v2/health/live", "port": HTTP},
            "periodSeconds": STARTUP_PERIOD,
            "failureThreshold": max(1, math.ceil(budget / STARTUP_PERIOD)),
        },
        "readinessProbe": {
            "httpGet": {"path": "/v2/health/ready", "port": HTTP},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/v2/health/live", "port": HTTP},
            "periodSeconds": 20,
            "failureThreshold": 3,
        },
    }


def _spread(spec: Spec, server: Server) -> dict[str, Any]:
    """Spread a server's replicas over zones and nodes when it may run more than one, so that
    a node or zone outage takes at most its share. ScheduleAnyway: a preference, never a
    reason to leave a pod pending. `matchLabelKeys` counts only the pods of the same revision
    (a Deployment's `pod-template-hash`, a Rollout's `rollouts-pod-template-hash`; keys a pod
    lacks are ignored), so old pods on their way out do not skew where new ones go."""
    if server.max <= 1:
        return {}
    selector = {"matchLabels": selector_labels(spec, server.component)}
    return {
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": key,
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": copy.deepcopy(selector),
                "matchLabelKeys": list(REVISION_LABELS),
            }
            for key in (ZONE_KEY, HOSTNAME_KEY)
        ]
    }


def _inference_service(spec: Spec, ctx: Context, server: Server, rollout: bool) -> Resource:
    serving = spec.spec.serving
    assert serving is not None
    labels, annotations = _pod_metadata(spec, ctx, server)
    predictor: dict[str, Any] = {
        "minReplicas": server.min,
        "maxReplicas": server.max,
        "serviceAccountName": service_account_name(spec),
        "labels": labels,
        "annotations": annotations,
        "securityContext": pod_security_context(),
        "model": {
            "modelFormat": {"name": model_format(spec, ctx)},
            "protocolVersion": "v2",
            "storageUri": server.uri,
            "resources": resource_requirements(serving.resources, ctx.platform),
            "env": _env(spec, ctx, server.uri),
            # KServe's raw-mode Service targets the first port; a metrics port of its own is
            # declared for a scrape without the sidecar's merged endpoint (monitoring.py).
            "ports": _kserve_ports(spec, ctx),
            "securityContext": container_security_context(),
            "volumeMounts": _mounts(spec),
            **_probes(ctx),
        },
        "volumes": _volumes(spec),
        **gpu_scheduling(serving.resources, ctx.platform),
        **_spread(spec, server),
    }
    isvc = obj("serving.kserve.io/v1beta1", "InferenceService", server.name, {"predictor": predictor})
    # `external`: an autoscaler or the Rollout owns the Deployment's replicas and KServe never
    # writes them; `none`: KServe keeps them at minReplicas (with `external` and no autoscaler
    # nothing would, and the Deployment would stay at its default of one replica).
    isvc["metadata"]["annotations"] = {
        "serving.kserve.io/deploymentMode": "RawDeployment",
        "serving.kserve.io/autoscalerClass": "external" if server.autoscaled or rollout else "none",
        **server.version_annotations,
    }
    return isvc


def _volumes(spec: Spec) -> list[dict[str, Any]]:
    """/tmp, and a memory-backed /dev/shm where the server needs more than the container
    runtime's 64 MiB: GPU servers (NCCL, Triton's Python backend) and PyTorch-based ones
    (DataLoader workers pass batches through it), as the training pods get (pod.needs_shm)."""
    serving = spec.spec.serving
    assert serving is not None
    volumes = [dict(TMP_VOLUME)]
    if needs_shm(spec.spec.framework, serving.resources):
        volumes.append(shm_volume(serving.resources))
    return volumes


def _mounts(spec: Spec) -> list[dict[str, Any]]:
    serving = spec.spec.serving
    assert serving is not None
    mounts = [dict(TMP_MOUNT)]
    if needs_shm(spec.spec.framework, serving.resources):
        mounts.append(shm_mount())
    return mounts


def _kserve_ports(spec: Spec, ctx: Context) -> list[dict[str, Any]]:
    ports = [{"name": "http1", "containerPort": HTTP, "protocol": "TCP"}]
    metrics, _ = metrics_endpoint(spec, ctx)
    if metrics != HTTP:
        ports.append({"name": "metrics", "containerPort": metrics, "protocol": "TCP"})
    return ports


def _pod_template(spec: Spec, ctx: Context, server: Server) -> dict[str, Any]:
    serving = spec.spec.serving
    assert serving is not None
    labels, annotations = _pod_metadata(spec, ctx, server)
    container = {
        "name": "mlserver",
        "image": ctx.platform.images.serving.mlserver,
        "env": _env(spec, ctx, server.uri)
        + [
            {"name": "MLSERVER_MODEL_IMPLEMENTATION", "value": "mlserver_mlflow.MLflowRuntime"},
            {"name": "MLSERVER_MODEL_NAME", "value": spec.metadata.name},
            {"name": "MLSERVER_MODEL_URI", "value": server.uri},
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
        "volumeMounts": _mounts(spec),
        **_probes(ctx),
    }
    return {
        "metadata": {"labels": labels, "annotations": annotations},
        "spec": {
            "serviceAccountName": service_account_name(spec),
            "securityContext": pod_security_context(),
            "containers": [container],
            "volumes": _volumes(spec),
            **gpu_scheduling(serving.resources, ctx.platform),
            **_spread(spec, server),
        },
    }


def _deployment(spec: Spec, ctx: Context, server: Server) -> Resource:
    body: dict[str, Any] = {}
    if not server.autoscaled:
        body["replicas"] = server.min
    body.update(
        {
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector_labels(spec, server.component)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": _pod_template(spec, ctx, server),
        }
    )
    deployment = obj("apps/v1", "Deployment", server.name, body)
    if server.version:
        deployment["metadata"]["annotations"] = server.version_annotations
    return deployment


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
            ],
        },
    )


# ---------------------------------------------------------------- rollouts


def _rollout(spec: Spec, ctx: Context, server: Server, workload: dict[str, str]) -> list[Resource]:
    serving = spec.spec.serving
    assert serving is not None
    ro = serving.rollout
    out: list[Resource] = []
    body: dict[str, Any] = {}
    if not server.autoscaled:
        body["replicas"] = server.min
    body["revisionHistoryLimit"] = 3
    body["selector"] = {"matchLabels": selector_labels(spec, server.component)}
    if serving.runtime == "kserve":
        # Adopt the Deployment KServe manages; scale it down as the Rollout's pods take over.
        body["workloadRef"] = {**workload, "scaleDown": "progressively"}
    else:
        body["template"] = _pod_template(spec, ctx, server)
    analysis = ro.analysis
    if analysis is not None:
        out.append(_analysis_template(spec, ctx, server.name))
    run = {
        "templates": [{"templateName": f"{server.name}-analysis"}],
        "args": [{"name": CANARY_HASH_ARG, "valueFrom": {"podTemplateHashValue": "Latest"}}],
    }
    canary: dict[str, Any] = {}
    if traffic_routed(spec):
        routing: dict[str, Any] = {
            "istio": {
                "virtualService": {"name": server.name, "routes": [PRIMARY_ROUTE]},
                "destinationRule": {
                    "name": server.name,
                    "canarySubsetName": CANARY_SUBSET,
                    "stableSubsetName": STABLE_SUBSET,
                },
            }
        }
        if ro.strategy == "blueGreen" and analysis is not None:
            routing["managedRoutes"] = [{"name": MIRROR_ROUTE}]
        canary["trafficRouting"] = routing
        canary["scaleDownDelaySeconds"] = SCALE_DOWN_DELAY
    else:
        canary.update(maxSurge="25%", maxUnavailable=0)
    steps: list[dict[str, Any]] = []
    if ro.strategy == "canary":
        for weight in ro.steps[:-1]:  # the last step is 100: completing the steps promotes
            steps.append({"setWeight": weight})
            if ro.pause_minutes:
                steps.append({"pause": {"duration": f"{ro.pause_minutes}m"}})
        if analysis is not None:
            canary["analysis"] = {**run, "startingStep": 1}
    else:
        steps.append({"setCanaryScale": {"weight": 100}})  # the new version at full size, no traffic
        if analysis is not None:
            mirror = {"name": MIRROR_ROUTE, "percentage": 100, "match": [{"path": {"prefix": "/"}}]}
            steps += [
                {"setMirrorRoute": mirror},
                {"analysis": run},
                {"setMirrorRoute": {"name": MIRROR_ROUTE}},  # only a name: removes the route
            ]
        if ro.pause_minutes:
            steps.append({"pause": {"duration": f"{ro.pause_minutes}m"}})
    canary["steps"] = steps
    body["strategy"] = {"canary": canary}
    rollout = obj(ROLLOUT_API, "Rollout", server.name, body)
    if server.version and "template" in body:  # the Rollout holds the model server's pod template
        rollout["metadata"]["annotations"] = server.version_annotations
    out.append(rollout)
    return out


def revision_pods(rollout: str) -> str:
    """Regex of the pod names of the Rollout's newest ReplicaSet: `<rollout>-<hash>-<suffix>`."""
    return f"{rollout}-{{{{args.{CANARY_HASH_ARG}}}}}-[a-z0-9]+"


def _analysis_template(spec: Spec, ctx: Context, name: str) -> Resource:
    serving = spec.spec.serving
    assert serving is not None and serving.rollout.analysis is not None
    a = serving.rollout.analysis
    m = ctx.platform.monitoring.metrics
    match = revision_matcher(m, ctx.namespace, revision_pods(name))
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
    return obj(
        ROLLOUT_API,
        "AnalysisTemplate",
        f"{name}-analysis",
        {"args": [{"name": CANARY_HASH_ARG}], "metrics": metrics},
    )


# ---------------------------------------------------------------- scaling


def _autoscaler(spec: Spec, ctx: Context, server: Server, target: dict[str, str]) -> list[Resource]:
    serving = spec.spec.serving
    assert serving is not None
    if not server.autoscaled:
        return []
    a = serving.autoscaling
    if server.min == 0 or a.rps is not None or a.latency_p99_ms is not None or server.off_hours:
        return [_scaled_object(spec, ctx, server, target)]
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
    if not metrics:
        metrics.append(
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": DEFAULT_CPU}},
            }
        )
    body = {
        "scaleTargetRef": target,
        "minReplicas": server.min,
        "maxReplicas": server.max,
        "metrics": metrics,
        "behavior": {"scaleDown": copy.deepcopy(SCALE_DOWN)},
    }
    return [obj("autoscaling/v2", "HorizontalPodAutoscaler", server.name, body)]


def _scaled_object(spec: Spec, ctx: Context, server: Server, target: dict[str, str]) -> Resource:
    """KEDA: request-driven triggers from Prometheus, CPU/memory alongside.

    Demand is what callers sent (Istio's client side also records requests no pod answered, so a
    server at zero replicas still sees its traffic and activates)."""
    serving = spec.spec.serving
    assert serving is not None
    a = serving.autoscaling
    m = ctx.platform.monitoring.metrics
    match = callers_see(spec, ctx, server.name)
    prometheus = ctx.environment.endpoints.prometheus
    triggers: list[dict[str, Any]] = []
    if a.rps is not None or server.min == 0:
        # AverageValue: desired replicas = requests per second / the target per replica.
        query = request_rate(m, match)
        metadata = {"serverAddress": prometheus, "query": query, "threshold": str(a.rps or 1)}
        triggers.append({"type": "prometheus", "metricType": "AverageValue", "metadata": metadata})
        metadata["activationThreshold"] = "0"
    if a.latency_p99_ms is not None:
        # Value: desired = current replicas x p99 / target; one p99 over the whole server, not per pod.
        query = zero_when_absent(latency_quantile_ms(m, match))
        metadata = {"serverAddress": prometheus, "query": query, "threshold": str(a.latency_p99_ms)}
        triggers.append({"type": "prometheus", "metricType": "Value", "metadata": metadata})
    for resource, utilization in (("cpu", a.cpu), ("memory", a.memory)):
        if utilization is not None:
            triggers.append({"type": resource, "metricType": "Utilization", "metadata": {"value": str(utilization)}})
    if not triggers and server.max > server.min:  # what the HPA would have scaled on
        triggers.append({"type": "cpu", "metricType": "Utilization", "metadata": {"value": str(DEFAULT_CPU)}})
    low = server.min
    if server.off_hours:  # the environment's off-hours: working hours hold `min`, the rest `off.replicas`
        off = ctx.environment.off_hours
        low = off.replicas
        triggers.append(cron_trigger(server.min, off))
    body: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": target["apiVersion"], "kind": target["kind"], "name": target["name"]},
        "minReplicaCount": low,
        "maxReplicaCount": server.max,
    }
    if low == 0:
        body["cooldownPeriod"] = 300  # idle seconds before scaling to zero
    body["advanced"] = {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": copy.deepcopy(SCALE_DOWN)}}}
    body["triggers"] = triggers
    return obj(KEDA_API, "ScaledObject", server.name, body)


def _pdb(spec: Spec) -> Resource:
    return obj(
        "policy/v1",
        "PodDisruptionBudget",
        spec.metadata.name,
        {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(spec, COMPONENT)}},
    )
