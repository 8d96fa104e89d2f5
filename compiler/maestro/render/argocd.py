"""gitops: Argo CD AppProjects and Applications for one environment, and sync waves.

Unlike the per-model renderers this one works per environment over all models:
`render_env(env, platform, overlay, models, platform_layer)` returns, for
`rendered/<env>/argocd/`, the platform layer's AppProject and Application (when the
environment has a platform layer), one AppProject per team present in the environment and
one Application per model, all in Argo CD's namespace (`gitops.argocd_namespace`).

Order (the `argocd.argoproj.io/sync-wave` of each object in that folder): platform project
-3, platform Application -2, team projects -1, model Applications 0. Namespaces, quotas and
priority classes exist before any model syncs. Waves order Applications only when whatever
syncs this folder (an app-of-apps) waits for each Application's health, which needs the
`argoproj.io/Application` health check restored in `argocd-cm` (removed from Argo CD in 1.8,
argo-cd#3781; docs/operator-manual/health.md). Without it a model Application that syncs
first fails on its missing namespace and retries (below) until the platform has synced.

AppProject `maestro-platform-<env>` (the platform team's)
    destinations       the namespaces the platform layer writes to, and the Application's
                       own destination without a namespace (its objects name theirs)
    clusterResourceWhitelist
                       Namespace, PriorityClass, ClusterStorageContainer: by kind only. Argo CD
                       restricts by name only from v3.3 (argo-cd#24674; v3.2 still reads
                       `[]GroupKind`, and an older server drops the field, allowing every name),
                       so Maestro never depends on it: the platform project is the only one
                       with cluster-scoped kinds at all, and only the platform team edits it
    namespaceResourceWhitelist
                       ResourceQuota and LimitRange, nothing else
Application `platform-<env>`
    source             repo_url @ target_revision, path `rendered/<env>/platform`
    syncPolicy         as a model's (automated unless the environment syncs manually),
                       ServerSideApply=true (Argo CD's docs ask for it before it takes over labels
                       of a namespace that exists already); the Namespaces themselves carry
                       Prune=confirm,Delete=confirm (render/platform.py)

AppProject `<project pattern>` (per team)
    sourceRepos        the gitops repository only
    destinations       exactly the namespaces the team's models deploy to (sorted, deduped)
    clusterResourceWhitelist
                       none: a team creates nothing cluster-scoped. The namespaces come from the
                       platform layer, so no team needs `Namespace` (or a name restriction only
                       Argo CD >= 3.3 enforces) any more.
    namespaceResourceBlacklist
                       ResourceQuota and LimitRange (the platform's budget controls), Secret
                       (secret values never come from git, only from Vault through the
                       operators, which create Secrets themselves), and Argo CD's own
                       Application/ApplicationSet/AppProject (no app-of-apps escalation out of a
                       team path). NetworkPolicy, Role and RoleBinding stay allowed: Maestro
                       renders them.
    orphanedResources  warn, ignoring the ConfigMaps Kubernetes and Istio put in every namespace

Application `<model>-<env>` (per model; the name equals `app.kubernetes.io/instance` from
`standard_labels`, so label-based resource tracking and Maestro agree)
    source             repo_url @ target_revision, path `rendered/<env>/<model>`
    syncPolicy         automated {prune, selfHeal} unless the model syncs manually (then no
                       `automated` key: a person presses Sync); `sync_mode` decides
    syncOptions        ServerSideApply=true   large ConfigMaps (dashboards, Feast repos) do not fit
                                              the 256 KiB last-applied annotation
                       FailOnSharedResource=true  models of a team share a namespace: an object two
                                              Applications both render fails loudly instead of
                                              flapping between them
                       Not CreateNamespace (nor managedNamespaceMetadata): the platform layer owns
                       the namespace, its Pod Security and mesh labels, quota and defaults; a
                       model Application creating it would race the platform for its labels.
                       Not PruneLast: it adds a wave after the workloads, so every sync that prunes
                       would wait for all workloads to become healthy (a canary pausing 40 minutes,
                       a training job running for hours) and fail on a failed training job.
                       Not PrunePropagationPolicy: foreground is already the default.
                       ApplyOutOfSyncOnly=true  a sync applies only what differs from git, so a
                                              sync started by any other change does not
                                              re-apply the route Argo Rollouts is moving (with
                                              ignoreDifferences below: Argo Rollouts' docs,
                                              "Istio: Integrating with GitOps")
    ignoreDifferences  what Argo Rollouts changes in objects Maestro renders while it rolls out a
                       version (serving.py, mesh.py): the VirtualService routes it manages (the
                       weights of `primary`, the blue-green mirror route it adds and removes)
                       and the ReplicaSet hash it adds to the DestinationRule's subsets. By route
                       name, so an A/B route (`ab-test`) still shows drift. Argo CD cannot keep
                       ignored array elements through a sync (argo-cd#17694), hence
                       ApplyOutOfSyncOnly rather than RespectIgnoreDifferences.
    retry              5 attempts, 10s doubling to 3m, on the same revision (a retry never
                       deploys a commit nobody approved for a manually synced model)
    finalizers         resources-finalizer.argocd.argoproj.io: deleting the Application (its spec
                       was deleted) deletes what it deployed
    annotations        maestro.ml/source (the spec file); manifest-generate-paths "." so a
                       commit refreshes only the Applications whose folder it touched

Sync waves (`sync_wave`): the pipeline stamps `argocd.argoproj.io/sync-wave` on every
per-model object. Argo CD applies wave by wave and waits until every object of a wave is
healthy before starting the next, but finishes the sync as soon as the last wave is applied.
So the waves before the workloads hold only objects that become healthy at once, and the
workloads, and everything whose health may take long or stay bad, share the last wave:

    wave  what                                   kinds
    ----  -------------------------------------  ---------------------------------------------
     -4   identity and isolation: nothing runs   ServiceAccount, Role, RoleBinding,
          unprotected, and the Vault operators   NetworkPolicy, PeerAuthentication,
          authenticate as the service account    AuthorizationPolicy
     -3   Vault configuration                    Policy and KubernetesAuthEngineRole
                                                 (redhatcop.redhat.io), VaultConnection,
                                                 VaultAuth, SecretStore
     -2   secrets and configuration that pods    VaultStaticSecret, VaultDynamicSecret,
          mount, subsets routes point at, and    ExternalSecret, ConfigMap, DestinationRule,
          what admission webhooks read when a    Instrumentation (OpenTelemetry),
          pod is created                         ClusterStorageContainer (KServe)
     -1   what workloads reference by name       Service, AnalysisTemplate, VirtualService,
          (a Rollout is invalid without its      ServingRuntime
          services, analysis templates and
          virtual service)
      0   workloads, and what attaches to them   Deployment, Rollout, InferenceService, Job,
                                                 CronJob, PyTorchJob, TFJob, XGBoostJob,
                                                 TrainJob, Experiment (Katib), FeatureStore,
                                                 PersistentVolumeClaim, HorizontalPodAutoscaler,
                                                 ScaledObject, PodDisruptionBudget,
                                                 ServiceMonitor, PodMonitor, PrometheusRule

A PersistentVolumeClaim is in the last wave because a WaitForFirstConsumer claim stays
Pending until a pod mounts it: in an earlier wave it would hold the sync forever. HPAs,
ScaledObjects and PDBs report unhealthy until their target exists, so they cannot come
before it, and any wave after the workloads would wait on the workloads' health. Pruning runs in
reverse wave order, so a route is withdrawn before its backend is deleted.

An object that carries `argocd.argoproj.io/hook` is a hook, ordered by its hook phase: no
wave. An object that carries a sync-wave annotation already keeps it. A kind not in the
table gets no wave (Argo CD's default, 0); `WAVES` lists the table for checks.
"""

