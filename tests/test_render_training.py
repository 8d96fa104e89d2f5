"""render/training.py on the example specs: kinds, launchers, TrainJob fields, schemas,
determinism, security, pod hardening."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import MODELS, example, example_workspace
from maestro.frontend.spec import Spec
from maestro.output.embed import embed
from maestro.output.verify import Verifier
from maestro.render import Context, airflow
from maestro.render.launch import LAUNCHED_BY, MANIFEST_IN
from maestro.render.training import render
from maestro.resolve.config import Training, TrainingOperator
from maestro.serialize import dump

ENVS = ["dev", "staging", "prod"]
HOOK = "argocd.argoproj.io/hook"
HOOK_DELETE_POLICY = "argocd.argoproj.io/hook-delete-policy"
ONCE = ["ConfigMap", "Job", "ServiceAccount", "Role", "RoleBinding"]
SCHEDULED = ["ConfigMap", "CronJob", "ServiceAccount", "Role", "RoleBinding"]
GPU_NODES = {"nvidia.com/gpu.present": "true"}


def effective(model: str, env: str = "prod") -> tuple[Spec, Context]:
    return example(model, env)  # type: ignore[no-any-return]


def with_training(spec: Spec, **changes: Any) -> Spec:
    assert spec.spec.training is not None
    training = spec.spec.training.model_copy(update=changes)
    return spec.model_copy(update={"spec": spec.spec.model_copy(update={"training": training})})


def with_gpu(spec: Spec, gpu: int) -> Spec:
    assert spec.spec.training is not None
    return with_training(spec, resources=spec.spec.training.resources.model_copy(update={"gpu": gpu}))


def with_kubeflow(ctx: Context, **mapping: dict[str, Any] | None) -> Context:
    """The context with config `training.kubeflow` entries replaced."""
    current = {k: (v.model_dump() if v else None) for k, v in ctx.platform.training.kubeflow.items()}
    training = Training.model_validate({"kubeflow": {**current, **mapping}})
    platform = ctx.platform.model_copy(update={"training": training})
    return Context(env=ctx.env, platform=platform, namespace=ctx.namespace, source=ctx.source, sync=ctx.sync)


def ids(resources: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["kind"], r["metadata"]["name"]) for r in resources]


def kinds(resources: list[dict[str, Any]]) -> list[str]:
    return [r["kind"] for r in resources]


def named(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


def run_of(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """The launched run (the object a launcher creates)."""
    [run] = [r for r in resources if MANIFEST_IN in r["metadata"].get("annotations", {})]
    return run


def pod_specs(node: Any) -> Iterator[dict[str, Any]]:
    """Every pod spec anywhere in an object (Job, CronJob, Kubeflow replica templates, TrainJob patches)."""
    if isinstance(node, dict):
        if "containers" in node:
            yield node
        for value in node.values():
            yield from pod_specs(value)
    elif isinstance(node, list):
        for item in node:
            yield from pod_specs(item)


def node_patch(train_job: dict[str, Any]) -> dict[str, Any]:
    """The pod template of the `node` replicated job in the TrainJob's one runtime patch."""
    [patch] = train_job["spec"]["runtimePatches"]
    [node] = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    assert node["name"] == "node"
    return node["template"]["spec"]["template"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier(example_workspace().platform.kubernetes_version)


# ------------------------------------------------------------------ kinds per example


@pytest.mark.parametrize(
    ("model", "env", "expected"),
    [
        ("image-classifier", "prod", ONCE + ["TrainJob"]),  # pytorch, 4 workers on GPUs, no schedule
        ("image-classifier", "dev", ONCE + ["TrainJob"]),  # 1 worker, but a GPU
        ("fraud-detector", "prod", SCHEDULED + ["TrainJob"]),  # xgboost, 2 workers, weekly
        ("recsys-ranker", "prod", SCHEDULED + ["TFJob"]),  # tensorflow: no Trainer v2 runtime
        ("recsys-ranker", "dev", ["CronJob"]),  # 1 worker, no GPU: a batch Job
        ("demand-forecaster", "prod", ["CronJob"]),
        # no training.schedule: its pipeline schedules the run (render/airflow.py turns the
        # CronJob rendered from pipeline.schedule into the DAG's train task)
        ("churn-predictor", "prod", ONCE + ["Job"]),
        ("sentiment-bert", "prod", []),  # serving only
    ],
)
def test_kinds_per_example(model: str, env: str, expected: list[str]) -> None:
    out = render(*effective(model, env))
    assert kinds(out) == expected
    for r in out:
        name = r["metadata"]["name"]
        assert name in (f"{model}-train", f"{model}-train-job", f"{model}-train-launcher"), name


# ------------------------------------------------------------------ TrainJob


def test_image_classifier_is_a_trainjob_on_torch_distributed(verifier: Verifier) -> None:
    spec, ctx = effective("image-classifier")
    job = run_of(render(spec, ctx))
    assert (job["apiVersion"], job["kind"], job["metadata"]["name"]) == (
        "trainer.kubeflow.org/v1alpha1",
        "TrainJob",
        "image-classifier-train",
    )
    assert job["spec"]["runtimeRef"] == {
        "apiGroup": "trainer.kubeflow.org",
        "kind": "ClusterTrainingRuntime",
        "name": "torch-distributed",
    }
    assert job["spec"]["activeDeadlineSeconds"] == 1440 * 60
    trainer = job["spec"]["trainer"]
    assert trainer["image"] == "ghcr.io/acme-ml/vision/vit-train:2.0.1"
    assert trainer["command"] == ["torchrun", "--nproc-per-node=1", "-m", "vit.train"]
    assert "args" not in trainer
    assert trainer["numNodes"] == 4
    assert "numProcPerNode" not in trainer  # the runtime's "auto": one process per GPU
    assert trainer["resourcesPerNode"] == {
        "requests": {"cpu": "8", "memory": "48Gi", "nvidia.com/gpu": "1"},
        "limits": {"memory": "48Gi", "nvidia.com/gpu": "1"},
    }
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in trainer["env"]}
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.mlflow.svc:5000"
    assert env["MLFLOW_EXPERIMENT_NAME"] == "image-classifier-vit"
    assert env["AWS_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": "image-classifier-object-store", "key": "access_key"}}
    assert not {"PET_NNODES", "PET_NODE_RANK", "PET_MASTER_ADDR"} & env.keys()  # the torch plugin's to set

    [patch] = job["spec"]["runtimePatches"]
    assert patch["manager"] == "maestro.ml/renderer"
    template = node_patch(job)
    assert template["metadata"]["labels"] == {
        "app.kubernetes.io/name": "image-classifier",
        "app.kubernetes.io/component": "training",
        "maestro.ml/team": "vision",
        "maestro.ml/model": "image-classifier",
        "maestro.ml/env": "prod",
        "sidecar.istio.io/inject": "false",
    }
    pod = template["spec"]
    assert pod["serviceAccountName"] == "image-classifier"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [container] = pod["containers"]
    assert container["name"] == "node"  # the container of every Trainer v2 default runtime
    assert set(container) == {"name", "securityContext", "volumeMounts"}  # env on `node` is refused there
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["volumeMounts"] == [
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "dshm", "mountPath": "/dev/shm"},
    ]
    assert pod["volumes"] == [
        {"name": "tmp", "emptyDir": {}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "48Gi"}},
    ]
    assert pod["nodeSelector"] == GPU_NODES
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert "ttlSecondsAfterFinished" not in str(job)  # TrainJob v2.3 has no TTL
    assert verifier.verify(job) == []


