"""monitoring: how a model's owners learn it is unwell, for models with a `monitoring` section.

Scraping. Model servers are in the mesh under STRICT mTLS, so Prometheus (outside it) cannot
scrape their ports directly; and for most KServe runtimes the metrics port is the inference
port itself (KServe 0.15 runtimes' `prometheus.kserve.io/port`: 8080; torchserve 8082, Triton
8002), so a PERMISSIVE exception for it would open inference to plaintext. Istio's metrics
merging does it instead (istio.io, "Prometheus: Option 1: Metrics merging", on by default):
the pods carry their runtime's endpoint in `prometheus.io/*` (serving.py), the injector moves it
into the sidecar and points the annotations at the agent's :15020/stats/prometheus, which
serves Envoy's and the app's metrics in plaintext, outside the inbound capture. One PodMonitor
`<model>` per served model (both runtimes, A/B variants included) selects the serving pods'
`istio-proxy` port (15090 `http-envoy-prom`, the one port the sidecar declares: only meshed pods
are targets), points the address at the annotated port as Istio's own Prometheus Operator sample
does, sets `job` to the model name (so "replicas up" is one query whatever the runtime), and
drops the `istio_*`/`envoy_*` series: Istio's request metrics, which the SLOs read, come from
the platform's mesh-wide sidecar scrape (`monitoring.metrics`), and a second copy would double
every rate.

Rules. One PrometheusRule `<model>`: a recording group (labels model, namespace) and an
alert group (labels team, model, env, severity; annotations summary, description,
runbook_url). Every PromQL string comes from `queries.py`; alerts read recorded series,
and the dashboard shows the recording rules' own expressions, so a panel plots exactly
what an alert evaluates (tests check the identity). Request metrics are what callers saw of
the main model's Service (`servers.callers_see`: Istio's client side, which also records
requests no pod answered, so an outage burns the budget instead of emptying the ratio).

SLO burn rates (Google SRE workbook, "Alerting on SLOs"): the error budget is
b = 1 - availability/100; a pair (burn rate B, long window L, short window S) fires while
the error ratio over L and over S both exceed B x b. The pairs are the platform's
(`monitoring.burn_rates`: the workbook's 14.4/1h/5m, 6/6h/30m, 1/3d/6h), used as written
whatever the model's SLO window W. A burn rate is relative to the budget, so B still exhausts
it in W / B; windows scaled down for a short W (7d: 1h -> 14m, 5m -> 1m10s) would page on a
minute of errors, a `rate()` over a handful of scrapes. A pair whose long window exceeds W is
left out.

Training and tuning. `MaestroTrainingFailed` fires for a failed training run: a batch Job
(`kube_job_failed`, by name: `<model>-train`, or `<model>-train-<n>` from the CronJob, which
also names the Jobs of a launcher CronJob that failed to create a run), or a Kubeflow job
whose `Failed` condition is True. Neither Training Operator v1 (failures counted per
namespace and framework) nor Kubeflow Trainer v2 (no TrainJob metrics) says which job
failed, so kube-state-metrics exports the conditions through a custom resource state config,
`training_state_metrics`, which the platform layer ships. `MaestroTuningFailed` fires for a
failed study Job `<model>-tuning`.

Dashboard: a ConfigMap `<model>-dashboard` labelled for the Grafana sidecar, its JSON also
written to `rendered/<env>/<model>/grafana/<model>.json` (emit's artifact-dir).

Drift: a CronJob `<model>-drift` runs the platform's drift detector on the schedule and
pushes `<drift_score>{model, env, feature}` to the Pushgateway (a CronJob's pods live too
briefly to be scraped); the drift alert reads that series.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable
from typing import Any, NamedTuple

from maestro.frontend.spec import Resources, Spec
from maestro.names import ARTIFACT_DIR
from maestro.render import (
    Context,
    Resource,
    logql,
    name_of,
    obj,
    pod_labels,
    service_account_name,
    standard_labels,
)
from maestro.render.materialize import materialize_name, materialize_schedule, online_views
from maestro.render.pod import (
    NO_SIDECAR,
    TMP_MOUNT,
    TMP_VOLUME,
    container_security_context,
    instrumentation_name,
    instrumented,
    pod_security_context,
    resource_attributes,
    resource_requirements,
)
from maestro.render.queries import (
    above,
    burn_rate_exceeded,
    cronjob_stale,
    drift_score,
    error_budget_remaining,
    error_ratio,
    format_duration,
    job_failed,
    latency_quantile_ms,
    number,
    operator_job_failed,
    parse_duration,
    request_rate,
    selector,
    targets_up,
    with_label,
)
from maestro.render.servers import callers_see, metrics_endpoint, servers, sidecars
from maestro.resolve.config import Platform
from maestro.serialize import dump

COMPONENT = "monitoring"
MONITORING_API = "monitoring.coreos.com/v1"
NAME_LABEL, COMPONENT_LABEL = "app.kubernetes.io/name", "app.kubernetes.io/component"
SIDECAR_STATS_PORT = 15090  # `http-envoy-prom`, the one port Istio's injected istio-proxy declares
MERGED_METRICS_PATH = "/stats/prometheus"
MESH_METRICS = "istio_.*|envoy_.*"
OTEL_API = "opentelemetry.io/v1alpha1"
PROPAGATORS = ("tracecontext", "baggage")  # W3C: what the OTel SDKs and Istio's tracing both speak
LOKI_DIR = "loki"  # rendered/<env>/<model>/loki/<namespace>-<model>.yaml
DASHBOARD_DIR = "grafana"  # rendered/<env>/<model>/grafana/<model>.json
GRAFANA_SCHEMA_VERSION = 39
UID_MAX = 40  # Grafana's limit on dashboard uids
DRIFT_RESOURCES = Resources(cpu="500m", memory="1Gi")
DRIFT_BACKOFF_LIMIT = 1
DRIFT_HISTORY_LIMIT = 3
DRIFT_DEADLINE = 3600  # a drift run that takes an hour is stuck, and the next one is due
LATENCY_QUANTILES = (0.5, 0.9, 0.99)


class BurnRate(NamedTuple):
    """One multi-window burn-rate alert."""

    rate: float
    long: str
    short: str
    severity: str


class Recording(NamedTuple):
    record: str
    expr: str


def render(spec: Spec, ctx: Context) -> list[Resource]:
    if spec.spec.monitoring is None:
        # Online views are materialized whether or not the model asks for monitoring, and a
        # view that silently stops refreshing breaks serving: their alerts always ship.
        rule = _prometheus_rule(spec, ctx, {})
        return [rule] if rule is not None else []
    out: list[Resource] = []
    if spec.spec.serving is not None:
        out.append(_scrape_monitor(spec, ctx))
    recordings = _recordings(spec, ctx)
    rule = _prometheus_rule(spec, ctx, recordings)
    if rule is not None:
        out.append(rule)
    if spec.spec.monitoring.dashboard:
        dashboard = _dashboard_config_map(spec, ctx, recordings)
        if dashboard is not None:
            out.append(dashboard)
    if spec.spec.monitoring.drift is not None:
        out.append(_drift_cronjob(spec, ctx))
    if instrumented(spec, ctx):
        out.append(_instrumentation(spec, ctx))
    if spec.spec.monitoring.logs is not None:
        out.append(_loki_rules(spec, ctx))
    return out


# ------------------------------------------------------------------ tracing


# ------------------------------------------------------------------ scraping


def scrape_job(spec: Spec) -> str:
    """The `job` label of the model servers' scrape targets."""
    return name_of(spec)


