"""render/tuning.py: the study ConfigMap and the indexed Job, checked with real Optuna.

Every study.json of the examples is read back the way a worker reads it (module docstring
of maestro.render.tuning), run against a SQLite storage, and every sampled value is checked
against the spec's own ranges.
"""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    json_to_distribution,
)
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from conftest import ROOT, example, example_workspace
from maestro.costs import tuning_estimate
from maestro.frontend.spec import CategoricalParam, FloatParam, IntParam, Secret, Spec
from maestro.names import ARTIFACT_DIR
from maestro.output.verify import Verifier
from maestro.render import Context, pod_labels
from maestro.render.tuning import (
    FORMAT,
    MAX_DEADLINE,
    SAFETY,
    check,
    deadline,
    distribution,
    render,
    study_json,
)
from maestro.serialize import dump

TUNED = ["churn-predictor", "fraud-detector", "image-classifier"]
UNTUNED = ["demand-forecaster", "recsys-ranker", "sentiment-bert"]
ENVS = ["dev", "staging", "prod"]
CASES = [(m, e) for m in TUNED for e in ENVS]
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def _workspace() -> Any:
    return example_workspace()


def effective(model: str, env: str = "prod") -> tuple[Spec, Context]:
    return example(model, env)  # type: ignore[no-any-return]


def with_tuning(spec: Spec, **changes: Any) -> Spec:
    assert spec.spec.tuning is not None
    tuning = spec.spec.tuning.model_copy(update=changes)
    return spec.model_copy(update={"spec": spec.spec.model_copy(update={"tuning": tuning})})


def with_secrets(spec: Spec, secrets: list[dict[str, Any]]) -> Spec:
    parsed = [Secret.model_validate(s) for s in secrets]
    return spec.model_copy(update={"spec": spec.spec.model_copy(update={"secrets": parsed})})


def float_param(**kw: Any) -> FloatParam:
    return FloatParam.model_validate({"type": "float", **kw})


def int_param(**kw: Any) -> IntParam:
    return IntParam.model_validate({"type": "int", **kw})


def categorical(*choices: Any) -> CategoricalParam:
    return CategoricalParam.model_validate({"type": "categorical", "choices": list(choices)})