def test_xgboost_trainjob_on_the_xgboost_runtime_without_shm(verifier: Verifier) -> None:
    job = run_of(render(*effective("fraud-detector")))
    assert job["kind"] == "TrainJob"
    assert job["spec"]["runtimeRef"]["name"] == "xgboost-distributed"
    assert job["spec"]["trainer"]["numNodes"] == 2
    pod = node_patch(job)["spec"]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {}}]  # CPU xgboost: no PyTorch, no NCCL
    assert "nodeSelector" not in pod and "tolerations" not in pod
    assert verifier.verify(job) == []


def test_trainjob_without_command_runs_the_image_entrypoint() -> None:
    spec, ctx = effective("image-classifier")
    spec = spec.model_copy(
        update={
            "spec": spec.spec.model_copy(
                update={"training": spec.spec.training.model_construct(**{**dict(spec.spec.training), "command": []})}
            )
        }
    )  # type: ignore[union-attr]
    trainer = run_of(render(spec, ctx))["spec"]["trainer"]
    assert "command" not in trainer and "args" not in trainer


def test_runtime_comes_from_config() -> None:
    spec, ctx = effective("image-classifier")
    ctx = with_kubeflow(ctx, pytorch={"kind": "TrainJob", "runtime": "torch-distributed-gpu"})
    assert run_of(render(spec, ctx))["spec"]["runtimeRef"]["name"] == "torch-distributed-gpu"


