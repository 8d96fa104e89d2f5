"""tuning: an Optuna study, run by an indexed Job whose workers share an RDB storage.

Objects, per model and environment (none without `tuning`, or without `training`, whose
image runs the trials; semantics reports the latter as M216):

    ConfigMap `<model>-tuning-study`   `study.json`, the study definition below; `emit` also
                                       writes it beside the manifests as `tuning/study.json`
    Job `<model>-tuning`               batch/v1, completionMode Indexed, one pod per worker,
                                       parallelism = completions = min(parallelism, trials);
                                       not synced by Argo CD but launched, in ConfigMap
                                       `<model>-tuning-job`, by the Sync hook Job
                                       `<model>-tuning-launcher` (render/launch.py): a sync
                                       that leaves the Job's manifest alone starts no study,
                                       a changed manifest replaces the running one (which
                                       the new one resumes: the study name is stable)

The study ConfigMap, the Job and its launcher carry `maestro.ml/estimated-cpu-hours`,
`-gpu-hours` and `-cost` (with the currency) from `costs.tuning_estimate`: trials x trial
duration x one pod of `training.resources`.

study.json (format `maestro.ml/optuna-study/v1`; sorted keys, 2-space indent, final newline,
byte-for-byte the same for the same inputs)

    study_name    `<model>-<env>`: stable, so a Job that is re-created (a new image or
                  any other change of its manifest) resumes the same study
    direction     "maximize" | "minimize"; metric: the value each trial reports
    n_trials      the study's target: trials finished (complete or pruned) in the storage
    timeout       seconds after which a worker starts no more trials (Optuna's `timeout`)
    sampler       {name: class in optuna.samplers, kwargs, seed_per_worker}
    pruner        {name: class in optuna.pruners, kwargs}
    storage       {env: "OPTUNA_STORAGE", kwargs: optuna.storages.RDBStorage arguments}
    search_space  {param: the object `optuna.distributions.distribution_to_json` writes}

Samplers: tpe = TPESampler(multivariate, constant_liar: workers that run at once do not all
probe the same region); random; cmaes (the image needs the `cmaes` package; categorical
parameters are sampled at random, see `check`); grid = GridSampler over every value of the
space, which must be discrete (`check`). The seed derives from the study name; every worker
adds its JOB_COMPLETION_INDEX to it (`seed_per_worker`) so that parallel workers do not
draw the same random start-up points, except for the grid sampler, whose grid order comes
from the seed and must be the same in every worker (grid ids are shared through storage).
Pruners: none = NopPruner; median = MedianPruner; hyperband = HyperbandPruner from step 1
to `max_resource: "auto"` (the last step of the first finished trial): the spec has no
epoch count, and steps are whatever the trials `report`. Storage kwargs turn on Optuna's
heartbeat (experimental in 5.0), which marks the trials of a killed pod failed instead of
leaving them running forever.

The worker (the training image, run with `training.command`/`args`; MAESTRO_STUDY_FILE
being set is what tells it to tune instead of train):

    doc = json.load(open(os.environ["MAESTRO_STUDY_FILE"]))
    index = int(os.environ["JOB_COMPLETION_INDEX"])            # set by Kubernetes
    space = {k: json_to_distribution(json.dumps(v)) for k, v in doc["search_space"].items()}
    kwargs = dict(doc["sampler"]["kwargs"])
    if doc["sampler"]["seed_per_worker"]: kwargs["seed"] += index
    storage = RDBStorage(os.environ["OPTUNA_STORAGE"], **doc["storage"]["kwargs"])
    study = optuna.create_study(storage=storage, study_name=doc["study_name"],
                                direction=doc["direction"], load_if_exists=True,
                                sampler=getattr(optuna.samplers, doc["sampler"]["name"])(**kwargs),
                                pruner=getattr(optuna.pruners, doc["pruner"]["name"])(**doc["pruner"]["kwargs"]))
    # then, unless the study already holds n_trials finished (complete or pruned) trials:
    study.optimize(objective, n_trials=int(os.environ["MAESTRO_TRIALS_PER_WORKER"]),
                   timeout=doc["timeout"], callbacks=[MaxTrialsCallback(doc["n_trials"],
                                                                        states=(COMPLETE, PRUNED))])
    # the objective suggests each parameter of `space` with the public API
    # (suggest_float/suggest_int with the distribution's low, high, step and log;
    # suggest_categorical with its choices), trains, reports steps, returns doc["metric"].

`optimize` rather than an ask/tell loop: the storage heartbeat only runs inside it (Optuna
warns otherwise), and it honours `study.stop()`, which MaxTrialsCallback calls at the target
and the grid sampler when the grid is exhausted (outside `optimize`, Optuna 5.0 raises
there). Note that `create_study(load_if_exists=True)` keeps the stored direction, and that
Optuna refuses a categorical parameter whose choices changed: under the stable study name
such a change needs a new parameter name.

Storage credentials (never inline). OPTUNA_STORAGE comes from the Secret
`<model>-tuning-db` through `secretKeyRef`, never optional (a worker without it would tune
alone in memory). Maestro renders no Secret: either the spec declares a Vault secret named
`tuning-db` whose `env` maps OPTUNA_STORAGE to the Vault key holding the RDB URL (the Vault
sync family turns it into `<model>-tuning-db`; the Job reads that key), or, when the spec
declares none, `config.tuning.storage_secret` implies that secret (a Vault path per team,
model or environment; render/secrets.py `vault_secrets`), or else the platform provides
`<model>-tuning-db` in the model's namespace with the URL under key `url` (declared in
`provided.secrets`; the link stage checks one of the three holds). `check` rejects a `tuning-db` secret that does not map
OPTUNA_STORAGE, and OPTUNA_STORAGE mapped by any other secret.

Deadline (`deadline`). A trial lasts `trialMinutes` (default: platform `tuning.trial_minutes`);
each worker runs ceil(trials / workers) of them, so the study should take
expected = trial x ceil(trials / workers). The Job's activeDeadlineSeconds is the least of
  - expected x 1.5 (queueing, image pulls, slow trials),
  - the wall clock the budget buys: cpuHours / (workers x CPU per pod) and
    gpuHours / (workers x GPUs per pod); a budget of 0 is "not budgeted" (specs give GPU
    studies cpuHours: 0),
  - 7 days (the longest a training run may take).
Optuna's `timeout` is that deadline less one trial, so that the last trial a worker starts
should finish before Kubernetes stops the Job. `check` reports a budget shorter than one
trial (error) and an estimate over budget (warning).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import warnings
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, NamedTuple

from maestro.costs import TuningEstimate, quantity, tuning_estimate
from maestro.frontend.loader import escape
from maestro.frontend.semantics import Violation
from maestro.frontend.spec import Budget, CategoricalParam, FloatParam, IntParam, Resources, Spec, Tuning
from maestro.names import ARTIFACT_DIR
from maestro.render import Context, Resource, launch, name_of, obj, pod_labels, service_account_name
from maestro.render.pod import (
    NO_SIDECAR,
    TMP_MOUNT,
    TMP_VOLUME,
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
from maestro.render.secrets import TUNING_DB, TUNING_STORAGE_ENV, secret_env, vault_secrets
from maestro.resolve.config import Platform

COMPONENT = "tuning"
FORMAT = "maestro.ml/optuna-study/v1"
STUDY_FILE = "study.json"
STUDY_DIR = "/etc/maestro/tuning"
ARTIFACT_FOLDER = "tuning"  # rendered/<env>/<model>/tuning/study.json
CONTAINER = "trial"

DB_SECRET = TUNING_DB  # the spec secret (or platform Secret `<model>-tuning-db`) with the storage URL
DB_SECRET_KEY = "url"  # its key when the platform provides it
STORAGE_ENV = TUNING_STORAGE_ENV

SAFETY = 1.5  # expected study duration x this = the Job's deadline, unless the budget is tighter
MAX_DEADLINE = 7 * 24 * 3600  # as training.timeoutMinutes' maximum
BACKOFF_LIMIT_PER_INDEX = 1  # a worker lost to a node gets one retry; the others go on meanwhile
HEARTBEAT_INTERVAL = 60  # seconds; a trial without a heartbeat for GRACE_PERIOD is marked failed
GRACE_PERIOD = 180
MAX_GRID_POINTS = 100_000  # GridSampler holds the whole product in memory in every worker

ESTIMATED_CPU_HOURS = "maestro.ml/estimated-cpu-hours"
ESTIMATED_GPU_HOURS = "maestro.ml/estimated-gpu-hours"
ESTIMATED_COST = "maestro.ml/estimated-cost"

SAMPLERS = {"tpe": "TPESampler", "random": "RandomSampler", "cmaes": "CmaEsSampler", "grid": "GridSampler"}
TPE_STARTUP_TRIALS = 10  # Optuna's default, written out: random trials before TPE models anything
PRUNERS: dict[str, tuple[str, dict[str, Any]]] = {
    "none": ("NopPruner", {}),
    "median": ("MedianPruner", {"n_startup_trials": 5, "n_warmup_steps": 0, "interval_steps": 1, "n_min_trials": 1}),
    "hyperband": ("HyperbandPruner", {"min_resource": 1, "max_resource": "auto", "reduction_factor": 3}),
}

Param = FloatParam | IntParam | CategoricalParam


# ------------------------------------------------------------------ names


def job_name(spec: Spec) -> str:
    return f"{name_of(spec)}-tuning"


def config_map_name(spec: Spec) -> str:
    return f"{name_of(spec)}-tuning-study"


def study_name(spec: Spec, env: str) -> str:
    return f"{name_of(spec)}-{env}"


def storage_secret(spec: Spec, ctx: Context) -> tuple[str, str]:
    """(Secret name, key) OPTUNA_STORAGE is read from: the spec's `tuning-db` secret, else the
    one `config.tuning.storage_secret` implies (render/secrets.py), else the platform's."""
    key = DB_SECRET_KEY
    for secret in vault_secrets(spec, ctx):
        if secret.name == DB_SECRET:
            key = secret.env.get(STORAGE_ENV, DB_SECRET_KEY)
    return f"{name_of(spec)}-{DB_SECRET}", key


