"""The link stage: a small, complete environment links clean; breaking each kind of reference
yields its diagnostic (code, rendered file, pointer)."""

from __future__ import annotations

import copy
import re
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT
from maestro.cli import main
from maestro.output import link
from maestro.output.link import Callers, LinkInput, Placed, Provided

NS = "team-prod"
POD_LABELS = {"app.kubernetes.io/name": "m", "app.kubernetes.io/component": "serving"}


def _obj(api: str, kind: str, name: str, spec: Any = None, ns: str | None = NS, **rest: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    out = {"apiVersion": api, "kind": kind, "metadata": meta, **rest}
    if spec is not None:
        out["spec"] = spec
    return out


def world() -> dict[str, dict[str, Any]]:
    """One served model that links clean: file name -> object."""
    pod = {
        "metadata": {"labels": dict(POD_LABELS)},
        "spec": {
            "serviceAccountName": "m",
            "priorityClassName": "prod-critical",
            "containers": [
                {
                    "name": "server",
                    "image": "registry.example.com/m:1",
                    "ports": [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 8082}],
                    "env": [{"name": "DB", "valueFrom": {"secretKeyRef": {"name": "m-db", "key": "password"}}}],
                }
            ],
            "volumes": [{"name": "cfg", "configMap": {"name": "m-config"}}],
        },
    }
    return {
        "platform/namespace-team-prod.yaml": _obj("v1", "Namespace", NS, ns=None),
        "platform/priorityclass-prod-critical.yaml": _obj(
            "scheduling.k8s.io/v1", "PriorityClass", "prod-critical", ns=None, value=1000
        ),
        "m/serviceaccount-m.yaml": _obj("v1", "ServiceAccount", "m"),
        "m/configmap-m-config.yaml": _obj("v1", "ConfigMap", "m-config", data={"a": "b"}),
        "m/vaultauth-m.yaml": _obj(
            "secrets.hashicorp.com/v1beta1",
            "VaultAuth",
            "m",
            {"method": "kubernetes", "kubernetes": {"role": "r", "serviceAccount": "m"}},
        ),
        "m/vaultstaticsecret-m-db.yaml": _obj(
            "secrets.hashicorp.com/v1beta1",
            "VaultStaticSecret",
            "m-db",
            {
                "vaultAuthRef": "m",
                "mount": "secret",
                "path": "p",
                "type": "kv-v2",
                "destination": {
                    "create": True,
                    "name": "m-db",
                    "transformation": {"excludeRaw": True, "includes": ["^password$"]},
                },
            },
        ),
        "m/deployment-m.yaml": _obj(
            "apps/v1", "Deployment", "m", {"selector": {"matchLabels": dict(POD_LABELS)}, "template": pod}
        ),
        "m/service-m.yaml": _obj(
            "v1",
            "Service",
            "m",
            {
                "selector": dict(POD_LABELS),
                "ports": [
                    {"name": "http", "port": 80, "targetPort": "http"},
                    {"name": "metrics", "port": 8082, "targetPort": "metrics"},
                ],
            },
        ),
        "m/horizontalpodautoscaler-m.yaml": _obj(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            "m",
            {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "m"},
                "minReplicas": 2,
                "maxReplicas": 4,
            },
        ),
        "m/poddisruptionbudget-m.yaml": _obj(
            "policy/v1",
            "PodDisruptionBudget",
            "m",
            {"maxUnavailable": 1, "selector": {"matchLabels": dict(POD_LABELS)}},
        ),
        "m/podmonitor-m.yaml": _obj(
            "monitoring.coreos.com/v1",
            "PodMonitor",
            "m",
            {"selector": {"matchLabels": dict(POD_LABELS)}, "podMetricsEndpoints": [{"port": "metrics"}]},
        ),
        "m/networkpolicy-m.yaml": _obj(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            "m",
            {
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "m"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-ingress"}}},
                            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "callers"}}},
                        ],
                        "ports": [{"protocol": "TCP", "port": 8080}],
                    },
                    {
                        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
                        "ports": [{"protocol": "TCP", "port": 8082}],
                    },
                ],
            },
        ),
        "m/destinationrule-m.yaml": _obj(
            "networking.istio.io/v1",
            "DestinationRule",
            "m",
            {"host": "m", "subsets": [{"name": "stable", "labels": {"app.kubernetes.io/component": "serving"}}]},
        ),
        "m/virtualservice-m.yaml": _obj(
            "networking.istio.io/v1",
            "VirtualService",
            "m",
            {
                "hosts": ["m"],
                "http": [
                    {"name": "primary", "route": [{"destination": {"host": "m", "subset": "stable"}, "weight": 100}]}
                ],
            },
        ),
        "m/job-m-sync.yaml": _obj(
            "batch/v1",
            "Job",
            "m-sync",
            {"template": copy.deepcopy(pod)},
        ),
    }


