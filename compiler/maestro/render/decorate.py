"""What every pod Maestro renders gets, whichever renderer built it.

Renderers build pods for their own purpose (serving, training, tuning, Feast, registry
sync, drift, launchers); the platform's cross-cutting settings are applied here, once, to
every pod template of the model's objects, so that no renderer can forget them and none
has to know about the others:

- logs: every container gets `LOG_FORMAT=json` and `LOG_LEVEL` (`monitoring.logs.level`,
  default info). The log agents index the pod labels `pod_labels` sets (team, model, env,
  component); the Loki rules and dashboard select on the same labels (render/logs.py).
  With tracing, `OTEL_PYTHON_LOG_CORRELATION=true` makes OpenTelemetry's logging
  instrumentation put the trace and span ids on every log record, which is how a log line
  links to its trace in Grafana.
- traces: with `monitoring.tracing.autoInstrument` and a collector in the environment, the
  serving, training, tuning and pipeline pods carry the OpenTelemetry Operator's
  `instrumentation.opentelemetry.io/inject-python` annotation naming the model's
  `Instrumentation` (render/monitoring.py), and `.../container-names` naming the
  containers to instrument (the operator otherwise takes the first one, which on a meshed
  pod may be the sidecar).
- lineage: training, tuning and pipeline pods get the OpenLineage transport (`lineage.url`)
  and the namespace and job name `maestro lineage` uses for the run (`<model>.train`, ...).
- cost: training and tuning pods on spot nodes get the platform's spot scheduling
  (render/spot.py); training pods get `MAESTRO_CHECKPOINT_PATH` (`training.checkpointPath`)
  and the spec's `restartPolicy`.

A pod template is found by shape: `{metadata?, spec: {containers: [...]}}` anywhere in an
object (Deployment, Job, CronJob, Rollout, Kubeflow replica specs), and the components of a
KServe InferenceService (`predictor` etc., whose `labels`/`annotations` KServe copies onto
the pods and whose `model` is the `kserve-container`). The pod's
`app.kubernetes.io/component` label says what it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from maestro.frontend.spec import Spec
from maestro.render import Context, Resource
from maestro.render.pod import instrumentation_name, instrumented, traced
from maestro.render.spot import on_spot, schedule_on_spot

COMPONENT_LABEL = "app.kubernetes.io/component"
INJECT_PYTHON = "instrumentation.opentelemetry.io/inject-python"
CONTAINER_NAMES = "instrumentation.opentelemetry.io/container-names"
KSERVE_CONTAINER = "kserve-container"  # the name KServe gives the `model` container
KSERVE_COMPONENTS = ("predictor", "transformer", "explainer")
TRAINER_NODE = "node"  # the trainer container of Kubeflow Trainer v2's runtimes
# Pods whose code is the model team's: tracing them is useful; the platform's own jobs
# (Feast apply, registry sync, launchers, drift) are not instrumented.
CHECKPOINT_ENV = "MAESTRO_CHECKPOINT_PATH"
# Pods whose runs are lineage jobs, and the job each reports as (maestro/lineage.py names).
LINEAGE_JOBS = {"training": "train", "tuning": "tune", "pipeline": "pipeline"}
TRACED_COMPONENTS = frozenset({"serving", "training", "tuning", "pipeline"})


def is_traced_component(component: str) -> bool:
    """The model's own code: serving (and its A/B variants, `serving-<variant>`), training, tuning, pipeline."""
    return component in TRACED_COMPONENTS or component.startswith("serving-")


class Pod:
    """A pod template inside an object: where its labels, annotations, pod spec and containers
    live, and the object holding the template (a Kubeflow replica spec keeps the restart
    policy there)."""

    def __init__(
        self,
        meta: dict[str, Any],
        containers: list[dict[str, Any]],
        spec: dict[str, Any] | None = None,
        holder: dict[str, Any] | None = None,
    ) -> None:
        self.meta = meta
        self.containers = containers
        self.spec = spec
        self.holder = holder
        # where each container's env goes (the container itself, except for a TrainJob's node)
        self.env_targets: list[dict[str, Any]] = containers

    @property
    def component(self) -> str:
        return str((self.meta.get("labels") or {}).get(COMPONENT_LABEL, ""))


def pod_templates(node: Any, holder: dict[str, Any] | None = None) -> Iterator[Pod]:
    """Every pod template in an object, outermost first."""
    if isinstance(node, dict) and node.get("kind") == "TrainJob":
        yield from _train_job_pods(node)
        return
    if isinstance(node, dict):
        if node.get("kind") == "InferenceService" and isinstance(node.get("spec"), dict):
            for name in KSERVE_COMPONENTS:
                comp = node["spec"].get(name)
                if isinstance(comp, dict):
                    containers = [comp["model"]] if isinstance(comp.get("model"), dict) else []
                    containers += [c for c in comp.get("containers") or [] if isinstance(c, dict)]
                    yield Pod(comp, containers)
            return
        spec = node.get("spec")
        if isinstance(spec, dict) and isinstance(spec.get("containers"), list):
            containers = [c for c in spec["containers"] if isinstance(c, dict)]
            yield Pod(node.setdefault("metadata", {}), containers, spec, holder)
        for value in node.values():
            yield from pod_templates(value, node)
    elif isinstance(node, list):
        for value in node:
            yield from pod_templates(value, holder)


