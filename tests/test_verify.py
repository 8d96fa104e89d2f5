"""verify: rendered objects against Kubernetes and CRD schemas, every error reported."""

from __future__ import annotations

import copy
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from maestro.output.verify import BUNDLED_CRD_SCHEMAS as CRD_DIR
from maestro.output.verify import HINT, Verifier, supported_kubernetes_versions

K8S = "1.32"


@pytest.fixture(scope="module")
def core() -> Verifier:
    return Verifier(K8S, None, bundled=False)


@pytest.fixture(scope="module")
def crds() -> Verifier:
    return Verifier(K8S)  # the CRD schemas shipped in the package


# ------------------------------------------------------------------ valid examples

LABELS = {"app.kubernetes.io/name": "fraud-detector", "maestro.ml/env": "prod"}
META = {"name": "fraud-detector", "namespace": "payments-risk-prod", "labels": LABELS}


def container(**extra: Any) -> dict[str, Any]:
    return {
        "name": "main",
        "image": "registry.example.com/payments/fraud:1.4.2",
        "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": 1, "memory": "2.5Gi"}},
        **extra,
    }


def pod_template(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"labels": LABELS}, "spec": {"containers": [container()], **spec}}


def obj(api_version: str, kind: str, **body: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": copy.deepcopy(META), **body}


def deployment() -> dict[str, Any]:
    return obj(
        "apps/v1",
        "Deployment",
        spec={
            "replicas": 2,
            "selector": {"matchLabels": LABELS},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": pod_template(serviceAccountName="fraud-detector"),
        },
    )


RULES = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]
SUBJECTS = [{"kind": "ServiceAccount", "name": "fraud-detector", "namespace": "payments-risk-prod"}]

CORE_VALID: dict[str, dict[str, Any]] = {
    "Deployment": deployment(),
    "Service": obj(
        "v1", "Service", spec={"selector": LABELS, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
    ),
    "ConfigMap": obj("v1", "ConfigMap", data={"study.json": "{}"}),
    "Secret": obj("v1", "Secret", type="Opaque", stringData={"k": "v"}),
    "ServiceAccount": obj("v1", "ServiceAccount"),
    "Namespace": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments-risk-prod"}},
    "PersistentVolumeClaim": obj(
        "v1",
        "PersistentVolumeClaim",
        spec={"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
    ),
    "Job": obj(
        "batch/v1",
        "Job",
        spec={
            "completionMode": "Indexed",
            "completions": 60,
            "parallelism": 4,
            "template": pod_template(restartPolicy="Never"),
        },
    ),
    "CronJob": obj(
        "batch/v1",
        "CronJob",
        spec={"schedule": "0 3 * * 0", "jobTemplate": {"spec": {"template": pod_template(restartPolicy="OnFailure")}}},
    ),
    "HorizontalPodAutoscaler": obj(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        spec={
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "fraud-detector"},
            "minReplicas": 2,
            "maxReplicas": 12,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                },
                {
                    "type": "Pods",
                    "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "200"}},
                },
            ],
        },
    ),
    "PodDisruptionBudget": obj(
        "policy/v1", "PodDisruptionBudget", spec={"minAvailable": 1, "selector": {"matchLabels": LABELS}}
    ),
    "NetworkPolicy": obj(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        spec={
            "podSelector": {"matchLabels": LABELS},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "payments-api"}}}]}
            ],
        },
    ),
    "Role": obj("rbac.authorization.k8s.io/v1", "Role", rules=RULES),
    "RoleBinding": obj(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "fraud-detector"},
        subjects=SUBJECTS,
    ),
    "ClusterRole": {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "maestro-reader"},
        "rules": RULES,
    },
    "ClusterRoleBinding": {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "maestro-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "maestro-reader"},
        "subjects": SUBJECTS,
    },
}

PYTORCH_REPLICAS = {
    "Master": {"replicas": 1, "restartPolicy": "OnFailure", "template": pod_template()},
    "Worker": {"replicas": 1, "restartPolicy": "OnFailure", "template": pod_template()},
}