def _hooked(objects: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    objects["m/job-m-sync.yaml"]["metadata"]["annotations"] = {"argocd.argoproj.io/hook": "PostSync"}
    return objects


def run(objects: dict[str, dict[str, Any]], **kw: Any) -> list[link.Finding]:
    """The findings of every check (the DISABLED ones too) on `objects` (folder "m": model m),
    the same when each namespace is linked from the namespaces its findings need."""
    placed = tuple(
        Placed(obj, f"rendered/prod/{path}", None if path.startswith("platform/") else path.split("/")[0])
        for path, obj in objects.items()
    )
    inp = LinkInput("prod", placed, callers={"m": Callers(("callers",), "istio-ingress")}, **kw)
    found = link.link(inp, checks=list(link.CHECKS))
    assert by_namespace(inp) == found
    return found


def by_namespace(inp: LinkInput) -> list[link.Finding]:
    """What the pipeline does after a change: the findings on each namespace's objects, linked
    from the objects of the namespaces `link.needed` says they depend on, and no others."""
    edges = [edge for p in inp.objects for edge in link.reads(p.obj)]
    out: list[link.Finding] = []
    for ns in sorted({link._ns(p.obj) for p in inp.objects}):
        need = link.needed([ns], edges)
        some = tuple(p for p in inp.objects if need is None or link._ns(p.obj) in need)
        out += link.link(replace(inp, objects=some), checks=list(link.CHECKS), only=[ns])
    return link.ordered(out)


def test_the_world_links_clean() -> None:
    assert run(_hooked(world())) == []


def _one(findings: list[link.Finding], code: str, path: str, pointer: str | None = None) -> link.Finding:
    hits = [
        f
        for f in findings
        if f.code == code and f.path == f"rendered/prod/{path}" and (pointer is None or f.pointer == pointer)
    ]
    assert hits, f"no {code} at {path} {pointer}: {findings}"
    return hits[0]


def breaks(mutate: Callable[[dict[str, dict[str, Any]]], None]) -> list[link.Finding]:
    objects = _hooked(world())
    mutate(objects)
    return run(objects)


DEP = "m/deployment-m.yaml"
TPL = "/spec/template/spec"


def test_every_check_is_enabled() -> None:
    # A check waits in DISABLED only while another engineer's fix is open (issue 13).
    assert set(link.DISABLED) <= set(link.CHECKS)


def test_missing_service_account() -> None:
    f = breaks(lambda o: o.pop("m/serviceaccount-m.yaml"))
    _one(f, "M830", DEP, f"{TPL}/serviceAccountName")


def test_missing_priority_class() -> None:
    f = breaks(lambda o: o.pop("platform/priorityclass-prod-critical.yaml"))
    found = _one(f, "M830", DEP, f"{TPL}/priorityClassName")
    assert "prod-critical" in found.message


def test_provided_priority_class_counts() -> None:
    objects = _hooked(world())
    objects.pop("platform/priorityclass-prod-critical.yaml")
    assert run(objects, provided=Provided(priority_classes=frozenset({"prod-critical"}))) == []


def test_missing_secret() -> None:
    f = breaks(lambda o: o.pop("m/vaultstaticsecret-m-db.yaml"))
    _one(f, "M830", DEP, f"{TPL}/containers/0/env/0/valueFrom/secretKeyRef/name")


def test_secret_without_the_key() -> None:
    def mutate(o: dict[str, dict[str, Any]]) -> None:
        o["m/vaultstaticsecret-m-db.yaml"]["spec"]["destination"]["transformation"]["includes"] = ["^username$"]

    _one(breaks(mutate), "M830", DEP, f"{TPL}/containers/0/env/0/valueFrom/secretKeyRef/key")


def test_missing_config_map() -> None:
    _one(breaks(lambda o: o.pop("m/configmap-m-config.yaml")), "M830", DEP, f"{TPL}/volumes/0/configMap/name")


def test_missing_namespace() -> None:
    f = breaks(lambda o: o.pop("platform/namespace-team-prod.yaml"))
    _one(f, "M830", DEP, "/metadata/namespace")


def test_service_selects_nothing() -> None:
    def mutate(o: dict[str, dict[str, Any]]) -> None:
        o["m/service-m.yaml"]["spec"]["selector"] = {"app.kubernetes.io/name": "other"}

    _one(breaks(mutate), "M831", "m/service-m.yaml", "/spec/selector")


def test_pdb_selects_nothing() -> None:
    def mutate(o: dict[str, dict[str, Any]]) -> None:
        o["m/poddisruptionbudget-m.yaml"]["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] = "x"

    _one(breaks(mutate), "M831", "m/poddisruptionbudget-m.yaml", "/spec/selector")


def test_scrape_port_missing() -> None:
    def mutate(o: dict[str, dict[str, Any]]) -> None:
        o["m/podmonitor-m.yaml"]["spec"]["podMetricsEndpoints"][0]["port"] = "prom"

    _one(breaks(mutate), "M832", "m/podmonitor-m.yaml", "/spec/podMetricsEndpoints/0")


def test_scrape_under_strict_mtls() -> None:
    def mutate(o: dict[str, dict[str, Any]]) -> None:
        o["platform/namespace-team-prod.yaml"]["metadata"]["labels"] = {"istio-injection": "enabled"}
        o["m/peerauthentication-m.yaml"] = _obj(
            "security.istio.io/v1",
            "PeerAuthentication",
            "m",
            {"selector": {"matchLabels": {"app.kubernetes.io/name": "m"}}, "mtls": {"mode": "STRICT"}},
        )

    found = _one(breaks(mutate), "M833", "m/podmonitor-m.yaml", "/spec/podMetricsEndpoints/0")
    assert "STRICT" in found.message


def test_port_level_permissive_is_reachable() -> None:
    objects = _hooked(world())
    objects["platform/namespace-team-prod.yaml"]["metadata"]["labels"] = {"istio-injection": "enabled"}
    objects["m/peerauthentication-m.yaml"] = _obj(
        "security.istio.io/v1",
        "PeerAuthentication",
        "m",
        {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "m"}},
            "mtls": {"mode": "STRICT"},
            "portLevelMtls": {"8082": {"mode": "PERMISSIVE"}},
        },
    )
    assert [f for f in run(objects) if f.code == "M833"] == []