def _monitor_labels(ctx: Context) -> dict[str, str]:
    return dict(ctx.platform.monitoring.prometheus_labels)


def _scrape_monitor(spec: Spec, ctx: Context) -> Resource:
    name = name_of(spec)
    components = [server.component for server in servers(spec, ctx)]
    # The pod's IP with the port its prometheus.io/port annotation names (15020 once Istio has
    # injected it); one rule per address family: IPv4 has dots, IPv6 colons.
    port_and_ip = ["__meta_kubernetes_pod_annotation_prometheus_io_port", "__meta_kubernetes_pod_ip"]
    relabelings = [
        {
            "action": "replace",
            "sourceLabels": list(port_and_ip),
            "regex": "([0-9]+);([0-9.]+)",
            "replacement": "$2:$1",
            "targetLabel": "__address__",
        },
        {
            "action": "replace",
            "sourceLabels": list(port_and_ip),
            "regex": "([0-9]+);([0-9A-Fa-f:]+)",
            "replacement": "[$2]:$1",
            "targetLabel": "__address__",
        },
        {"action": "replace", "targetLabel": "job", "replacement": scrape_job(spec)},
    ]
    endpoint: dict[str, Any] = {
        "portNumber": SIDECAR_STATS_PORT,
        "path": MERGED_METRICS_PATH,
        "interval": ctx.platform.monitoring.scrape_interval,
        "relabelings": relabelings,
        "metricRelabelings": [{"action": "drop", "sourceLabels": ["__name__"], "regex": MESH_METRICS}],
    }
    if not sidecars(ctx):  # no merged endpoint: the model server's own port
        port, path = metrics_endpoint(spec, ctx)
        endpoint = {
            "portNumber": port,
            "path": path,
            "interval": ctx.platform.monitoring.scrape_interval,
            "relabelings": relabelings[-1:],
        }
    pods = {
        "matchLabels": {NAME_LABEL: name},
        "matchExpressions": [{"key": COMPONENT_LABEL, "operator": "In", "values": components}],
    }
    monitor = obj(MONITORING_API, "PodMonitor", name, {"selector": pods, "podMetricsEndpoints": [endpoint]})
    labels = _monitor_labels(ctx)
    if labels:
        monitor["metadata"]["labels"] = labels
    return monitor


