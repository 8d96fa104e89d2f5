"""Platform configuration: `config/platform.yaml`, `config/platform.<env>.yaml`, `MAESTRO_*`.

Precedence, lowest first: platform.yaml, platform.<env>.yaml (deep-merged), environment
variables (pydantic-settings; nested fields with `__`, e.g.
`MAESTRO_ENVIRONMENTS__PROD__ENDPOINTS__MLFLOW=http://mlflow:5000`). Keys are snake_case,
so that every key has an obvious environment variable.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from maestro.diagnostics import Diagnostic, error
from maestro.frontend.loader import Located, load
from maestro.frontend.spec import Owner
from maestro.layout import CONFIG_DIR, CONFIG_FILE, shown
from maestro.names import DNS1123_LABEL
from maestro.resolve.merge import deep_merge, merge_located

ENV_PREFIX = "MAESTRO_"
IN_CLUSTER_URL = re.compile(r"https?://[^/\s]+")  # what a pod can reach: not a file or sqlite store


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VaultEndpoint(Section):
    address: Annotated[str, Field(description="Vault address.")]
    auth_mount: Annotated[str, Field(description="Kubernetes auth mount path.")] = "kubernetes"
    kv_mount: Annotated[str, Field(description="KV v2 mount the spec's paths live under.")] = "secret"
    admin_role: Annotated[
        str,
        Field(
            description="Vault role vault-config-operator logs in with (Kubernetes auth at "
            "auth_mount) to write each model's policy and role; it needs write "
            "on sys/policies/acl/<team>-* and auth/<auth_mount>/role/<team>-*."
        ),
    ] = "vault-admin"
    admin_service_account: Annotated[
        str,
        Field(
            description="Service account vault-config-operator logs in as, in the model's namespace (the operator "
            "reads it there); placeholder {model}. Maestro renders it, and no pod runs as it: the Vault role "
            "`admin_role` binds exactly these names (a glob such as `*-vault-admin`)."
        ),
    ] = "{model}-vault-admin"
    token_ttl: Annotated[int, Field(ge=60, description="Seconds a model's Vault token lives between renewals.")] = 3600
    token_max_ttl: Annotated[
        int, Field(ge=60, description="Seconds after which a model's Vault token cannot be renewed any more.")
    ] = 86400
    audience: Annotated[
        str | None,
        Field(
            description="Audience the Kubernetes auth role requires in service "
            "account tokens; Vault Secrets Operator requests it."
        ),
    ] = None
    refresh_after: Annotated[
        str,
        Field(
            pattern=r"^[0-9]+(\.[0-9]+)?(s|m|h)$",
            description="How often Vault Secrets Operator re-reads a secret (30s, 5m, 1h).",
        ),
    ] = "1h"


class FeastStores(Section):
    provider: str = "local"
    registry: Annotated[str, Field(description="Feast registry path or URI.")]
    online_store: Annotated[dict[str, Any], Field(description="feature_store.yaml online_store block.")]
    offline_store: Annotated[dict[str, Any], Field(description="feature_store.yaml offline_store block.")]


class Endpoints(Section):
    mlflow: Annotated[
        str,
        Field(
            description="MLflow tracking server the environment's pods use: an http(s) URL reachable from the "
            "cluster (a file or sqlite store would be a separate empty database in every pod)."
        ),
    ]
    mlflow_cli: Annotated[
        str | None,
        Field(
            description="Tracking URI `maestro registry` uses from this machine when it differs from `mlflow` "
            "(e.g. a local sqlite:/// store; relative paths are relative to the repository root). "
            "MLFLOW_TRACKING_URI overrides both."
        ),
    ] = None
    mlflow_artifacts: Annotated[
        str | None,
        Field(
            description="The tracking server's --artifacts-destination (e.g. s3://mlflow-prod/artifacts) when it "
            "proxies artifacts: a version stored under mlflow-artifacts:/<path> is locked as <this>/<path>, which "
            "KServe downloads without the server."
        ),
    ] = None
    prometheus: Annotated[str, Field(description="Prometheus URL used by rollout analysis.")]
    otel: Annotated[str | None, Field(description="OTLP endpoint for traces (gRPC, port 4317).")] = None
    otel_http: Annotated[
        str | None,
        Field(
            description="The collector's OTLP/HTTP endpoint (port 4318): Python auto-instrumentation exports "
            "http/protobuf, so the Instrumentation points Python at this one."
        ),
    ] = None
    vault: VaultEndpoint
    feast: FeastStores


class Governance(Section):
    min_replicas: Annotated[int, Field(ge=0, description="Lowest serving min replicas allowed.")] = 0
    require_pinned_images: bool = False
    allow_latest: bool = True
    min_gates: Annotated[
        dict[str, float], Field(description="metric -> minimum threshold the spec's gates must meet.")
    ] = {}
    require_canary_for_critical: bool = False
    require_pdb: bool = False
    require_mtls: bool = False
    require_drift_for_critical: bool = False
    max_waiver_days: Annotated[int, Field(ge=1)] = 90
    require_lock: Annotated[
        bool,
        Field(
            description="Serving models need an entry in specs/<model>/maestro.lock.yaml for this environment "
            "(policy MPS017): what serves is decided in git, not by whoever last moved an alias."
        ),
    ] = False
    min_log_level: Annotated[
        Literal["debug", "info", "warning", "error"] | None,
        Field(description="Lowest monitoring.logs.level allowed (policy MPS030)."),
    ] = None
    max_trace_sample_ratio: Annotated[
        float | None, Field(ge=0, le=1, description="Highest monitoring.tracing.sampleRatio allowed (policy MPS031).")
    ] = None


class SpotDefaults(Section):
    training: Annotated[bool, Field(description="Training pods run on spot nodes unless the spec says otherwise.")] = (
        False
    )
    tuning: Annotated[bool, Field(description="Tuning trials run on spot nodes unless the spec says otherwise.")] = (
        False
    )


class OffHours(Section):
    """Non-production serving scaled down outside working hours (KEDA cron trigger)."""

    enabled: Annotated[bool, Field(description="Scale this environment's serving down off-hours.")] = False
    timezone: Annotated[str, Field(description="IANA time zone of the hours below.")] = "UTC"
    start: Annotated[
        str,
        Field(
            pattern=r"^([0-5]?[0-9]) ([01]?[0-9]|2[0-3]) \* \* [0-7,*-]+$",
            description="Cron (minute hour * * days) when working hours begin, e.g. '0 7 * * 1-5'.",
        ),
    ] = "0 7 * * 1-5"
    end: Annotated[
        str,
        Field(
            pattern=r"^([0-5]?[0-9]) ([01]?[0-9]|2[0-3]) \* \* [0-7,*-]+$",
            description="Cron when working hours end, e.g. '0 19 * * 1-5'.",
        ),
    ] = "0 19 * * 1-5"
    replicas: Annotated[int, Field(ge=0, description="Replicas off-hours (0: scale to zero).")] = 0


class Environment(Section):
    cluster: Annotated[str, Field(description="API server URL Argo CD deploys to.")]
    namespace: Annotated[str, Field(description="Namespace pattern; placeholders {team} {model} {env}.")] = (
        "{team}-{env}"
    )
    project: Annotated[str, Field(description="Argo CD project pattern; placeholders {team} {env}.")] = "{team}-{env}"
    sync: Literal["automated", "manual"] = "automated"
    endpoints: Endpoints
    governance: Governance = Governance()
    overlay_required: Annotated[
        bool,
        Field(
            description="overlays/<env>/overlay.yaml must exist (false: the environment has no overlay, "
            "its namespace and sync come from this config alone)."
        ),
    ] = True
    spot: Annotated[SpotDefaults, Field(description="Which pods run on spot nodes by default.")] = SpotDefaults()
    off_hours: Annotated[OffHours, Field(description="Off-hours scale-down of serving.")] = OffHours()


class ServingImages(Section):
    mlserver: str
    kserve_runtimes: dict[str, str] = {}  # framework -> KServe modelFormat name


class Images(Section):
    maestro: Annotated[str, Field(description="Image of maestro itself (registry sync Jobs).")]
    serving: ServingImages
    drift: str
    feast: str
    kubectl: str


class Costs(Section):
    currency: str = "USD"
    cpu_hour: Annotated[float, Field(ge=0)]
    memory_gib_hour: Annotated[float, Field(ge=0)]
    gpu_hour: Annotated[float, Field(ge=0)]


class Budget(Section):
    monthly: Annotated[float, Field(ge=0, description="Monthly spend cap in `costs.currency`.")] = 0
    cpu_hours: Annotated[float, Field(ge=0, description="CPU-hours per tuning study.")] = 0
    gpu_hours: Annotated[float, Field(ge=0, description="GPU-hours per tuning study.")] = 0


class Limits(Section):
    max_replicas: Annotated[int, Field(ge=1)] = 20
    max_gpus_per_pod: Annotated[int, Field(ge=0)] = 0
    max_trials: Annotated[int, Field(ge=1)] = 200


class TeamSettings(Section):
    budget: Budget = Budget()
    limits: Limits = Limits()


class Teams(Section):
    defaults: TeamSettings = TeamSettings()
    overrides: Annotated[dict[str, dict[str, Any]], Field(description="team -> fields over the defaults.")] = {}


class Gpu(Section):
    resource_name: str = "nvidia.com/gpu"
    tolerations: list[dict[str, Any]] = []
    # The label the NVIDIA GPU Operator puts on every node with an NVIDIA GPU
    # (NVIDIA/gpu-operator controllers/state_manager.go, `commonGPULabelKey`).
    node_selector: Annotated[dict[str, str], Field(description="Node labels a GPU pod must match (nodeSelector).")] = {
        "nvidia.com/gpu.present": "true"
    }


# Training Operator v1 kinds and the frameworks each can run.
KUBEFLOW_V1_FRAMEWORKS: dict[str, frozenset[str]] = {
    "PyTorchJob": frozenset({"pytorch", "huggingface"}),
    "TFJob": frozenset({"tensorflow"}),
    "XGBoostJob": frozenset({"xgboost"}),
}
TRAIN_JOB = "TrainJob"


class TrainingOperator(Section):
    """How distributed or GPU training of one framework runs."""

    kind: Annotated[
        Literal["TrainJob", "PyTorchJob", "TFJob", "XGBoostJob"],
        Field(
            description="TrainJob (Kubeflow Trainer v2, trainer.kubeflow.org/v1alpha1) or a Training Operator v1 "
            "kind (kubeflow.org/v1) for clusters that still run it."
        ),
    ]
    runtime: Annotated[
        str | None,
        Field(
            pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
            description="The ClusterTrainingRuntime a TrainJob references (TrainJob only).",
        ),
    ] = None

    @model_validator(mode="after")
    def _runtime_only_for_trainjob(self) -> TrainingOperator:
        if self.kind == TRAIN_JOB and self.runtime is None:
            raise ValueError("a TrainJob needs `runtime`: the ClusterTrainingRuntime it references")
        if self.kind != TRAIN_JOB and self.runtime is not None:
            raise ValueError(f"`runtime` is for kind TrainJob; a {self.kind} names no runtime (set runtime: null)")
        return self


class Training(Section):
    kubeflow: Annotated[
        dict[
            Literal["sklearn", "xgboost", "lightgbm", "pytorch", "tensorflow", "huggingface", "custom"],
            TrainingOperator | None,
        ],
        Field(
            description="framework -> the Kubeflow kind that runs its distributed (workers > 1) or GPU training. "
            "A framework not listed, or null, runs as a Kubernetes Job (Indexed for several workers)."
        ),
    ] = {
        "pytorch": TrainingOperator(kind="TrainJob", runtime="torch-distributed"),
        "huggingface": TrainingOperator(kind="TrainJob", runtime="torch-distributed"),
        "xgboost": TrainingOperator(kind="TrainJob", runtime="xgboost-distributed"),
        "tensorflow": TrainingOperator(kind="TFJob"),
    }

    def operator(self, framework: str, workers: int, gpus: int) -> TrainingOperator | None:
        """The Kubeflow kind that runs a training: only a distributed or GPU one, and only
        for a framework mapped to a kind; None for a Kubernetes Job."""
        if workers > 1 or gpus > 0:
            return self.kubeflow.get(framework)  # type: ignore[call-overload]
        return None

    @model_validator(mode="after")
    def _v1_kinds_match_their_framework(self) -> Training:
        for framework, operator in self.kubeflow.items():
            if operator is None or operator.kind == TRAIN_JOB:
                continue
            if framework not in KUBEFLOW_V1_FRAMEWORKS[operator.kind]:
                allowed = ", ".join(sorted(KUBEFLOW_V1_FRAMEWORKS[operator.kind]))
                raise ValueError(f"{framework}: a {operator.kind} runs only {allowed}; use a TrainJob with a runtime")
        return self


class GitOps(Section):
    repo_url: Annotated[str, Field(description="Git URL Argo CD reads rendered/ from.")]
    target_revision: Annotated[str, Field(description="Branch, tag or commit Argo CD tracks.")] = "main"
    argocd_namespace: Annotated[str, Field(description="Namespace Argo CD's Applications live in.")] = "argocd"


class Metrics(Section):
    """Serving metrics as Prometheus has them (they differ between meshes and runtimes)."""

    requests_total: str = "istio_requests_total"
    request_duration_bucket: str = "istio_request_duration_milliseconds_bucket"
    duration_to_ms: Annotated[float, Field(gt=0, description="Multiplier from the histogram's unit to ms.")] = 1.0
    error_matcher: str = 'response_code=~"5.."'
    service_matcher: Annotated[
        str,
        Field(
            description="Requests callers sent to one Service, as the callers saw them (SLOs, alerts, dashboards, "
            "autoscaling demand): placeholders {host} (the Service's cluster-local FQDN), {namespace}, {service}. "
            "Istio's client side (reporter=source) also records requests no pod answered, so an outage and a "
            "workload scaled to zero show up."
        ),
    ] = 'reporter="source",destination_service="{host}"'
    revision_matcher: Annotated[
        str,
        Field(
            description="Requests one revision's pods served (rollout analysis): placeholders {namespace} and "
            "{pods} (a regex of pod names). Istio's server side (reporter=destination) and the scrape target's "
            "pod label."
        ),
    ] = 'reporter="destination",destination_workload_namespace="{namespace}",pod=~"{pods}"'
    rate_window: str = "1m"
    job_failed: Annotated[
        str,
        Field(
            description="Gauge that is 1 while a Job has failed, with labels namespace and "
            "job_name (kube-state-metrics)."
        ),
    ] = "kube_job_failed"
    job_failed_matcher: Annotated[str, Field(description="Matcher that keeps the failed Jobs' series.")] = (
        'condition="true"'
    )
    cronjob_last_success: Annotated[
        str,
        Field(
            description="Gauge of a CronJob's last successful run (unix seconds), with labels namespace and "
            "cronjob (kube-state-metrics)."
        ),
    ] = "kube_cronjob_status_last_successful_time"
    drift_score: Annotated[
        str,
        Field(
            description="Gauge the drift CronJob pushes: one series per feature, with labels model, env and feature."
        ),
    ] = "maestro_feature_drift_score"
    operator_job_condition: Annotated[
        str,
        Field(
            pattern=r"^[a-zA-Z_:]*\{kind\}[a-zA-Z0-9_:]*$",
            description="Gauge kube-state-metrics exports for each status condition of a Kubeflow job "
            "({kind}: the kind in lower case), 1 while the condition is True, with labels namespace, "
            "job_name, model and type: what the custom resource state config Maestro writes produces.",
        ),
    ] = "kube_{kind}_status_condition"


class Monitoring(Section):
    namespace: Annotated[str, Field(description="Namespace Prometheus scrapes from (allowed by NetworkPolicy).")] = (
        "monitoring"
    )
    metrics: Metrics = Metrics()
    prometheus_labels: Annotated[
        dict[str, str],
        Field(
            description="Labels on PodMonitors, ServiceMonitors and PrometheusRules, for the Prometheus "
            "podMonitorSelector / serviceMonitorSelector / ruleSelector."
        ),
    ] = {}
    scrape_interval: Annotated[
        str, Field(pattern=r"^[1-9][0-9]*(s|m|h)$", description="How often the model servers' metrics port is scraped.")
    ] = "30s"
    panel_window: Annotated[
        str,
        Field(
            pattern=r"^[1-9][0-9]*(s|m|h)$",
            description="Rate window of dashboard panels and the latency alert (they read the same recorded series).",
        ),
    ] = "5m"
    burn_rates: Annotated[
        list[
            tuple[
                Annotated[float, Field(gt=0)],
                Annotated[str, Field(pattern=r"^[1-9][0-9]*(s|m|h|d|w)$")],
                Annotated[str, Field(pattern=r"^[1-9][0-9]*(s|m|h|d|w)$")],
                Literal["page", "ticket"],
            ]
        ],
        Field(
            description="Multi-window burn-rate alerts, each [burn rate, long window, short window, severity]: "
            "fires while the error ratio exceeds burn rate x error budget over both windows "
            "(Google SRE workbook, 'Alerting on SLOs'). Windows are used as written whatever the model's "
            "SLO window; a pair whose long window exceeds it is left out."
        ),
    ] = [(14.4, "1h", "5m", "page"), (6.0, "6h", "30m", "page"), (1.0, "3d", "6h", "ticket")]
    latency_for: Annotated[
        str, Field(pattern=r"^[0-9]+(s|m|h)$", description="How long p99 latency stays above the SLO before it alerts.")
    ] = "10m"
    latency_severity: Literal["page", "ticket"] = "page"
    training_severity: Literal["page", "ticket"] = "ticket"
    drift_for: Annotated[
        str,
        Field(
            pattern=r"^[0-9]+(s|m|h)$", description="How long a feature's drift stays above threshold before it alerts."
        ),
    ] = "15m"
    drift_severity: Literal["page", "ticket"] = "ticket"
    materialization_severity: Annotated[
        Literal["page", "ticket"],
        Field(description="Severity of the alerts on a failed or stale feature materialization."),
    ] = "ticket"
    runbook_url: Annotated[
        str, Field(description="Runbook link of every alert; placeholders {alert} {model} {team} {env}.")
    ] = "https://runbooks.example.com/ml/{alert}"
    dashboard_labels: Annotated[
        dict[str, str], Field(description="Labels the Grafana dashboard sidecar selects dashboard ConfigMaps by.")
    ] = {"grafana_dashboard": "1"}
    pushgateway: Annotated[
        str, Field(description="Pushgateway URL drift CronJobs push their scores to (PUSHGATEWAY_URL).")
    ] = "http://prometheus-pushgateway.monitoring.svc:9091"


class TuningStorage(Section):
    """Where each study's RDB URL lives in Vault (issue 13: the tuning Job's `<model>-tuning-db`
    Secret must come from something real; the AppProject forbids Secrets from git)."""

    vault_path: Annotated[
        str,
        Field(
            description="KV v2 API path of the secret, under the environment's kv_mount; placeholders "
            "{team} {model} {env}.",
            examples=["secret/data/ml-platform/optuna/{env}/{team}"],
        ),
    ]
    key: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Vault key holding the URL.")] = "url"


class MetricsEndpoint(Section):
    port: Annotated[int, Field(ge=1, le=65535, description="Port the model server serves its metrics on.")]
    path: Annotated[str, Field(pattern=r"^/", description="HTTP path of the metrics.")] = "/metrics"


class Serving(Section):
    kserve_metrics: Annotated[
        dict[str, MetricsEndpoint],
        Field(
            description="KServe modelFormat -> the metrics endpoint of the ServingRuntime that serves it with "
            "protocol v2 (its prometheus.kserve.io/port and /path annotations). Istio merges it into the sidecar's "
            "plaintext :15020/stats/prometheus, which Prometheus scrapes under STRICT mTLS."
        ),
    ] = {
        # KServe 0.15 config/runtimes: kserve-{sklearn,xgb,lgb}server, mlserver and huggingfaceserver serve
        # metrics on the inference port; torchserve on 8082; tensorflow with protocol v2 is Triton's (8002).
        **{f: MetricsEndpoint(port=8080) for f in ("sklearn", "xgboost", "lightgbm", "huggingface", "mlflow")},
        "pytorch": MetricsEndpoint(port=8082),
        "tensorflow": MetricsEndpoint(port=8002),
    }
    model_load_timeout: Annotated[
        str,
        Field(
            pattern=r"^[1-9][0-9]*(s|m|h)$",
            description="How long a model server may take to load its model before the kubelet restarts it "
            "(its startupProbe's budget; the storage initializer's download comes before and is not counted).",
        ),
    ] = "10m"


class EgressPeer(Section):
    """A destination model servers may reach (NetworkPolicy egress; it cannot name hosts)."""

    namespace: Annotated[
        str | None, Field(description="Pods in this namespace (with `pods`: only those); omit for an address.")
    ] = None
    pods: Annotated[dict[str, str], Field(description="Labels of the pods in `namespace` (all pods when empty).")] = {}
    cidr: Annotated[str | None, Field(description="An address block (ipBlock), e.g. 10.0.0.0/8.")] = None
    ports: Annotated[list[Annotated[int, Field(ge=1, le=65535)]], Field(description="Ports (empty: every port).")] = []
    protocols: Annotated[list[Literal["TCP", "UDP"]], Field(min_length=1, description="Protocols of `ports`.")] = [
        "TCP"
    ]

    @model_validator(mode="after")
    def _one_kind_of_peer(self) -> EgressPeer:
        if self.namespace is not None and self.cidr is not None:
            raise ValueError("name either a namespace or a cidr, not both")
        if self.pods and self.namespace is None:
            raise ValueError("`pods` selects pods in `namespace`: name the namespace")
        return self


class Network(Section):
    """Where model servers may connect to (their NetworkPolicy `<model>-egress`)."""

    dns: Annotated[EgressPeer, Field(description="The cluster DNS pods.")] = EgressPeer(
        namespace="kube-system", pods={"k8s-app": "kube-dns"}, ports=[53], protocols=["UDP", "TCP"]
    )
    istiod: Annotated[
        EgressPeer, Field(description="Istio's control plane, which injected sidecars reach for config and certs.")
    ] = EgressPeer(namespace="istio-system", pods={"app": "istiod"}, ports=[15012])
    serving_egress: Annotated[
        list[EgressPeer],
        Field(
            description="More destinations every model server may reach, beyond DNS, istiod and the endpoints its "
            "pods are given (MLflow, OTel, the model's storage)."
        ),
    ] = []


class Logs(Section):
    """How the platform's log agents label streams in Loki, and how its ruler finds rule files."""

    stream_selector: Annotated[
        str,
        Field(
            description="Label matchers of a LogQL stream selector for one model's pods (without the braces); "
            "placeholders {namespace} {model} {env}. The log agents (Alloy/Promtail) map pod labels to stream "
            "labels, 'maestro.ml/model' -> 'maestro_ml_model'."
        ),
    ] = 'namespace="{namespace}", maestro_ml_model="{model}"'
    error_filter: Annotated[
        str,
        Field(
            description="LogQL pipeline that keeps the error lines of JSON logs (and drops lines that are not "
            "JSON, which a metric query must not see with a parse error)."
        ),
    ] = '| json | __error__="" | level=~"(?i)(error|critical|fatal)"'
    rule_labels: Annotated[
        dict[str, str],
        Field(
            description="Labels the Loki ruler sidecar (grafana/loki chart, sidecar.rules.label/labelValue) selects "
            "rule ConfigMaps by."
        ),
    ] = {"loki_rule": "1"}
    loki_datasource: Annotated[str, Field(description="Grafana datasource uid of Loki (dashboard log panels).")] = (
        "loki"
    )
    jaeger_datasource: Annotated[
        str, Field(description="Grafana datasource uid of Jaeger (dashboard trace panels and log-to-trace links).")
    ] = "jaeger"
    trace_id_field: Annotated[
        str,
        Field(description="JSON field of a log line holding the trace id (OTel Python log correlation: otelTraceID)."),
    ] = "otelTraceID"


