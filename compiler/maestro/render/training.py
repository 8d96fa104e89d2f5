"""training: the model's training run, once or on a schedule.

Which object runs it:
- `workers > 1` or GPUs, for a framework that config `training.kubeflow` maps to a Kubeflow
  kind: a **TrainJob** (Kubeflow Trainer v2, `trainer.kubeflow.org/v1alpha1`) referencing the
  configured ClusterTrainingRuntime — by default pytorch and huggingface on
  `torch-distributed`, xgboost on `xgboost-distributed`, the runtimes Kubeflow Trainer v2.3
  installs — or a Training Operator v1 kind (PyTorchJob, TFJob, XGBoostJob) where config
  selects one; TensorFlow has no Trainer v2 runtime and stays a TFJob.
- otherwise a Job: Indexed with one pod per worker when `workers > 1` (each pod reads its
  shard from JOB_COMPLETION_INDEX), else a plain one.

How it is started (render/launch.py says why a run is never an object Argo CD owns):
- once: an Argo CD Sync hook (wave 0) launches the run when its manifest changed;
- on `schedule`: a batch Job runs as the jobTemplate of CronJob `<model>-train`; a Kubeflow
  kind is created by CronJob `<model>-train` (`kubectl create` of the manifest, which travels
  in a ConfigMap).

TrainJob, as the Trainer's API has it (kubeflow/trainer v2.3.0,
pkg/apis/trainer/v1alpha1/trainjob_types.go; docs/operator-guides/runtime-patches.md):
`trainer` carries the image, command/args (only when the spec has them: else the image's
entrypoint, as with any container), env, `numNodes` = workers and `resourcesPerNode`; the
runtime adds the distributed environment (torch: PET_NNODES, PET_NODE_RANK,
PET_MASTER_ADDR/PORT, PET_NPROC_PER_NODE = GPUs per node, else CPUs; xgboost: DMLC_*). The
rest of the pod comes through one `runtimePatches` entry, manager `maestro.ml/renderer`, on
the runtime's replicated job `node` and its container `node`: pod labels, service account,
pod and container security context, volumes and mounts (/tmp, /dev/shm), GPU node selector
and tolerations. The Trainer rejects env on the `node` container there (env goes in
`trainer.env`), and the patch API has no priorityClassName. Note for a framework moving from
a v1 kind: the environment the code reads changes (XGBoostJob set MASTER_ADDR, RANK,
WORLD_SIZE; the xgboost runtime sets DMLC_TRACKER_URI, DMLC_TASK_ID, DMLC_NUM_WORKER). And
an overlay's `images` does not reach `trainer.image`, exactly as in Kustomize, whose image
transformer rewrites images in container lists only (checked with kubectl kustomize 5.5): an
environment gets another training image through the spec's `environments` or the overlay's
`defaults`/`enforce`.

Every run is named `<model>-train`; the spec's name-length check keeps it and the
launcher's `<model>-train-launcher` within the 52 characters a CronJob name may have (and a
TrainJob's pods' `<name>-node-0-0` host names within 63).
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

from maestro.frontend.spec import Spec
from maestro.render import Context, Resource, launch, name_of, obj, pod_labels, service_account_name
from maestro.render.pod import (
    NO_SIDECAR,
    TMP_MOUNT,
    TMP_VOLUME,
    TTL_AFTER_FINISHED,
    container_security_context,
    gpu_scheduling,
    mlflow_env,
    needs_shm,
    pod_security_context,
    resource_requirements,
    shm_mount,
    shm_volume,
    tracing_env,
)
from maestro.render.secrets import secret_env
from maestro.resolve.config import TRAIN_JOB, TrainingOperator

COMPONENT = "training"
BACKOFF_LIMIT = 2  # a transient node or network failure gets a retry; a bug does not get ten
TRAINER_API = "trainer.kubeflow.org/v1alpha1"
RUNTIME_KIND = "ClusterTrainingRuntime"
PATCH_MANAGER = "maestro.ml/renderer"  # a domain-prefixed path, as the Trainer's webhook requires
NODE = "node"  # the replicated job, and its container, of every Trainer v2 default runtime


class Kubeflow(NamedTuple):
    """A Training Operator v1 kind."""

    replica_field: str
    container: str  # the operator finds the training container by this name
    lead: str  # the replica type that coordinates the workers


KUBEFLOW_V1 = {
    "PyTorchJob": Kubeflow("pytorchReplicaSpecs", "pytorch", "Master"),
    "TFJob": Kubeflow("tfReplicaSpecs", "tensorflow", "Chief"),
    "XGBoostJob": Kubeflow("xgbReplicaSpecs", "xgboost", "Master"),
}


def render(spec: Spec, ctx: Context) -> list[Resource]:
    training = spec.spec.training
    if training is None:
        return []
    operator = operator_for(spec, ctx)
    if operator is None:
        job = obj("batch/v1", "Job", train_name(spec), _job_spec(spec, ctx))
        if training.schedule is not None:
            # The CronJob's history limits decide how long runs are kept; a TTL would
            # delete them first.
            job_spec = {k: v for k, v in job["spec"].items() if k != "ttlSecondsAfterFinished"}
            return [launch.cronjob(spec, ctx, train_name(spec), training.schedule, COMPONENT, job_spec)]
        run = job
    elif operator.kind == TRAIN_JOB:
        run = _train_job(spec, ctx, operator)
    else:
        run = _kubeflow_job(spec, ctx, operator.kind)
    if training.schedule is None:
        return launch.once(spec, ctx, run, COMPONENT)
    return launch.scheduled(spec, ctx, run, COMPONENT, training.schedule)


def train_name(spec: Spec) -> str:
    return f"{name_of(spec)}-train"


def operator_for(spec: Spec, ctx: Context) -> TrainingOperator | None:
    """The Kubeflow kind that runs this training (config `training.kubeflow`), or None for a Job."""
    training = spec.spec.training
    assert training is not None
    return ctx.platform.training.operator(spec.spec.framework, training.workers, training.resources.gpu)


def _env(spec: Spec, ctx: Context) -> list[dict[str, Any]]:
    return mlflow_env(spec, ctx) + tracing_env(spec, ctx) + secret_env(spec)


def _labels(spec: Spec, ctx: Context) -> dict[str, str]:
    return {**pod_labels(spec, ctx, COMPONENT), **NO_SIDECAR}


def _volumes(spec: Spec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, mounts): /tmp for a read-only root, and /dev/shm where PyTorch or NCCL need it."""
    training = spec.spec.training
    assert training is not None
    volumes, mounts = [copy.deepcopy(TMP_VOLUME)], [copy.deepcopy(TMP_MOUNT)]
    if needs_shm(spec.spec.framework, training.resources):
        volumes.append(shm_volume(training.resources))
        mounts.append(shm_mount())
    return volumes, mounts


