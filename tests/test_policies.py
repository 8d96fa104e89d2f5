"""The platform policy set in policies/: its Rego unit tests, and every rule on realistic input.

Spec scope (policies/spec, package maestro.spec) is fed what the integration feeds it: the
resolved spec of an example model in one environment, built here with the same pieces
(workspace, check, costs, Argo CD sync mode), plus the platform config of that environment
and team as data.maestro.config. Resource scope (policies/k8s, package main) is fed objects
of the committed rendered/ tree, as `conftest test rendered/<env>/<model>/*.yaml` would.

For each rule: one failing input (asserting code, message and path, and that nothing else
fires) and one passing near miss. Thresholds in expected messages come from the platform
config, so that changing config/platform.yaml does not break these tests.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from maestro.pipeline import check_file
from maestro.policy.governance import config_data, spec_input
from maestro.policy.policyset import PolicyResult, PolicySet, format_test_results
from maestro.render.argocd import sync_mode
from maestro.resolve.workspace import discover, open_workspace

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "policies"
RENDERED = ROOT / "rendered"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def spec_policy() -> PolicySet:
    return PolicySet.load(POLICIES / "spec")


@pytest.fixture(scope="module")
def k8s_policy() -> PolicySet:
    return PolicySet.load(POLICIES / "k8s")


@pytest.fixture(scope="module")
def workspace():
    ws, diags = open_workspace(ROOT)
    assert ws is not None, [str(d) for d in diags]
    return ws


def platform_config(ws, env: str, team: str) -> dict[str, Any]:
    """data.maestro.config for one environment and team, exactly as maestro feeds it."""
    return config_data(ws.platforms[env], env, team)["maestro"]["config"]


@pytest.fixture(scope="module")
def spec_inputs(workspace) -> dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]]:
    """(model, env) -> (spec-scope input, data.maestro.config), for every example, built by
    the integration itself (governance.spec_input), so these tests see what validate sees."""
    out = {}
    for path in discover(ROOT):
        checked = check_file(path, path.relative_to(ROOT).as_posix(), workspace.inputs, root=ROOT)
        assert checked.effective, [str(d) for d in checked.diagnostics]
        for env, spec in checked.effective.items():
            platform = workspace.platforms[env]
            sync = sync_mode(platform.environments[env].sync, workspace.overlays.get(env), spec.metadata.tier)
            lock = checked.lock.environments.get(env) if checked.lock is not None else None
            inp = spec_input(spec, env, platform, sync, lock)
            out[(spec.metadata.name, env)] = (inp, platform_config(workspace, env, spec.metadata.team))
    return out


def spec_case(spec_inputs, model: str, env: str) -> tuple[dict[str, Any], dict[str, Any]]:
    inp, cfg = spec_inputs[(model, env)]
    return copy.deepcopy(inp), copy.deepcopy(cfg)


def check_spec(policy: PolicySet, inp: dict[str, Any], cfg: dict[str, Any]) -> list[PolicyResult]:
    return policy.check(inp, "maestro.spec", data={"maestro": {"config": cfg}})


def summary(findings: list[PolicyResult]) -> list[tuple[str, str | None, Any, str]]:
    return sorted((f.kind, f.code, f.path, f.msg) for f in findings)


def resolve(doc: Any, pointer: str) -> Any:
    """The value at a JSON pointer; KeyError/IndexError when it does not resolve."""
    if pointer == "":
        return doc
    assert pointer.startswith("/"), pointer
    for raw in pointer[1:].split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        doc = doc[int(key)] if isinstance(doc, list) else doc[key]
    return doc


def set_at(doc: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for p in parents:
        doc = doc[int(p)] if isinstance(doc, list) else doc[p]
    if isinstance(doc, list):
        doc[int(last)] = value
    else:
        doc[last] = value


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def rendered_documents(folder: Path) -> tuple[tuple[str, dict[str, Any]], ...]:
    """(file name, object) for every document under a folder of rendered/ (parsed once)."""
    return tuple(
        (f.relative_to(RENDERED).as_posix(), doc)
        for f in sorted(folder.rglob("*.yaml"))
        for doc in yaml.load_all(f.read_text(), Loader=_LOADER)
        if doc
    )


def objects(env: str, model: str, kind: str) -> list[dict[str, Any]]:
    found = [doc for _, doc in rendered_documents(RENDERED / env / model) if doc.get("kind") == kind]
    assert found, f"no {kind} in rendered/{env}/{model}"
    return found


def launched(env: str, model: str, config_map: str) -> dict[str, Any]:
    """The run a launcher creates, as its ConfigMap in the committed tree holds it."""
    cm = rendered(env, model, "ConfigMap", config_map)
    return dict(yaml.load(cm["data"]["job.yaml"], Loader=_LOADER))


NODE_POD = "/spec/runtimePatches/0/trainingRuntimeSpec/template/spec/replicatedJobs/0/template/spec/template/spec"


def rendered(env: str, model: str, kind: str, name: str) -> dict[str, Any]:
    """A copy of one object of the committed rendered/ tree, by kind and name."""
    found = [o for o in objects(env, model, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name} in rendered/{env}/{model}"
    return copy.deepcopy(found[0])


def k8s_data(ws, env: str, obj: dict[str, Any]) -> dict[str, Any]:
    team = ((obj.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/part-of", "")
    return {"maestro": {"config": platform_config(ws, env, team)}}


def check_k8s(policy: PolicySet, ws, obj: dict[str, Any], env: str = "prod") -> list[PolicyResult]:
    return policy.check(obj, "main", data=k8s_data(ws, env, obj))


# ---------------------------------------------------------------- Rego unit tests


@pytest.mark.parametrize("folder", ["spec", "k8s"])
def test_rego_unit_tests_pass(folder):
    results = PolicySet.load(POLICIES / folder).run_tests()
    assert len(results) >= 40
    assert all(r.status == "pass" for r in results), format_test_results(results)


def test_whole_policy_dir_loads_as_one_set():
    # no name clashes between the two scopes: policies/ also loads as a single directory
    assert PolicySet.load(POLICIES).namespaces() == ["maestro.spec", "main"]


def test_no_data_files_in_the_policy_dir():
    # every JSON/YAML file under policies/ would be loaded as `data`
    assert sorted(p.name for p in POLICIES.rglob("*") if p.suffix in (".json", ".yaml", ".yml")) == []


CODE_RE = re.compile(r"^MP[SK]\d{3}$")


@pytest.mark.parametrize(("folder", "namespace", "prefix"), [("spec", "maestro.spec", "MPS"), ("k8s", "main", "MPK")])
def test_every_rule_is_documented_and_in_the_code_table(folder, namespace, prefix):
    ps = PolicySet.load(POLICIES / folder)
    table = ps.engine.eval_rule(f"data.{namespace}.rule_names")
    readme = (POLICIES / "README.md").read_text()
    rules = {r.name for r in ps.rules(namespace)}
    # one rule per code, named after the code's exception key
    assert {re.sub(r"^(deny|warn)_", "", r) for r in rules} == set(table.values())
    for code, name in table.items():
        assert CODE_RE.match(code) and code.startswith(prefix)
        rule = next(r for r in ps.rules(namespace) if r.name.endswith("_" + name))
        source = Path(rule.file).read_text().splitlines()
        start = rule.line - 1  # the comment block right above the rule's first definition
        while start > 0 and source[start - 1].startswith("#"):
            start -= 1
        above = "\n".join(source[start : rule.line - 1])
        assert f"# {code} " in above, f"{rule.name} has no doc comment starting with its code"
        for part in ("# What:", "# Why:", "# Comply:", "# Waive:", "# PASS:", "# FAIL"):
            assert part in above, f"{code} doc comment lacks {part!r}"
        assert f"| {code} |" in readme, f"{code} missing from policies/README.md"


# ---------------------------------------------------------------- examples and rendered tree


def test_every_example_evaluates_with_well_formed_results(spec_policy, spec_inputs):
    assert len(spec_inputs) == 6 * 3
    for (model, env), (inp, cfg) in spec_inputs.items():
        for f in check_spec(spec_policy, inp, cfg):
            assert f.kind in ("deny", "warn"), (model, env, f)
            assert CODE_RE.match(f.code or "") and f.code.startswith("MPS")
            assert f.msg and isinstance(f.details.get("hint"), str)
            # the path names a field of the resolved spec, or one whose parent exists
            try:
                resolve(inp["spec"], f.path)
            except (KeyError, IndexError, TypeError):
                parent = f.path.rsplit("/", 1)[0]
                resolve(inp["spec"], parent)


def test_the_base_cases_are_clean(spec_policy, spec_inputs):
    # the starting points of the rule cases below: realistic and compliant
    for model, env in [
        ("fraud-detector", "prod"),
        ("image-classifier", "prod"),
        ("churn-predictor", "prod"),
        ("fraud-detector", "staging"),
        ("fraud-detector", "dev"),
    ]:
        inp, cfg = spec_case(spec_inputs, model, env)
        assert check_spec(spec_policy, inp, cfg) == [], (model, env)


def test_rendered_tree_passes_resource_policies(k8s_policy, workspace):
    docs = rendered_documents(RENDERED)
    assert len(docs) > 100
    by_data: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for name, doc in docs:  # grouped by config: PolicySet keeps a few engines per data document
        data = k8s_data(workspace, name.split("/")[0], doc)
        by_data.setdefault(json.dumps(data, sort_keys=True), []).append((name, doc))
    for key, group in by_data.items():
        data = json.loads(key)
        for name, doc in group:
            findings = k8s_policy.check(doc, "main", data=data)
            assert findings == [], (name, summary(findings))


# ---------------------------------------------------------------- spec scope, rule by rule
#
# Each case: (model, env, changes to the input, expected findings); changes are
# {dotted path into the input: value}. The passing case is a near miss of the same rule.


def gov(spec_inputs, env: str) -> dict[str, Any]:
    return spec_inputs[("fraud-detector", env)][1]["governance"]


def team_cfg(spec_inputs, model: str) -> dict[str, Any]:
    return spec_inputs[(model, "prod")][1]["team"]


def run_spec_case(spec_policy, spec_inputs, model, env, changes, cfg_changes=None):
    inp, cfg = spec_case(spec_inputs, model, env)
    for dotted, value in changes.items():
        set_at(inp, dotted, value)
    for dotted, value in (cfg_changes or {}).items():
        set_at(cfg, dotted, value)
    return summary(check_spec(spec_policy, inp, cfg))


def test_mps001_ownership(spec_policy, spec_inputs):
    got = run_spec_case(spec_policy, spec_inputs, "fraud-detector", "prod", {"spec.metadata.costCenter": None})
    assert got == [
        (
            "deny",
            "MPS001",
            "/metadata/costCenter",
            "model fraud-detector has no metadata.costCenter: every model is charged to a cost center (found null)",
        )
    ]
    ok = run_spec_case(spec_policy, spec_inputs, "fraud-detector", "prod", {"spec.metadata.costCenter": "cc-0001"})
    assert ok == []


def test_mps002_min_replicas(spec_policy, spec_inputs):
    floor = gov(spec_inputs, "staging")["min_replicas"]
    got = run_spec_case(
        spec_policy, spec_inputs, "fraud-detector", "staging", {"spec.spec.serving.replicas.min": floor - 1}
    )
    assert got == [
        (
            "deny",
            "MPS002",
            "/spec/serving/replicas/min",
            f"serving.replicas.min is {floor - 1} in staging; the platform requires at least {floor} "
            "replicas there (governance.min_replicas)",
        )
    ]
    assert (
        run_spec_case(spec_policy, spec_inputs, "fraud-detector", "staging", {"spec.spec.serving.replicas.min": floor})
        == []
    )


def test_mps003_pdb(spec_policy, spec_inputs):
    # governance.min_replicas lowered to 1 so that only the PDB rule speaks
    got = run_spec_case(
        spec_policy,
        spec_inputs,
        "fraud-detector",
        "prod",
        {"spec.spec.serving.replicas.min": 1},
        {"governance.min_replicas": 1},
    )
    assert got == [
        (
            "deny",
            "MPS003",
            "/spec/serving/replicas/min",
            "prod requires a PodDisruptionBudget for serving (governance.require_pdb), which needs "
            "serving.replicas.min >= 2; it is 1",
        )
    ]
    assert (
        run_spec_case(
            spec_policy,
            spec_inputs,
            "fraud-detector",
            "prod",
            {"spec.spec.serving.replicas.min": 2},
            {"governance.min_replicas": 1},
        )
        == []
    )


def test_mps004_critical_rollout(spec_policy, spec_inputs):
    got = run_spec_case(
        spec_policy, spec_inputs, "image-classifier", "prod", {"spec.spec.serving.rollout.analysis": None}
    )
    assert got == [
        (
            "deny",
            "MPS004",
            "/spec/serving/rollout/analysis",
            "image-classifier is tier critical: prod requires rollout analysis so a bad version is rolled "
            "back automatically (governance.require_canary_for_critical); the canary rollout has no "
            "serving.rollout.analysis",
        )
    ]
    got = run_spec_case(
        spec_policy,
        spec_inputs,
        "image-classifier",
        "prod",
        {"spec.spec.serving.rollout.strategy": "rolling", "spec.spec.serving.rollout.steps": []},
    )
    assert [(c, p) for _, c, p, _ in got] == [("MPS004", "/spec/serving/rollout/strategy")]
    ok = run_spec_case(
        spec_policy,
        spec_inputs,
        "image-classifier",
        "prod",
        {"spec.spec.serving.rollout.strategy": "blueGreen", "spec.spec.serving.rollout.steps": []},
    )
    assert ok == []


def test_mps005_promotion_gates(spec_policy, spec_inputs):
    ((metric, minimum),) = gov(spec_inputs, "prod")["min_gates"].items()
    weak = round(minimum - 0.05, 2)
    got = run_spec_case(
        spec_policy,
        spec_inputs,
        "fraud-detector",
        "prod",
        {"spec.spec.registry.gates": [{"metric": metric, "op": ">=", "value": weak}]},
    )
    assert got == [
        (
            "deny",
            "MPS005",
            "/spec/registry/gates/0/value",
            f"gate {metric} >= {weak} is below the platform minimum in prod: {metric} >= {minimum} "
            "(governance.min_gates)",
        )
    ]
    got = run_spec_case(spec_policy, spec_inputs, "fraud-detector", "prod", {"spec.spec.registry.gates": []})
    assert got == [
        (
            "deny",
            "MPS005",
            "/spec/registry/gates",
            f"prod requires a promotion gate {metric} >= {minimum} (governance.min_gates); "
            f"registry.gates has none on {metric}",
        )
    ]
    ok = run_spec_case(
        spec_policy,
        spec_inputs,
        "fraud-detector",
        "prod",
        {"spec.spec.registry.gates": [{"metric": metric, "op": ">=", "value": minimum}]},
    )
    assert ok == []


def test_mps006_manual_sync(spec_policy, spec_inputs):
    got = run_spec_case(spec_policy, spec_inputs, "fraud-detector", "prod", {"argocd.sync": "automated"})
    assert got == [
        (
            "deny",
            "MPS006",
            "/metadata/tier",
            "fraud-detector is tier critical, so its prod Argo CD sync must be manual (an approval step); "
            "it is automated, as configured by the platform config's environment sync and the prod "
            "overlay's argocd.manualForTiers, not by the spec",
        )
    ]
    # a standard-tier model may sync automatically in prod
    inp, _ = spec_inputs[("churn-predictor", "prod")]
    assert inp["argocd"]["sync"] == "automated"
    assert run_spec_case(spec_policy, spec_inputs, "churn-predictor", "prod", {}) == []


def test_mps007_tuning_team_budget(spec_policy, spec_inputs):
    budget = team_cfg(spec_inputs, "fraud-detector")["budget"]["cpu_hours"]
    over = budget + 200
    got = run_spec_case(
        spec_policy,
        spec_inputs,
        "fraud-detector",
        "prod",
        {"spec.spec.tuning.budget.cpuHours": 0, "estimates.tuning.cpuHours": float(over)},
    )
    assert got == [
        (
            "deny",
            "MPS007",
            "/spec/tuning/trials",
            f"tuning estimate of {over:g} CPU-hours (60 trials x 0.5 h) exceeds team payments-risk's budget "
            f"of {budget:g} CPU-hours per study (teams.payments-risk.budget.cpu_hours)",
        )
    ]
    ok = run_spec_case(
        spec_policy,
        spec_inputs,
        "fraud-detector",
        "prod",
        {"spec.spec.tuning.budget.cpuHours": 0, "estimates.tuning.cpuHours": float(budget)},
    )
    assert ok == []


def test_mps008_tuning_spec_budget(spec_policy, spec_inputs):
    inp, _ = spec_inputs[("image-classifier", "prod")]
    est = inp["estimates"]["tuning"]["gpuHours"]
    got = run_spec_case(spec_policy, spec_inputs, "image-classifier", "prod", {"spec.spec.tuning.budget.gpuHours": 30})
    assert got == [
        (
            "warn",
            "MPS008",
            "/spec/tuning/budget/gpuHours",
            f"tuning estimate of {est:g} GPU-hours (24 trials x 1.5 h) exceeds the spec's own budget of "
            "30 GPU-hours (tuning.budget.gpuHours)",
        )
    ]
    assert (
        run_spec_case(spec_policy, spec_inputs, "image-classifier", "prod", {"spec.spec.tuning.budget.gpuHours": est})
        == []
    )


def test_mps009_max_replicas(spec_policy, spec_inputs):
    limit = team_cfg(spec_inputs, "image-classifier")["limits"]["max_replicas"]
    got = run_spec_case(
        spec_policy, spec_inputs, "image-classifier", "prod", {"spec.spec.serving.replicas.max": limit + 1}
    )
    assert got == [
        (
            "deny",
            "MPS009",
            "/spec/serving/replicas/max",
            f"serving.replicas.max is {limit + 1}; team vision may run at most {limit} replicas per model "
            "(teams.vision.limits.max_replicas)",
        )
    ]
    assert (
        run_spec_case(spec_policy, spec_inputs, "image-classifier", "prod", {"spec.spec.serving.replicas.max": limit})
        == []
    )


def test_mps010_gpus_per_pod(spec_policy, spec_inputs):
    limit = team_cfg(spec_inputs, "image-classifier")["limits"]["max_gpus_per_pod"]
    got = run_spec_case(
        spec_policy, spec_inputs, "image-classifier", "prod", {"spec.spec.training.resources.gpu": limit + 1}
    )
    assert got == [
        (
            "deny",
            "MPS010",
            "/spec/training/resources/gpu",
            f"training.resources.gpu is {limit + 1}; team vision may use at most {limit} GPUs per pod "
            "(teams.vision.limits.max_gpus_per_pod)",
        )
    ]
    assert (
        run_spec_case(spec_policy, spec_inputs, "image-classifier", "prod", {"spec.spec.serving.resources.gpu": limit})
        == []
    )


def test_mps011_max_trials(spec_policy, spec_inputs):
    limit = team_cfg(spec_inputs, "churn-predictor")["limits"]["max_trials"]
    got = run_spec_case(spec_policy, spec_inputs, "churn-predictor", "prod", {"spec.spec.tuning.trials": limit + 1})
    assert got == [
        (
            "deny",
            "MPS011",
            "/spec/tuning/trials",
            f"tuning.trials is {limit + 1}; team growth may run at most {limit} trials per study "
            "(teams.growth.limits.max_trials)",
        )
    ]
    assert run_spec_case(spec_policy, spec_inputs, "churn-predictor", "prod", {"spec.spec.tuning.trials": limit}) == []


def test_mps012_drift(spec_policy, spec_inputs):
    got = run_spec_case(spec_policy, spec_inputs, "fraud-detector", "prod", {"spec.spec.monitoring.drift": None})
    assert got == [
        (
            "deny",
            "MPS012",
            "/spec/monitoring/drift",
            "fraud-detector is tier critical and declares features: prod requires drift monitoring "
            "(governance.require_drift_for_critical); spec.monitoring.drift is not set",
        )
    ]
    # image-classifier is critical too, but declares no features: nothing to watch
    inp, _ = spec_inputs[("image-classifier", "prod")]
    assert inp["spec"]["spec"]["features"] is None and inp["spec"]["spec"]["monitoring"]["drift"] is None
    assert run_spec_case(spec_policy, spec_inputs, "image-classifier", "prod", {}) == []


def test_mps013_slo(spec_policy, spec_inputs):
    got = run_spec_case(spec_policy, spec_inputs, "image-classifier", "prod", {"spec.spec.monitoring.slo": None})
    assert got == [
        (
            "deny",
            "MPS013",
            "/spec/monitoring/slo",
            "image-classifier is tier critical and serves: prod requires an SLO for its burn-rate alerts "
            "(governance.require_drift_for_critical); spec.monitoring.slo is not set",
        )
    ]
    # the same spec is fine where the platform does not ask for it
    assert (
        run_spec_case(spec_policy, spec_inputs, "image-classifier", "staging", {"spec.spec.monitoring.slo": None}) == []
    )


def test_mps014_training_image_pinned(spec_policy, spec_inputs):
    image = "registry.example.com/payments/fraud-train:latest"
    got = run_spec_case(spec_policy, spec_inputs, "fraud-detector", "staging", {"spec.spec.training.image": image})
    assert got == [
        (
            "deny",
            "MPS014",
            "/spec/training/image",
            f"training.image {image} is not pinned; staging requires a release tag (e.g. :1.4.2) or a digest "
            "(@sha256:...), never latest, a branch name or no tag (governance.require_pinned_images)",
        )
    ]
    assert run_spec_case(spec_policy, spec_inputs, "fraud-detector", "dev", {"spec.spec.training.image": image}) == []
    digest = "registry.example.com/payments/fraud-train@sha256:" + "0" * 64
    assert run_spec_case(spec_policy, spec_inputs, "fraud-detector", "prod", {"spec.spec.training.image": digest}) == []


def test_mps015_training_image_registry(spec_policy, spec_inputs, workspace):
    image = "docker.io/library/python:3.12"
    got = run_spec_case(spec_policy, spec_inputs, "fraud-detector", "dev", {"spec.spec.training.image": image})
    allowed = ", ".join(workspace.platforms["dev"].registries)
    assert got == [
        (
            "deny",
            "MPS015",
            "/spec/training/image",
            f"training.image {image} is not from an allowed registry ({allowed})",
        )
    ]
    ok = run_spec_case(
        spec_policy,
        spec_inputs,
        "fraud-detector",
        "dev",
        {"spec.spec.training.image": "ghcr.io/acme-ml/payments/fraud-train:1.5.0"},
    )
    assert ok == []


def test_mps016_waivers(spec_policy, spec_inputs):
    waiver = {"rule": "MPS02", "reason": "traffic migration, see OPS-123", "until": "2026-12-10", "ticket": "OPS-123"}
    got = run_spec_case(spec_policy, spec_inputs, "fraud-detector", "prod", {"spec.metadata.waivers": [waiver]})
    assert got == [
        ("deny", "MPS016", "/metadata/waivers/0/rule", 'waiver names rule "MPS02", which is not a Maestro policy code')
    ]
    ok = run_spec_case(
        spec_policy, spec_inputs, "fraud-detector", "prod", {"spec.metadata.waivers": [{**waiver, "rule": "MPS002"}]}
    )
    assert ok == []


def test_mps017_prod_serves_locked_versions(spec_policy, spec_inputs):
    # Every shipped model that serves in prod has a committed lock; dev and staging follow aliases.
    for (model, env), (inp, cfg) in spec_inputs.items():
        serves = inp["spec"]["spec"]["serving"] is not None
        assert (inp["lock"] is not None) == (serves and env == "prod"), (model, env)
        assert cfg["governance"]["require_lock"] == (env == "prod")
    inp, cfg = spec_case(spec_inputs, "fraud-detector", "prod")
    inp["lock"] = None
    assert summary(check_spec(spec_policy, inp, cfg)) == [
        (
            "deny",
            "MPS017",
            "/spec/registry/serve",
            "fraud-detector serves in prod without a locked model version: serving would resolve alias champion "
            "when a pod starts (governance.require_lock)",
        )
    ]
    inp, cfg = spec_case(spec_inputs, "fraud-detector", "staging")
    assert inp["lock"] is None and check_spec(spec_policy, inp, cfg) == []


def test_mps000_missing_config(spec_policy, spec_inputs):
    inp, _ = spec_case(spec_inputs, "fraud-detector", "prod")
    got = summary(spec_policy.check(inp, "maestro.spec"))
    assert [(k, c, p) for k, c, p, _ in got] == [("deny", "MPS000", "/metadata/name")] * 3


# ---------------------------------------------------------------- resource scope, rule by rule


def label(obj: dict[str, Any]) -> str:
    return f"{obj['kind']} {obj['metadata']['name']}"


def test_mpk001_registry(k8s_policy, workspace):
    obj = launched("prod", "image-classifier", "image-classifier-train-job")
    assert obj["kind"] == "TrainJob"
    image = "docker.io/pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"
    obj["spec"]["trainer"]["image"] = image
    allowed = ", ".join(workspace.platforms["prod"].registries)
    assert summary(check_k8s(k8s_policy, workspace, obj)) == [
        (
            "deny",
            "MPK001",
            "/spec/trainer/image",
            f'container "node" of {label(obj)} uses image {image}, which is not from an allowed registry ({allowed})',
        )
    ]
    assert check_k8s(k8s_policy, workspace, launched("prod", "image-classifier", "image-classifier-train-job")) == []


def test_mpk001_embedded_job(k8s_policy, workspace):
    cm = rendered("prod", "fraud-detector", "ConfigMap", "fraud-detector-train-job")
    cm["data"]["job.yaml"] = cm["data"]["job.yaml"].replace("registry.example.com/payments/", "quay.io/someone/")
    got = summary(check_k8s(k8s_policy, workspace, cm))
    assert {(c, p) for _, c, p, _ in got} == {("MPK001", "/data/job.yaml")}
    assert len(got) == 1  # the TrainJob's one trainer
    assert got[0][3].startswith(
        f'container "node" of TrainJob fraud-detector-train- (embedded in {label(cm)}, data["job.yaml"]) at /spec/trainer'
    )


def test_mpk002_pinned(k8s_policy, workspace):
    obj = rendered("prod", "fraud-detector", "CronJob", "fraud-detector-train")
    image = "registry.example.com/platform/kubectl:latest"
    obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"] = image
    assert summary(check_k8s(k8s_policy, workspace, obj)) == [
        (
            "deny",
            "MPK002",
            "/spec/jobTemplate/spec/template/spec/containers/0/image",
            f'container "launcher" of {label(obj)} uses image {image}, which is not pinned: prod requires a tag other '
            "than latest or a digest (governance.require_pinned_images)",
        )
    ]
    assert check_k8s(k8s_policy, workspace, obj, env="dev") == []  # dev allows latest


def test_mpk003_resources(k8s_policy, workspace):
    obj = rendered("prod", "fraud-detector", "InferenceService", "fraud-detector")
    del obj["spec"]["predictor"]["model"]["resources"]["limits"]
    assert summary(check_k8s(k8s_policy, workspace, obj)) == [
        (
            "deny",
            "MPK003",
            "/spec/predictor/model/resources",
            f'container "model" of {label(obj)} does not set resources.limits.memory',
        )
    ]
    assert (
        check_k8s(k8s_policy, workspace, rendered("prod", "fraud-detector", "InferenceService", "fraud-detector")) == []
    )


def test_mpk004_run_as_non_root(k8s_policy, workspace):
    obj = rendered("prod", "churn-predictor", "Rollout", "churn-predictor")
    pod = obj["spec"]["template"]["spec"]
    pod["securityContext"]["runAsNonRoot"] = False
    del pod["containers"][0]["securityContext"]["runAsNonRoot"]
    assert summary(check_k8s(k8s_policy, workspace, obj)) == [
        (
            "deny",
            "MPK004",
            "/spec/template/spec/securityContext/runAsNonRoot",
            f'container "mlserver" of {label(obj)} may run as root: runAsNonRoot is false (pod securityContext) '
            "(it must be true on the container or the pod securityContext)",
        )
    ]
    pod["securityContext"]["runAsNonRoot"] = True  # inherited from the pod: fine
    assert check_k8s(k8s_policy, workspace, obj) == []


def test_mpk005_privilege_escalation(k8s_policy, workspace):
    obj = launched("prod", "image-classifier", "image-classifier-train-job")
    pod = obj["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]
    pod["template"]["spec"]["template"]["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    assert summary(check_k8s(k8s_policy, workspace, obj)) == [
        (
            "deny",
            "MPK005",
            f"{NODE_POD}/containers/0/securityContext/allowPrivilegeEscalation",
            f'container "node" of {label(obj)} allows privilege escalation: allowPrivilegeEscalation is true '
            "(it must be false)",
        )
    ]
    assert check_k8s(k8s_policy, workspace, launched("prod", "image-classifier", "image-classifier-train-job")) == []


def test_mpk006_read_only_root(k8s_policy, workspace):
    obj = rendered("prod", "demand-forecaster", "CronJob", "demand-forecaster-train")
    del obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["securityContext"][
        "readOnlyRootFilesystem"
    ]
    assert summary(check_k8s(k8s_policy, workspace, obj)) == [
        (
            "deny",
            "MPK006",
            "/spec/jobTemplate/spec/template/spec/containers/0/securityContext",
            f'container "train" of {label(obj)} has a writable root filesystem: readOnlyRootFilesystem is not set '
            "(it must be true)",
        )
    ]
    assert (
        check_k8s(k8s_policy, workspace, rendered("prod", "demand-forecaster", "CronJob", "demand-forecaster-train"))
        == []
    )


def test_mpk007_host_path(k8s_policy, workspace):
    obj = rendered("prod", "fraud-detector", "InferenceService", "fraud-detector")
    obj["spec"]["predictor"]["volumes"].append({"name": "models", "hostPath": {"path": "/mnt/models"}})
    assert summary(check_k8s(k8s_policy, workspace, obj)) == [
        (
            "deny",
            "MPK007",
            "/spec/predictor/volumes/1/hostPath",
            f'pod spec of {label(obj)} mounts hostPath /mnt/models (volume "models"); pods must not use the node\'s '
            "filesystem",
        )
    ]
    obj["spec"]["predictor"]["volumes"][1] = {"name": "models", "emptyDir": {}}
    assert check_k8s(k8s_policy, workspace, obj) == []


def test_mpk008_host_namespaces(k8s_policy, workspace):
    obj = rendered("prod", "recsys-ranker", "CronJob", "recsys-ranker-train")
    obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["hostNetwork"] = True
    assert summary(check_k8s(k8s_policy, workspace, obj)) == [
        (
            "deny",
            "MPK008",
            "/spec/jobTemplate/spec/template/spec/hostNetwork",
            f"pod spec of {label(obj)} sets hostNetwork: true; pods must not share the node's namespaces",
        )
    ]
    obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["hostNetwork"] = False
    assert check_k8s(k8s_policy, workspace, obj) == []


def test_mpk009_secret_object(k8s_policy, workspace):
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "feature-db",
            "namespace": "payments-risk-prod",
            "labels": {"app.kubernetes.io/managed-by": "maestro", "app.kubernetes.io/part-of": "payments-risk"},
        },
        "type": "Opaque",
        "stringData": {"password": "hunter2"},
    }
    assert summary(check_k8s(k8s_policy, workspace, secret)) == [
        (
            "deny",
            "MPK009",
            "/kind",
            "Secret feature-db is a Kubernetes Secret in the rendered tree; secrets come only from Vault",
        )
    ]
    vault_ref = {
        **secret,
        "apiVersion": "secrets.hashicorp.com/v1beta1",
        "kind": "VaultStaticSecret",
        "spec": {"mount": "secret", "path": "payments/fraud/feature-db", "type": "kv-v2"},
    }
    del vault_ref["stringData"], vault_ref["type"]
    assert check_k8s(k8s_policy, workspace, vault_ref) == []


def test_mpk010_literal_credentials(k8s_policy, workspace):
    obj = rendered("prod", "sentiment-bert", "InferenceService", "sentiment-bert")
    env = obj["spec"]["predictor"]["model"]["env"]
    env.append({"name": "HF_TOKEN", "value": "hf_not_a_real_token"})
    assert summary(check_k8s(k8s_policy, workspace, obj)) == [
        (
            "deny",
            "MPK010",
            f"/spec/predictor/model/env/{len(env) - 1}/value",
            f'container "model" of {label(obj)} sets HF_TOKEN to a literal value; credentials must come from Vault '
            "through valueFrom.secretKeyRef (the value is not shown here)",
        )
    ]
    env[-1] = {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-sentiment-bert", "key": "token"}}}
    env.append({"name": "TOKENIZERS_PARALLELISM", "value": "false"})
    assert check_k8s(k8s_policy, workspace, obj) == []


def test_mpk011_peer_authentication(k8s_policy, workspace):
    obj = rendered("staging", "fraud-detector", "PeerAuthentication", "fraud-detector")
    obj["spec"]["mtls"]["mode"] = "PERMISSIVE"
    assert summary(check_k8s(k8s_policy, workspace, obj, env="staging")) == [
        (
            "deny",
            "MPK011",
            "/spec/mtls/mode",
            f"{label(obj)} sets mTLS mode PERMISSIVE; staging requires STRICT (governance.require_mtls)",
        )
    ]
    assert check_k8s(k8s_policy, workspace, obj, env="dev") == []  # dev does not require mTLS


def test_mpk012_destination_rule_tls(k8s_policy, workspace):
    obj = rendered("prod", "fraud-detector", "DestinationRule", "fraud-detector")
    obj["spec"]["trafficPolicy"]["tls"]["mode"] = "DISABLE"
    assert summary(check_k8s(k8s_policy, workspace, obj)) == [
        (
            "deny",
            "MPK012",
            "/spec/trafficPolicy/tls/mode",
            f"{label(obj)} disables TLS at spec.trafficPolicy (tls.mode: DISABLE); prod requires mTLS between workloads "
            "(governance.require_mtls)",
        )
    ]
    obj["spec"]["trafficPolicy"]["tls"]["mode"] = "ISTIO_MUTUAL"
    assert check_k8s(k8s_policy, workspace, obj) == []


def test_mpk013_labels(k8s_policy, workspace):
    obj = rendered("prod", "fraud-detector", "NetworkPolicy", "fraud-detector-default-deny")
    del obj["metadata"]["labels"]["app.kubernetes.io/part-of"]
    got = summary(
        k8s_policy.check(
            obj,
            "main",
            data=k8s_data(
                workspace, "prod", rendered("prod", "fraud-detector", "NetworkPolicy", "fraud-detector-default-deny")
            ),
        )
    )
    assert got == [
        ("warn", "MPK013", "/metadata/labels", f"{label(obj)} lacks the recommended labels app.kubernetes.io/part-of")
    ]
    assert (
        check_k8s(
            k8s_policy, workspace, rendered("prod", "fraud-detector", "NetworkPolicy", "fraud-detector-default-deny")
        )
        == []
    )


def test_mpk014_probes(k8s_policy, workspace):
    obj = rendered("dev", "churn-predictor", "Deployment", "churn-predictor")
    del obj["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert summary(check_k8s(k8s_policy, workspace, obj, env="dev")) == [
        (
            "warn",
            "MPK014",
            "/spec/template/spec/containers/0",
            f'container "mlserver" of {label(obj)} serves traffic without readinessProbe',
        )
    ]
    assert (
        check_k8s(k8s_policy, workspace, rendered("dev", "churn-predictor", "Deployment", "churn-predictor"), env="dev")
        == []
    )


def test_mpk_waiver_annotation(k8s_policy, workspace):
    obj = rendered("prod", "churn-predictor", "Rollout", "churn-predictor")
    obj["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    obj["metadata"]["annotations"]["maestro.ml/waivers"] = "MPK006"
    assert summary(check_k8s(k8s_policy, workspace, obj)) == [
        (
            "exception",
            None,
            None,
            "data.main.deny_writable_root_fs skipped by data.main.exception (1 result suppressed)",
        )
    ]
    obj["metadata"]["annotations"]["maestro.ml/waivers"] = "MPK010"  # not waivable: no effect
    assert [f.code for f in check_k8s(k8s_policy, workspace, obj)] == ["MPK006"]


def test_mpk000_missing_config(k8s_policy):
    obj = rendered("prod", "fraud-detector", "ServiceAccount", "fraud-detector")
    got = summary(k8s_policy.check(obj, "main"))
    assert [(k, c, p) for k, c, p, _ in got] == [("deny", "MPK000", "")] * 2


def test_results_are_json_objects_with_the_contract_keys(k8s_policy, workspace):
    obj = rendered("prod", "fraud-detector", "InferenceService", "fraud-detector")
    obj["spec"]["predictor"]["hostNetwork"] = True
    (f,) = check_k8s(k8s_policy, workspace, obj)
    assert json.loads(json.dumps({"msg": f.msg, "code": f.code, "path": f.path, **f.details}))
    assert set(f.details) == {"hint"}
    assert resolve(obj, f.path) is True