class Lineage(Section):
    """OpenLineage: where runtime integrations send events, and the names they report under."""

    url: Annotated[
        str | None,
        Field(description="OpenLineage HTTP endpoint base (e.g. Marquez); unset: pods get no OpenLineage transport."),
    ] = None
    endpoint: Annotated[str, Field(description="Path of the lineage API below `url`.")] = "api/v1/lineage"
    namespace: Annotated[
        str, Field(description="OpenLineage namespace of a model's jobs; placeholders {team} {env} {model}.")
    ] = "{team}-{env}"


class Spot(Section):
    """How a pod lands on spot/preemptible nodes, and what it saves."""

    node_selector: Annotated[dict[str, str], Field(description="Node labels a spot pod requires.")] = {}
    node_affinity: Annotated[
        dict[str, Any],
        Field(description="`affinity.nodeAffinity` of spot pods (e.g. prefer or require the spot capacity type)."),
    ] = {}
    tolerations: Annotated[list[dict[str, Any]], Field(description="Tolerations of the spot nodes' taints.")] = []
    discount: Annotated[
        float, Field(ge=0, lt=1, description="Share of the on-demand price saved on spot nodes (cost estimates).")
    ] = 0.6


class Tuning(Section):
    trial_minutes: Annotated[int, Field(ge=1, description="Default expected minutes per trial.")] = 30
    storage_secret: Annotated[
        TuningStorage | None,
        Field(
            description="Vault secret a model's tuning Job reads OPTUNA_STORAGE from, when its spec declares no "
            "`tuning-db` secret: synced to `<model>-tuning-db` with the model's own Vault identity. Without "
            "it the cluster must provide `<model>-tuning-db` (`provided.secrets`)."
        ),
    ] = None