# ------------------------------------------------------------------ Training Operator v1, selectable


def test_pytorchjob_when_config_selects_training_operator_v1(verifier: Verifier) -> None:
    spec, ctx = effective("image-classifier")
    job = run_of(render(spec, with_kubeflow(ctx, pytorch={"kind": "PyTorchJob"})))
    assert (job["apiVersion"], job["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert {k: v["replicas"] for k, v in replicas.items()} == {"Master": 1, "Worker": 3}
    for replica in replicas.values():
        pod = replica["template"]["spec"]
        [container] = pod["containers"]
        assert container["name"] == "pytorch"
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]
        assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "48Gi"}} in pod["volumes"]
        assert pod["nodeSelector"] == GPU_NODES
        assert "restartPolicy" not in pod  # the replica spec's restartPolicy rules
    # Each replica type has its own template: no shared dicts (YAML aliases, patch bleed).
    assert replicas["Master"]["template"] is not replicas["Worker"]["template"]
    # Launched once, the run stays until superseded: no TTL.
    assert "ttlSecondsAfterFinished" not in job["spec"]["runPolicy"]
    assert verifier.verify(job) == []


def test_single_gpu_pytorchjob_has_only_a_master() -> None:
    spec, ctx = effective("image-classifier", "dev")
    job = run_of(render(spec, with_kubeflow(ctx, pytorch={"kind": "PyTorchJob"})))
    assert {k: v["replicas"] for k, v in job["spec"]["pytorchReplicaSpecs"].items()} == {"Master": 1}


def test_xgboostjob_when_config_selects_it() -> None:
    spec, ctx = effective("fraud-detector")
    job = run_of(render(spec, with_kubeflow(ctx, xgboost={"kind": "XGBoostJob"})))
    assert job["kind"] == "XGBoostJob"
    replicas = job["spec"]["xgbReplicaSpecs"]
    assert {k: v["replicas"] for k, v in replicas.items()} == {"Master": 1, "Worker": 1}
    assert job["spec"]["runPolicy"]["ttlSecondsAfterFinished"] > 0  # scheduled: a new run each time


def test_tfjob_for_tensorflow() -> None:
    job = run_of(render(*effective("recsys-ranker")))
    assert job["kind"] == "TFJob"
    replicas = job["spec"]["tfReplicaSpecs"]
    assert {k: v["replicas"] for k, v in replicas.items()} == {"Chief": 1, "Worker": 2}
    assert {r["template"]["spec"]["containers"][0]["name"] for r in replicas.values()} == {"tensorflow"}