def named(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


def job_of(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """The study's Job: the run the launcher creates (render/launch.py)."""
    [job] = [r for r in resources if r["kind"] == "Job" and r["metadata"]["name"].endswith("-tuning")]
    return job


def study_cm(resources: list[dict[str, Any]]) -> dict[str, Any]:
    [cm] = [r for r in resources if r["kind"] == "ConfigMap" and r["metadata"]["name"].endswith("-tuning-study")]
    return cm


def study_doc(resources: list[dict[str, Any]]) -> dict[str, Any]:
    text = study_cm(resources)["data"]["study.json"]
    doc: dict[str, Any] = json.loads(text)
    return doc


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier(_workspace().platform.kubernetes_version)


@pytest.fixture(scope="module")
def studies_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("optuna") / "studies.db"


@pytest.fixture(autouse=True)
def quiet_optuna() -> Iterator[None]:
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(level)


# ------------------------------------------------------------------ a worker, as the docstring describes it


def search_space(doc: dict[str, Any]) -> dict[str, BaseDistribution]:
    return {name: json_to_distribution(json.dumps(d)) for name, d in doc["search_space"].items()}


def open_study(doc: dict[str, Any], url: str, index: int = 0, *, optimize: bool = False) -> optuna.Study:
    """The study as a worker opens it. The storage's heartbeat only runs inside
    `Study.optimize` (Optuna warns when ask/tell uses a heartbeat storage), so a test that
    drives trials through ask/tell opens the plain storage."""
    kwargs = dict(doc["sampler"]["kwargs"])
    if doc["sampler"]["seed_per_worker"]:
        kwargs["seed"] += index
    storage: RDBStorage | str = url
    if optimize:
        # The heartbeat is experimental in Optuna 5.0; the study turns it on knowingly.
        with pytest.warns(ExperimentalWarning, match="heartbeat_interval"):
            storage = RDBStorage(url, **doc["storage"]["kwargs"])
    return optuna.create_study(
        storage=storage,
        study_name=doc["study_name"],
        direction=doc["direction"],
        load_if_exists=True,
        sampler=getattr(optuna.samplers, doc["sampler"]["name"])(**kwargs),
        pruner=getattr(optuna.pruners, doc["pruner"]["name"])(**doc["pruner"]["kwargs"]),
    )


def suggest(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    """A parameter through Optuna's public API, as a worker's objective asks for it."""
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    assert isinstance(dist, CategoricalDistribution)
    return trial.suggest_categorical(name, dist.choices)


def objective_for(space: dict[str, BaseDistribution]) -> Callable[[optuna.Trial], float]:
    def objective(trial: optuna.Trial) -> float:
        params = {name: suggest(trial, name, dist) for name, dist in space.items()}
        # The suggested distributions are exactly the file's (Optuna stores them per trial).
        assert trial.distributions == space
        return toy_value(params)

    return objective


def toy_value(params: dict[str, Any]) -> float:
    """A deterministic objective over any parameters."""
    total = 0.0
    for name in sorted(params):
        value = params[name]
        total += float(value) if isinstance(value, (int, float)) else float(len(str(value)))
    return total


def ask_and_tell(study: optuna.Study, space: dict[str, BaseDistribution], n: int) -> list[dict[str, Any]]:
    """`n` trials through ask/tell, each reporting three steps so that the pruner runs."""
    sampled = []
    for _ in range(n):
        trial = study.ask(space)
        value = toy_value(trial.params)
        pruned = False
        for step in range(3):
            trial.report(value * (step + 1) / 3, step)
            if trial.should_prune():
                pruned = True
                break
        if pruned:
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, value)
        sampled.append(dict(trial.params))
    return sampled


def assert_in_spec(spec: Spec, params: dict[str, Any]) -> None:
    assert spec.spec.tuning is not None
    space = spec.spec.tuning.search_space
    assert set(params) == set(space)
    for name, value in params.items():
        p = space[name]
        if isinstance(p, CategoricalParam):
            assert value in p.choices, (name, value)
            assert type(value) is type(p.choices[p.choices.index(value)]), (name, value)
        elif isinstance(p, IntParam):
            assert isinstance(value, int) and not isinstance(value, bool), (name, value)
            assert p.low <= value <= p.high and (value - p.low) % p.step == 0, (name, value)
        else:
            assert isinstance(value, float), (name, value)
            assert p.low <= value <= p.high, (name, value)
            if p.step is not None:
                k = (value - p.low) / p.step
                assert abs(k - round(k)) < 1e-9, (name, value)


# ------------------------------------------------------------------ kinds, names, objects


@pytest.mark.parametrize(("model", "env"), CASES)
def test_tuned_models_get_a_study_and_a_job(model: str, env: str) -> None:
    out = render(*effective(model, env))
    assert [(r["kind"], r["metadata"]["name"]) for r in out] == [
        ("ConfigMap", f"{model}-tuning-study"),
        ("ConfigMap", f"{model}-tuning-job"),
        ("Job", f"{model}-tuning-launcher"),
        ("ServiceAccount", f"{model}-tuning-launcher"),
        ("Role", f"{model}-tuning-launcher"),
        ("RoleBinding", f"{model}-tuning-launcher"),
        ("Job", f"{model}-tuning"),
    ]


def test_the_study_job_is_launched_by_a_sync_hook_not_synced() -> None:
    """A synced Job with a TTL came back after the TTL deleted it (auto-sync re-ran a costed
    study every day) and failed the sync on any change (its template is immutable)."""
    out = render(*effective("fraud-detector"))
    job = job_of(out)
    assert "ttlSecondsAfterFinished" not in job["spec"]
    assert job["metadata"]["annotations"]["maestro.ml/launched-by"] == "Job/fraud-detector-tuning-launcher"
    assert job["metadata"]["annotations"]["maestro.ml/manifest-in"] == "ConfigMap/fraud-detector-tuning-job"
    assert "argocd.argoproj.io/hook" not in job["metadata"]["annotations"]
    launcher = named(out, "Job", "fraud-detector-tuning-launcher")
    annotations = launcher["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/hook"] == "Sync"
    assert annotations["argocd.argoproj.io/sync-wave"] == "0"  # with the workloads, whatever their health
    assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
    assert "ttlSecondsAfterFinished" not in launcher["spec"]
    [supersede] = launcher["spec"]["template"]["spec"]["initContainers"]
    assert supersede["command"][:4] == [
        "kubectl",
        "delete",
        "jobs.batch",
        "--field-selector=metadata.name=fraud-detector-tuning",
    ]
    assert named(out, "Role", "fraud-detector-tuning-launcher")["rules"][1] == {
        "apiGroups": ["batch"],
        "resources": ["jobs"],
        "resourceNames": ["fraud-detector-tuning"],
        "verbs": ["get", "list", "watch", "patch", "delete"],
    }


@pytest.mark.parametrize("model", UNTUNED)
def test_models_without_tuning_get_nothing(model: str) -> None:
    assert render(*effective(model)) == []


def test_tuning_without_training_renders_nothing() -> None:
    spec, ctx = effective("fraud-detector")
    assert render(spec.model_copy(update={"spec": spec.spec.model_copy(update={"training": None})}), ctx) == []


@pytest.mark.parametrize(("model", "env"), CASES)
def test_every_object_passes_its_schema(verifier: Verifier, model: str, env: str) -> None:
    for resource in render(*effective(model, env)):
        assert verifier.verify(resource) == [], (model, env, resource["kind"])


def test_fraud_detector_prod_job() -> None:
    spec, ctx = effective("fraud-detector")
    job = job_of(render(spec, ctx))
    assert job["apiVersion"] == "batch/v1"
    js = job["spec"]
    assert (js["completionMode"], js["completions"], js["parallelism"]) == ("Indexed", 4, 4)
    assert js["backoffLimitPerIndex"] == 1 and "backoffLimit" not in js
    assert "ttlSecondsAfterFinished" not in js  # launched: it stays until superseded
    # 60 trials / 4 workers = 15 rounds of 30 minutes, x 1.5; the budget (400 CPU-hours over
    # 4 workers x 4 CPUs = 25 h) is looser.
    assert js["activeDeadlineSeconds"] == 15 * 1800 * 3 // 2
    template = js["template"]
    assert template["metadata"]["labels"] == {**pod_labels(spec, ctx, "tuning"), "sidecar.istio.io/inject": "false"}
    pod = template["spec"]
    assert pod["serviceAccountName"] == "fraud-detector"
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "tolerations" not in pod and "nodeSelector" not in pod
    [container] = pod["containers"]
    assert container["image"] == "registry.example.com/payments/fraud-train:1.4.2"
    assert container["command"] == ["python", "-m", "fraud.train"] and "args" not in container
    assert container["resources"] == {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"memory": "16Gi"}}
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["readOnlyRootFilesystem"] is True
    env = {e["name"]: e for e in container["env"]}
    assert env["MAESTRO_STUDY_FILE"]["value"] == "/etc/maestro/tuning/study.json"
    assert env["OPTUNA_STUDY_NAME"]["value"] == "fraud-detector-prod"
    assert env["MAESTRO_TRIALS_PER_WORKER"]["value"] == "15"
    assert env["OPTUNA_STORAGE"] == {
        "name": "OPTUNA_STORAGE",
        "valueFrom": {"secretKeyRef": {"name": "fraud-detector-tuning-db", "key": "url"}},
    }
    assert "JOB_COMPLETION_INDEX" not in env  # Kubernetes sets it in Indexed mode
    assert {"name": "study", "mountPath": "/etc/maestro/tuning", "readOnly": True} in container["volumeMounts"]
    assert {"name": "study", "configMap": {"name": "fraud-detector-tuning-study"}} in pod["volumes"]


def test_gpu_trials_land_on_gpu_nodes() -> None:
    job = job_of(render(*effective("image-classifier")))
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}  # the GPU Operator's node label
    # PyTorch trials share batches through /dev/shm: memory-backed, as big as the memory limit.
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "48Gi"}} in pod["volumes"]
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]


