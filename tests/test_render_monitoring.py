"""render/monitoring.py on the example specs: kinds, wiring, schemas, SLO windows,
dashboards that show what alerts evaluate, and the rules run by the real promtool.

The promtool unit tests are generated from the rendered rules (so they test what ships):
synthetic Istio/kube-state-metrics/Pushgateway series in, expected alerts out.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import MODELS, example, example_workspace, require_tool
from maestro.frontend.spec import Spec
from maestro.output.emit import Tree, folder
from maestro.output.verify import Verifier
from maestro.render import Context, monitoring, pod, security, servers, serving, training
from maestro.render.queries import format_duration, number, parse_duration
from maestro.serialize import dump

ENVS = ["dev", "staging", "prod"]


def _workspace() -> Any:
    return example_workspace()


def effective(model: str, env: str = "prod") -> tuple[Spec, Context]:
    return example(model, env)  # type: ignore[no-any-return]


def rendered(model: str, env: str = "prod") -> dict[str, dict[str, Any]]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in monitoring.render(*effective(model, env))}


def rule_of(model: str, env: str = "prod") -> dict[str, Any]:
    return rendered(model, env)[f"PrometheusRule/{model}"]


def rules(rule: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for g in rule["spec"]["groups"] for r in g["rules"]]


def dashboard(model: str, env: str = "prod") -> dict[str, Any]:
    cm = rendered(model, env)[f"ConfigMap/{model}-dashboard"]
    return json.loads(cm["data"][f"{model}.json"])


def panel_exprs(board: dict[str, Any]) -> list[str]:
    """The PromQL of the Prometheus panels (the Loki and Jaeger panels: tests/test_logs_traces.py)."""
    return [t["expr"] for p in board["panels"] if p["datasource"]["type"] == "prometheus" for t in p["targets"]]


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier(_workspace().platform.kubernetes_version)


# ------------------------------------------------------------------ what is rendered


@pytest.mark.parametrize(
    ("model", "env", "expected"),
    [
        (
            "fraud-detector",
            "prod",
            [
                "PodMonitor/fraud-detector",
                "PrometheusRule/fraud-detector",
                "ConfigMap/fraud-detector-dashboard",
                "CronJob/fraud-detector-drift",
                "Instrumentation/fraud-detector",  # monitoring.tracing (tests/test_logs_traces.py)
                "ConfigMap/fraud-detector-loki-rules",  # monitoring.logs
            ],
        ),
        (
            "churn-predictor",
            "prod",
            [
                "PodMonitor/churn-predictor",
                "PrometheusRule/churn-predictor",
                "ConfigMap/churn-predictor-dashboard",
                "CronJob/churn-predictor-drift",
            ],
        ),
        (
            "demand-forecaster",
            "prod",
            [
                "PrometheusRule/demand-forecaster",
                "ConfigMap/demand-forecaster-dashboard",
                "CronJob/demand-forecaster-drift",
            ],
        ),  # batch: no scraping, no SLO
        (
            "image-classifier",
            "prod",
            [
                "PodMonitor/image-classifier",
                "PrometheusRule/image-classifier",
                "ConfigMap/image-classifier-dashboard",
                "Instrumentation/image-classifier",
            ],
        ),
        (
            "recsys-ranker",
            "dev",
            [
                "PodMonitor/recsys-ranker",
                "PrometheusRule/recsys-ranker",
                "ConfigMap/recsys-ranker-dashboard",
                "CronJob/recsys-ranker-drift",
                "Instrumentation/recsys-ranker",
            ],
        ),
        (
            "sentiment-bert",
            "prod",
            [
                "PodMonitor/sentiment-bert",
                "PrometheusRule/sentiment-bert",
                "ConfigMap/sentiment-bert-dashboard",
                "Instrumentation/sentiment-bert",
            ],
        ),
    ],
)
def test_kinds_and_names(model: str, env: str, expected: list[str]) -> None:
    assert list(rendered(model, env)) == expected


def test_nothing_without_a_monitoring_section() -> None:
    spec, ctx = effective("fraud-detector")
    bare = spec.model_copy(update={"spec": spec.spec.model_copy(update={"monitoring": None, "features": None})})
    assert monitoring.render(bare, ctx) == []
    # online views' materialization alerts ship anyway (tests/test_materialize.py)
    bare = spec.model_copy(update={"spec": spec.spec.model_copy(update={"monitoring": None})})
    assert [r["kind"] for r in monitoring.render(bare, ctx)] == ["PrometheusRule"]


@pytest.mark.parametrize("model", MODELS)
def test_every_object_passes_its_schema(model: str, verifier: Verifier) -> None:
    for env in ENVS:
        for key, o in rendered(model, env).items():
            assert verifier.verify(o, source=key) == [], (env, key)


@pytest.mark.parametrize("model", MODELS)
def test_deterministic_and_pure(model: str) -> None:
    for env in ENVS:
        spec, ctx = effective(model, env)
        before = (spec.model_dump(), copy.deepcopy(ctx.platform.model_dump()))
        first = [dump(o) for o in monitoring.render(spec, ctx)]
        assert [dump(o) for o in monitoring.render(spec, ctx)] == first
        assert (spec.model_dump(), ctx.platform.model_dump()) == before


# ------------------------------------------------------------------ scraping


@pytest.mark.parametrize(
    ("model", "port"),
    [
        ("fraud-detector", "8080"),  # xgboost: kserve-xgbserver/mlserver serve metrics on the inference port
        ("image-classifier", "8082"),  # pytorch: torchserve
        ("recsys-ranker", "8002"),  # tensorflow with protocol v2: Triton
        ("sentiment-bert", "8080"),  # huggingface
        ("churn-predictor", "8082"),  # deployment runtime: MLServer's MLSERVER_METRICS_PORT
    ],
)
def test_each_runtime_announces_its_own_metrics_port_for_istio_to_merge(model: str, port: str) -> None:
    spec, ctx = effective(model)
    for server in servers.servers(spec, ctx):
        pod = pod_of(serving.render(spec, ctx), server.name)
        assert pod["annotations"] == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": port,
            "prometheus.io/path": "/metrics",
        }, server.name
        assert pod["labels"]["sidecar.istio.io/inject"] == "true"


def pod_of(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """Pod metadata of server `name`: the ISVC's predictor, or the Deployment's / Rollout's template."""
    for o in objects:
        if o["metadata"]["name"] != name:
            continue
        if o["kind"] == "InferenceService":
            return o["spec"]["predictor"]
        if o["kind"] in ("Deployment", "Rollout") and "template" in o["spec"]:
            return o["spec"]["template"]["metadata"]  # type: ignore[no-any-return]
    raise AssertionError(f"no pod template of {name}")


