"""training: the model's training run, once or on a schedule.

- `workers > 1` or GPUs: a Kubeflow job chosen by framework (PyTorchJob for pytorch and
  huggingface, TFJob, XGBoostJob); other frameworks with `workers > 1` get an Indexed Job
  (each pod reads its shard from JOB_COMPLETION_INDEX); everything else a plain Job.
- With `schedule`: a batch Job becomes a CronJob. A Kubeflow job cannot be templated by a
  CronJob, so its manifest travels in a ConfigMap and a CronJob runs `kubectl create` on
  it, as a ServiceAccount that may create that one kind and nothing else.

Every object is named `<model>-train` (the launcher's helpers `<model>-train-job` and
`<model>-train-launcher`); the spec's name-length check keeps these inside the 52
characters a CronJob name may have.
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

from maestro.frontend.spec import Resources, Spec
from maestro.render import Context, Resource, name_of, obj, pod_labels, service_account_name, standard_labels
from maestro.render.pod import (
    NO_SIDECAR,
    TMP_MOUNT,
    TMP_VOLUME,
    TTL_AFTER_FINISHED,
    container_security_context,
    gpu_scheduling,
    mlflow_env,
    pod_security_context,
    resource_requirements,
    tracing_env,
)
from maestro.render.secrets import secret_env
from maestro.serialize import dump

COMPONENT = "training"
LAUNCHER_COMPONENT = "training-launcher"
BACKOFF_LIMIT = 2  # a transient node or network failure gets a retry; a bug does not get ten
HISTORY_LIMIT = 3  # CronJob runs kept, successful and failed alike
LAUNCHER_DEADLINE = 600  # `kubectl create` takes seconds; a launcher stuck longer is broken
LAUNCHER_RESOURCES = Resources(cpu="50m", memory="128Mi")
JOB_FILE = "job.yaml"
JOB_DIR = "/job"


class Kubeflow(NamedTuple):
    kind: str
    plural: str  # the resource name RBAC speaks of
    replica_field: str
    container: str  # the operator finds the training container by this name
    lead: str  # the replica type that coordinates the workers


KUBEFLOW = {
    "pytorch": Kubeflow("PyTorchJob", "pytorchjobs", "pytorchReplicaSpecs", "pytorch", "Master"),
    "huggingface": Kubeflow("PyTorchJob", "pytorchjobs", "pytorchReplicaSpecs", "pytorch", "Master"),
    "tensorflow": Kubeflow("TFJob", "tfjobs", "tfReplicaSpecs", "tensorflow", "Chief"),
    "xgboost": Kubeflow("XGBoostJob", "xgboostjobs", "xgbReplicaSpecs", "xgboost", "Master"),
}


def render(spec: Spec, ctx: Context) -> list[Resource]:
    training = spec.spec.training
    if training is None:
        return []
    kubeflow = _kubeflow_kind(spec)
    if kubeflow is None:
        job = obj("batch/v1", "Job", _train_name(spec), _job_spec(spec, ctx))
        if training.schedule is None:
            return [job]
        # The CronJob's history limits decide how long runs are kept; a TTL would delete
        # them first.
        job_spec = {k: v for k, v in job["spec"].items() if k != "ttlSecondsAfterFinished"}
        return [_cronjob(spec, ctx, COMPONENT, job_spec)]
    job = _kubeflow_job(spec, ctx, kubeflow)
    if training.schedule is None:
        return [job]
    return _launcher(spec, ctx, kubeflow, job)


def _train_name(spec: Spec) -> str:
    return f"{name_of(spec)}-train"


def _kubeflow_kind(spec: Spec) -> Kubeflow | None:
    """The Kubeflow job kind, when the run is distributed or on GPUs and the framework has one."""
    training = spec.spec.training
    assert training is not None
    if training.workers > 1 or training.resources.gpu > 0:
        return KUBEFLOW.get(spec.spec.framework)
    return None


def _env(spec: Spec, ctx: Context) -> list[dict[str, str]]:
    return mlflow_env(spec, ctx) + tracing_env(spec, ctx) + secret_env(spec)


def _pod_template(spec: Spec, ctx: Context, container_name: str, restart_policy: str | None) -> dict[str, Any]:
    """The training pod: restricted, writable only under /tmp, on a GPU node when it needs one.

    Built afresh on every call: templates must not share dicts (YAML would write aliases,
    and a later patch of one replica type would change the other).
    """
    training = spec.spec.training
    assert training is not None
    container: dict[str, Any] = {"name": container_name, "image": training.image}
    if training.command:  # without one the image's entrypoint runs (Kubernetes semantics)
        container["command"] = list(training.command)
    if training.args:
        container["args"] = list(training.args)
    container.update(
        {
            "env": _env(spec, ctx),
            "resources": resource_requirements(training.resources, ctx.platform),
            "securityContext": container_security_context(),
            "volumeMounts": [copy.deepcopy(TMP_MOUNT)],
        }
    )
    pod: dict[str, Any] = {"serviceAccountName": service_account_name(spec)}
    if restart_policy is not None:  # Kubeflow sets the pod's from the replica spec's
        pod["restartPolicy"] = restart_policy
    pod.update(
        {
            "securityContext": pod_security_context(),
            "containers": [container],
            "volumes": [copy.deepcopy(TMP_VOLUME)],
            **gpu_scheduling(training.resources, ctx.platform),
        }
    )
    return {"metadata": {"labels": {**pod_labels(spec, ctx, COMPONENT), **NO_SIDECAR}}, "spec": pod}


def _job_spec(spec: Spec, ctx: Context) -> dict[str, Any]:
    training = spec.spec.training
    assert training is not None
    out: dict[str, Any] = {}
    if training.workers > 1:
        # One pod per index, all at once; each finds its shard through JOB_COMPLETION_INDEX.
        out.update(completionMode="Indexed", completions=training.workers, parallelism=training.workers)
    out.update(
        {
            "backoffLimit": BACKOFF_LIMIT,
            "activeDeadlineSeconds": training.timeout_minutes * 60,
            "ttlSecondsAfterFinished": TTL_AFTER_FINISHED,
            # Never: a failed pod stays for its logs and the Job starts a new one.
            "template": _pod_template(spec, ctx, "train", "Never"),
        }
    )
    return out


def _replica_counts(kubeflow: Kubeflow, workers: int) -> dict[str, int]:
    # TensorFlow runs fine without a chief (worker 0 coordinates); the PyTorch and XGBoost
    # operators require their Master.
    if kubeflow.lead == "Chief" and workers == 1:
        return {"Worker": 1}
    counts = {kubeflow.lead: 1}
    if workers > 1:
        counts["Worker"] = workers - 1
    return counts


def _kubeflow_job(spec: Spec, ctx: Context, kubeflow: Kubeflow) -> Resource:
    training = spec.spec.training
    assert training is not None
    replicas = {
        # OnFailure: the container restarts in place, keeping its pod (and the peers'
        # view of it); the run policy's backoffLimit bounds the restarts.
        replica_type: {
            "replicas": count,
            "restartPolicy": "OnFailure",
            "template": _pod_template(spec, ctx, kubeflow.container, None),
        }
        for replica_type, count in _replica_counts(kubeflow, training.workers).items()
    }
    run_policy = {
        "cleanPodPolicy": "Running",  # stragglers of a finished run give their GPUs back
        "backoffLimit": BACKOFF_LIMIT,
        "activeDeadlineSeconds": training.timeout_minutes * 60,
        "ttlSecondsAfterFinished": TTL_AFTER_FINISHED,
    }
    return obj(
        "kubeflow.org/v1", kubeflow.kind, _train_name(spec), {"runPolicy": run_policy, kubeflow.replica_field: replicas}
    )


def _cronjob(spec: Spec, ctx: Context, component: str, job_spec: dict[str, Any]) -> Resource:
    training = spec.spec.training
    assert training is not None and training.schedule is not None
    return obj(
        "batch/v1",
        "CronJob",
        _train_name(spec),
        {
            "schedule": training.schedule,  # no timeZone: the spec's schedule is in the cluster's
            "concurrencyPolicy": "Forbid",  # a slow run is not joined by the next one
            "successfulJobsHistoryLimit": HISTORY_LIMIT,
            "failedJobsHistoryLimit": HISTORY_LIMIT,
            "jobTemplate": {"metadata": {"labels": standard_labels(spec, ctx, component)}, "spec": job_spec},
        },
    )


def _launcher(spec: Spec, ctx: Context, kubeflow: Kubeflow, job: Resource) -> list[Resource]:
    """ConfigMap with the job, CronJob that creates it, and the launcher's RBAC.

    Each run creates a new job (`generateName`); the job's own TTL removes it a day after
    it finishes. `concurrencyPolicy: Forbid` covers only the launcher, which is done in
    seconds: runs longer than the schedule's period can overlap, up to the job's deadline.
    """
    name = _train_name(spec)
    config_map, launcher = f"{name}-job", f"{name}-launcher"
    # The pipeline's stamping and overlay transforms do not reach into this text, so the
    # manifest carries its labels itself; `dump` writes it byte-for-byte the same each time.
    manifest = {**job, "metadata": {"generateName": f"{name}-", "labels": standard_labels(spec, ctx, COMPONENT)}}
    cm = obj("v1", "ConfigMap", config_map, data={JOB_FILE: dump(manifest)})

    container = {
        "name": "launcher",
        "image": ctx.platform.images.kubectl,
        "command": ["kubectl", "create", "-f", f"{JOB_DIR}/{JOB_FILE}"],
        # kubectl caches API discovery under $HOME/.kube; the root filesystem is read-only.
        "env": [{"name": "HOME", "value": "/tmp"}],
        "resources": resource_requirements(LAUNCHER_RESOURCES, ctx.platform),
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "job", "mountPath": JOB_DIR, "readOnly": True}, copy.deepcopy(TMP_MOUNT)],
    }
    pod = {
        "serviceAccountName": launcher,
        "automountServiceAccountToken": True,  # the one pod that talks to the API, so it mounts the token
        "restartPolicy": "Never",
        "securityContext": pod_security_context(),
        "containers": [container],
        "volumes": [{"name": "job", "configMap": {"name": config_map}}, copy.deepcopy(TMP_VOLUME)],
    }
    job_spec = {
        "backoffLimit": BACKOFF_LIMIT,
        "activeDeadlineSeconds": LAUNCHER_DEADLINE,
        "template": {"metadata": {"labels": {**pod_labels(spec, ctx, LAUNCHER_COMPONENT), **NO_SIDECAR}}, "spec": pod},
    }
    cron = _cronjob(spec, ctx, LAUNCHER_COMPONENT, job_spec)

    account = obj("v1", "ServiceAccount", launcher, automountServiceAccountToken=False)
    role = obj(
        "rbac.authorization.k8s.io/v1",
        "Role",
        launcher,
        rules=[
            # `create` is checked before the object has a name, so RBAC cannot narrow it with
            # resourceNames: this is as tight as Kubernetes allows, one verb on one resource.
            {"apiGroups": ["kubeflow.org"], "resources": [kubeflow.plural], "verbs": ["create"]},
        ],
    )
    binding = obj(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        launcher,
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": launcher},
        subjects=[{"kind": "ServiceAccount", "name": launcher, "namespace": ctx.namespace}],
    )
    return [cm, cron, account, role, binding]