class Mesh(Section):
    """How model pods join the Istio mesh: the platform layer labels each model namespace."""

    mode: Annotated[
        Literal["sidecar", "ambient", "none"],
        Field(
            description="sidecar: injected Envoy (namespace label istio-injection=enabled, or istio.io/rev); "
            "ambient: ztunnel (istio.io/dataplane-mode=ambient); none: no mesh."
        ),
    ] = "sidecar"
    revision: Annotated[
        str | None,
        Field(
            description="Istio revision (istio.io/rev label) of a revisioned control plane, instead of "
            "istio-injection=enabled; sidecar mode only.",
            pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        ),
    ] = None


class PriorityClassSpec(Section):
    value: Annotated[
        int,
        Field(
            ge=-2147483648,
            le=1000000000,
            description="Priority; user classes may not exceed 1000000000 (higher is reserved for system classes).",
        ),
    ]
    description: Annotated[str, Field(description="What the class is for (kubectl shows it).")] = ""
    preemption_policy: Annotated[
        Literal["PreemptLowerPriority", "Never"],
        Field(description="Never: the pod queues ahead of lower priorities but evicts nobody."),
    ] = "PreemptLowerPriority"


class Provided(Section):
    """What the cluster already has, owned outside this repository: not rendered in the platform
    layer, and counted as existing when the link stage resolves references."""

    namespaces: Annotated[
        list[str],
        Field(
            description="Namespaces (fnmatch patterns) that exist with their labels, quota and limits; the "
            "platform layer renders nothing for them."
        ),
    ] = []
    priority_classes: Annotated[list[str], Field(description="PriorityClasses that exist.")] = []
    secrets: Annotated[
        list[str],
        Field(
            description="Secrets that exist in every model's namespace; placeholders {model} {team} {env}.",
            examples=[["{model}-tuning-db"]],
        ),
    ] = []
    config_maps: Annotated[
        list[str], Field(description="ConfigMaps in every model's namespace; placeholders {model} {team} {env}.")
    ] = []
    service_accounts: Annotated[
        list[str], Field(description="ServiceAccounts in every model's namespace; placeholders {model} {team} {env}.")
    ] = []
    storage_uri_prefixes: Annotated[
        list[str],
        Field(
            description="Storage URI prefixes a ClusterStorageContainer owned elsewhere handles (e.g. models:/); "
            "the platform layer then renders none for them."
        ),
    ] = []
    cluster_training_runtimes: Annotated[
        list[str], Field(description="Kubeflow Trainer ClusterTrainingRuntimes installed in the cluster.")
    ] = []