from __future__ import annotations

import copy
import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from maestro.names import PLATFORM_FOLDER
from maestro.render import MANAGED_BY, SYNC_WAVE, Resource, obj
from maestro.render.servers import MIRROR_ROUTE, PRIMARY_ROUTE
from maestro.resolve.config import Environment, Platform
from maestro.resolve.overlay import Overlay

ARGOCD_API = "argoproj.io/v1alpha1"
HOOK = "argocd.argoproj.io/hook"
RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"
SOURCE_ANNOTATION = "maestro.ml/source"
MANIFEST_GENERATE_PATHS = "argocd.argoproj.io/manifest-generate-paths"
RENDERED_DIR = "rendered"

SyncMode = Literal["automated", "manual"]
SYNC_MODES: tuple[str, ...] = ("automated", "manual")

SYNC_OPTIONS = ("ServerSideApply=true", "FailOnSharedResource=true", "ApplyOutOfSyncOnly=true")
PLATFORM_SYNC_OPTIONS = ("ServerSideApply=true",)
# Argo CD deletes these jq paths from both git's and the live object before comparing.
IGNORE_DIFFERENCES = (
    {
        "group": "networking.istio.io",
        "kind": "VirtualService",
        "jqPathExpressions": [f'.spec.http[]? | select(.name == "{PRIMARY_ROUTE}" or .name == "{MIRROR_ROUTE}")'],
    },
    {
        "group": "networking.istio.io",
        "kind": "DestinationRule",
        "jqPathExpressions": ['.spec.subsets[]?.labels["rollouts-pod-template-hash"]'],
    },
)
RETRY_LIMIT = 5
RETRY_BACKOFF = {"duration": "10s", "factor": 2, "maxDuration": "3m"}
REVISION_HISTORY_LIMIT = 10

