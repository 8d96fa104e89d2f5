"""The spec language: `maestro.yaml`, as frozen pydantic models.

These models are the single source of the JSON Schema (`maestro schema`), of editor hovers
and of `maestro explain`, so every field carries a description. They check *shape* and
field-local rules (names, quantities, cron, Vault paths). Rules across fields (replicas
min <= max, views referring to entities, ...) live in `semantics.py`, which runs on a valid
`Spec` and reports against the same JSON pointers.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from maestro.names import DNS1123_LABEL_PATTERN, RESERVED_MODEL_NAMES, max_name_length

API_VERSION = "maestro.ml/v1alpha1"


class Model(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,  # YAML `workers: "2"` is a string; the JSON Schema says so too
        alias_generator=to_camel,
        validate_by_name=False,
        validate_by_alias=True,
        serialize_by_alias=True,
        use_attribute_docstrings=False,
    )


def _checked(
    pattern: str,
    code: str,
    what: str,
    hint: str | None = None,
    *,
    examples: list[str] | None = None,
    max_length: int | None = None,
    reserved: tuple[str, ...] = (),
) -> Any:
    """A string type checked by one regex, with our code and wording on failure.

    The regex also goes into the JSON Schema, so editors and the schema agree with us.
    """
    pattern = pattern.removeprefix("^").removesuffix("$")
    rx = re.compile(pattern)

    def check(value: str) -> str:
        if max_length is not None and len(value) > max_length:
            raise PydanticCustomError(
                code,
                "'{value}' is {n} characters, longer than {max} allowed for {what}",
                {"value": value, "n": len(value), "max": max_length, "what": what, "hint": hint or ""},
            )
        if not rx.fullmatch(value):
            raise PydanticCustomError(
                code, "'{value}' is not {what}", {"value": value, "what": what, "hint": hint or ""}
            )
        if value in reserved:
            raise PydanticCustomError(
                code,
                "'{value}' is a reserved name: rendered/<env>/{value}/ is not a model's folder",
                {"value": value, "hint": f"pick another name; {', '.join(reserved)} are reserved"},
            )
        return value

    extra: dict[str, Any] = {"pattern": f"^(?:{pattern})$"}
    if max_length is not None:
        extra["maxLength"] = max_length
    if reserved:
        extra["not"] = {"enum": list(reserved)}
    return Annotated[str, AfterValidator(check), Field(json_schema_extra=extra, examples=examples)]


NAME_MAX = max_name_length()
ModelName = _checked(
    DNS1123_LABEL_PATTERN,
    "M201",
    "a DNS-1123 label (lower-case letters, digits and '-', starting and ending alphanumeric)",
    f"names end up in Kubernetes object names with suffixes such as '-predictor-00001', so keep it to {NAME_MAX} characters",
    examples=["fraud-detector"],
    max_length=NAME_MAX,
    reserved=RESERVED_MODEL_NAMES,
)
Label = _checked(
    DNS1123_LABEL_PATTERN,
    "M201",
    "a DNS-1123 label (lower-case letters, digits and '-')",
    examples=["card-txn"],
    max_length=63,
)
# Feast names its objects (entities, sources, feature views, fields) like Python identifiers,
# snake_case in its docs and templates (`driver_hourly_stats`, `conv_rate`): DESIGN's spec
# contract follows that. A DNS label such as `card-txn-7d` is not one.
FeastName = _checked(
    r"[a-z_][a-z0-9_]*",
    "M201",
    "a snake_case identifier (lower-case letters, digits and '_', not starting with a digit)",
    "Feast object names follow Feast's convention, snake_case: write card_txn_7d, not card-txn-7d",
    examples=["card_txn_7d"],
    max_length=63,
)
TeamName = _checked(
    DNS1123_LABEL_PATTERN,
    "M201",
    "a DNS-1123 label (lower-case letters, digits and '-')",
    "the team name becomes part of namespaces such as '<team>-staging'",
    examples=["payments-risk"],
    max_length=40,
)
# Kubernetes resource.Quantity (apimachinery/pkg/api/resource/quantity.go), unsigned here.
QUANTITY = r"(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?"
Quantity = _checked(
    QUANTITY, "M202", "a Kubernetes quantity", 'examples: "500m", "2", "16Gi", "512Mi"', examples=["4", "500m", "16Gi"]
)
ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
EnvName = _checked(
    ENV_NAME,
    "M212",
    "a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
    "use upper case letters, digits and '_', not starting with a digit",
    examples=["DB_PASSWORD"],
)
# KV paths: segments of letters, digits, '_' and '-', optionally with inner dots; never
# '.', '..', globs ('*', '+'), quotes, braces or whitespace, which could widen a policy.
VAULT_PATH = r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(/[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*)*"
VaultPath = _checked(
    VAULT_PATH,
    "M211",
    "a safe Vault path",
    "use '/'-separated segments of letters, digits, '_', '-' and inner dots, "
    "without globs ('*', '+'), '..', quotes, spaces or a leading '/'",
    examples=["secret/data/payments-risk/fraud/feature-db"],
    max_length=512,
)
SecretKey = _checked(
    r"[A-Za-z0-9_.-]+",
    "M104",
    "a key of the Vault secret (letters, digits, '_', '.', '-')",
    examples=["password"],
    max_length=253,
)
Duration = _checked(r"[1-9][0-9]*(s|m|h|d|w)", "M104", "a duration such as 30m, 12h, 7d or 2w", examples=["7d", "12h"])
Owner = _checked(
    r"@[A-Za-z0-9][A-Za-z0-9-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?|[^@\s]+@[^@\s]+\.[A-Za-z]{2,}",
    "M104",
    "a code owner ('@org/team', '@user') or an e-mail address",
    examples=["@payments-risk/ml"],
)
ImageRef = _checked(
    r"[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?",
    "M104",
    "an OCI image reference (registry/repository[:tag][@sha256:digest])",
    examples=["registry.example.com/payments/fraud-train:1.4.2"],
    max_length=512,
)
MetricName = _checked(
    r"[A-Za-z_][A-Za-z0-9_.:/-]*",
    "M104",
    "a metric name (letters, digits, '_', '.', ':', '/', '-')",
    examples=["val_auc"],
    max_length=250,
)
ParamName = _checked(
    r"[A-Za-z_][A-Za-z0-9_.-]*", "M104", "a parameter name", examples=["learning_rate"], max_length=128
)
Alias = _checked(
    r"[A-Za-z_][A-Za-z0-9_-]*",
    "M104",
    "an MLflow alias (letters, digits, '_', '-'; not starting with a digit)",
    examples=["champion"],
    max_length=255,
)


def _cron(value: str) -> str:
    from croniter import croniter  # light; imported here to keep start-up lean

    macros = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
    fields = value.split()
    if value.strip() in macros:
        return value
    # Kubernetes CronJob takes the standard five fields, not croniter's seconds field.
    if len(fields) != 5 or not croniter.is_valid(value):
        raise PydanticCustomError(
            "M203",
            "'{value}' is not a valid cron schedule",
            {
                "value": value,
                "hint": "five fields: minute hour day-of-month month day-of-week, "
                'e.g. "0 3 * * 0" (Sunday 03:00), or @daily/@hourly',
            },
        )
    return value


Cron = Annotated[str, AfterValidator(_cron), Field(examples=["0 3 * * 0", "@daily"])]
Percent = Annotated[float, Field(gt=0, lt=100)]


# ------------------------------------------------------------------- metadata


class Waiver(Model):
    """A time-boxed exception to one governance rule."""

    rule: Annotated[str, Field(description="Code of the policy rule waived, e.g. `MPS004`.", min_length=1)]
    reason: Annotated[str, Field(description="Why the rule does not apply, for reviewers.", min_length=10)]
    until: Annotated[
        str,
        Field(
            description="Last day the waiver applies (YYYY-MM-DD).",
            pattern=r"^\d{4}-\d{2}-\d{2}$",
            examples=["2027-01-31"],
        ),
    ]
    ticket: Annotated[str | None, Field(description="Tracking ticket for removing the waiver.")] = None


class Metadata(Model):
    """Who owns the model and how much it matters."""

    name: Annotated[
        ModelName,
        Field(
            description=f"Model name: a DNS-1123 label of at most {NAME_MAX} characters, "
            "so that every derived object name fits Kubernetes' 63-character limit."
        ),
    ]
    team: Annotated[
        TeamName, Field(description="Owning team; selects the Argo CD project, namespaces, budgets and limits.")
    ]
    owners: Annotated[
        list[Owner], Field(description="Code owners ('@org/team' or e-mail) paged for this model.", min_length=1)
    ]
    tier: Annotated[
        Literal["critical", "standard", "experimental"],
        Field(description="Business criticality; critical models get the strictest governance."),
    ] = "standard"
    cost_center: Annotated[
        str | None,
        Field(
            description="Cost center charged for the model's resources.",
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
            examples=["cc-4411"],
        ),
    ] = None
    description: Annotated[str | None, Field(description="One line on what the model does.", max_length=500)] = None
    waivers: Annotated[list[Waiver], Field(description="Time-boxed exceptions to governance rules.")] = []


# ------------------------------------------------------------------- registry


class Gate(Model):
    """A promotion gate: the served version's run metric must satisfy `op value`."""

    metric: Annotated[MetricName, Field(description="Run metric name as logged to MLflow.")]
    op: Annotated[Literal[">=", ">", "<=", "<", "=="], Field(description="Comparison applied as `metric op value`.")]
    value: Annotated[float, Field(description="Threshold.")]