@pytest.mark.parametrize("model", ["fraud-detector", "churn-predictor"])
def test_pod_monitor_scrapes_the_sidecars_merged_endpoint_of_every_server(model: str) -> None:
    spec, ctx = effective(model)
    monitor = rendered(model)[f"PodMonitor/{model}"]["spec"]
    components = [s.component for s in servers.servers(spec, ctx)]
    assert monitor["selector"] == {
        "matchLabels": {"app.kubernetes.io/name": model},
        "matchExpressions": [{"key": "app.kubernetes.io/component", "operator": "In", "values": components}],
    }
    [endpoint] = monitor["podMetricsEndpoints"]
    # 15090 `http-envoy-prom`, the one port Istio's injected istio-proxy declares: only meshed pods
    # are targets (the address is then rewritten to the merged endpoint).
    assert (endpoint["portNumber"], endpoint["path"]) == (15090, "/stats/prometheus")
    assert "port" not in endpoint and "targetPort" not in endpoint
    assert {"action": "replace", "targetLabel": "job", "replacement": model} in endpoint["relabelings"]
    # Istio's request metrics come from the platform's mesh-wide scrape; a second copy would
    # double every rate.
    assert endpoint["metricRelabelings"] == [
        {"action": "drop", "sourceLabels": ["__name__"], "regex": "istio_.*|envoy_.*"}
    ]


def _relabel(rules: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, str]:
    """Prometheus `replace` relabelling (anchored RE2; Python's re agrees on these patterns)."""
    out = dict(labels)
    for r in rules:
        assert r["action"] == "replace"
        value = ";".join(out.get(k, "") for k in r.get("sourceLabels", []))
        m = re.fullmatch(r.get("regex", "(.*)"), value)
        if m is not None:
            out[r["targetLabel"]] = m.expand(re.sub(r"\$(\d+)", r"\\\1", r.get("replacement", "$1")))
    return out


@pytest.mark.parametrize(
    ("pod_ip", "address"), [("10.4.2.17", "10.4.2.17:15020"), ("fd00:10:244::1a", "[fd00:10:244::1a]:15020")]
)
def test_scrape_address_is_the_merged_metrics_port_istio_annotated(pod_ip: str, address: str) -> None:
    [endpoint] = rendered("fraud-detector")["PodMonitor/fraud-detector"]["spec"]["podMetricsEndpoints"]
    # What Prometheus' pod discovery shows for the sidecar's port once Istio's injector has
    # rewritten prometheus.io/port to its status port.
    target = {
        "__address__": f"{pod_ip}:15090" if ":" not in pod_ip else f"[{pod_ip}]:15090",
        "__meta_kubernetes_pod_ip": pod_ip,
        "__meta_kubernetes_pod_annotation_prometheus_io_port": "15020",
    }
    assert _relabel(endpoint["relabelings"], target)["__address__"] == address


def test_monitoring_namespace_reaches_only_the_sidecars_plaintext_metrics_ports() -> None:
    spec, ctx = effective("fraud-detector")
    out = security.render(spec, ctx)
    allow = next(o for o in out if o["metadata"]["name"] == "fraud-detector-allow")
    monitoring_ns = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    [rule] = [r for r in allow["spec"]["ingress"] if r["from"] == [monitoring_ns]]
    assert rule["ports"] == [{"protocol": "TCP", "port": 15020}, {"protocol": "TCP", "port": 15090}]
    # Scrapes never reach Envoy's inbound listener, so no L7 rule opens a port to monitoring
    # (8080 is the inference port of most KServe runtimes).
    [authz] = [o for o in out if o["kind"] == "AuthorizationPolicy"]
    assert all(src["source"].get("namespaces") != ["monitoring"] for r in authz["spec"]["rules"] for src in r["from"])
    [peer] = [o for o in out if o["kind"] == "PeerAuthentication"]
    assert peer["spec"]["mtls"] == {"mode": "STRICT"} and "portLevelMtls" not in peer["spec"]


def test_prometheus_labels_from_config_reach_monitors_and_rules() -> None:
    spec, ctx = effective("fraud-detector")
    config = ctx.platform.monitoring.model_copy(update={"prometheus_labels": {"release": "kube-prometheus"}})
    ctx = Context(
        env=ctx.env,
        platform=ctx.platform.model_copy(update={"monitoring": config}),
        namespace=ctx.namespace,
        source=ctx.source,
        sync=ctx.sync,
    )
    objs = {o["kind"]: o for o in monitoring.render(spec, ctx)}
    assert objs["PodMonitor"]["metadata"]["labels"] == {"release": "kube-prometheus"}
    assert objs["PrometheusRule"]["metadata"]["labels"] == {"release": "kube-prometheus"}


# ------------------------------------------------------------------ SLO windows

WORKBOOK = [(14.4, "1h", "5m", "page"), (6.0, "6h", "30m", "page"), (1.0, "3d", "6h", "ticket")]