CRD_VALID: dict[str, dict[str, Any]] = {
    "InferenceService": obj(
        "serving.kserve.io/v1beta1",
        "InferenceService",
        spec={
            "predictor": {
                "minReplicas": 2,
                "maxReplicas": 12,
                "serviceAccountName": "fraud-detector",
                "model": {
                    "modelFormat": {"name": "xgboost"},
                    "storageUri": "s3://models/fraud-detector/3",
                    "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
                },
            }
        },
    ),
    "Rollout": obj(
        "argoproj.io/v1alpha1",
        "Rollout",
        spec={
            "replicas": 2,
            "selector": {"matchLabels": LABELS},
            "template": pod_template(),
            "strategy": {
                "canary": {
                    "steps": [{"setWeight": 10}, {"pause": {"duration": "10m"}}, {"setWeight": 50}],
                    "analysis": {"templates": [{"templateName": "fraud-detector"}], "startingStep": 1},
                }
            },
        },
    ),
    "AnalysisTemplate": obj(
        "argoproj.io/v1alpha1",
        "AnalysisTemplate",
        spec={
            "metrics": [
                {
                    "name": "error-rate",
                    "interval": "1m",
                    "successCondition": "result[0] <= 0.01",
                    "provider": {"prometheus": {"address": "http://prometheus:9090", "query": "sum(rate(x[1m]))"}},
                }
            ]
        },
    ),
    "Application": obj(
        "argoproj.io/v1alpha1",
        "Application",
        spec={
            "project": "payments-risk",
            "source": {
                "repoURL": "https://git.example.com/ml.git",
                "path": "rendered/prod/fraud-detector",
                "targetRevision": "main",
            },
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "payments-risk-prod"},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}, "syncOptions": ["CreateNamespace=true"]},
        },
    ),
    "AppProject": obj(
        "argoproj.io/v1alpha1",
        "AppProject",
        spec={
            "sourceRepos": ["https://git.example.com/ml.git"],
            "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "payments-risk-*"}],
        },
    ),
    "ServiceMonitor": obj(
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
        spec={
            "selector": {"matchLabels": LABELS},
            "endpoints": [{"port": "http", "interval": "30s", "path": "/metrics"}],
        },
    ),
    "PrometheusRule": obj(
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        spec={
            "groups": [
                {
                    "name": "fraud-detector-slo",
                    # The schema's pattern for this field is Go-only: ^(?i)(abort|warn)?$
                    "partial_response_strategy": "WARN",
                    "rules": [
                        {
                            "alert": "HighErrorRate",
                            "expr": "rate(errors[5m]) > 0.01",
                            "for": "5m",
                            "labels": {"severity": "page"},
                        }
                    ],
                }
            ]
        },
    ),
    "VirtualService": obj(
        "networking.istio.io/v1",
        "VirtualService",
        spec={
            "hosts": ["fraud-detector"],
            "http": [
                {
                    "match": [{"uri": {"prefix": "/"}}],
                    "route": [
                        {"destination": {"host": "fraud-detector", "subset": "champion"}, "weight": 90},
                        {"destination": {"host": "fraud-detector", "subset": "challenger"}, "weight": 10},
                    ],
                }
            ],
        },
    ),
    "DestinationRule": obj(
        "networking.istio.io/v1",
        "DestinationRule",
        spec={"host": "fraud-detector", "subsets": [{"name": "champion", "labels": {"variant": "champion"}}]},
    ),
    "PeerAuthentication": obj(
        "security.istio.io/v1",
        "PeerAuthentication",
        spec={"selector": {"matchLabels": LABELS}, "mtls": {"mode": "STRICT"}},
    ),
    "AuthorizationPolicy": obj(
        "security.istio.io/v1",
        "AuthorizationPolicy",
        spec={
            "selector": {"matchLabels": LABELS},
            "action": "ALLOW",
            "rules": [{"from": [{"source": {"namespaces": ["payments-api"]}}]}],
        },
    ),
    "ScaledObject": obj(
        "keda.sh/v1alpha1",
        "ScaledObject",
        spec={
            "scaleTargetRef": {"name": "fraud-detector"},
            "minReplicaCount": 2,
            "maxReplicaCount": 12,
            "triggers": [
                {
                    "type": "prometheus",
                    "metadata": {"serverAddress": "http://prometheus:9090", "query": "x", "threshold": "200"},
                }
            ],
        },
    ),
    "VaultStaticSecret": obj(
        "secrets.hashicorp.com/v1beta1",
        "VaultStaticSecret",
        spec={
            "type": "kv-v2",
            "mount": "secret",
            "path": "payments/fraud/feature-db",
            "refreshAfter": "1h",
            "vaultAuthRef": "fraud-detector",
            "destination": {"name": "fraud-detector-feature-db", "create": True},
        },
    ),
    "VaultAuth": obj(
        "secrets.hashicorp.com/v1beta1",
        "VaultAuth",
        spec={
            "method": "kubernetes",
            "mount": "kubernetes",
            "kubernetes": {"role": "fraud-detector", "serviceAccount": "fraud-detector"},
        },
    ),
    "PyTorchJob": obj("kubeflow.org/v1", "PyTorchJob", spec={"pytorchReplicaSpecs": PYTORCH_REPLICAS}),
    "TFJob": obj(
        "kubeflow.org/v1",
        "TFJob",
        spec={"tfReplicaSpecs": {"Worker": {"replicas": 2, "restartPolicy": "OnFailure", "template": pod_template()}}},
    ),
    "XGBoostJob": obj("kubeflow.org/v1", "XGBoostJob", spec={"xgbReplicaSpecs": PYTORCH_REPLICAS}),
    "Policy": obj(
        "redhatcop.redhat.io/v1alpha1",
        "Policy",
        spec={
            "authentication": {"path": "kubernetes", "role": "vault-admin"},
            "policy": 'path "secret/data/payments/fraud/*" {\n  capabilities = ["read"]\n}\n',
        },
    ),
    "KubernetesAuthEngineRole": obj(
        "redhatcop.redhat.io/v1alpha1",
        "KubernetesAuthEngineRole",
        spec={
            "authentication": {"path": "kubernetes", "role": "vault-admin"},
            "path": "kubernetes",
            "policies": ["fraud-detector"],
            "targetNamespaces": {"targetNamespaces": ["payments-risk-prod"]},
            "targetServiceAccounts": ["fraud-detector"],
        },
    ),
}