def test_dev_runs_one_worker() -> None:
    for model in TUNED:
        spec, ctx = effective(model, "dev")
        js = job_of(render(spec, ctx))["spec"]
        assert js["parallelism"] == js["completions"] == 1
        [container] = js["template"]["spec"]["containers"]
        per_worker = {e["name"]: e.get("value") for e in container["env"]}["MAESTRO_TRIALS_PER_WORKER"]
        assert spec.spec.tuning is not None and per_worker == str(spec.spec.tuning.trials)


def test_more_workers_than_trials_are_not_started() -> None:
    spec, ctx = effective("churn-predictor")
    js = job_of(render(with_tuning(spec, trials=3, parallelism=8), ctx))["spec"]
    assert js["parallelism"] == js["completions"] == 3


@pytest.mark.parametrize(("model", "env"), CASES)
def test_estimates_are_annotated(model: str, env: str) -> None:
    spec, ctx = effective(model, env)
    estimate = tuning_estimate(spec, ctx.platform)
    assert estimate is not None
    out = render(spec, ctx)
    annotated = [study_cm(out), job_of(out), named(out, "Job", f"{model}-tuning-launcher")]
    for resource in annotated:
        notes = resource["metadata"]["annotations"]
        assert float(notes["maestro.ml/estimated-cpu-hours"]) == estimate.cpu_hours
        assert float(notes["maestro.ml/estimated-gpu-hours"]) == estimate.gpu_hours
        amount, currency = notes["maestro.ml/estimated-cost"].split(" ")
        assert float(amount) == estimate.cost and currency == ctx.platform.costs.currency == "USD"