@pytest.mark.parametrize("model", ["fraud-detector", "image-classifier", "sentiment-bert"])  # 30d, 28d, 7d SLOs
def test_burn_rate_windows_are_the_workbooks_whatever_the_slo_window(model: str) -> None:
    assert [tuple(b) for b in monitoring.burn_rates(*effective(model))] == WORKBOOK
    windows = {
        r["labels"]["long_window"] + "/" + r["labels"]["short_window"]
        for r in rules(rule_of(model))
        if r.get("alert") == "MaestroErrorBudgetBurn"
    }
    assert windows == {"1h/5m", "6h/30m", "3d/6h"}
    # no rate() window below the workbook's 5m anywhere (7d scaling gave 1m10s)
    for r in rules(rule_of(model)):
        for w in re.findall(r"\[([0-9a-z]+)\]", r["expr"]):
            assert parse_duration(w) >= 300, (r.get("record") or r.get("alert"), w)


def test_a_pair_longer_than_the_slo_window_is_left_out() -> None:
    spec, ctx = effective("fraud-detector")
    slo = spec.spec.monitoring.slo.model_copy(update={"window": "2d"})  # type: ignore[union-attr]
    m = spec.spec.monitoring.model_copy(update={"slo": slo})  # type: ignore[union-attr]
    s = spec.model_copy(update={"spec": spec.spec.model_copy(update={"monitoring": m})})
    assert [tuple(b) for b in monitoring.burn_rates(s, ctx)] == WORKBOOK[:2]


def test_durations() -> None:
    assert [format_duration(s) for s in (70, 280, 3600, 5040, 241920, 2592000)] == [
        "1m10s",
        "4m40s",
        "1h",
        "1h24m",
        "2d19h12m",
        "30d",
    ]
    assert parse_duration("1h24m") == 5040 and parse_duration("2w") == 1209600
    with pytest.raises(ValueError):
        parse_duration("5 m")


