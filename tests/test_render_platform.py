"""The platform layer (rendered/<env>/platform/): namespaces with Pod Security and mesh labels,
quota and defaults from the team budgets, the priority classes pods use, and the storage
container for `models:/` URIs, which a real MLflow server serves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from conftest import ROOT, example_workspace
from maestro.render.argocd import ModelRef
from maestro.render.platform import DOWNLOAD, Uses, render_env, uses_of
from maestro.resolve.config import Platform
from mlflow_server import mlflow_server, require_mlflow  # noqa: F401 - the fixture

RENDERED = ROOT / "rendered"


def committed(env: str) -> dict[str, dict[str, Any]]:
    """`<Kind>/<name>` -> object of the committed platform folder (test_render_tree keeps it current)."""
    out = {}
    for f in sorted((RENDERED / env / "platform").glob("*.yaml")):
        if f.name != "kustomization.yaml":
            doc = YAML(typ="safe").load(f.read_text())
            out[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return out


def platform(env: str, **changes: Any) -> Platform:
    base: Platform = example_workspace().platforms[env]
    return base.model_copy(update=changes)


def ref(name: str, team: str, namespace: str) -> ModelRef:
    return ModelRef(
        name=name,
        team=team,
        tier="standard",
        namespace=namespace,
        source=f"specs/{name}/maestro.yaml",
        sync="automated",
    )


MODELS = [ref("a", "payments-risk", "payments-risk-prod"), ref("b", "vision", "vision-prod")]


def test_one_namespace_per_model_namespace_with_restricted_pod_security() -> None:
    for env in ("dev", "staging", "prod"):
        layer = committed(env)
        namespaces = sorted(k.split("/")[1] for k in layer if k.startswith("Namespace/"))
        apps = sorted(f.name for f in (RENDERED / env).iterdir() if f.name not in ("argocd", "platform"))
        ns_of_models = set()
        for model in apps:
            doc = YAML(typ="safe").load((RENDERED / env / model / f"serviceaccount-{model}.yaml").read_text())
            ns_of_models.add(doc["metadata"]["namespace"])
        assert namespaces == sorted(ns_of_models)
        for ns in namespaces:
            labels = layer[f"Namespace/{ns}"]["metadata"]["labels"]
            for mode in ("enforce", "audit", "warn"):
                assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
                assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.32"  # kubernetes_version
            assert labels["maestro.ml/env"] == env and labels["maestro.ml/team"] == ns.rsplit(f"-{env}", 1)[0]
            # A person confirms before Argo CD prunes or deletes a namespace (and all in it).
            assert layer[f"Namespace/{ns}"]["metadata"]["annotations"] == {
                "argocd.argoproj.io/sync-options": "Prune=confirm,Delete=confirm"
            }


def test_namespaces_are_labelled_for_sidecar_injection() -> None:
    labels = committed("prod")["Namespace/payments-risk-prod"]["metadata"]["labels"]
    assert labels["istio-injection"] == "enabled" and "istio.io/rev" not in labels


@pytest.mark.parametrize(
    ("mesh", "expected"),
    [
        ({"mode": "sidecar", "revision": "1-24"}, {"istio.io/rev": "1-24"}),
        ({"mode": "ambient"}, {"istio.io/dataplane-mode": "ambient"}),
        ({"mode": "none"}, {}),
    ],
)
def test_mesh_mode_decides_the_namespace_label(mesh: dict[str, Any], expected: dict[str, str]) -> None:
    from maestro.resolve.config import Mesh

    out = render_env("prod", platform("prod", mesh=Mesh(**mesh)), MODELS, uses_of([]))
    ns = next(r for r in out if r["kind"] == "Namespace")
    mesh_labels = {k: v for k, v in ns["metadata"]["labels"].items() if k.startswith(("istio", "istio.io"))}
    assert mesh_labels == expected


def test_a_namespace_shared_by_teams_gets_no_team_label() -> None:
    shared = [ref("a", "payments-risk", "ml-prod"), ref("b", "vision", "ml-prod")]
    [ns] = [r for r in render_env("prod", platform("prod"), shared, uses_of([])) if r["kind"] == "Namespace"]
    assert "maestro.ml/team" not in ns["metadata"]["labels"]


def test_provided_namespaces_are_not_rendered() -> None:
    from maestro.resolve.config import Provided

    out = render_env("prod", platform("prod", provided=Provided(namespaces=["vision-*"])), MODELS, uses_of([]))
    assert {(r["kind"], r["metadata"].get("namespace", r["metadata"]["name"])) for r in out} == {
        ("Namespace", "payments-risk-prod"),
        ("ResourceQuota", "payments-risk-prod"),
        ("LimitRange", "payments-risk-prod"),
    }


def test_quota_is_what_the_monthly_budget_buys() -> None:
    layer = committed("prod")
    cfg = example_workspace().platforms["prod"]
    c = cfg.costs
    for team, ns in (("payments-risk", "payments-risk-prod"), ("vision", "vision-prod")):
        budget = cfg.team(team).budget.monthly
        hard = layer[f"ResourceQuota/{ns}-budget"]["spec"]["hard"]
        assert hard["requests.cpu"] == str(int(budget // (730 * c.cpu_hour)))
        assert hard["requests.memory"] == f"{int(budget // (730 * c.memory_gib_hour))}Gi"
        # No quota on limits.cpu: Maestro sets no CPU limits, such a quota would refuse every pod.
        assert not [k for k in hard if k.startswith("limits.")]
    # payments-risk may use no GPU at all (max_gpus_per_pod 0); vision buys 22 at 2.48/h.
    assert layer["ResourceQuota/payments-risk-prod-budget"]["spec"]["hard"]["requests.nvidia.com/gpu"] == "0"
    assert layer["ResourceQuota/vision-prod-budget"]["spec"]["hard"]["requests.nvidia.com/gpu"] == str(
        int(40000 // (730 * 2.48))
    )


def test_limit_range_only_defaults_requests() -> None:
    lr = committed("prod")["LimitRange/payments-risk-prod-defaults"]
    assert lr["metadata"]["namespace"] == "payments-risk-prod"
    assert lr["spec"]["limits"] == [{"type": "Container", "defaultRequest": {"cpu": "100m", "memory": "128Mi"}}]


def test_priority_classes_the_pods_use() -> None:
    # overlays/prod patches prod-critical into every serving pod; dev and staging use none.
    pc = committed("prod")["PriorityClass/prod-critical"]
    assert (pc["value"], pc["preemptionPolicy"], pc["globalDefault"]) == (1000000, "PreemptLowerPriority", False)
    assert not [k for env in ("dev", "staging") for k in committed(env) if k.startswith("PriorityClass/")]


def test_priority_classes_provided_or_undefined_are_not_rendered() -> None:
    from maestro.resolve.config import Provided

    pods = [
        {"spec": {"template": {"spec": {"priorityClassName": "prod-critical"}}}},
        {"spec": {"predictor": {"priorityClassName": "nobody-defines-this"}}},
    ]
    kinds = lambda out: [r["metadata"]["name"] for r in out if r["kind"] == "PriorityClass"]  # noqa: E731
    assert kinds(render_env("prod", platform("prod"), MODELS, uses_of(pods))) == ["prod-critical"]
    provided = platform("prod", provided=Provided(priority_classes=["prod-critical"]))
    assert kinds(render_env("prod", provided, MODELS, uses_of(pods))) == []


def test_storage_container_claims_the_models_scheme() -> None:
    # prod has none: every model serving there is locked (specs/*/maestro.lock.yaml), so its
    # storage URIs are the versions' s3:// artifact URIs, which KServe reads itself.
    assert "ClusterStorageContainer/maestro-mlflow" not in committed("prod")
    for env in ("dev", "staging"):
        csc = committed(env)["ClusterStorageContainer/maestro-mlflow"]["spec"]
        assert csc["supportedUriFormats"] == [{"prefix": "models:/"}]
        assert csc["workloadType"] == "initContainer"
        container = csc["container"]
        assert container["name"] == "storage-initializer"  # KServe recognises its init container by name
        assert container["command"] == ["python", "-c", DOWNLOAD]
        assert "args" not in container  # KServe's: [<storageUri>, /mnt/models]
        tracking = example_workspace().platforms[env].environments[env].endpoints.mlflow
        assert container["env"] == [{"name": "MLFLOW_TRACKING_URI", "value": tracking}]
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["runAsNonRoot"] is True and sc["seccompProfile"] == {"type": "RuntimeDefault"}


def test_no_storage_container_when_provided_or_unused() -> None:
    from maestro.resolve.config import Provided

    isvc = [{"spec": {"predictor": {"model": {"storageUri": "models:/m@champion"}}}}]
    has = lambda out: any(r["kind"] == "ClusterStorageContainer" for r in out)  # noqa: E731
    assert has(render_env("prod", platform("prod"), MODELS, uses_of(isvc)))
    assert not has(render_env("prod", platform("prod"), MODELS, uses_of([])))
    assert not has(
        render_env(
            "prod", platform("prod", provided=Provided(storage_uri_prefixes=["models:/"])), MODELS, uses_of(isvc)
        )
    )


@pytest.mark.slow
def test_storage_container_downloads_a_registered_model(mlflow_server: str, tmp_path: Path) -> None:  # noqa: F811
    """Run the container's command exactly as KServe's injector would (args: URI, /mnt/models)
    against a real MLflow server with proxied artifacts: the model lands at the top of the folder."""
    require_mlflow()
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(mlflow_server)
    client = MlflowClient(mlflow_server)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "MLmodel").write_text("flavors: {}\n")
    (model_dir / "model.bin").write_bytes(b"weights")
    experiment = client.create_experiment(f"csc-{tmp_path.name}")
    run = client.create_run(experiment)
    client.log_artifacts(run.info.run_id, str(model_dir), artifact_path="model")
    name = f"csc-{tmp_path.name}".replace("_", "-")
    client.create_registered_model(name)
    version = client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    client.set_registered_model_alias(name, "champion", version.version)

    container = committed("staging")["ClusterStorageContainer/maestro-mlflow"]["spec"]["container"]
    target = tmp_path / "mnt-models"
    target.mkdir()
    env = {"MLFLOW_TRACKING_URI": mlflow_server, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    argv = [sys.executable, *container["command"][1:], f"models:/{name}@champion", str(target)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (target / "MLmodel").read_text() == "flavors: {}\n"
    assert (target / "model.bin").read_bytes() == b"weights"


def test_kube_state_metrics_config_for_the_kubeflow_runs_rendered() -> None:
    """The training-failure alerts read `kube_<kind>_status_condition`, which only exists when
    kube-state-metrics loads this config: the platform layer ships it for exactly the
    Kubeflow kinds the environment runs (launched runs included)."""
    run = {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "metadata": {"name": "m-train"}}
    tf = {"apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": {"name": "n-train"}}
    layer = render_env("prod", platform("prod"), MODELS, uses_of([run, tf, {**run}]))
    [cm] = [r for r in layer if r["kind"] == "ConfigMap"]
    assert (cm["metadata"]["name"], cm["metadata"]["namespace"]) == ("maestro-ksm-training-state", "monitoring")
    config = YAML(typ="safe").load(cm["data"]["custom-resource-state.yaml"])
    assert config["kind"] == "CustomResourceStateMetrics"
    assert [r["groupVersionKind"]["kind"] for r in config["spec"]["resources"]] == ["TFJob", "TrainJob"]
    # the committed prod tree: the kinds prod renders, and the metric its alerts query
    committed_cm = committed("prod")["ConfigMap/maestro-ksm-training-state"]
    metrics = {
        m["name"]
        for r in YAML(typ="safe").load(committed_cm["data"]["custom-resource-state.yaml"])["spec"]["resources"]
        for m in r["metrics"]
    }
    assert metrics == {"kube_trainjob_status_condition", "kube_tfjob_status_condition"}
    alerts = (RENDERED / "prod" / "image-classifier" / "prometheusrule-image-classifier.yaml").read_text()
    assert "kube_trainjob_status_condition{" in alerts


def test_no_kube_state_metrics_config_without_kubeflow_runs() -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "m-train"}}
    assert all(r["kind"] != "ConfigMap" for r in render_env("prod", platform("prod"), MODELS, uses_of([job])))


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_platform_layer_passes_the_schemas_and_the_policies(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    from maestro.cli import main
    from maestro.output.verify import Verifier

    verifier = Verifier(example_workspace().platform.kubernetes_version)
    layer = committed(env)
    assert layer
    for key, obj in layer.items():
        assert verifier.verify(obj) == [], key
    files = [str(f) for f in sorted((RENDERED / env / "platform").glob("*.yaml")) if f.name != "kustomization.yaml"]
    assert main(["--root", str(ROOT), "policy", "check", *files, "--env", env]) == 0, capsys.readouterr().out


def test_the_layer_from_each_models_uses_is_the_layer_from_all_their_objects() -> None:
    """The pipeline keeps each model's `uses_of` with its objects and joins them: the layer is
    the one every object, walked together, gives."""
    models = [
        [{"spec": {"template": {"spec": {"priorityClassName": "prod-critical"}}}}],
        [{"spec": {"predictor": {"model": {"storageUri": "models:/fraud/3"}}}}],
        [{"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "metadata": {"name": "m-train"}}],
        [],
    ]
    together = render_env("prod", platform("prod"), MODELS, uses_of(o for objects in models for o in objects))
    joined = render_env("prod", platform("prod"), MODELS, Uses.join(uses_of(objects) for objects in models))
    assert joined == together
    assert {r["kind"] for r in joined} >= {"PriorityClass", "ConfigMap"}
    assert Uses.join([]) == uses_of([]) == Uses()
