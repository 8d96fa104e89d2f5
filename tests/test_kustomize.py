"""maestro.transform against the real thing.

The differential corpus writes each case's resources and a kustomization.yaml holding the
same overlay fields into a temporary folder, runs `kubectl kustomize` (Kustomize v5.5) on
it, and expects exactly the objects `apply_transforms` returns. Kustomize's default
("legacy") output order sorts by kind, while Maestro keeps the rendered order, so those
comparisons sort both sides by object id; test_order_is_kustomize_fifo_order checks the
order itself against `sortOptions: {order: fifo}`.

Tests that need kubectl skip when it is missing, and fail instead when
MAESTRO_REQUIRE_TOOLS=1 (as in CI).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from maestro.diagnostics import CODES
from maestro.transform.apply import apply_transforms
from maestro.transform.images import set_images
from maestro.transform.labels import add_annotations, add_labels
from maestro.transform.namespace import set_namespace
from maestro.transform.patches import apply_patch

CONTEXT = {"team": "payments-risk", "model": "fraud-detector", "env": "prod"}
KUSTOMIZE_VERSION = "v5.5."


# ------------------------------------------------------------------ kubectl helper


def _require_tools() -> bool:
    return os.environ.get("MAESTRO_REQUIRE_TOOLS") == "1"


@functools.lru_cache(maxsize=1)
def _kubectl_status() -> tuple[str | None, str]:
    path = shutil.which("kubectl")
    if path is None:
        return None, "kubectl is not on PATH; the differential tests run `kubectl kustomize`"
    try:
        out = subprocess.run(
            [path, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
        version = json.loads(out).get("kustomizeVersion", "")
    except (subprocess.SubprocessError, OSError, ValueError) as exc:
        return None, f"cannot ask kubectl for its Kustomize version: {exc}"
    if not version.startswith(KUSTOMIZE_VERSION):
        return None, f"kubectl embeds Kustomize {version}; these tests pin the semantics of {KUSTOMIZE_VERSION}x"
    return path, ""


def kubectl() -> str:
    """kubectl's path, or skip (fail with MAESTRO_REQUIRE_TOOLS=1) with the reason."""
    path, reason = _kubectl_status()
    if path is None:
        if _require_tools():
            pytest.fail(f"MAESTRO_REQUIRE_TOOLS=1 but {reason}")
        pytest.skip(reason)
    return path


def kustomize_build(
    folder: Path, resources: list[dict], overlay: dict, files: dict[str, str] | None = None, fifo: bool = False
) -> tuple[list[dict] | None, str]:
    """Run `kubectl kustomize` on resources + a kustomization with the overlay's fields.

    Returns (objects, "") or (None, kustomize's error text).
    """
    binary = kubectl()
    names = []
    for i, resource in enumerate(resources):
        name = f"resource-{i:02d}.yaml"
        (folder / name).write_text(json.dumps(resource, indent=1), encoding="utf-8")
        names.append(name)
    for path, text in (files or {}).items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text, encoding="utf-8")
    kustomization = {k: v for k, v in overlay.items() if k != "namespace"}
    if overlay.get("namespace"):
        kustomization["namespace"] = overlay["namespace"].format(**CONTEXT)
    kustomization["resources"] = names
    if fifo:
        kustomization["sortOptions"] = {"order": "fifo"}
    (folder / "kustomization.yaml").write_text(json.dumps(kustomization, indent=1), encoding="utf-8")
    run = subprocess.run([binary, "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    if run.returncode != 0:
        return None, run.stderr or f"exit {run.returncode}"
    return [doc for doc in YAML(typ="safe", pure=True).load_all(run.stdout) if doc is not None], ""


def plain(objects: list[dict]) -> list[dict]:
    return json.loads(json.dumps(objects))


def by_id(objects: list[dict]) -> list[dict]:
    def key(o: dict) -> tuple[str, str, str, str]:
        meta = o.get("metadata") or {}
        return (o.get("apiVersion", ""), o.get("kind", ""), meta.get("namespace", ""), meta.get("name", ""))

    return sorted(plain(objects), key=key)


# ------------------------------------------------------------------ realistic objects

LABELS = {"app.kubernetes.io/name": "fraud-detector", "maestro.ml/component": "serving"}


def container(
    name: str = "predictor", image: str = "registry.example.com/payments/fraud-serve:1.4.2", **extra: Any
) -> dict:
    return {
        "name": name,
        "image": image,
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "env": [{"name": "MODEL_URI", "value": "s3://models/fraud/7"}, {"name": "LOG_LEVEL", "value": "info"}],
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        "volumeMounts": [{"name": "model-cache", "mountPath": "/cache"}],
        **extra,
    }


def pod_spec(**extra: Any) -> dict:
    return {
        "serviceAccountName": "fraud-detector",
        "containers": [
            container(),
            container(
                "metrics-exporter",
                "prom/statsd-exporter:v0.26.0",
                ports=[{"name": "metrics", "containerPort": 9102, "protocol": "TCP"}],
                env=[],
                volumeMounts=[],
            ),
        ],
        "volumes": [{"name": "model-cache", "emptyDir": {"sizeLimit": "5Gi"}}],
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        **extra,
    }


def deployment(name: str = "fraud-detector", labels: dict | None = None, **meta: Any) -> dict:
    labels = labels or LABELS
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": dict(labels), **meta},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "fraud-detector"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": dict(labels), "annotations": {"prometheus.io/scrape": "true"}},
                "spec": pod_spec(),
            },
        },
    }