def test_istio_policy_on_pods_without_sidecar() -> None:
    def mutate(o: dict[str, dict[str, Any]]) -> None:
        o["m/peerauthentication-m.yaml"] = _obj(
            "security.istio.io/v1",
            "PeerAuthentication",
            "m",
            {"selector": {"matchLabels": {"app.kubernetes.io/name": "m"}}, "mtls": {"mode": "STRICT"}},
        )

    _one(breaks(mutate), "M833", "m/peerauthentication-m.yaml", "/spec/selector")


def test_storage_uri_without_handler() -> None:
    def mutate(o: dict[str, dict[str, Any]]) -> None:
        o["m/inferenceservice-m2.yaml"] = _obj(
            "serving.kserve.io/v1beta1",
            "InferenceService",
            "m2",
            {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "models:/m@champion"}}},
        )

    _one(breaks(mutate), "M834", "m/inferenceservice-m2.yaml", "/spec/predictor/model/storageUri")


def test_storage_container_handles_the_scheme() -> None:
    objects = _hooked(world())
    objects["m/inferenceservice-m2.yaml"] = _obj(
        "serving.kserve.io/v1beta1",
        "InferenceService",
        "m2",
        {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "models:/m@champion"}}},
    )
    objects["platform/clusterstoragecontainer-mlflow.yaml"] = _obj(
        "serving.kserve.io/v1alpha1",
        "ClusterStorageContainer",
        "mlflow",
        ns=None,
        spec={
            "container": {"name": "storage-initializer", "image": "x"},
            "supportedUriFormats": [{"prefix": "models:/"}],
        },
    )
    assert [f for f in run(objects) if f.code == "M834"] == []


def test_autoscaler_target_missing() -> None:
    def mutate(o: dict[str, dict[str, Any]]) -> None:
        o["m/horizontalpodautoscaler-m.yaml"]["spec"]["scaleTargetRef"]["name"] = "gone"

    _one(breaks(mutate), "M835", "m/horizontalpodautoscaler-m.yaml", "/spec/scaleTargetRef")


def test_autoscaler_and_replicas_in_git() -> None:
    def mutate(o: dict[str, dict[str, Any]]) -> None:
        o[DEP]["spec"]["replicas"] = 2

    found = _one(breaks(mutate), "M836", "m/horizontalpodautoscaler-m.yaml", "/spec/scaleTargetRef")
    assert "spec.replicas" in found.message


def test_two_autoscalers() -> None:
    def mutate(o: dict[str, dict[str, Any]]) -> None:
        o["m/scaledobject-m.yaml"] = _obj(
            "keda.sh/v1alpha1", "ScaledObject", "m", {"scaleTargetRef": {"name": "m"}, "triggers": []}
        )

    _one(breaks(mutate), "M836", "m/scaledobject-m.yaml", "/spec/scaleTargetRef")


def test_external_autoscaler_class_without_autoscaler() -> None:
    def mutate(o: dict[str, dict[str, Any]]) -> None:
        isvc = _obj(
            "serving.kserve.io/v1beta1",
            "InferenceService",
            "m2",
            {"predictor": {"minReplicas": 2, "model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://b/m"}}},
        )
        isvc["metadata"]["annotations"] = {"serving.kserve.io/autoscalerClass": "external"}
        o["m/inferenceservice-m2.yaml"] = isvc

    _one(breaks(mutate), "M836", "m/inferenceservice-m2.yaml")


def test_plain_synced_job() -> None:
    f = run(world())
    _one(f, "M837", "m/job-m-sync.yaml", "/metadata/annotations")


def test_cronjob_runs_are_fine() -> None:
    objects = _hooked(world())
    job = objects.pop("m/job-m-sync.yaml")
    objects["m/cronjob-m.yaml"] = _obj(
        "batch/v1", "CronJob", "m", {"schedule": "0 * * * *", "jobTemplate": {"spec": job["spec"]}}
    )
    assert run(objects) == []


