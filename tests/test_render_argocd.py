"""gitops: AppProjects and Applications per environment from the repository's own specs, and sync waves."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

import pytest

from conftest import CRD_SCHEMAS, ROOT
from maestro.frontend.spec import Spec
from maestro.output.verify import Verifier
from maestro.pipeline import check_file
from maestro.render import SYNC_WAVE, Context, standard_labels
from maestro.render.argocd import (
    HOOK,
    NAMESPACE_RESOURCE_BLACKLIST,
    RESOURCES_FINALIZER,
    WAVES,
    ModelRef,
    render_env,
    sync_mode,
    sync_wave,
)
from maestro.resolve.overlay import Overlay
from maestro.resolve.workspace import Workspace, discover, open_workspace

PROD_OVERLAY = Overlay.model_validate(
    {
        "apiVersion": "maestro.ml/v1alpha1",
        "kind": "Overlay",
        "environment": "prod",
        "argocd": {"sync": "automated", "manualForTiers": ["critical"]},
    }
)


@pytest.fixture(scope="module")
def ws() -> Workspace:
    workspace, diags = open_workspace(ROOT)
    assert workspace is not None, diags
    return workspace


@pytest.fixture(scope="module")
def specs(ws: Workspace) -> dict[str, tuple[Spec, str]]:
    """model name -> (spec as written, spec path relative to the root)."""
    out = {}
    for path in discover(ROOT):
        display = str(path.relative_to(ROOT))
        checked = check_file(path, display, ws.inputs, root=ROOT)
        assert checked.spec is not None, checked.diagnostics
        out[checked.spec.metadata.name] = (checked.spec, display)
    assert len(out) >= 6
    return out


def refs(ws: Workspace, specs: dict[str, tuple[Spec, str]], env: str, overlay: Overlay | None) -> list[ModelRef]:
    environment = ws.platforms[env].environments[env]
    out = []
    for spec, source in specs.values():
        meta = spec.metadata
        out.append(
            ModelRef(
                name=meta.name,
                team=meta.team,
                tier=meta.tier,
                namespace=environment.namespace.format(team=meta.team, model=meta.name, env=env),
                source=source,
                sync=sync_mode(environment.sync, overlay, meta.tier),
                owners=tuple(meta.owners),
            )
        )
    return out


def by_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


ENVS = ["dev", "staging", "prod"]


# ------------------------------------------------------------------ sync mode


@pytest.mark.parametrize(
    ("platform_sync", "overlay_argocd", "tier", "expected"),
    [
        ("automated", None, "critical", "automated"),  # no overlay: the platform's
        ("manual", None, "experimental", "manual"),
        ("manual", {}, "standard", "manual"),  # overlay without a sync: still the platform's
        ("manual", {"sync": "automated"}, "standard", "automated"),  # the overlay's wins
        ("automated", {"sync": "manual"}, "standard", "manual"),
        ("automated", {"sync": "automated", "manualForTiers": ["critical"]}, "critical", "manual"),
        ("automated", {"sync": "automated", "manualForTiers": ["critical"]}, "standard", "automated"),
        ("automated", {"manualForTiers": ["critical", "standard"]}, "standard", "manual"),
    ],
)
def test_sync_mode(platform_sync: str, overlay_argocd: dict[str, Any] | None, tier: str, expected: str) -> None:
    overlay = (
        None
        if overlay_argocd is None
        else Overlay.model_validate(
            {"apiVersion": "maestro.ml/v1alpha1", "kind": "Overlay", "environment": "prod", "argocd": overlay_argocd}
        )
    )
    assert sync_mode(platform_sync, overlay, tier) == expected


# ------------------------------------------------------------------ projects and applications


@pytest.mark.parametrize("env", ENVS)
def test_one_project_per_team_and_one_application_per_model(
    ws: Workspace, specs: dict[str, tuple[Spec, str]], env: str
) -> None:
    platform = ws.platforms[env]
    out = render_env(env, platform, ws.overlays.get(env), refs(ws, specs, env, ws.overlays.get(env)))
    teams = {spec.metadata.team for spec, _ in specs.values()}
    projects, apps = by_kind(out, "AppProject"), by_kind(out, "Application")
    assert sorted(projects) == sorted(f"{team}-{env}" for team in teams)  # the config's pattern is {team}-{env}
    assert sorted(apps) == sorted(f"{model}-{env}" for model in specs)
    assert len(out) == len(projects) + len(apps)
    # Nothing cluster-scoped, everything in Argo CD's namespace, projects before applications.
    assert all(r["apiVersion"] == "argoproj.io/v1alpha1" for r in out)
    assert all(r["metadata"]["namespace"] == platform.gitops.argocd_namespace for r in out)
    assert [r["kind"] for r in out] == ["AppProject"] * len(projects) + ["Application"] * len(apps)
    assert int(out[0]["metadata"]["annotations"][SYNC_WAVE]) < int(out[-1]["metadata"]["annotations"][SYNC_WAVE])


def test_prod_critical_models_sync_manually(ws: Workspace, specs: dict[str, tuple[Spec, str]]) -> None:
    out = render_env("prod", ws.platforms["prod"], PROD_OVERLAY, refs(ws, specs, "prod", PROD_OVERLAY))
    apps = by_kind(out, "Application")
    critical = {name for name, (spec, _) in specs.items() if spec.metadata.tier == "critical"}
    assert critical == {"fraud-detector", "image-classifier"}
    for name, app in apps.items():
        policy = app["spec"]["syncPolicy"]
        model = app["metadata"]["labels"]["maestro.ml/model"]
        if model in critical:
            assert "automated" not in policy, name
        else:
            assert policy["automated"] == {"prune": True, "selfHeal": True}, name
        # Manual or not, a sync retries (until the platform layer has created the namespace).
        assert policy["retry"]["limit"] > 0 and policy["retry"]["backoff"]["factor"] >= 2
    # Without the overlay, prod follows the platform config (manual for every tier).
    plain = by_kind(render_env("prod", ws.platforms["prod"], None, refs(ws, specs, "prod", None)), "Application")
    assert ws.platforms["prod"].environments["prod"].sync == "manual"
    assert all("automated" not in app["spec"]["syncPolicy"] for app in plain.values())
    # dev is automated everywhere.
    dev = by_kind(render_env("dev", ws.platforms["dev"], None, refs(ws, specs, "dev", None)), "Application")
    assert all(app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True} for app in dev.values())


@pytest.mark.parametrize("env", ENVS)
def test_applications_point_at_the_rendered_folder_and_the_model_namespace(
    ws: Workspace, specs: dict[str, tuple[Spec, str]], env: str
) -> None:
    platform = ws.platforms[env]
    models = refs(ws, specs, env, None)
    out = render_env(env, platform, None, models)
    projects, apps = by_kind(out, "AppProject"), by_kind(out, "Application")
    for ref in models:
        app = apps[f"{ref.name}-{env}"]
        spec = specs[ref.name][0]
        assert app["spec"]["source"] == {
            "repoURL": platform.gitops.repo_url,
            "targetRevision": platform.gitops.target_revision,
            "path": f"rendered/{env}/{ref.name}",
        }
        assert app["spec"]["destination"] == {"server": platform.environments[env].cluster, "namespace": ref.namespace}
        assert app["spec"]["project"] == f"{ref.team}-{env}"
        assert app["metadata"]["annotations"]["maestro.ml/source"] == f"specs/{ref.name}/maestro.yaml"
        assert app["metadata"]["finalizers"] == [RESOURCES_FINALIZER]
        assert {"name": "owners", "value": ", ".join(spec.metadata.owners)} in app["spec"]["info"]
        # The Application's name is the instance label every rendered object carries.
        ctx = Context(env=env, platform=platform, namespace=ref.namespace, source=ref.source, sync=ref.sync)
        assert app["metadata"]["name"] == standard_labels(spec, ctx, "serving")["app.kubernetes.io/instance"]
        # The project allows exactly where the application deploys.
        destinations = projects[app["spec"]["project"]]["spec"]["destinations"]
        assert app["spec"]["destination"] in destinations


def test_projects_allow_only_the_teams_namespaces(ws: Workspace, specs: dict[str, tuple[Spec, str]]) -> None:
    env = "staging"
    models = refs(ws, specs, env, None)
    fraud = next(m for m in models if m.name == "fraud-detector")
    # A second model of the same team shares its namespace; a third lives in a namespace of its own.
    models += [
        dataclasses.replace(fraud, name="fraud-shadow", source="specs/fraud-shadow/maestro.yaml"),
        dataclasses.replace(
            fraud, name="fraud-batch", namespace="payments-risk-batch-staging", source="specs/fraud-batch/maestro.yaml"
        ),
    ]
    out = render_env(env, ws.platforms[env], None, models)
    cluster = ws.platforms[env].environments[env].cluster
    for name, project in by_kind(out, "AppProject").items():
        spec = project["spec"]
        team = project["metadata"]["labels"]["maestro.ml/team"]
        expected = sorted({m.namespace for m in models if m.team == team})
        assert spec["destinations"] == [{"server": cluster, "namespace": ns} for ns in expected], name
        assert spec["sourceRepos"] == [ws.platforms[env].gitops.repo_url]
        # Nothing cluster-scoped: the platform layer owns the namespaces (and no `name` restriction,
        # which only Argo CD >= 3.3 enforces, is needed).
        assert "clusterResourceWhitelist" not in spec
        assert "clusterResourceBlacklist" not in spec and "namespaceResourceWhitelist" not in spec
        assert "*" not in json.dumps(spec)  # no wildcard anywhere
        blacklisted = {(item["group"], item["kind"]) for item in spec["namespaceResourceBlacklist"]}
        assert {("", "ResourceQuota"), ("", "LimitRange")} <= blacklisted
        assert not {kind for _, kind in blacklisted} & {
            "NetworkPolicy",
            "Role",
            "RoleBinding",
            "ServiceAccount",
            "ConfigMap",
            "Service",
        }  # Maestro renders these
        assert spec["orphanedResources"]["warn"] is True
        assert project["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "maestro"
    payments = by_kind(out, "AppProject")["payments-risk-staging"]["spec"]["destinations"]
    assert [d["namespace"] for d in payments] == ["payments-risk-batch-staging", "payments-risk-staging"]


@pytest.mark.parametrize("env", ENVS)
def test_model_applications_neither_create_nor_label_their_namespace(
    ws: Workspace, specs: dict[str, tuple[Spec, str]], env: str
) -> None:
    """Issue 13: the platform layer owns namespaces (PSA and mesh labels, quota); an Application
    creating one would race it for the labels and apply none of them."""
    for overlay in (None, ws.overlays.get(env)):
        apps = by_kind(render_env(env, ws.platforms[env], overlay, refs(ws, specs, env, overlay)), "Application")
        for name, app in apps.items():
            policy = app["spec"]["syncPolicy"]
            assert not [o for o in policy["syncOptions"] if o.startswith("CreateNamespace")], name
            assert "managedNamespaceMetadata" not in policy, name


def test_the_platform_application_comes_first(ws: Workspace, specs: dict[str, tuple[Spec, str]]) -> None:
    env = "prod"
    layer = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments-risk-prod"}},
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "payments-risk-prod-budget", "namespace": "payments-risk-prod"},
        },
    ]
    out = render_env(env, ws.platforms[env], PROD_OVERLAY, refs(ws, specs, env, PROD_OVERLAY), layer)
    waves = [(r["kind"], r["metadata"]["name"], int(r["metadata"]["annotations"][SYNC_WAVE])) for r in out]
    assert waves[:2] == [("AppProject", "maestro-platform-prod", -3), ("Application", "platform-prod", -2)]
    assert all(wave >= -1 for _, _, wave in waves[2:])
    project, app = out[0]["spec"], out[1]["spec"]
    cluster = ws.platforms[env].environments[env].cluster
    assert app["project"] == "maestro-platform-prod" and app["source"]["path"] == "rendered/prod/platform"
    # Its objects name their namespaces; the Application's own destination names none.
    assert app["destination"] == {"server": cluster}
    assert project["destinations"] == [
        {"server": cluster, "namespace": ""},
        {"server": cluster, "namespace": "payments-risk-prod"},
    ]
    assert project["clusterResourceWhitelist"] == [
        {"group": "", "kind": "Namespace"},
        {"group": "scheduling.k8s.io", "kind": "PriorityClass"},
        {"group": "serving.kserve.io", "kind": "ClusterStorageContainer"},
    ]
    assert project["namespaceResourceWhitelist"] == [
        {"group": "", "kind": "ConfigMap"},  # kube-state-metrics' config for Kubeflow runs (platform.py)
        {"group": "", "kind": "LimitRange"},
        {"group": "", "kind": "ResourceQuota"},
    ]
    # Without a platform layer there is nothing to sync.
    bare = render_env(env, ws.platforms[env], PROD_OVERLAY, refs(ws, specs, env, PROD_OVERLAY))
    assert "platform-prod" not in by_kind(bare, "Application")


@pytest.mark.parametrize("env", ENVS)
def test_every_object_passes_its_schema(ws: Workspace, specs: dict[str, tuple[Spec, str]], env: str) -> None:
    verifier = Verifier(ws.platform.kubernetes_version)
    for overlay in (None, ws.overlays.get(env), PROD_OVERLAY if env == "prod" else None):
        for resource in render_env(env, ws.platforms[env], overlay, refs(ws, specs, env, overlay)):
            assert verifier.verify(resource) == [], resource["metadata"]["name"]


@pytest.mark.parametrize("env", ENVS)
def test_output_does_not_depend_on_the_order_of_models(
    ws: Workspace, specs: dict[str, tuple[Spec, str]], env: str
) -> None:
    models = refs(ws, specs, env, PROD_OVERLAY if env == "prod" else None)
    overlay = PROD_OVERLAY if env == "prod" else None
    # json.dumps without sort_keys: key order is part of the emitted YAML.
    expected = json.dumps(render_env(env, ws.platforms[env], overlay, models))
    rng = random.Random(20261126)
    for _ in range(5):
        shuffled = models[:]
        rng.shuffle(shuffled)
        assert json.dumps(render_env(env, ws.platforms[env], overlay, shuffled)) == expected
    assert json.dumps(render_env(env, ws.platforms[env], overlay, models[::-1])) == expected


def test_no_models_no_objects(ws: Workspace) -> None:
    assert render_env("dev", ws.platforms["dev"], None, []) == []


def test_caller_mistakes_are_errors(ws: Workspace, specs: dict[str, tuple[Spec, str]]) -> None:
    models = refs(ws, specs, "dev", None)
    with pytest.raises(ValueError, match="appears twice"):
        render_env("dev", ws.platforms["dev"], None, models + [models[0]])
    with pytest.raises(ValueError, match="not 'dev'"):
        render_env("dev", ws.platforms["dev"], PROD_OVERLAY, models)
    with pytest.raises(ValueError, match="not in the platform config"):
        render_env("qa", ws.platforms["dev"], None, models)


# ------------------------------------------------------------------ sync waves


def res(api_version: str, kind: str, **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "fraud-detector"}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


def wave(api_version: str, kind: str) -> int:
    value = sync_wave(res(api_version, kind))
    assert value is not None, f"{api_version} {kind} has no wave"
    return int(value)


RBAC = [
    ("v1", "ServiceAccount"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("security.istio.io/v1", "PeerAuthentication"),
    ("security.istio.io/v1", "AuthorizationPolicy"),
]
CONFIG = [
    ("v1", "ConfigMap"),
    ("secrets.hashicorp.com/v1beta1", "VaultAuth"),
    ("secrets.hashicorp.com/v1beta1", "VaultStaticSecret"),
    ("redhatcop.redhat.io/v1alpha1", "Policy"),
    ("redhatcop.redhat.io/v1alpha1", "KubernetesAuthEngineRole"),
]
WORKLOADS = [
    ("apps/v1", "Deployment"),
    ("serving.kserve.io/v1beta1", "InferenceService"),
    ("argoproj.io/v1alpha1", "Rollout"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("kubeflow.org/v1", "PyTorchJob"),
    ("kubeflow.org/v1", "TFJob"),
    ("kubeflow.org/v1", "XGBoostJob"),
    ("trainer.kubeflow.org/v1alpha1", "TrainJob"),
]


def test_waves_order_rbac_then_config_then_workloads() -> None:
    assert max(wave(*k) for k in RBAC) < min(wave(*k) for k in CONFIG)
    assert max(wave(*k) for k in CONFIG) < min(wave(*k) for k in WORKLOADS)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (("argoproj.io/v1alpha1", "AnalysisTemplate"), ("argoproj.io/v1alpha1", "Rollout")),
        (("v1", "Service"), ("argoproj.io/v1alpha1", "Rollout")),
        (("networking.istio.io/v1", "VirtualService"), ("argoproj.io/v1alpha1", "Rollout")),
        (("networking.istio.io/v1", "DestinationRule"), ("networking.istio.io/v1", "VirtualService")),
        (
            ("redhatcop.redhat.io/v1alpha1", "KubernetesAuthEngineRole"),
            ("secrets.hashicorp.com/v1beta1", "VaultStaticSecret"),
        ),
        (("secrets.hashicorp.com/v1beta1", "VaultAuth"), ("secrets.hashicorp.com/v1beta1", "VaultStaticSecret")),
        (("v1", "ServiceAccount"), ("redhatcop.redhat.io/v1alpha1", "KubernetesAuthEngineRole")),
        (("secrets.hashicorp.com/v1beta1", "VaultStaticSecret"), ("apps/v1", "Deployment")),
        (("v1", "ConfigMap"), ("batch/v1", "Job")),
    ],
)
def test_what_is_referenced_comes_first(before: tuple[str, str], after: tuple[str, str]) -> None:
    assert wave(*before) < wave(*after)


def test_nothing_waits_on_workload_health() -> None:
    """Argo CD waits for a wave to be healthy before the next one, but not after the last: a canary
    that pauses for an hour, a training job that runs for hours or failed must not hold a sync."""
    last = max(int(w) for w in WAVES.values())
    for api_version, kind in WORKLOADS + [
        ("v1", "PersistentVolumeClaim"),
        ("keda.sh/v1alpha1", "ScaledObject"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("policy/v1", "PodDisruptionBudget"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
    ]:
        assert wave(api_version, kind) == last, kind


def test_hooks_explicit_waves_and_unknown_kinds() -> None:
    assert sync_wave(res("batch/v1", "Job", **{HOOK: "PreSync"})) is None
    assert sync_wave(res("batch/v1", "Job", **{HOOK: "PostSync", SYNC_WAVE: "3"})) is None
    assert sync_wave(res("batch/v1", "Job", **{SYNC_WAVE: "-7"})) == "-7"
    assert sync_wave(res("example.com/v1", "Widget")) is None
    assert sync_wave(res("other.example.com/v1", "Policy")) is None  # the group matters, not only the kind
    assert sync_wave({"kind": "ConfigMap"}) is None  # no apiVersion: the core group is not assumed
    assert sync_wave(res("v1", "ConfigMap")) == WAVES[("", "ConfigMap")]


def test_every_custom_resource_maestro_can_verify_has_a_wave() -> None:
    folder = CRD_SCHEMAS
    argocd_own = {("argoproj.io", "application"), ("argoproj.io", "applicationset"), ("argoproj.io", "appproject")}
    known = {(group, kind.lower()) for group, kind in WAVES}
    missing = sorted(
        f"{path.parent.name}/{path.stem}"
        for path in folder.glob("*/*.json")
        if (path.parent.name, path.stem.rsplit("_", 1)[0]) not in known | argocd_own
    )
    assert missing == []


def test_no_rendered_kind_is_blacklisted_by_the_projects() -> None:
    """Whatever gets a wave is something Maestro renders; the projects must let it through."""
    assert not set(WAVES) & set(NAMESPACE_RESOURCE_BLACKLIST)


def test_application_wave_annotation_is_not_a_hook(ws: Workspace, specs: dict[str, tuple[Spec, str]]) -> None:
    for resource in render_env("dev", ws.platforms["dev"], None, refs(ws, specs, "dev", None)):
        assert HOOK not in resource["metadata"]["annotations"]
        assert sync_wave(resource) == resource["metadata"]["annotations"][SYNC_WAVE]


def test_paths_exist_for_the_example_specs(specs: dict[str, tuple[Spec, str]]) -> None:
    for name, (_, source) in specs.items():
        assert (ROOT / source).is_file() and Path(source).parts[:2] == ("specs", name)


# ------------------------------------------------------------------ what Argo Rollouts owns


def _jq_ignore(expressions: list[str], obj: dict[str, Any]) -> dict[str, Any]:
    """What Argo CD compares once it has deleted the jqPathExpressions' paths (real jq; Argo CD
    runs gojq, which agrees on these path expressions)."""
    import subprocess

    from conftest import require_tool

    jq = require_tool("jq")
    program = " | ".join(f"del({e})" for e in expressions)
    done = subprocess.run([jq, "-c", program], input=json.dumps(obj), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_applications_ignore_what_argo_rollouts_changes_and_nothing_else(
    ws: Workspace, specs: dict[str, tuple[Spec, str]]
) -> None:
    from conftest import example
    from maestro.render import mesh

    [app] = [
        a
        for a in render_env("prod", ws.platforms["prod"], None, refs(ws, specs, "prod", None))
        if a["metadata"]["name"] == "churn-predictor-prod"
    ]
    assert "ApplyOutOfSyncOnly=true" in app["spec"]["syncPolicy"]["syncOptions"]
    ignore = {(r["group"], r["kind"]): r["jqPathExpressions"] for r in app["spec"]["ignoreDifferences"]}
    vs_ignored = ignore[("networking.istio.io", "VirtualService")]
    dr_ignored = ignore[("networking.istio.io", "DestinationRule")]
    # churn-predictor rolls out blue-green through Istio: git has the route at 100/0 ...
    vs, dr = mesh.render(*example("churn-predictor", "prod"))
    # ... and mid-rollout Argo Rollouts has moved the weights, added its mirror route and pinned the subsets.
    live_vs = json.loads(json.dumps(vs))
    primary = live_vs["spec"]["http"][0]
    primary["route"][0]["weight"], primary["route"][1]["weight"] = 0, 100
    mirror = {"host": vs["spec"]["hosts"][0], "subset": "canary"}
    live_vs["spec"]["http"].insert(
        0, {"name": "preview-mirror", "match": [{"uri": {"prefix": "/"}}], "route": primary["route"], "mirror": mirror}
    )
    live_dr = json.loads(json.dumps(dr))
    for subset, rs_hash in zip(live_dr["spec"]["subsets"], ("6f8b7d9c5", "7c9d5b8f4"), strict=True):
        subset["labels"]["rollouts-pod-template-hash"] = rs_hash
    assert _jq_ignore(vs_ignored, live_vs) == _jq_ignore(vs_ignored, vs)
    assert _jq_ignore(dr_ignored, live_dr) == _jq_ignore(dr_ignored, dr) == dr
    # An A/B test's route is Maestro's alone: a change to it still shows.
    [ab] = [o for o in mesh.render(*example("fraud-detector", "prod")) if o["kind"] == "VirtualService"]
    edited = json.loads(json.dumps(ab))
    edited["spec"]["http"][0]["route"][0]["weight"] = 50
    assert _jq_ignore(vs_ignored, edited) != _jq_ignore(vs_ignored, ab)