def _train_job_pods(job: dict[str, Any]) -> Iterator[Pod]:
    """A Kubeflow Trainer v2 TrainJob's pod templates (in `spec.runtimePatches`), with the
    trainer's own container (`node`) taking its env from `spec.trainer.env`: the TrainJob API
    sets the trainer's image, command, env and resources there, and the trainer plugin
    writes them into the `node` container of the runtime's pods, so env is the trainer's
    (kubeflow/trainer docs, "TrainJob ... trainer.env"); the runtime patch only carries what
    the trainer section cannot say (labels, security, volumes, scheduling)."""
    trainer = (job.get("spec") or {}).get("trainer")
    for pod in pod_templates(job.get("spec")):
        if isinstance(trainer, dict):
            pod.env_targets = [trainer if c.get("name") == TRAINER_NODE else c for c in pod.containers]
        yield pod


def container_name(pod: Pod, container: dict[str, Any]) -> str:
    return str(container.get("name") or KSERVE_CONTAINER)


def log_env(spec: Spec) -> list[dict[str, str]]:
    logs = spec.spec.monitoring.logs if spec.spec.monitoring else None
    env = [{"name": "LOG_FORMAT", "value": "json"}, {"name": "LOG_LEVEL", "value": logs.level if logs else "info"}]
    if traced(spec):
        env.append({"name": "OTEL_PYTHON_LOG_CORRELATION", "value": "true"})
    return env


def lineage_env(spec: Spec, ctx: Context, job: str) -> list[dict[str, str]]:
    """OpenLineage client settings (openlineage-python reads OPENLINEAGE__TRANSPORT__*; the Airflow
    and dbt integrations OPENLINEAGE_NAMESPACE) and the job name the run reports, which is the
    name `maestro lineage` draws (maestro/lineage.py)."""
    lineage = ctx.platform.lineage
    if lineage.url is None:
        return []
    namespace = lineage.namespace.format(team=spec.metadata.team, env=ctx.env, model=spec.metadata.name)
    return [
        {"name": "OPENLINEAGE__TRANSPORT__TYPE", "value": "http"},
        {"name": "OPENLINEAGE__TRANSPORT__URL", "value": lineage.url},
        {"name": "OPENLINEAGE__TRANSPORT__ENDPOINT", "value": lineage.endpoint},
        {"name": "OPENLINEAGE_NAMESPACE", "value": namespace},
        {"name": "OPENLINEAGE_JOB_NAME", "value": f"{spec.metadata.name}.{job}"},
    ]


def add_env(pod: Pod, env: list[dict[str, str]]) -> None:
    """`env` appended to every container of the pod, but never over a variable it already sets."""
    for container in pod.env_targets:
        present = {e.get("name") for e in container.get("env") or []}
        extra = [dict(e) for e in env if e["name"] not in present]
        if extra:
            container["env"] = [*(container.get("env") or []), *extra]


def decorate(resources: list[Resource], spec: Spec, ctx: Context) -> list[Resource]:
    """The objects with every pod template given the settings above (in place, and returned)."""
    env = log_env(spec)
    inject = instrumented(spec, ctx)
    spot: dict[str, bool] = {
        "training": on_spot(spec, ctx.platform, ctx.env, "training"),
        "tuning": on_spot(spec, ctx.platform, ctx.env, "tuning"),
    }
    training = spec.spec.training
    for res in resources:
        for pod in pod_templates(res):
            if pod.spec is not None and spot.get(pod.component, False):
                schedule_on_spot(pod.spec, ctx.platform)
            if pod.component in LINEAGE_JOBS:
                add_env(pod, lineage_env(spec, ctx, LINEAGE_JOBS[pod.component]))
            if pod.component == "training" and training is not None:
                if training.checkpoint_path is not None:
                    add_env(pod, [{"name": CHECKPOINT_ENV, "value": training.checkpoint_path}])
                if training.restart_policy is not None and pod.spec is not None:
                    # a Kubeflow replica spec holds the policy beside its template; a Job's pod in its spec
                    if pod.holder is not None and "restartPolicy" in pod.holder:
                        pod.holder["restartPolicy"] = training.restart_policy
                    else:
                        pod.spec["restartPolicy"] = training.restart_policy
            add_env(pod, env)
            if inject and is_traced_component(pod.component) and pod.containers:
                pod.meta["annotations"] = {
                    **(pod.meta.get("annotations") or {}),
                    INJECT_PYTHON: instrumentation_name(spec),
                    CONTAINER_NAMES: ",".join(container_name(pod, c) for c in pod.containers),
                }
    return resources