@pytest.mark.parametrize("kind", sorted(CORE_VALID))
def test_valid_core_kind_passes(core: Verifier, kind: str) -> None:
    assert core.verify(CORE_VALID[kind]) == []


@pytest.mark.parametrize("kind", sorted(CRD_VALID))
def test_valid_custom_resource_passes(crds: Verifier, kind: str) -> None:
    assert crds.verify(CRD_VALID[kind]) == []


def test_every_crd_schema_file_builds(crds: Verifier) -> None:
    # A schema that Python cannot compile (a Go-only regex) must not break the others.
    for path in sorted(CRD_DIR.glob("*/*.json")):
        kind, _, version = path.stem.partition("_")  # file names are lower case; lookups are too
        assert crds.validator_for(f"{path.parent.name}/{version}", kind) is not None, path


# ------------------------------------------------------------------ defects


def codes_at(diags: list[Any]) -> set[tuple[str, str]]:
    return {(d.code, d.pointer) for d in diags}


def test_unknown_nested_field_names_object_field_and_suggestion(core: Verifier) -> None:
    dep = deployment()
    dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    [d] = core.verify(dep, source="rendered/prod/fraud-detector/deployment-fraud-detector.yaml")
    assert d.code == "M601"
    assert d.pointer == "/spec/template/spec/containers/0/imagePullPolcy"
    assert d.message == (
        "Deployment/fraud-detector: spec.template.spec.containers[0].imagePullPolcy:"
        " unknown field 'imagePullPolcy' (did you mean 'imagePullPolicy'?)"
    )
    assert d.file == "rendered/prod/fraud-detector/deployment-fraud-detector.yaml"
    assert (d.line, d.col) == (0, 0)
    assert d.hint == HINT
    assert "Maestro bug" in d.hint