# ------------------------------------------------------------------ SLO windows


def error_budget(availability: float) -> float:
    """1 - availability/100, without float noise (99.9 -> 0.001)."""
    from decimal import Decimal

    return float(1 - Decimal(repr(availability)) / 100)


def burn_rates(spec: Spec, ctx: Context) -> list[BurnRate]:
    """The platform's burn-rate pairs, windows as written; none longer than the SLO window."""
    monitoring = spec.spec.monitoring
    if monitoring is None or monitoring.slo is None:
        return []
    window = parse_duration(monitoring.slo.window)
    return [
        BurnRate(rate, long, short, severity)
        for rate, long, short, severity in ctx.platform.monitoring.burn_rates
        if parse_duration(long) <= window
    ]


# ------------------------------------------------------------------ rules


def _series_labels(spec: Spec, ctx: Context) -> dict[str, str]:
    """Labels of every recorded series."""
    return {"model": name_of(spec), "namespace": ctx.namespace}


def _recordings(spec: Spec, ctx: Context) -> dict[str, Recording]:
    """Recording rules by purpose; alerts read their series, panels show their expressions."""
    monitoring = spec.spec.monitoring
    assert monitoring is not None
    config = ctx.platform.monitoring
    m = config.metrics
    name = name_of(spec)
    out: dict[str, Recording] = {}
    if spec.spec.serving is not None:
        match = callers_see(spec, ctx, name)
        panel = config.panel_window
        out["request_rate"] = Recording(f"maestro:model_request_rate:rate{panel}", request_rate(m, match, panel))
        windows = [panel] + [w for b in burn_rates(spec, ctx) for w in (b.long, b.short)]
        for window in sorted(set(windows), key=parse_duration):
            out[f"error_ratio:{window}"] = Recording(
                f"maestro:model_error_ratio:rate{window}", error_ratio(m, match, window)
            )
        for q in LATENCY_QUANTILES:
            p = f"p{q * 100:g}"
            out[f"latency_{p}"] = Recording(
                f"maestro:model_latency_{p}_ms:rate{panel}", latency_quantile_ms(m, match, q, panel)
            )
        slo = monitoring.slo
        if slo is not None:
            out["budget_remaining"] = Recording(
                f"maestro:model_error_budget_remaining:rate{slo.window}",
                error_budget_remaining(m, match, slo.window, error_budget(slo.availability)),
            )
        out["replicas_up"] = Recording("maestro:model_replicas_up:sum", targets_up(ctx.namespace, scrape_job(spec)))
    if monitoring.drift is not None:
        out["drift"] = Recording("maestro:model_feature_drift_score:max", drift_score(m, name, ctx.env))
    return out


def _recorded(spec: Spec, ctx: Context, recording: Recording) -> str:
    return selector(recording.record, _series_labels(spec, ctx))


