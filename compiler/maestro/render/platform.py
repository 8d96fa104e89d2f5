"""platform: what the models of one environment need from the cluster, in `rendered/<env>/platform/`.

Rendered per environment after every model (it is derived from them), from
`config/platform.yaml` and the rendered objects; Argo CD syncs it as Application
`platform-<env>` (project `maestro-platform-<env>`), ordered before every model Application
(`argocd.py`). Whatever `provided` lists is the cluster's already and is not rendered; the
link stage counts it as existing.

Namespace `<ns>` (one per namespace a model deploys to)
    labels      pod-security.kubernetes.io/{enforce,audit,warn}: restricted, each with
                `-version: v<kubernetes_version>` (pinned: a cluster upgrade does not tighten
                the policy under running workloads); every pod Maestro renders meets
                `restricted` (render/pod security contexts)
                istio-injection: enabled, or istio.io/rev: <mesh.revision> for a revisioned
                control plane (Istio honours istio-injection first, so never both), or
                istio.io/dataplane-mode: ambient (`mesh.mode`). Sidecar injection under PSA
                needs the Istio CNI node agent: istio-init's NET_ADMIN/NET_RAW are refused even
                by `baseline` (istio.io/latest/docs/setup/additional-setup/pod-security-admission)
                maestro.ml/env, maestro.ml/team (only when one team owns the namespace; the
                NetworkPolicies of other models select callers by these)
    annotation  argocd.argoproj.io/sync-options: Prune=confirm,Delete=confirm — a namespace
                goes (with everything in it) only after a person confirms in Argo CD
ResourceQuota `<ns>-budget` (per namespace; the sum over the teams deploying there)
    What the team's monthly budget buys of each resource alone, running all month at the
    config's prices: requests.cpu = monthly / (730 h x cpu_hour), requests.memory = monthly /
    (730 h x memory_gib_hour) Gi, requests.<gpu> = monthly / (730 h x gpu_hour), and 0 GPUs
    for a team that may use none (`limits.max_gpus_per_pod: 0`). A workload within budget is
    never refused; a runaway (a max-replicas typo, thousands of parallel trials) stops at the
    money. Requests only: Maestro sets no CPU limits (throttling hurts latency more than it
    protects neighbours) and a quota on `limits.*` refuses every container without one. A
    team without a monthly budget (0) is not capped, nor is a namespace it shares.
LimitRange `<ns>-defaults`
    Only `defaultRequest` (cpu, memory), for containers Maestro did not write (an operator's
    helper), because a quota on requests refuses a container without them. No default limit
    (a defaulted limit below a container's own request makes the pod invalid), no `max`
    (LimitRanger refuses a container that sets no limit for a resource with a max: every
    CPU pod under a GPU max), no limit/request ratio (Istio's sidecar requests 128Mi with a
    1Gi limit).
PriorityClass `<name>` (cluster-scoped)
    Each class a rendered pod template names that `priority_classes` defines and `provided`
    does not list; one nobody defines is the link stage's M801.
ClusterStorageContainer `maestro-mlflow` (cluster-scoped)
    When an InferenceService's storageUri is `models:/...` and `provided.storage_uri_prefixes`
    does not claim it. KServe's storage initializer has no MLflow handler (a `models:/` URI
    passes validation as a "local path", then the init container fails: "Cannot recognize
    storage type"). KServe (0.15, storage_initializer_injector.go) runs the first
    ClusterStorageContainer whose `supportedUriFormats` prefix matches, strategic-merged over
    its default init container, with `args: [<storageUri>, /mnt/models]`; so the command
    downloads argv[1] to argv[2] with MLflow's own client
    (`mlflow.artifacts.download_artifacts`), which writes the model version's files (MLmodel
    first) straight into /mnt/models, where KServe's runtimes look. It needs the tracking
    URI only: MLflow proxies artifact downloads through the tracking server by default.
ConfigMap `maestro-ksm-training-state` (in `monitoring.namespace`)
    When the environment renders Kubeflow runs (TrainJob, PyTorchJob, TFJob, XGBoostJob;
    launched ones included): key `custom-resource-state.yaml`, the kube-state-metrics custom
    resource state config (render/monitoring.py `training_state_metrics`) that exports their
    status conditions, which the training-failure alerts read. Neither Kubeflow operator
    exports a per-job metric, so without it those alerts never fire. The monitoring stack
    mounts it as kube-state-metrics' `--custom-resource-state-config-file` and gives
    kube-state-metrics list/watch on those resources (its ClusterRole is the stack's).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from maestro.names import PLATFORM_FOLDER
from maestro.render import MANAGED_BY, MODEL_URI_SCHEME, Resource, obj
from maestro.render.argocd import ModelRef, platform_application_name
from maestro.render.monitoring import OPERATOR_KINDS, training_state_metrics
from maestro.render.pod import container_security_context
from maestro.resolve.config import Platform
from maestro.serialize import dump

COMPONENT = PLATFORM_FOLDER
HOURS_PER_MONTH = Decimal(730)  # as costs.HOURS_PER_MONTH: 365 x 24 / 12

PSA_LEVEL = "restricted"
PSA_MODES = ("enforce", "audit", "warn")
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
NAMESPACE_SYNC_OPTIONS = "Prune=confirm,Delete=confirm"
# Named after the namespace: every object of rendered/<env>/platform/ has a file of its own
# (`<kind>-<name>.yaml`), and the folder holds one of each per namespace.
QUOTA_SUFFIX, LIMITS_SUFFIX = "-budget", "-defaults"
# What a container Maestro did not write (an operator's helper) requests when it says nothing;
# every container Maestro renders sets its own requests.
DEFAULT_REQUEST = {"cpu": "100m", "memory": "128Mi"}
KSM_CONFIG_MAP = "maestro-ksm-training-state"
KSM_CONFIG_KEY = "custom-resource-state.yaml"

STORAGE_CONTAINER = "maestro-mlflow"
STORAGE_CONTAINER_API = "serving.kserve.io/v1alpha1"
# KServe recognises its init container by this name (docs: storagecontainers.md).
STORAGE_INITIALIZER = "storage-initializer"
# argv[1] = the storage URI, argv[2] = /mnt/models: the args KServe passes.
DOWNLOAD = "import sys, mlflow.artifacts as a; a.download_artifacts(artifact_uri=sys.argv[1], dst_path=sys.argv[2])"
DOWNLOAD_RESOURCES = {"requests": {"cpu": "100m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}


@dataclass(frozen=True)
class Uses:
    """What the platform layer reads of models' objects: a model's is kept with its rendered
    objects (pipeline.ModelEnv), so the layer joins a thousand small sets instead of walking
    every object of the environment again (a third of the layer's time at N=1,000)."""

    priority_classes: frozenset[str] = frozenset()  # every priorityClassName
    storage_uris: frozenset[str] = frozenset()  # every storageUri
    runs: frozenset[str] = frozenset()  # the kinds of Kubeflow runs (monitoring.OPERATOR_KINDS)

    @classmethod
    def join(cls, many: Iterable[Uses]) -> Uses:
        out: dict[str, set[str]] = {"priority_classes": set(), "storage_uris": set(), "runs": set()}
        for u in many:
            out["priority_classes"] |= u.priority_classes
            out["storage_uris"] |= u.storage_uris
            out["runs"] |= u.runs
        return cls(**{k: frozenset(v) for k, v in out.items()})


def uses_of(objects: Iterable[Resource]) -> Uses:
    """What the platform layer reads of `objects` (rendered, transformed model objects)."""
    objects = list(objects)
    found = _values(objects, ("priorityClassName", "storageUri"))
    return Uses(
        frozenset(found["priorityClassName"]),
        frozenset(found["storageUri"]),
        frozenset(str(res.get("kind")) for res in objects if res.get("kind") in OPERATOR_KINDS),
    )


def render_env(env: str, platform: Platform, models: Sequence[ModelRef], used: Uses) -> list[Resource]:
    """The platform layer of one environment: Namespaces (with quota and defaults), then
    PriorityClasses, then the storage container, then the kube-state-metrics config for
    Kubeflow runs, each group sorted by name.

    `platform` has platform.<env>.yaml merged; `models` are the environment's models with
    their resolved namespaces; `used` what every rendered (transformed) model object uses
    (`uses_of` them, or `Uses.join` of each model's)."""
    teams: dict[str, set[str]] = {}
    for m in models:
        teams.setdefault(m.namespace, set()).add(m.team)
    provided = platform.provided
    out: list[Resource] = []
    for ns in sorted(teams):
        if any(fnmatch.fnmatchcase(ns, pattern) for pattern in provided.namespaces):
            continue
        out.append(_namespace(env, platform, ns, teams[ns]))
        quota = _quota(platform, sorted(teams[ns]))
        if quota:
            out.append(_in(ns, obj("v1", "ResourceQuota", ns + QUOTA_SUFFIX, {"hard": quota})))
        out.append(
            _in(
                ns,
                obj(
                    "v1",
                    "LimitRange",
                    ns + LIMITS_SUFFIX,
                    {"limits": [{"type": "Container", "defaultRequest": dict(DEFAULT_REQUEST)}]},
                ),
            )
        )
    for name in sorted(used.priority_classes - set(provided.priority_classes)):
        spec = platform.priority_classes.get(name)
        if spec is None:
            continue  # nobody defines it: the link stage reports the pods that use it
        out.append(
            obj(
                "scheduling.k8s.io/v1",
                "PriorityClass",
                name,
                value=spec.value,
                description=spec.description,
                preemptionPolicy=spec.preemption_policy,
                globalDefault=False,
            )
        )
    uses_registry = any(v.startswith(MODEL_URI_SCHEME) for v in used.storage_uris)
    if uses_registry and not any(MODEL_URI_SCHEME.startswith(p) for p in provided.storage_uri_prefixes):
        out.append(_storage_container(env, platform))
    if used.runs:
        config = dump(training_state_metrics(platform, set(used.runs)))
        out.append(
            _in(platform.monitoring.namespace, obj("v1", "ConfigMap", KSM_CONFIG_MAP, data={KSM_CONFIG_KEY: config}))
        )
    return [_labelled(res, env) for res in out]


def _values(objects: Iterable[Resource], keys: Sequence[str]) -> dict[str, set[str]]:
    """Every string under each of `keys` anywhere in the objects (pod specs and InferenceService
    predictors alike), in one walk without recursion (every object of the environment: two
    recursive generator walks were most of this layer's time at N=300)."""
    found: dict[str, set[str]] = {key: set() for key in keys}
    stack: list[Any] = list(objects)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(v, str):
                    if k in found:
                        found[k].add(v)
                elif isinstance(v, (dict, list)):
                    stack.append(v)
        else:
            stack.extend(v for v in node if isinstance(v, (dict, list)))
    return found


def _in(namespace: str, res: Resource) -> Resource:
    res["metadata"]["namespace"] = namespace
    return res


def _labelled(res: Resource, env: str) -> Resource:
    meta = res["metadata"]
    meta["labels"] = {
        "app.kubernetes.io/instance": platform_application_name(env),
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/part-of": "maestro-platform",
        "maestro.ml/env": env,
        **meta.get("labels", {}),
    }
    return res


def _namespace(env: str, platform: Platform, name: str, teams: set[str]) -> Resource:
    version = f"v{platform.kubernetes_version}"
    labels: dict[str, str] = {}
    for mode in PSA_MODES:
        labels[f"pod-security.kubernetes.io/{mode}"] = PSA_LEVEL
        labels[f"pod-security.kubernetes.io/{mode}-version"] = version
    mesh = platform.mesh
    if mesh.mode == "sidecar":
        labels.update({"istio.io/rev": mesh.revision} if mesh.revision else {"istio-injection": "enabled"})
    elif mesh.mode == "ambient":
        labels["istio.io/dataplane-mode"] = "ambient"
    labels["maestro.ml/env"] = env
    if len(teams) == 1:
        labels["maestro.ml/team"] = next(iter(teams))
    res = obj("v1", "Namespace", name)
    res["metadata"].update({"labels": labels, "annotations": {SYNC_OPTIONS: NAMESPACE_SYNC_OPTIONS}})
    return res


def _floor(amount: Decimal, price: float) -> int | None:
    """How many units the amount buys all month at this hourly price (None: free, no cap)."""
    if price <= 0:
        return None
    return int((amount / (HOURS_PER_MONTH * Decimal(str(price)))).to_integral_value(rounding=ROUND_FLOOR))


def _quota(platform: Platform, teams: list[str]) -> dict[str, str]:
    """`hard` of the namespace's ResourceQuota: what the teams' monthly budgets buy (module docstring).
    A team with no monthly budget (0) is not capped, and neither is its namespace."""
    settings = [platform.team(t) for t in teams]
    if any(s.budget.monthly <= 0 for s in settings):
        return {}
    costs = platform.costs
    hard: dict[str, str] = {}
    cpu = [_floor(Decimal(str(s.budget.monthly)), costs.cpu_hour) for s in settings]
    if None not in cpu:
        hard["requests.cpu"] = str(sum(c for c in cpu if c is not None))
    memory = [_floor(Decimal(str(s.budget.monthly)), costs.memory_gib_hour) for s in settings]
    if None not in memory:
        hard["requests.memory"] = f"{sum(m for m in memory if m is not None)}Gi"
    gpus = [
        0 if s.limits.max_gpus_per_pod == 0 else _floor(Decimal(str(s.budget.monthly)), costs.gpu_hour)
        for s in settings
    ]
    if None not in gpus:
        hard[f"requests.{platform.gpu.resource_name}"] = str(sum(g for g in gpus if g is not None))
    return hard


def _storage_container(env: str, platform: Platform) -> Resource:
    security = {**container_security_context(), "seccompProfile": {"type": "RuntimeDefault"}}
    # KServe mounts only /mnt/models into the init container, and Python and MLflow may write
    # temporary files and caches elsewhere; `restricted` does not ask for a read-only root (the
    # model server, which runs for days, keeps one).
    security["readOnlyRootFilesystem"] = False
    container = {
        "name": STORAGE_INITIALIZER,
        "image": platform.images.maestro,
        "command": ["python", "-c", DOWNLOAD],
        "env": [{"name": "MLFLOW_TRACKING_URI", "value": platform.environments[env].endpoints.mlflow}],
        "resources": {k: dict(v) for k, v in DOWNLOAD_RESOURCES.items()},
        "securityContext": security,
    }
    return obj(
        STORAGE_CONTAINER_API,
        "ClusterStorageContainer",
        STORAGE_CONTAINER,
        {
            "container": container,
            "supportedUriFormats": [{"prefix": MODEL_URI_SCHEME}],
            "workloadType": "initContainer",
        },
    )
