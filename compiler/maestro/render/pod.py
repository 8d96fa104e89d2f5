"""Pod and container helpers every workload renderer shares: resources, GPU scheduling,
the restricted security context, the temporary volume, the environment for MLflow and
OpenTelemetry, the model server's ports, and the pod labels that keep Istio out of Jobs.

Renderers import these from here rather than from each other, so that no two artifact
families depend on one another (serving, training, tuning, registry, features and
monitoring all build pods).
"""

from __future__ import annotations

from typing import Any

from maestro.frontend.spec import Resources, Spec
from maestro.render import Context, name_of
from maestro.render.queries import number
from maestro.resolve.config import Platform

# The model server's ports: inference over HTTP and gRPC (serving opens them, security allows
# them), and MLServer's own metrics port (MLSERVER_METRICS_PORT; Istio merges it into the sidecar's).
HTTP, GRPC, METRICS = 8080, 8081, 8082


TTL_AFTER_FINISHED = 86400  # finished runs stay a day for their logs, then go


# A (non-native) Istio sidecar outlives the training container, so with one injected the
# pod, and the Job, never complete; Kubeflow's own examples turn injection off for training
# pods too. The pod label is Istio's preferred switch and wins over the namespace's.
NO_SIDECAR = {"sidecar.istio.io/inject": "false"}


def resource_requirements(res: Resources, platform: Platform) -> dict[str, Any]:
    """Requests as asked; memory limit = request (no overcommit of memory, avoids OOM
    surprises); no CPU limit (throttling hurts latency more than it protects neighbours);
    GPUs, which Kubernetes only accepts with limit = request."""
    requests: dict[str, Any] = {"cpu": res.cpu, "memory": res.memory}
    limits: dict[str, Any] = {"memory": res.memory}
    if res.gpu:
        requests[platform.gpu.resource_name] = str(res.gpu)
        limits[platform.gpu.resource_name] = str(res.gpu)
    return {"requests": requests, "limits": limits}


def gpu_scheduling(res: Resources, platform: Platform) -> dict[str, Any]:
    """Pod-spec fields that put a GPU pod on a GPU node."""
    if not res.gpu:
        return {}
    out: dict[str, Any] = {}
    if platform.gpu.tolerations:
        out["tolerations"] = [dict(t) for t in platform.gpu.tolerations]
    if platform.gpu.node_selector:
        out["nodeSelector"] = dict(platform.gpu.node_selector)
    return out


def pod_security_context() -> dict[str, Any]:
    """The `restricted` Pod Security Standard, pod level."""
    return {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """The `restricted` Pod Security Standard, container level, plus a read-only root."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


# A read-only root filesystem still needs somewhere to write temporary files.
TMP_VOLUME = {"name": "tmp", "emptyDir": {}}


TMP_MOUNT = {"name": "tmp", "mountPath": "/tmp"}


def mlflow_env(spec: Spec, ctx: Context) -> list[dict[str, str]]:
    """What training code needs to log runs to the model's experiment."""
    registry = spec.spec.registry
    return [
        {"name": "MLFLOW_TRACKING_URI", "value": ctx.environment.endpoints.mlflow},
        {"name": "MLFLOW_EXPERIMENT_NAME", "value": (registry.experiment if registry else None) or spec.metadata.name},
        {"name": "MAESTRO_MODEL", "value": spec.metadata.name},
        {"name": "MAESTRO_ENV", "value": ctx.env},
    ]


def traced(spec: Spec) -> bool:
    monitoring = spec.spec.monitoring
    return monitoring is not None and monitoring.tracing is not None


def instrumented(spec: Spec, ctx: Context) -> bool:
    """Whether the model gets an OpenTelemetry Operator `Instrumentation` (render/monitoring.py)
    and its pods the annotation that injects it (render/decorate.py)."""
    monitoring = spec.spec.monitoring
    tracing = monitoring.tracing if monitoring is not None else None
    endpoints = ctx.environment.endpoints
    return tracing is not None and tracing.auto_instrument and bool(endpoints.otel and endpoints.otel_http)


def instrumentation_name(spec: Spec) -> str:
    return name_of(spec)


def resource_attributes(spec: Spec, ctx: Context) -> dict[str, str]:
    return {"deployment.environment": ctx.env, "model": name_of(spec), "team": spec.metadata.team}


def otlp_endpoint(spec: Spec, ctx: Context) -> str | None:
    """Where the model's pods send spans: the Instrumentation's OTLP/HTTP endpoint when the
    operator injects the SDK, else the one `tracing_env` sets; None without tracing."""
    endpoints = ctx.environment.endpoints
    if not traced(spec) or not endpoints.otel:
        return None
    return endpoints.otel_http if instrumented(spec, ctx) else endpoints.otel


def tracing_env(spec: Spec, ctx: Context) -> list[dict[str, str]]:
    """OpenTelemetry SDK settings for the model's serving and training containers; none
    without `monitoring.tracing` or without an OTLP endpoint in this environment.

    With auto-instrumentation the exporter and sampler come from the `Instrumentation`
    only: the operator never overwrites a variable the container sets, and Python's
    auto-instrumentation exports OTLP over HTTP (4318), so a gRPC endpoint (4317) left on
    the container would win and lose every span. Service name and resource attributes
    stay, so that spans and logs carry the model's names either way."""
    monitoring = spec.spec.monitoring
    tracing = monitoring.tracing if monitoring is not None else None
    endpoint = ctx.environment.endpoints.otel
    if tracing is None or not endpoint:
        return []
    # Names are DNS labels, so no value needs the W3C-baggage percent-encoding.
    attributes = resource_attributes(spec, ctx)
    names = [
        {"name": "OTEL_SERVICE_NAME", "value": name_of(spec)},
        {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": ",".join(f"{k}={v}" for k, v in sorted(attributes.items()))},
    ]
    if instrumented(spec, ctx):
        return names
    return [
        {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": endpoint},
        *names,
        {"name": "OTEL_TRACES_SAMPLER", "value": "parentbased_traceidratio"},
        {"name": "OTEL_TRACES_SAMPLER_ARG", "value": number(tracing.sample_ratio)},
    ]


# PyTorch DataLoader workers hand batches over through shared memory and NCCL keeps its
# proxy buffers there (~33 MB per communicator), but a pod's /dev/shm is a 64 MiB tmpfs:
# "bus error" or a silent NCCL failure. Kubeflow Trainer's docs (v2.3.0
# docs/user-guides/megatron.md, "Increasing /dev/shm for NCCL") mount a memory-backed
# emptyDir there, through the runtime or a TrainJob's runtimePatches. Its pages count
# against the pod's memory limit, which also caps its size when none is given
# (SizeMemoryBackedVolumes, on by default since 1.22: kubernetes/kubernetes#100319, GA
# #126981); `sizeLimit` states that bound in the manifest, where a reviewer sees it.
SHM_VOLUME = "dshm"
SHM_PATH = "/dev/shm"
SHM_FRAMEWORKS = frozenset({"pytorch", "huggingface"})


def needs_shm(framework: str, res: Resources) -> bool:
    """PyTorch-based code and every GPU pod (NCCL) get a memory-backed /dev/shm."""
    return framework in SHM_FRAMEWORKS or res.gpu > 0


def shm_volume(res: Resources) -> dict[str, Any]:
    return {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": res.memory}}


def shm_mount() -> dict[str, Any]:
    return {"name": SHM_VOLUME, "mountPath": SHM_PATH}