def _alert(
    spec: Spec,
    ctx: Context,
    alert: str,
    expr: str,
    severity: str,
    summary: str,
    description: str,
    for_: str | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": alert, "expr": expr}
    if for_ is not None:
        rule["for"] = for_
    rule["labels"] = {
        **(labels or {}),
        "team": spec.metadata.team,
        "model": name_of(spec),
        "env": ctx.env,
        "severity": severity,
    }
    url = ctx.platform.monitoring.runbook_url.format(
        alert=alert, model=name_of(spec), team=spec.metadata.team, env=ctx.env
    )
    rule["annotations"] = {"summary": summary, "description": description, "runbook_url": url}
    return rule


def _percent(value: float) -> str:
    return f"{number(value * 100)}%"


def _alerts(spec: Spec, ctx: Context, recordings: dict[str, Recording]) -> list[dict[str, Any]]:
    out = _model_alerts(spec, ctx, recordings) if spec.spec.monitoring is not None else []
    return out + _materialization_alerts(spec, ctx)


def _materialization_alerts(spec: Spec, ctx: Context) -> list[dict[str, Any]]:
    """Per online view: its materialization CronJob's run failed, or no run succeeded within
    the view's ttl (the online store then serves expired values, which Feast returns as
    missing)."""
    config = ctx.platform.monitoring
    name, env, m = name_of(spec), ctx.env, config.metrics
    out: list[dict[str, Any]] = []
    for view in online_views(spec):
        cronjob = materialize_name(spec, view)
        labels = {"view": view.name}
        out.append(
            _alert(
                spec,
                ctx,
                "MaestroMaterializationFailed",
                job_failed(m, ctx.namespace, f"{cronjob}-[0-9]+"),
                config.materialization_severity,
                f"{name} ({env}) materialization of feature view {view.name} failed",
                f"Job {{{{ $labels.job_name }}}} in namespace {ctx.namespace} failed to copy new rows of {view.name} "
                f"into the online store. See `kubectl -n {ctx.namespace} logs job/{{{{ $labels.job_name }}}}`.",
                labels=labels,
            )
        )
        out.append(
            _alert(
                spec,
                ctx,
                "MaestroFeaturesStale",
                cronjob_stale(m, ctx.namespace, cronjob, parse_duration(view.ttl)),
                config.materialization_severity,
                f"{name} ({env}) online features of {view.name} are stale",
                f"No materialization of {view.name} succeeded for longer than its ttl ({view.ttl}): serving reads "
                f"expired (missing) feature values. CronJob {cronjob}, schedule {materialize_schedule(spec, view)}.",
                labels=labels,
            )
        )
    return out


def _model_alerts(spec: Spec, ctx: Context, recordings: dict[str, Recording]) -> list[dict[str, Any]]:
    monitoring = spec.spec.monitoring
    assert monitoring is not None
    config = ctx.platform.monitoring
    name, env = name_of(spec), ctx.env
    out: list[dict[str, Any]] = []
    slo = monitoring.slo
    if slo is not None and spec.spec.serving is not None:
        budget = error_budget(slo.availability)
        for b in burn_rates(spec, ctx):
            expr = burn_rate_exceeded(
                _recorded(spec, ctx, recordings[f"error_ratio:{b.long}"]),
                _recorded(spec, ctx, recordings[f"error_ratio:{b.short}"]),
                b.rate,
                budget,
            )
            exhausted = format_duration(round(parse_duration(slo.window) / b.rate))
            out.append(
                _alert(
                    spec,
                    ctx,
                    "MaestroErrorBudgetBurn",
                    expr,
                    b.severity,
                    f"{name} ({env}) is spending its error budget {number(b.rate)}x too fast",
                    f"More than {_percent(b.rate * budget)} of requests to {name} failed over both the last {b.long} and "
                    f"the last {b.short}: {number(b.rate)}x the {_percent(budget)} a {number(slo.availability)}% "
                    f"availability SLO allows. At this rate the {slo.window} error budget is gone in {exhausted}.",
                    labels={"long_window": b.long, "short_window": b.short},
                )
            )
        if slo.latency_p99_ms is not None:
            out.append(
                _alert(
                    spec,
                    ctx,
                    "MaestroLatencyHigh",
                    above(_recorded(spec, ctx, recordings["latency_p99"]), slo.latency_p99_ms),
                    config.latency_severity,
                    f"{name} ({env}) p99 latency is above {slo.latency_p99_ms} ms",
                    f"The p99 latency of {name} over {config.panel_window} windows has been above its "
                    f"{slo.latency_p99_ms} ms SLO for {config.latency_for}.",
                    for_=config.latency_for,
                )
            )
    m = config.metrics
    training = spec.spec.training
    if training is not None:
        # Batch runs are Jobs: `<model>-train` launched once, `<model>-train-<minutes since
        # epoch>` from the CronJob, which also names the Jobs of a Kubeflow kind's launcher
        # CronJob (a failed launcher: no run at all). A Kubeflow job's own failure is only
        # in its status: kube-state-metrics exports it through the custom resource state
        # config `training_state_metrics` writes (the operators' own metrics do not name the
        # job). Each series carries `kind`, for the description and for routing.
        expr = with_label(job_failed(m, ctx.namespace, f"{name}-train(-[0-9]+)?"), "kind", "Job")
        operator = ctx.platform.training.operator(spec.spec.framework, training.workers, training.resources.gpu)
        if operator is not None:
            expr += " or " + with_label(
                operator_job_failed(m, operator.kind, ctx.namespace, name), "kind", operator.kind
            )
        out.append(
            _alert(
                spec,
                ctx,
                "MaestroTrainingFailed",
                expr,
                config.training_severity,
                f"{name} ({env}) training {{{{ $labels.kind }}}} {{{{ $labels.job_name }}}} failed",
                f"{{{{ $labels.kind }}}} {{{{ $labels.job_name }}}} in namespace {ctx.namespace} failed; the model was "
                f"not retrained. See `kubectl -n {ctx.namespace} describe {{{{ $labels.kind }}}} "
                f"{{{{ $labels.job_name }}}}` and its pods' logs.",
            )
        )
        if spec.spec.tuning is not None:
            study = f"{name}-tuning"
            out.append(
                _alert(
                    spec,
                    ctx,
                    "MaestroTuningFailed",
                    job_failed(m, ctx.namespace, study),
                    config.training_severity,
                    f"{name} ({env}) tuning study {study} failed",
                    f"Job {study} in namespace {ctx.namespace} failed: a worker ran out of retries or the study "
                    f"its deadline, so the study may be short of its trials. See `kubectl -n {ctx.namespace} "
                    f"describe job {study}` and its pods' logs; a new run resumes the same study.",
                )
            )
    drift = monitoring.drift
    if drift is not None:
        out.append(
            _alert(
                spec,
                ctx,
                "MaestroFeatureDrift",
                above(_recorded(spec, ctx, recordings["drift"]), drift.threshold),
                config.drift_severity,
                f"{name} ({env}) feature {{{{ $labels.feature }}}} drifted",
                f"The {drift.method} drift statistic of feature {{{{ $labels.feature }}}} of {name} has been above "
                f"{number(drift.threshold)} for {config.drift_for}: live data no longer looks like the training data.",
                for_=config.drift_for,
            )
        )
        out.append(
            _alert(
                spec,
                ctx,
                "MaestroDriftJobFailed",
                job_failed(m, ctx.namespace, f"{name}-drift-[0-9]+"),
                config.drift_severity,
                f"{name} ({env}) drift detection job {{{{ $labels.job_name }}}} failed",
                f"Job {{{{ $labels.job_name }}}} in namespace {ctx.namespace} failed, so the drift scores of {name} "
                f"are stale until a run succeeds.",
            )
        )
    return out


def _prometheus_rule(spec: Spec, ctx: Context, recordings: dict[str, Recording]) -> Resource | None:
    name = name_of(spec)
    groups = []
    if recordings:
        labels = _series_labels(spec, ctx)
        groups.append(
            {
                "name": f"maestro-{name}-recording",
                "rules": [{"record": r.record, "expr": r.expr, "labels": dict(labels)} for r in recordings.values()],
            }
        )
    alerts = _alerts(spec, ctx, recordings)
    if alerts:
        groups.append({"name": f"maestro-{name}-alerts", "rules": alerts})
    if not groups:
        return None
    rule = obj(MONITORING_API, "PrometheusRule", name, {"groups": groups})
    labels = _monitor_labels(ctx)
    if labels:
        rule["metadata"]["labels"] = labels
    return rule


# ------------------------------------------------------------------ dashboard


def dashboard_uid(model: str, env: str) -> str:
    """`maestro-<model>-<env>` when it fits Grafana's 40 characters, else a hash of the two."""
    uid = f"maestro-{model}-{env}"
    if len(uid) <= UID_MAX:
        return uid
    return "maestro-" + hashlib.sha256(f"{model}/{env}".encode()).hexdigest()[: UID_MAX - len("maestro-")]


_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def _thresholds(*steps: tuple[str, float | None]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for color, value in steps]}