class Registry(Model):
    """MLflow registry state: experiment, registered model, the alias serving resolves, gates."""

    model: Annotated[Label | None, Field(description="Registered model name (default: metadata.name).")] = None
    experiment: Annotated[
        str | None, Field(description="MLflow experiment name (default: metadata.name).", min_length=1, max_length=250)
    ] = None
    serve: Annotated[
        Alias | Annotated[int, Field(ge=1)],
        Field(description="Alias (e.g. `champion`) or version number that serving resolves."),
    ] = "champion"
    gates: Annotated[
        list[Gate], Field(description="Promotion gates checked against the served version's run metrics.")
    ] = []


# ------------------------------------------------------------------- features


class Entity(Model):
    """A Feast entity: the key features are joined on."""

    name: Annotated[FeastName, Field(description="Entity name (snake_case, as Feast names objects).")]
    join_keys: Annotated[list[ParamName], Field(description="Columns that identify the entity.", min_length=1)]
    value_type: Annotated[Literal["int32", "int64", "string", "bytes"], Field(description="Type of the join key.")] = (
        "string"
    )
    description: Annotated[str | None, Field(description="What the entity is.")] = None


class Source(Model):
    """Where a feature view's rows come from."""

    name: Annotated[FeastName, Field(description="Source name (snake_case), referenced by views.")]
    type: Annotated[
        Literal["file", "bigquery", "snowflake", "redshift", "spark"], Field(description="Offline source type.")
    ] = "file"
    path: Annotated[
        str,
        Field(
            description="Path, URI or table of the source.",
            min_length=1,
            max_length=1024,
            examples=["s3://lake/card_txn.parquet"],
        ),
    ]
    timestamp_field: Annotated[ParamName, Field(description="Event timestamp column.")]
    created_timestamp_field: Annotated[ParamName | None, Field(description="Row creation timestamp column.")] = None


