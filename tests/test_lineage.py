"""maestro/lineage.py: dataset -> feature view -> training -> model version -> endpoint.

Consumers: openlineage-python builds the events (its own types and their validators), and
every event and facet is validated against the OpenLineage specification's JSON Schemas
(2-0-2, vendored in tests/data/openlineage with their NOTICE). The runtime side: training
and tuning pods carry the transport and the very namespace and job names the graph uses.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
from pathlib import Path
from typing import Any

import pytest

from conftest import MODELS, ROOT, example, example_workspace
from maestro import lineage
from maestro.pipeline import render_model
from maestro.render.decorate import pod_templates

OL_SCHEMAS = ROOT / "tests" / "data" / "openlineage"
EVENT_TIME = "2026-12-01T00:00:00+00:00"


def graph(envs: tuple[str, ...] = ("prod",), versions: dict[tuple[str, str], int] | None = None) -> lineage.Graph:
    pairs = [(env, example(m, env)[0]) for m in MODELS for env in envs]
    return lineage.build(pairs, example_workspace().platforms, versions)


def by_label(g: lineage.Graph, label: str) -> lineage.Node:
    [node] = [n for n in g.nodes.values() if n.label == label]
    return node


def test_fraud_detector_chain_with_the_locked_version() -> None:
    g = graph(versions={("prod", "fraud-detector"): 14})
    source = by_label(g, "s3://lake/card_txn.parquet")
    view = by_label(g, "card_txn_7d")
    train = by_label(g, "fraud-detector training")
    model = by_label(g, "fraud-detector v14")
    endpoint = by_label(g, "fraud-detector endpoint")
    chain = [source, view, train, model, endpoint]
    assert [n.kind for n in chain] == ["dataset", "feature_view", "training", "model", "endpoint"]
    for a, b in itertools.pairwise(chain):
        assert (a.id, b.id) in g.edges
    assert (view.id, endpoint.id) in g.edges  # the endpoint reads the online view
    assert (source.namespace, source.name) == ("s3://lake", "card_txn.parquet")
    assert (train.namespace, train.name) == ("payments-risk-prod", "fraud-detector.train")
    assert (model.namespace, model.name) == ("http://mlflow.mlflow.svc:5000", "fraud-detector/14")


def test_without_a_lock_the_model_is_the_served_alias() -> None:
    assert by_label(graph(), "fraud-detector @champion").name == "fraud-detector@champion"


def test_a_model_trained_elsewhere_links_model_to_endpoint_only() -> None:
    g = graph()
    endpoint = by_label(g, "sentiment-bert endpoint")
    assert [g.nodes[a].kind for a, b in g.edges if b == endpoint.id] == ["model"]


def test_graph_and_formats_are_deterministic() -> None:
    g1, g2 = graph(("dev", "prod")), graph(("prod", "dev"))
    for fmt in lineage.FORMATTERS.values():
        assert fmt(g1) == fmt(g2)
    text = lineage.format_mermaid(g1)
    assert text.startswith("flowchart LR\n  subgraph dev\n") and "  subgraph prod\n" in text
    data = json.loads(lineage.format_json(g1))
    assert {n["kind"] for n in data["nodes"]} == set(lineage.KINDS)
    assert lineage.format_dot(g1).startswith("digraph lineage {")


def test_training_tuning_and_pipeline_pods_report_under_the_graphs_names() -> None:
    """churn-predictor trains in its Airflow pipeline: the DAG's train task carries the env too."""
    import ast

    spec, _ = example("churn-predictor")
    objects, _ = render_model(example_workspace(), "prod", spec, "specs/churn-predictor/maestro.yaml")
    pods = [p for obj in objects for p in pod_templates(obj) if p.component == "tuning"]
    [dag] = [o for o in objects if o["metadata"]["name"] == "churn-predictor-airflow-dag"]
    for node in ast.walk(ast.parse(dag["data"]["churn-predictor.py"])):
        if isinstance(node, ast.Call) and any(
            k.arg == "task_id" and ast.literal_eval(k.value) == "train" for k in node.keywords
        ):
            [template] = [ast.literal_eval(k.value) for k in node.keywords if k.arg == "pod_template_dict"]
            pods += list(pod_templates(template))
    seen = {}
    for pod in pods:
        for c in pod.containers:
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            seen[pod.component] = (env["OPENLINEAGE_NAMESPACE"], env["OPENLINEAGE_JOB_NAME"])
            assert env["OPENLINEAGE__TRANSPORT__TYPE"] == "http"
            assert env["OPENLINEAGE__TRANSPORT__URL"] == "http://marquez.lineage.svc:5000"
    train = by_label(graph(), "churn-predictor training")
    assert seen["training"] == (train.namespace, train.name) == ("growth-prod", "churn-predictor.train")
    assert seen["tuning"] == ("growth-prod", "churn-predictor.tune")


