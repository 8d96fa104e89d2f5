"""airflow: `spec.pipeline` as an Airflow DAG, `rendered/<env>/<model>/airflow/<model>.py`.

Airflow's git-sync ships the file to the schedulers like any DAG in the repository; the
ConfigMap `<model>-airflow-dag` that carries it (artifact dir `airflow`) is how a text
artifact travels in the tree (DESIGN.md), nothing in the cluster reads it.

Every task runs a pod the rendered tree already has, taken from the model's *transformed*
objects (after overlays, pod decoration and patches), so a task runs exactly the image,
command, resources, service account, Vault-backed env (secretKeyRefs to the synced
Secrets), security context, spot scheduling, OpenLineage and tracing settings its Job
would:

- `materialize`: one task per online view, in parallel, from the view's materialization
  CronJob (which keeps running on its own schedule for freshness);
- `train`: the training CronJob's Job: for a batch run the training pod itself; for a
  Kubeflow kind the launcher, which here also waits for the run (`kubectl wait` on the
  kind's success condition: `Complete` for a Trainer v2 TrainJob, `Succeeded` for the
  Training Operator's kinds) so that the next step sees its result, and whose Role gains
  get/list/watch for that. The CronJob itself is dropped: the pipeline replaces it
  (render/training.py renders it from `pipeline.schedule`, see `scheduled`), and the
  launched run names the DAG's ConfigMap as its launcher (render/launch.py);
- `tune`: the tuning Job's indexed pods (completions and parallelism kept); the Job, its
  ConfigMap and its Sync-hook launcher (render/launch.py) are dropped from the tree, or every
  changed study would also run once from the hook;
- `evaluate` / `promote`: the registry sync Job's pod (maestro image, registry state
  ConfigMap) running `maestro registry check --state ... --alias <candidate>` (the gates on
  the version the run registered) and `maestro registry sync --state ... --promote
  <candidate>` (the serve alias moved to it, gates checked again first).

Each task is a `KubernetesJobOperator` (cncf-kubernetes provider) with the Job's
`pod_template_dict`, backoff limit and deadline, waiting for the Job to complete; the
operator adds its own labels. The DAG text comes from `templates/airflow_dag.py.j2` in
jinja2's immutable sandbox: every value passes a filter that writes a Python literal
(render/pycode.py), and the module is parsed and its calls checked before it ships.
Airflow renders templated operator fields (the pod template among them) with Jinja at run
time, so a spec with a pipeline may not hold Jinja markers (M226, frontend/semantics.py).
"""

from __future__ import annotations

import copy
import functools
import itertools
import shlex
from typing import Any

from maestro.frontend.spec import Spec
from maestro.names import ARTIFACT_DIR
from maestro.render import Context, Resource, launch, name_of, obj, text_template
from maestro.render.decorate import add_env, pod_templates
from maestro.render.launch import LAUNCHED_BY
from maestro.render.pycode import GeneratedCodeError, check_calls, finalizer, identifier_filter, literal_filter

COMPONENT = "pipeline"
ARTIFACT_FOLDER = "airflow"
TEMPLATE = "airflow_dag.py.j2"
WHAT = "the Airflow DAG"
START_DATE = (2026, 1, 1)  # fixed: the schedule decides the runs (catchup off), and the text stays the same
CALLABLE = frozenset({"DAG", "KubernetesJobOperator", "datetime", "timedelta"})
STATE_FILE = "/state/registry.json"
COMPONENT_LABEL = "app.kubernetes.io/component"
JOB_API = ("batch/v1", "Job")
CRONJOB_API = ("batch/v1", "CronJob")


def scheduled(spec: Spec) -> Spec:
    """The spec the renderers see: with a pipeline that trains, training runs on the
    pipeline's schedule (the training renderer then renders its scheduled form, which
    `apply` turns into the DAG's train task and drops)."""
    pipeline, training = spec.spec.pipeline, spec.spec.training
    if pipeline is None or training is None or "train" not in pipeline.steps:
        return spec
    body = spec.spec.model_copy(update={"training": training.model_copy(update={"schedule": pipeline.schedule})})
    return spec.model_copy(update={"spec": body})


def dag_id(spec: Spec) -> str:
    return name_of(spec).replace("-", "_")


def dag_file(spec: Spec) -> str:
    return f"{name_of(spec)}.py"


def config_map_name(spec: Spec) -> str:
    return f"{name_of(spec)}-airflow-dag"


