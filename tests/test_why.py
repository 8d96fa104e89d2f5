"""Field provenance (`maestro why FILE FIELD`): recorded while the renderers build the objects.

- Recording changes nothing: every model in every environment renders the same objects with
  and without it.
- Every leaf of one object of each kind (across the shipped models and environments) gets an
  origin, and that origin resolves to a place that exists: a line of a repository file that
  holds the value, a renderer function's line, the environment, or a schema default.
- The answers name the right layer for the cases that matter (an environment override over
  the spec over an overlay default, the lock, an overlay patch, commonLabels, the namespace,
  the platform config, a renderer), and bad input exits 2 listing the choices.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT
from maestro.cli import main
from maestro.commands.why import field_pointer
from maestro.pipeline import Checked, check_specs, lock_entry, render_model, trace_model
from maestro.provenance.explain import Sources, explain
from maestro.provenance.record import Input, Rule, TStr, leaves, traced
from maestro.resolve.merge import get
from maestro.resolve.workspace import Workspace, discover, open_workspace
from maestro.serialize import dump

FILE = "rendered/prod/fraud-detector/inferenceservice-fraud-detector.yaml"


@pytest.fixture(scope="module")
def shipped() -> tuple[Workspace, list[Checked]]:
    ws, _ = open_workspace(ROOT)
    assert ws is not None
    paths = [(p, p.relative_to(ROOT).as_posix()) for p in discover(ROOT)]
    return ws, check_specs(ws, paths, ws.environments).checked


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["--root", str(ROOT), *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_recording_changes_no_rendered_object(shipped: tuple[Workspace, list[Checked]]) -> None:
    ws, checked = shipped
    for c in checked:
        assert c.spec is not None
        for env in ws.environments:
            source = f"specs/{c.spec.metadata.name}/maestro.yaml"
            plain, _ = render_model(ws, env, c.effective[env], source, lock_entry(c, env))
            trace = trace_model(ws, env, c)
            assert [dump(o) for o in trace.objects] == [dump(o) for o in plain], (c.spec.metadata.name, env)
            assert len(trace.origins) == len(trace.objects)


def _exists(where: str, value: Any) -> bool:
    """A `file:line[:col]` that is a real line of a repository file (holding the value, when one is given)."""
    m = re.fullmatch(r"(.+?):(\d+)(?::(\d+))?", where)
    if m is None:
        return False
    path = ROOT / m.group(1)
    if not path.is_file():
        return False
    lines = path.read_text(encoding="utf-8").splitlines()
    line = int(m.group(2))
    if not 1 <= line <= len(lines):
        return False
    if value is None or isinstance(value, bool):
        return True
    return str(value).lower() in lines[line - 1].lower() or str(value) in json.dumps(value)


def test_every_leaf_of_one_object_of_each_kind_has_a_source(shipped: tuple[Workspace, list[Checked]]) -> None:
    ws, checked = shipped
    seen: dict[str, str] = {}
    for env in ("prod", "staging", "dev"):
        for c in checked:
            assert c.spec is not None and c.located is not None
            trace = trace_model(ws, env, c)
            src = Sources(
                env, c.located, ws.inputs.platforms.get(env), ws.inputs.overlays.get(env), c.lock_located, ROOT
            )
            for obj, origins in zip(trace.objects, trace.origins):
                if obj["kind"] in seen:
                    continue
                seen[obj["kind"]] = f"{env}/{c.spec.metadata.name}/{obj['metadata']['name']}"
                assert {p for p, _ in leaves(obj)} == set(origins), obj["kind"]
                for ptr, origin in origins.items():
                    steps = explain(origin, src)
                    assert steps and steps[0].role == "set", (obj["kind"], ptr)
                    first = steps[0]
                    what = (obj["kind"], ptr, first)
                    if first.kind == "renderer":
                        assert first.where.startswith("compiler/maestro/render/") or first.where.startswith(
                            "compiler/maestro/pipeline.py"
                        ), what
                        assert _exists(first.where, None), what
                    elif first.kind == "environment":
                        assert first.value == env, what
                    elif first.kind == "source":
                        assert (ROOT / first.where).is_file() and first.value == first.where, what
                    elif first.kind == "default":
                        assert isinstance(origin.origin, Input) and origin.origin.source in ("spec", "config"), what
                    else:  # a line of the spec, the overlay, the config or the lock that holds the value
                        assert _exists(first.where, first.value), what
                    if isinstance(origin.origin, Input):
                        assert origin.placed is not None and steps[-1].role == "placed", what
    kinds = set(seen)
    assert {"InferenceService", "Rollout", "Deployment", "Service", "ServiceAccount", "NetworkPolicy"} <= kinds
    assert {"PrometheusRule", "ConfigMap", "CronJob", "VirtualService", "DestinationRule"} <= kinds
    assert len(kinds) >= 20, sorted(kinds)


def _answers(capsys: pytest.CaptureFixture[str], file: str, field: str) -> list[dict[str, Any]]:
    rc, out, err = run(capsys, "why", file, field, "--format", "json")
    assert rc == 0, err
    answers: list[dict[str, Any]] = json.loads(out)["answers"]
    return answers


def test_an_environment_override_over_the_spec_over_an_overlay_default(capsys: pytest.CaptureFixture[str]) -> None:
    [a] = _answers(capsys, FILE, "spec.predictor.minReplicas")
    assert a["value"] == 3
    chain = [(s["role"], s["field"], s["value"]) for s in a["chain"]]
    assert chain[:3] == [
        ("set", "spec.environments.prod.serving.replicas.min", 3),
        ("overridden", "spec.serving.replicas.min", 2),
        ("overridden", "defaults.serving.replicas.min", 2),
    ]
    assert a["chain"][0]["where"].startswith("specs/fraud-detector/maestro.yaml:")
    assert a["chain"][2]["where"].startswith("overlays/prod/overlay.yaml:")
    assert chain[3][0] == "placed" and a["chain"][3]["field"] == "maestro.render.serving._inference_service"


def test_lock_patch_labels_namespace_config_and_renderer(capsys: pytest.CaptureFixture[str]) -> None:
    [uri] = _answers(capsys, FILE, "spec.predictor.model.storageUri")
    assert uri["chain"][0]["kind"] == "lock" and uri["chain"][0]["field"] == "environments.prod.serve.source"
    assert uri["chain"][0]["where"].startswith("specs/fraud-detector/maestro.lock.yaml:")

    [prio] = _answers(capsys, FILE, "spec.predictor.priorityClassName")
    assert prio["chain"][0]["kind"] == "transform" and prio["chain"][0]["field"].startswith("patches[")
    assert prio["chain"][0]["where"].startswith("overlays/prod/overlay.yaml:")

    [env_label] = _answers(capsys, FILE, 'metadata.labels["maestro.ml/env"]')
    assert env_label["chain"][0]["field"] == 'commonLabels["maestro.ml/env"]'

    [ns] = _answers(capsys, FILE, "metadata.namespace")
    assert ns["value"] == "payments-risk-prod"
    assert [(s["where"].split(":")[0], s["role"], s["value"]) for s in ns["chain"]] == [
        ("overlays/prod/overlay.yaml", "set", "{team}-prod"),
        ("config/platform.yaml", "overridden", "{team}-prod"),
    ]

    tracking = _answers(capsys, FILE, "spec.predictor.model.env[0]")
    assert [a["field"] for a in tracking] == ["spec.predictor.model.env[0].name", "spec.predictor.model.env[0].value"]
    assert tracking[0]["chain"][0]["kind"] == "renderer"
    assert tracking[1]["chain"][0]["field"] == "environments.prod.endpoints.mlflow"

    [canary] = [
        a
        for a in _answers(capsys, "rendered/prod/fraud-detector/rollout-fraud-detector.yaml", "spec")
        if a["field"] == "spec.strategy.canary.steps[0].setWeight"
    ] or [None]
    if canary is not None:  # fraud-detector's prod rollout is a canary
        assert canary["chain"][0]["kind"] in ("spec", "overlay", "config")


def test_text_answer(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "why", FILE, "spec.predictor.maxReplicas")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == FILE and lines[1] == "spec.predictor.maxReplicas: 12"
    assert re.match(
        r"  set by +specs/fraud-detector/maestro\.yaml:\d+:\d+  spec\.serving\.replicas\.max = 12", lines[2]
    )
    assert re.match(r"  overrides +overlays/prod/overlay\.yaml:\d+:\d+  defaults\.serving\.replicas\.max = 4", lines[3])
    assert re.match(r"  placed by +compiler/maestro/render/serving\.py:\d+  maestro\.render\.serving\.", lines[4])


@pytest.mark.parametrize(
    ("file", "field", "says"),
    [
        ("rendered/qa/fraud-detector/x.yaml", "spec", "unknown environment 'qa' (environments: dev, staging, prod)"),
        ("rendered/prod/fraud/x.yaml", "spec", "no such model (models: churn-predictor, demand-forecaster, fraud-det"),
        ("rendered/prod/platform/namespace-x.yaml", "spec", "the platform layer and Argo CD folders are not traced"),
        (
            "rendered/prod/fraud-detector/nope.yaml",
            "spec",
            "no such object in prod/fraud-detector (files: analysistemplate-",
        ),
        ("rendered/prod/fraud-detector/vault/policy.hcl", "spec", "not an object file of a model's folder"),
        ("specs/fraud-detector/maestro.yaml", "spec", "not under rendered/ of this repository"),
        (FILE, "spec.predictor.minReplica", "at spec.predictor: "),
        (FILE, "spec.predictor.model.env[99]", "at spec.predictor.model.env: indices 0..10"),
        (
            FILE,
            "spec.predictor.minReplicas.x",
            "at spec.predictor.minReplicas: none (spec.predictor.minReplicas is a value)",
        ),
        (FILE, "spec..x[", "cannot read field"),
    ],
)
def test_bad_input_exits_2_with_the_choices(
    capsys: pytest.CaptureFixture[str], file: str, field: str, says: str
) -> None:
    rc, out, err = run(capsys, "why", file, field)
    assert rc == 2 and out == ""
    assert says in err, err
    if "at spec.predictor: " in says:
        assert "maxReplicas, minReplicas" in err


def test_field_syntax() -> None:
    assert field_pointer("spec.strategy.canary.steps[1]") == "/spec/strategy/canary/steps/1"
    assert field_pointer('metadata.annotations["maestro.ml/source"]') == "/metadata/annotations/maestro.ml~1source"
    assert field_pointer("metadata.labels['a.b']") == "/metadata/labels/a.b"
    assert field_pointer("/spec/x~1y") == "/spec/x~1y"


def test_traced_values_are_the_plain_values_everywhere() -> None:
    doc = traced({"a": ["x", 1, 2.5, True, None], "b": {"c": "d"}}, "spec", "/spec")
    assert isinstance(doc["a"][0], TStr) and doc["a"][0].origin == Input("spec", "/spec/a/0")
    assert next(iter(doc)).origin == Input("spec", "/spec/a")  # keys carry their entry's pointer
    assert dump(doc) == dump({"a": ["x", 1, 2.5, True, None], "b": {"c": "d"}})
    assert json.dumps(doc) == json.dumps({"a": ["x", 1, 2.5, True, None], "b": {"c": "d"}})
    assert get(doc, "/b/c") == "d"


def test_renderer_steps_name_a_function_that_exists() -> None:
    from maestro.provenance.explain import explain_rule
    from maestro.render import pod

    code = pod.pod_security_context.__code__
    step = explain_rule(Rule("maestro.render.pod", code.co_qualname, code.co_filename, code.co_firstlineno), ROOT)
    assert step.where == f"compiler/maestro/render/pod.py:{code.co_firstlineno}"
    assert step.note == (pod.pod_security_context.__doc__ or "").strip().splitlines()[0]


def test_tracing_needs_no_renderer_edits() -> None:
    """No renderer knows about provenance: it is recorded around them."""
    for path in (ROOT / "compiler" / "maestro" / "render").glob("*.py"):
        assert "maestro.provenance" not in path.read_text(encoding="utf-8"), path
    assert Path(ROOT / "compiler" / "maestro" / "provenance" / "record.py").is_file()


def test_every_field_of_one_rendered_model(shipped: tuple[Workspace, list[Checked]]) -> None:
    """fraud-detector in prod, every object: each leaf has an origin that explains to a chain."""
    ws, checked = shipped
    [c] = [c for c in checked if c.spec is not None and c.spec.metadata.name == "fraud-detector"]
    assert c.located is not None
    trace = trace_model(ws, "prod", c)
    src = Sources("prod", c.located, ws.inputs.platforms["prod"], ws.inputs.overlays.get("prod"), c.lock_located, ROOT)
    kinds: dict[str, int] = {}
    for obj, origins in zip(trace.objects, trace.origins):
        assert {p for p, _ in leaves(obj)} == set(origins), obj["kind"]
        for origin in origins.values():
            steps = explain(origin, src)
            assert steps and steps[0].role == "set" and steps[0].where
            kinds[steps[0].kind] = kinds.get(steps[0].kind, 0) + 1
    # every kind of source shows up in this one model
    assert {"spec", "overlay", "config", "lock", "environment", "source", "renderer", "transform"} <= set(kinds), kinds


def test_launched_runs_and_their_config_maps(capsys: pytest.CaptureFixture[str]) -> None:
    """A launched run is written into its launcher's ConfigMap (output/embed.py): asking about
    the ConfigMap's manifest names the embedding step; the run itself is traced like any object."""
    [manifest] = _answers(capsys, "rendered/prod/fraud-detector/configmap-fraud-detector-train-job.yaml", "data")[:1]
    assert manifest["field"] == 'data["job.yaml"]' and manifest["value"].startswith("apiVersion: ")
    assert manifest["chain"][0]["field"] == "maestro.output.embed.embed"
    rc, out, _ = run(capsys, "why", "rendered/prod/fraud-detector/trainjob-fraud-detector-train.yaml", "metadata.name")
    assert rc == 0 and "a launched run: written into configmap-fraud-detector-train-job.yaml" in out.splitlines()[0]