def test_annotation_values() -> None:
    out = render(*effective("image-classifier"))
    notes = named(out, "Job", "image-classifier-tuning-launcher")["metadata"]["annotations"]
    notes = {k: v for k, v in notes.items() if k.startswith("maestro.ml/estimated-")}
    # 24 trials x 1.5 h x (8 CPUs, 1 GPU); 8 x 0.034 + 48 x 0.0045 + 2.48 = 2.968 an hour.
    assert notes == {
        "maestro.ml/estimated-cpu-hours": "288",
        "maestro.ml/estimated-gpu-hours": "36",
        "maestro.ml/estimated-cost": "106.85 USD",
    }


def test_the_study_is_mirrored_as_a_file() -> None:
    cm = study_cm(render(*effective("fraud-detector")))
    assert cm["metadata"]["annotations"][ARTIFACT_DIR] == "tuning"
    assert list(cm["data"]) == ["study.json"]


# ------------------------------------------------------------------ storage credentials


def test_no_secret_and_no_inline_storage_url() -> None:
    for model, env in CASES:
        out = render(*effective(model, env))
        assert "Secret" not in {r["kind"] for r in out}
        [container] = job_of(out)["spec"]["template"]["spec"]["containers"]
        [storage] = [e for e in container["env"] if e["name"] == "OPTUNA_STORAGE"]
        assert "value" not in storage
        assert "OPTUNA_STORAGE" not in {e["name"] for e in container["env"] if "value" in e}
        assert "://" not in study_cm(out)["data"]["study.json"]


def test_a_declared_tuning_db_secret_names_the_key() -> None:
    spec, ctx = effective("churn-predictor")
    spec = with_secrets(
        spec, [{"name": "tuning-db", "vaultPath": "secret/data/growth/optuna", "env": {"OPTUNA_STORAGE": "dsn"}}]
    )
    [container] = job_of(render(spec, ctx))["spec"]["template"]["spec"]["containers"]
    [storage] = [e for e in container["env"] if e["name"] == "OPTUNA_STORAGE"]
    assert storage["valueFrom"] == {"secretKeyRef": {"name": "churn-predictor-tuning-db", "key": "dsn"}}
    assert list(check(spec, ctx.platform)) == []