class Policies(Section):
    """The governance policies (policies/spec and policies/k8s) and the bounds of their engine."""

    required: Annotated[
        bool,
        Field(
            description="policies/spec and policies/k8s must exist (false: this repository runs without "
            "governance policies; the ones present still run)."
        ),
    ] = True
    timeout_seconds: Annotated[
        float,
        Field(
            gt=0,
            le=3600,
            description="CPU seconds one policy evaluation (one rule for one input) or the parse of one policy "
            "file may take; past it the evaluation stops with an error naming the rule and the input.",
        ),
    ] = 5.0
    memory_mb: Annotated[
        int, Field(ge=64, description="Memory (MiB) the policy engine may use on top of its loaded policies.")
    ] = 1024


VAULT_PLACEHOLDERS = ("kv_mount", "team", "model", "env")
_VAULT_LITERAL = re.compile(r"[A-Za-z0-9_.-]+")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class VaultPaths(Section):
    """Where each team's Vault secrets live: a spec may name only paths under its own scope
    (or a shared one), so no team can read another's secrets through Maestro's policies."""

    pattern: Annotated[
        str,
        Field(
            description="KV v2 API paths a model may read; placeholders {kv_mount} {team} {model} {env}; a last "
            "segment `...` stands for one or more segments. Must contain {team} or {model}."
        ),
    ] = "{kv_mount}/data/{team}/..."
    shared: Annotated[
        list[str],
        Field(
            description="Paths every team may read (the platform's shared secrets), same syntax as pattern "
            "({team} and {model} are not needed)."
        ),
    ] = []

    def allows(self, path: str, *, kv_mount: str, team: str, model: str, env: str) -> bool:
        values = {"kv_mount": kv_mount.strip("/"), "team": team, "model": model, "env": env}
        return any(_vault_regex(p, values).fullmatch(path) for p in [self.pattern, *self.shared])

    def scope(self, *, kv_mount: str, team: str, model: str, env: str) -> str:
        """The pattern with this model's values: what a message shows."""
        values = {"kv_mount": kv_mount.strip("/"), "team": team, "model": model, "env": env}
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), self.pattern)