def service(name: str = "fraud-detector") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": dict(LABELS)},
        "spec": {
            "selector": {"app.kubernetes.io/name": "fraud-detector"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                {"name": "grpc", "port": 9000, "targetPort": 9000, "protocol": "TCP"},
            ],
        },
    }


def job(name: str = "fraud-train") -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"maestro.ml/component": "training"}},
        "spec": {
            "backoffLimit": 2,
            "template": {
                "metadata": {"labels": {"maestro.ml/component": "training"}},
                "spec": {
                    "restartPolicy": "Never",
                    "initContainers": [
                        {
                            "name": "fetch-data",
                            "image": "registry.example.com/payments/feast-fetch:0.9",
                            "args": ["--dataset", "transactions"],
                        }
                    ],
                    "containers": [
                        {
                            "name": "train",
                            "image": "registry.example.com/payments/fraud-train:1.4.2",
                            "args": ["--epochs", "10"],
                        }
                    ],
                },
            },
        },
    }


def cronjob(name: str = "fraud-drift") -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "labels": {"maestro.ml/component": "monitoring"}},
        "spec": {
            "schedule": "0 * * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "OnFailure",
                            "containers": [
                                {
                                    "name": "drift",
                                    "image": "registry.example.com/ml/drift-check:2.0",
                                    "env": [{"name": "WINDOW", "value": "1h"}],
                                }
                            ],
                        }
                    }
                }
            },
        },
    }


def hpa() -> dict:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "fraud-detector", "labels": dict(LABELS)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "fraud-detector"},
            "minReplicas": 2,
            "maxReplicas": 6,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
        },
    }


def pdb() -> dict:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "fraud-detector"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "fraud-detector"}}},
    }


def network_policy() -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "fraud-detector"},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "fraud-detector"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "payments-api"}}},
                        {"podSelector": {"matchLabels": {"app": "gateway"}}},
                    ],
                    "ports": [{"port": 8080, "protocol": "TCP"}],
                }
            ],
        },
    }


def service_account(name: str = "fraud-detector", namespace: str | None = None) -> dict:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}


def role_binding(subjects: list[dict], name: str = "fraud-detector") -> dict:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "model-reader"},
        "subjects": subjects,
    }


def config_map(name: str = "fraud-detector-study", **meta: Any) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, **meta},
        "data": {"study.yaml": "direction: maximize\ntrials: 20\n"},
    }


def rollout() -> dict:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "fraud-detector", "labels": dict(LABELS)},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "fraud-detector"}},
            "template": {"metadata": {"labels": dict(LABELS)}, "spec": pod_spec()},
            "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {"duration": "10m"}}]}},
        },
    }


def inference_service() -> dict:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": "fraud-detector",
            "labels": dict(LABELS),
            "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"},
        },
        "spec": {
            "predictor": {
                "minReplicas": 1,
                "model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://models/fraud/7"},
                "containers": [
                    {"name": "kserve-container", "image": "registry.example.com/payments/fraud-serve:1.4.2"}
                ],
            }
        },
    }


def pytorch_job() -> dict:
    replica = {
        "replicas": 1,
        "restartPolicy": "OnFailure",
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "pytorch",
                        "image": "registry.example.com/payments/fraud-train:1.4.2",
                        "resources": {"limits": {"nvidia.com/gpu": 1}},
                    }
                ]
            }
        },
    }
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "fraud-train", "labels": {"maestro.ml/component": "training"}},
        "spec": {"pytorchReplicaSpecs": {"Master": copy.deepcopy(replica), "Worker": dict(replica, replicas=3)}},
    }


def service_monitor() -> dict:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "fraud-detector"},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "fraud-detector"}},
            "endpoints": [{"port": "http", "path": "/metrics"}],
        },
    }


def smp(api_version: str, kind: str, name: str, body: dict) -> str:
    """A strategic-merge patch document as text."""
    body = dict(body)
    metadata = {"name": name, **body.pop("metadata", {})}
    return json.dumps({"apiVersion": api_version, "kind": kind, "metadata": metadata, **body}, indent=1)


# ------------------------------------------------------------------ the differential corpus