# ------------------------------------------------------------------ tasks from the rendered tree


def _component(template: dict[str, Any]) -> str:
    return str(((template.get("metadata") or {}).get("labels") or {}).get(COMPONENT_LABEL, ""))


def _job_spec(res: Resource) -> dict[str, Any] | None:
    """The Job spec of a Job, or of a CronJob's Jobs."""
    key = (res.get("apiVersion"), res.get("kind"))
    if key == JOB_API:
        return dict(res["spec"])
    if key == CRONJOB_API:
        return dict(res["spec"]["jobTemplate"]["spec"])
    return None


def _task(
    task_id: str, name: str, namespace: str, job: dict[str, Any], command: list[str] | None = None
) -> dict[str, Any]:
    template = copy.deepcopy(job["template"])
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": template.get("metadata", {}), "spec": template["spec"]}
    main = pod["spec"]["containers"][0]
    if command is not None:
        main["command"] = command
        main.pop("args", None)
    task: dict[str, Any] = {
        "var": task_id,
        "task_id": task_id,
        "name": name,
        "namespace": namespace,
        "container": main["name"],
        "pod": pod,
        "backoff_limit": int(job.get("backoffLimit", 0)),
    }
    if "activeDeadlineSeconds" in job:
        task["deadline"] = int(job["activeDeadlineSeconds"])
    if job.get("completionMode") == "Indexed":
        task["completions"] = int(job["completions"])
        task["parallelism"] = int(job.get("parallelism", 1))
    return task


def _launched_by(res: Resource) -> str | None:
    return ((res.get("metadata") or {}).get("annotations") or {}).get(LAUNCHED_BY)


# The condition a finished run reports: Kubeflow Trainer v2's TrainJob sets `Complete`
# (trainer.kubeflow.org/v1alpha1 TrainJobComplete), Training Operator v1 jobs `Succeeded`.
DONE_CONDITION = {"TrainJob": "Complete"}


def _wait_for_run(spec: Spec, command: list[str], run_kind: str) -> list[str]:
    """The launcher's `kubectl create` made to wait for the run it creates."""
    training = spec.spec.training
    assert training is not None
    timeout = training.timeout_minutes * 60
    create = " ".join(shlex.quote(c) for c in command)
    done = DONE_CONDITION.get(run_kind, "Succeeded")
    return [
        "/bin/sh",
        "-c",
        f'run=$({create} -o name) && exec kubectl wait "$run" --for=condition={done} --timeout={timeout}s',
    ]


def tasks(spec: Spec, ctx: Context, resources: list[Resource]) -> list[list[dict[str, Any]]]:
    """The DAG's tasks, one list per step (tasks of a step run in parallel)."""
    pipeline = spec.spec.pipeline
    assert pipeline is not None
    name, ns = name_of(spec), ctx.namespace
    jobs = [(r, j) for r in resources if (j := _job_spec(r)) is not None]
    by_component: dict[str, list[tuple[Resource, dict[str, Any]]]] = {}
    for res, job in jobs:
        by_component.setdefault(_component(job["template"]), []).append((res, job))
    steps: list[list[dict[str, Any]]] = []
    for step in pipeline.steps:
        if step == "materialize":
            views = sorted(by_component.get("materialization", []), key=lambda p: p[0]["metadata"]["name"])
            steps.append([_task(f"materialize_{i}", r["metadata"]["name"], ns, j) for i, (r, j) in enumerate(views)])
        elif step == "train":
            [(res, job)] = [
                (r, j) for r, j in jobs if (r["kind"], r["metadata"]["name"]) == ("CronJob", f"{name}-train")
            ]
            task = _task("train", f"{name}-train", ns, job)
            if _component(job["template"]) == "training-launcher":
                [run] = [r for r in resources if _launched_by(r) == f"CronJob/{name}-train"]
                main = task["pod"]["spec"]["containers"][0]
                main["command"] = _wait_for_run(spec, main["command"], str(run["kind"]))
                task["launches"] = True
            steps.append([task])
        elif step == "tune":
            [(res, job)] = by_component["tuning"]
            steps.append([_task("tune", res["metadata"]["name"], ns, job)])
        else:
            [(res, job)] = by_component["registry"]
            alias = pipeline.candidate
            command = (
                ["maestro", "registry", "check", "--state", STATE_FILE, "--alias", alias]
                if step == "evaluate"
                else ["maestro", "registry", "sync", "--state", STATE_FILE, "--promote", alias]
            )
            steps.append([_task(step, f"{name}-{step}", ns, job, command)])
    for step_tasks in steps:
        for task in step_tasks:
            if task["task_id"] == "train" and not task.get("launches"):
                # a launched run gets it in its own pods (`apply`), not in the launcher's
                for container in task["pod"]["spec"]["containers"]:
                    container["env"] = [*(container.get("env") or []), candidate_env(spec)]
    return steps