def _panel(
    title: str,
    unit: str,
    targets: list[tuple[str, str]],
    *,
    kind: str = "timeseries",
    limit: float | None = None,
    description: str = "",
) -> dict[str, Any]:
    """A panel without id and position (the dashboard assigns them); `limit` draws a red line."""
    defaults: dict[str, Any] = {"unit": unit}
    if kind == "timeseries":
        defaults["custom"] = {
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "thresholdsStyle": {"mode": "line" if limit is not None else "off"},
        }
    if limit is not None:
        defaults["thresholds"] = _thresholds(("green", None), ("red", limit))
    panel: dict[str, Any] = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": dict(_DATASOURCE),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": dict(_DATASOURCE),
                "expr": expr,
                "legendFormat": legend,
                **({"instant": True, "range": False} if kind == "stat" else {}),
            }
            for i, (expr, legend) in enumerate(targets)
        ],
    }
    if kind == "timeseries":
        panel["options"] = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    return panel


def _dashboard(spec: Spec, ctx: Context, recordings: dict[str, Recording]) -> dict[str, Any] | None:
    monitoring = spec.spec.monitoring
    assert monitoring is not None
    config = ctx.platform.monitoring
    window = config.panel_window
    panels = []
    slo = monitoring.slo
    if "request_rate" in recordings:
        panels.append(
            _panel(
                "Request rate",
                "reqps",
                [(recordings["request_rate"].expr, "requests/s")],
                description=f"Requests per second over {window} windows.",
            )
        )
        budget = error_budget(slo.availability) if slo is not None else None
        panels.append(
            _panel(
                "Error ratio",
                "percentunit",
                [(recordings[f"error_ratio:{window}"].expr, "errors")],
                limit=budget,
                description=f"Share of failed requests over {window} windows"
                + (f"; the line is the SLO's error budget ({_percent(budget)})." if budget else "."),
            )
        )
        panels.append(
            _panel(
                "Latency",
                "ms",
                [(recordings[f"latency_p{q * 100:g}"].expr, f"p{q * 100:g}") for q in LATENCY_QUANTILES],
                limit=slo.latency_p99_ms if slo is not None else None,
                description=f"Latency quantiles over {window} windows"
                + (f"; the line is the p99 SLO ({slo.latency_p99_ms} ms)." if slo and slo.latency_p99_ms else "."),
            )
        )
    if "budget_remaining" in recordings:
        assert slo is not None
        stat = _panel(
            "Error budget remaining",
            "percentunit",
            [(recordings["budget_remaining"].expr, "remaining")],
            kind="stat",
            description=f"Share of the {slo.window} error budget of a "
            f"{number(slo.availability)}% availability SLO not yet spent.",
        )
        stat["fieldConfig"]["defaults"].update(
            decimals=1, thresholds=_thresholds(("red", None), ("orange", 0), ("green", 0.25))
        )
        stat["options"] = {
            "colorMode": "background",
            "graphMode": "none",
            "justifyMode": "center",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "textMode": "value",
        }
        panels.append(stat)
    if "drift" in recordings:
        drift = monitoring.drift
        assert drift is not None
        panels.append(
            _panel(
                "Feature drift",
                "none",
                [(recordings["drift"].expr, "{{feature}}")],
                limit=drift.threshold,
                description=f"Latest {drift.method} statistic per feature "
                f"(computed on '{drift.schedule}'); the line is "
                f"the alert threshold.",
            )
        )
    if "replicas_up" in recordings:
        panels.append(
            _panel(
                "Replicas",
                "none",
                [(recordings["replicas_up"].expr, "replicas up")],
                description="Model server replicas (A/B variants included) whose metrics "
                "endpoint answered the last scrape.",
            )
        )
    if panels or monitoring.logs is not None or monitoring.tracing is not None:
        panels += logql.panels(spec, ctx)
    if not panels:
        return None
    for i, panel in enumerate(panels):
        panel["id"] = i + 1
        panel["gridPos"] = {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)}
    name = name_of(spec)
    return {
        "uid": dashboard_uid(name, ctx.env),
        "title": f"{name} ({ctx.env})",
        "description": spec.metadata.description or f"Maestro model {name}",
        "tags": ["maestro", spec.metadata.team, ctx.env],
        "editable": False,  # provisioned from Git: edits in Grafana would be overwritten
        "graphTooltip": 1,
        "refresh": "1m",
        "schemaVersion": GRAFANA_SCHEMA_VERSION,
        "time": {"from": "now-24h", "to": "now"},
        "timezone": "utc",
        "version": 1,
        "annotations": {"list": []},
        "links": [],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "refresh": 1,
                }
            ]
        },
        "panels": panels,
    }


