"""MLflow registry: desired state, its ConfigMap and sync Job, and sync/check on real stores.

Pure tests first (state, gates, renderer, URIs); then tests against one real `mlflow server`
per test run, shared by every xdist worker (tests/mlflow_server.py), and one embedded sqlite
store. Each server test uses its own registered model and experiment names, so the tests
depend neither on their order nor on what runs beside them.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import MODELS, ROOT, example, example_specs, example_workspace
from maestro.cli import build_parser
from maestro.commands.registry import check_command, run, sync_command
from maestro.frontend.spec import Gate, Spec
from maestro.mlflow.check import check_with
from maestro.mlflow.client import absolute_sqlite, connect, redact, tracking_uri_for
from maestro.mlflow.state import (
    RegistryUnavailable,
    combine_gates,
    desired_state,
    load_state,
    state_json,
    state_problems,
)
from maestro.mlflow.sync import plan, sync, sync_with
from maestro.output.verify import Verifier
from maestro.render import Context
from maestro.render import registry as renderer
from maestro.resolve.workspace import Workspace, open_workspace
from maestro.serialize import dump
from mlflow_server import free_port, mlflow_server, require_mlflow, worker_id  # noqa: F401 - the fixture

ENVS = ["dev", "staging", "prod"]


def _workspace() -> Any:
    return example_workspace()


def effective(model: str, env: str = "prod") -> tuple[Spec, Context]:
    return example(model, env)  # type: ignore[no-any-return]


def state_of(model: str, env: str = "prod") -> dict[str, Any]:
    spec, _ = effective(model, env)
    return desired_state(spec, _workspace().platforms[env], env)


def with_sections(spec: Spec, **changes: Any) -> Spec:
    return spec.model_copy(update={"spec": spec.spec.model_copy(update=changes)})


# ------------------------------------------------------------------ desired state

FRAUD_PROD: dict[str, Any] = {
    "apiVersion": "maestro.ml/v1alpha1",
    "environment": "prod",
    "experiment": {
        "name": "fraud-detector",
        "tags": {"costCenter": "cc-4411", "model": "fraud-detector", "team": "payments-risk", "tier": "critical"},
    },
    "gates": [
        {"metric": "val_auc", "op": ">=", "source": "spec", "value": 0.92},
        {"metric": "val_logloss", "op": "<=", "source": "spec", "value": 0.25},
    ],
    "kind": "RegistryState",
    "model": "fraud-detector",
    "registeredModel": {
        "description": "Card-not-present fraud scoring",
        "name": "fraud-detector",
        "tags": {"costCenter": "cc-4411", "owners": "@payments-risk/ml", "team": "payments-risk", "tier": "critical"},
    },
    "serve": {"alias": "champion"},
    "variants": [{"name": "challenger", "serve": {"alias": "challenger"}}],
}


def test_fraud_detector_prod_state() -> None:
    assert state_of("fraud-detector") == FRAUD_PROD


def test_names_default_and_override() -> None:
    sentiment = state_of("sentiment-bert")
    assert sentiment["registeredModel"]["name"] == "sentiment-distilbert"  # registry.model
    assert sentiment["experiment"]["name"] == "sentiment-bert"  # metadata.name
    assert sentiment["experiment"]["tags"]["model"] == "sentiment-distilbert"
    assert sentiment["serve"] == {"alias": "production"}
    assert state_of("image-classifier")["experiment"]["name"] == "image-classifier-vit"
    assert state_of("demand-forecaster")["serve"] == {"version": 7}
    assert state_of("image-classifier")["variants"] == [
        {"name": "convnext", "serve": {"alias": "convnext-candidate"}},
        {"name": "distilled", "serve": {"version": 12}},
    ]
    assert state_of("image-classifier", "dev")["variants"] == []  # dev drops the A/B test
    owners = state_of("demand-forecaster")["registeredModel"]["tags"]["owners"]
    assert owners == "@acme/supply-chain-ds,forecasting@example.com"


def test_optional_metadata_is_left_out() -> None:
    spec, _ = effective("fraud-detector")
    bare = spec.model_copy(
        update={"metadata": spec.metadata.model_copy(update={"cost_center": None, "description": None})}
    )
    state = desired_state(bare, _workspace().platforms["prod"], "prod")
    assert "description" not in state["registeredModel"]
    assert "costCenter" not in state["registeredModel"]["tags"]
    assert "costCenter" not in state["experiment"]["tags"]


def g(metric: str, op: str, value: float) -> Gate:
    return Gate.model_validate({"metric": metric, "op": op, "value": value})


def gates(*items: tuple[str, str, float, str]) -> list[dict[str, Any]]:
    return [{"metric": m, "op": op, "source": s, "value": v} for m, op, v, s in items]


@pytest.mark.parametrize(
    ("spec_gates", "minimums", "expected"),
    [
        # no minimum: the spec's gates as they are
        ([g("val_auc", ">=", 0.9)], {}, gates(("val_auc", ">=", 0.9, "spec"))),
        # the spec is stricter (or equal): the spec's gate alone
        ([g("val_auc", ">=", 0.9)], {"val_auc": 0.85}, gates(("val_auc", ">=", 0.9, "spec"))),
        ([g("val_auc", ">=", 0.85)], {"val_auc": 0.85}, gates(("val_auc", ">=", 0.85, "spec"))),
        ([g("val_auc", ">", 0.85)], {"val_auc": 0.85}, gates(("val_auc", ">", 0.85, "spec"))),
        # a weaker lower bound: replaced by the platform's
        ([g("val_auc", ">=", 0.8)], {"val_auc": 0.85}, gates(("val_auc", ">=", 0.85, "platform"))),
        ([g("val_auc", ">", 0.84)], {"val_auc": 0.85}, gates(("val_auc", ">=", 0.85, "platform"))),
        # not a lower bound (as in policy MPS005): both hold
        (
            [g("val_auc", "<=", 0.99)],
            {"val_auc": 0.85},
            gates(("val_auc", "<=", 0.99, "spec"), ("val_auc", ">=", 0.85, "platform")),
        ),
        (
            [g("val_auc", "==", 0.9)],
            {"val_auc": 0.85},
            gates(("val_auc", "==", 0.9, "spec"), ("val_auc", ">=", 0.85, "platform")),
        ),
        # a metric the spec does not gate: added
        (
            [g("val_wape", "<=", 0.18)],
            {"val_auc": 0.85},
            gates(("val_auc", ">=", 0.85, "platform"), ("val_wape", "<=", 0.18, "spec")),
        ),
        ([], {"b": 1, "a": 2}, gates(("a", ">=", 2.0, "platform"), ("b", ">=", 1.0, "platform"))),
    ],
)
def test_platform_minimums_combine_with_spec_gates(
    spec_gates: list[Gate], minimums: dict[str, float], expected: list[dict[str, Any]]
) -> None:
    assert combine_gates(spec_gates, minimums) == expected
    assert combine_gates(list(reversed(spec_gates)), dict(reversed(minimums.items()))) == expected


def forecaster(waivers: list[dict[str, str]], serves: bool = True) -> Spec:
    """demand-forecaster (val_wape <= 0.18, no val_auc gate) with these waivers, served
    online unless `serves` is False (as the example is)."""
    spec, _ = effective("demand-forecaster")
    data = spec.model_dump(by_alias=True, exclude_none=True)
    data["metadata"]["waivers"] = waivers
    if serves:
        data["spec"]["serving"] = {"replicas": {"min": 2, "max": 4}}
    return Spec.model_validate(data)


def test_platform_minimums_guard_online_traffic_only() -> None:
    batch = forecaster([], serves=False)
    assert desired_state(batch, _workspace().platforms["prod"], "prod")["gates"] == gates(
        ("val_wape", "<=", 0.18, "spec")
    )


def test_platform_minimums_apply_per_environment() -> None:
    # prod's governance.min_gates has val_auc >= 0.85; dev and staging have none.
    spec = forecaster([])
    assert desired_state(spec, _workspace().platforms["prod"], "prod")["gates"] == gates(
        ("val_auc", ">=", 0.85, "platform"), ("val_wape", "<=", 0.18, "spec")
    )
    assert desired_state(spec, _workspace().platforms["dev"], "dev")["gates"] == gates(("val_wape", "<=", 0.18, "spec"))


def test_a_waiver_of_the_minimums_policy_lifts_them() -> None:
    waiver = {"rule": "MPS005", "reason": "a forecaster has no AUC", "until": "2000-01-01"}
    other = {"rule": "MPS001", "reason": "not about gates at all", "until": "2000-01-01"}
    assert desired_state(forecaster([waiver]), _workspace().platforms["prod"], "prod")["gates"] == gates(
        ("val_wape", "<=", 0.18, "spec")
    )
    assert len(desired_state(forecaster([other]), _workspace().platforms["prod"], "prod")["gates"]) == 2


@pytest.mark.parametrize("model", MODELS)
def test_state_is_canonical_json(model: str) -> None:
    for env in ENVS:
        state = state_of(model, env)
        # every mapping is already in sorted key order, and it survives a JSON round trip
        assert json.dumps(state) == json.dumps(state, sort_keys=True)
        assert json.loads(state_json(state)) == state
        assert state_problems(state) == []


def test_state_does_not_depend_on_gate_order() -> None:
    spec, _ = effective("churn-predictor")
    assert spec.spec.registry is not None
    shuffled = spec.spec.registry.model_copy(update={"gates": list(reversed(spec.spec.registry.gates))})
    other = with_sections(spec, registry=shuffled)
    platform = _workspace().platforms["prod"]
    assert state_json(desired_state(other, platform, "prod")) == state_json(desired_state(spec, platform, "prod"))


# ------------------------------------------------------------------ renderer


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier(_workspace().platform.kubernetes_version)


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("model", MODELS)
def test_every_object_passes_its_schema(model: str, env: str, verifier: Verifier) -> None:
    objects = renderer.render(*effective(model, env))
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("ConfigMap", f"{model}-registry"),
        ("Job", f"{model}-registry-sync"),
    ]
    for o in objects:
        assert verifier.verify(o, source=f"{env}/{model}") == []


FRAUD_PROD_JOB = """\
apiVersion: batch/v1
kind: Job
metadata:
  annotations:
    argocd.argoproj.io/hook: PostSync
    argocd.argoproj.io/hook-delete-policy: BeforeHookCreation
  name: fraud-detector-registry-sync