def candidate_env(spec: Spec) -> dict[str, str]:
    pipeline = spec.spec.pipeline
    assert pipeline is not None
    return {"name": "MAESTRO_CANDIDATE_ALIAS", "value": pipeline.candidate}


# ------------------------------------------------------------------ the DAG text


@functools.cache
def _template() -> Any:
    return text_template(
        TEMPLATE,
        {"py": literal_filter(WHAT), "ident": identifier_filter(CALLABLE, WHAT)},
        finalizer(WHAT),
    )


def dag_text(spec: Spec, ctx: Context, steps: list[list[dict[str, Any]]]) -> str:
    pipeline = spec.spec.pipeline
    assert pipeline is not None
    edges = [(a["var"], b["var"]) for before, after in itertools.pairwise(steps) for a in before for b in after]
    text: str = _template().render(
        source=ctx.source,
        env=ctx.env,
        dag_id=dag_id(spec),
        description=spec.metadata.description or f"Retraining pipeline of {name_of(spec)}",
        schedule=pipeline.schedule,
        start=list(START_DATE),
        tags=["maestro", spec.metadata.team, ctx.env, name_of(spec)],
        owner=spec.metadata.team,
        retries=pipeline.retries,
        retry_delay=pipeline.retry_delay_minutes,
        tasks=[t for step in steps for t in step],
        edges=edges,
    )
    check_calls(text, dag_file(spec), CALLABLE, WHAT)
    return text


# ------------------------------------------------------------------ the post-render step


def apply(resources: list[Resource], spec: Spec, ctx: Context) -> tuple[list[Resource], list[Resource]]:
    """With a pipeline: (the objects without the training CronJob the DAG replaces, and with
    a launcher that now waits allowed to watch its run; the DAG ConfigMap, to be stamped and
    transformed like any object). The objects come transformed."""
    pipeline = spec.spec.pipeline
    if pipeline is None:
        return resources, []
    name = name_of(spec)
    steps = tasks(spec, ctx, resources)
    if not all(steps):
        raise GeneratedCodeError(f"{WHAT} of {name} has a step without tasks")  # semantics refuses such specs
    cm = obj("v1", "ConfigMap", config_map_name(spec), data={dag_file(spec): dag_text(spec, ctx, steps)})
    cm["metadata"]["annotations"] = {ARTIFACT_DIR: ARTIFACT_FOLDER}
    dropped = {("CronJob", f"{name}-train")} if "train" in pipeline.steps else set()
    if "tune" in pipeline.steps:
        # The DAG runs the study: its Sync-hook launcher would start it a second time.
        for res in resources:
            job = _job_spec(res)
            if job is not None and _component(job["template"]) == "tuning" and res["kind"] == "Job":
                run, launcher = str(res["metadata"]["name"]), launch.launcher_name(str(res["metadata"]["name"]))
                dropped |= {("Job", run), ("ConfigMap", launch.config_map_name(run)), ("Job", launcher)}
                dropped |= {(kind, launcher) for kind in ("ServiceAccount", "Role", "RoleBinding")}
    out = []
    for res in resources:
        if (res["kind"], res["metadata"]["name"]) in dropped:
            continue
        if "train" in pipeline.steps and _launched_by(res) == f"CronJob/{name}-train":
            # launched by the DAG's train task now: the link stage finds the DAG, embed gives the
            # run a generateName (one run per DAG run)
            res = copy.deepcopy(res)
            res["metadata"]["annotations"][LAUNCHED_BY] = f"ConfigMap/{config_map_name(spec)}"
            for pod in pod_templates(res):
                add_env(pod, [candidate_env(spec)])  # a TrainJob's goes to spec.trainer.env (decorate)
        if res["kind"] == "Role" and res["metadata"]["name"] == f"{name}-train-launcher":
            res = copy.deepcopy(res)
            for rule in res.get("rules", []):
                rule["verbs"] = sorted({*rule.get("verbs", []), "get", "list", "watch"})
        out.append(res)
    return out, [cm]