def vault_pattern_problem(pattern: str, *, scoped: bool) -> str | None:
    """What is wrong with a vault_paths pattern (None: nothing)."""
    segments = pattern.split("/")
    names = _PLACEHOLDER.findall(pattern)
    unknown = sorted({n for n in names if n not in VAULT_PLACEHOLDERS})
    if unknown:
        return (
            f"unknown placeholder(s) {', '.join('{' + n + '}' for n in unknown)} (known: "
            + ", ".join("{" + n + "}" for n in VAULT_PLACEHOLDERS)
            + ")"
        )
    if scoped and not {"team", "model"} & set(names):
        return "it must contain {team} or {model}, or every team could read every other team's secrets"
    for i, segment in enumerate(segments):
        if segment == "..." and i == len(segments) - 1 and i > 0:
            continue
        literal = _PLACEHOLDER.sub("x", segment)
        if not _VAULT_LITERAL.fullmatch(literal) or not literal.strip("."):
            return f"segment '{segment}' is not a path segment (letters, digits, _ . -, placeholders; `...` last)"
    return None


def _vault_regex(pattern: str, values: dict[str, str]) -> re.Pattern[str]:
    tail = pattern.endswith("/...")
    body = pattern[: -len("/...")] if tail else pattern
    parts = _PLACEHOLDER.split(body)  # literal, name, literal, name, ...
    text = "".join(re.escape(values[p]) if i % 2 else re.escape(p) for i, p in enumerate(parts))
    return re.compile(text + ("(?:/[A-Za-z0-9_.-]+)+" if tail else ""))