# ------------------------------------------------------------------ OpenLineage


def require_openlineage() -> None:
    if importlib.util.find_spec("openlineage") is None:
        message = "openlineage-python is not installed (pip install -e '.[lineage]'; see .ci/run)"
        if os.environ.get("MAESTRO_REQUIRE_TOOLS") == "1":
            pytest.fail(message + "; MAESTRO_REQUIRE_TOOLS=1 makes this a failure")
        pytest.skip(message)


def validators() -> tuple[Any, dict[str, Any]]:
    """The core schema's validator, and one per facet schema by its $id."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    def load(path: Path) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    core = load(OL_SCHEMAS / "OpenLineage.json")
    facets = {p.name: load(p) for p in sorted((OL_SCHEMAS / "facets").glob("*.json"))}
    registry = Registry().with_resources([(s["$id"], Resource.from_contents(s)) for s in [core, *facets.values()]])
    return Draft202012Validator(core, registry=registry), {s["$id"]: (s, registry) for s in facets.values()}


def test_openlineage_events_are_valid_per_the_spec() -> None:
    require_openlineage()
    from jsonschema import Draft202012Validator

    core, facet_schemas = validators()
    lines = lineage.format_openlineage(graph(("dev", "prod"), {("prod", "fraud-detector"): 14}), EVENT_TIME)
    events = [json.loads(line) for line in lines.splitlines()]
    kinds = {e["schemaURL"].rsplit("/", 1)[-1] for e in events}
    assert kinds == {"DatasetEvent", "JobEvent"}
    checked_facets = 0
    for event in events:
        errors = sorted(core.iter_errors(event), key=lambda e: e.path)
        assert not errors, (event, errors[0].message)
        facets = [
            *(event.get("dataset", {}).get("facets", {}).values()),
            *(event.get("job", {}).get("facets", {}).values()),
        ]
        for facet in facets:
            url, _, pointer = facet["_schemaURL"].partition("#")
            _, registry = facet_schemas[url]
            sub = Draft202012Validator({"$ref": f"{url}#{pointer}"}, registry=registry)
            assert not list(sub.iter_errors(facet)), facet
            checked_facets += 1
    assert checked_facets > len(events)
    # the training job's static event: inputs are the views, output the locked version
    [train] = [
        e
        for e in events
        if e.get("job", {}).get("name") == "fraud-detector.train" and e["job"]["namespace"] == "payments-risk-prod"
    ]
    assert [(d["namespace"], d["name"]) for d in train["inputs"]] == [
        ("payments-risk-prod", "fraud_detector.card_txn_7d")
    ]
    assert [(d["namespace"], d["name"]) for d in train["outputs"]] == [
        ("http://mlflow.mlflow.svc:5000", "fraud-detector/14")
    ]
    assert train["eventTime"] == EVENT_TIME


def test_openlineage_refuses_what_the_spec_forbids() -> None:
    """The validator is not a rubber stamp: an event without a producer fails."""
    require_openlineage()
    core, _ = validators()
    event = json.loads(lineage.format_openlineage(graph(), EVENT_TIME).splitlines()[0])
    del event["producer"]
    assert list(core.iter_errors(event))


def test_lineage_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from maestro.cli import main

    assert main(["--root", str(ROOT), "lineage", "--env", "dev", "--model", "fraud-detector"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart LR\n  subgraph dev\n") and '"fraud-detector @champion"' in out
    assert main(["--root", str(ROOT), "lineage", "--format", "dot"]) == 0
    assert capsys.readouterr().out.startswith("digraph lineage {")
    assert main(["--root", str(ROOT), "lineage", "--format", "json", "--model", "nobody"]) == 2
    if importlib.util.find_spec("openlineage") is not None:
        monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764547200")
        assert main(["--root", str(ROOT), "lineage", "--format", "openlineage", "--env", "dev"]) == 0
        first = json.loads(capsys.readouterr().out.splitlines()[0])
        assert first["eventTime"] == "2025-12-01T00:00:00+00:00"


def test_versions_come_from_the_committed_lock(capsys: pytest.CaptureFixture[str]) -> None:
    """The version is the lock's (as the pipeline loads and validates it), per environment:
    prod is locked in the examples, dev is not (its node names the alias)."""
    from maestro.cli import main
    from maestro.frontend.loader import load

    located, _ = load(ROOT / "specs" / "fraud-detector" / "maestro.lock.yaml", "lock")
    assert located is not None
    version = located.data["environments"]["prod"]["serve"]["version"]
    assert main(["--root", str(ROOT), "lineage", "--model", "fraud-detector", "--format", "json"]) == 0
    labels = {n["label"] for n in json.loads(capsys.readouterr().out)["nodes"] if n["kind"] == "model"}
    assert f"fraud-detector v{version}" in labels
    assert "fraud-detector @champion" in labels