def test_missing_required_field(core: Verifier) -> None:
    dep = deployment()
    del dep["spec"]["selector"]
    [d] = core.verify(dep)
    assert (d.code, d.pointer) == ("M602", "/spec")
    assert d.message == "Deployment/fraud-detector: spec: missing required field 'selector'"


def test_wrong_type(core: Verifier) -> None:
    dep = deployment()
    dep["spec"]["replicas"] = "2"
    [d] = core.verify(dep)
    assert (d.code, d.pointer) == ("M603", "/spec/replicas")
    assert d.message.endswith("spec.replicas: expected integer, got string")


def test_int_or_string_wrong_type_is_worded_plainly(core: Verifier) -> None:
    dep = deployment()
    dep["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = ["25%"]
    [d] = core.verify(dep)
    assert (d.code, d.pointer) == ("M603", "/spec/strategy/rollingUpdate/maxSurge")
    assert d.message.endswith("expected string or integer, got array")


@pytest.mark.parametrize("amount", ["lots", "1.5 Gi", "", "2gb"])
def test_bad_quantity_in_core_kind(core: Verifier, amount: str) -> None:
    dep = deployment()
    dep["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = amount
    [d] = core.verify(dep)
    assert (d.code, d.pointer) == ("M605", "/spec/template/spec/containers/0/resources/requests/cpu")
    assert f"invalid quantity {amount!r}" in d.message
    assert "spec.template.spec.containers[0].resources.requests.cpu" in d.message


def test_negative_quantity(core: Verifier) -> None:
    dep = deployment()
    dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "-1Gi"
    assert codes_at(core.verify(dep)) == {("M605", "/spec/template/spec/containers/0/resources/limits/memory")}


def test_bad_quantity_outside_containers_in_core_kind(core: Verifier) -> None:
    hpa = copy.deepcopy(CORE_VALID["HorizontalPodAutoscaler"])
    hpa["spec"]["metrics"][1]["pods"]["target"]["averageValue"] = "200 rps"
    assert codes_at(core.verify(hpa)) == {("M605", "/spec/metrics/1/pods/target/averageValue")}


def test_bad_quantity_in_custom_resource(crds: Verifier) -> None:
    isvc = copy.deepcopy(CRD_VALID["InferenceService"])
    isvc["spec"]["predictor"]["model"]["resources"]["limits"]["memory"] = "lots"
    [d] = crds.verify(isvc)
    assert (d.code, d.pointer) == ("M605", "/spec/predictor/model/resources/limits/memory")
    assert "invalid quantity 'lots'" in d.message


def test_bad_quantity_where_schema_is_open(crds: Verifier) -> None:
    # Katib's Experiment schema accepts anything; the quantity check still looks inside.
    exp = obj(
        "kubeflow.org/v1beta1",
        "Experiment",
        spec={"trialTemplate": {"trialSpec": {"spec": {"template": {"spec": {"containers": [container()]}}}}}},
    )
    assert crds.verify(exp) == []
    exp["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"][
        "cpu"
    ] = "x"
    assert [d.code for d in crds.verify(exp)] == ["M605"]


def test_missing_metadata(core: Verifier) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "data": {}}
    [d] = core.verify(cm)
    assert (d.code, d.pointer) == ("M606", "")
    assert d.message == "ConfigMap/?: (top level): missing required field 'metadata'"


def test_missing_name(core: Verifier) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"labels": LABELS}}
    [d] = core.verify(cm)
    assert (d.code, d.pointer) == ("M606", "/metadata")
    assert "missing required field 'name'" in d.message


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("ConfigMap", "Fraud_Detector"),
        ("ConfigMap", "a" * 254),
        ("Service", "1-fraud"),
        ("Service", "fraud.detector"),
        ("Namespace", "a.b"),
    ],
)
def test_bad_name(core: Verifier, kind: str, name: str) -> None:
    o = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}
    assert codes_at(core.verify(o)) == {("M606", "/metadata/name")}


