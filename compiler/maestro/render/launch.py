"""launch: runs (training, tuning) that a launcher creates, so that Argo CD never owns them.

A run is a one-shot object: a Job, a Kubeflow TrainJob or a Training Operator v1 job that
does its work and stops. Synced by Argo CD as an ordinary object it goes wrong twice: once
its TTL deletes it, auto-sync finds it missing and creates it again (a costed study re-run
every day), and its pod template is immutable, so any change fails the sync. Making the run
itself an Argo CD hook is no better (argo-cd gitops-engine/pkg/sync, read at master):

- every sync operation re-creates every named hook (a hook without a delete policy gets
  BeforeHookCreation, hook/delete_policy.go), so any change to the model re-runs it;
- the operation waits while a hook runs (sync_context.go "if there are any running hooks,
  then wait"), so a Job hook holds the model's deployments back for the whole run;
- Argo CD has no health check for kubeflow.org or trainer.kubeflow.org kinds, and a hook
  without health "succeeds" as soon as it exists (getOperationPhase), so the next sync
  deletes and restarts a PyTorchJob or TrainJob hook mid-run.

So a one-shot run is created by a short **launcher**, an Argo CD Sync hook Job (wave 0) with
`BeforeHookCreation`, and the run keeps a fixed name and a `maestro.ml/definition` label,
the hash of its manifest. The launcher (1) deletes the run of that name if its definition
differs (a superseded run goes, running or not, as Argo CD would prune it; foreground, so its
pods are gone before the new run starts), then (2) applies the manifest server-side, which
creates the run when it is missing and changes nothing when it exists. A sync that did not
change the run's manifest therefore re-runs nothing; a changed image, command or resource
replaces the run. The run has no TTL: it stays, with its status and its failure alert, until
it is superseded. To run it again by hand, delete it and sync.

Sync phase, wave 0, not PostSync: Argo CD applies a wave's resources and hooks in one step and
moves on when all of them are done (gitops-engine/pkg/sync/sync_context.go, v3.5.1), so the
launcher runs after the earlier waves (identity, Vault, ConfigMaps, the Feast apply hook at
-1: what the run reads) and beside the workloads, whatever their health. PostSync runs only
after a successful sync with every resource Healthy: a Degraded resource fails the sync (the
same file: "one or more synchronization tasks completed unsuccessfully") and a Progressing
one keeps it waiting, so a new model whose InferenceService cannot load yet (no version is
registered before the first training run) or a canary paused for promotion would never be
trained or tuned. The sync waits for the launcher itself: seconds, or a superseded run's
deletion (its pods' grace period), bounded by the launcher's deadline.

A scheduled run is created by a CronJob instead (`kubectl create` of a `generateName`
manifest, one new run per schedule); a batch Job needs no launcher there (a CronJob's own
jobTemplate is the run).

Objects, for a run named `<run>` (`<model>-train`, `<model>-tuning`):

    ConfigMap `<run>-job`             job.yaml: the run's manifest; `definition`: its hash
                                      (one-shot only)
    Job `<run>-launcher` (one-shot)   the Sync hook above
    CronJob `<run>` (scheduled)       `kubectl create -f job.yaml` on the schedule
    ServiceAccount, Role, RoleBinding `<run>-launcher`: create on the run's resource; for
                                      one-shot runs also get/list/watch/patch/delete, by
                                      name, on `<run>` only (RBAC cannot narrow `create`)

The renderer returns the run itself as an ordinary object, annotated with `LAUNCHED_BY` and
`MANIFEST_IN`, so that it passes the overlay transforms, the schemas, the policies and the
link checks like everything else; the output stage (`output/embed.py`) then writes its final
manifest into the ConfigMap and takes it out of the tree. The manifest carries no sync wave
and no `app.kubernetes.io/instance` label: under Argo CD's label tracking that label (the
Application's name) would make the launched run an extraneous object, pruned mid-run.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from maestro.frontend.spec import Resources, Spec
from maestro.render import SYNC_WAVE, Context, Resource, obj, pod_labels
from maestro.render.argocd import HOOK
from maestro.render.pod import (
    NO_SIDECAR,
    TMP_MOUNT,
    TMP_VOLUME,
    container_security_context,
    pod_security_context,
    resource_requirements,
)

# Annotations on a launched run; `output/embed.py` reads and removes them.
LAUNCHED_BY = "maestro.ml/launched-by"  # "Job/<name>" (a hook) or "CronJob/<name>"
MANIFEST_IN = "maestro.ml/manifest-in"  # "ConfigMap/<name>"
DEFINITION_LABEL = "maestro.ml/definition"  # hash of the run's manifest (one-shot runs)

JOB_FILE = "job.yaml"
DEFINITION_KEY = "definition"
JOB_DIR = "/job"
HOOK_DELETE_POLICY = "argocd.argoproj.io/hook-delete-policy"
HOOK_PHASE = "Sync"
HOOK_WAVE = "0"  # with the workloads: after the identity, Vault, config and Feast waves (argocd.py)
FIELD_MANAGER = "maestro-launcher"
BACKOFF_LIMIT = 2  # an API server hiccup gets a retry; a rejected manifest does not get ten
LAUNCHER_DEADLINE = 900  # `kubectl` takes seconds; deleting a superseded run waits for its pods' grace
HISTORY_LIMIT = 3  # CronJob runs kept, successful and failed alike
LAUNCHER_RESOURCES = Resources(cpu="50m", memory="128Mi")

Mode = Literal["once", "scheduled"]


def launcher_name(run: str) -> str:
    return f"{run}-launcher"


def config_map_name(run: str) -> str:
    return f"{run}-job"


def resource_of(manifest: Resource) -> tuple[str, str]:
    """(API group, resource) of a run for RBAC and kubectl: batch/jobs, kubeflow.org/pytorchjobs, ..."""
    group = str(manifest["apiVersion"]).rpartition("/")[0]
    return group, str(manifest["kind"]).lower() + "s"


def once(
    spec: Spec, ctx: Context, run: Resource, component: str, annotations: dict[str, str] | None = None
) -> list[Resource]:
    """A one-shot run and what launches it after every sync (module docstring)."""
    name = str(run["metadata"]["name"])
    group, resource = resource_of(run)
    kind_arg = f"{resource}.{group}" if group else resource
    launcher = launcher_name(name)
    env: list[dict[str, Any]] = [
        # kubectl caches API discovery under $HOME/.kube; the root filesystem is read-only.
        {"name": "HOME", "value": "/tmp"},
        {
            "name": "DEFINITION",
            "valueFrom": {"configMapKeyRef": {"name": config_map_name(name), "key": DEFINITION_KEY}},
        },
    ]
    supersede = _container(
        ctx,
        "supersede",
        [
            "kubectl",
            "delete",
            kind_arg,
            f"--field-selector=metadata.name={name}",
            f"--selector={DEFINITION_LABEL}!=$(DEFINITION)",
            "--cascade=foreground",
            "--ignore-not-found",
            "--wait",
        ],
        env,
        reads_manifest=False,
    )
    apply = _container(
        ctx,
        "launch",
        [
            "kubectl",
            "apply",
            "--server-side",
            f"--field-manager={FIELD_MANAGER}",
            "-f",
            f"{JOB_DIR}/{JOB_FILE}",
        ],
        env[:1],
    )
    job = obj(
        "batch/v1",
        "Job",
        launcher,
        {
            "backoffLimit": BACKOFF_LIMIT,
            "activeDeadlineSeconds": LAUNCHER_DEADLINE,
            # No TTL: BeforeHookCreation removes the Job at the next sync, and a Job gone before
            # Argo CD saw it finish leaves the sync waiting (argo-cd#21055).
            "template": _pod_template(spec, ctx, component, launcher, [supersede], [apply], name),
        },
    )
    job["metadata"]["annotations"] = {
        **(annotations or {}),
        HOOK: HOOK_PHASE,
        HOOK_DELETE_POLICY: "BeforeHookCreation",
        SYNC_WAVE: HOOK_WAVE,
    }
    rules = [
        {"apiGroups": [group], "resources": [resource], "verbs": ["create"]},
        {
            "apiGroups": [group],
            "resources": [resource],
            "resourceNames": [name],
            "verbs": ["get", "list", "watch", "patch", "delete"],
        },
    ]
    config_map = obj("v1", "ConfigMap", config_map_name(name), data={JOB_FILE: "", DEFINITION_KEY: ""})
    return [config_map, job, *_rbac(ctx, launcher, rules), _mark(run, f"Job/{launcher}", name)]


def scheduled(spec: Spec, ctx: Context, run: Resource, component: str, schedule: str) -> list[Resource]:
    """A run created anew on every tick of `schedule` (module docstring)."""
    name = str(run["metadata"]["name"])
    group, resource = resource_of(run)
    launcher = launcher_name(name)
    create = _container(
        ctx, "launcher", ["kubectl", "create", "-f", f"{JOB_DIR}/{JOB_FILE}"], [{"name": "HOME", "value": "/tmp"}]
    )
    job_spec = {
        "backoffLimit": BACKOFF_LIMIT,
        "activeDeadlineSeconds": LAUNCHER_DEADLINE,
        "template": _pod_template(spec, ctx, component, launcher, [], [create], name),
    }
    cron = cronjob(spec, ctx, name, schedule, f"{component}-launcher", job_spec)
    rules = [{"apiGroups": [group], "resources": [resource], "verbs": ["create"]}]
    config_map = obj("v1", "ConfigMap", config_map_name(name), data={JOB_FILE: ""})
    return [config_map, cron, *_rbac(ctx, launcher, rules), _mark(run, f"CronJob/{name}", name)]


def cronjob(spec: Spec, ctx: Context, name: str, schedule: str, component: str, job_spec: dict[str, Any]) -> Resource:
    """A CronJob running `job_spec` on `schedule` (the cluster's time zone, as the spec says)."""
    from maestro.render import standard_labels

    return obj(
        "batch/v1",
        "CronJob",
        name,
        {
            "schedule": schedule,
            "concurrencyPolicy": "Forbid",  # a slow run is not joined by the next one
            "successfulJobsHistoryLimit": HISTORY_LIMIT,
            "failedJobsHistoryLimit": HISTORY_LIMIT,
            "jobTemplate": {"metadata": {"labels": standard_labels(spec, ctx, component)}, "spec": job_spec},
        },
    )


def _mark(run: Resource, launched_by: str, name: str) -> Resource:
    out = copy.deepcopy(run)
    out["metadata"]["annotations"] = {
        **out["metadata"].get("annotations", {}),
        LAUNCHED_BY: launched_by,
        MANIFEST_IN: f"ConfigMap/{config_map_name(name)}",
    }
    return out


def _container(
    ctx: Context, name: str, command: list[str], env: list[dict[str, Any]], *, reads_manifest: bool = True
) -> dict[str, Any]:
    mounts: list[dict[str, Any]] = [copy.deepcopy(TMP_MOUNT)]
    if reads_manifest:
        mounts.insert(0, {"name": "job", "mountPath": JOB_DIR, "readOnly": True})
    return {
        "name": name,
        "image": ctx.platform.images.kubectl,
        "command": command,
        "env": copy.deepcopy(env),
        "resources": resource_requirements(LAUNCHER_RESOURCES, ctx.platform),
        "securityContext": container_security_context(),
        "volumeMounts": mounts,
    }


def _pod_template(
    spec: Spec,
    ctx: Context,
    component: str,
    account: str,
    init: list[dict[str, Any]],
    main: list[dict[str, Any]],
    run: str,
) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "serviceAccountName": account,
        "automountServiceAccountToken": True,  # the one pod that talks to the API, so it mounts the token
        "restartPolicy": "Never",
        "securityContext": pod_security_context(),
    }
    if init:
        pod["initContainers"] = init
    pod["containers"] = main
    pod["volumes"] = [{"name": "job", "configMap": {"name": config_map_name(run)}}, copy.deepcopy(TMP_VOLUME)]
    labels = {**pod_labels(spec, ctx, f"{component}-launcher"), **NO_SIDECAR}
    return {"metadata": {"labels": labels}, "spec": pod}


def _rbac(ctx: Context, name: str, rules: list[dict[str, Any]]) -> list[Resource]:
    account = obj("v1", "ServiceAccount", name, automountServiceAccountToken=False)
    role = obj("rbac.authorization.k8s.io/v1", "Role", name, rules=rules)
    binding = obj(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        name,
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        subjects=[{"kind": "ServiceAccount", "name": name, "namespace": ctx.namespace}],
    )
    return [account, role, binding]