class FeatureField(Model):
    """One feature column."""

    name: Annotated[FeastName, Field(description="Feature name (snake_case).")]
    dtype: Annotated[
        Literal["int32", "int64", "float32", "float64", "string", "bytes", "bool", "unix_timestamp"],
        Field(description="Feast value type."),
    ]


class Materialization(Model):
    """Scheduled incremental materialization of an online view (`feast materialize-incremental`)."""

    schedule: Annotated[
        Cron | None,
        Field(
            description="When to copy new rows into the online store (cron, cluster time zone). Default: derived "
            "from the view's `ttl`, about four runs per ttl (at least every 5 minutes, at most daily), at a "
            "minute that differs per view."
        ),
    ] = None


class View(Model):
    """A Feast feature view."""

    name: Annotated[FeastName, Field(description="Feature view name (snake_case), e.g. card_txn_7d.")]
    entities: Annotated[list[FeastName], Field(description="Entities (by name) the view is keyed on.", min_length=1)]
    source: Annotated[FeastName, Field(description="Source (by name) the view reads.")]
    ttl: Annotated[Duration, Field(description="How long feature values stay valid.")] = "1d"
    online: Annotated[bool, Field(description="Materialize to the online store for serving.")] = True
    fields: Annotated[list[FeatureField], Field(description="Feature columns.", min_length=1)]
    materialization: Annotated[
        Materialization,
        Field(
            description="How an online view is kept fresh: a CronJob per online view runs Feast's incremental "
            "materialization; ignored for offline views."
        ),
    ] = Materialization()