def _pod_template(spec: Spec, ctx: Context, container_name: str, restart_policy: str | None) -> dict[str, Any]:
    """The training pod: restricted, writable only under /tmp (and /dev/shm), on a GPU node
    when it needs one.

    Built afresh on every call: templates must not share dicts (YAML would write aliases,
    and a later patch of one replica type would change the other).
    """
    training = spec.spec.training
    assert training is not None
    volumes, mounts = _volumes(spec)
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
            "volumeMounts": mounts,
        }
    )
    pod: dict[str, Any] = {"serviceAccountName": service_account_name(spec)}
    if restart_policy is not None:  # Kubeflow sets the pod's from the replica spec's
        pod["restartPolicy"] = restart_policy
    pod.update(
        {
            "securityContext": pod_security_context(),
            "containers": [container],
            "volumes": volumes,
            **gpu_scheduling(training.resources, ctx.platform),
        }
    )
    return {"metadata": {"labels": _labels(spec, ctx)}, "spec": pod}


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
    if training.schedule is None:
        # A launched run stays until a new definition supersedes it (render/launch.py):
        # a TTL would only make the next sync run it again.
        del out["ttlSecondsAfterFinished"]
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


def _kubeflow_job(spec: Spec, ctx: Context, kind: str) -> Resource:
    training = spec.spec.training
    assert training is not None
    kubeflow = KUBEFLOW_V1[kind]
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
    run_policy: dict[str, Any] = {
        "cleanPodPolicy": "Running",  # stragglers of a finished run give their GPUs back
        "backoffLimit": BACKOFF_LIMIT,
        "activeDeadlineSeconds": training.timeout_minutes * 60,
    }
    if training.schedule is not None:  # launched once, a run stays until superseded
        run_policy["ttlSecondsAfterFinished"] = TTL_AFTER_FINISHED
    return obj("kubeflow.org/v1", kind, train_name(spec), {"runPolicy": run_policy, kubeflow.replica_field: replicas})


def _train_job(spec: Spec, ctx: Context, operator: TrainingOperator) -> Resource:
    """A Kubeflow Trainer v2 TrainJob on the configured ClusterTrainingRuntime (module docstring)."""
    training = spec.spec.training
    assert training is not None and operator.runtime is not None
    trainer: dict[str, Any] = {"image": training.image}
    if training.command:
        trainer["command"] = list(training.command)
    if training.args:
        trainer["args"] = list(training.args)
    trainer.update(
        {
            "env": _env(spec, ctx),
            "numNodes": training.workers,
            "resourcesPerNode": resource_requirements(training.resources, ctx.platform),
        }
    )
    volumes, mounts = _volumes(spec)
    pod: dict[str, Any] = {
        "serviceAccountName": service_account_name(spec),
        "securityContext": pod_security_context(),
        "containers": [{"name": NODE, "securityContext": container_security_context(), "volumeMounts": mounts}],
        "volumes": volumes,
        **gpu_scheduling(training.resources, ctx.platform),
    }
    node = {"name": NODE, "template": {"spec": {"template": {"metadata": {"labels": _labels(spec, ctx)}, "spec": pod}}}}
    patch = {"manager": PATCH_MANAGER, "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [node]}}}}
    # No TTL: TrainJob has none in v2.3 (kubeflow/trainer#4052); a scheduled run's
    # TrainJobs stay until someone deletes them, a launched one until it is superseded.
    return obj(
        TRAINER_API,
        "TrainJob",
        train_name(spec),
        {
            "runtimeRef": {"apiGroup": TRAINER_API.partition("/")[0], "kind": RUNTIME_KIND, "name": operator.runtime},
            "trainer": trainer,
            "runtimePatches": [patch],
            "activeDeadlineSeconds": training.timeout_minutes * 60,
        },
    )