def test_single_gpu_tensorflow_has_only_a_worker() -> None:
    spec, ctx = effective("recsys-ranker")
    job = run_of(render(with_gpu(with_training(spec, workers=1, schedule=None), 1), ctx))
    assert {k: v["replicas"] for k, v in job["spec"]["tfReplicaSpecs"].items()} == {"Worker": 1}


def test_unmapped_framework_runs_an_indexed_job(verifier: Verifier) -> None:
    spec, ctx = effective("image-classifier")
    job = run_of(render(spec, with_kubeflow(ctx, pytorch=None)))
    assert (job["kind"], job["spec"]["completionMode"], job["spec"]["completions"]) == ("Job", "Indexed", 4)
    assert verifier.verify(job) == []


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"kind": "TrainJob"}, "a TrainJob needs `runtime`"),
        ({"kind": "PyTorchJob", "runtime": "torch-distributed"}, "`runtime` is for kind TrainJob"),
        ({"kind": "TFJob"}, "a TFJob runs only tensorflow"),
    ],
)
def test_config_refuses_a_kind_that_cannot_run_the_framework(mapping: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Training.model_validate({"kubeflow": {"pytorch": mapping}})
    assert TrainingOperator(kind="TrainJob", runtime="torch-distributed").runtime == "torch-distributed"


# ------------------------------------------------------------------ one-shot runs: launched by a hook


def test_one_shot_run_is_launched_by_a_sync_hook_beside_the_workloads() -> None:
    spec, ctx = effective("image-classifier")
    out = render(spec, ctx)
    run = run_of(out)
    assert run["metadata"]["annotations"] == {
        LAUNCHED_BY: "Job/image-classifier-train-launcher",
        MANIFEST_IN: "ConfigMap/image-classifier-train-job",
    }
    launcher = named(out, "Job", "image-classifier-train-launcher")
    # Sync phase, wave 0 (the workloads'): a PostSync hook would wait for every resource to be
    # Healthy, so a new model whose InferenceService has no version to load yet never trains.
    assert launcher["metadata"]["annotations"] == {
        HOOK: "Sync",
        HOOK_DELETE_POLICY: "BeforeHookCreation",
        "argocd.argoproj.io/sync-wave": "0",
    }
    assert "ttlSecondsAfterFinished" not in launcher["spec"]
    pod = launcher["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "image-classifier-train-launcher"
    assert pod["automountServiceAccountToken"] is True
    assert pod["restartPolicy"] == "Never"
    [supersede] = pod["initContainers"]
    assert supersede["image"] == ctx.platform.images.kubectl
    assert supersede["command"] == [
        "kubectl",
        "delete",
        "trainjobs.trainer.kubeflow.org",
        "--field-selector=metadata.name=image-classifier-train",
        "--selector=maestro.ml/definition!=$(DEFINITION)",
        "--cascade=foreground",
        "--ignore-not-found",
        "--wait",
    ]
    assert {
        "name": "DEFINITION",
        "valueFrom": {"configMapKeyRef": {"name": "image-classifier-train-job", "key": "definition"}},
    } in supersede["env"]
    [apply] = pod["containers"]
    assert apply["command"] == [
        "kubectl",
        "apply",
        "--server-side",
        "--field-manager=maestro-launcher",
        "-f",
        "/job/job.yaml",
    ]
    assert {"name": "job", "mountPath": "/job", "readOnly": True} in apply["volumeMounts"]
    assert {"name": "job", "configMap": {"name": "image-classifier-train-job"}} in pod["volumes"]
    assert named(out, "ConfigMap", "image-classifier-train-job")["data"] == {"job.yaml": "", "definition": ""}
    assert named(out, "Role", "image-classifier-train-launcher")["rules"] == [
        {"apiGroups": ["trainer.kubeflow.org"], "resources": ["trainjobs"], "verbs": ["create"]},
        {
            "apiGroups": ["trainer.kubeflow.org"],
            "resources": ["trainjobs"],
            "resourceNames": ["image-classifier-train"],
            "verbs": ["get", "list", "watch", "patch", "delete"],
        },
    ]
    binding = named(out, "RoleBinding", "image-classifier-train-launcher")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "image-classifier-train-launcher", "namespace": "vision-prod"}
    ]