def test_route_to_undefined_subset() -> None:
    def mutate(o: dict[str, dict[str, Any]]) -> None:
        o["m/virtualservice-m.yaml"]["spec"]["http"][0]["route"][0]["destination"]["subset"] = "canary"

    _one(breaks(mutate), "M838", "m/virtualservice-m.yaml", "/spec/http/0/route/0/destination/subset")


def test_route_to_undefined_host() -> None:
    def mutate(o: dict[str, dict[str, Any]]) -> None:
        o["m/virtualservice-m.yaml"]["spec"]["http"][0]["route"][0]["destination"]["host"] = "nope"

    _one(breaks(mutate), "M838", "m/virtualservice-m.yaml", "/spec/http/0/route/0/destination/host")


def test_network_policy_blocks_prometheus() -> None:
    def mutate(o: dict[str, dict[str, Any]]) -> None:
        o["m/networkpolicy-m.yaml"]["spec"]["ingress"].pop(1)

    found = _one(breaks(mutate), "M839", DEP)
    assert "monitoring" in found.message


def test_network_policy_blocks_a_declared_caller() -> None:
    def mutate(o: dict[str, dict[str, Any]]) -> None:
        o["m/networkpolicy-m.yaml"]["spec"]["ingress"][0]["from"].pop(1)

    found = _one(breaks(mutate), "M839", DEP)
    assert "'callers'" in found.message


def test_network_policy_blocks_the_ingress_gateway() -> None:
    def mutate(o: dict[str, dict[str, Any]]) -> None:
        o["m/networkpolicy-m.yaml"]["spec"]["ingress"][0]["from"].pop(0)

    found = _one(breaks(mutate), "M839", DEP)
    assert "istio-ingress" in found.message


@pytest.mark.parametrize("seed", range(3))
def test_order_does_not_matter(seed: int) -> None:
    import random

    objects = list(_hooked(world()).items())
    objects.append(("m/job-x.yaml", _obj("batch/v1", "Job", "x", {"template": {"spec": {"containers": []}}})))
    random.Random(seed).shuffle(objects)
    assert run(dict(objects)) == run(dict(sorted(objects)))


# ------------------------------------------------------------------ more reference kinds


def _isvc(name: str = "m2", cls: str | None = "external", uri: str = "s3://bucket/m") -> dict[str, Any]:
    isvc = _obj(
        "serving.kserve.io/v1beta1",
        "InferenceService",
        name,
        {
            "predictor": {
                "minReplicas": 2,
                "serviceAccountName": "m",
                "labels": {"app.kubernetes.io/name": "m"},
                "model": {
                    "modelFormat": {"name": "sklearn"},
                    "storageUri": uri,
                    "ports": [{"name": "http1", "containerPort": 8080}],
                },
            }
        },
    )
    if cls is not None:
        isvc["metadata"]["annotations"] = {"serving.kserve.io/autoscalerClass": cls}
    return isvc


def test_kserve_pods_and_objects_are_modelled() -> None:
    """A Service may select KServe's pods by KServe's labels; an HPA may target its Deployment."""
    objects = _hooked(world())
    objects["m/inferenceservice-m2.yaml"] = _isvc()
    objects["m/service-m2.yaml"] = _obj(
        "v1",
        "Service",
        "m2",
        {"selector": {"serving.kserve.io/inferenceservice": "m2"}, "ports": [{"port": 80, "targetPort": 8080}]},
    )
    objects["m/horizontalpodautoscaler-m2.yaml"] = _obj(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        "m2",
        {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "m2-predictor"},
            "minReplicas": 2,
            "maxReplicas": 3,
        },
    )
    objects["m/virtualservice-m2.yaml"] = _obj(
        "networking.istio.io/v1",
        "VirtualService",
        "m2",
        {"hosts": ["m2-predictor"], "http": [{"route": [{"destination": {"host": "m2-predictor"}}]}]},
    )
    assert run(objects) == []


def test_kserve_scales_a_deployment_an_hpa_also_scales() -> None:
    def mutate(o: dict[str, dict[str, Any]]) -> None:
        o["m/inferenceservice-m2.yaml"] = _isvc(cls=None)  # KServe's default class: its own HPA
        o["m/horizontalpodautoscaler-m2.yaml"] = _obj(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            "m2",
            {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "m2-predictor"},
                "minReplicas": 2,
                "maxReplicas": 3,
            },
        )

    found = _one(breaks(mutate), "M836", "m/horizontalpodautoscaler-m2.yaml", "/spec/scaleTargetRef")
    assert "KServe" in found.message


def test_hpa_on_a_deployment_a_rollout_adopts() -> None:
    def mutate(o: dict[str, dict[str, Any]]) -> None:
        o["m/rollout-m.yaml"] = _obj(
            "argoproj.io/v1alpha1",
            "Rollout",
            "m",
            {
                "selector": {"matchLabels": dict(POD_LABELS)},
                "workloadRef": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "m",
                    "scaleDown": "progressively",
                },
                "strategy": {"canary": {"steps": [{"setWeight": 50}]}},
            },
        )

    found = _one(breaks(mutate), "M836", "m/horizontalpodautoscaler-m.yaml", "/spec/scaleTargetRef")
    assert "workloadRef" in found.message


