"""Benchmark: Maestro's Verifier vs kubernetes_validate.validate() on the same objects.

    .venv/bin/python bench/bench_verify.py [--count 1000] [--version 1.32]

kubernetes-validate only knows core kinds, so the head-to-head uses core objects (one in
ten broken); custom resources are timed for the Verifier alone. If `jsonschema_rs` is
importable (it is not a project dependency: try it from a scratch venv with
PYTHONPATH=compiler:.venv/lib/python3.11/site-packages), the same schemas are also timed
with it, validator against validator.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable
from typing import Any

from maestro.output.verify import Verifier, _registry

LABELS = {"app.kubernetes.io/name": "fraud-detector", "maestro.ml/env": "prod"}


def _pod() -> dict[str, Any]:
    return {
        "metadata": {"labels": LABELS},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "registry.example.com/payments/fraud:1.4.2",
                    "env": [{"name": "OTEL_SERVICE_NAME", "value": "fraud-detector"}],
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"memory": "2Gi"}},
                    "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
                }
            ]
        },
    }


def _obj(api: str, kind: str, i: int, **body: Any) -> dict[str, Any]:
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": f"model-{i}", "namespace": "team-prod", "labels": LABELS},
        **body,
    }


def core_objects(count: int) -> list[dict[str, Any]]:
    makers: list[Callable[[int], dict[str, Any]]] = [
        lambda i: _obj(
            "apps/v1", "Deployment", i, spec={"replicas": 2, "selector": {"matchLabels": LABELS}, "template": _pod()}
        ),
        lambda i: _obj("v1", "Service", i, spec={"selector": LABELS, "ports": [{"port": 80, "targetPort": "http"}]}),
        lambda i: _obj("v1", "ConfigMap", i, data={"study.json": "{}"}),
        lambda i: _obj("v1", "ServiceAccount", i),
        lambda i: _obj(
            "batch/v1",
            "Job",
            i,
            spec={"parallelism": 4, "template": {**_pod(), "spec": {**_pod()["spec"], "restartPolicy": "Never"}}},
        ),
        lambda i: _obj(
            "batch/v1", "CronJob", i, spec={"schedule": "0 3 * * 0", "jobTemplate": {"spec": {"template": _pod()}}}
        ),
        lambda i: _obj(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            i,
            spec={
                "scaleTargetRef": {"kind": "Deployment", "name": "m"},
                "maxReplicas": 5,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                    }
                ],
            },
        ),
        lambda i: _obj(
            "policy/v1", "PodDisruptionBudget", i, spec={"minAvailable": 1, "selector": {"matchLabels": LABELS}}
        ),
        lambda i: _obj("networking.k8s.io/v1", "NetworkPolicy", i, spec={"podSelector": {"matchLabels": LABELS}}),
        lambda i: _obj(
            "rbac.authorization.k8s.io/v1",
            "Role",
            i,
            rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
        ),
    ]
    out = []
    for i in range(count):
        o = makers[i % len(makers)](i)
        if i % 10 == 3:  # every tenth object carries an unknown field
            o = copy.deepcopy(o)
            o["spce"] = {}
        out.append(o)
    return out


def crd_objects(count: int) -> list[dict[str, Any]]:
    kinds = [
        _obj(
            "serving.kserve.io/v1beta1",
            "InferenceService",
            0,
            spec={"predictor": {"model": {"modelFormat": {"name": "xgboost"}, "storageUri": "s3://m/1"}}},
        ),
        _obj(
            "monitoring.coreos.com/v1",
            "ServiceMonitor",
            0,
            spec={"selector": {"matchLabels": LABELS}, "endpoints": [{"port": "http"}]},
        ),
        _obj(
            "argoproj.io/v1alpha1",
            "Rollout",
            0,
            spec={
                "selector": {"matchLabels": LABELS},
                "template": _pod(),
                "strategy": {"canary": {"steps": [{"setWeight": 10}]}},
            },
        ),
        _obj(
            "kubeflow.org/v1",
            "PyTorchJob",
            0,
            spec={"pytorchReplicaSpecs": {"Worker": {"replicas": 2, "template": _pod()}}},
        ),
        _obj(
            "argoproj.io/v1alpha1",
            "Application",
            0,
            spec={"project": "p", "destination": {"namespace": "n", "server": "https://kubernetes.default.svc"}},
        ),
    ]
    return [kinds[i % len(kinds)] for i in range(count)]


def timed(label: str, fn: Callable[[], Any], count: int) -> float:
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    print(f"{label:<58} {seconds:7.3f} s  {seconds / count * 1000:7.3f} ms/object")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--version", default="1.32")
    args = parser.parse_args()
    objs = core_objects(args.count)

    start = time.perf_counter()
    verifier = Verifier(args.version)  # with the CRD schemas shipped in the package
    for o in objs[:10]:  # one object of each kind: builds and caches the validators
        verifier.verify(o)
    print(f"{'Verifier cold start (registry + 10 kinds)':<58} {time.perf_counter() - start:7.3f} s")

    ours = timed(f"Verifier.verify, {args.count} core objects", lambda: [verifier.verify(o) for o in objs], args.count)
    found = sum(bool(verifier.verify(o)) for o in objs)

    import kubernetes_validate

    def kv() -> int:
        failed = 0
        for o in objs:
            try:
                kubernetes_validate.validate(o, args.version, strict=True)
            except kubernetes_validate.ValidationError:
                failed += 1
        return failed

    theirs = timed(f"kubernetes_validate.validate, same {args.count} objects", kv, args.count)
    print(f"objects with errors: Verifier {found}, kubernetes_validate {kv()}")
    print(f"ratio: kubernetes_validate / Verifier = {theirs / ours:.1f}x")

    if verifier.crd_dirs:
        crs = crd_objects(args.count)
        for o in crs[:5]:
            verifier.verify(o)
        timed(f"Verifier.verify, {args.count} custom resources", lambda: [verifier.verify(o) for o in crs], args.count)
        objs = objs + crs

    try:
        import jsonschema_rs
    except ImportError:
        print("jsonschema_rs not importable: skipped the comparison")
        return
    # Validator against validator, on exactly the schemas the Verifier uses.
    defs_uri = "https://kubernetes.io/api/_definitions.json"
    rs_registry = jsonschema_rs.Registry([(defs_uri, _registry(verifier.core_dir).contents(defs_uri))])
    py: dict[tuple[str, str], Any] = {}
    rs: dict[tuple[str, str], Any] = {}
    for o in objs:
        key = (o["apiVersion"], o["kind"])
        if key not in py:
            py[key] = verifier.validator_for(*key)
            rs[key] = jsonschema_rs.Draft202012Validator(py[key].schema, registry=rs_registry)
    n = len(objs)
    a = timed(
        f"jsonschema (Python) iter_errors, {n} objects",
        lambda: [list(py[(o["apiVersion"], o["kind"])].iter_errors(o)) for o in objs],
        n,
    )
    b = timed(
        f"jsonschema_rs iter_errors, {n} objects",
        lambda: [list(rs[(o["apiVersion"], o["kind"])].iter_errors(o)) for o in objs],
        n,
    )
    print(f"ratio: jsonschema / jsonschema_rs = {a / b:.1f}x")


if __name__ == "__main__":
    main()