class Platform(BaseSettings):
    """The platform team's settings; a repository's `config/platform.yaml`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
        extra="forbid",
        frozen=True,
    )

    api_version: Annotated[Literal["maestro.ml/v1alpha1"], Field(alias="apiVersion")] = "maestro.ml/v1alpha1"
    kind: Literal["PlatformConfig"] = "PlatformConfig"
    kubernetes_version: Annotated[
        str, Field(pattern=r"^1\.\d+$", description="Kubernetes minor version of the schemas.")
    ]
    environments: Annotated[dict[str, Environment], Field(min_length=1)]
    registries: Annotated[list[str], Field(description="Image registries (prefixes) workloads may pull from.")]
    owners: Annotated[
        list[Owner],
        Field(
            description="The platform's code owners ('@org/team' or e-mail): `maestro codeowners` makes them "
            "approvers of config/, overlays/, policies/, rendered/*/platform/ and rendered/*/argocd/."
        ),
    ] = []
    images: Images
    costs: Costs
    teams: Teams = Teams()
    gpu: Gpu = Gpu()
    training: Training = Training()
    tuning: Tuning = Tuning()
    gitops: GitOps
    monitoring: Monitoring = Monitoring()
    serving: Serving = Serving()
    logs: Logs = Logs()
    spot: Spot = Spot()
    lineage: Lineage = Lineage()
    istio_ingress_namespace: Annotated[
        str | None, Field(description="Namespace of the Istio ingress gateway, allowed to call every model.")
    ] = None
    mesh: Mesh = Mesh()
    network: Network = Network()
    priority_classes: Annotated[
        dict[str, PriorityClassSpec],
        Field(
            description="PriorityClasses the platform layer renders when a rendered pod uses one (an overlay patch, "
            "a tier); name -> spec."
        ),
    ] = {}
    provided: Provided = Provided()
    crd_schema_dir: Annotated[
        str | None,
        Field(
            description="Extra CRD JSON Schemas, {group}/{kind}_{version}.json, "
            "relative to the repository root: searched before the "
            "schemas Maestro ships, so they add kinds or replace a "
            "shipped version."
        ),
    ] = None
    spec_defaults: Annotated[
        dict[str, Any], Field(description="Spec fragment below every spec and overlay (lowest precedence).")
    ] = {}
    policies: Policies = Policies()
    vault_paths: VaultPaths = VaultPaths()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment variables override the files (first source wins).
        return env_settings, init_settings

    def team(self, name: str) -> TeamSettings:
        """The team's settings: the defaults, with its overrides on top."""
        over = self.teams.overrides.get(name)
        if not over:
            return self.teams.defaults
        return TeamSettings.model_validate(deep_merge(self.teams.defaults.model_dump(), over))