def test_name_rules_accept_valid_names(core: Verifier) -> None:
    for kind, name in [("ConfigMap", "fraud.detector-1"), ("Service", "fraud-detector"), ("Namespace", "a" * 63)]:
        assert core.verify({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}) == []


@pytest.mark.parametrize(
    ("labels", "what"),
    [
        ({"app": "-bad"}, "label value"),
        ({"app": "x" * 64}, "label value"),
        ({"app": "a b"}, "label value"),
        ({"Bad_Prefix.io/app": "x"}, "label key"),
        ({"a/b/c": "x"}, "label key"),
        ({"example.com/": "x"}, "label key"),
        ({"n" * 64: "x"}, "label key"),
    ],
)
def test_bad_label(core: Verifier, labels: dict[str, str], what: str) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": labels}}
    [d] = core.verify(cm)
    assert d.code == "M607"
    assert what in d.message
    assert d.pointer.startswith("/metadata/labels/")


def test_good_labels_pass(core: Verifier) -> None:
    labels = {"app": "", "x.y": "A-b_c.9", "example.com/Name_1": "v", ("d" * 253) + "/" + ("n" * 63): "v" * 63}
    assert core.verify({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": labels}}) == []


def test_bad_label_in_pod_template_and_selector(core: Verifier) -> None:
    dep = deployment()
    dep["spec"]["template"]["metadata"]["labels"] = {"app": "x y"}
    dep["spec"]["selector"]["matchLabels"] = {"app": "x y"}
    assert codes_at(core.verify(dep)) == {
        ("M607", "/spec/template/metadata/labels/app"),
        ("M607", "/spec/selector/matchLabels/app"),
    }


def test_bad_annotation_key(core: Verifier) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "annotations": {"bad key": "v", "Example.COM/ok": "v"}},
    }
    [d] = core.verify(cm)
    assert (d.code, d.pointer) == ("M608", "/metadata/annotations/bad key")
    assert d.message.startswith('ConfigMap/x: metadata.annotations["bad key"]: annotation key')


def test_unknown_kind_names_api_version_kind_and_places_looked(crds: Verifier) -> None:
    widget = {"apiVersion": "widgets.example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    [d] = crds.verify(widget)
    assert (d.code, d.pointer) == ("M609", "/kind")
    assert "apiVersion 'widgets.example.com/v1' kind 'Widget'" in d.message
    assert str(CRD_DIR / "widgets.example.com" / "widget_v1.json") in d.message
    assert "widget-widgets-v1.json" in d.message
    assert "Maestro bug" in (d.hint or "")


def test_unknown_kind_without_crd_folder(core: Verifier) -> None:
    [d] = core.verify(CRD_VALID["ServiceMonitor"])
    assert d.code == "M609"
    assert "no CRD schema folder configured" in d.message


def test_core_kind_in_wrong_group_is_unknown(core: Verifier) -> None:
    # kubernetes-validate's file names keep only the group's first label.
    fake = {"apiVersion": "apps.example.com/v1", "kind": "Deployment", "metadata": {"name": "x"}}
    assert [d.code for d in core.verify(fake)] == ["M609"]
    # A schema file that is not a top-level kind (a pod's Affinity) is no kind either.
    assert [d.code for d in core.verify({"apiVersion": "v1", "kind": "Affinity", "metadata": {"name": "x"}})] == [
        "M609"
    ]


def test_platform_crd_folder_adds_kinds_and_comes_first(tmp_path: Path) -> None:
    widget = {"apiVersion": "widgets.example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}}
    (tmp_path / "widgets.example.com").mkdir()
    (tmp_path / "widgets.example.com" / "widget_v1.json").write_text(
        '{"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}'
    )
    # A platform's newer ScaledObject schema replaces the shipped one: here it forbids `spec`.
    (tmp_path / "keda.sh").mkdir()
    (tmp_path / "keda.sh" / "scaledobject_v1alpha1.json").write_text(
        '{"type": "object", "properties": {"spec": {"type": "object", "additionalProperties": false}}}'
    )
    verifier = Verifier(K8S, tmp_path)
    assert verifier.verify(widget) == []
    scaled = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "x"},
        "spec": {"scaleTargetRef": {"name": "x"}, "triggers": [{"type": "cpu", "metadata": {"value": "70"}}]},
    }
    assert {d.code for d in verifier.verify(scaled)} == {"M601"}  # scaleTargetRef, triggers
    assert Verifier(K8S).verify(scaled) == []  # the shipped schema accepts it
    # Kinds the platform folder lacks still come from the shipped set.
    assert verifier.validator_for("argoproj.io/v1alpha1", "Rollout") is not None