class Features(Model):
    """Feast feature repository for this model."""

    entities: Annotated[list[Entity], Field(description="Entities.", min_length=1)]
    sources: Annotated[list[Source], Field(description="Data sources.", min_length=1)]
    views: Annotated[list[View], Field(description="Feature views.", min_length=1)]


# ------------------------------------------------------------------- training


class Resources(Model):
    """Per-pod resource requests (limits are derived by the platform)."""

    cpu: Annotated[Quantity, Field(description="CPU request, a Kubernetes quantity.")] = "1"
    memory: Annotated[Quantity, Field(description="Memory request, a Kubernetes quantity.")] = "2Gi"
    gpu: Annotated[int, Field(description="Whole GPUs per pod.", ge=0, le=16)] = 0


class Training(Model):
    """How the model is trained."""

    image: Annotated[ImageRef, Field(description="Training image, pinned by tag or digest.")]
    command: Annotated[
        list[str] | None,
        Field(
            description="Container command (Kubernetes `command`); left out, the image's entrypoint runs, as in "
            "Kubernetes.",
            min_length=1,
            examples=[["python", "-m", "fraud.train"]],
        ),
    ] = None
    args: Annotated[list[str], Field(description="Container arguments.")] = []
    workers: Annotated[
        int,
        Field(
            description="Worker pods; more than 1 means distributed training "
            "(PyTorchJob/TFJob/XGBoostJob by framework).",
            ge=1,
            le=256,
        ),
    ] = 1
    resources: Annotated[Resources, Field(description="Per-worker resources.")] = Resources()
    schedule: Annotated[Cron | None, Field(description="Optional retraining schedule (cron, cluster time zone).")] = (
        None
    )
    timeout_minutes: Annotated[int, Field(description="Deadline for one training run.", ge=1, le=10080)] = 720
    spot: Annotated[
        bool | None,
        Field(
            description="Run the training pods on spot/preemptible nodes (cheaper, may be evicted at any time). "
            "Default: the environment's `spot.training` in the platform config. Needs `checkpointPath` or "
            "`restartPolicy: OnFailure`, so that an evicted run resumes or starts over."
        ),
    ] = None
    checkpoint_path: Annotated[
        str | None,
        Field(
            description="Where the training code saves checkpoints and resumes from (MAESTRO_CHECKPOINT_PATH), "
            "e.g. an object-store prefix.",
            min_length=1,
            max_length=1024,
            examples=["s3://ml-checkpoints/fraud-detector"],
        ),
    ] = None
    restart_policy: Annotated[
        Literal["Never", "OnFailure"] | None,
        Field(
            description="`OnFailure`: a failed or evicted training pod is started again (the run is safe to "
            "repeat); `Never`: a failure fails the run. Default: the renderer's (Never for batch Jobs, OnFailure "
            "for Kubeflow jobs)."
        ),
    ] = None


# ------------------------------------------------------------------- tuning


class FloatParam(Model):
    """A float hyperparameter (Optuna FloatDistribution)."""

    type: Literal["float"]
    low: Annotated[float, Field(description="Lower bound (inclusive).")]
    high: Annotated[float, Field(description="Upper bound (inclusive).")]
    log: Annotated[bool, Field(description="Sample in log space (needs low > 0).")] = False
    step: Annotated[float | None, Field(description="Discretization step (not with log).", gt=0)] = None