def test_rollout_references() -> None:
    def mutate(o: dict[str, dict[str, Any]]) -> None:
        o["m/rollout-r.yaml"] = _obj(
            "argoproj.io/v1alpha1",
            "Rollout",
            "r",
            {
                "selector": {"matchLabels": dict(POD_LABELS)},
                "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gone"},
                "strategy": {
                    "canary": {
                        "canaryService": "m-canary",
                        "stableService": "m",
                        "analysis": {"templates": [{"templateName": "m-analysis"}]},
                        "trafficRouting": {
                            "istio": {
                                "virtualService": {"name": "m", "routes": ["primary", "other"]},
                                "destinationRule": {
                                    "name": "m",
                                    "canarySubsetName": "canary",
                                    "stableSubsetName": "stable",
                                },
                            }
                        },
                    }
                },
            },
        )

    f = breaks(mutate)
    at = "m/rollout-r.yaml"
    _one(f, "M830", at, "/spec/workloadRef")
    _one(f, "M830", at, "/spec/strategy/canary/canaryService")
    _one(f, "M830", at, "/spec/strategy/canary/analysis/templates/0/templateName")
    _one(f, "M830", at, "/spec/strategy/canary/trafficRouting/istio/virtualService/routes/1")
    _one(f, "M830", at, "/spec/strategy/canary/trafficRouting/istio/destinationRule/canarySubsetName")
    assert not [x for x in f if x.path.endswith(at) and x.pointer.endswith(("stableService", "routes/0"))]


def test_role_binding_and_vault_auth_references() -> None:
    def mutate(o: dict[str, dict[str, Any]]) -> None:
        o["m/rolebinding-m.yaml"] = _obj(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            "m",
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "m"},
            subjects=[{"kind": "ServiceAccount", "name": "ghost", "namespace": NS}],
        )
        o["m/vaultauth-m.yaml"]["spec"]["kubernetes"]["serviceAccount"] = "ghost"
        o["m/vaultstaticsecret-m-db.yaml"]["spec"]["vaultAuthRef"] = "nobody"

    f = breaks(mutate)
    _one(f, "M830", "m/rolebinding-m.yaml", "/roleRef/name")
    _one(f, "M830", "m/rolebinding-m.yaml", "/subjects/0/name")
    _one(f, "M830", "m/vaultauth-m.yaml", "/spec/kubernetes/serviceAccount")
    _one(f, "M830", "m/vaultstaticsecret-m-db.yaml", "/spec/vaultAuthRef")