def test_shipped_crd_schemas_are_package_data() -> None:
    """Every schema is named by the README of sources, which travels with them (with a NOTICE)."""
    readme = (CRD_DIR / "README.md").read_text(encoding="utf-8")
    assert (CRD_DIR / "NOTICE").is_file()
    files = sorted(p.relative_to(CRD_DIR).as_posix() for p in CRD_DIR.glob("*/*.json"))
    assert len(files) >= 25
    assert [f for f in files if f not in readme] == []


def test_missing_crd_folder_is_named(tmp_path: Path) -> None:
    verifier = Verifier(K8S, tmp_path / "nowhere")
    [d] = verifier.verify({"apiVersion": "widgets.example.com/v1", "kind": "Widget", "metadata": {"name": "x"}})
    assert d.code == "M609"
    assert f"the CRD schema folder {tmp_path / 'nowhere'} does not exist" in d.message


def test_required_field_with_default_may_be_left_out(crds: Verifier) -> None:
    # vault-config-operator marks authentication.serviceAccount required but gives it a
    # default, which the API server fills in before it validates.
    role = copy.deepcopy(CRD_VALID["KubernetesAuthEngineRole"])
    assert "serviceAccount" not in role["spec"]["authentication"]
    assert crds.verify(role) == []
    del role["spec"]["authentication"]["role"]  # required, no default
    assert codes_at(crds.verify(role)) == {("M602", "/spec/authentication")}


def test_missing_api_version_and_kind(core: Verifier) -> None:
    [d] = core.verify({"metadata": {"name": "x"}})
    assert d.code == "M609"
    assert "no apiVersion and kind" in d.message


def test_custom_resource_defects(crds: Verifier) -> None:
    app = copy.deepcopy(CRD_VALID["Application"])
    app["sepc"] = app.pop("spec")  # root typo: the converted CRD root is open, we close it
    app["metadata"]["lables"] = {}  # CRDs say metadata: {type: object}; we check it as ObjectMeta
    found = {(d.code, d.pointer): d.message for d in crds.verify(app)}
    assert set(found) == {("M601", "/sepc"), ("M601", "/metadata/lables"), ("M602", "")}
    assert found[("M601", "/sepc")].endswith("unknown field 'sepc' (did you mean 'spec'?)")
    assert found[("M602", "")] == "Application/fraud-detector: (top level): missing required field 'spec'"


def test_prometheus_rule_go_only_regex(crds: Verifier) -> None:
    rule = copy.deepcopy(CRD_VALID["PrometheusRule"])
    for ok in ("warn", "Abort", ""):
        rule["spec"]["groups"][0]["partial_response_strategy"] = ok
        assert crds.verify(rule) == []
    rule["spec"]["groups"][0]["partial_response_strategy"] = "ignore"
    [d] = crds.verify(rule)
    assert (d.code, d.pointer) == ("M604", "/spec/groups/0/partial_response_strategy")
    assert "does not match the pattern" in d.message