class IntParam(Model):
    """An integer hyperparameter (Optuna IntDistribution)."""

    type: Literal["int"]
    low: Annotated[int, Field(description="Lower bound (inclusive).")]
    high: Annotated[int, Field(description="Upper bound (inclusive).")]
    log: Annotated[bool, Field(description="Sample in log space (needs low >= 1).")] = False
    step: Annotated[int, Field(description="Step between values (must be 1 with log).", ge=1)] = 1


class CategoricalParam(Model):
    """A categorical hyperparameter (Optuna CategoricalDistribution)."""

    type: Literal["categorical"]
    choices: Annotated[list[str | int | float | bool], Field(description="The values to choose from.", min_length=1)]


Param = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]


class Budget(Model):
    """Compute budget for the whole study."""

    gpu_hours: Annotated[float, Field(description="GPU-hours the study may use.", ge=0)] = 0
    cpu_hours: Annotated[float, Field(description="CPU-hours the study may use.", ge=0)] = 0


class Tuning(Model):
    """Hyperparameter search with Optuna."""

    metric: Annotated[MetricName, Field(description="Metric the objective reports.")]
    direction: Annotated[Literal["maximize", "minimize"], Field(description="Optimisation direction.")] = "maximize"
    trials: Annotated[int, Field(description="Number of trials.", ge=1, le=100000)] = 20
    parallelism: Annotated[int, Field(description="Trials run at once (indexed Job workers).", ge=1, le=256)] = 1
    sampler: Annotated[Literal["tpe", "random", "cmaes", "grid"], Field(description="Optuna sampler.")] = "tpe"
    spot: Annotated[
        bool | None,
        Field(
            description="Run the trials on spot/preemptible nodes. An evicted trial is marked failed by the "
            "study's heartbeat and the study goes on. Default: the environment's `spot.tuning` in the platform "
            "config."
        ),
    ] = None
    pruner: Annotated[Literal["none", "median", "hyperband"], Field(description="Optuna pruner.")] = "median"
    budget: Annotated[Budget, Field(description="Compute budget.")] = Budget()
    trial_minutes: Annotated[
        int | None,
        Field(description="Expected minutes per trial, for cost estimates (default from platform config).", ge=1),
    ] = None
    search_space: Annotated[dict[ParamName, Param], Field(description="Hyperparameters by name.", min_length=1)]


# ------------------------------------------------------------------- pipeline


PipelineStep = Literal["materialize", "train", "tune", "evaluate", "promote"]


class Pipeline(Model):
    """A retraining pipeline, run by Airflow: an Airflow DAG per environment whose tasks run the
    same pods the rendered Jobs do. It replaces the training CronJob."""

    schedule: Annotated[Cron, Field(description="When the pipeline runs (cron, cluster time zone).")]
    steps: Annotated[
        list[PipelineStep],
        Field(
            description="Steps in the order they run, each after the previous succeeded: `materialize` (every "
            "online feature view, in parallel), `train`, `tune`, `evaluate` (the gates on the version the run "
            "registered, aliased `candidate`), `promote` (move `registry.serve` to that version in this "
            "environment's registry; serving pinned by a lock still needs `maestro registry lock` in a reviewed "
            "change: the pipeline opens nothing by itself).",
            min_length=1,
            examples=[["materialize", "train", "evaluate", "promote"]],
        ),
    ]
    candidate: Annotated[
        Alias,
        Field(description="Alias the training code sets on the version it registers (MAESTRO_CANDIDATE_ALIAS)."),
    ] = "candidate"
    retries: Annotated[int, Field(description="Retries of a failed task.", ge=0, le=5)] = 1
    retry_delay_minutes: Annotated[int, Field(description="Minutes between retries.", ge=1, le=1440)] = 10


# ------------------------------------------------------------------- serving


class Replicas(Model):
    """Replica bounds for autoscaling."""

    min: Annotated[int, Field(description="Minimum replicas (0 enables scale-to-zero).", ge=0, le=1000)] = 1
    max: Annotated[int, Field(description="Maximum replicas.", ge=1, le=1000)] = 1