@dataclass
class Case:
    name: str
    resources: list[dict]
    overlay: dict
    files: dict[str, str] = field(default_factory=dict)


CASES = [
    Case(
        "container_merge_by_name",
        [deployment()],
        {
            "patches": [
                {
                    "patch": smp(
                        "apps/v1",
                        "Deployment",
                        "fraud-detector",
                        {
                            "spec": {
                                "template": {
                                    "spec": {
                                        "containers": [
                                            {
                                                "name": "predictor",
                                                "image": "registry.example.com/payments/fraud-serve:1.5.0",
                                            },
                                            {
                                                "name": "istio-proxy",
                                                "image": "istio/proxyv2:1.22.0",
                                                "args": ["proxy", "sidecar"],
                                            },
                                        ]
                                    }
                                }
                            }
                        },
                    )
                }
            ]
        },
    ),
    Case(
        "env_merge_by_name",
        [deployment()],
        {
            "patches": [
                {
                    "patch": smp(
                        "apps/v1",
                        "Deployment",
                        "fraud-detector",
                        {
                            "spec": {
                                "template": {
                                    "spec": {
                                        "containers": [
                                            {
                                                "name": "predictor",
                                                "env": [
                                                    {"name": "LOG_LEVEL", "value": "debug"},
                                                    {"name": "OTEL_SERVICE_NAME", "value": "fraud"},
                                                ],
                                            }
                                        ]
                                    }
                                }
                            }
                        },
                    )
                }
            ]
        },
    ),
    Case(
        "patch_delete_list_element",
        [deployment()],
        {
            "patches": [
                {
                    "patch": smp(
                        "apps/v1",
                        "Deployment",
                        "fraud-detector",
                        {
                            "spec": {
                                "template": {
                                    "spec": {
                                        "containers": [
                                            {"name": "metrics-exporter", "$patch": "delete"},
                                            {"name": "predictor", "env": [{"name": "LOG_LEVEL", "$patch": "delete"}]},
                                        ]
                                    }
                                }
                            }
                        },
                    )
                }
            ]
        },
    ),
    Case(
        "patch_replace_list_and_map",
        [deployment()],
        {
            "patches": [
                {
                    "patch": smp(
                        "apps/v1",
                        "Deployment",
                        "fraud-detector",
                        {
                            "spec": {
                                "strategy": {"$patch": "replace", "type": "Recreate"},
                                "template": {
                                    "spec": {
                                        "volumes": [
                                            {"$patch": "replace"},
                                            {"name": "model-cache", "persistentVolumeClaim": {"claimName": "cache"}},
                                        ]
                                    }
                                },
                            }
                        },
                    )
                }
            ]
        },
    ),
    Case(
        "null_deletes_key",
        [deployment()],
        {
            "patches": [
                {
                    "patch": smp(
                        "apps/v1",
                        "Deployment",
                        "fraud-detector",
                        {
                            "metadata": {"labels": {"maestro.ml/component": None}},
                            "spec": {
                                "strategy": {"rollingUpdate": None},
                                "template": {
                                    "spec": {"containers": [{"name": "predictor", "resources": {"limits": None}}]}
                                },
                            },
                        },
                    )
                }
            ]
        },
    ),
    Case(
        "json6902_escaped_path",
        [deployment(annotations={"maestro.ml/owner": "team-a"})],
        {
            "patches": [
                {
                    "target": {"kind": "Deployment"},
                    "patch": '- op: add\n  path: /metadata/annotations/maestro.ml~1x\n  value: "1"\n'
                    "- op: replace\n  path: /metadata/annotations/maestro.ml~1owner\n  value: team-b\n"
                    "- op: add\n  path: /spec/template/metadata/annotations/a~0b\n  value: tilde\n",
                }
            ]
        },
    ),
    Case(
        "json6902_add_dash_and_annotations_of_unannotated",
        [job(), config_map()],
        {
            "patches": [
                {
                    "target": {"kind": "Job"},
                    "patch": json.dumps(
                        [
                            {"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": "--seed=42"},
                            {
                                "op": "add",
                                "path": "/spec/template/spec/initContainers/-",
                                "value": {"name": "warmup", "image": "busybox:1.36"},
                            },
                        ]
                    ),
                },
                {
                    "target": {"kind": "ConfigMap"},  # no annotations: Kustomize's bookkeeping makes the map exist
                    "patch": "- {op: add, path: /metadata/annotations/maestro.ml~1hash, value: abc123}",
                },
            ]
        },
    ),
    Case(
        "target_label_selector",
        [deployment(), deployment("fraud-shadow", {"maestro.ml/component": "shadow"}), service()],
        {
            "patches": [
                {
                    "target": {"kind": "Deployment", "labelSelector": "maestro.ml/component=serving"},
                    "patch": "- op: add\n  path: /spec/template/spec/priorityClassName\n  value: prod-critical\n",
                },
                {
                    "target": {"labelSelector": "maestro.ml/component notin (shadow),app.kubernetes.io/name"},
                    "patch": "- op: add\n  path: /metadata/labels/tier\n  value: gold\n",
                },
            ]
        },
    ),
    Case(
        "target_annotation_selector",
        [deployment(annotations={"maestro.ml/canary": "true"}), config_map(), service()],
        {
            "patches": [
                {
                    "target": {"annotationSelector": "maestro.ml/canary=true"},
                    "patch": "- op: replace\n  path: /spec/replicas\n  value: 1\n",
                }
            ]
        },
    ),
    Case(
        "target_name_regex",
        [deployment(), deployment("fraud-shadow"), service(), config_map()],
        {
            "patches": [
                {
                    "target": {"name": "fraud-(detector|shadow)", "kind": "Deploy.*"},
                    "patch": "- op: add\n  path: /spec/revisionHistoryLimit\n  value: 3\n",
                },
                {
                    "target": {"name": "fraud"},  # anchored: matches no name
                    "patch": "- op: add\n  path: /metadata/labels/never\n  value: x\n",
                },
            ]
        },
    ),
    Case(
        "target_group_version_kind",
        [deployment(), rollout(), hpa(), service()],
        {
            "patches": [
                {
                    "target": {"group": "argoproj.io", "version": "v1alpha1", "kind": "Rollout"},
                    "patch": "- op: replace\n  path: /spec/replicas\n  value: 5\n",
                },
                {
                    "target": {
                        "group": "autoscaling",
                        "version": "v2",
                        "kind": "HorizontalPodAutoscaler",
                        "name": "fraud-detector",
                        "namespace": "default",
                    },
                    "patch": "- op: replace\n  path: /spec/maxReplicas\n  value: 12\n",
                },
            ]
        },
    ),
    Case(
        "images_newname_newtag",
        [deployment(), job(), inference_service()],
        {
            "images": [
                {
                    "name": "registry.example.com/payments/fraud-serve",
                    "newName": "mirror.example.com/fraud-serve",
                    "newTag": "1.5.0",
                },
                {"name": "prom/statsd-exporter", "newTag": "v0.27.1"},
            ]
        },
    ),
    Case(
        "images_digest",
        [deployment(), cronjob()],
        {
            "images": [
                {
                    "name": "registry.example.com/payments/fraud-serve",
                    "digest": "sha256:4b8f5a1e0b3a8c1f5e6d7c8b9a0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7",
                },
                {"name": "registry.example.com/ml/drift-check", "newTag": "2.1", "digest": "sha256:0123"},
            ]
        },
    ),
    Case(
        "images_init_container",
        [job()],
        {
            "images": [
                {"name": "registry.example.com/payments/feast-fetch", "newTag": "1.0"},
                {"name": "registry.example.com/payments/fraud-train", "newTag": "1.4.3"},
            ]
        },
    ),
    Case(
        "images_in_custom_resources",
        [rollout(), pytorch_job(), inference_service()],
        {
            "images": [
                {"name": "registry.example.com/payments/fraud-train", "newTag": "1.4.3"},
                {"name": "registry.example.com/payments/fraud-serve", "newTag": "1.5.0"},
            ]
        },
    ),
    Case(
        "namespace_with_cluster_scoped",
        [
            deployment(),
            service_account(),
            service_account("default"),
            role_binding(
                [
                    {"kind": "ServiceAccount", "name": "fraud-detector"},
                    {"kind": "ServiceAccount", "name": "default"},
                    {"kind": "ServiceAccount", "name": "gateway", "namespace": "payments-api"},
                ]
            ),
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": "model-reader"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "model-reader"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "model-reader"},
                "subjects": [{"kind": "ServiceAccount", "name": "fraud-detector", "namespace": "default"}],
            },
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "placeholder"}},
            {
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": {"name": "prod-critical"},
                "value": 1000,
            },
            service_monitor(),
        ],
        {"namespace": "{team}-{env}"},
    ),
    Case(
        "common_labels_reach_selectors",
        [
            deployment(),
            service(),
            job(),
            cronjob(),
            pdb(),
            network_policy(),
            hpa(),
            rollout(),
            inference_service(),
            pytorch_job(),
            service_monitor(),
            {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": {"name": "feast"},
                "spec": {
                    "serviceName": "feast",
                    "template": {"spec": {"containers": [{"name": "redis", "image": "redis:7"}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data"}}],
                },
            },
        ],
        {"commonLabels": {"maestro.ml/env": "prod", "maestro.ml/team": "payments-risk"}},
    ),
    Case(
        "common_annotations",
        [deployment(), cronjob(), job(), rollout(), config_map(annotations={})],
        {"commonAnnotations": {"maestro.ml/source": "specs/fraud-detector/maestro.yaml", "maestro.ml/rev": "42"}},
    ),
    Case(
        "patch_from_path",
        [deployment(), service()],
        {"patches": [{"path": "patches/resources.yaml"}, {"path": "patches/grpc.json", "target": {"kind": "Service"}}]},
        files={
            "patches/resources.yaml": smp(
                "apps/v1",
                "Deployment",
                "fraud-detector",
                {
                    "spec": {
                        "template": {
                            "spec": {
                                "containers": [
                                    {"name": "predictor", "resources": {"limits": {"cpu": "2", "memory": "4Gi"}}}
                                ]
                            }
                        }
                    }
                },
            ),
            "patches/grpc.json": json.dumps([{"op": "remove", "path": "/spec/ports/1"}]),
        },
    ),
    Case(
        "smp_replaces_lists_of_custom_resources",
        [rollout(), pytorch_job()],
        {
            "patches": [
                {
                    "patch": smp(
                        "argoproj.io/v1alpha1",
                        "Rollout",
                        "fraud-detector",
                        {
                            "spec": {
                                "template": {
                                    "spec": {
                                        "containers": [
                                            {
                                                "name": "predictor",
                                                "image": "registry.example.com/payments/fraud-serve:1.5.0",
                                            }
                                        ]
                                    }
                                }
                            }
                        },
                    )
                },
                {
                    "target": {"kind": "PyTorchJob"},
                    "patch": smp(
                        "kubeflow.org/v1",
                        "PyTorchJob",
                        "ignored",
                        {"spec": {"pytorchReplicaSpecs": {"Worker": {"replicas": 8}}}},
                    ),
                },
            ]
        },
    ),
    Case(
        "service_ports_by_port_and_protocol",
        [service()],
        {
            "patches": [
                {
                    "patch": smp(
                        "v1",
                        "Service",
                        "fraud-detector",
                        {
                            "spec": {
                                "ports": [
                                    {"port": 9000, "protocol": "TCP", "targetPort": 9443},
                                    {"name": "admin", "port": 8081, "protocol": "TCP"},
                                ]
                            }
                        },
                    )
                }
            ]
        },
    ),
    Case(
        "directives_kustomize_does_not_know",
        [deployment()],
        {
            "patches": [
                {
                    "patch": smp(
                        "apps/v1",
                        "Deployment",
                        "fraud-detector",
                        {
                            "spec": {
                                "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                                "template": {
                                    "spec": {
                                        "$setElementOrder/containers": [
                                            {"name": "metrics-exporter"},
                                            {"name": "predictor"},
                                        ]
                                    }
                                },
                            }
                        },
                    )
                }
            ]
        },
    ),
    Case(
        "unmatched_target_is_ignored",
        [deployment()],
        {"patches": [{"target": {"kind": "StatefulSet"}, "patch": "- op: remove\n  path: /spec/does/not/exist\n"}]},
    ),
    Case(
        "everything_at_once",
        [
            deployment(),
            service(),
            hpa(),
            pdb(),
            network_policy(),
            service_account(),
            role_binding([{"kind": "ServiceAccount", "name": "fraud-detector"}]),
            config_map(),
            job(),
            cronjob(),
            rollout(),
        ],
        {
            "namespace": "{team}-prod",
            "commonLabels": {"maestro.ml/env": "prod"},
            "commonAnnotations": {"maestro.ml/managed-by": "maestro"},
            "images": [{"name": "registry.example.com/payments/fraud-train", "newTag": "1.4.3"}],
            "patches": [  # runs first: sees neither the namespace nor the labels nor the new tag
                {
                    "target": {"kind": "Deployment", "labelSelector": "maestro.ml/component=serving"},
                    "patch": "- op: add\n  path: /spec/template/spec/priorityClassName\n  value: prod-critical\n",
                },
                {
                    "target": {"labelSelector": "maestro.ml/env=prod"},
                    "patch": "- op: add\n  path: /metadata/labels/never\n  value: x\n",
                },
                {
                    "target": {"kind": "Job"},
                    "patch": "- op: replace\n  path: /spec/template/spec/containers/0/image\n"
                    "  value: registry.example.com/payments/fraud-train:0.1\n",
                },
            ],
        },
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_matches_kubectl_kustomize(case: Case, tmp_path: Path) -> None:
    theirs, failure = kustomize_build(tmp_path, case.resources, case.overlay, case.files)
    assert theirs is not None, failure
    before = copy.deepcopy(case.resources)
    ours, diagnostics = apply_transforms(case.resources, case.overlay, context=CONTEXT, base_dir=tmp_path)
    assert diagnostics == []
    assert by_id(ours) == by_id(theirs)
    assert case.resources == before


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 18


def test_order_is_kustomize_fifo_order(tmp_path: Path) -> None:
    # Kustomize sorts its output by kind unless told `sortOptions: {order: fifo}`;
    # Maestro keeps the rendered order, which is the fifo order.
    resources = [deployment(), service(), service_account(), config_map(), hpa()]
    overlay = {"namespace": "ml", "commonLabels": {"maestro.ml/env": "dev"}}
    theirs, failure = kustomize_build(tmp_path, resources, overlay, fifo=True)
    assert theirs is not None, failure
    ours, _ = apply_transforms(resources, overlay, context=CONTEXT)
    assert plain(ours) == theirs
    legacy, _ = kustomize_build(tmp_path, resources, overlay)
    assert legacy is not None
    assert [o["kind"] for o in legacy] == [
        "ServiceAccount",
        "ConfigMap",
        "Service",
        "Deployment",
        "HorizontalPodAutoscaler",
    ]


# ------------------------------------------------------------------ errors, as Kustomize errs

ERROR_CASES = [
    ("patch_does_not_parse", [deployment()], {"patches": [{"patch": "{a: b"}]}, "M502"),
    (
        "patch_neither_smp_nor_json",
        [deployment()],
        {"patches": [{"patch": "apiVersion: v1\nmetadata: {name: x}\n"}]},
        "M502",
    ),
    (
        "json_patch_without_target",
        [deployment()],
        {"patches": [{"patch": "- {op: remove, path: /spec/replicas}"}]},
        "M502",
    ),
    (
        "json_remove_missing_path",
        [deployment()],
        {"patches": [{"target": {"kind": "Deployment"}, "patch": "- {op: remove, path: /spec/paused}"}]},
        "M504",
    ),
    (
        "json_add_below_missing_map",
        [config_map()],
        {"patches": [{"target": {"kind": "ConfigMap"}, "patch": "- {op: add, path: /metadata/labels/x, value: y}"}]},
        "M504",
    ),
    (
        "json_test_fails",
        [deployment()],
        {"patches": [{"target": {"kind": "Deployment"}, "patch": "- {op: test, path: /spec/replicas, value: 3}"}]},
        "M504",
    ),
    (
        "smp_matches_nothing",
        [deployment()],
        {"patches": [{"patch": smp("apps/v1", "Deployment", "other", {"spec": {"replicas": 1}})}]},
        "M503",
    ),
    (
        "smp_wrong_api_version",
        [deployment()],
        {"patches": [{"patch": smp("apps/v1beta1", "Deployment", "fraud-detector", {"spec": {"replicas": 1}})}]},
        "M503",
    ),
    (
        "several_smp_with_target",
        [deployment()],
        {
            "patches": [
                {
                    "target": {"kind": "Deployment"},
                    "patch": smp("apps/v1", "Deployment", "a", {}) + "\n---\n" + smp("apps/v1", "Deployment", "b", {}),
                }
            ]
        },
        "M502",
    ),
    (
        "smp_kind_conflict",
        [deployment()],
        {"patches": [{"patch": smp("apps/v1", "Deployment", "fraud-detector", {"spec": {"replicas": {"min": 1}}})}]},
        "M505",
    ),
    (
        "bad_label_selector",
        [deployment()],
        {"patches": [{"target": {"labelSelector": "tier in serving"}, "patch": "- {op: remove, path: /spec}"}]},
        "M506",
    ),
    (
        "bad_name_regex",
        [deployment()],
        {"patches": [{"target": {"name": "fraud-[detector"}, "patch": "- {op: remove, path: /spec}"}]},
        "M506",
    ),
    ("namespace_id_conflict", [config_map(namespace="a"), config_map(namespace="b")], {"namespace": "ml"}, "M507"),
    ("duplicate_input_ids", [config_map(), config_map(namespace="default")], {}, "M507"),
    ("label_value_not_a_string", [deployment()], {"commonLabels": {"maestro.ml/rev": 42}}, "M501"),
    ("image_tag_not_a_string", [deployment()], {"images": [{"name": "nginx", "newTag": 1.4}]}, "M501"),
    (
        "image_under_containers_is_a_map",
        [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c", "image": {"ref": "nginx"}}]},
            }
        ],
        {"images": [{"name": "nginx", "newTag": "1"}]},
        "M508",
    ),
    (
        "containers_hold_a_scalar",
        [deployment()],
        {
            "patches": [
                {
                    "target": {"kind": "Deployment"},
                    "patch": "- {op: add, path: /spec/template/spec/containers/-, value: sidecar}",
                }
            ]
        },
        "M510",
    ),
]


@pytest.mark.parametrize("name,resources,overlay,code", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_errors_where_kustomize_errors(
    name: str, resources: list[dict], overlay: dict, code: str, tmp_path: Path
) -> None:
    theirs, failure = kustomize_build(tmp_path, resources, overlay)
    assert theirs is None, "kustomize accepted what Maestro should reject"
    assert failure
    _ours, diagnostics = apply_transforms(resources, overlay, context=CONTEXT)
    assert [d.code for d in diagnostics] == [code]
    assert diagnostics[0].is_error and diagnostics[0].message
    assert code in CODES


def test_patch_path_outside_base_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside.yaml").write_text(smp("apps/v1", "Deployment", "fraud-detector", {}), encoding="utf-8")
    base = tmp_path / "overlay"
    base.mkdir()
    overlay = {"patches": [{"path": "../outside.yaml"}]}
    theirs, failure = kustomize_build(base, [deployment()], overlay)
    assert theirs is None and "security" in failure
    _, diagnostics = apply_transforms([deployment()], overlay, context=CONTEXT, base_dir=base)
    assert [d.code for d in diagnostics] == ["M509"]


def test_repeated_port_is_refused(tmp_path: Path) -> None:
    # Port 80 twice, once with protocol TCP and once without (which Kubernetes reads as
    # TCP too): any strategic merge patch on the Service, even one that only adds a
    # label, makes Kustomize drop the first entry. Maestro refuses the list instead.
    svc = service()
    svc["spec"]["ports"] = [
        {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
        {"name": "http-alt", "port": 80, "targetPort": 8081},
        {"name": "metrics", "port": 9102},
    ]
    overlay = {"patches": [{"patch": smp("v1", "Service", "fraud-detector", {"metadata": {"labels": {"a": "b"}}})}]}
    theirs, _ = kustomize_build(tmp_path, [svc], overlay)
    assert theirs is not None and len(theirs[0]["spec"]["ports"]) < 3
    _, diagnostics = apply_transforms([svc], overlay, context=CONTEXT)
    assert [d.code for d in diagnostics] == ["M505"]
    assert "protocol" in (diagnostics[0].hint or "")


# ------------------------------------------------------------------ the one-transform functions


def test_single_transforms_return_diagnostics_and_leave_input_alone() -> None:
    resources = [deployment(), service_account()]
    before = copy.deepcopy(resources)
    out, diags = set_namespace(resources, "ml")
    assert diags == [] and {o["metadata"]["namespace"] for o in out} == {"ml"}
    out, diags = add_labels(resources, {"a": "b"})
    assert diags == [] and out[0]["spec"]["selector"]["matchLabels"]["a"] == "b"
    out, diags = add_annotations(resources, {"a": "b"})
    assert diags == [] and out[0]["spec"]["template"]["metadata"]["annotations"]["a"] == "b"
    out, diags = set_images(resources, [{"name": "prom/statsd-exporter", "newTag": "v1"}])
    assert diags == [] and out[0]["spec"]["template"]["spec"]["containers"][1]["image"] == "prom/statsd-exporter:v1"
    out, diags = apply_patch(
        resources,
        {
            "target": {"kind": "ServiceAccount"},
            "patch": "- {op: add, path: /automountServiceAccountToken, value: false}",
        },
    )
    assert diags == [] and out[1]["automountServiceAccountToken"] is False
    out, diags = apply_patch(resources, {"patch": "- {op: nope, path: /x}", "target": {"kind": "ServiceAccount"}})
    assert [d.code for d in diags] == ["M504"] and out == resources
    assert resources == before


@pytest.mark.parametrize(
    "resources,overlay,code",
    [
        ([None], {}, "M501"),
        ([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}], {}, "M501"),
        ([deployment()], {"patches": {"patch": "x"}}, "M501"),
        ([deployment()], {"images": "nginx"}, "M501"),
        ([deployment()], {"namespace": 7}, "M501"),
        ([deployment()], {"patches": [{"patch": 42}]}, "M501"),
        ([deployment()], {"patches": [{"patch": "- {op: add}", "target": {"kind": "Deployment"}}]}, "M504"),
        (
            [deployment()],
            {
                "patches": [
                    {"patch": smp("apps/v1", "Deployment", "fraud-detector", {"spec": {"x": {"$patch": "bogus"}}})}
                ]
            },
            "M505",
        ),
        (
            [deployment()],
            {"patches": [{"target": {"kind": "Deployment", "bogus": "x"}, "patch": "- {op: remove, path: /spec}"}]},
            "M506",
        ),
        ([deployment()], {"patches": [{"path": "missing.yaml"}]}, "M509"),
    ],
)
def test_garbage_is_diagnosed_not_raised(resources: list[Any], overlay: dict, code: str) -> None:
    _, diagnostics = apply_transforms(resources, overlay, context=CONTEXT)
    assert [d.code for d in diagnostics] == [code]


def test_unknown_namespace_placeholder() -> None:
    _, diags = apply_transforms([deployment()], {"namespace": "{tenant}-prod"}, context=CONTEXT)
    assert [(d.code, d.pointer) for d in diags] == [("M501", "/namespace")]
    assert "{team}" in (diags[0].hint or "")


# ------------------------------------------------------------------ properties

BUILDERS = [
    deployment,
    service,
    job,
    cronjob,
    hpa,
    pdb,
    network_policy,
    service_account,
    config_map,
    rollout,
    inference_service,
    pytorch_job,
    service_monitor,
]
label_keys = st.sampled_from(["maestro.ml/env", "maestro.ml/team", "app", "tier", "example.com/x"])
label_values = st.text(alphabet="abcxyz019-._", max_size=8)
label_maps = st.dictionaries(label_keys, label_values, max_size=3)
resources_st = st.lists(st.sampled_from(BUILDERS), min_size=1, max_size=5, unique=True).map(
    lambda bs: [b() for b in bs]
)
patches_st = st.sampled_from(
    [
        {"target": {"kind": "Deployment"}, "patch": "- {op: replace, path: /spec/replicas, value: 4}"},
        {"target": {"labelSelector": "app"}, "patch": "- {op: add, path: /metadata/labels/x, value: y}"},
        {
            "patch": smp(
                "apps/v1",
                "Deployment",
                "fraud-detector",
                {"spec": {"template": {"spec": {"containers": [{"name": "predictor", "$patch": "delete"}]}}}},
            )
        },
        {"target": {"name": "["}, "patch": "- {op: remove, path: /x}"},
        {"patch": "not: [valid"},
        {"target": {"kind": "Service"}, "patch": "- {op: remove, path: /spec/ports/7}"},
    ]
)
overlays_st = st.fixed_dictionaries(
    {},
    optional={
        "namespace": st.sampled_from(["{team}-prod", "ml", "{oops}"]),
        "commonLabels": label_maps,
        "commonAnnotations": label_maps,
        "images": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["registry.example.com/payments/fraud-serve", "*", "prom/statsd-exporter"])},
                optional={"newTag": st.sampled_from(["1", "2.0"]), "digest": st.just("sha256:abc")},
            ),
            max_size=2,
        ),
        "patches": st.lists(patches_st, max_size=3),
    },
)
PROPERTY = settings(max_examples=50, derandomize=True, deadline=None)