# ------------------------------------------------------------------ deadline


class Deadline(NamedTuple):
    workers: int
    trials_per_worker: int
    trial_seconds: int
    expected_seconds: int  # trial x trials per worker
    budget_seconds: int | None  # wall clock the budget buys at this parallelism (None: no budget)
    active_deadline_seconds: int
    timeout_seconds: int  # Optuna's `timeout`: the deadline less one trial


def deadline(spec: Spec, platform: Platform) -> Deadline | None:
    """The Job's wall-clock bound and Optuna's timeout (module docstring, "Deadline")."""
    t, estimate = spec.spec.tuning, tuning_estimate(spec, platform)
    training = spec.spec.training
    if t is None or training is None or estimate is None:
        return None
    workers = min(t.parallelism, t.trials)
    per_worker = math.ceil(t.trials / workers)
    trial_seconds = round(estimate.trial_hours * 3600)
    expected = trial_seconds * per_worker
    budget = _budget_seconds(t.budget, training.resources, workers)
    bound = min(x for x in (math.ceil(expected * SAFETY), budget, MAX_DEADLINE) if x is not None)
    bound = max(bound, 1)  # the API wants a positive number; `check` reports a budget this small
    return Deadline(workers, per_worker, trial_seconds, expected, budget, bound, max(bound - trial_seconds, 0))