class Autoscaling(Model):
    """Autoscaling targets; each one set adds a metric to the autoscaler."""

    cpu: Annotated[int | None, Field(description="Target average CPU utilisation (% of request).", ge=1, le=100)] = None
    memory: Annotated[
        int | None, Field(description="Target average memory utilisation (% of request).", ge=1, le=100)
    ] = None
    rps: Annotated[int | None, Field(description="Target requests per second per replica.", ge=1)] = None
    latency_p99_ms: Annotated[int | None, Field(description="Target p99 latency in milliseconds.", ge=1)] = None


class Analysis(Model):
    """Rollout analysis thresholds, checked with Prometheus during each step."""

    max_error_rate: Annotated[float, Field(description="Highest tolerated error ratio (0..1).", ge=0, le=1)] = 0.01
    max_latency_p99_ms: Annotated[int | None, Field(description="Highest tolerated p99 latency (ms).", ge=1)] = None


class Rollout(Model):
    """How a new model version reaches traffic."""

    strategy: Annotated[Literal["rolling", "blueGreen", "canary"], Field(description="Rollout strategy.")] = "rolling"
    steps: Annotated[
        list[Annotated[int, Field(ge=1, le=100)]],
        Field(description="Canary traffic percentages, strictly increasing, ending at 100."),
    ] = []
    pause_minutes: Annotated[int, Field(description="Pause after each step.", ge=0, le=1440)] = 5
    analysis: Annotated[Analysis | None, Field(description="Automated analysis that aborts a bad rollout.")] = None


class Variant(Model):
    """An A/B variant serving another registry alias or version."""

    name: Annotated[Label, Field(description="Variant name.")]
    serve: Annotated[Alias | Annotated[int, Field(ge=1)], Field(description="Alias or version the variant serves.")]
    weight: Annotated[int, Field(description="Percent of traffic (1..99).", ge=1, le=99)]


class AbTest(Model):
    """Traffic split between the main model and variants."""

    variants: Annotated[
        list[Variant],
        Field(description="Variants; their weights sum below 100, the rest goes to the main model.", min_length=1),
    ]


class Serving(Model):
    """Online inference."""

    runtime: Annotated[
        Literal["kserve", "deployment"], Field(description="KServe InferenceService or a plain Deployment + Service.")
    ] = "kserve"
    replicas: Annotated[Replicas, Field(description="Replica bounds.")] = Replicas()
    resources: Annotated[Resources, Field(description="Per-replica resources.")] = Resources()
    autoscaling: Annotated[Autoscaling, Field(description="Autoscaling targets.")] = Autoscaling()
    rollout: Annotated[Rollout, Field(description="Rollout strategy.")] = Rollout()
    ab_test: Annotated[AbTest | None, Field(description="A/B traffic split.")] = None


# ------------------------------------------------------------------- monitoring


class Slo(Model):
    """Service level objective."""

    availability: Annotated[float, Field(description="Availability target in percent.", ge=50, lt=100)] = 99.5
    latency_p99_ms: Annotated[int | None, Field(description="p99 latency objective (ms).", ge=1)] = None
    window: Annotated[Duration, Field(description="SLO window.")] = "30d"


class Drift(Model):
    """Feature drift detection."""

    method: Annotated[Literal["psi", "ks", "kl", "wasserstein"], Field(description="Drift statistic.")] = "psi"
    threshold: Annotated[float, Field(description="Alert when the statistic exceeds this.", gt=0)] = 0.2
    schedule: Annotated[Cron, Field(description="When to compute drift (cron).")] = "0 * * * *"
    features: Annotated[list[ParamName], Field(description="Features to watch (declared in some view).", min_length=1)]


class Tracing(Model):
    """OpenTelemetry tracing: traces go to the environment's collector (Jaeger behind it)."""

    sample_ratio: Annotated[float, Field(description="Parent-based trace sampling ratio (0..1).", ge=0, le=1)] = 0.1
    auto_instrument: Annotated[
        bool,
        Field(
            description="Let the OpenTelemetry Operator inject Python auto-instrumentation into the model's serving, "
            "training and tuning pods (an `Instrumentation` per model); false: only the OTEL_* environment, for "
            "code that sets up the SDK itself."
        ),
    ] = True


