"""registry: the model's MLflow desired state, and the Job that applies it after each sync.

For a spec with a `registry` section, or with `serving` (which resolves a registry alias or
version), two objects:

- ConfigMap `<model>-registry`: `registry.json`, the desired state of `maestro.registry`
  (experiment, registered model, tags, what serving resolves, gates with the environment's
  platform minimums), as canonical JSON. Reviewers see a registry change in the diff.
- Job `<model>-registry-sync`: an Argo CD PostSync hook running
  `maestro registry sync --state /state/registry.json` from the platform's maestro image,
  with MLFLOW_TRACKING_URI from the environment's endpoints. It creates and corrects,
  never deletes and never moves an alias, so a rerun is harmless; a missing alias is a
  warning in its log, not a failed sync (a new model has no promoted version yet).

The hook is recreated on every sync (`BeforeHookCreation`), so a changed state is applied
by the next sync, and a failed run stays until then for its logs. Its TTL is long on
purpose: a Job that is gone before Argo CD has seen it finish leaves the sync waiting
forever (argo-cd#21055). It runs as the model's service account, which has no Kubernetes
API token, and, like training pods, without an Istio sidecar (one would keep the pod, and
the sync, from ever completing).
"""

from __future__ import annotations

import copy
from typing import Any

from maestro.frontend.spec import Resources, Spec
from maestro.mlflow.state import desired_state, has_registry_state, state_json
from maestro.render import Context, Resource, name_of, obj, pod_labels, service_account_name
from maestro.render.pod import (
    NO_SIDECAR,
    TMP_MOUNT,
    TMP_VOLUME,
    container_security_context,
    pod_security_context,
    resource_requirements,
)

COMPONENT = "registry"
STATE_FILE = "registry.json"
STATE_DIR = "/state"
HOOK = {"argocd.argoproj.io/hook": "PostSync", "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation"}
BACKOFF_LIMIT = 2  # a server restarting during the sync gets a retry; a bad state does not get ten
DEADLINE_SECONDS = 600  # the sync waits on the hook: a hung run must not hold it for long
TTL_AFTER_FINISHED = 86400  # a day for the logs; far longer than Argo CD needs to see the result
# Python with mlflow's client imported: about 250 MiB resident.
SYNC_RESOURCES = Resources(cpu="100m", memory="512Mi")


def config_map_name(spec: Spec) -> str:
    return f"{name_of(spec)}-registry"


def job_name(spec: Spec) -> str:
    return f"{name_of(spec)}-registry-sync"


def render(spec: Spec, ctx: Context) -> list[Resource]:
    if not has_registry_state(spec):
        return []
    state = desired_state(spec, ctx.platform, ctx.env)
    config_map = obj("v1", "ConfigMap", config_map_name(spec), data={STATE_FILE: state_json(state)})
    return [config_map, _job(spec, ctx)]


def _job(spec: Spec, ctx: Context) -> Resource:
    container: dict[str, Any] = {
        "name": "sync",
        "image": ctx.platform.images.maestro,
        "command": ["maestro", "registry", "sync", "--state", f"{STATE_DIR}/{STATE_FILE}"],
        # /tmp is the one writable place: HOME for anything that caches there, and the
        # working folder, where a relative sqlite:/// URI (dev's laptop default) lands.
        "workingDir": "/tmp",
        "env": [
            {"name": "MLFLOW_TRACKING_URI", "value": ctx.environment.endpoints.mlflow},
            {"name": "HOME", "value": "/tmp"},
        ],
        "resources": resource_requirements(SYNC_RESOURCES, ctx.platform),
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "state", "mountPath": STATE_DIR, "readOnly": True}, copy.deepcopy(TMP_MOUNT)],
    }
    pod = {
        "serviceAccountName": service_account_name(spec),
        "restartPolicy": "Never",  # a failed pod stays for its logs; the Job retries with a new one
        "securityContext": pod_security_context(),
        "containers": [container],
        "volumes": [{"name": "state", "configMap": {"name": config_map_name(spec)}}, copy.deepcopy(TMP_VOLUME)],
    }
    job = obj(
        "batch/v1",
        "Job",
        job_name(spec),
        {
            "backoffLimit": BACKOFF_LIMIT,
            "activeDeadlineSeconds": DEADLINE_SECONDS,
            "ttlSecondsAfterFinished": TTL_AFTER_FINISHED,
            "template": {"metadata": {"labels": {**pod_labels(spec, ctx, COMPONENT), **NO_SIDECAR}}, "spec": pod},
        },
    )
    job["metadata"]["annotations"] = dict(HOOK)
    return job