def dashboard_json(dashboard: dict[str, Any]) -> str:
    """Deterministic text: sorted keys, two-space indent, a trailing newline."""
    return json.dumps(dashboard, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _dashboard_config_map(spec: Spec, ctx: Context, recordings: dict[str, Recording]) -> Resource | None:
    dashboard = _dashboard(spec, ctx, recordings)
    if dashboard is None:
        return None
    name = name_of(spec)
    cm = obj("v1", "ConfigMap", f"{name}-dashboard", data={f"{name}.json": dashboard_json(dashboard)})
    cm["metadata"]["labels"] = dict(ctx.platform.monitoring.dashboard_labels)
    cm["metadata"]["annotations"] = {ARTIFACT_DIR: DASHBOARD_DIR}
    return cm


# ------------------------------------------------------------------ traces


def _instrumentation(spec: Spec, ctx: Context) -> Resource:
    """The OpenTelemetry Operator's `Instrumentation` the model's pods are injected with
    (render/decorate.py): Python auto-instrumentation exporting to the environment's collector
    (Jaeger is the collector's backend, configured there, not per model), the spec's sampling
    ratio, parent-based so that a trace sampled upstream stays whole.

    `exporter.endpoint` is the collector's gRPC endpoint, which the other languages' agents
    use; Python's auto-instrumentation exports OTLP over HTTP/protobuf, hence its own
    OTEL_EXPORTER_OTLP_ENDPOINT (endpoints.otel_http; the operator's documented pattern).
    """
    monitoring = spec.spec.monitoring
    assert monitoring is not None and monitoring.tracing is not None
    endpoints = ctx.environment.endpoints
    assert endpoints.otel is not None and endpoints.otel_http is not None
    return obj(
        OTEL_API,
        "Instrumentation",
        instrumentation_name(spec),
        {
            "exporter": {"endpoint": endpoints.otel},
            "propagators": list(PROPAGATORS),
            "sampler": {"type": "parentbased_traceidratio", "argument": number(monitoring.tracing.sample_ratio)},
            "resource": {"resourceAttributes": resource_attributes(spec, ctx)},
            "python": {
                "env": [
                    {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": endpoints.otel_http},
                    {"name": "OTEL_PYTHON_LOG_CORRELATION", "value": "true"},
                ]
            },
        },
    )


# ------------------------------------------------------------------ logs


def loki_rules_name(spec: Spec) -> str:
    return f"{name_of(spec)}-loki-rules"


def loki_rule_groups(spec: Spec, ctx: Context) -> dict[str, Any]:
    """The rule file the Loki ruler loads: Prometheus' rule-group format, LogQL expressions."""
    monitoring = spec.spec.monitoring
    assert monitoring is not None and monitoring.logs is not None
    logs = monitoring.logs
    name = name_of(spec)
    alert = _alert(
        spec,
        ctx,
        "MaestroErrorLogs",
        logql.error_rate_alert(spec, ctx, logs),
        logs.severity,
        f"{name} ({ctx.env}) logs more than {number(logs.error_rate)} errors per second",
        f"The pods of {name} in namespace {ctx.namespace} logged more than {number(logs.error_rate)} error lines "
        f"per second over {logs.window}, for {logs.for_}. Query in Grafana: {logql.error_lines(spec, ctx)}",
        for_=logs.for_,
    )
    return {"groups": [{"name": f"maestro-{name}-logs", "rules": [alert]}]}


def _loki_rules(spec: Spec, ctx: Context) -> Resource:
    """A ConfigMap the Loki ruler's sidecar (grafana/loki chart, `sidecar.rules`) picks up by
    label, in the model's namespace (the sidecar watches every namespace: searchNamespace ALL).

    Chosen over the Loki Operator's `AlertingRule` CRD: the platform runs Loki from its Helm
    chart, whose ruler loads rule files from this sidecar, the same convention as the Grafana
    dashboard sidecar the dashboards already use; the CRD is only read by an operator-managed
    LokiStack. The file name carries namespace and model, so that rule files of two models
    never overwrite each other in the ruler's folder.
    """
    name = name_of(spec)
    data = {f"{ctx.namespace}-{name}.yaml": dump(loki_rule_groups(spec, ctx))}
    cm = obj("v1", "ConfigMap", loki_rules_name(spec), data=data)
    cm["metadata"]["labels"] = dict(ctx.platform.logs.rule_labels)
    cm["metadata"]["annotations"] = {ARTIFACT_DIR: LOKI_DIR}
    return cm


# ------------------------------------------------------------------ drift


def _drift_cronjob(spec: Spec, ctx: Context) -> Resource:
    monitoring = spec.spec.monitoring
    assert monitoring is not None and monitoring.drift is not None
    drift = monitoring.drift
    config = ctx.platform.monitoring
    name = name_of(spec)
    container = {
        "name": "drift",
        "image": ctx.platform.images.drift,
        "args": [
            "--method",
            drift.method,
            "--threshold",
            number(drift.threshold),
            "--features",
            ",".join(drift.features),
            "--model",
            name,
            "--env",
            ctx.env,
        ],
        "env": [
            {"name": "PUSHGATEWAY_URL", "value": config.pushgateway},
            {"name": "DRIFT_METRIC", "value": config.metrics.drift_score},
            {"name": "MLFLOW_TRACKING_URI", "value": ctx.environment.endpoints.mlflow},
        ],
        "resources": resource_requirements(DRIFT_RESOURCES, ctx.platform),
        "securityContext": container_security_context(),
        "volumeMounts": [copy.deepcopy(TMP_MOUNT)],
    }
    pod = {
        "serviceAccountName": service_account_name(spec),
        "restartPolicy": "Never",
        "securityContext": pod_security_context(),
        "containers": [container],
        "volumes": [copy.deepcopy(TMP_VOLUME)],
    }
    job_spec = {
        "backoffLimit": DRIFT_BACKOFF_LIMIT,
        "activeDeadlineSeconds": DRIFT_DEADLINE,
        # Like training pods: a sidecar that outlives the detector would keep the Job running.
        "template": {"metadata": {"labels": {**pod_labels(spec, ctx, COMPONENT), **NO_SIDECAR}}, "spec": pod},
    }
    return obj(
        "batch/v1",
        "CronJob",
        f"{name}-drift",
        {
            "schedule": drift.schedule,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": DRIFT_HISTORY_LIMIT,
            "failedJobsHistoryLimit": DRIFT_HISTORY_LIMIT,
            "jobTemplate": {"metadata": {"labels": standard_labels(spec, ctx, COMPONENT)}, "spec": job_spec},
        },
    )


# ------------------------------------------------------------------ operator job state


# (API group, version) of each Kubeflow kind, as rendered by training.py.
OPERATOR_KINDS: dict[str, tuple[str, str]] = {
    "TrainJob": ("trainer.kubeflow.org", "v1alpha1"),
    "PyTorchJob": ("kubeflow.org", "v1"),
    "TFJob": ("kubeflow.org", "v1"),
    "XGBoostJob": ("kubeflow.org", "v1"),
}
MODEL_LABEL = "app.kubernetes.io/name"  # on every run Maestro renders (standard_labels)


def training_state_metrics(platform: Platform, kinds: Iterable[str]) -> dict[str, Any]:
    """kube-state-metrics custom resource state config (`--custom-resource-state-config-file`,
    kube-state-metrics docs/metrics/extend/customresourcestate-metrics.md) that exports the
    status conditions of `kinds` (the Kubeflow kinds the environment renders), as the training
    alerts read them: one gauge per kind, `metrics.operator_job_condition` with {kind} in
    lower case, one series per condition, 1 while it is True (KSM turns "True"/"False" into
    1/0), labels namespace, job_name, model (the run's app.kubernetes.io/name) and type.

    Neither operator exports this itself: Training Operator v1 counts failed jobs per
    namespace and framework only (`training_operator_jobs_failed_total`), and Trainer v2
    exports no TrainJob metrics. Both keep `status.conditions` (v1: Created, Running,
    Restarting, Succeeded, Suspended, Failed; TrainJob: Suspended, Complete, Failed).
    kube-state-metrics also needs list/watch on these resources and on CRDs."""
    resources = []
    for kind in sorted(set(kinds)):
        group, version = OPERATOR_KINDS[kind]
        metric = platform.monitoring.metrics.operator_job_condition.format(kind=kind.lower())
        resources.append(
            {
                "groupVersionKind": {"group": group, "version": version, "kind": kind},
                "metricNamePrefix": "",  # the configured name is the whole metric name
                "labelsFromPath": {
                    "namespace": ["metadata", "namespace"],
                    "job_name": ["metadata", "name"],
                    "model": ["metadata", "labels", MODEL_LABEL],
                },
                "metrics": [
                    {
                        "name": metric,
                        "help": f"Status conditions of {kind} objects: 1 while the condition is True.",
                        "each": {
                            "type": "Gauge",
                            "gauge": {
                                "path": ["status", "conditions"],
                                "labelsFromPath": {"type": ["type"]},
                                "valueFrom": ["status"],
                            },
                        },
                    }
                ],
            }
        )
    return {"kind": "CustomResourceStateMetrics", "spec": {"resources": resources}}