spec:
  activeDeadlineSeconds: 600
  backoffLimit: 2
  template:
    metadata:
      labels:
        app.kubernetes.io/component: registry
        app.kubernetes.io/name: fraud-detector
        maestro.ml/env: prod
        maestro.ml/model: fraud-detector
        maestro.ml/team: payments-risk
        sidecar.istio.io/inject: 'false'
    spec:
      containers:
      - command:
        - maestro
        - registry
        - sync
        - --state
        - /state/registry.json
        env:
        - name: MLFLOW_TRACKING_URI
          value: http://mlflow.mlflow.svc:5000
        - name: HOME
          value: /tmp
        image: registry.example.com/platform/maestro:0.1.0
        name: sync
        resources:
          limits:
            memory: 512Mi
          requests:
            cpu: 100m
            memory: 512Mi
        securityContext:
          allowPrivilegeEscalation: false
          capabilities:
            drop:
            - ALL
          readOnlyRootFilesystem: true
          runAsNonRoot: true
        volumeMounts:
        - mountPath: /state
          name: state
          readOnly: true
        - mountPath: /tmp
          name: tmp
        workingDir: /tmp
      restartPolicy: Never
      securityContext:
        fsGroup: 10001
        runAsGroup: 10001
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile:
          type: RuntimeDefault
      serviceAccountName: fraud-detector
      volumes:
      - configMap:
          name: fraud-detector-registry
        name: state
      - emptyDir: {}
        name: tmp
  ttlSecondsAfterFinished: 86400
