"""render/security.py on the example specs: kinds, exact policies, schemas, determinism."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from conftest import MODELS, ROOT, example, example_workspace
from maestro.frontend.spec import Spec
from maestro.output.verify import Verifier
from maestro.render import Context, training
from maestro.render.security import reader_rbac, render
from maestro.resolve.config import EgressPeer, Mesh, Network

ENVS = ["dev", "staging", "prod"]
SERVED = ["NetworkPolicy", "PeerAuthentication", "AuthorizationPolicy"]


def _workspace() -> Any:
    return example_workspace()


def effective(model: str, env: str = "prod") -> tuple[Spec, Context]:
    return example(model, env)  # type: ignore[no-any-return]


def ids(resources: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["kind"], r["metadata"]["name"]) for r in resources]


def named(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier(_workspace().platform.kubernetes_version)


# ------------------------------------------------------------------ kinds and names per example


def _expected(model: str, peers: bool, served: bool) -> list[tuple[str, str]]:
    out = [("ServiceAccount", model), ("NetworkPolicy", f"{model}-default-deny")]
    if peers:
        out.append(("NetworkPolicy", f"{model}-train-peers"))
    if served:
        out += [
            ("NetworkPolicy", f"{model}-egress"),
            ("NetworkPolicy", f"{model}-allow"),
            ("PeerAuthentication", model),
            ("AuthorizationPolicy", model),
        ]
    return out


@pytest.mark.parametrize(
    ("model", "env", "peers", "served"),
    [
        ("fraud-detector", "prod", True, True),  # xgboost, 2 workers
        ("image-classifier", "prod", True, True),  # 4 workers
        ("image-classifier", "dev", False, True),  # dev trains on 1 worker
        ("recsys-ranker", "prod", True, True),
        ("churn-predictor", "prod", False, True),
        ("sentiment-bert", "prod", False, True),  # serving only
        ("demand-forecaster", "prod", False, False),  # batch only: account and default deny
    ],
)
def test_kinds_and_names(model: str, env: str, peers: bool, served: bool) -> None:
    assert ids(render(*effective(model, env))) == _expected(model, peers, served)


def test_service_account_mounts_no_token_and_no_role_is_needed() -> None:
    for model in MODELS:
        out = render(*effective(model))
        assert named(out, "ServiceAccount", model)["automountServiceAccountToken"] is False
        # Every ConfigMap reaches its pods as a volume: the model's account needs no RBAC.
        assert not [r for r in out if r["kind"] in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")]


def test_reader_role_gets_only_named_configmaps(verifier: Verifier) -> None:
    spec, ctx = effective("fraud-detector")
    assert reader_rbac(spec, ctx, []) == []
    role, binding = reader_rbac(spec, ctx, ["fraud-detector-b", "fraud-detector-a", "fraud-detector-b"])
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["fraud-detector-a", "fraud-detector-b"],
            "verbs": ["get"],
        }
    ]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "fraud-detector"}
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "fraud-detector", "namespace": "payments-risk-prod"}
    ]
    assert verifier.verify(role) == [] and verifier.verify(binding) == []


# ------------------------------------------------------------------ exact policies (image-classifier)


def test_default_deny_selects_every_pod_of_the_model_and_allows_nothing() -> None:
    deny = named(render(*effective("image-classifier")), "NetworkPolicy", "image-classifier-default-deny")
    assert deny["spec"] == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "image-classifier"}},
        "policyTypes": ["Ingress"],
    }


def test_allow_policy_for_image_classifier() -> None:
    allow = named(render(*effective("image-classifier")), "NetworkPolicy", "image-classifier-allow")

    def ns(name: str) -> dict[str, Any]:
        return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}

    assert allow["spec"] == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "image-classifier"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            # `search` is opened whole here; only its `ranker` account passes Istio.
            {
                "from": [ns("catalog"), ns("istio-ingress"), ns("search"), {"podSelector": {}}],
                "ports": [{"protocol": "TCP", "port": 8080}, {"protocol": "TCP", "port": 8081}],
            },
            # the sidecar's plaintext metrics ports only (Istio merges the app's metrics into 15020)
            {"from": [ns("monitoring")], "ports": [{"protocol": "TCP", "port": p} for p in (15020, 15090)]},
        ],
    }


def test_authorization_policy_principals_for_image_classifier() -> None:
    out = render(*effective("image-classifier"))
    policy = named(out, "AuthorizationPolicy", "image-classifier")
    assert policy["apiVersion"] == "security.istio.io/v1"
    assert policy["spec"] == {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "image-classifier"}},
        "action": "ALLOW",
        "rules": [
            {
                "from": [
                    {"source": {"namespaces": ["catalog", "istio-ingress", "vision-prod"]}},
                    {"source": {"principals": ["cluster.local/ns/search/sa/ranker"]}},
                ],
                "to": [{"operation": {"ports": ["8080", "8081"]}}],
            },
        ],
    }
    peer = named(out, "PeerAuthentication", "image-classifier")
    assert peer["spec"] == {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "image-classifier"}},
        "mtls": {"mode": "STRICT"},
    }


def test_without_an_ingress_gateway_only_named_callers_and_the_namespace_remain() -> None:
    spec, ctx = effective("fraud-detector")
    ctx = Context(
        env=ctx.env,
        platform=ctx.platform.model_copy(update={"istio_ingress_namespace": None}),
        namespace=ctx.namespace,
        source=ctx.source,
        sync=ctx.sync,
    )
    out = render(spec, ctx)
    rule = named(out, "AuthorizationPolicy", "fraud-detector")["spec"]["rules"][0]
    assert rule["from"] == [{"source": {"namespaces": ["payments-api", "payments-risk-prod"]}}]
    callers = named(out, "NetworkPolicy", "fraud-detector-allow")["spec"]["ingress"][0]["from"]
    assert callers == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "payments-api"}}},
        {"podSelector": {}},
    ]


def test_policies_select_the_pods_training_renders() -> None:
    """Selectors here and pod labels in training.py must agree, or policies select nothing."""
    spec, ctx = effective("image-classifier")
    policies = {r["metadata"]["name"]: r["spec"] for r in render(spec, ctx) if r["kind"] == "NetworkPolicy"}
    [job] = [r for r in training.render(spec, ctx) if r["kind"] == "TrainJob"]
    # The TrainJob's pods get their labels from its runtime patch of the `node` job.
    for node in job["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]:
        labels = node["template"]["spec"]["template"]["metadata"]["labels"]
        for name in ("image-classifier-default-deny", "image-classifier-train-peers"):
            assert policies[name]["podSelector"]["matchLabels"].items() <= labels.items(), name
        [peer] = policies["image-classifier-train-peers"]["ingress"][0]["from"]
        assert peer["podSelector"]["matchLabels"].items() <= labels.items()


# ------------------------------------------------------------------ schemas, determinism, purity


def test_every_object_passes_its_schema(verifier: Verifier) -> None:
    checked = 0
    for model in MODELS:
        for env in ENVS:
            for resource in render(*effective(model, env)):
                assert verifier.verify(resource) == [], (model, env, resource["kind"], resource["metadata"]["name"])
                checked += 1
    assert checked >= 60


@pytest.mark.parametrize("model", MODELS)
def test_deterministic_and_pure(model: str) -> None:
    spec, ctx = effective(model)
    before = spec.model_dump()
    first = render(spec, ctx)
    assert spec.model_dump() == before
    pristine = render(spec, ctx)
    for resource in first:  # mutating the output (as the pipeline's stamping does) must not leak
        resource["metadata"]["labels"] = {"x": "y"}
        for selector in ("podSelector", "selector"):
            resource.get("spec", {}).get(selector, {}).get("matchLabels", {}).update(x="y")
    assert render(spec, ctx) == pristine
    assert all("labels" not in r["metadata"] for r in pristine)  # the pipeline stamps them


def test_order_of_allow_from_does_not_change_the_output() -> None:
    spec, ctx = effective("image-classifier")
    assert spec.spec.network is not None
    flipped = spec.spec.network.model_copy(update={"allow_from": list(reversed(spec.spec.network.allow_from))})
    other = spec.model_copy(update={"spec": spec.spec.model_copy(update={"network": flipped})})
    assert render(other, ctx) == render(spec, ctx)


def test_nothing_is_opened_wider_than_a_namespace() -> None:
    for model in MODELS:
        for env in ENVS:
            for resource in render(*effective(model, env)):
                if resource["kind"] != "NetworkPolicy":
                    continue
                assert resource["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == model
                for rule in resource["spec"].get("ingress", []):
                    assert rule["from"], "an ingress rule without `from` admits every source"
                    assert all("ipBlock" not in peer for peer in rule["from"])
                    assert all(
                        peer.get("namespaceSelector", {"matchLabels": {"-": "-"}})["matchLabels"]
                        for peer in rule["from"]
                    ), "an empty namespaceSelector admits every namespace"
                    if any("namespaceSelector" in peer for peer in rule["from"]):
                        assert rule.get("ports"), "other namespaces reach named ports only"


# ------------------------------------------------------------------ egress of the model servers

DNS_RULE = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchExpressions": [{"key": "k8s-app", "operator": "In", "values": ["kube-dns"]}]},
        }
    ],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}
ISTIOD_RULE = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}},
            "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["istiod"]}]},
        }
    ],
    "ports": [{"protocol": "TCP", "port": 15012}],
}


def _namespace(ns: str) -> dict[str, Any]:
    return {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}]}


def _with_platform(ctx: Context, **update: Any) -> Context:
    return dataclasses.replace(ctx, platform=ctx.platform.model_copy(update=update))


def test_model_servers_reach_dns_istiod_mlflow_and_tracing_only() -> None:
    """staging fraud-detector serves `models:/` URIs (through MLflow) with traces on: no
    address outside the cluster is open."""
    spec, ctx = effective("fraud-detector", "staging")
    egress = named(render(spec, ctx), "NetworkPolicy", "fraud-detector-egress")["spec"]
    assert egress["policyTypes"] == ["Egress"]
    assert egress["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/name": "fraud-detector"},
        "matchExpressions": [
            {"key": "app.kubernetes.io/component", "operator": "In", "values": ["serving", "serving-challenger"]}
        ],
    }
    assert egress["egress"] == [DNS_RULE, ISTIOD_RULE, _namespace("mlflow-staging"), _namespace("observability")]


def test_model_servers_reach_the_object_store_of_a_locked_uri_on_443() -> None:
    """prod serves the locked s3:// artifacts (maestro.lock.yaml), which the pipeline passes to
    the renderers: the committed tree shows the result."""
    folder = ROOT / "rendered" / "prod" / "fraud-detector"
    isvc = YAML(typ="safe").load((folder / "inferenceservice-fraud-detector.yaml").read_text())
    assert isvc["spec"]["predictor"]["model"]["storageUri"].startswith("s3://")
    policy = YAML(typ="safe").load((folder / "networkpolicy-fraud-detector-egress.yaml").read_text())
    rules = policy["spec"]["egress"]
    assert rules[-1] == {"ports": [{"protocol": "TCP", "port": 443}]}
    assert _namespace("mlflow") in rules


def _component_labels(node: Any) -> Iterator[str]:
    """Every app.kubernetes.io/component value in pod template labels below `node`."""
    if isinstance(node, dict):
        labels = node.get("labels")
        if isinstance(labels, dict) and "app.kubernetes.io/component" in labels:
            yield labels["app.kubernetes.io/component"]
        for value in node.values():
            yield from _component_labels(value)
    elif isinstance(node, list):
        for value in node:
            yield from _component_labels(value)


def test_egress_training_pods_are_not_restricted() -> None:
    spec, ctx = effective("image-classifier")
    [expr] = named(render(spec, ctx), "NetworkPolicy", "image-classifier-egress")["spec"]["podSelector"][
        "matchExpressions"
    ]
    components = set(_component_labels(training.render(spec, ctx)))
    assert "training" in components
    assert not components & set(expr["values"])


def test_egress_without_sidecars_drops_istiod_and_keeps_configured_extras() -> None:
    spec, ctx = effective("fraud-detector", "staging")
    extras = [
        EgressPeer(cidr="10.20.0.0/16", ports=[5432]),
        EgressPeer(namespace="feast", pods={"app": "feature-server"}, ports=[6566]),
        EgressPeer(ports=[8443]),
    ]
    ctx = _with_platform(ctx, mesh=Mesh(mode="ambient"), network=Network(serving_egress=extras))
    rules = named(render(spec, ctx), "NetworkPolicy", "fraud-detector-egress")["spec"]["egress"]
    assert ISTIOD_RULE not in rules and rules[0] == DNS_RULE
    assert rules[-3:] == [
        {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 5432}]},
        {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "feast"}},
                    "podSelector": {
                        "matchExpressions": [{"key": "app", "operator": "In", "values": ["feature-server"]}]
                    },
                }
            ],
            "ports": [{"protocol": "TCP", "port": 6566}],
        },
        {"ports": [{"protocol": "TCP", "port": 8443}]},
    ]


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("http://mlflow.mlflow.svc:5000", "mlflow"),
        ("http://otel-collector.observability.svc.cluster.local:4317", "observability"),
        ("http://mlflow:5000", "team-ns"),  # a Service of the pod's own namespace
        ("https://mlflow.example.com", 443),
        ("http://mlflow.example.com:8080", 8080),
        ("s3://bucket/model", 443),
        ("gs://bucket/model", 443),
        ("hf://org/model", 443),
        ("models:/fraud@champion", None),  # through the tracking server
        ("runs:/abc/model", None),
        ("pvc://models/fraud", None),
    ],
)
def test_where_a_model_server_connects(url: str, where: str | int | None) -> None:
    from maestro.render.security import destination

    assert destination(url, "team-ns") == where


def test_config_refuses_an_egress_peer_with_a_namespace_and_a_cidr() -> None:
    with pytest.raises(ValueError, match="either a namespace or a cidr"):
        EgressPeer(namespace="a", cidr="10.0.0.0/8")
    with pytest.raises(ValueError, match="name the namespace"):
        EgressPeer(pods={"app": "x"})


@pytest.mark.parametrize("env", ENVS)
def test_egress_peers_in_other_namespaces_survive_the_overlays_common_labels(env: str) -> None:
    """Kustomize's commonLabels writes into every `podSelector.matchLabels` of a NetworkPolicy
    (our overlays set maestro.ml/env): a peer in another namespace selecting by matchLabels
    would select nothing after the overlay. The committed tree is after the overlays."""
    checked = 0
    for path in sorted((ROOT / "rendered" / env).glob("*/networkpolicy-*-egress.yaml")):
        policy = YAML(typ="safe").load(Path(path).read_text())
        for rule in policy["spec"]["egress"]:
            for peer in rule.get("to", []):
                if "namespaceSelector" in peer and "podSelector" in peer:
                    assert "matchLabels" not in peer["podSelector"], (path, peer)
                    checked += 1
    assert checked >= 2
