"""Reference fields Kustomize follows for name references: checked for shape after the transforms."""

from __future__ import annotations

from typing import Any

from maestro.transform.resource import Invalid, Resource, as_text, describe

# Kustomize ends every build with its name-reference pass, which walks these fields
# (from its built-in nameReference config) and fails on a scalar where it needs a map or
# a list, e.g. a patch that leaves a string among a Deployment's containers.
_POD_REFS = [
    "volumes/configMap/name",
    "volumes/projected/sources/configMap/name",
    "volumes/secret/secretName",
    "volumes/projected/sources/secret/name",
    "volumes/persistentVolumeClaim/claimName",
    "containers/env/valueFrom/configMapKeyRef/name",
    "initContainers/env/valueFrom/configMapKeyRef/name",
    "containers/envFrom/configMapRef/name",
    "initContainers/envFrom/configMapRef/name",
    "containers/env/valueFrom/secretKeyRef/name",
    "initContainers/env/valueFrom/secretKeyRef/name",
    "containers/envFrom/secretRef/name",
    "initContainers/envFrom/secretRef/name",
    "imagePullSecrets/name",
    "serviceAccountName",
    "priorityClassName",
]

_REFERENCE_PATHS: dict[str, list[str]] = {
    "Pod": ["spec/" + p for p in _POD_REFS],
    "CronJob": ["spec/jobTemplate/spec/template/spec/" + p for p in _POD_REFS],
    **{
        kind: ["spec/template/spec/" + p for p in _POD_REFS]
        for kind in ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job")
    },
    "ReplicationController": [
        "spec/template/spec/serviceAccountName",
        "spec/template/spec/priorityClassName",
        "spec/template/spec/volumes/persistentVolumeClaim/claimName",
    ],
    "HorizontalPodAutoscaler": ["spec/scaleTargetRef/name"],
    "Role": ["rules/resourceNames"],
    "ClusterRole": ["rules/resourceNames"],
    "RoleBinding": ["subjects", "roleRef/name"],
    "ClusterRoleBinding": ["subjects", "roleRef/name"],
    "ServiceAccount": ["imagePullSecrets/name"],
    "Ingress": [
        "spec/tls/secretName",
        "spec/rules/http/paths/backend/serviceName",
        "spec/backend/serviceName",
        "spec/rules/http/paths/backend/service/name",
        "spec/defaultBackend/service/name",
        "spec/ingressClassName",
    ],
    "APIService": ["spec/service/name"],
    "ValidatingWebhookConfiguration": ["webhooks/clientConfig/service"],
    "MutatingWebhookConfiguration": ["webhooks/clientConfig/service"],
    "PersistentVolume": ["spec/storageClassName", "spec/azureFile/secretName"],
    "PersistentVolumeClaim": ["spec/volumeName", "spec/storageClassName"],
}

_REFERENCE_PATHS["StatefulSet"] = _REFERENCE_PATHS["StatefulSet"] + [
    "spec/serviceName",
    "spec/volumeClaimTemplates/spec/storageClassName",
]


def _walkable(node: Any, parts: list[str], where: str) -> None:
    if node is None:
        return
    if isinstance(node, list):
        for item in node:
            _walkable(item, parts, where)
        return
    if not isinstance(node, dict):
        raise Invalid(
            "M510", f"{where}: expected a map or a list on the way to '{'/'.join(parts)}', found {as_text(node)!r}"
        )
    value = node.get(parts[0])
    if len(parts) > 1 and value is not None:
        _walkable(value, parts[1:], where)


def check_references(resources: list[Resource]) -> list[Resource]:
    """Fail where Kustomize's name-reference pass would (see _REFERENCE_PATHS)."""
    for resource in resources:
        for path in _REFERENCE_PATHS.get(str(resource.get("kind")), []):
            _walkable(resource, path.split("/"), describe(resource))
    return resources