def test_trainjob_runtime_must_be_provided() -> None:
    trainjob = _obj(
        "trainer.kubeflow.org/v1alpha1",
        "TrainJob",
        "m-train",
        {
            "runtimeRef": {"name": "torch-distributed"},
            "trainer": {
                "image": "x",
                "env": [{"name": "DB", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k"}}}],
            },
        },
    )
    trainjob["metadata"]["annotations"] = {"argocd.argoproj.io/hook": "PostSync"}
    objects = _hooked(world())
    objects["m/trainjob-m-train.yaml"] = trainjob
    f = run(objects)
    _one(f, "M830", "m/trainjob-m-train.yaml", "/spec/runtimeRef/name")
    _one(f, "M830", "m/trainjob-m-train.yaml", "/spec/trainer/env/0/valueFrom/secretKeyRef/name")
    provided = Provided(cluster_training_runtimes=frozenset({"torch-distributed"}))
    assert [x.pointer for x in run(objects, provided=provided)] == ["/spec/trainer/env/0/valueFrom/secretKeyRef/name"]


def test_a_run_launched_by_a_hook_or_cronjob_is_fine_and_by_nothing_is_not() -> None:
    objects = _hooked(world())
    run_job = _obj("batch/v1", "Job", "m-run", {"template": {"spec": {"containers": []}}})
    run_job["metadata"]["annotations"] = {"maestro.ml/launched-by": "Job/m-sync"}  # m-sync is a PostSync hook
    objects["m/job-m-run.yaml"] = run_job
    assert run(objects) == []
    run_job["metadata"]["annotations"] = {"maestro.ml/launched-by": "Job/ghost"}
    found = _one(run(objects), "M837", "m/job-m-run.yaml", "/metadata/annotations")
    assert "Job/ghost" in found.message


def test_a_run_launched_by_a_pipelines_dag_is_fine() -> None:
    """An Airflow DAG's task creates the run (render/airflow.py): the ConfigMap carrying the DAG
    must be rendered; any other ConfigMap launches nothing."""
    objects = _hooked(world())
    dag = _obj("v1", "ConfigMap", "m-airflow-dag", None)
    dag["metadata"]["annotations"] = {"maestro.ml/artifact-dir": "airflow"}
    objects["m/configmap-m-airflow-dag.yaml"] = dag
    run_job = _obj("batch/v1", "Job", "m-run", {"template": {"spec": {"containers": []}}})
    run_job["metadata"]["annotations"] = {"maestro.ml/launched-by": "ConfigMap/m-airflow-dag"}
    objects["m/job-m-run.yaml"] = run_job
    assert run(objects) == []
    dag["metadata"]["annotations"] = {}
    _one(run(objects), "M837", "m/job-m-run.yaml", "/metadata/annotations")


def test_provided_namespace_patterns_count() -> None:
    objects = _hooked(world())
    objects.pop("platform/namespace-team-prod.yaml")
    assert run(objects, provided=Provided(namespaces=("team-*",))) == []


def test_provided_secrets_count() -> None:
    objects = _hooked(world())
    objects.pop("m/vaultstaticsecret-m-db.yaml")
    assert run(objects, provided=Provided(secrets=frozenset({(NS, "m-db")}))) == []


def test_ambient_mode_puts_pods_in_the_mesh() -> None:
    objects = _hooked(world())
    objects["platform/namespace-team-prod.yaml"]["metadata"]["labels"] = {"istio.io/dataplane-mode": "ambient"}
    objects["m/peerauthentication-m.yaml"] = _obj(
        "security.istio.io/v1",
        "PeerAuthentication",
        "m",
        {"selector": {"matchLabels": {"app.kubernetes.io/name": "m"}}, "mtls": {"mode": "STRICT"}},
    )
    assert {f.code for f in run(objects)} == {"M833"}  # the scrape, not "policy without a sidecar"


def test_sidecar_metrics_port_is_outside_mtls() -> None:
    objects = _hooked(world())
    objects["platform/namespace-team-prod.yaml"]["metadata"]["labels"] = {"istio-injection": "enabled"}
    objects["m/peerauthentication-m.yaml"] = _obj(
        "security.istio.io/v1",
        "PeerAuthentication",
        "m",
        {"selector": {"matchLabels": {"app.kubernetes.io/name": "m"}}, "mtls": {"mode": "STRICT"}},
    )
    objects["m/podmonitor-m.yaml"]["spec"]["podMetricsEndpoints"] = [{"portNumber": 15020, "path": "/stats/prometheus"}]
    objects["m/networkpolicy-m.yaml"]["spec"]["ingress"][1]["ports"] = [{"protocol": "TCP", "port": 15020}]
    assert run(objects) == []


def test_disabled_checks_name_who_fixes_them_and_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, why in link.DISABLED.items():
        assert name in link.CHECKS and why.split(":")[0] in {"13B", "13C"}, name
    objects = world()  # the Job is no hook: one-shot-jobs finds it
    placed = tuple(Placed(o, f"rendered/prod/{p}", "m") for p, o in objects.items())
    monkeypatch.setattr(link, "DISABLED", {"one-shot-jobs": "13C: test"})
    assert link.link(LinkInput("prod", placed, callers={"m": Callers(("callers",), "istio-ingress")})) == []
    monkeypatch.setattr(link, "DISABLED", {})
    assert [
        f.code for f in link.link(LinkInput("prod", placed, callers={"m": Callers(("callers",), "istio-ingress")}))
    ] == ["M837"]


# ------------------------------------------------------------------ through `maestro render`


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for sub in ("config", "specs", "overlays", "schemas", "policies"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    return tmp_path


def _render(repo: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]]]:
    """`maestro render --env prod` run inside `repo`: exit code and the diagnostics it printed."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(repo)
        rc = main(["render", "--env", "prod"])
    out = capsys.readouterr()
    pattern = re.compile(r"^(\S+):(\d+):(\d+): (M\d+) (.*?)(?: \(in (rendered/\S+)\))?$")
    diags = [
        {"file": m[1], "line": int(m[2]), "code": m[4], "message": m[5], "rendered": m[6]}
        for m in (pattern.match(line) for line in (out.out + out.err).splitlines())
        if m
    ]
    return rc, diags


def test_the_examples_link_clean(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--root", str(ROOT), "render", "--check"])
    assert rc == 0, capsys.readouterr()


def test_an_undefined_priority_class_is_reported_at_the_overlay_patch(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13: prod patches `priorityClassName: prod-critical` that nothing rendered."""
    cfg = repo / "config" / "platform.yaml"
    cfg.write_text(cfg.read_text().replace("  prod-critical:\n", "  unused-class:\n"))
    rc, diags = _render(repo, capsys)
    assert rc == 1 and not (repo / "rendered").exists()  # nothing written
    found = [d for d in diags if d["code"] == "M830" and "prod-critical" in d["message"]]
    assert found and {d["file"] for d in found} == {"overlays/prod/overlay.yaml"}
    lines = (repo / "overlays" / "prod" / "overlay.yaml").read_text().splitlines()
    assert {lines[d["line"] - 1].strip() for d in found} <= {
        '- target: {kind: Deployment, labelSelector: "app.kubernetes.io/component=serving"}',
        "- target: {group: serving.kserve.io, kind: InferenceService}",
    }
    assert "rendered/prod/fraud-detector/inferenceservice-fraud-detector.yaml" in {d["rendered"] for d in found}


def test_a_tuning_secret_nothing_provides_is_reported_at_the_spec(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13: the tuning Job's `<model>-tuning-db` was provided by nothing. (The Job is a
    launched run: its findings point at the launcher's ConfigMap, which holds it.)"""
    cfg = repo / "config" / "platform.yaml"
    text = cfg.read_text()
    cfg.write_text(
        text.replace("  storage_secret:", "  storage_secret_off:")
        .replace('    vault_path: "secret/data/ml-platform/optuna/{env}/{team}"\n    key: url\n', "")
        .replace("  storage_secret_off:", "  storage_secret: null  #")
    )
    rc, diags = _render(repo, capsys)
    assert rc == 1
    found = sorted((d["file"], d["rendered"]) for d in diags if d["code"] == "M830")
    assert found == [
        (
            "specs/churn-predictor/maestro.yaml",
            "rendered/prod/churn-predictor/configmap-churn-predictor-tuning-job.yaml",
        ),
        ("specs/fraud-detector/maestro.yaml", "rendered/prod/fraud-detector/configmap-fraud-detector-tuning-job.yaml"),
        (
            "specs/image-classifier/maestro.yaml",
            "rendered/prod/image-classifier/configmap-image-classifier-tuning-job.yaml",
        ),
    ]
    spec = (repo / "specs" / "fraud-detector" / "maestro.yaml").read_text().splitlines()
    [line] = [d["line"] for d in diags if d["file"] == "specs/fraud-detector/maestro.yaml"]
    assert spec[line - 1].strip() == "tuning:"
    # Declared as provided by the cluster, it links.
    cfg.write_text(cfg.read_text().replace("  secrets: []", '  secrets: ["{model}-tuning-db"]'))
    assert _render(repo, capsys)[0] == 0


def _merged_metrics(objects: dict[str, dict[str, Any]]) -> None:
    """Scraping as Istio's metrics merging documents it: discover the pods by the sidecar's
    declared port, then connect to the pod's prometheus.io/port (injection sets it to 15020)."""
    objects["platform/namespace-team-prod.yaml"]["metadata"]["labels"] = {"istio-injection": "enabled"}
    objects["m/peerauthentication-m.yaml"] = _obj(
        "security.istio.io/v1",
        "PeerAuthentication",
        "m",
        {"selector": {"matchLabels": {"app.kubernetes.io/name": "m"}}, "mtls": {"mode": "STRICT"}},
    )
    objects["m/podmonitor-m.yaml"]["spec"]["podMetricsEndpoints"] = [
        {
            "port": "http-envoy-prom",
            "path": "/stats/prometheus",
            "relabelings": [
                {
                    "action": "replace",
                    "regex": "([0-9]+);([0-9.]+)",
                    "replacement": "$2:$1",
                    "sourceLabels": ["__meta_kubernetes_pod_annotation_prometheus_io_port", "__meta_kubernetes_pod_ip"],
                    "targetLabel": "__address__",
                }
            ],
        }
    ]


def test_merged_metrics_through_the_sidecar_pass_strict_mtls() -> None:
    objects = _hooked(world())
    _merged_metrics(objects)
    objects["m/networkpolicy-m.yaml"]["spec"]["ingress"][1]["ports"] = [{"protocol": "TCP", "port": 15020}]
    assert run(objects) == []


def test_merged_metrics_need_the_agent_port_admitted() -> None:
    objects = _hooked(world())
    _merged_metrics(objects)  # the NetworkPolicy still admits Prometheus to 8082 only
    found = _one(run(objects), "M839", DEP)
    assert "port 15020" in found.message


def test_the_sidecar_port_is_only_there_with_a_sidecar() -> None:
    objects = _hooked(world())
    _merged_metrics(objects)
    objects["m/deployment-m.yaml"]["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"] = "false"
    _one(run(objects), "M832", "m/podmonitor-m.yaml", "/spec/podMetricsEndpoints/0")


def _naive(monkeypatch: pytest.MonkeyPatch) -> None:
    """The selector lookups as plain scans of every pod of the namespace (what the indexes replace)."""
    monkeypatch.setattr(link, "_candidates", lambda ix, ns, match_labels: ix.pods_in.get(ns, []))

    def policies(ix: link.Index, pods: link.Pods) -> list[dict[str, Any]]:
        out = []
        for placed in ix.in_namespace("networking.k8s.io", "NetworkPolicy", pods.namespace):
            spec = placed.obj.get("spec") or {}
            if "Ingress" in (spec.get("policyTypes") or ["Ingress"]) and link.matches(
                spec.get("podSelector"), pods.labels
            ):
                out.append(spec)
        return out

    monkeypatch.setattr(link, "_ingress_policies", policies)


def _selector_worlds() -> list[dict[str, dict[str, Any]]]:
    worlds = [_hooked(world())]
    for selector in ({"app": None}, {"app": ["x"]}, {"app": "m", "absent": "x"}, {}, {"nope": "m"}):
        w = _hooked(world())
        for obj in w.values():
            spec = obj.get("spec")
            if obj["kind"] == "Service" and isinstance(spec, dict):
                spec["selector"] = selector
            if obj["kind"] in ("NetworkPolicy", "PodDisruptionBudget") and isinstance(spec, dict):
                key = "podSelector" if obj["kind"] == "NetworkPolicy" else "selector"
                spec[key] = {"matchLabels": selector, "matchExpressions": [{"key": "app", "operator": "Exists"}]}
        worlds.append(w)
    return worlds


def test_the_selector_indexes_find_what_a_scan_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The label index and the per-namespace ingress policies change no finding (they only
    make the link stage linear in a namespace shared by many models), on the rendered examples
    of every environment and on worlds whose selectors select nothing, everything, None or a list."""
    import yaml

    inputs = []
    for env_dir in sorted((ROOT / "rendered").iterdir()):
        objects = []
        for path in sorted(env_dir.glob("*/*.yaml")):
            if path.name != "kustomization.yaml":
                model = None if path.parent.name in ("platform", "argocd") else path.parent.name
                objects.append(
                    Placed(
                        yaml.safe_load(path.read_text()),
                        f"rendered/{env_dir.name}/{path.parent.name}/{path.name}",
                        model,
                    )
                )
        inputs.append(LinkInput(env_dir.name, tuple(objects)))
    indexed = [link.link(i, checks=list(link.CHECKS)) for i in inputs] + [run(w) for w in _selector_worlds()]
    _naive(monkeypatch)
    scanned = [link.link(i, checks=list(link.CHECKS)) for i in inputs] + [run(w) for w in _selector_worlds()]
    assert indexed == scanned
    assert any(indexed)  # the worlds that select nothing have findings
    assert [by_namespace(i) for i in inputs] == indexed[: len(inputs)]


def _two_teams() -> dict[str, dict[str, Any]]:
    """The world's model in two namespaces (folders m and b), and objects that look across: a
    VirtualService in team-prod routing to team-b's Service; a RoleBinding in team-prod naming
    a ServiceAccount of namespace ops; in namespace obs, a PodMonitor watching team-b on a port
    team-b's policy does not open to it and on a port team-b's pods lack, and a ServiceMonitor
    watching every namespace for team-prod's Service, on a port its policy does not open."""
    objects = _hooked(world())
    for path, obj in list(objects.items()):
        if path.startswith("m/"):
            other = copy.deepcopy(obj)
            other["metadata"]["namespace"] = "team-b"
            objects[f"b/{path[2:]}"] = other
    for ns in ("team-b", "obs", "ops"):
        objects[f"platform/namespace-{ns}.yaml"] = _obj("v1", "Namespace", ns, ns=None)
    objects["m/service-m.yaml"]["metadata"]["labels"] = {"team": "prod"}
    vs = objects["m/virtualservice-m.yaml"]["spec"]
    vs["http"].append({"name": "b", "route": [{"destination": {"host": "m.team-b.svc.cluster.local"}}]})
    vs["http"].append({"name": "ghost", "route": [{"destination": {"host": "ghost.team-b"}}]})
    objects["m/rolebinding-b.yaml"] = _obj(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "b",
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        subjects=[{"kind": "ServiceAccount", "name": "ops", "namespace": "ops"}],
    )
    objects["ops/serviceaccount-ops.yaml"] = _obj("v1", "ServiceAccount", "ops", ns="ops")
    objects["obs/podmonitor-b.yaml"] = _obj(
        "monitoring.coreos.com/v1",
        "PodMonitor",
        "b",
        {
            "namespaceSelector": {"matchNames": ["team-b"]},
            "selector": {"matchLabels": dict(POD_LABELS)},
            "podMetricsEndpoints": [{"port": "http"}, {"port": "nope"}],
        },
        ns="obs",
    )
    objects["obs/servicemonitor-all.yaml"] = _obj(
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
        "all",
        {
            "namespaceSelector": {"any": True},
            "selector": {"matchLabels": {"team": "prod"}},
            "endpoints": [{"port": "http"}],
        },
        ns="obs",
    )
    return objects


def test_a_namespace_links_from_the_namespaces_it_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each cross-namespace reference is an edge of `link.reads`: linked from its own objects
    and the edges' namespaces, each namespace has the findings a link of everything gives
    (`run` checks it); without the edges the references break or the findings go missing."""
    found = run(_two_teams())
    assert {(f.code, f.path.split("/")[2], f.pointer) for f in found} == {
        ("M838", "m", "/spec/http/2/route/0/destination/host"),  # ghost.team-b
        ("M832", "obs", "/spec/podMetricsEndpoints/1"),  # no port "nope" on team-b's pods
        ("M839", "b", "/spec/template/spec"),  # team-b's policy does not admit Prometheus on 8080
        ("M839", "m", "/spec/template/spec"),  # nor team-prod's (the ServiceMonitor of any namespace)
    }
    monkeypatch.setattr(link, "reads", lambda res: iter(()))
    with pytest.raises(AssertionError):
        run(_two_teams())