def test_one_shot_batch_job_is_launched_too_and_has_no_ttl() -> None:
    spec, ctx = effective("demand-forecaster")
    out = render(with_training(spec, schedule=None), ctx)
    assert kinds(out) == ONCE + ["Job"]
    run = run_of(out)
    assert run["metadata"]["name"] == "demand-forecaster-train"
    assert "ttlSecondsAfterFinished" not in run["spec"]  # gone, the next sync would run it again
    assert run["spec"]["activeDeadlineSeconds"] == 240 * 60
    assert named(out, "Role", "demand-forecaster-train-launcher")["rules"][0] == {
        "apiGroups": ["batch"],
        "resources": ["jobs"],
        "verbs": ["create"],
    }


def test_no_rendered_one_shot_object_is_synced_by_argo_cd() -> None:
    """Every Job and Kubeflow kind in the output is a hook, a CronJob's template, or launched."""
    run_kinds = {"Job", "TrainJob", "PyTorchJob", "TFJob", "XGBoostJob"}
    seen = 0
    for model in MODELS:
        for env in ENVS:
            for r in render(*effective(model, env)):
                if r["kind"] in run_kinds:
                    seen += 1
                    annotations = r["metadata"].get("annotations", {})
                    assert HOOK in annotations or MANIFEST_IN in annotations, (model, env, r["kind"])
                    if HOOK in annotations:
                        assert annotations[HOOK_DELETE_POLICY] == "BeforeHookCreation"
                        assert "ttlSecondsAfterFinished" not in r["spec"]
    assert seen >= 8


# ------------------------------------------------------------------ scheduled runs


def test_scheduled_kubeflow_run_is_created_by_the_cronjob() -> None:
    spec, ctx = effective("recsys-ranker")
    out = render(spec, ctx)
    assert run_of(out)["metadata"]["annotations"][LAUNCHED_BY] == "CronJob/recsys-ranker-train"
    cron = named(out, "CronJob", "recsys-ranker-train")
    assert cron["spec"]["schedule"] == "0 2 * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert "timeZone" not in cron["spec"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"] == ["kubectl", "create", "-f", "/job/job.yaml"]
    assert pod["serviceAccountName"] == "recsys-ranker-train-launcher"
    assert named(out, "Role", "recsys-ranker-train-launcher")["rules"] == [
        {"apiGroups": ["kubeflow.org"], "resources": ["tfjobs"], "verbs": ["create"]}
    ]
    manifest = embed(out)
    [cm] = [r for r in manifest if r["kind"] == "ConfigMap"]
    assert "generateName: recsys-ranker-train-\n" in cm["data"]["job.yaml"]
    assert "definition" not in cm["data"]


def test_demand_forecaster_is_a_cronjob_of_the_batch_job() -> None:
    [cron] = render(*effective("demand-forecaster"))
    assert cron["spec"]["schedule"] == "30 1 * * *"
    job = cron["spec"]["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 240 * 60
    assert "completionMode" not in job
    assert "ttlSecondsAfterFinished" not in job  # the history limits keep runs instead
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["args"] == ["--horizon", "28"]
    assert "tolerations" not in pod and "nodeSelector" not in pod
    assert all(v["name"] != "dshm" for v in pod["volumes"])  # lightgbm on CPUs


def test_churn_predictor_sklearn_is_a_weekly_cronjob() -> None:
    spec, ctx = effective("churn-predictor")
    [cron] = render(airflow.scheduled(spec), ctx)  # on its pipeline's schedule
    assert cron["kind"] == "CronJob" and cron["spec"]["schedule"] == "0 4 * * 1"
    [container] = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example.com/growth/churn-train:0.9.4"


def test_distributed_sklearn_is_an_indexed_job(verifier: Verifier) -> None:
    spec, ctx = effective("churn-predictor")
    job = run_of(render(with_training(spec, workers=3, schedule=None), ctx))
    assert (job["spec"]["completionMode"], job["spec"]["completions"], job["spec"]["parallelism"]) == ("Indexed", 3, 3)
    assert verifier.verify(job) == []


# ------------------------------------------------------------------ pod hardening


def test_gpu_batch_job_selects_gpu_nodes_by_the_gpu_operator_label() -> None:
    spec, ctx = effective("churn-predictor")
    [cron] = render(with_gpu(airflow.scheduled(spec), 1), ctx)
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == GPU_NODES
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}} in pod["volumes"]  # NCCL
    assert {"name": "dshm", "mountPath": "/dev/shm"} in pod["containers"][0]["volumeMounts"]