def _budget_seconds(budget: Budget, res: Resources, workers: int) -> int | None:
    limits = []
    cores = quantity(res.cpu)
    if budget.cpu_hours > 0 and cores > 0:
        limits.append(Decimal(str(budget.cpu_hours)) / (workers * cores))
    if budget.gpu_hours > 0 and res.gpu > 0:
        limits.append(Decimal(str(budget.gpu_hours)) / (workers * res.gpu))
    return int(min(limits) * 3600) if limits else None


# ------------------------------------------------------------------ the study


def _seed(name: str) -> int:
    # Stable across runs and machines (unlike hash()); below 2**31 so that seed + index
    # stays within what numpy's RandomState accepts.
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") % 2**31


def distribution(param: Param) -> Any:
    """The Optuna distribution of one search-space entry (Optuna decides what is valid)."""
    from optuna import distributions as od  # ~1 s: only specs with tuning pay for it

    with warnings.catch_warnings():
        # Optuna only warns about a step that does not divide the range; semantics reports
        # it as an error first, so here it means an unchecked spec: fail, do not round.
        warnings.simplefilter("error")
        if isinstance(param, FloatParam):
            return od.FloatDistribution(param.low, param.high, log=param.log, step=param.step)
        if isinstance(param, IntParam):
            return od.IntDistribution(param.low, param.high, log=param.log, step=param.step)
        return od.CategoricalDistribution(tuple(param.choices))