@given(st.integers(min_value=1, max_value=10**8))
def test_durations_round_trip(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_numbers_have_no_float_noise() -> None:
    assert [number(x) for x in (14.4 * 0.001, 6.0, 0.1 + 0.2, 1e-05)] == ["0.0144", "6", "0.3", "1e-05"]


def test_error_budget_has_no_float_noise() -> None:
    assert [monitoring.error_budget(a) for a in (99.9, 99.5, 99.0, 99.95)] == [0.001, 0.005, 0.01, 0.0005]


# ------------------------------------------------------------------ rules


def test_fraud_detector_alerts() -> None:
    _spec, _ctx = effective("fraud-detector")
    alerts = [r for r in rules(rule_of("fraud-detector")) if "alert" in r]
    assert [(a["alert"], a["labels"]["severity"]) for a in alerts] == [
        ("MaestroErrorBudgetBurn", "page"),
        ("MaestroErrorBudgetBurn", "page"),
        ("MaestroErrorBudgetBurn", "ticket"),
        ("MaestroLatencyHigh", "page"),
        ("MaestroTrainingFailed", "ticket"),
        ("MaestroTuningFailed", "ticket"),
        ("MaestroFeatureDrift", "ticket"),
        ("MaestroDriftJobFailed", "ticket"),
        ("MaestroMaterializationFailed", "ticket"),
        ("MaestroFeaturesStale", "ticket"),
    ]
    fast = alerts[0]
    sel = '{model="fraud-detector",namespace="payments-risk-prod"}'
    assert fast["expr"] == (
        f"maestro:model_error_ratio:rate1h{sel} > (14.4 * 0.001) and "
        f"maestro:model_error_ratio:rate5m{sel} > (14.4 * 0.001)"
    )
    assert "for" not in fast  # the short window is what keeps it from flapping
    assert alerts[3]["expr"] == f"maestro:model_latency_p99_ms:rate5m{sel} > 60" and alerts[3]["for"] == "10m"
    # The launcher CronJob's Jobs, and the TrainJob it creates (kube-state-metrics custom resource state).
    assert alerts[4]["expr"] == (
        'label_replace(max by (job_name) (kube_job_failed{namespace="payments-risk-prod",'
        'job_name=~"fraud-detector-train(-[0-9]+)?",condition="true"}) > 0, "kind", "Job", "", "") or '
        'label_replace(max by (job_name) (kube_trainjob_status_condition{model="fraud-detector",'
        'namespace="payments-risk-prod",type="Failed"}) > 0, "kind", "TrainJob", "", "")'
    )
    assert alerts[5]["expr"] == (
        'max by (job_name) (kube_job_failed{namespace="payments-risk-prod",'
        'job_name=~"fraud-detector-tuning",condition="true"}) > 0'
    )
    assert alerts[6]["expr"] == f"maestro:model_feature_drift_score:max{sel} > 0.2" and alerts[6]["for"] == "15m"
    assert fast["annotations"]["runbook_url"] == "https://runbooks.example.com/ml/MaestroErrorBudgetBurn"


@pytest.mark.parametrize("model", MODELS)
def test_every_alert_is_labelled_and_annotated_and_reads_recorded_series(model: str) -> None:
    for env in ENVS:
        spec, _ = effective(model, env)
        all_rules = rules(rule_of(model, env))
        recorded = {r["record"] for r in all_rules if "record" in r}
        for r in all_rules:
            if "record" in r:
                assert r["labels"] == {"model": model, "namespace": f"{spec.metadata.team}-{env}"}
                continue
            assert {"team": spec.metadata.team, "model": model, "env": env}.items() <= r["labels"].items()
            assert r["labels"]["severity"] in ("page", "ticket")
            assert sorted(r["annotations"]) == ["description", "runbook_url", "summary"]
            for name in re.findall(r"\bmaestro:[a-z0-9_:]+", r["expr"]):
                assert name in recorded, (env, r["alert"], name)


@pytest.mark.parametrize(
    ("model", "kind"),
    [("image-classifier", "trainjob"), ("fraud-detector", "trainjob"), ("recsys-ranker", "tfjob")],
)
def test_training_alert_sees_the_operator_job(model: str, kind: str) -> None:
    _, ctx = effective(model)
    [alert] = [r for r in rules(rule_of(model)) if r.get("alert") == "MaestroTrainingFailed"]
    selector = f'kube_{kind}_status_condition{{model="{model}",namespace="{ctx.namespace}",type="Failed"}}'
    assert selector in alert["expr"]
    assert "{{ $labels.kind }}" in alert["annotations"]["description"]


def test_training_alert_of_a_batch_model_reads_jobs_only() -> None:
    [alert] = [r for r in rules(rule_of("demand-forecaster")) if r.get("alert") == "MaestroTrainingFailed"]
    assert "kube_job_failed" in alert["expr"] and "status_condition" not in alert["expr"]


def test_training_state_metrics_config() -> None:
    ws = example_workspace()
    config = monitoring.training_state_metrics(ws.platform, ["TrainJob", "TFJob", "TrainJob"])
    assert config["kind"] == "CustomResourceStateMetrics"
    resources = config["spec"]["resources"]
    assert [r["groupVersionKind"] for r in resources] == [
        {"group": "kubeflow.org", "version": "v1", "kind": "TFJob"},
        {"group": "trainer.kubeflow.org", "version": "v1alpha1", "kind": "TrainJob"},
    ]
    for r in resources:
        assert r["metricNamePrefix"] == ""
        assert r["labelsFromPath"] == {
            "namespace": ["metadata", "namespace"],
            "job_name": ["metadata", "name"],
            "model": ["metadata", "labels", "app.kubernetes.io/name"],
        }
        [metric] = r["metrics"]
        assert metric["name"] == f"kube_{r['groupVersionKind']['kind'].lower()}_status_condition"
        assert metric["each"] == {
            "type": "Gauge",
            "gauge": {"path": ["status", "conditions"], "labelsFromPath": {"type": ["type"]}, "valueFrom": ["status"]},
        }


def test_batch_model_gets_training_and_drift_alerts_only() -> None:
    names = [r.get("alert") or r.get("record") for r in rules(rule_of("demand-forecaster"))]
    assert names == [
        "maestro:model_feature_drift_score:max",
        "MaestroTrainingFailed",
        "MaestroFeatureDrift",
        "MaestroDriftJobFailed",
    ]


# ------------------------------------------------------------------ dashboards


@pytest.mark.parametrize("model", MODELS)
def test_dashboard_panels_show_exactly_what_rules_evaluate(model: str) -> None:
    for env in ("staging", "prod"):
        board = dashboard(model, env)
        rule_exprs = {r["expr"] for r in rules(rule_of(model, env))}
        exprs = panel_exprs(board)
        assert exprs and set(exprs) <= rule_exprs, (env, set(exprs) - rule_exprs)
        assert board["title"] == f"{model} ({env})"
        assert all(p["targets"] and p["title"] for p in board["panels"])
        assert len({p["id"] for p in board["panels"]}) == len(board["panels"])


def test_fraud_detector_dashboard() -> None:
    board = dashboard("fraud-detector")
    assert board["uid"] == "maestro-fraud-detector-prod"
    assert [p["title"] for p in board["panels"]] == [
        "Request rate",
        "Error ratio",
        "Latency",
        "Error budget remaining",
        "Feature drift",
        "Replicas",
        "Error logs",
        "Logs",
        "Traces",
    ]
    latency = board["panels"][2]
    assert [t["legendFormat"] for t in latency["targets"]] == ["p50", "p90", "p99"]
    assert latency["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] == 60
    by_record = {r["record"]: r["expr"] for r in rules(rule_of("fraud-detector")) if "record" in r}
    assert latency["targets"][2]["expr"] == by_record["maestro:model_latency_p99_ms:rate5m"]
    assert board["panels"][3]["targets"][0]["expr"] == by_record["maestro:model_error_budget_remaining:rate30d"]
    assert board["panels"][4]["targets"][0]["expr"] == by_record["maestro:model_feature_drift_score:max"]


def test_dashboard_uid_is_stable_and_fits_grafana() -> None:
    assert dashboard("sentiment-bert", "staging")["uid"] == "maestro-sentiment-bert-staging"
    long = monitoring.dashboard_uid("a" * 47, "staging")
    assert len(long) == 40 and long == monitoring.dashboard_uid("a" * 47, "staging")
    assert long != monitoring.dashboard_uid("a" * 47, "prod")
    assert len({monitoring.dashboard_uid(m, e) for m in MODELS for e in ENVS}) == len(MODELS) * len(ENVS)


def test_dashboard_config_map_is_labelled_and_emitted_as_a_file() -> None:
    objs = list(rendered("fraud-detector").values())
    cm = next(o for o in objs if o["kind"] == "ConfigMap")
    assert cm["metadata"]["labels"] == {"grafana_dashboard": "1"}
    assert cm["metadata"]["annotations"] == {"maestro.ml/artifact-dir": "grafana"}
    text = cm["data"]["fraud-detector.json"]
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"
    tree = Tree()
    folder(tree, "prod/fraud-detector", objs)
    assert tree.diagnostics == []
    assert tree.files["prod/fraud-detector/grafana/fraud-detector.json"] == text.encode()
    assert "prod/fraud-detector/configmap-fraud-detector-dashboard.yaml" in tree.files


def test_dashboard_off_means_no_config_map() -> None:
    spec, ctx = effective("recsys-ranker", "dev")
    m = spec.spec.monitoring.model_copy(update={"dashboard": False})  # type: ignore[union-attr]
    spec = spec.model_copy(update={"spec": spec.spec.model_copy(update={"monitoring": m})})
    assert [o["kind"] for o in monitoring.render(spec, ctx)] == [
        "PodMonitor",
        "PrometheusRule",
        "CronJob",
        "Instrumentation",
    ]


# ------------------------------------------------------------------ drift


def test_drift_cronjob() -> None:
    _spec, ctx = effective("churn-predictor")
    cron = rendered("churn-predictor")["CronJob/churn-predictor-drift"]["spec"]
    assert cron["schedule"] == "15 */6 * * *" and cron["concurrencyPolicy"] == "Forbid"
    pod = cron["jobTemplate"]["spec"]["template"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "monitoring"
    assert pod["metadata"]["labels"]["maestro.ml/model"] == "churn-predictor"
    assert pod["spec"]["serviceAccountName"] == "churn-predictor"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    [container] = pod["spec"]["containers"]
    assert container["image"] == ctx.platform.images.drift
    assert container["args"] == [
        "--method",
        "wasserstein",
        "--threshold",
        "0.15",
        "--features",
        "sessions_30d,minutes_30d",
        "--model",
        "churn-predictor",
        "--env",
        "prod",
    ]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["PUSHGATEWAY_URL"] == ctx.platform.monitoring.pushgateway
    assert env["DRIFT_METRIC"] == ctx.platform.monitoring.metrics.drift_score
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


# ------------------------------------------------------------------ tracing


def test_tracing_env() -> None:
    spec, ctx = effective("fraud-detector")
    names = [
        {"name": "OTEL_SERVICE_NAME", "value": "fraud-detector"},
        {
            "name": "OTEL_RESOURCE_ATTRIBUTES",
            "value": "deployment.environment=prod,model=fraud-detector,team=payments-risk",
        },
    ]
    # auto-instrumented: exporter and sampler come from the Instrumentation (tests/test_logs_traces.py)
    assert pod.tracing_env(spec, ctx) == names
    assert spec.spec.monitoring is not None and spec.spec.monitoring.tracing is not None
    tracing = spec.spec.monitoring.tracing.model_copy(update={"auto_instrument": False})
    manual = spec.model_copy(
        update={
            "spec": spec.spec.model_copy(
                update={"monitoring": spec.spec.monitoring.model_copy(update={"tracing": tracing})}
            )
        }
    )
    assert pod.tracing_env(manual, ctx) == [
        {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel-collector.observability.svc:4317"},
        *names,
        {"name": "OTEL_TRACES_SAMPLER", "value": "parentbased_traceidratio"},
        {"name": "OTEL_TRACES_SAMPLER_ARG", "value": "0.1"},
    ]
    [inst] = [o for o in monitoring.render(*effective("sentiment-bert", "dev")) if o["kind"] == "Instrumentation"]
    assert inst["spec"]["sampler"]["argument"] == "1"  # the dev override


def test_no_tracing_env_without_tracing_or_endpoint() -> None:
    assert pod.tracing_env(*effective("churn-predictor")) == []  # no tracing section
    spec, ctx = effective("fraud-detector")
    env = ctx.environment
    no_otel = env.model_copy(update={"endpoints": env.endpoints.model_copy(update={"otel": None})})
    platform = ctx.platform.model_copy(update={"environments": {**ctx.platform.environments, "prod": no_otel}})
    ctx = Context(env="prod", platform=platform, namespace=ctx.namespace, source=ctx.source, sync=ctx.sync)
    assert pod.tracing_env(spec, ctx) == []


# ------------------------------------------------------------------ promtool


def write_rules(rule: dict[str, Any], path: Path) -> Path:
    """A PrometheusRule's groups as a plain rules file (promtool rejects the object itself)."""
    path.write_text(dump(rule["spec"]), encoding="utf-8")
    return path


def test_promtool_check_rules(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    files = [str(write_rules(rule_of(m, e), tmp_path / f"{m}-{e}.yaml")) for m in MODELS for e in ENVS]
    result = subprocess.run([promtool, "check", "rules", *files], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')


def _matchers(text: str) -> list[tuple[str, str, str]]:
    """`a="x",b=~"y"` -> [(a, =, x), (b, =~, y)]; the whole text must be matchers."""
    out, pos = [], 0
    while pos < len(text):
        m = _MATCHER.match(text, pos)
        assert m is not None and m.end() > pos, f"cannot read matchers in {text!r} at {pos}"
        out.append((m[1], m[2], m[3]))
        pos = m.end()
    return out


def _series(metric: str, labels: dict[str, str]) -> str:
    return metric + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


class Scenario:
    """Synthetic series for one model's serving traffic, from the config's matchers."""

    STEP = 30  # seconds between samples and between rule evaluations

    def __init__(self, model: str, env: str) -> None:
        spec, ctx = effective(model, env)
        self.spec, self.ctx, self.m = spec, ctx, ctx.platform.monitoring.metrics
        workload = servers.callers_see(spec, ctx, model)
        self.labels = {}
        for name, op, value in _matchers(workload):
            assert op == "=", f"synthetic series need equality matchers, got {name}{op}{value!r}"
            self.labels[name] = value
        [(name, op, regex)] = _matchers(self.m.error_matcher)
        assert op == "=~", "synthetic errors need a regex error matcher"
        candidates = ["500", "503", "error", "true", "200", "0", "ok", "false"]
        self.error = {name: next(c for c in candidates if re.fullmatch(regex, c))}
        self.ok = {name: next(c for c in candidates if not re.fullmatch(regex, c))}

    def requests(self, phases: list[tuple[int, float]], per_step: float = 1000.0) -> list[dict[str, str]]:
        """Counters of ok and failed requests: phases of (seconds, error ratio)."""
        ok, err, ok_values, err_values = 0.0, 0.0, ["0"], ["0"]
        for seconds, ratio in phases:
            for _ in range(seconds // self.STEP):
                ok += per_step * (1 - ratio)
                err += per_step * ratio
                ok_values.append(f"{ok:.6g}")
                err_values.append(f"{err:.6g}")
        total = self.m.requests_total
        return [
            {"series": _series(total, {**self.labels, **self.ok}), "values": " ".join(ok_values)},
            {"series": _series(total, {**self.labels, **self.error}), "values": " ".join(err_values)},
        ]

    def latency(self, ms: float, threshold_ms: float, seconds: int) -> list[dict[str, str]]:
        """A histogram where every request took `ms`, with buckets 10% either side of the threshold."""
        bounds = [threshold_ms / 2, threshold_ms * 0.9, threshold_ms, threshold_ms * 1.1, threshold_ms * 2]
        steps = seconds // self.STEP
        out = []
        for le in [*bounds, None]:
            inside = le is None or ms <= le
            le_text = "+Inf" if le is None else f"{le / self.m.duration_to_ms:g}"
            values = f"0+{100 if inside else 0}x{steps}"
            out.append(
                {"series": _series(self.m.request_duration_bucket, {**self.labels, "le": le_text}), "values": values}
            )
        return out


def _expected(rule: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    all_labels = {**labels, **rule["labels"]}

    def expand(text: str) -> str:
        return re.sub(r"\{\{ \$labels\.([a-z_]+) \}\}", lambda m: all_labels[m[1]], text)

    return {"exp_labels": all_labels, "exp_annotations": {k: expand(v) for k, v in rule["annotations"].items()}}


def _window_fraction(bursts: list[tuple[int, int]], t: int, window: int) -> float:
    """Share of the window (t - window, t] spent in 100%-error bursts (data starts at 0)."""
    start = max(0, t - window)
    inside = sum(max(0, min(t, b) - max(start, a)) for a, b in bursts)
    return inside / (t - start)


def promtool_tests(model: str, env: str) -> dict[str, Any]:
    """promtool unit tests for the model's rendered rules."""
    sc = Scenario(model, env)
    spec, ctx = sc.spec, sc.ctx
    rule = rule_of(model, env)
    by_alert: dict[str, list[dict[str, Any]]] = {}
    for r in rules(rule):
        if "alert" in r:
            by_alert.setdefault(r["alert"], []).append(r)
    series_labels = {"model": model, "namespace": ctx.namespace}
    tests: list[dict[str, Any]] = []
    slo = spec.spec.monitoring.slo if spec.spec.monitoring else None

    if slo is not None:
        budget = monitoring.error_budget(slo.availability)
        pairs = list(zip(monitoring.burn_rates(spec, ctx), by_alert["MaestroErrorBudgetBurn"]))

        def burning(ratio: float) -> list[dict[str, Any]]:
            return [_expected(r, series_labels) for b, r in pairs if ratio > b.rate * budget]

        # Each pair fires just above its burn rate and stays quiet just below it.
        for b, _ in pairs:
            for factor in (1.1, 0.9):
                ratio = factor * b.rate * budget
                tests.append(
                    {
                        "name": f"error ratio {factor} x {b.rate:g} x budget",
                        "interval": f"{Scenario.STEP}s",
                        "input_series": sc.requests([(20 * 60, ratio)]),
                        "alert_rule_test": [
                            {"eval_time": "10m", "alertname": "MaestroErrorBudgetBurn", "exp_alerts": burning(ratio)}
                        ],
                    }
                )
        # Half the budget: nothing fires, half the budget remains.
        panel = ctx.platform.monitoring.panel_window
        tests.append(
            {
                "name": "half the error budget",
                "interval": f"{Scenario.STEP}s",
                "input_series": sc.requests([(20 * 60, budget / 2)]),
                "alert_rule_test": [{"eval_time": "10m", "alertname": "MaestroErrorBudgetBurn", "exp_alerts": []}],
                # promtool compares floats exactly: compare millionths
                "promql_expr_test": [
                    {
                        "expr": f"round(maestro:model_error_budget_remaining:rate{slo.window} * 1e6)",
                        "eval_time": "10m",
                        "exp_samples": [{"labels": _series("", series_labels), "value": 500000}],
                    },
                    {
                        "expr": f"round(maestro:model_error_ratio:rate{panel} / {budget} * 1e6)",
                        "eval_time": "10m",
                        "exp_samples": [{"labels": _series("", series_labels), "value": 500000}],
                    },
                ],
            }
        )
        # A service that never failed has no error series at all: its error ratio is 0, not
        # missing, and the whole budget remains.
        tests.append(
            {
                "name": "no error ever",
                "interval": f"{Scenario.STEP}s",
                "input_series": sc.requests([(20 * 60, 0.0)])[:1],
                "alert_rule_test": [{"eval_time": "10m", "alertname": "MaestroErrorBudgetBurn", "exp_alerts": []}],
                "promql_expr_test": [
                    {
                        "expr": f"round(maestro:model_error_budget_remaining:rate{slo.window} * 1e6)",
                        "eval_time": "10m",
                        "exp_samples": [{"labels": _series("", series_labels), "value": 1000000}],
                    },
                    {
                        "expr": f"maestro:model_error_ratio:rate{panel}",
                        "eval_time": "10m",
                        "exp_samples": [
                            {"labels": _series(f"maestro:model_error_ratio:rate{panel}", series_labels), "value": 0}
                        ],
                    },
                ],
            }
        )
        # Clean traffic, then a total outage as long as the fastest pair's long window, then
        # recovery. At 100% errors the fast pair needs rate x budget x long window (the
        # workbook's detection time) to fire: it has fired by three times that; once its short
        # window is clean again it clears, although its long window still shows the outage.
        fast = min(pairs, key=lambda p: parse_duration(p[0].long))[0]
        clean, outage = parse_duration(fast.long), parse_duration(fast.long)
        detection = fast.rate * budget * parse_duration(fast.long)
        detected = clean + max(2 * Scenario.STEP, -(-3 * detection // Scenario.STEP) * Scenario.STEP)
        recovered = clean + outage + parse_duration(fast.short) + 120
        bursts = [(clean, clean + outage)]
        checks = []
        for t in (int(detected), recovered):
            expected = []
            for b, r in pairs:
                limit = b.rate * budget
                fractions = [_window_fraction(bursts, t, parse_duration(w)) for w in (b.long, b.short)]
                # the scenario must not sit near a threshold, where sampling decides
                assert all(f > 1.5 * limit or f < limit / 1.5 for f in fractions), (model, b, t, fractions)
                if all(f > limit for f in fractions):
                    expected.append(_expected(r, series_labels))
            checks.append(
                {"eval_time": format_duration(t), "alertname": "MaestroErrorBudgetBurn", "exp_alerts": expected}
            )
        assert any(e["exp_labels"]["long_window"] == fast.long for e in checks[0]["exp_alerts"])
        assert all(e["exp_labels"]["long_window"] != fast.long for e in checks[1]["exp_alerts"])
        assert _window_fraction(bursts, recovered, parse_duration(fast.long)) > fast.rate * budget
        tests.append(
            {
                "name": "outage and recovery",
                "interval": f"{Scenario.STEP}s",
                "input_series": sc.requests([(clean, 0.0), (outage, 1.0), (recovered - clean - outage + 60, 0.0)]),
                "alert_rule_test": checks,
            }
        )

    if slo is not None and slo.latency_p99_ms is not None:
        [latency_rule] = by_alert["MaestroLatencyHigh"]
        limit = slo.latency_p99_ms
        after = parse_duration(latency_rule["for"]) + parse_duration(ctx.platform.monitoring.panel_window) + 120
        for ms, fires in ((limit * 1.05, True), (limit * 0.85, False)):
            tests.append(
                {
                    "name": f"every request takes {ms:g} ms (p99 SLO {limit} ms)",
                    "interval": f"{Scenario.STEP}s",
                    "input_series": sc.latency(ms, limit, after + 300),
                    "alert_rule_test": [
                        # pending, not firing, until `for` has passed
                        {
                            "eval_time": format_duration(parse_duration(latency_rule["for"]) // 2),
                            "alertname": "MaestroLatencyHigh",
                            "exp_alerts": [],
                        },
                        {
                            "eval_time": format_duration(after),
                            "alertname": "MaestroLatencyHigh",
                            "exp_alerts": [_expected(latency_rule, series_labels)] if fires else [],
                        },
                    ],
                }
            )

    drift = spec.spec.monitoring.drift if spec.spec.monitoring else None
    if drift is not None:
        [drift_rule] = by_alert["MaestroFeatureDrift"]
        after = parse_duration(drift_rule["for"]) + 300
        steps = (after + 300) // Scenario.STEP
        other_env = {
            "series": _series(sc.m.drift_score, {"model": model, "env": "elsewhere", "feature": drift.features[-1]}),
            "values": f"{drift.threshold * 10:g}x{steps}",
        }
        # The first feature drifts (20% above the threshold), the others stay 20% below; then
        # all stay below.
        for drifting in (True, False):
            scores = {f: drift.threshold * (1.2 if drifting and i == 0 else 0.8) for i, f in enumerate(drift.features)}
            pushed = [
                {
                    "series": _series(
                        sc.m.drift_score,
                        {"model": model, "env": env, "feature": f, "job": "maestro-drift", "instance": ""},
                    ),
                    "values": f"{score:g}x{steps}",
                }
                for f, score in scores.items()
            ]
            firing = [_expected(drift_rule, {**series_labels, "feature": drift.features[0]})] if drifting else []
            tests.append(
                {
                    "name": f"feature drift {'above' if drifting else 'below'} the threshold",
                    "interval": f"{Scenario.STEP}s",
                    "input_series": pushed + [other_env],
                    "alert_rule_test": [
                        {
                            "eval_time": format_duration(parse_duration(drift_rule["for"]) // 2),
                            "alertname": "MaestroFeatureDrift",
                            "exp_alerts": [],
                        },
                        {"eval_time": format_duration(after), "alertname": "MaestroFeatureDrift", "exp_alerts": firing},
                    ],
                }
            )

    failed_jobs = []
    if "MaestroTrainingFailed" in by_alert:
        failed_jobs.append(("MaestroTrainingFailed", f"{model}-train-29000000"))
    if "MaestroTuningFailed" in by_alert:
        failed_jobs.append(("MaestroTuningFailed", f"{model}-tuning"))
    if "MaestroDriftJobFailed" in by_alert:
        failed_jobs.append(("MaestroDriftJobFailed", f"{model}-drift-29000060"))
    if failed_jobs:

        def job(name: str, condition: str, value: int) -> dict[str, str]:
            labels = {"namespace": ctx.namespace, "job_name": name, "condition": condition}
            return {"series": _series(sc.m.job_failed, labels), "values": f"{value}x20"}

        series = [job(name, "true", 1) for _, name in failed_jobs] + [
            job(f"{model}-train", "false", 1),  # a Job that has not failed
            job(f"{model}-training-report-1", "true", 1),  # another workload's Job
            job(f"{model}x-train-1", "true", 1),
        ]

        def labels_of(alert: str, name: str) -> dict[str, str]:
            return {"job_name": name, "kind": "Job"} if alert == "MaestroTrainingFailed" else {"job_name": name}

        checks = [
            {
                "eval_time": "2m",
                "alertname": alert,
                "exp_alerts": [_expected(by_alert[alert][0], labels_of(alert, name))],
            }
            for alert, name in failed_jobs
        ]
        tests.append({"name": "failed jobs", "interval": "1m", "input_series": series, "alert_rule_test": checks})

    operator = training.operator_for(spec, ctx) if spec.spec.training is not None else None
    if operator is not None:
        # What kube-state-metrics exports, with the config Maestro writes, for the model's
        # run (failed) and for another model's and a completed run of the same kind.
        state = monitoring.training_state_metrics(ctx.platform, [operator.kind])
        failed = ksm_series(state, run_object(operator.kind, f"{model}-train", ctx.namespace, model, "Failed"))
        others = ksm_series(state, run_object(operator.kind, "other-train", ctx.namespace, "other", "Failed"))
        done = ksm_series(state, run_object(operator.kind, f"{model}-train-x1", ctx.namespace, model, "Complete"))
        [rule] = by_alert["MaestroTrainingFailed"]
        tests.append(
            {
                "name": f"failed {operator.kind}",
                "interval": "1m",
                "input_series": [{"series": s, "values": f"{v}x20"} for s, v in failed + others + done],
                "alert_rule_test": [
                    {
                        "eval_time": "2m",
                        "alertname": "MaestroTrainingFailed",
                        "exp_alerts": [_expected(rule, {"job_name": f"{model}-train", "kind": operator.kind})],
                    }
                ],
            }
        )

    return {"rule_files": ["rules.yaml"], "evaluation_interval": f"{Scenario.STEP}s", "tests": tests}


def run_object(kind: str, name: str, namespace: str, model: str, failed_or_complete: str) -> dict[str, Any]:
    """A finished run as the operators leave it: the last condition True, earlier ones False."""
    conditions = {"TrainJob": ["Suspended", "Complete", "Failed"]}.get(
        kind, ["Created", "Running", "Succeeded", "Failed"]
    )
    final = failed_or_complete if kind == "TrainJob" or failed_or_complete == "Failed" else "Succeeded"
    group, version = monitoring.OPERATOR_KINDS[kind]
    return {
        "apiVersion": f"{group}/{version}",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/name": model}},
        "status": {"conditions": [{"type": c, "status": "True" if c == final else "False"} for c in conditions]},
    }


def ksm_series(config: dict[str, Any], obj: dict[str, Any]) -> list[tuple[str, int]]:
    """The series kube-state-metrics exports for `obj` under a custom resource state config,
    for the one shape Maestro writes (a Gauge over a list, labels from paths, value from a
    path), following docs/metrics/extend/customresourcestate-metrics.md: the common labels
    customresource_group/_kind/_version, the resource's labelsFromPath, then the gauge's,
    relative to each list element; "True"/"False" count as 1/0; the name is
    metricNamePrefix + "_" + name, or the name alone with an empty prefix."""

    def at(node: Any, path: list[str]) -> Any:
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    group, _, version = obj["apiVersion"].rpartition("/")
    out = []
    for resource in config["spec"]["resources"]:
        if resource["groupVersionKind"] != {"group": group, "version": version, "kind": obj["kind"]}:
            continue
        common = {"customresource_group": group, "customresource_kind": obj["kind"], "customresource_version": version}
        common.update({label: at(obj, path) for label, path in resource["labelsFromPath"].items()})
        for metric in resource["metrics"]:
            gauge = metric["each"]["gauge"]
            prefix = resource["metricNamePrefix"]
            name = f"{prefix}_{metric['name']}" if prefix else metric["name"]
            for element in at(obj, gauge["path"]) or []:
                labels = {**common, **{label: at(element, path) for label, path in gauge["labelsFromPath"].items()}}
                value = {"true": 1, "false": 0}[str(at(element, gauge["valueFrom"])).lower()]
                out.append((_series(name, labels), value))
    return out


@pytest.mark.parametrize(
    ("model", "env"),
    [
        ("fraud-detector", "prod"),  # KServe, 99.9% over 30d, latency SLO, drift, training
        ("image-classifier", "prod"),  # 28d window
        ("sentiment-bert", "prod"),  # 7d window
        ("churn-predictor", "prod"),  # deployment runtime, 99%, two drift features
        ("demand-forecaster", "prod"),  # batch: training and drift only
        ("recsys-ranker", "prod"),  # TFJob from the launcher CronJob
    ],
)
def test_promtool_unit_tests(model: str, env: str, tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    write_rules(rule_of(model, env), tmp_path / "rules.yaml")
    tests = promtool_tests(model, env)
    assert tests["tests"]
    (tmp_path / "tests.yaml").write_text(dump(tests), encoding="utf-8")
    result = subprocess.run(
        [promtool, "test", "rules", "tests.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_without_sidecars_the_model_servers_own_port_is_scraped() -> None:
    """Under ambient (or no) mesh there is no injected sidecar and no merged endpoint: the pods
    get no injection label and Prometheus scrapes the runtime's metrics port, which the model
    container declares (torchserve: 8082) and the NetworkPolicy opens."""
    spec, ctx = effective("image-classifier")
    mesh = ctx.platform.mesh.model_copy(update={"mode": "ambient"})
    ctx = Context(
        env=ctx.env,
        platform=ctx.platform.model_copy(update={"mesh": mesh}),
        namespace=ctx.namespace,
        source=ctx.source,
        sync=ctx.sync,
    )
    [endpoint] = monitoring.render(spec, ctx)[0]["spec"]["podMetricsEndpoints"]
    assert (endpoint["portNumber"], endpoint["path"]) == (8082, "/metrics")
    assert "metricRelabelings" not in endpoint
    isvc = next(o for o in serving.render(spec, ctx) if o["kind"] == "InferenceService")
    assert "sidecar.istio.io/inject" not in isvc["spec"]["predictor"]["labels"]
    assert {"name": "metrics", "containerPort": 8082, "protocol": "TCP"} in isvc["spec"]["predictor"]["model"]["ports"]
    allow = next(o for o in security.render(spec, ctx) if o["metadata"]["name"] == "image-classifier-allow")
    assert allow["spec"]["ingress"][1]["ports"] == [{"protocol": "TCP", "port": 8082}]