"""


def test_fraud_detector_prod_golden() -> None:
    config_map, job = renderer.render(*effective("fraud-detector"))
    assert config_map == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "fraud-detector-registry"},
        "data": {"registry.json": json.dumps(FRAUD_PROD, indent=2, sort_keys=True) + "\n"},
    }
    text = config_map["data"]["registry.json"]
    assert text.startswith('{\n  "apiVersion": "maestro.ml/v1alpha1",\n') and text.endswith("\n}\n")
    assert dump(job) == FRAUD_PROD_JOB


def test_job_follows_the_environment() -> None:
    _, job = renderer.render(*effective("sentiment-bert", "dev"))
    [container] = job["spec"]["template"]["spec"]["containers"]
    # the pods' in-cluster tracking server, not the CLI's local store (endpoints.mlflow_cli)
    assert {"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow.mlflow.svc:5000"} in container["env"]
    assert job["spec"]["template"]["metadata"]["labels"]["maestro.ml/env"] == "dev"
    config_map, _ = renderer.render(*effective("sentiment-bert", "staging"))
    assert json.loads(config_map["data"]["registry.json"])["environment"] == "staging"


def test_only_models_with_registry_or_serving() -> None:
    spec, ctx = effective("demand-forecaster")  # registry, no serving
    assert len(renderer.render(spec, ctx)) == 2
    assert renderer.render(with_sections(spec, registry=None), ctx) == []
    serving_only, ctx = effective("sentiment-bert")
    objects = renderer.render(with_sections(serving_only, registry=None), ctx)
    state = json.loads(objects[0]["data"]["registry.json"])
    assert state["serve"] == {"alias": "champion"}  # what serving resolves without a registry section
    assert state["registeredModel"]["name"] == "sentiment-bert"


def test_render_is_deterministic() -> None:
    for model in MODELS:
        spec, ctx = effective(model)
        first = dump(renderer.render(spec, ctx))
        assert dump(renderer.render(copy.deepcopy(spec), ctx)) == first


def test_rendered_state_loads_as_a_state_file(tmp_path: Path) -> None:
    config_map, _ = renderer.render(*effective("image-classifier"))
    path = tmp_path / "registry.json"
    path.write_text(config_map["data"]["registry.json"])
    assert load_state(path) == state_of("image-classifier")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ("[]", "the state is not a JSON object"),
        ('{"kind": "Other"}', "apiVersion/kind is not maestro.ml/v1alpha1/RegistryState"),
    ],
)
def test_bad_state_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "registry.json"
    path.write_text(text)
    with pytest.raises(RegistryUnavailable, match=message):
        load_state(path)


def test_state_problems_are_named() -> None:
    broken = copy.deepcopy(FRAUD_PROD)
    broken["serve"] = {"version": "7"}
    broken["gates"][0]["op"] = "=>"
    assert state_problems(broken) == [
        'serve is not {"alias": NAME} or {"version": N}',
        "gates is not a list of {metric, op, value}",
    ]


def test_compiling_does_not_import_mlflow() -> None:
    code = (
        "import sys, maestro.mlflow.state, maestro.mlflow.sync, maestro.mlflow.check, maestro.commands.registry, "
        "maestro.render.registry, maestro.pipeline; "
        "sys.exit(int('mlflow' in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# ------------------------------------------------------------------ tracking URIs


def test_tracking_uri_from_config_and_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ws = _workspace()
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    # dev's default is relative to the repository root, wherever maestro runs
    assert tracking_uri_for(ws, "dev") == f"sqlite:///{ROOT.resolve()}/.maestro/mlflow.db"
    assert tracking_uri_for(ws, "prod") == "http://mlflow.mlflow.svc:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example.com")
    assert tracking_uri_for(ws, "dev") == "http://mlflow.example.com"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///local.db")  # MLflow's meaning: the working folder
    assert tracking_uri_for(ws, "prod") == f"sqlite:///{tmp_path.resolve()}/local.db"


def test_sqlite_uris() -> None:
    base = Path("/repo")
    assert absolute_sqlite("sqlite:///.maestro/mlflow.db", base) == "sqlite:////repo/.maestro/mlflow.db"
    assert absolute_sqlite("sqlite:////abs/m.db", base) == "sqlite:////abs/m.db"
    assert absolute_sqlite("sqlite:///m.db?timeout=20", base) == "sqlite:////repo/m.db?timeout=20"
    assert absolute_sqlite("sqlite:///:memory:", base) == "sqlite:///:memory:"
    assert absolute_sqlite("https://mlflow", base) == "https://mlflow"
    assert redact("https://user:secret@mlflow.example.com:8443/x") == "https://***@mlflow.example.com:8443/x"
    assert redact("http://mlflow:5000") == "http://mlflow:5000"


def test_argparse_shape(capsys: pytest.CaptureFixture[str]) -> None:
    def parse(argv: list[str]) -> argparse.Namespace:
        return build_parser().parse_args(["registry", *argv])

    args = parse(["sync", "--env", "prod", "--model", "fraud-detector", "--dry-run"])
    assert (args.registry_action, args.env, args.model, args.dry_run, args.state) == (
        "sync",
        "prod",
        "fraud-detector",
        True,
        None,
    )
    assert parse(["sync", "--state", "/state/registry.json"]).state == "/state/registry.json"
    args = parse(["check", "--env", "staging"])
    assert run(args, None) == 2
    assert capsys.readouterr().err == "maestro: registry check needs a repository (config/platform.yaml)\n"
    assert run(parse(["sync"]), _workspace()) == 2
    assert capsys.readouterr().err == "maestro: registry sync needs --env (or --state FILE)\n"
    assert run(parse(["sync", "--env", "qa"]), _workspace()) == 2
    assert capsys.readouterr().err == "maestro: unknown environment 'qa' (configured: dev, staging, prod)\n"


# ------------------------------------------------------------------ against a real server

_ids = itertools.count(1)


def unique(state: dict[str, Any], label: str) -> dict[str, Any]:
    """The state with registered model and experiment names no other test uses."""
    out = copy.deepcopy(state)
    n = f"{worker_id()}-{next(_ids)}"  # one server for every xdist worker (tests/mlflow_server.py)
    out["registeredModel"]["name"] = f"{label}-{n}"
    out["experiment"]["name"] = f"{label}-{n}-exp"
    out["experiment"]["tags"]["model"] = out["registeredModel"]["name"]
    return out


@pytest.fixture(scope="module")
def client(mlflow_server: str) -> Any:
    return connect(mlflow_server)


def register(
    client: Any, state: dict[str, Any], metrics: dict[str, float] | None, aliases: tuple[str, ...] = ()
) -> int:
    """A new version of the state's model, from a run that logged `metrics` (None: no run)."""
    name = state["registeredModel"]["name"]
    experiment = client.get_experiment_by_name(state["experiment"]["name"])
    if experiment is None or not client.search_registered_models(f"name = '{name}'"):
        sync_with(state, client)  # experiment and registered model
    if metrics is None:
        mv = client.create_model_version(name, source="s3://models/no-run")
    else:
        experiment = client.get_experiment_by_name(state["experiment"]["name"])
        run = client.create_run(experiment.experiment_id)
        for key, value in metrics.items():
            client.log_metric(run.info.run_id, key, value)
        mv = client.create_model_version(name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    for alias in aliases:
        client.set_registered_model_alias(name, alias, mv.version)
    return int(mv.version)


def passing(state: dict[str, Any]) -> dict[str, float]:
    """Metrics that meet every gate of the state."""
    out = {}
    for metric in sorted({g["metric"] for g in state["gates"]}):
        mine = [g for g in state["gates"] if g["metric"] == metric]
        equal = [g["value"] for g in mine if g["op"] == "=="]
        lo = max((g["value"] for g in mine if g["op"] in (">=", ">")), default=None)
        hi = min((g["value"] for g in mine if g["op"] in ("<=", "<")), default=None)
        if equal:
            out[metric] = equal[0]
        elif lo is not None and hi is not None:
            out[metric] = (lo + hi) / 2
        else:
            out[metric] = lo + 0.01 if lo is not None else hi - 0.01  # type: ignore[operator]
    return out


@pytest.mark.slow
def test_sync_creates_then_is_idempotent(mlflow_server: str, client: Any) -> None:
    state = unique(FRAUD_PROD, "fraud")
    name, exp = state["registeredModel"]["name"], state["experiment"]["name"]
    first = sync(state, mlflow_server)
    assert [(c.action, c.subject) for c in first.changes] == [
        ("create-experiment", exp),
        ("create-registered-model", name),
    ]
    assert first.applied
    assert [(d.code, d.message) for d in first.diagnostics] == [
        (
            "M802",
            f"{name}: alias champion is not set; serving cannot resolve models:/{name}@champion until a "
            "version is promoted",
        ),
        (
            "M802",
            f"{name}: alias challenger is not set (A/B variant challenger); serving cannot resolve "
            f"models:/{name}@challenger until a version is promoted",
        ),
    ]
    experiment = client.get_experiment_by_name(exp)
    assert {k: v for k, v in experiment.tags.items() if not k.startswith("mlflow.")} == state["experiment"]["tags"]
    rm = client.get_registered_model(name)
    assert rm.description == "Card-not-present fraud scoring"
    assert dict(rm.tags) == state["registeredModel"]["tags"]
    second = sync(state, mlflow_server)
    assert second.changes == () and not second.applied


@pytest.mark.slow
def test_sync_corrects_what_it_owns_and_keeps_the_rest(mlflow_server: str, client: Any) -> None:
    state = unique(FRAUD_PROD, "drift")
    name, exp = state["registeredModel"]["name"], state["experiment"]["name"]
    experiment_id = client.create_experiment(exp, tags={"team": "someone-else", "notes": "kept"})
    client.create_registered_model(name, tags={"tier": "experimental", "reviewer": "kept"}, description="old")
    version = register(client, state, {"val_auc": 0.95}, ("champion",))  # both exist: no sync here
    client.delete_experiment(experiment_id)

    dry = sync(state, mlflow_server, dry_run=True)
    assert [c.describe() for c in dry.changes] == [
        f"restore deleted experiment {exp!r}",
        f"experiment {exp!r}: set tag costCenter = 'cc-4411'",
        f"experiment {exp!r}: set tag model = {name!r}",
        f"experiment {exp!r}: set tag team = 'payments-risk' (was 'someone-else')",
        f"experiment {exp!r}: set tag tier = 'critical'",
        f"registered model {name!r}: set description 'Card-not-present fraud scoring' (was 'old')",
        f"registered model {name!r}: set tag costCenter = 'cc-4411'",
        f"registered model {name!r}: set tag owners = '@payments-risk/ml'",
        f"registered model {name!r}: set tag team = 'payments-risk'",
        f"registered model {name!r}: set tag tier = 'critical' (was 'experimental')",
    ]
    assert not dry.applied
    assert plan(state, client) == list(dry.changes)  # the dry run changed nothing
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"

    applied = sync(state, mlflow_server)
    assert applied.changes == dry.changes and applied.applied
    assert [d.code for d in applied.diagnostics] == ["M802"]  # challenger; champion is set
    experiment = client.get_experiment(experiment_id)
    assert experiment.lifecycle_stage == "active"
    assert experiment.tags["notes"] == "kept" and experiment.tags["team"] == "payments-risk"
    rm = client.get_registered_model(name)
    assert rm.tags["reviewer"] == "kept" and rm.tags["tier"] == "critical"
    assert rm.description == "Card-not-present fraud scoring"
    assert {a: int(v) for a, v in rm.aliases.items()} == {"champion": version}  # aliases untouched
    assert sync(state, mlflow_server).changes == ()


@pytest.mark.slow
def test_check_passes_when_every_gate_holds(client: Any) -> None:
    state = unique(FRAUD_PROD, "pass")
    register(client, state, {"val_auc": 0.95, "val_logloss": 0.2}, ("champion",))
    register(client, state, {"val_auc": 0.5}, ("challenger",))  # variants are not gated
    assert check_with(state, client) == []


@pytest.mark.slow
def test_check_failed_gate(client: Any) -> None:
    state = unique(FRAUD_PROD, "fail")
    name = state["registeredModel"]["name"]
    register(client, state, {"val_auc": 0.99, "val_logloss": 0.1}, ("challenger",))
    register(client, state, {"val_auc": 0.5, "val_logloss": 0.1})
    register(client, state, {"val_auc": 0.91, "val_logloss": 0.3}, ("champion",))
    found = check_with(state, client)
    assert [(d.code, d.message) for d in found] == [
        ("M806", f"{name} version 3 (alias champion): val_auc = 0.91, needs >= 0.92"),
        ("M806", f"{name} version 3 (alias champion): val_logloss = 0.3, needs <= 0.25"),
    ]
    assert all(d.is_error for d in found)
    assert dict(found[0].extra) == {
        "model": name,
        "version": "3",
        "metric": "val_auc",
        "source": "spec",
        "threshold": ">= 0.92",
        "observed": "0.91",
    }


@pytest.mark.slow
def test_check_uses_the_latest_value_of_a_metric(client: Any) -> None:
    state = unique(FRAUD_PROD, "latest")
    register(client, state, {"val_auc": 0.95, "val_logloss": 0.1}, ("champion", "challenger"))
    mv = client.get_model_version_by_alias(state["registeredModel"]["name"], "champion")
    client.log_metric(mv.run_id, "val_auc", 0.90, step=1)
    assert [d.message.rsplit(": ", 1)[1] for d in check_with(state, client)] == ["val_auc = 0.9, needs >= 0.92"]


@pytest.mark.slow
def test_check_missing_metric_alias_and_model(client: Any) -> None:
    state = unique(FRAUD_PROD, "missing")
    name = state["registeredModel"]["name"]
    assert [(d.code, d.message) for d in check_with(state, client)] == [("M801", f"{name}: registered model not found")]
    register(client, state, {"val_auc": 0.95}, ("champion",))
    run_id = client.get_model_version_by_alias(name, "champion").run_id
    assert [(d.code, d.message) for d in check_with(state, client)] == [
        ("M802", f"{name}: alias challenger is not set (A/B variant challenger) (aliases: champion -> 1)"),
        ("M805", f"{name} version 1 (alias champion): val_logloss was not logged on run {run_id}, needs <= 0.25"),
    ]
    no_alias = copy.deepcopy(state) | {"serve": {"alias": "gold"}, "variants": []}
    [d] = check_with(no_alias, client)
    assert (d.code, d.message) == ("M802", f"{name}: alias gold is not set (aliases: champion -> 1)")


@pytest.mark.slow
def test_check_version_without_run(client: Any) -> None:
    state = unique(FRAUD_PROD, "norun") | {"variants": []}
    name = state["registeredModel"]["name"]
    register(client, state, None, ("champion",))
    [d] = check_with(state, client)
    assert (d.code, d.message) == (
        "M804",
        f"{name} version 1 (alias champion): the version has no run, so its gates "
        "(val_auc >= 0.92, val_logloss <= 0.25) cannot be checked",
    )


@pytest.mark.slow
def test_check_pinned_version_and_platform_minimum(client: Any) -> None:
    # serve: 7, val_wape <= 0.18, and prod's val_auc >= 0.85
    pinned = desired_state(forecaster([]), _workspace().platforms["prod"], "prod")
    state = unique(pinned, "pinned") | {"serve": {"version": 2}}
    name = state["registeredModel"]["name"]
    [d] = check_with(state, client)
    assert d.code == "M801"
    register(client, state, {"val_wape": 0.1, "val_auc": 0.9})
    [d] = check_with(state, client)
    assert (d.code, d.message) == ("M803", f"{name}: version 2 does not exist")
    register(client, state, {"val_wape": 0.2}, ("champion",))  # an alias does not matter: the pin does
    found = check_with(state, client)
    run_id = client.get_model_version(name, "2").run_id
    assert [(d.code, d.message, d.hint) for d in found] == [
        (
            "M805",
            f"{name} version 2: val_auc was not logged on run {run_id}, needs >= 0.85",
            "platform minimum (governance.min_gates)",
        ),
        ("M806", f"{name} version 2: val_wape = 0.2, needs <= 0.18", None),
    ]
    assert check_with(state | {"serve": {"version": 1}}, client) == []
    low = register(client, state, {"val_wape": 0.1, "val_auc": 0.8})
    [d] = check_with(state | {"serve": {"version": low}}, client)
    assert d.message == f"{name} version {low}: val_auc = 0.8, needs >= 0.85"


@pytest.mark.slow
def test_unreachable_server_fails_closed(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    require_mlflow()
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(RegistryUnavailable, match=f"MLflow tracking server {uri} is not reachable"):
        sync(FRAUD_PROD, uri)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert check_command(_workspace(), "prod", "fraud-detector") == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"maestro: MLflow tracking server {uri} is not reachable (") and err.count("\n") == 1
    assert time.monotonic() - started < 30  # not MLflow's four minutes of retries


@pytest.mark.slow
def test_state_file_mode_syncs_without_a_repository(
    mlflow_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = unique(state_of("sentiment-bert"), "job")
    name = state["registeredModel"]["name"]
    path = tmp_path / "registry.json"
    path.write_text(state_json(state))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.chdir(tmp_path)
    assert sync_command(None, None, dry_run=True, state_file=path) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "sentiment-bert (prod): 2 change(s)",
        f"  would create experiment {state['experiment']['name']!r}",
        f"  would create registered model {name!r}",
        f"  warning: M802 {name}: alias production is not set; serving cannot resolve models:/{name}@production "
        "until a version is promoted",
        f"dry run: 2 change(s) planned for 1 model(s) on {mlflow_server}; nothing changed",
    ]
    assert sync_command(None, None, state_file=path) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"synced 1 model(s) with {mlflow_server}: 2 change(s) applied"
    assert sync_command(None, None, state_file=path) == 0
    assert capsys.readouterr().out.splitlines()[0] == "sentiment-bert (prod): up to date"
    assert sync_command(None, "dev", state_file=path) == 2
    assert "does not match the state file's environment 'prod'" in capsys.readouterr().err
    assert not (tmp_path / "mlruns").exists()


@pytest.mark.slow
def test_commands_on_the_repository(
    mlflow_server: str, client: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The one test that uses the example's own names on the server: fraud-detector in prod."""
    ws = _workspace()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    assert sync_command(ws, "prod", "fraud-detector") == 0
    assert capsys.readouterr().out.startswith("fraud-detector (prod): 2 change(s)\n")
    state = state_of("fraud-detector")
    register(client, state, {"val_auc": 0.93, "val_logloss": 0.2}, ("challenger",))
    register(client, state, {"val_auc": 0.91, "val_logloss": 0.2}, ("champion",))
    assert check_command(ws, "prod", "fraud-detector") == 1
    lines = (ROOT / "specs/fraud-detector/maestro.yaml").read_text().splitlines()
    [line] = [i for i, text in enumerate(lines, 1) if "metric: val_auc, op:" in text]
    col = lines[line - 1].index("{") + 1
    assert capsys.readouterr().out == (
        f"specs/fraud-detector/maestro.yaml:{line}:{col}: M806 fraud-detector version 2 (alias champion): "
        "val_auc = 0.91, needs >= 0.92\n"
        "1 error(s), 0 warning(s)\n"
    )
    client.set_registered_model_alias("fraud-detector", "champion", 1)
    assert check_command(ws, "prod", "fraud-detector") == 0
    assert capsys.readouterr().out == f"registry check passed: 1 model(s) in prod on {mlflow_server}\n"


# ------------------------------------------------------------------ embedded sqlite, no server


@pytest.fixture
def laptop_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """A copy of the example repository, used from a sub-folder, with no MLFLOW_TRACKING_URI."""
    require_mlflow()
    root = tmp_path / "repo"
    for part in ("config", "overlays", "specs"):
        shutil.copytree(ROOT / part, root / part)
    ws, diags = open_workspace(root)
    assert ws is not None, diags
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (root / "specs" / "elsewhere").mkdir()
    monkeypatch.chdir(root / "specs" / "elsewhere")
    yield ws


@pytest.mark.slow
def test_embedded_sqlite_default(laptop_repo: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    ws = laptop_repo
    assert sync_command(ws, "dev") == 0
    out = capsys.readouterr().out
    db = ws.root / ".maestro" / "mlflow.db"
    assert (
        out.splitlines()[-1] == f"synced {len(MODELS)} model(s) with sqlite:///{db.resolve()}: "
        f"{2 * len(MODELS)} change(s) applied"
    )
    assert db.is_file()
    assert not (Path.cwd() / "mlruns").exists() and not (Path.cwd() / ".maestro").exists()
    local = connect(tracking_uri_for(ws, "dev"))
    experiment = local.get_experiment_by_name("fraud-detector")
    assert experiment.artifact_location == (ws.root / ".maestro/mlartifacts/fraud-detector").resolve().as_uri()
    assert sync_command(ws, "dev") == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith(": 0 change(s) applied")
    # versions are ints over sqlite (strings over REST): the same check either way
    state = desired_state(example_specs("sentiment-bert")["dev"], ws.platforms["dev"], "dev")
    register(local, state, passing(state), ("production",))
    assert check_command(ws, "dev", "sentiment-bert") == 0
    assert check_command(ws, "dev", "fraud-detector") == 1
    out = capsys.readouterr().out
    assert "M801" not in out and "fraud-detector: alias champion is not set (aliases: none)" in out


@pytest.mark.slow
def test_dry_run_creates_no_store_and_logs_nothing(tmp_path: Path) -> None:
    """`registry sync --dry-run` on a laptop: the plan, and no sqlite store, no mlruns, no
    MLflow log lines; the real sync after it creates the store, still without log lines."""
    require_mlflow()
    root = tmp_path / "repo"
    for part in ("config", "overlays", "specs"):
        shutil.copytree(ROOT / part, root / part)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MAESTRO_"))}
    maestro = [sys.executable, "-m", "maestro", "--root", str(root), "registry", "sync", "--env", "dev"]
    dry = subprocess.run([*maestro, "--dry-run"], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0 and dry.stderr == "", dry.stderr
    assert dry.stdout.splitlines()[-1].startswith(f"dry run: {2 * len(MODELS)} change(s) planned")
    assert "would create experiment 'fraud-detector'" in dry.stdout
    assert not (root / ".maestro").exists() and not list(root.rglob("mlruns"))
    real = subprocess.run(maestro, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert real.returncode == 0 and real.stderr == "", real.stderr
    assert (root / ".maestro" / "mlflow.db").is_file()


# ------------------------------------------------------------------ the pipeline's evaluate and promote steps


@pytest.mark.slow
def test_pipeline_evaluates_and_promotes_the_candidate(
    mlflow_server: str, client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`registry check --state F --alias candidate` and `registry sync --state F --promote candidate`,
    as the Airflow DAG's evaluate and promote tasks run them, against a real server."""
    state = unique(FRAUD_PROD, "pipeline")
    name = state["registeredModel"]["name"]
    state_file = tmp_path / "registry.json"
    state_file.write_text(state_json(state), encoding="utf-8")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)

    def parse(argv: list[str]) -> argparse.Namespace:
        return build_parser().parse_args(["registry", *argv])

    old = register(client, state, {"val_auc": 0.95, "val_logloss": 0.2}, ("champion",))
    bad = register(client, state, {"val_auc": 0.90, "val_logloss": 0.2}, ("candidate",))
    evaluate = parse(["check", "--state", str(state_file), "--alias", "candidate"])
    promote = parse(["sync", "--state", str(state_file), "--promote", "candidate"])
    assert run(evaluate, None) == 1
    assert f"{name} version {bad} (alias candidate): val_auc = 0.9, needs >= 0.92" in capsys.readouterr().out
    assert run(promote, None) == 1  # a failed gate promotes nothing
    assert int(client.get_registered_model(name).aliases["champion"]) == old
    good = register(client, state, {"val_auc": 0.97, "val_logloss": 0.1}, ("candidate",))
    assert run(evaluate, None) == 0
    capsys.readouterr()
    assert run(promote, None) == 0
    assert (
        capsys.readouterr().out
        == f"{name}: alias champion -> version {good} (was version {old}), from candidate alias candidate\n"
    )
    assert int(client.get_registered_model(name).aliases["champion"]) == good
    assert run(parse(["check", "--alias", "candidate"]), None) == 2  # needs --state