def test_storage_secret_mistakes_are_reported() -> None:
    spec, ctx = effective("churn-predictor")
    wrong_env = with_secrets(
        spec, [{"name": "tuning-db", "vaultPath": "secret/data/growth/optuna", "env": {"DB_URL": "url"}}]
    )
    [finding] = check(wrong_env, ctx.platform)
    assert (finding.pointer, finding.code, finding.severity) == ("/spec/secrets/0/env", "M216", "error")
    assert "must map OPTUNA_STORAGE" in finding.message
    wrong_name = with_secrets(
        spec, [{"name": "optuna", "vaultPath": "secret/data/growth/optuna", "env": {"OPTUNA_STORAGE": "url"}}]
    )
    [finding] = check(wrong_name, ctx.platform)
    assert finding.pointer == "/spec/secrets/0/env/OPTUNA_STORAGE" and "'tuning-db'" in finding.message


# ------------------------------------------------------------------ the study, run by Optuna


@pytest.mark.parametrize(("model", "env"), CASES)
def test_study_json_drives_a_real_study(studies_db: Path, model: str, env: str) -> None:
    spec, ctx = effective(model, env)
    assert spec.spec.tuning is not None
    doc = study_doc(render(spec, ctx))
    assert doc["format"] == FORMAT
    assert doc["study_name"] == f"{model}-{env}"
    assert (doc["direction"], doc["metric"], doc["n_trials"]) == (
        spec.spec.tuning.direction,
        spec.spec.tuning.metric,
        spec.spec.tuning.trials,
    )
    space = search_space(doc)
    # What the file says is exactly what the spec says, in Optuna's terms.
    assert space == {k: distribution(p) for k, p in spec.spec.tuning.search_space.items()}

    url = f"sqlite:///{studies_db}"  # one database, a study per case: Optuna creates its schema once
    study = open_study(doc, url)
    assert study.study_name == doc["study_name"]
    assert study.direction.name.lower() == doc["direction"]
    sampled = ask_and_tell(study, space, 3)
    # A second worker joins the same study with its own seed.
    sampled += ask_and_tell(open_study(doc, url, index=1), space, 3)
    assert len(study.get_trials(states=FINISHED)) == 6
    for params in sampled:
        assert_in_spec(spec, params)


def test_samplers_and_pruners_of_the_examples() -> None:
    expect = {
        "fraud-detector": ("TPESampler", "MedianPruner"),
        "image-classifier": ("TPESampler", "HyperbandPruner"),
        "churn-predictor": ("RandomSampler", "NopPruner"),
    }
    for model, (sampler, pruner) in expect.items():
        doc = study_doc(render(*effective(model)))
        assert (doc["sampler"]["name"], doc["pruner"]["name"]) == (sampler, pruner)
        assert doc["sampler"]["seed_per_worker"] is True
    tpe = study_doc(render(*effective("fraud-detector")))["sampler"]["kwargs"]
    assert tpe["multivariate"] is True and tpe["constant_liar"] is True
    hyperband = study_doc(render(*effective("image-classifier")))["pruner"]["kwargs"]
    assert hyperband == {"min_resource": 1, "max_resource": "auto", "reduction_factor": 3}


def test_seeds_are_stable_and_differ_per_study() -> None:
    seeds = {(m, e): study_doc(render(*effective(m, e)))["sampler"]["kwargs"]["seed"] for m, e in CASES}
    assert len(set(seeds.values())) == len(seeds)
    assert all(0 <= s < 2**31 for s in seeds.values())