def _env_source(pointer: str) -> str | None:
    """The MAESTRO_* variable that set the value at `pointer`, if one did."""
    tokens = [t for t in pointer.split("/")[1:]]
    names = {k.upper() for k in os.environ if k.upper().startswith(ENV_PREFIX)}
    for n in range(len(tokens), 0, -1):
        var = ENV_PREFIX + "__".join(tokens[:n]).upper()
        if var in names:
            return var
    return None


def load_config(root: Path, env: str | None = None) -> tuple[Platform | None, list[Diagnostic]]:
    """Read and validate the platform config (for `env`: with platform.<env>.yaml merged)."""
    platform, _, diags = load_config_source(root, env)
    return platform, diags


def load_config_source(
    root: Path, env: str | None = None, base: Located | None = None
) -> tuple[Platform | None, Located | None, list[Diagnostic]]:
    """As `load_config`, also returning the located document (positions of `spec_defaults`).
    `base`: platform.yaml already loaded (it is read once per command, not once per env)."""
    from maestro.frontend.pydantic_errors import model_errors

    base_path = root / CONFIG_DIR / CONFIG_FILE
    located, diags = (base, []) if base is not None else load(base_path, shown(root, base_path), root=root)
    if located is None:
        return None, None, diags
    if env is not None:
        env_path = root / CONFIG_DIR / f"platform.{env}.yaml"
        if env_path.exists():
            over, more = load(env_path, shown(root, env_path), root=root)
            if over is None:
                return None, None, more
            located = merge_located(located, over)
    try:
        platform = Platform(**located.data)
    except ValidationError as exc:
        out = []
        for d in model_errors(exc, located, Platform):
            var = _env_source(d.pointer)
            if var is not None:
                d = error(
                    "M301",
                    f"{d.message} (from environment variable {var})",
                    file=f"${var}",
                    pointer=d.pointer,
                    hint=d.hint,
                )
            else:
                d = error("M301", d.message, file=d.file, line=d.line, col=d.col, pointer=d.pointer, hint=d.hint)
            out.append(d)
        return None, None, out
    return platform, located, _semantic(platform, located)


