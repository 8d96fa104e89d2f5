"""gitops: Argo CD AppProjects and Applications for one environment, and sync waves.

Unlike the per-model renderers this one works per environment over all models:
`render_env(env, platform, overlay, models)` returns one AppProject per team present in
the environment and one Application per model, all in Argo CD's namespace
(`gitops.argocd_namespace`), for `rendered/<env>/argocd/`. Nothing is cluster-scoped.

AppProject `<project pattern>` (per team)
    sourceRepos        the gitops repository only
    destinations       exactly the namespaces the team's models deploy to (sorted, deduped)
    clusterResourceWhitelist
                       only `Namespace`, and only by the names of those namespaces.
                       `CreateNamespace=true` and `managedNamespaceMetadata` make Argo CD apply the
                       Namespace itself, and it checks that against this list like any other
                       cluster-scoped object (`resource :Namespace is not permitted in project`,
                       argo-cd#20233). An empty list would break every sync on a new cluster.
                       The `name` restriction (argo-cd#24674) keeps a team from creating or
                       adopting any other namespace; nothing else cluster-scoped is allowed.
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
    syncOptions        CreateNamespace=true   the namespace exists before the first object
                       ServerSideApply=true   large ConfigMaps (dashboards, Feast repos) do not fit
                                              the 256 KiB last-applied annotation, and Argo CD's
                                              docs ask for SSA before it manages labels on a
                                              namespace that exists already
                       FailOnSharedResource=true  models of a team share a namespace: an object two
                                              Applications both render fails loudly instead of
                                              flapping between them
                       Not PruneLast: it adds a wave after the workloads, so every sync that prunes
                       would wait for all workloads to become healthy (a canary pausing 40 minutes,
                       a training job running for hours) and fail on a failed training job.
                       Not PrunePropagationPolicy: foreground is already the default.
    retry              5 attempts, 10s doubling to 3m, on the same revision (a retry never
                       deploys a commit nobody approved for a manually synced model)
    managedNamespaceMetadata
                       labels maestro.ml/env and maestro.ml/team (NetworkPolicies select on them);
                       team only when all models in the namespace share it, so that Applications
                       sharing a namespace never fight over its labels
    finalizers         resources-finalizer.argocd.argoproj.io: deleting the Application (its spec
                       was deleted) deletes what it deployed; the auto-created namespace stays
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

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal

from maestro.render import MANAGED_BY, SYNC_WAVE, Resource, obj
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

SYNC_OPTIONS = ("CreateNamespace=true", "ServerSideApply=true", "FailOnSharedResource=true")
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

# Waves inside rendered/<env>/argocd/: a project exists before the Applications that name it.
_PROJECT_WAVE, _APPLICATION_WAVE = "-1", "0"


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


def render_env(env: str, platform: Platform, overlay: Overlay | None, models: list[ModelRef]) -> list[Resource]:
    """AppProjects (one per team, sorted by name) then Applications (one per model, sorted by name).

    `platform` has platform.<env>.yaml merged; each ModelRef carries its resolved namespace
    and sync mode (`sync_mode`), so the overlay is only checked to be this environment's.
    The order of `models` does not matter."""
    if env not in platform.environments:
        raise ValueError(f"environment {env!r} is not in the platform config")
    if overlay is not None and overlay.environment != env:
        raise ValueError(f"overlay is for environment {overlay.environment!r}, not {env!r}")
    environment = platform.environments[env]
    refs = sorted(models, key=lambda m: m.name)
    for a, b in zip(refs, refs[1:]):
        if a.name == b.name:
            raise ValueError(f"model {a.name!r} appears twice")
    for m in refs:
        if m.sync not in SYNC_MODES:
            raise ValueError(f"model {m.name!r}: unknown sync mode {m.sync!r}")

    by_team: dict[str, list[ModelRef]] = defaultdict(list)
    teams_in_namespace: dict[str, set[str]] = defaultdict(set)
    for m in refs:
        by_team[m.team].append(m)
        teams_in_namespace[m.namespace].add(m.team)

    projects = [_project(env, platform, team, by_team[team]) for team in by_team]
    apps = [_application(env, platform, m, teams_in_namespace[m.namespace]) for m in refs]
    return sorted(projects, key=_name) + sorted(apps, key=_name)


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
        "clusterResourceWhitelist": [{"group": "", "kind": "Namespace", "name": ns} for ns in namespaces],
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


def _application(env: str, platform: Platform, model: ModelRef, namespace_teams: set[str]) -> Resource:
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
    namespace_labels = {"maestro.ml/env": env}
    if namespace_teams == {model.team}:
        namespace_labels["maestro.ml/team"] = model.team
    sync_policy: dict[str, Any] = {}
    if model.sync == "automated":
        sync_policy["automated"] = {"prune": True, "selfHeal": True}
    sync_policy.update(
        {
            "syncOptions": list(SYNC_OPTIONS),
            "retry": {"limit": RETRY_LIMIT, "backoff": dict(RETRY_BACKOFF)},
            "managedNamespaceMetadata": {"labels": namespace_labels},
        }
    )
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
        "revisionHistoryLimit": REVISION_HISTORY_LIMIT,
        "info": info,
    }
    out = obj(ARGOCD_API, "Application", application_name(model.name, env), spec)
    out["metadata"].update(
        _metadata(platform, labels, _APPLICATION_WAVE, {SOURCE_ANNOTATION: model.source, MANIFEST_GENERATE_PATHS: "."})
    )
    return out