class Logs(Model):
    """Structured logs (Loki) and an alert on the model's error-log rate."""

    level: Annotated[
        Literal["debug", "info", "warning", "error"],
        Field(description="Lowest level the model's processes log (LOG_LEVEL on every pod)."),
    ] = "info"
    error_rate: Annotated[
        float,
        Field(
            description="Alert when the model's pods together log more error lines per second than this, "
            "averaged over `window`.",
            gt=0,
        ),
    ] = 1.0
    window: Annotated[Duration, Field(description="Range the error rate is averaged over (LogQL range).")] = "5m"
    for_: Annotated[
        Duration, Field(alias="for", description="How long the rate stays above the threshold before it alerts.")
    ] = "10m"
    severity: Annotated[Literal["page", "ticket"], Field(description="Severity label of the alert.")] = "ticket"


class Monitoring(Model):
    """Metrics, alerts, dashboards, drift and tracing."""

    slo: Annotated[Slo | None, Field(description="Service level objective.")] = None
    drift: Annotated[Drift | None, Field(description="Drift detection.")] = None
    dashboard: Annotated[bool, Field(description="Render a Grafana dashboard.")] = True
    tracing: Annotated[Tracing | None, Field(description="OpenTelemetry tracing.")] = None
    logs: Annotated[
        Logs | None,
        Field(description="Log level and a Loki alert on the error-log rate (rules for the Loki ruler)."),
    ] = None


# ------------------------------------------------------------------- secrets, network


class Secret(Model):
    """A Vault secret synced into the model's namespace; never a value, only a reference."""

    name: Annotated[Label, Field(description="Name of the synced Kubernetes Secret (suffixed by the model name).")]
    vault_path: Annotated[VaultPath, Field(description="KV path in Vault.")]
    env: Annotated[
        dict[EnvName, SecretKey], Field(description="Environment variable -> key in the Vault secret.", min_length=1)
    ]


class Peer(Model):
    """A source allowed to reach the model."""

    namespace: Annotated[Label, Field(description="Namespace allowed to call the model.")]
    service_account: Annotated[Label | None, Field(description="Only this service account of that namespace.")] = None


class Network(Model):
    """Who may call the model (everything else is denied)."""

    allow_from: Annotated[list[Peer], Field(description="Allowed callers.")] = []


# ------------------------------------------------------------------- the spec


class SpecBody(Model):
    """What the model needs. Every section but `framework` is optional."""

    framework: Annotated[
        Literal["sklearn", "xgboost", "lightgbm", "pytorch", "tensorflow", "huggingface", "custom"],
        Field(description="ML framework; selects serving runtimes and distributed job kinds."),
    ]
    registry: Annotated[Registry | None, Field(description="MLflow registry state.")] = None
    features: Annotated[Features | None, Field(description="Feast feature repository.")] = None
    training: Annotated[Training | None, Field(description="Training jobs.")] = None
    tuning: Annotated[Tuning | None, Field(description="Optuna hyperparameter search.")] = None
    pipeline: Annotated[Pipeline | None, Field(description="Retraining pipeline (an Airflow DAG).")] = None
    serving: Annotated[Serving | None, Field(description="Online inference.")] = None
    monitoring: Annotated[Monitoring | None, Field(description="Observability.")] = None
    secrets: Annotated[list[Secret], Field(description="Vault secret references.")] = []
    network: Annotated[Network | None, Field(description="Network access.")] = None
    environments: Annotated[
        dict[Label, dict[str, Any]],
        Field(description="Per-environment overrides, deep-merged onto `spec` (maps merge, lists replace)."),
    ] = {}


class Spec(Model):
    """A Maestro model spec (`maestro.yaml`)."""

    api_version: Annotated[Literal["maestro.ml/v1alpha1"], Field(description="Spec format version.")]
    kind: Annotated[Literal["Model"], Field(description="Always `Model`.")]
    metadata: Annotated[Metadata, Field(description="Ownership and criticality.")]
    spec: Annotated[SpecBody, Field(description="What to build.")]