# Namespaced kinds no Maestro Application may create (group, kind).
NAMESPACE_RESOURCE_BLACKLIST: tuple[tuple[str, str], ...] = (
    ("", "LimitRange"),
    ("", "ResourceQuota"),
    ("", "Secret"),
    ("argoproj.io", "AppProject"),
    ("argoproj.io", "Application"),
    ("argoproj.io", "ApplicationSet"),
)
# Objects the cluster itself puts in every namespace: not orphans.
ORPHAN_IGNORE: tuple[tuple[str, str, str], ...] = (
    ("", "ConfigMap", "istio-ca-root-cert"),
    ("", "ConfigMap", "kube-root-ca.crt"),
)

# (API group, kind) -> sync wave. The module docstring explains the order.
_IDENTITY, _VAULT, _CONFIG, _REFERENCED, _WORKLOAD = "-4", "-3", "-2", "-1", "0"
WAVES: dict[tuple[str, str], str] = {
    ("", "ServiceAccount"): _IDENTITY,
    ("rbac.authorization.k8s.io", "Role"): _IDENTITY,
    ("rbac.authorization.k8s.io", "RoleBinding"): _IDENTITY,
    ("networking.k8s.io", "NetworkPolicy"): _IDENTITY,
    ("security.istio.io", "PeerAuthentication"): _IDENTITY,
    ("security.istio.io", "AuthorizationPolicy"): _IDENTITY,
    ("redhatcop.redhat.io", "Policy"): _VAULT,
    ("redhatcop.redhat.io", "KubernetesAuthEngineRole"): _VAULT,
    ("secrets.hashicorp.com", "VaultConnection"): _VAULT,
    ("secrets.hashicorp.com", "VaultAuth"): _VAULT,
    ("external-secrets.io", "SecretStore"): _VAULT,
    ("secrets.hashicorp.com", "VaultStaticSecret"): _CONFIG,
    ("secrets.hashicorp.com", "VaultDynamicSecret"): _CONFIG,
    ("external-secrets.io", "ExternalSecret"): _CONFIG,
    ("", "ConfigMap"): _CONFIG,
    ("networking.istio.io", "DestinationRule"): _CONFIG,
    ("opentelemetry.io", "Instrumentation"): _CONFIG,
    ("serving.kserve.io", "ClusterStorageContainer"): _CONFIG,
    ("", "Service"): _REFERENCED,
    ("argoproj.io", "AnalysisTemplate"): _REFERENCED,
    ("networking.istio.io", "VirtualService"): _REFERENCED,
    ("serving.kserve.io", "ServingRuntime"): _REFERENCED,
    ("apps", "Deployment"): _WORKLOAD,
    ("argoproj.io", "Rollout"): _WORKLOAD,
    ("serving.kserve.io", "InferenceService"): _WORKLOAD,
    ("batch", "Job"): _WORKLOAD,
    ("batch", "CronJob"): _WORKLOAD,
    ("kubeflow.org", "PyTorchJob"): _WORKLOAD,
    ("kubeflow.org", "TFJob"): _WORKLOAD,
    ("kubeflow.org", "XGBoostJob"): _WORKLOAD,
    ("kubeflow.org", "Experiment"): _WORKLOAD,
    ("trainer.kubeflow.org", "TrainJob"): _WORKLOAD,
    ("feast.dev", "FeatureStore"): _WORKLOAD,
    ("", "PersistentVolumeClaim"): _WORKLOAD,
    ("autoscaling", "HorizontalPodAutoscaler"): _WORKLOAD,
    ("keda.sh", "ScaledObject"): _WORKLOAD,
    ("policy", "PodDisruptionBudget"): _WORKLOAD,
    ("monitoring.coreos.com", "ServiceMonitor"): _WORKLOAD,
    ("monitoring.coreos.com", "PodMonitor"): _WORKLOAD,
    ("monitoring.coreos.com", "PrometheusRule"): _WORKLOAD,
}