def test_workers_following_the_contract_stop_at_the_target(tmp_path: Path) -> None:
    """study.optimize with MaxTrialsCallback, as the docstring's worker does: two workers
    finish the study's n_trials, and a re-created Job (same study name) adds nothing."""
    spec, ctx = effective("churn-predictor", "dev")
    doc = study_doc(render(spec, ctx))
    space = search_space(doc)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    objective = objective_for(space)

    def worker(index: int) -> None:
        study = open_study(doc, url, index, optimize=True)
        if len(study.get_trials(states=FINISHED)) >= doc["n_trials"]:
            return
        study.optimize(
            objective,
            n_trials=3,
            timeout=doc["timeout"],
            callbacks=[MaxTrialsCallback(doc["n_trials"], states=FINISHED)],
        )

    worker(0)
    worker(1)
    worker(0)  # the Job again, after its TTL
    trials = open_study(doc, url).get_trials(states=FINISHED)
    assert len(trials) == doc["n_trials"] == 4
    for trial in trials:
        assert_in_spec(spec, trial.params)


# ------------------------------------------------------------------ grid and CMA-ES


def grid_spec(*, warmup: bool = True) -> tuple[Spec, Context]:
    spec, ctx = effective("image-classifier")
    space = {
        # 0.03, not 0.030000000000000002; 11 values, or 6 for the study that runs them all
        "weight_decay": float_param(low=0.0, high=0.1 if warmup else 0.05, step=0.01),
        "batch_size": categorical(32, 64),  # 2
    }
    if warmup:
        space["warmup_epochs"] = int_param(low=0, high=4, step=2)  # 3
    trials = 66 if warmup else 12
    return with_tuning(spec, sampler="grid", search_space=space, trials=trials, parallelism=3), ctx


def test_grid_sampler_gets_the_whole_grid(verifier: Verifier) -> None:
    spec, ctx = grid_spec()
    out = render(spec, ctx)
    for resource in out:
        assert verifier.verify(resource) == []
    sampler = study_doc(out)["sampler"]
    assert sampler["name"] == "GridSampler" and sampler["seed_per_worker"] is False
    grid = sampler["kwargs"]["search_space"]
    assert grid == {
        "batch_size": [32, 64],
        "warmup_epochs": [0, 2, 4],
        "weight_decay": [0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1],
    }
    assert list(check(spec, ctx.platform)) == []


def test_grid_study_visits_every_point_once(tmp_path: Path) -> None:
    """Three workers share one grid order (the same seed: grid ids go through the storage,
    the points they stand for come from each worker's shuffle) and take turns. Optuna
    warns about a grid value outside its distribution, an error under this suite's
    filterwarnings. `optimize`, as the workers use it: the grid sampler stops the study when
    the grid is exhausted, which Optuna refuses outside `optimize`."""
    spec, ctx = grid_spec(warmup=False)
    doc = study_doc(render(spec, ctx))
    space = search_space(doc)
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    workers = [open_study(doc, url, index, optimize=True) for index in range(3)]
    objective = objective_for(space)
    for i in range(doc["n_trials"]):  # the last trial exhausts the grid: the sampler stops the study
        workers[i % 3].optimize(objective, n_trials=1)
    trials = workers[0].get_trials(states=FINISHED)
    points = {tuple(sorted(t.params.items())) for t in trials}
    assert len(points) == len(trials) == 12
    for trial in trials:
        assert_in_spec(spec, trial.params)


def test_grid_needs_a_discrete_space() -> None:
    spec, ctx = effective("churn-predictor")  # C is a continuous float
    grid = with_tuning(spec, sampler="grid")
    [finding] = check(grid, ctx.platform)
    assert (finding.pointer, finding.code, finding.severity, finding.key) == (
        "/spec/tuning/searchSpace/C",
        "M209",
        "error",
        True,
    )
    with pytest.raises(ValueError, match="no finite grid"):
        render(grid, ctx)


