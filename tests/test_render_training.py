"""render/training.py on the example specs: kinds, names, schemas, determinism, security."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from ruamel.yaml import YAML

from conftest import example, example_workspace
from maestro.frontend.spec import Spec
from maestro.output.verify import Verifier
from maestro.render import Context
from maestro.render.training import render
from maestro.serialize import dump

MODELS = [
    "churn-predictor",
    "demand-forecaster",
    "fraud-detector",
    "image-classifier",
    "recsys-ranker",
    "sentiment-bert",
]
ENVS = ["dev", "staging", "prod"]
LAUNCHER_KINDS = ["ConfigMap", "CronJob", "ServiceAccount", "Role", "RoleBinding"]


def _workspace() -> Any:
    return example_workspace()


def effective(model: str, env: str = "prod") -> tuple[Spec, Context]:
    return example(model, env)  # type: ignore[no-any-return]


def with_training(spec: Spec, **changes: Any) -> Spec:
    assert spec.spec.training is not None
    training = spec.spec.training.model_copy(update=changes)
    return spec.model_copy(update={"spec": spec.spec.model_copy(update={"training": training})})


def ids(resources: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["kind"], r["metadata"]["name"]) for r in resources]


def by_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [r for r in resources if r["kind"] == kind]
    return found


def embedded_job(resources: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    text = by_kind(resources, "ConfigMap")["data"]["job.yaml"]
    return text, YAML(typ="safe", pure=True).load(text)


def pod_specs(node: Any) -> Iterator[dict[str, Any]]:
    """Every pod spec anywhere in an object (Job, CronJob, Kubeflow replica templates)."""
    if isinstance(node, dict):
        if "containers" in node:
            yield node
        for value in node.values():
            yield from pod_specs(value)
    elif isinstance(node, list):
        for item in node:
            yield from pod_specs(item)


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier(_workspace().platform.kubernetes_version)


# ------------------------------------------------------------------ kinds and names per example


@pytest.mark.parametrize(
    ("model", "env", "expected"),
    [
        ("image-classifier", "prod", [("PyTorchJob", "image-classifier-train")]),
        ("image-classifier", "dev", [("PyTorchJob", "image-classifier-train")]),  # 1 worker, but a GPU
        (
            "recsys-ranker",
            "prod",
            list(
                zip(
                    LAUNCHER_KINDS,
                    ["recsys-ranker-train-job", "recsys-ranker-train"] + ["recsys-ranker-train-launcher"] * 3,
                )
            ),
        ),
        ("recsys-ranker", "dev", [("CronJob", "recsys-ranker-train")]),  # 1 worker, no GPU: a batch Job
        ("demand-forecaster", "prod", [("CronJob", "demand-forecaster-train")]),
        ("churn-predictor", "prod", [("CronJob", "churn-predictor-train")]),
        (
            "fraud-detector",
            "prod",
            list(
                zip(
                    LAUNCHER_KINDS,
                    ["fraud-detector-train-job", "fraud-detector-train"] + ["fraud-detector-train-launcher"] * 3,
                )
            ),
        ),
        ("sentiment-bert", "prod", []),  # serving only
    ],
)
def test_kinds_and_names(model: str, env: str, expected: list[tuple[str, str]]) -> None:
    assert ids(render(*effective(model, env))) == expected


def test_image_classifier_is_a_pytorchjob_with_master_and_workers_on_gpus() -> None:
    spec, ctx = effective("image-classifier")
    [job] = render(spec, ctx)
    assert job["apiVersion"] == "kubeflow.org/v1"
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert {k: v["replicas"] for k, v in replicas.items()} == {"Master": 1, "Worker": 3}
    assert job["spec"]["runPolicy"]["activeDeadlineSeconds"] == 1440 * 60
    for replica in replicas.values():
        pod = replica["template"]["spec"]
        [container] = pod["containers"]
        assert container["name"] == "pytorch"
        assert container["image"] == "ghcr.io/acme-ml/vision/vit-train:2.0.1"
        assert container["command"] == ["torchrun", "--nproc-per-node=1", "-m", "vit.train"]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert container["resources"]["requests"]["nvidia.com/gpu"] == "1"
        assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
        assert pod["nodeSelector"] == {"node.kubernetes.io/accelerator": "nvidia"}
        assert pod["serviceAccountName"] == "image-classifier"
        assert "restartPolicy" not in pod  # the replica spec's restartPolicy rules
        assert replica["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "training"
        env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
        assert env == {
            "MLFLOW_TRACKING_URI": "http://mlflow.mlflow.svc:5000",
            "MLFLOW_EXPERIMENT_NAME": "image-classifier-vit",
            "MAESTRO_MODEL": "image-classifier",
            "MAESTRO_ENV": "prod",
            # tracing (monitoring.tracing) and the spec's Vault-synced secrets
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability.svc:4317",
            "OTEL_SERVICE_NAME": "image-classifier",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,model=image-classifier,team=vision",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.05",
            "AWS_ACCESS_KEY_ID": {"secretKeyRef": {"name": "image-classifier-object-store", "key": "access_key"}},
            "AWS_SECRET_ACCESS_KEY": {"secretKeyRef": {"name": "image-classifier-object-store", "key": "secret_key"}},
        }
    # Each replica type has its own template: no shared dicts (YAML aliases, patch bleed).
    assert replicas["Master"]["template"] is not replicas["Worker"]["template"]


def test_single_gpu_pytorch_has_only_a_master() -> None:
    [job] = render(*effective("image-classifier", "dev"))
    assert {k: v["replicas"] for k, v in job["spec"]["pytorchReplicaSpecs"].items()} == {"Master": 1}


def test_recsys_ranker_tfjob_on_a_schedule_goes_through_the_launcher() -> None:
    spec, ctx = effective("recsys-ranker")
    out = render(spec, ctx)
    _text, job = embedded_job(out)
    assert job["kind"] == "TFJob"
    assert job["metadata"] == {"generateName": "recsys-ranker-train-", "labels": job["metadata"]["labels"]}
    replicas = job["spec"]["tfReplicaSpecs"]
    assert {k: v["replicas"] for k, v in replicas.items()} == {"Chief": 1, "Worker": 2}
    assert {r["template"]["spec"]["containers"][0]["name"] for r in replicas.values()} == {"tensorflow"}

    cron = by_kind(out, "CronJob")
    assert cron["spec"]["schedule"] == "0 2 * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert "timeZone" not in cron["spec"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == ctx.platform.images.kubectl
    assert container["command"] == ["kubectl", "create", "-f", "/job/job.yaml"]
    assert {"name": "job", "configMap": {"name": "recsys-ranker-train-job"}} in pod["volumes"]
    assert {"name": "job", "mountPath": "/job", "readOnly": True} in container["volumeMounts"]
    assert pod["serviceAccountName"] == "recsys-ranker-train-launcher"
    assert pod["automountServiceAccountToken"] is True

    assert by_kind(out, "ServiceAccount")["automountServiceAccountToken"] is False
    assert by_kind(out, "Role")["rules"] == [
        {"apiGroups": ["kubeflow.org"], "resources": ["tfjobs"], "verbs": ["create"]}
    ]
    binding = by_kind(out, "RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "recsys-ranker-train-launcher",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "recsys-ranker-train-launcher", "namespace": "discovery-prod"}
    ]


def test_fraud_detector_xgboostjob_on_a_schedule() -> None:
    out = render(*effective("fraud-detector"))
    _, job = embedded_job(out)
    assert job["apiVersion"] == "kubeflow.org/v1" and job["kind"] == "XGBoostJob"
    replicas = job["spec"]["xgbReplicaSpecs"]
    assert {k: v["replicas"] for k, v in replicas.items()} == {"Master": 1, "Worker": 1}
    assert {r["template"]["spec"]["containers"][0]["name"] for r in replicas.values()} == {"xgboost"}
    assert by_kind(out, "CronJob")["spec"]["schedule"] == "0 3 * * 0"
    assert by_kind(out, "Role")["rules"][0]["resources"] == ["xgboostjobs"]


def test_unscheduled_kubeflow_job_is_emitted_itself() -> None:
    spec, ctx = effective("fraud-detector")
    assert ids(render(with_training(spec, schedule=None), ctx)) == [("XGBoostJob", "fraud-detector-train")]


def test_single_gpu_tensorflow_has_only_a_worker() -> None:
    spec, ctx = effective("recsys-ranker")
    spec = with_training(
        spec, workers=1, schedule=None, resources=spec.spec.training.resources.model_copy(update={"gpu": 1})
    )  # type: ignore[union-attr]
    [job] = render(spec, ctx)
    assert {k: v["replicas"] for k, v in job["spec"]["tfReplicaSpecs"].items()} == {"Worker": 1}


def test_demand_forecaster_is_a_cronjob_of_the_batch_job() -> None:
    [cron] = render(*effective("demand-forecaster"))
    assert cron["apiVersion"] == "batch/v1"
    assert cron["spec"]["schedule"] == "30 1 * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    job = cron["spec"]["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 240 * 60
    assert job["backoffLimit"] <= 3
    assert "completionMode" not in job
    assert "ttlSecondsAfterFinished" not in job  # the history limits keep runs instead
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["args"] == ["--horizon", "28"]
    assert "tolerations" not in pod and "nodeSelector" not in pod


def test_churn_predictor_sklearn_is_a_weekly_cronjob() -> None:
    [cron] = render(*effective("churn-predictor"))
    assert cron["kind"] == "CronJob" and cron["spec"]["schedule"] == "0 4 * * 1"
    [container] = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example.com/growth/churn-train:0.9.4"
    assert "args" not in container


def test_unscheduled_single_pod_run_is_a_plain_job() -> None:
    spec, ctx = effective("demand-forecaster")
    [job] = render(with_training(spec, schedule=None), ctx)
    assert ids([job]) == [("Job", "demand-forecaster-train")]
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    assert job["spec"]["activeDeadlineSeconds"] == 240 * 60


def test_distributed_sklearn_is_an_indexed_job(verifier: Verifier) -> None:
    spec, ctx = effective("churn-predictor")
    [job] = render(with_training(spec, workers=3, schedule=None), ctx)
    assert job["kind"] == "Job"
    assert (job["spec"]["completionMode"], job["spec"]["completions"], job["spec"]["parallelism"]) == ("Indexed", 3, 3)
    assert verifier.verify(job) == []


# ------------------------------------------------------------------ schemas


def _all_renders() -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    for model in MODELS:
        for env in ENVS:
            yield model, env, render(*effective(model, env))


def test_every_object_and_embedded_job_passes_its_schema(verifier: Verifier) -> None:
    checked = 0
    for model, env, out in _all_renders():
        for resource in out:
            assert verifier.verify(resource) == [], (model, env, resource["kind"])
            checked += 1
            if resource["kind"] == "ConfigMap":
                _, job = embedded_job([resource])
                # The API server turns generateName into a name; the verifier wants one.
                assert "name" not in job["metadata"]
                job["metadata"]["name"] = job["metadata"]["generateName"] + "x7k2p"
                assert verifier.verify(job) == [], (model, env, job["kind"])
                checked += 1
    assert checked >= 30


# ------------------------------------------------------------------ determinism and purity


@pytest.mark.parametrize("model", MODELS)
def test_rendering_is_deterministic(model: str) -> None:
    first, second = render(*effective(model)), render(*effective(model))
    assert first == second
    assert [dump(r) for r in first] == [dump(r) for r in second]
    if any(r["kind"] == "ConfigMap" for r in first):
        assert embedded_job(first)[0] == embedded_job(second)[0]


def test_embedded_manifest_text_is_stable() -> None:
    text, job = embedded_job(render(*effective("fraud-detector")))
    assert text == dump(job)  # canonical order: dumping the parsed text gives it back
    assert text.startswith(
        "apiVersion: kubeflow.org/v1\nkind: XGBoostJob\nmetadata:\n  generateName: fraud-detector-train-\n"
    )
    assert "&id" not in text and "*id" not in text  # no YAML aliases
    # The pipeline's stamping does not reach into the text: the manifest carries its labels.
    assert job["metadata"]["labels"]["app.kubernetes.io/name"] == "fraud-detector"


def test_embedded_manifest_survives_a_yaml11_reader() -> None:
    """kubectl reads YAML 1.1, where a plain `on` or `no` is a boolean."""
    spec, ctx = effective("fraud-detector")
    text, job = embedded_job(render(with_training(spec, args=["--shuffle", "on", "--cache", "no"]), ctx))
    assert "- 'on'" in text and "- 'no'" in text
    args = job["spec"]["xgbReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["--shuffle", "on", "--cache", "no"]


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


# ------------------------------------------------------------------ security invariants


def test_every_pod_is_restricted() -> None:
    pods = 0
    for model, env, out in _all_renders():
        objects = list(out)
        if any(r["kind"] == "ConfigMap" for r in out):
            objects.append(embedded_job(out)[1])
        for pod in (p for r in objects for p in pod_specs(r)):
            pods += 1
            where = (model, env)
            assert pod["securityContext"]["runAsNonRoot"] is True, where
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
            for key in ("hostNetwork", "hostPID", "hostIPC"):
                assert not pod.get(key), where
            assert all("hostPath" not in v for v in pod.get("volumes", [])), where
            for container in pod["containers"] + pod.get("initContainers", []):
                sc = container["securityContext"]
                assert sc["allowPrivilegeEscalation"] is False, where
                assert sc["runAsNonRoot"] is True, where
                assert sc["capabilities"] == {"drop": ["ALL"]}, where
                assert not sc.get("privileged"), where
    assert pods >= 10


def test_launcher_rbac_is_one_verb_on_one_resource() -> None:
    for model, env, out in _all_renders():
        for role in (r for r in out if r["kind"] in ("Role", "ClusterRole")):
            assert role["kind"] == "Role", (model, env)
            [rule] = role["rules"]
            assert rule["verbs"] == ["create"], (model, env)
            assert rule["apiGroups"] == ["kubeflow.org"] and len(rule["resources"]) == 1, (model, env)
            assert "*" not in str(rule)
        assert not [r for r in out if r["kind"] == "ClusterRoleBinding"]


def test_only_the_launcher_mounts_an_api_token() -> None:
    for model, env, out in _all_renders():
        for resource in out:
            for pod in pod_specs(resource):
                if pod.get("automountServiceAccountToken"):
                    assert pod["serviceAccountName"] == f"{model}-train-launcher", (model, env)