# Waves inside rendered/<env>/argocd/: the platform before the models, a project before the
# Applications that name it.
_PLATFORM_PROJECT_WAVE, _PLATFORM_WAVE, _PROJECT_WAVE, _APPLICATION_WAVE = "-3", "-2", "-1", "0"

# What the platform layer may create (render/platform.py): (group, kind).
PLATFORM_CLUSTER_KINDS: tuple[tuple[str, str], ...] = (
    ("", "Namespace"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("serving.kserve.io", "ClusterStorageContainer"),
)
PLATFORM_NAMESPACED_KINDS: tuple[tuple[str, str], ...] = (("", "ConfigMap"), ("", "LimitRange"), ("", "ResourceQuota"))


@dataclass(frozen=True)
class ModelRef:
    """What the gitops renderer needs of one model in one environment (resolved by the caller)."""

    name: str
    team: str
    tier: str
    namespace: str  # the model's namespace in this environment
    source: str  # the spec file, relative to the repository root
    sync: SyncMode
    owners: tuple[str, ...] = ()


def sync_mode(platform_env_sync: str, overlay: Overlay | None, tier: str) -> SyncMode:
    """How a model's Application syncs: the overlay's `argocd.sync`, else the platform
    environment's; "manual" whatever those say when the tier is in `argocd.manualForTiers`."""
    mode = overlay.argocd.sync if overlay is not None and overlay.argocd.sync is not None else platform_env_sync
    if overlay is not None and tier in overlay.argocd.manual_for_tiers:
        mode = "manual"
    if mode == "automated":
        return "automated"
    if mode == "manual":
        return "manual"
    raise ValueError(f"unknown sync mode {mode!r} (expected one of {', '.join(SYNC_MODES)})")


def sync_wave(resource: dict[str, Any]) -> str | None:
    """The `argocd.argoproj.io/sync-wave` a rendered per-model object should carry, or None.

    None for hooks and for kinds not in `WAVES`; an explicit sync-wave annotation wins."""
    annotations = (resource.get("metadata") or {}).get("annotations") or {}
    if HOOK in annotations:
        return None
    if SYNC_WAVE in annotations:
        return str(annotations[SYNC_WAVE])
    api_version, kind = resource.get("apiVersion"), resource.get("kind")
    if not (isinstance(api_version, str) and api_version and isinstance(kind, str)):
        return None
    return WAVES.get((api_version.rpartition("/")[0], kind))


def project_name(environment: Environment, team: str, env: str) -> str:
    """The team's Argo CD project: the environment's `project` pattern ({team} {env})."""
    try:
        return environment.project.format(team=team, env=env)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"project pattern {environment.project!r} takes only {{team}} and {{env}}: {exc}") from exc