def _semantic(platform: Platform, located: Located) -> list[Diagnostic]:
    diags = []
    for name, environment in platform.environments.items():
        if not DNS1123_LABEL.match(name):
            diags.append(
                error(
                    "M301",
                    f"environment name '{name}' is not a DNS-1123 label",
                    **located.where(f"/environments/{name}", key=True),
                )
            )
        diags += _endpoint_findings(name, environment.endpoints, located)
        for key, known in (("namespace", ("team", "model", "env")), ("project", ("team", "env"))):
            unknown = sorted(set(_PLACEHOLDER.findall(getattr(environment, key))) - set(known))
            if unknown:
                diags.append(
                    error(
                        "M301",
                        f"environments.{name}.{key}: unknown placeholder(s) "
                        + ", ".join("{" + u + "}" for u in unknown),
                        hint="placeholders here: " + ", ".join("{" + k + "}" for k in known),
                        **located.where(f"/environments/{name}/{key}"),
                    )
                )
    diags += _placeholder_errors(platform, located)
    diags += _tuning_storage_errors(platform, located)
    if platform.mesh.revision is not None and platform.mesh.mode != "sidecar":
        diags.append(
            error(
                "M301",
                f"mesh.revision applies to sidecar injection, not mode '{platform.mesh.mode}'",
                **located.where("/mesh/revision"),
            )
        )
    for framework, fmt in sorted(platform.images.serving.kserve_runtimes.items()):
        if fmt not in platform.serving.kserve_metrics:
            diags.append(
                error(
                    "M301",
                    f"serving.kserve_metrics has no entry for modelFormat '{fmt}' (framework {framework})",
                    hint="add the metrics port of the ServingRuntime that serves it (its prometheus.kserve.io/port)",
                    **located.where(f"/images/serving/kserve_runtimes/{framework}"),
                )
            )
    for ptr, pattern, scoped in [
        ("/vault_paths/pattern", platform.vault_paths.pattern, True),
        *((f"/vault_paths/shared/{i}", p, False) for i, p in enumerate(platform.vault_paths.shared)),
    ]:
        problem = vault_pattern_problem(pattern, scoped=scoped)
        if problem:
            diags.append(error("M301", f"vault_paths '{pattern}': {problem}", **located.where(ptr)))
    for team in platform.teams.overrides:
        try:
            platform.team(team)
        except ValidationError as exc:
            diags.extend(
                error(
                    "M301",
                    f"teams.overrides.{team}: {e['msg']} at {'.'.join(map(str, e['loc']))}",
                    **located.where(f"/teams/overrides/{team}", key=True),
                )
                for e in exc.errors()
            )
    return diags


def _endpoint_findings(env: str, endpoints: Endpoints, located: Located) -> list[Diagnostic]:
    out = []
    at = f"/environments/{env}/endpoints"
    if not IN_CLUSTER_URL.match(endpoints.mlflow):
        out.append(
            error(
                "M301",
                f"endpoints.mlflow '{endpoints.mlflow}' is not an http(s) URL: it is the tracking server the {env} "
                "pods use",
                hint="give the in-cluster tracking server (http://mlflow.<namespace>.svc:5000); a local store for "
                "`maestro registry` goes in endpoints.mlflow_cli",
                **located.where(f"{at}/mlflow"),
            )
        )
    admin = endpoints.vault.admin_service_account
    # `{model}` alone is the account the model's own pods run as (render.service_account_name).
    if (
        "{model}" not in admin
        or admin == "{model}"
        or admin.count("{") != 1
        or not DNS1123_LABEL.fullmatch(admin.replace("{model}", "model"))
    ):
        out.append(
            error(
                "M301",
                f"endpoints.vault.admin_service_account '{admin}' must name one account per model",
                hint="a DNS label with the placeholder {model}, e.g. '{model}-vault-admin': an account shared by "
                "the models of a namespace would be rendered by two Applications, and one that pods run as (such "
                "as 'default') would let them write Vault policies",
                **located.where(f"{at}/vault/admin_service_account"),
            )
        )
    return out


def fill(pattern: str, **values: str) -> str:
    """A config name pattern with its placeholders ({model} {team} {env}) replaced."""
    return pattern.format_map(values)


def _placeholder_errors(platform: Platform, located: Located) -> list[Diagnostic]:
    p = platform.provided
    patterns = {
        "/provided/secrets": p.secrets,
        "/provided/config_maps": p.config_maps,
        "/provided/service_accounts": p.service_accounts,
    }
    if platform.tuning.storage_secret is not None:
        patterns["/tuning/storage_secret/vault_path"] = [platform.tuning.storage_secret.vault_path]
    out = []
    for ptr, items in patterns.items():
        for i, pattern in enumerate(items):
            where = ptr if ptr.startswith("/tuning") else f"{ptr}/{i}"
            try:
                fill(pattern, model="m", team="t", env="e")
            except (KeyError, IndexError, ValueError) as exc:
                out.append(
                    error(
                        "M301",
                        f"'{pattern}': unknown or malformed placeholder ({exc})",
                        hint="placeholders are {model}, {team} and {env}",
                        **located.where(where),
                    )
                )
    return out


def _tuning_storage_errors(platform: Platform, located: Located) -> list[Diagnostic]:
    """The tuning storage secret must be a KV v2 secret under every environment's kv_mount,
    in the spec's own Vault path grammar (it becomes each tuning model's `tuning-db` secret)."""
    import re

    from maestro.frontend.spec import VAULT_PATH

    storage = platform.tuning.storage_secret
    if storage is None:
        return []
    try:
        path = fill(storage.vault_path, model="model", team="team", env="env")
    except (KeyError, IndexError, ValueError):
        return []  # reported by _placeholder_errors
    out = []
    for name, environment in sorted(platform.environments.items()):
        mount = environment.endpoints.vault.kv_mount.strip("/")
        if not re.fullmatch(VAULT_PATH, path) or not path.startswith(f"{mount}/data/"):
            out.append(
                error(
                    "M301",
                    f"tuning.storage_secret.vault_path '{storage.vault_path}' is not a KV v2 secret path under "
                    f"environment {name}'s mount '{mount}'",
                    hint=f"write the KV v2 API path: '{mount}/data/<path>', placeholders {{team}} {{model}} {{env}}",
                    **located.where("/tuning/storage_secret/vault_path"),
                )
            )
    return out