def test_grid_size_is_bounded_and_compared_with_trials() -> None:
    spec, ctx = effective("churn-predictor")
    huge = with_tuning(
        spec, sampler="grid", search_space={"a": int_param(low=0, high=999), "b": int_param(low=0, high=999)}
    )
    [finding] = check(huge, ctx.platform)
    assert finding.pointer == "/spec/tuning/sampler" and "1000000 points" in finding.message
    small = with_tuning(spec, sampler="grid", trials=40, search_space={"a": int_param(low=0, high=9)})
    [finding] = check(small, ctx.platform)
    assert finding.severity == "warning" and "stops after 10 of the 40" in finding.message
    partial = with_tuning(spec, sampler="grid", trials=4, search_space={"a": int_param(low=0, high=9)})
    [finding] = check(partial, ctx.platform)
    assert finding.severity == "warning" and "cover 4 of the 10" in finding.message


def test_cmaes_study(tmp_path: Path) -> None:
    spec, ctx = effective("image-classifier", "dev")
    spec = with_tuning(spec, sampler="cmaes")
    doc = study_doc(render(spec, ctx))
    assert doc["sampler"]["name"] == "CmaEsSampler" and doc["sampler"]["seed_per_worker"] is True
    findings = list(check(spec, ctx.platform))
    assert [(f.pointer, f.severity) for f in findings] == [("/spec/tuning/searchSpace/batch_size", "warning")]
    pytest.importorskip("cmaes", reason="CmaEsSampler needs the cmaes package")
    study = open_study(doc, f"sqlite:///{tmp_path / 'cma.db'}")
    for params in ask_and_tell(study, search_space(doc), 3):
        assert_in_spec(spec, params)


def test_cmaes_needs_two_numeric_parameters() -> None:
    spec, ctx = effective("churn-predictor")
    spec = with_tuning(spec, sampler="cmaes", search_space={"C": float_param(low=0.1, high=1.0)})
    [finding] = check(spec, ctx.platform)
    assert finding.pointer == "/spec/tuning/sampler" and "has 1" in finding.message


# ------------------------------------------------------------------ deadline and budget


def test_deadline_is_expected_duration_with_margin() -> None:
    spec, ctx = effective("churn-predictor")  # 40 trials, 4 workers, 10 minutes, 60 CPU-hours
    limits = deadline(spec, ctx.platform)
    assert limits is not None
    assert (limits.workers, limits.trials_per_worker, limits.trial_seconds) == (4, 10, 600)
    assert limits.active_deadline_seconds == math.ceil(10 * 600 * SAFETY) == 9000
    assert limits.budget_seconds == 60 * 3600 // (4 * 2)
    assert limits.timeout_seconds == 9000 - 600
    assert study_doc(render(spec, ctx))["timeout"] == limits.timeout_seconds


def test_budget_tightens_the_deadline() -> None:
    spec, ctx = effective("churn-predictor")
    assert spec.spec.tuning is not None
    tight = with_tuning(spec, budget=spec.spec.tuning.budget.model_copy(update={"cpu_hours": 8.0}))
    limits = deadline(tight, ctx.platform)
    assert limits is not None
    assert limits.active_deadline_seconds == limits.budget_seconds == 8 * 3600 // (4 * 2)
    assert job_of(render(tight, ctx))["spec"]["activeDeadlineSeconds"] == 3600
    [finding] = check(tight, ctx.platform)  # 40 x 1/6 h x 2 CPUs = 13.3 CPU-hours > 8
    assert (finding.pointer, finding.severity) == ("/spec/tuning/budget/cpuHours", "warning")
    assert "about 24 trials" in finding.message  # 4 workers x 6 trials of 10 minutes in an hour


def test_gpu_budget_applies_to_gpu_trials() -> None:
    spec, ctx = effective("image-classifier")  # 150 GPU-hours, 2 workers x 1 GPU: 75 h
    limits = deadline(spec, ctx.platform)
    assert limits is not None and limits.budget_seconds == 75 * 3600
    assert spec.spec.tuning is not None and spec.spec.tuning.budget.cpu_hours == 0  # not budgeted, not zero