def test_istio_at_most_one_of(crds: Verifier) -> None:
    vs = copy.deepcopy(CRD_VALID["VirtualService"])
    vs["spec"]["http"][0]["match"][0]["uri"] = {"prefix": "/", "exact": "/x"}
    [d] = crds.verify(vs)
    assert (d.code, d.pointer) == ("M604", "/spec/http/0/match/0/uri")
    assert "at most one" in d.message and "'exact'" in d.message and "'prefix'" in d.message


def test_all_errors_of_a_bad_object_are_reported(core: Verifier) -> None:
    dep = deployment()
    dep["metadata"]["labels"] = {"app": "bad value"}
    dep["spec"]["replica"] = 2
    dep["spec"]["replicas"] = "two"
    del dep["spec"]["selector"]
    c = dep["spec"]["template"]["spec"]["containers"][0]
    c["resources"]["requests"]["cpu"] = "lots"
    c["ports"] = [{"containerPort": "80", "protocl": "TCP"}]
    del c["name"]
    dep["spec"]["template"]["spec"]["containers"].append(container(name="sidecar", imagePullPolicy=1))
    assert codes_at(core.verify(dep)) == {
        ("M601", "/spec/replica"),
        ("M601", "/spec/template/spec/containers/0/ports/0/protocl"),
        ("M602", "/spec"),
        ("M602", "/spec/template/spec/containers/0"),
        ("M603", "/spec/replicas"),
        ("M603", "/spec/template/spec/containers/0/ports/0/containerPort"),
        ("M603", "/spec/template/spec/containers/1/imagePullPolicy"),
        ("M605", "/spec/template/spec/containers/0/resources/requests/cpu"),
        ("M607", "/metadata/labels/app"),
    }


def test_several_missing_and_unknown_fields_each_reported(core: Verifier) -> None:
    rb = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "x"},
        "roleRef": {},
        "a": 1,
        "b": 2,
    }
    assert sorted(d.message.split(": ", 2)[2] for d in core.verify(rb)) == [
        "missing required field 'apiGroup'",
        "missing required field 'kind'",
        "missing required field 'name'",
        "unknown field 'a'",
        "unknown field 'b'",
    ]


def _shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


def test_result_does_not_depend_on_dict_order(core: Verifier) -> None:
    dep = deployment()
    dep["metadata"]["labels"] = {"z": "bad value", "a": "-x"}
    dep["spec"].update(replica=1, zzz=2, replicas="2")
    dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] = {"cpu": "?", "memory": "!"}
    expected = core.verify(dep, source="f.yaml")
    assert len(expected) == 7
    rng = random.Random(4411)
    for _ in range(20):
        assert core.verify(_shuffled(dep, rng), source="f.yaml") == expected


def test_validator_cache_is_reused(core: Verifier) -> None:
    first = core.validator_for("apps/v1", "Deployment")
    core.verify(deployment())
    core.verify(deployment())
    assert first is not None
    assert core.validator_for("apps/v1", "Deployment") is first
    assert core.validator_for("v1", "Service") is not first


def test_verify_does_not_change_the_object(crds: Verifier) -> None:
    rule = copy.deepcopy(CRD_VALID["PrometheusRule"])
    crds.verify(rule)
    assert rule == CRD_VALID["PrometheusRule"]


def test_kubernetes_versions() -> None:
    versions = supported_kubernetes_versions()
    assert "1.32" in versions
    assert Verifier("v1.32.4", None).kubernetes_version == "1.32"
    with pytest.raises(ValueError, match=r"no Kubernetes 1\.2 schemas"):
        Verifier("1.2", None)
    with pytest.raises(ValueError, match="not like"):
        Verifier("latest", None)


