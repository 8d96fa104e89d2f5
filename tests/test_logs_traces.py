"""Logs (Loki) and traces (OpenTelemetry Operator): structured-log settings on every pod,
per-model LogQL alert rules for the Loki ruler's sidecar, the dashboard's log and trace
panels, the `Instrumentation` and the annotation that injects it.

Consumers: Grafana's LogQL grammar (`@grafana/lezer-logql`, the parser of Grafana's Loki
query editor; `npm ci --prefix tests/tools/logql`, run by node) parses every LogQL string
we ship, and the OpenTelemetry Operator's CRD schema (shipped in the package) validates the
`Instrumentation`. No Loki binary installs here (no Debian package, nothing on PyPI), so
the grammar is the parser we can run: it checks syntax, and the test checks the shape
(a metric query for alerts, a log query for the logs panel).
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from ruamel.yaml import YAML

from conftest import MODELS, ROOT, example, example_workspace, require_path, require_tool
from maestro.frontend.spec import Spec
from maestro.output.verify import Verifier
from maestro.pipeline import render_model
from maestro.render import logql, monitoring
from maestro.render.decorate import CONTAINER_NAMES, INJECT_PYTHON, pod_templates

LOGQL_TOOL = ROOT / "tests" / "tools" / "logql"


def rendered(model: str, env: str = "prod") -> list[dict[str, Any]]:
    spec, _ = example(model, env)
    objects, diags = render_model(example_workspace(), env, spec, f"specs/{model}/maestro.yaml")
    assert not diags
    return objects


def parse_logql(queries: list[str]) -> list[dict[str, Any]]:
    node = require_tool("node")
    require_path(LOGQL_TOOL / "node_modules" / "@grafana" / "lezer-logql", "the LogQL grammar (npm ci)")
    res = subprocess.run(
        [node, str(LOGQL_TOOL / "check.cjs")],
        input=json.dumps(queries),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=LOGQL_TOOL,
    )
    assert res.returncode == 0, res.stderr
    out: list[dict[str, Any]] = json.loads(res.stdout)
    return out


def with_monitoring(spec: Spec, **changes: Any) -> Spec:
    assert spec.spec.monitoring is not None
    mon = spec.spec.monitoring.model_copy(update=changes)
    return spec.model_copy(update={"spec": spec.spec.model_copy(update={"monitoring": mon})})


# ------------------------------------------------------------------ logs


@pytest.mark.parametrize("model", MODELS)
def test_every_container_logs_json_at_the_specs_level(model: str) -> None:
    spec, _ = example(model)
    logs = spec.spec.monitoring.logs if spec.spec.monitoring else None
    pods = [p for obj in rendered(model) for p in pod_templates(obj)]
    assert pods
    for pod in pods:
        for container in pod.env_targets:
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            assert env["LOG_FORMAT"] == "json" and env["LOG_LEVEL"] == (logs.level if logs else "info")
            # the labels the log agents turn into stream labels, on every pod
            labels = pod.meta["labels"]
            assert {"maestro.ml/model", "maestro.ml/team", "maestro.ml/env", "app.kubernetes.io/component"} <= set(
                labels
            )


def test_train_job_env_goes_to_the_trainer_not_the_runtime_patch() -> None:
    """A TrainJob sets its trainer container's env in spec.trainer.env (the trainer plugin
    writes it into the runtime's `node` container); the runtime patch's `node` carries none."""
    [job] = [o for o in rendered("image-classifier") if o["kind"] == "TrainJob"]
    env = {e["name"]: e.get("value") for e in job["spec"]["trainer"]["env"]}
    assert env["LOG_FORMAT"] == "json" and env["OPENLINEAGE_JOB_NAME"] == "image-classifier.train"
    [patch] = job["spec"]["runtimePatches"]
    for replicated in patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]:
        pod = replicated["template"]["spec"]["template"]
        assert all("env" not in c for c in pod["spec"]["containers"] if c["name"] == "node")
        assert pod["metadata"]["annotations"][CONTAINER_NAMES] == "node"


def test_loki_rules_configmap_for_the_ruler_sidecar() -> None:
    [cm] = [o for o in rendered("fraud-detector") if o["metadata"]["name"] == "fraud-detector-loki-rules"]
    assert cm["metadata"]["labels"]["loki_rule"] == "1"
    assert cm["metadata"]["annotations"]["maestro.ml/artifact-dir"] == "loki"
    [(name, text)] = cm["data"].items()
    assert name == "payments-risk-prod-fraud-detector.yaml"
    [group] = YAML(typ="safe").load(text)["groups"]
    [rule] = group["rules"]
    assert rule["alert"] == "MaestroErrorLogs" and rule["for"] == "10m"
    assert rule["labels"] == {"team": "payments-risk", "model": "fraud-detector", "env": "prod", "severity": "page"}
    assert rule["expr"] == (
        'sum(rate({namespace="payments-risk-prod", maestro_ml_model="fraud-detector"} | json | __error__="" '
        '| level=~"(?i)(error|critical|fatal)" [5m])) > 0.5'
    )


def shipped_logql() -> list[tuple[str, str, str]]:
    """(where, query, expected top node) of every LogQL string in the rendered tree."""
    out = []
    for model in MODELS:
        for obj in rendered(model):
            if obj["metadata"]["name"].endswith("-loki-rules"):
                for text in obj["data"].values():
                    for group in YAML(typ="safe").load(text)["groups"]:
                        out += [(f"{model} rule {r['alert']}", r["expr"], "MetricExpr") for r in group["rules"]]
            if obj["metadata"]["name"].endswith("-dashboard"):
                for text in obj["data"].values():
                    for panel in json.loads(text)["panels"]:
                        for target in panel.get("targets", []):
                            if panel["datasource"]["type"] == "loki":
                                top = "LogExpr" if panel["type"] == "logs" else "MetricExpr"
                                out.append((f"{model} panel {panel['title']}", target["expr"], top))
    return out


def test_every_shipped_logql_parses() -> None:
    queries = shipped_logql()
    assert {w.split()[1] for w, _, _ in queries} >= {"rule", "panel"}
    results = parse_logql([q for _, q, _ in queries])
    for (where, query, top), result in zip(queries, results, strict=True):
        assert result["error"] is None, f"{where}: {query}: {result['error']}"
        assert result["top"][-1] == top, (where, query, result["top"])


def test_the_logql_parser_rejects_what_loki_would() -> None:
    results = parse_logql(['sum(rate({a="b"} |= [5m]))', 'rate({a="b"}) > 1', '{a="b"} | json | level=~"x'])
    assert all(r["error"] is not None for r in results)


def test_dashboard_shows_what_the_log_alert_evaluates_and_links_logs_to_traces() -> None:
    spec, ctx = example("fraud-detector")
    [cm] = [o for o in monitoring.render(spec, ctx) if o["metadata"]["name"] == "fraud-detector-dashboard"]
    panels = {p["title"]: p for p in json.loads(next(iter(cm["data"].values())))["panels"]}
    logs = spec.spec.monitoring.logs if spec.spec.monitoring else None
    assert logs is not None
    alert = logql.error_rate_alert(spec, ctx, logs)
    assert alert.startswith(panels["Error logs"]["targets"][0]["expr"] + " > ")
    [link] = panels["Logs"]["fieldConfig"]["defaults"]["links"]
    assert link["internal"]["datasourceUid"] == "jaeger"
    assert link["internal"]["query"]["query"] == "${__data.fields.otelTraceID}"
    assert panels["Traces"]["targets"][0]["service"] == "fraud-detector"


# ------------------------------------------------------------------ traces


def test_instrumentation_points_python_at_the_collectors_http_endpoint() -> None:
    spec, ctx = example("fraud-detector")
    [inst] = [o for o in monitoring.render(spec, ctx) if o["kind"] == "Instrumentation"]
    assert Verifier(example_workspace().platform.kubernetes_version).verify(inst) == []
    assert inst["metadata"]["name"] == "fraud-detector"
    assert inst["spec"]["exporter"] == {"endpoint": "http://otel-collector.observability.svc:4317"}
    assert inst["spec"]["sampler"] == {"type": "parentbased_traceidratio", "argument": "0.1"}
    assert {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel-collector.observability.svc:4318"} in inst[
        "spec"
    ]["python"]["env"]


@pytest.mark.parametrize("model", MODELS)
def test_model_pods_are_injected_and_platform_pods_are_not(model: str) -> None:
    spec, _ = example(model)
    traced = spec.spec.monitoring is not None and spec.spec.monitoring.tracing is not None
    seen = set()
    for obj in rendered(model):
        for pod in pod_templates(obj):
            annotations = pod.meta.get("annotations") or {}
            component = pod.component
            if traced and (component.startswith("serving") or component in ("training", "tuning")):
                seen.add(component)
                assert annotations[INJECT_PYTHON] == model
                names = [c.get("name", "kserve-container") for c in pod.containers]
                assert annotations[CONTAINER_NAMES] == ",".join(names)
                for container in pod.containers:
                    # the Instrumentation's exporter and sampler, not a gRPC endpoint that would win
                    assert not {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_SAMPLER"} & {
                        e["name"] for e in container.get("env", [])
                    }
            else:
                assert INJECT_PYTHON not in annotations, (model, component)
    if traced:
        assert any(c.startswith("serving") for c in seen)


def test_without_auto_instrumentation_the_sdk_env_stays() -> None:
    spec, ctx = example("fraud-detector")
    assert spec.spec.monitoring is not None and spec.spec.monitoring.tracing is not None
    manual = with_monitoring(spec, tracing=spec.spec.monitoring.tracing.model_copy(update={"auto_instrument": False}))
    assert not [o for o in monitoring.render(manual, ctx) if o["kind"] == "Instrumentation"]
    from maestro.render.pod import tracing_env

    names = [e["name"] for e in tracing_env(manual, ctx)]
    assert names[0] == "OTEL_EXPORTER_OTLP_ENDPOINT" and "OTEL_TRACES_SAMPLER_ARG" in names