def test_cpu_pytorch_gets_shm_too() -> None:
    spec, ctx = effective("image-classifier")
    job = run_of(render(with_gpu(spec, 0), ctx))
    pod = node_patch(job)["spec"]
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "48Gi"}} in pod["volumes"]
    assert "nodeSelector" not in pod


# ------------------------------------------------------------------ schemas, determinism, purity


def _all_renders() -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    for model in MODELS:
        for env in ENVS:
            yield model, env, render(*effective(model, env))


def test_every_object_passes_its_schema(verifier: Verifier) -> None:
    checked = 0
    for model, env, out in _all_renders():
        for resource in out:
            assert verifier.verify(resource) == [], (model, env, resource["kind"])
            checked += 1
    assert checked >= 30


@pytest.mark.parametrize("model", MODELS)
def test_rendering_is_deterministic(model: str) -> None:
    first, second = render(*effective(model)), render(*effective(model))
    assert first == second
    assert [dump(r) for r in embed(first)] == [dump(r) for r in embed(second)]


@pytest.mark.parametrize("model", MODELS)
def test_render_does_not_modify_the_spec_or_share_state(model: str) -> None:
    spec, ctx = effective(model)
    before = spec.model_dump()
    first = render(spec, ctx)
    assert spec.model_dump() == before
    pristine = copy.deepcopy(first)
    for resource in first:  # a later stage patching the output must not leak into the next render
        for pod in pod_specs(resource):
            pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
            pod["volumes"][-1]["emptyDir"]["medium"] = "Memory"
            pod.get("tolerations", [{}])[0]["key"] = "changed"
    assert render(spec, ctx) == pristine


def test_every_pod_is_restricted() -> None:
    pods = 0
    for model, env, out in _all_renders():
        for pod in (p for r in out for p in pod_specs(r)):
            pods += 1
            where = (model, env)
            assert pod["securityContext"]["runAsNonRoot"] is True, where
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert all("hostPath" not in v for v in pod.get("volumes", [])), where
            for container in pod["containers"] + pod.get("initContainers", []):
                sc = container["securityContext"]
                assert sc["allowPrivilegeEscalation"] is False, where
                assert sc["capabilities"] == {"drop": ["ALL"]}, where
                assert sc["readOnlyRootFilesystem"] is True, where
    assert pods >= 10


def test_only_launchers_mount_an_api_token_and_their_roles_are_narrow() -> None:
    for model, env, out in _all_renders():
        for resource in out:
            for pod in pod_specs(resource):
                if pod.get("automountServiceAccountToken"):
                    assert pod["serviceAccountName"] == f"{model}-train-launcher", (model, env)
        for role in (r for r in out if r["kind"] in ("Role", "ClusterRole")):
            assert role["kind"] == "Role", (model, env)
            assert "*" not in str(role["rules"])
            for rule in role["rules"]:
                assert len(rule["resources"]) == 1
                assert rule["verbs"] == ["create"] or rule["resourceNames"] == [f"{model}-train"]
        assert not [r for r in out if r["kind"] == "ClusterRoleBinding"]