def test_imports_stay_light() -> None:
    code = (
        "import sys, maestro.output.verify\n"
        "heavy = ('jsonschema', 'referencing', 'kubernetes', 'kubernetes_validate', 'yaml')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "cm = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'x'}}\n"
        "maestro.output.verify.Verifier('1.32', None).verify(cm)\n"
        "print(sorted(m for m in ('kubernetes', 'kubernetes_validate') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[]", "[]"]


@pytest.mark.parametrize("kind", sorted(CORE_VALID))
def test_same_verdict_as_kubernetes_validate(core: Verifier, kind: str) -> None:
    # Guards our reading of the bundled schemas (and our Quantity/IntOrString rewrite).
    import kubernetes_validate

    good = CORE_VALID[kind]
    kubernetes_validate.validate(good, K8S, strict=True)
    bad = {**copy.deepcopy(good), "extra": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S, strict=True)
    assert codes_at(core.verify(bad)) == {("M601", "/extra")}


# ------------------------------------------------------------------ the compiled validator agrees


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [path] + [p for k, v in node.items() for p in _leaves(v, path + (k,))]
    if isinstance(node, list):
        return [path] + [p for i, v in enumerate(node) for p in _leaves(v, path + (i,))]
    return [path]


def _mutate(obj: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """One wrong thing in a copy of `obj`: a field of another type, an unknown field, a
    missing one, or a quantity, enum or pattern value that is not allowed."""
    out = copy.deepcopy(obj)
    path = rng.choice(_leaves(out)[1:] or [("spec",)])
    parent: Any = out
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    value = parent[last] if isinstance(parent, dict) and last in parent else None
    choice = rng.randrange(6)
    if choice == 0:
        parent[last] = 7 if isinstance(value, str) else "seven"
    elif choice == 1 and isinstance(parent, dict):
        parent[f"{last}Typo" if isinstance(last, str) else "typo"] = {}
    elif choice == 2 and isinstance(parent, dict):
        del parent[last]
    elif choice == 3:
        parent[last] = "lots" if isinstance(value, (str, int)) else [value]
    elif choice == 4:
        parent[last] = None
    else:
        parent[last] = {"nested": [1]} if not isinstance(value, dict) else []
    return out


def test_compiled_validator_agrees_with_jsonschema_on_every_rendered_object(crds: Verifier) -> None:
    """Verifier.verify asks jsonschema-rs first and explains with jsonschema only what it
    rejects: both must reach the same verdict, on the shipped examples' rendered objects
    and on objects with one thing wrong in them (the messages then come from jsonschema)."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    root = Path(__file__).resolve().parents[1] / "rendered"
    objects = [yaml.load(p.read_text()) for p in sorted(root.glob("*/*/*.yaml")) if p.name != "kustomization.yaml"]
    assert len(objects) > 300
    rng = random.Random(15)
    checked = 0
    for obj in objects:
        lookup = crds._lookup(obj["apiVersion"], obj["kind"])
        assert lookup.fast is not None, obj["kind"]
        for variant in [obj] + [_mutate(obj, rng) for _ in range(6)]:
            slow = not any(True for _ in lookup.validator.iter_errors(variant))
            assert lookup.fast.is_valid(variant) == slow, (obj["kind"], variant)
            checked += 1
    assert checked == 7 * len(objects)


def test_verify_without_the_compiled_validator_says_the_same(crds: Verifier) -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "dta": {}, "data": {"k": 1}}
    with_fast = crds.verify(obj)
    plain = Verifier(K8S)
    lookup = crds._lookup("v1", "ConfigMap")
    plain._cache[("", "v1", "ConfigMap")] = copy.copy(lookup)
    plain._cache[("", "v1", "ConfigMap")].fast = None
    assert lookup.fast is not None
    assert plain.verify(obj) == with_fast
    assert [d.code for d in with_fast] == ["M601", "M603"]
