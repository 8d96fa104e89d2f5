"""LogQL for one model's logs, and the Grafana panels that show them: every LogQL string the
Loki rules (render/monitoring.py) and the dashboard use comes from here, so that a panel
plots exactly what the alert evaluates.

Streams are selected by the labels the platform's log agents derive from the pod labels
Maestro sets on every pod (`pod_labels`: team, model, env, component), as configured in
`logs.stream_selector`; error lines are the JSON lines whose level is error or worse
(`logs.error_filter`, with `__error__=""` because a metric query fails on lines the `json`
stage could not parse).
"""

from __future__ import annotations

from typing import Any

from maestro.frontend.spec import Logs, Spec
from maestro.render import Context, name_of
from maestro.render.queries import number


def stream_selector(spec: Spec, ctx: Context) -> str:
    matchers = ctx.platform.logs.stream_selector.format(namespace=ctx.namespace, model=name_of(spec), env=ctx.env)
    return "{" + matchers + "}"


def error_lines(spec: Spec, ctx: Context) -> str:
    return f"{stream_selector(spec, ctx)} {ctx.platform.logs.error_filter}"


def error_rate(spec: Spec, ctx: Context, window: str) -> str:
    """Error lines per second over `window`, all the model's pods together."""
    return f"sum(rate({error_lines(spec, ctx)} [{window}]))"


def error_rate_alert(spec: Spec, ctx: Context, logs: Logs) -> str:
    return f"{error_rate(spec, ctx, logs.window)} > {number(logs.error_rate)}"


def loki_datasource(ctx: Context) -> dict[str, str]:
    return {"type": "loki", "uid": ctx.platform.logs.loki_datasource}


def jaeger_datasource(ctx: Context) -> dict[str, str]:
    return {"type": "jaeger", "uid": ctx.platform.logs.jaeger_datasource}


def panels(spec: Spec, ctx: Context) -> list[dict[str, Any]]:
    """Error-log rate (what the Loki alert evaluates), the model's logs with a link from each
    line's trace id to the trace in Jaeger, and the model's recent traces."""
    monitoring = spec.spec.monitoring
    logs = monitoring.logs if monitoring else None
    out: list[dict[str, Any]] = []
    loki = loki_datasource(ctx)
    if logs is not None:
        out.append(
            {
                "type": "timeseries",
                "title": "Error logs",
                "description": f"Error lines per second over {logs.window} windows; the line is the alert threshold.",
                "datasource": dict(loki),
                "fieldConfig": {
                    "defaults": {
                        "unit": "none",
                        "custom": {"thresholdsStyle": {"mode": "line"}},
                        "thresholds": {
                            "mode": "absolute",
                            "steps": [{"color": "green", "value": None}, {"color": "red", "value": logs.error_rate}],
                        },
                    },
                    "overrides": [],
                },
                "targets": [
                    {
                        "refId": "A",
                        "datasource": dict(loki),
                        "expr": error_rate(spec, ctx, logs.window),
                        "legendFormat": "errors/s",
                    }
                ],
            }
        )
    trace_field = ctx.platform.logs.trace_id_field
    jaeger = jaeger_datasource(ctx)
    link = {
        "title": "Trace in Jaeger",
        "url": "",
        "internal": {
            "datasourceUid": jaeger["uid"],
            "datasourceName": "Jaeger",
            "query": {"query": f"${{__data.fields.{trace_field}}}"},
        },
    }
    out.append(
        {
            "type": "logs",
            "title": "Logs",
            "description": f"The model's pods' logs in Loki; a line's {trace_field} links to its trace in Jaeger.",
            "datasource": dict(loki),
            "fieldConfig": {"defaults": {"links": [link]}, "overrides": []},
            "options": {"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending", "enableLogDetails": True},
            "targets": [{"refId": "A", "datasource": dict(loki), "expr": f"{stream_selector(spec, ctx)} | json"}],
        }
    )
    if monitoring is not None and monitoring.tracing is not None:
        out.append(
            {
                "type": "table",
                "title": "Traces",
                "description": "Recent traces of the model's service in Jaeger; a trace id opens the trace.",
                "datasource": dict(jaeger),
                "fieldConfig": {"defaults": {}, "overrides": []},
                "targets": [
                    {
                        "refId": "A",
                        "datasource": dict(jaeger),
                        "queryType": "search",
                        "service": name_of(spec),
                        "limit": 20,
                    }
                ],
            }
        )
    return out