def grid_size(param: Param) -> int | None:
    """How many values the parameter takes; None for a continuous float."""
    if isinstance(param, CategoricalParam):
        return len(param.choices)
    if isinstance(param, IntParam):
        return max((param.high - param.low) // param.step + 1, 0)
    if param.step is None:
        return None
    span = Decimal(str(param.high)) - Decimal(str(param.low))
    return max(int(span // Decimal(str(param.step))) + 1, 0)


def grid_values(param: Param) -> list[Any]:
    """Every value of a discrete parameter, each one that its distribution contains."""
    if isinstance(param, CategoricalParam):
        return list(param.choices)
    if isinstance(param, IntParam):
        return list(range(param.low, param.high + 1, param.step))
    size = grid_size(param)
    if size is None:
        raise ValueError("a continuous float has no grid; `check` reports this")
    # Decimal steps: 0.1 * 3 is 0.30000000000000004 in floats, and the grid is in the file.
    low, step = Decimal(str(param.low)), Decimal(str(param.step))
    return [float(low + k * step) for k in range(size)]


def _sampler(t: Tuning, name: str) -> dict[str, Any]:
    seed = _seed(name)
    kwargs: dict[str, Any]
    if t.sampler == "tpe":
        kwargs = {"seed": seed, "n_startup_trials": TPE_STARTUP_TRIALS, "multivariate": True, "constant_liar": True}
    elif t.sampler == "grid":
        sizes = [grid_size(p) for p in t.search_space.values()]
        if any(s is None for s in sizes) or math.prod(s or 0 for s in sizes) > MAX_GRID_POINTS:
            raise ValueError(f"search space of study '{name}' is no finite grid; `check` reports this")
        kwargs = {"seed": seed, "search_space": {k: grid_values(p) for k, p in sorted(t.search_space.items())}}
    else:
        kwargs = {"seed": seed}
    return {"name": SAMPLERS[t.sampler], "kwargs": kwargs, "seed_per_worker": t.sampler != "grid"}


def study_document(spec: Spec, ctx: Context) -> dict[str, Any]:
    """study.json as data."""
    t, limits = spec.spec.tuning, deadline(spec, ctx.platform)
    assert t is not None and limits is not None
    from optuna.distributions import distribution_to_json

    name = study_name(spec, ctx.env)
    pruner, pruner_kwargs = PRUNERS[t.pruner]
    return {
        "format": FORMAT,
        "study_name": name,
        "direction": t.direction,
        "metric": t.metric,
        "n_trials": t.trials,
        "timeout": limits.timeout_seconds,
        "sampler": _sampler(t, name),
        "pruner": {"name": pruner, "kwargs": copy.deepcopy(pruner_kwargs)},
        "storage": {
            "env": STORAGE_ENV,
            "kwargs": {"heartbeat_interval": HEARTBEAT_INTERVAL, "grace_period": GRACE_PERIOD},
        },
        "search_space": {
            k: json.loads(distribution_to_json(distribution(p))) for k, p in sorted(t.search_space.items())
        },
    }


def study_json(spec: Spec, ctx: Context) -> str:
    return json.dumps(study_document(spec, ctx), indent=2, sort_keys=True) + "\n"


# ------------------------------------------------------------------ objects


def _number(x: float) -> str:
    """120.0 -> "120", 13.333 -> "13.333": no float noise, no exponent."""
    return format(Decimal(repr(x)).normalize(), "f")


def estimate_annotations(estimate: TuningEstimate, platform: Platform) -> dict[str, str]:
    return {
        ESTIMATED_CPU_HOURS: _number(estimate.cpu_hours),
        ESTIMATED_GPU_HOURS: _number(estimate.gpu_hours),
        ESTIMATED_COST: f"{estimate.cost:.2f} {platform.costs.currency}",
    }


def render(spec: Spec, ctx: Context) -> list[Resource]:
    t, training = spec.spec.tuning, spec.spec.training
    estimate = tuning_estimate(spec, ctx.platform)
    if t is None or training is None or estimate is None:
        return []
    annotations = estimate_annotations(estimate, ctx.platform)
    config_map = obj("v1", "ConfigMap", config_map_name(spec), data={STUDY_FILE: study_json(spec, ctx)})
    config_map["metadata"]["annotations"] = {**annotations, ARTIFACT_DIR: ARTIFACT_FOLDER}
    job = obj("batch/v1", "Job", job_name(spec), _job_spec(spec, ctx))
    job["metadata"]["annotations"] = dict(annotations)
    return [config_map, *launch.once(spec, ctx, job, COMPONENT, annotations)]


def _env(spec: Spec, ctx: Context, limits: Deadline) -> list[dict[str, Any]]:
    secret, key = storage_secret(spec, ctx)
    # As the training pods: trials log their runs to the model's experiment.
    env: list[dict[str, Any]] = [
        *mlflow_env(spec, ctx),
        {"name": "MAESTRO_STUDY_FILE", "value": f"{STUDY_DIR}/{STUDY_FILE}"},
        {"name": "OPTUNA_STUDY_NAME", "value": study_name(spec, ctx.env)},
        {"name": "MAESTRO_TRIALS_PER_WORKER", "value": str(limits.trials_per_worker)},
        {"name": STORAGE_ENV, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}},
        *tracing_env(spec, ctx),
        *[e for e in secret_env(spec) if e["name"] != STORAGE_ENV],
    ]
    return env


def _job_spec(spec: Spec, ctx: Context) -> dict[str, Any]:
    training, limits = spec.spec.training, deadline(spec, ctx.platform)
    assert training is not None and limits is not None
    container: dict[str, Any] = {"name": CONTAINER, "image": training.image}
    if training.command:  # without one the image's entrypoint runs (Kubernetes semantics)
        container["command"] = list(training.command)
    if training.args:
        container["args"] = list(training.args)
    container.update(
        {
            "env": _env(spec, ctx, limits),
            "resources": resource_requirements(training.resources, ctx.platform),
            "securityContext": container_security_context(),
            "volumeMounts": [{"name": "study", "mountPath": STUDY_DIR, "readOnly": True}, copy.deepcopy(TMP_MOUNT)],
        }
    )
    volumes = [{"name": "study", "configMap": {"name": config_map_name(spec)}}, copy.deepcopy(TMP_VOLUME)]
    if needs_shm(spec.spec.framework, training.resources):  # trials train as the training pods do
        volumes.append(shm_volume(training.resources))
        container["volumeMounts"].append(shm_mount())
    pod = {
        "serviceAccountName": service_account_name(spec),
        "restartPolicy": "Never",  # required by backoffLimitPerIndex; a failed pod stays for its logs
        "securityContext": pod_security_context(),
        "containers": [container],
        "volumes": volumes,
        **gpu_scheduling(training.resources, ctx.platform),
    }
    return {
        # Every worker at once, each knowing its JOB_COMPLETION_INDEX (its seed offset).
        "completionMode": "Indexed",
        "completions": limits.workers,
        "parallelism": limits.workers,
        "backoffLimitPerIndex": BACKOFF_LIMIT_PER_INDEX,
        "activeDeadlineSeconds": limits.active_deadline_seconds,
        # No TTL: the launched Job stays until a new manifest supersedes it; once gone, the
        # next sync would start it again (render/launch.py).
        "template": {"metadata": {"labels": {**pod_labels(spec, ctx, COMPONENT), **NO_SIDECAR}}, "spec": pod},
    }


# ------------------------------------------------------------------ checks (for semantics)


def check(spec: Spec, platform: Platform) -> Iterator[Violation]:
    """What makes a study unrunnable or wasteful, beyond `semantics.check_tuning`: a grid
    over a continuous or huge space, CMA-ES on what it cannot model, storage credentials the
    Job will not find, a budget that buys no trial or fewer than asked. Assumes the search
    space passed `check_tuning`."""
    t = spec.spec.tuning
    if t is None:
        return
    base = "/spec/tuning"
    yield from _check_sampler(t, base)
    yield from _check_storage(spec)
    yield from _check_budget(spec, platform, base)


def _check_sampler(t: Tuning, base: str) -> Iterator[Violation]:
    space = f"{base}/searchSpace"
    if t.sampler == "grid":
        sizes = {name: grid_size(p) for name, p in t.search_space.items()}
        continuous = [name for name, size in sizes.items() if size is None]
        for name in continuous:
            yield Violation(
                f"{space}/{escape(name)}",
                "M209",
                f"search space '{name}': the grid sampler needs discrete values, and this float has no step",
                "give it a step, list its values as a categorical, or use sampler tpe or random",
                key=True,
            )
        if continuous:
            return
        points = math.prod(size or 0 for size in sizes.values())
        if points > MAX_GRID_POINTS:
            yield Violation(
                f"{base}/sampler",
                "M209",
                f"the grid has {points} points, more than the {MAX_GRID_POINTS} a grid study may have",
                "coarsen the steps or use sampler tpe",
            )
        elif t.trials < points:
            yield Violation(
                f"{base}/trials",
                "M209",
                f"{t.trials} trials cover {t.trials} of the {points} grid points (chosen at random)",
                f"set trials to {points} for the whole grid",
                severity="warning",
            )
        elif t.trials > points:
            yield Violation(
                f"{base}/trials",
                "M209",
                f"the grid has {points} points: the study stops after {points} of the {t.trials} trials",
                f"set trials to {points}",
                severity="warning",
            )
    elif t.sampler == "cmaes":
        numeric = [name for name, p in t.search_space.items() if not isinstance(p, CategoricalParam)]
        for name, p in t.search_space.items():
            if isinstance(p, CategoricalParam):
                yield Violation(
                    f"{space}/{escape(name)}",
                    "M209",
                    f"search space '{name}': CMA-ES does not model categorical parameters; Optuna samples it at random",
                    "use sampler tpe, which models them",
                    key=True,
                    severity="warning",
                )
        if len(numeric) < 2:
            yield Violation(
                f"{base}/sampler",
                "M209",
                f"CMA-ES needs two or more numeric parameters, this space has {len(numeric)}: every trial "
                "would be sampled at random",
                "use sampler tpe",
                severity="warning",
            )


def _check_storage(spec: Spec) -> Iterator[Violation]:
    for i, secret in enumerate(spec.spec.secrets):
        if secret.name == DB_SECRET and STORAGE_ENV not in secret.env:
            yield Violation(
                f"/spec/secrets/{i}/env",
                "M216",
                f"secret '{DB_SECRET}' holds the tuning storage, so its env must map {STORAGE_ENV}",
                f"e.g. env: {{{STORAGE_ENV}: url}}, url being the Vault key with the RDB URL",
            )
        elif secret.name != DB_SECRET and STORAGE_ENV in secret.env:
            yield Violation(
                f"/spec/secrets/{i}/env/{STORAGE_ENV}",
                "M216",
                f"{STORAGE_ENV} comes from secret '{secret.name}', but the tuning Job reads it from the "
                f"secret named '{DB_SECRET}'",
                f"rename the secret to '{DB_SECRET}'",
                key=True,
            )


def _check_budget(spec: Spec, platform: Platform, base: str) -> Iterator[Violation]:
    t, limits, estimate = spec.spec.tuning, deadline(spec, platform), tuning_estimate(spec, platform)
    if t is None or limits is None or estimate is None:
        return  # no training: semantics reports M216
    if limits.budget_seconds is not None and limits.budget_seconds < limits.trial_seconds:
        yield Violation(
            f"{base}/budget",
            "M209",
            f"the budget buys {_hours(limits.budget_seconds)} of wall clock for {limits.workers} "
            f"worker(s), less than one trial of {limits.trial_seconds // 60} minutes",
            "raise the budget, lower parallelism, or check trialMinutes",
        )
        return
    for what, estimated, allowed, field in (
        ("CPU", estimate.cpu_hours, t.budget.cpu_hours, "cpuHours"),
        ("GPU", estimate.gpu_hours, t.budget.gpu_hours, "gpuHours"),
    ):
        if 0 < allowed < estimated:
            fit = min(t.trials, limits.workers * (limits.active_deadline_seconds // limits.trial_seconds))
            yield Violation(
                f"{base}/budget/{field}",
                "M209",
                f"{t.trials} trials are estimated at {_number(estimated)} {what}-hours, over the budget "
                f"of {_number(allowed)}: the study stops after about {fit} trials",
                "raise the budget, or lower trials or trialMinutes",
                severity="warning",
            )


def _hours(seconds: int) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 360 else f"{seconds // 60} min"
