"""PromQL for a model's serving traffic: the one place queries are written.

Rollout analysis, autoscaling triggers, alert rules and dashboards all take their queries
from here, so a panel shows exactly what an alert or an analysis measures. Metric names
and label matchers come from the platform config (`monitoring.metrics`): they depend on
the mesh and runtime, not on Maestro.
"""

from __future__ import annotations

import re

from maestro.resolve.config import Metrics


def service_matcher(metrics: Metrics, namespace: str, service: str, host: str) -> str:
    """Requests callers sent to the Service `service` (cluster-local FQDN `host`)."""
    return metrics.service_matcher.format(namespace=namespace, service=service, host=host)


def revision_matcher(metrics: Metrics, namespace: str, pods: str) -> str:
    """Requests the pods whose names match the regex `pods` served."""
    return metrics.revision_matcher.format(namespace=namespace, pods=pods)


def request_rate(metrics: Metrics, match: str, window: str | None = None) -> str:
    """Requests per second over the window."""
    w = window or metrics.rate_window
    return f"sum(rate({metrics.requests_total}{{{match}}}[{w}]))"


def error_ratio(metrics: Metrics, match: str, window: str | None = None) -> str:
    """Fraction of requests that failed, 0..1 (0 when there is no traffic)."""
    w = window or metrics.rate_window
    errors = f"sum(rate({metrics.requests_total}{{{match},{metrics.error_matcher}}}[{w}]))"
    return f"({errors} or vector(0)) / clamp_min({request_rate(metrics, match, w)}, 1e-9)"


def latency_quantile_ms(metrics: Metrics, match: str, quantile: float = 0.99, window: str | None = None) -> str:
    """Latency quantile in milliseconds from the request-duration histogram (NaN without traffic)."""
    w = window or metrics.rate_window
    q = f"histogram_quantile({quantile}, sum by (le) (rate({metrics.request_duration_bucket}{{{match}}}[{w}])))"
    return q if metrics.duration_to_ms == 1 else f"{q} * {metrics.duration_to_ms:g}"


def zero_when_absent(expr: str) -> str:
    """`expr`, or 0 when it has no sample or is NaN (a quantile without traffic).

    For KEDA: before v2.20 its Prometheus scaler passes NaN on to the HPA (it turned only Inf
    into 0; pkg/scalers/prometheus_scaler.go), and NaN compares false with anything."""
    return f"(({expr}) >= 0) or vector(0)"


# ------------------------------------------------------------------ durations and numbers


_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_UNIT_SECONDS = {"w": 604800, **dict(_UNITS)}


def parse_duration(text: str) -> int:
    """Seconds in a Prometheus duration of whole units: "5m", "1h30m", "30d", "2w"."""
    parts = re.findall(r"(\d+)([wdhms])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"'{text}' is not a duration like 5m, 1h30m or 30d")
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)


def format_duration(seconds: int) -> str:
    """A Prometheus duration, largest units first: 280 -> "4m40s", 2592000 -> "30d"."""
    if seconds <= 0:
        raise ValueError(f"duration must be positive, got {seconds}s")
    out = ""
    for unit, size in _UNITS:
        n, seconds = divmod(seconds, size)
        if n:
            out += f"{n}{unit}"
    return out


def number(value: float) -> str:
    """A PromQL number literal without float noise: 14.4 * 0.001 -> "0.0144", 6.0 -> "6"."""
    return format(value, ".12g")


# ------------------------------------------------------------------ selectors and comparisons


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def selector(metric: str, labels: dict[str, str], *extra: str) -> str:
    """`metric{a="x",b="y",<extra matchers>}`, labels in sorted order."""
    matchers = [f"{k}={_quote(v)}" for k, v in sorted(labels.items())] + [e for e in extra if e]
    return f"{metric}{{{','.join(matchers)}}}"


def above(expr: str, threshold: float) -> str:
    return f"{expr} > {number(threshold)}"


# ------------------------------------------------------------------ SLOs


def error_budget_remaining(metrics: Metrics, match: str, window: str, budget: float) -> str:
    """Share of the error budget left over the SLO window: 1 when no request failed, 0 when
    the error ratio equals the budget, negative past it."""
    return f"1 - ({error_ratio(metrics, match, window)}) / {number(budget)}"


def burn_rate_exceeded(long_ratio: str, short_ratio: str, burn_rate: float, budget: float) -> str:
    """Multi-window burn-rate condition: the error ratio over both windows exceeds
    burn_rate x budget (the long window gives significance, the short one a quick reset)."""
    limit = f"({number(burn_rate)} * {number(budget)})"
    return f"{long_ratio} > {limit} and {short_ratio} > {limit}"


# ------------------------------------------------------------------ jobs, drift, targets


def job_failed(metrics: Metrics, namespace: str, job_name_regex: str) -> str:
    """Failed Jobs (one series each, by job_name) whose name matches the regex in full."""
    match = selector(
        metrics.job_failed, {"namespace": namespace}, f"job_name=~{_quote(job_name_regex)}", metrics.job_failed_matcher
    )
    return f"max by (job_name) ({match}) > 0"


def operator_job_failed(metrics: Metrics, kind: str, namespace: str, model: str) -> str:
    """Failed Kubeflow jobs of one kind and model (one series each, by job_name), from the
    kube-state-metrics custom resource state gauge of their `Failed` condition."""
    metric = metrics.operator_job_condition.format(kind=kind.lower())
    match = selector(metric, {"model": model, "namespace": namespace, "type": "Failed"})
    return f"max by (job_name) ({match}) > 0"


def with_label(expr: str, label: str, value: str) -> str:
    """`expr` with a constant label added to every series."""
    return f'label_replace({expr}, {_quote(label)}, {_quote(value)}, "", "")'


def cronjob_stale(metrics: Metrics, namespace: str, cronjob: str, max_age_seconds: int) -> str:
    """A CronJob whose last successful run is older than `max_age_seconds` (absent before its first success)."""
    match = selector(metrics.cronjob_last_success, {"cronjob": cronjob, "namespace": namespace})
    return f"time() - max({match}) > {max_age_seconds}"


def drift_score(metrics: Metrics, model: str, env: str) -> str:
    """The latest drift statistic per feature, as the drift CronJob pushed it."""
    return f"max by (feature) ({selector(metrics.drift_score, {'model': model, 'env': env})})"


def targets_up(namespace: str, job: str) -> str:
    """Scrape targets of a job that answered their last scrape (model server replicas)."""
    return f"sum({selector('up', {'job': job, 'namespace': namespace})})"
