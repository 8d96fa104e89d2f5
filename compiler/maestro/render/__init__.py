"""Render: effective spec -> Kubernetes objects, one pure module per artifact family.

A renderer is `render(spec: Spec, ctx: Context) -> list[Resource]`: plain dicts, built as
data, serialized once by `emit`. Renderers do not set `metadata.namespace` (the transform
stage does, as Kustomize's namespace transformer would) nor the provenance labels and
annotations (the pipeline stamps them); they do set the names, selectors and pod labels
that other objects refer to, using the helpers below so that those agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from maestro.frontend.spec import Resources, Spec
from maestro.resolve.config import Environment, Platform

Resource = dict[str, Any]

MANAGED_BY = "maestro"


@dataclass(frozen=True)
class Context:
    env: str
    platform: Platform  # with platform.<env>.yaml merged
    namespace: str
    source: str  # the spec file, relative to the repository root
    sync: Literal["automated", "manual"]

    @property
    def environment(self) -> Environment:
        return self.platform.environments[self.env]


def name_of(spec: Spec) -> str:
    return spec.metadata.name


def selector_labels(spec: Spec, component: str) -> dict[str, str]:
    """The labels selectors match on: stable across versions and environments."""
    return {"app.kubernetes.io/name": spec.metadata.name, "app.kubernetes.io/component": component}


def pod_labels(spec: Spec, ctx: Context, component: str) -> dict[str, str]:
    """Pod template labels: the selector labels plus what the log pipeline keys on."""
    return {
        **selector_labels(spec, component),
        "maestro.ml/team": spec.metadata.team,
        "maestro.ml/model": spec.metadata.name,
        "maestro.ml/env": ctx.env,
    }


def standard_labels(spec: Spec, ctx: Context, component: str) -> dict[str, str]:
    """Recommended labels (kubernetes.io/docs/concepts/overview/working-with-objects/common-labels)."""
    return {
        "app.kubernetes.io/name": spec.metadata.name,
        "app.kubernetes.io/instance": f"{spec.metadata.name}-{ctx.env}",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": spec.metadata.team,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def obj(api_version: str, kind: str, name: str, spec: dict[str, Any] | None = None, **rest: Any) -> Resource:
    """A Kubernetes object skeleton."""
    out: Resource = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}}
    if spec is not None:
        out["spec"] = spec
    out.update(rest)
    return out


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


def model_uri(spec: Spec, serve: str | int | None = None) -> str:
    """MLflow model URI serving resolves: models:/<name>@<alias> or models:/<name>/<version>."""
    registry = spec.spec.registry
    name = (registry.model if registry and registry.model else None) or spec.metadata.name
    target = serve if serve is not None else (registry.serve if registry else "champion")
    return f"models:/{name}/{target}" if isinstance(target, int) else f"models:/{name}@{target}"


def mlflow_env(spec: Spec, ctx: Context) -> list[dict[str, str]]:
    """What training code needs to log runs to the model's experiment."""
    registry = spec.spec.registry
    return [
        {"name": "MLFLOW_TRACKING_URI", "value": ctx.environment.endpoints.mlflow},
        {"name": "MLFLOW_EXPERIMENT_NAME", "value": (registry.experiment if registry else None) or spec.metadata.name},
        {"name": "MAESTRO_MODEL", "value": spec.metadata.name},
        {"name": "MAESTRO_ENV", "value": ctx.env},
    ]


def service_account_name(spec: Spec) -> str:
    return spec.metadata.name


SYNC_WAVE = "argocd.argoproj.io/sync-wave"


def text_template(name: str, filters: dict[str, Callable[..., Any]], finalize: Callable[[object], object]) -> Any:
    """A jinja2 template for a text artifact (Vault HCL, Feast Python): sandboxed, strict
    about undefined names, and every printed value passes `finalize`, which refuses
    anything a filter did not check (so no spec value reaches the text unescaped)."""
    from importlib import resources

    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        finalize=finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(filters)
    return env.from_string(resources.files("maestro").joinpath("templates", name).read_text(encoding="utf-8"))