def test_budget_below_one_trial_is_an_error() -> None:
    spec, ctx = effective("fraud-detector")
    assert spec.spec.tuning is not None
    broke = with_tuning(spec, budget=spec.spec.tuning.budget.model_copy(update={"cpu_hours": 1.0}))
    [finding] = check(broke, ctx.platform)  # 1 CPU-hour over 4 x 4 CPUs: under 4 minutes
    assert (finding.pointer, finding.severity) == ("/spec/tuning/budget", "error")
    limits = deadline(broke, ctx.platform)
    assert limits is not None and limits.timeout_seconds == 0 and limits.active_deadline_seconds == 225


def test_deadline_is_capped() -> None:
    spec, ctx = effective("fraud-detector")
    assert spec.spec.tuning is not None
    unbudgeted = spec.spec.tuning.budget.model_copy(update={"cpu_hours": 0.0})
    limits = deadline(with_tuning(spec, trials=5000, trial_minutes=600, budget=unbudgeted), ctx.platform)
    assert limits is not None and limits.active_deadline_seconds == MAX_DEADLINE


@pytest.mark.parametrize(("model", "env"), CASES)
def test_examples_pass_the_tuning_checks(model: str, env: str) -> None:
    spec, ctx = effective(model, env)
    assert list(check(spec, ctx.platform)) == []


# ------------------------------------------------------------------ determinism, purity, lazy import


@pytest.mark.parametrize(("model", "env"), CASES)
def test_rendering_is_deterministic(model: str, env: str) -> None:
    spec, ctx = effective(model, env)
    first, second = render(spec, ctx), render(spec, ctx)
    assert first == second
    assert [dump(r) for r in first] == [dump(r) for r in second]
    text = study_json(spec, ctx)
    assert text == study_json(spec, ctx) == study_cm(first)["data"]["study.json"]
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


_PRINT_STUDIES = """
import sys
sys.path.insert(0, {tests!r})
import test_render_tuning as t
from maestro.render.tuning import study_json
for model, env in t.CASES:
    sys.stdout.write(study_json(*t.effective(model, env)))
"""


def test_study_json_does_not_depend_on_hash_seed() -> None:
    """Another process, with another string hash seed, writes the same bytes."""
    code = _PRINT_STUDIES.format(tests=str(ROOT / "tests"))
    seed = "1" if os.environ.get("PYTHONHASHSEED") == "0" else "0"
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": seed},
    )
    assert run.stdout == "".join(study_json(*effective(model, env)) for model, env in CASES)


@pytest.mark.parametrize("model", TUNED)
def test_render_does_not_modify_the_spec_or_share_state(model: str) -> None:
    spec, ctx = effective(model)
    before = spec.model_dump()
    first = render(spec, ctx)
    assert spec.model_dump() == before
    pristine = copy.deepcopy(first)
    job = job_of(first)
    pod = job["spec"]["template"]["spec"]
    pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    pod["containers"][0]["env"][0]["value"] = "changed"
    pod["volumes"][-1]["emptyDir"]["medium"] = "Memory"
    pod.get("tolerations", [{}])[0]["key"] = "changed"
    job["spec"]["template"]["metadata"]["labels"]["x"] = "y"
    job["metadata"]["annotations"]["x"] = "y"
    study_cm(first)["metadata"]["annotations"]["x"] = "y"
    assert render(spec, ctx) == pristine


def test_importing_the_renderer_does_not_import_optuna() -> None:
    code = (
        "import sys, maestro.render.tuning, maestro.pipeline\n"
        "print(sorted(m for m in sys.modules if m == 'optuna' or m.startswith('optuna.')))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert run.stdout.strip() == "[]"


def test_unchecked_step_is_refused_not_rounded() -> None:
    """Optuna would only warn and lower `high`; semantics reports it, and a renderer handed
    an unchecked spec fails loudly rather than writing a different range."""
    spec, ctx = effective("churn-predictor")
    bad = with_tuning(spec, search_space={"max_iter": int_param(low=100, high=1050, step=100)})
    with pytest.raises(Warning):
        render(bad, ctx)