@PROPERTY
@given(resources=resources_st, overlay=overlays_st)
def test_never_mutates_input_and_never_raises(resources: list[dict], overlay: dict) -> None:
    resources_before, overlay_before = copy.deepcopy(resources), copy.deepcopy(overlay)
    out, diagnostics = apply_transforms(resources, overlay, context=CONTEXT)
    assert resources == resources_before and overlay == overlay_before
    assert isinstance(out, list) and all(d.code in CODES for d in diagnostics)
    json.dumps(out)  # plain data only


@PROPERTY
@given(resources=resources_st, labels=label_maps)
def test_common_labels_twice_is_once(resources: list[dict], labels: dict[str, str]) -> None:
    once, diags = apply_transforms(resources, {"commonLabels": labels}, context=CONTEXT)
    twice, diags2 = apply_transforms(once, {"commonLabels": labels}, context=CONTEXT)
    assert diags == diags2 == [] and twice == once


json_scalars = st.one_of(st.integers(-5, 5), st.booleans(), st.text(alphabet="ab/~", max_size=3))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(alphabet="ab/~", min_size=1, max_size=3), inner, max_size=3),
    ),
    max_leaves=8,
)


def _pointers(value: Any, prefix: str = "/data") -> list[str]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _pointers(v, prefix + "/" + k.replace("~", "~0").replace("/", "~1"))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _pointers(v, f"{prefix}/{i}")
    return found


def _at(doc: Any, pointer: str) -> Any:
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        doc = doc[int(token)] if isinstance(doc, list) else doc[token]
    return doc


@PROPERTY
@given(
    data=st.dictionaries(st.text(alphabet="ab/~", min_size=1, max_size=3), json_values, min_size=1, max_size=3),
    new=json_values,
    choice=st.data(),
)
def test_json_patch_then_inverse_restores(data: dict, new: Any, choice: st.DataObject) -> None:
    resource = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data}
    pointer = choice.draw(st.sampled_from(_pointers(data)[1:]))
    old = _at(resource, pointer)
    forward = [{"op": "replace", "path": pointer, "value": new}, {"op": "add", "path": "/data/new~1key", "value": new}]
    inverse = [{"op": "remove", "path": "/data/new~1key"}, {"op": "replace", "path": pointer, "value": old}]
    target = {"kind": "ConfigMap"}
    patched, diags = apply_patch([resource], {"target": target, "patch": json.dumps(forward)})
    assert diags == [] and _at(patched[0], pointer) == new
    restored, diags = apply_patch(patched, {"target": target, "patch": json.dumps(inverse)})
    assert diags == [] and restored == [resource]