def application_name(model: str, env: str) -> str:
    return f"{model}-{env}"


def platform_application_name(env: str) -> str:
    """`platform-<env>`: no model's Application can have it, `platform` being a reserved model name."""
    return application_name(PLATFORM_FOLDER, env)


def platform_project_name(env: str) -> str:
    return f"maestro-platform-{env}"


def render_env(
    env: str,
    platform: Platform,
    overlay: Overlay | None,
    models: list[ModelRef],
    platform_layer: Sequence[Resource] = (),
) -> list[Resource]:
    """The platform's AppProject and Application (when `platform_layer` holds objects), then
    AppProjects (one per team, sorted by name), then Applications (one per model, sorted by name).

    `platform` has platform.<env>.yaml merged; each ModelRef carries its resolved namespace
    and sync mode (`sync_mode`), so the overlay is only checked to be this environment's.
    The order of `models` does not matter."""
    if env not in platform.environments:
        raise ValueError(f"environment {env!r} is not in the platform config")
    if overlay is not None and overlay.environment != env:
        raise ValueError(f"overlay is for environment {overlay.environment!r}, not {env!r}")
    refs = sorted(models, key=lambda m: m.name)
    for a, b in itertools.pairwise(refs):
        if a.name == b.name:
            raise ValueError(f"model {a.name!r} appears twice")
    for m in refs:
        if m.sync not in SYNC_MODES:
            raise ValueError(f"model {m.name!r}: unknown sync mode {m.sync!r}")

    by_team: dict[str, list[ModelRef]] = defaultdict(list)
    for m in refs:
        by_team[m.team].append(m)

    projects = [_project(env, platform, team, by_team[team]) for team in by_team]
    apps = [_application(env, platform, m) for m in refs]
    head: list[Resource] = []
    if platform_layer:
        head = _platform(env, platform, overlay, platform_layer)
        taken = {_name(p) for p in projects}
        if platform_project_name(env) in taken:
            raise ValueError(f"a team's project is named {platform_project_name(env)!r}, the platform's project")
    return head + sorted(projects, key=_name) + sorted(apps, key=_name)


def _name(resource: Resource) -> str:
    return str(resource["metadata"]["name"])


def _metadata(
    platform: Platform, labels: dict[str, str], wave: str, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "namespace": platform.gitops.argocd_namespace,
        "labels": labels,
        "annotations": {SYNC_WAVE: wave, **(annotations or {})},
        "finalizers": [RESOURCES_FINALIZER],
    }


def _project(env: str, platform: Platform, team: str, models: list[ModelRef]) -> Resource:
    environment = platform.environments[env]
    namespaces = sorted({m.namespace for m in models})
    name = project_name(environment, team, env)
    labels = {
        "app.kubernetes.io/part-of": team,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "maestro.ml/team": team,
        "maestro.ml/env": env,
    }
    spec = {
        "description": f"Maestro models of team {team} in {env} (generated by maestro; do not edit)",
        "sourceRepos": [platform.gitops.repo_url],
        "destinations": [{"server": environment.cluster, "namespace": ns} for ns in namespaces],
        "namespaceResourceBlacklist": [{"group": g, "kind": k} for g, k in NAMESPACE_RESOURCE_BLACKLIST],
        "orphanedResources": {
            "warn": True,
            "ignore": [{"group": g, "kind": k, "name": n} for g, k, n in ORPHAN_IGNORE],
        },
    }
    out = obj(ARGOCD_API, "AppProject", name, spec)
    # A project with the resources finalizer is not deleted while an Application uses it.
    out["metadata"].update(_metadata(platform, labels, _PROJECT_WAVE))
    return out


