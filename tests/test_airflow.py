"""spec.pipeline as an Airflow DAG (render/airflow.py), loaded by Airflow's own DagBag.

Airflow (apache-airflow 3.x with the cncf-kubernetes provider) lives in its own venv,
`.venv-airflow` (built by .ci/run; `MAESTRO_AIRFLOW_PYTHON` names another interpreter): it
would move the main venv's kubernetes, typer and httpx versions and adds ~445 MB. The test
renders with the compiler, then runs tests/tools/airflow_dagbag.py in that interpreter,
which loads the rendered DAG files with `DagBag` and builds each task's pod with the
operator's own `build_pod_request_obj(dry_run=True)`; the assertions compare those pods
with the pods of the Jobs the tree renders.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT, example, example_workspace, require_path
from maestro.frontend.semantics import check_airflow_templating, check_pipeline
from maestro.pipeline import render_model
from maestro.render import airflow
from maestro.render.decorate import pod_templates
from maestro.render.pycode import GeneratedCodeError
from maestro.resolve.config import TrainingOperator

MODEL = "churn-predictor"  # the example with a pipeline
ENVS = ["dev", "staging", "prod"]


def objects(env: str, model: str = MODEL) -> list[dict[str, Any]]:
    spec, _ = example(model, env)
    out, diags = render_model(example_workspace(), env, spec, f"specs/{model}/maestro.yaml")
    assert not diags
    return out


def dag_of(objs: list[dict[str, Any]]) -> str:
    [cm] = [o for o in objs if o["metadata"]["name"] == f"{MODEL}-airflow-dag"]
    text: str = cm["data"][f"{MODEL}.py"]
    return text


def airflow_python() -> Path:
    configured = os.environ.get("MAESTRO_AIRFLOW_PYTHON")
    path = Path(configured) if configured else ROOT / ".venv-airflow" / "bin" / "python"
    return require_path(path, "the Airflow venv (.ci/run builds .venv-airflow)")


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every environment's rendered DAG loaded by Airflow: {env: DagBag report}."""
    python = airflow_python()
    out = {}
    for env in ENVS:
        folder = tmp_path_factory.mktemp(f"dags-{env}")
        (folder / f"{MODEL}.py").write_text(dag_of(objects(env)), encoding="utf-8")
        report = folder.parent / f"report-{env}.json"
        res = subprocess.run(
            [str(python), str(ROOT / "tests" / "tools" / "airflow_dagbag.py"), str(folder), str(report)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
        out[env] = json.loads(report.read_text(encoding="utf-8"))
    return out


@pytest.mark.parametrize("env", ENVS)
def test_dagbag_loads_the_dag_with_its_schedule_and_steps(dagbag: dict[str, Any], env: str) -> None:
    report = dagbag[env]
    assert report["airflow"].startswith("3.") and report["import_errors"] == {}
    dag = report["dags"]["churn_predictor"]
    assert dag["timetable"] == "CronTriggerTimetable" and dag["schedule"] == "0 4 * * 1"
    assert dag["catchup"] is False and dag["max_active_runs"] == 1
    assert dag["tags"] == sorted(["maestro", "growth", env, MODEL])
    tasks = dag["tasks"]
    assert {t: v["upstream"] for t, v in tasks.items()} == {
        "materialize_0": [],
        "train": ["materialize_0"],
        "evaluate": ["train"],
        "promote": ["evaluate"],
    }
    for task in tasks.values():
        assert task["operator"] == "KubernetesJobOperator" and task["module"].startswith("airflow.providers.cncf")
        assert task["wait_until_job_complete"] is True
        assert (task["retries"], task["retry_delay_s"], task["owner"]) == (1, 600.0, "growth")


def rendered_pod(objs: list[dict[str, Any]], kind: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pod template, job spec) of a rendered Job or of a CronJob's Jobs."""
    [obj] = [o for o in objs if (o["kind"], o["metadata"]["name"]) == (kind, name)]
    job = obj["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else obj["spec"]
    return job["template"], job


def assert_same_pod(
    built: dict[str, Any],
    template: dict[str, Any],
    command: list[str] | None = None,
    extra_env: list[dict[str, str]] | None = None,
) -> None:
    """The pod Airflow builds runs what the rendered Job runs."""
    spec, want = built["spec"], template["spec"]
    for field in ("serviceAccountName", "securityContext", "volumes", "tolerations", "nodeSelector", "affinity"):
        assert (spec.get(field) or None) == (want.get(field) or None), field
    [got_c], [want_c] = spec["containers"], want["containers"]
    for field in ("name", "image", "resources", "securityContext", "volumeMounts", "workingDir"):
        assert got_c.get(field) == want_c.get(field), field
    assert got_c["command"] == (command or want_c["command"])
    assert got_c["env"] == want_c.get("env", []) + (extra_env or [])  # secretKeyRefs to the Vault-synced Secrets too
    assert spec.get("initContainers", []) == want.get("initContainers", [])
    labels = {k: v for k, v in built["metadata"]["labels"].items() if k != "airflow_version"}
    assert labels == template["metadata"]["labels"]


@pytest.mark.parametrize("env", ENVS)
def test_tasks_run_the_rendered_jobs_pods(dagbag: dict[str, Any], env: str) -> None:
    objs = objects(env)
    tasks = dagbag[env]["dags"]["churn_predictor"]["tasks"]
    ns = tasks["train"]["namespace"]
    assert ns == f"growth-{env}"
    # train: the pod of the training Job the CronJob would have run (the CronJob is gone)
    assert not [o for o in objs if (o["kind"], o["metadata"]["name"]) == ("CronJob", f"{MODEL}-train")]
    spec, _ = example(MODEL, env)
    scheduled = airflow.scheduled(spec)
    from maestro.pipeline import context_for
    from maestro.render import training

    ctx = context_for(example_workspace(), env, scheduled, f"specs/{MODEL}/maestro.yaml")
    [cron] = [r for r in training.render(scheduled, ctx) if r["kind"] == "CronJob"]
    train = tasks["train"]
    assert train["base_container_name"] == "train" and train["backoff_limit"] == 2
    assert train["active_deadline_seconds"] == cron["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"]
    # the decorated pod (logs, lineage, spot) as the rendered tree has it, plus the candidate alias
    dag_pod = ast.literal_eval(
        next(
            kw.value
            for node in ast.walk(ast.parse(dag_of(objs)))
            if isinstance(node, ast.Call)
            for kw in node.keywords
            if kw.arg == "pod_template_dict"
            and any(k.arg == "task_id" and ast.literal_eval(k.value) == "train" for k in node.keywords)
        )
    )
    assert_same_pod(train["pod"], dag_pod)
    env_names = [e["name"] for e in train["pod"]["spec"]["containers"][0]["env"]]
    assert {"MLFLOW_TRACKING_URI", "OPENLINEAGE_JOB_NAME", "LOG_FORMAT", "MAESTRO_CANDIDATE_ALIAS"} <= set(env_names)
    # materialize: the view's CronJob pod, unchanged
    template, job = rendered_pod(objs, "CronJob", f"{MODEL}-mat-usage-30d")
    assert_same_pod(tasks["materialize_0"]["pod"], template)
    assert tasks["materialize_0"]["backoff_limit"] == job["backoffLimit"]
    # evaluate and promote: the registry sync pod, with the pipeline's commands
    template, _ = rendered_pod(objs, "Job", f"{MODEL}-registry-sync")
    state = ["--state", "/state/registry.json"]
    assert_same_pod(
        tasks["evaluate"]["pod"], template, ["maestro", "registry", "check", *state, "--alias", "candidate"]
    )
    assert_same_pod(
        tasks["promote"]["pod"], template, ["maestro", "registry", "sync", *state, "--promote", "candidate"]
    )


def test_training_pod_in_the_dag_matches_the_training_job(dagbag: dict[str, Any]) -> None:
    """Same image, resources, service account and env as the Job training renders for the model."""
    spec, _ = example(MODEL, "prod")
    objs = objects("prod")
    tasks = dagbag["prod"]["dags"]["churn_predictor"]["tasks"]
    pod = tasks["train"]["pod"]["spec"]
    [c] = pod["containers"]
    assert spec.spec.training is not None
    assert c["image"] == spec.spec.training.image
    assert c["command"] == spec.spec.training.command
    assert c["resources"]["requests"] == {"cpu": "2", "memory": "8Gi"}
    assert pod["serviceAccountName"] == MODEL
    tuning = [p for o in objs for p in pod_templates(o) if p.component == "tuning"]
    assert tuning and pod["serviceAccountName"] == tuning[0].spec["serviceAccountName"]  # type: ignore[index]


# ------------------------------------------------------------------ generated code and validation


def test_dag_text_is_checked_literal_python() -> None:
    text = dag_of(objects("prod"))
    tree = ast.parse(text)
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert calls <= airflow.CALLABLE
    with pytest.raises(GeneratedCodeError, match="may not call"):
        from maestro.render.pycode import check_calls

        check_calls("import os\nos.system('x')\n", "x.py", airflow.CALLABLE, "the Airflow DAG")


def test_rendering_is_deterministic() -> None:
    assert dag_of(objects("prod")) == dag_of(objects("prod"))


def test_pipeline_steps_need_their_sections_and_order() -> None:
    spec, _ = example(MODEL, "prod")
    assert spec.spec.pipeline is not None
    bad = spec.spec.pipeline.model_copy(update={"steps": ["promote", "tune", "evaluate", "train"]})
    body = spec.spec.model_copy(update={"pipeline": bad, "tuning": None})
    found = {(f.pointer, f.code) for f in check_pipeline(body)}
    assert ("/spec/pipeline/steps/1", "M216") in found  # tune without spec.tuning
    assert ("/spec/pipeline/steps/2", "M225") in found  # evaluate before train
    assert ("/spec/pipeline/steps/0", "M225") in found  # promote before evaluate


def test_jinja_markers_are_refused_for_pipeline_models() -> None:
    data = {"spec": {"training": {"args": ["--date", "{{ ds }}"]}, "pipeline": {}}}
    [finding] = check_airflow_templating(data)
    assert (finding.pointer, finding.code) == ("/spec/training/args/1", "M226")


@pytest.mark.parametrize(("operator", "condition"), [("trainer", "Complete"), ("training-operator", "Succeeded")])
def test_train_task_waits_for_the_runs_own_done_condition(operator: str, condition: str) -> None:
    """A Kubeflow run launched by the DAG is waited for on the condition its controller sets:
    a Trainer v2 TrainJob reports Complete, a Training Operator v1 PyTorchJob Succeeded."""
    spec, _ = example("image-classifier", "prod")  # pytorch on 4 GPU nodes, no schedule
    churn, _ = example(MODEL, "prod")
    assert churn.spec.pipeline is not None
    pipeline = churn.spec.pipeline.model_copy(update={"steps": ["train"]})
    spec = spec.model_copy(update={"spec": spec.spec.model_copy(update={"pipeline": pipeline})})
    ws = example_workspace()
    if operator == "training-operator":  # a cluster that still runs Training Operator v1
        platform = ws.platforms["prod"]
        kubeflow = {**platform.training.kubeflow, "pytorch": TrainingOperator(kind="PyTorchJob")}
        training = platform.training.model_copy(update={"kubeflow": kubeflow})
        prod = platform.model_copy(update={"training": training})
        ws = dataclasses.replace(ws, platforms={**ws.platforms, "prod": prod})
    objs, diags = render_model(ws, "prod", spec, "specs/image-classifier/maestro.yaml")
    assert not diags
    [cm] = [o for o in objs if o["metadata"]["name"] == "image-classifier-airflow-dag"]
    assert f"--for=condition={condition} " in cm["data"]["image-classifier.py"]
