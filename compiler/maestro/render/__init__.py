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

from maestro.frontend.spec import Spec, Variant
from maestro.mlflow.lockfile import EnvLock
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
    lock: EnvLock | None = None  # this environment's entry of the model's maestro.lock.yaml

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


# The scheme of the MLflow registry URIs model_uri() emits; KServe's storage initializer has no
# handler for it, the platform layer's ClusterStorageContainer does (render/platform.py).
MODEL_URI_SCHEME = "models:/"


def model_uri(spec: Spec, serve: str | int | None = None) -> str:
    """MLflow model URI serving resolves: models:/<name>@<alias> or models:/<name>/<version>."""
    registry = spec.spec.registry
    name = (registry.model if registry and registry.model else None) or spec.metadata.name
    target = serve if serve is not None else (registry.serve if registry else "champion")
    return f"{MODEL_URI_SCHEME}{name}/{target}" if isinstance(target, int) else f"{MODEL_URI_SCHEME}{name}@{target}"


# Which registered version a locked model server runs (mlflow/lockfile.py): for people and
# dashboards reading the cluster; the pods download the locked artifact URI itself.
MODEL_VERSION_ANNOTATION = "maestro.ml/model-version"
MODEL_RUN_ANNOTATION = "maestro.ml/model-run-id"


def served(spec: Spec, ctx: Context, variant: Variant | None = None) -> tuple[str, dict[str, str]]:
    """The model URI a model server downloads, and the annotations naming the version.

    Locked (`ctx.lock`): the immutable artifact URI of the locked version, which KServe's
    storage initializer reads, annotated with version and run. Unlocked: the registry
    reference `model_uri` (resolved when a pod starts), no annotations.
    """
    pinned = None
    if ctx.lock is not None:
        pinned = ctx.lock.serve if variant is None else ctx.lock.variants.get(variant.name)
    if pinned is None:
        return model_uri(spec, variant.serve if variant else None), {}
    return pinned.source, {MODEL_VERSION_ANNOTATION: str(pinned.version), MODEL_RUN_ANNOTATION: pinned.run_id}


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