def _application(env: str, platform: Platform, model: ModelRef) -> Resource:
    environment = platform.environments[env]
    labels = {
        "app.kubernetes.io/name": model.name,
        "app.kubernetes.io/part-of": model.team,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "maestro.ml/team": model.team,
        "maestro.ml/model": model.name,
        "maestro.ml/env": env,
        "maestro.ml/tier": model.tier,
    }
    sync_policy = _sync_policy(model.sync, SYNC_OPTIONS)
    info = [{"name": "team", "value": model.team}, {"name": "tier", "value": model.tier}]
    if model.owners:
        info.append({"name": "owners", "value": ", ".join(model.owners)})
    info += [{"name": "spec", "value": model.source}, {"name": "sync", "value": model.sync}]
    spec = {
        "project": project_name(environment, model.team, env),
        "source": {
            "repoURL": platform.gitops.repo_url,
            "targetRevision": platform.gitops.target_revision,
            "path": f"{RENDERED_DIR}/{env}/{model.name}",
        },
        "destination": {"server": environment.cluster, "namespace": model.namespace},
        "syncPolicy": sync_policy,
        "ignoreDifferences": copy.deepcopy(list(IGNORE_DIFFERENCES)),
        "revisionHistoryLimit": REVISION_HISTORY_LIMIT,
        "info": info,
    }
    out = obj(ARGOCD_API, "Application", application_name(model.name, env), spec)
    out["metadata"].update(
        _metadata(platform, labels, _APPLICATION_WAVE, {SOURCE_ANNOTATION: model.source, MANIFEST_GENERATE_PATHS: "."})
    )
    return out


def _sync_policy(mode: SyncMode, options: tuple[str, ...]) -> dict[str, Any]:
    policy: dict[str, Any] = {}
    if mode == "automated":
        policy["automated"] = {"prune": True, "selfHeal": True}
    policy.update({"syncOptions": list(options), "retry": {"limit": RETRY_LIMIT, "backoff": dict(RETRY_BACKOFF)}})
    return policy


def _platform(env: str, platform: Platform, overlay: Overlay | None, layer: Sequence[Resource]) -> list[Resource]:
    """The platform layer's AppProject and Application."""
    environment = platform.environments[env]
    labels = {
        "app.kubernetes.io/part-of": "maestro-platform",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "maestro.ml/env": env,
    }
    namespaces = sorted({str(r["metadata"]["namespace"]) for r in layer if r["metadata"].get("namespace")})
    project_spec = {
        "description": f"Maestro platform layer of {env}: namespaces, quotas, priority classes, storage "
        "(generated by maestro; do not edit)",
        "sourceRepos": [platform.gitops.repo_url],
        # "": the Application's own destination, which names no namespace (its objects do).
        "destinations": [{"server": environment.cluster, "namespace": ns} for ns in ["", *namespaces]],
        "clusterResourceWhitelist": [{"group": g, "kind": k} for g, k in PLATFORM_CLUSTER_KINDS],
        "namespaceResourceWhitelist": [{"group": g, "kind": k} for g, k in PLATFORM_NAMESPACED_KINDS],
    }
    project = obj(ARGOCD_API, "AppProject", platform_project_name(env), project_spec)
    project["metadata"].update(_metadata(platform, labels, _PLATFORM_PROJECT_WAVE))
    sync = sync_mode(environment.sync, overlay, "")
    app_spec = {
        "project": platform_project_name(env),
        "source": {
            "repoURL": platform.gitops.repo_url,
            "targetRevision": platform.gitops.target_revision,
            "path": f"{RENDERED_DIR}/{env}/{PLATFORM_FOLDER}",
        },
        "destination": {"server": environment.cluster},
        "syncPolicy": _sync_policy(sync, PLATFORM_SYNC_OPTIONS),
        "revisionHistoryLimit": REVISION_HISTORY_LIMIT,
        "info": [{"name": "layer", "value": "platform"}, {"name": "sync", "value": sync}],
    }
    app = obj(ARGOCD_API, "Application", platform_application_name(env), app_spec)
    app["metadata"].update(_metadata(platform, labels, _PLATFORM_WAVE, {MANIFEST_GENERATE_PATHS: "."}))
    return [project, app]
