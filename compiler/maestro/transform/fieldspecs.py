"""Kustomize's built-in field specs: where commonLabels, commonAnnotations and the namespace reach
inside each kind (selectors, pod templates, ...), and how a field spec is applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from maestro.transform.resource import Invalid, Resource, api_group, api_version

# (path, create, group, version, kind): Kustomize's built-in field specs. Empty
# group/version/kind match anything; a path walks through lists it meets.
FieldSpec = tuple[str, bool, str, str, str]

_AFFINITY = [
    "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
    "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
]

LABEL_FIELDSPECS: list[FieldSpec] = [
    ("metadata/labels", True, "", "", ""),
    ("spec/selector", True, "", "v1", "Service"),
    ("spec/selector", True, "", "v1", "ReplicationController"),
    ("spec/template/metadata/labels", True, "", "v1", "ReplicationController"),
    ("spec/selector/matchLabels", True, "", "", "Deployment"),
    ("spec/template/metadata/labels", True, "", "", "Deployment"),
    *[(p, False, "apps", "", "Deployment") for p in _AFFINITY],
    ("spec/selector/matchLabels", True, "", "", "ReplicaSet"),
    ("spec/template/metadata/labels", True, "", "", "ReplicaSet"),
    ("spec/selector/matchLabels", True, "", "", "DaemonSet"),
    ("spec/template/metadata/labels", True, "", "", "DaemonSet"),
    ("spec/selector/matchLabels", True, "apps", "", "StatefulSet"),
    ("spec/template/metadata/labels", True, "apps", "", "StatefulSet"),
    ("spec/volumeClaimTemplates[]/metadata/labels", True, "apps", "", "StatefulSet"),
    *[(p, False, "apps", "", "StatefulSet") for p in _AFFINITY],
    ("spec/selector/matchLabels", False, "batch", "", "Job"),
    ("spec/template/metadata/labels", True, "batch", "", "Job"),
    ("spec/jobTemplate/spec/selector/matchLabels", False, "batch", "", "CronJob"),
    ("spec/jobTemplate/metadata/labels", True, "batch", "", "CronJob"),
    ("spec/jobTemplate/spec/template/metadata/labels", True, "batch", "", "CronJob"),
    ("spec/selector/matchLabels", False, "policy", "", "PodDisruptionBudget"),
    ("spec/podSelector/matchLabels", False, "networking.k8s.io", "", "NetworkPolicy"),
    ("spec/ingress/from/podSelector/matchLabels", False, "networking.k8s.io", "", "NetworkPolicy"),
    ("spec/egress/to/podSelector/matchLabels", False, "networking.k8s.io", "", "NetworkPolicy"),
]

ANNOTATION_FIELDSPECS: list[FieldSpec] = [
    ("metadata/annotations", True, "", "", ""),
    ("spec/template/metadata/annotations", True, "", "v1", "ReplicationController"),
    ("spec/template/metadata/annotations", True, "", "", "Deployment"),
    ("spec/template/metadata/annotations", True, "", "", "ReplicaSet"),
    ("spec/template/metadata/annotations", True, "", "", "DaemonSet"),
    ("spec/template/metadata/annotations", True, "", "", "StatefulSet"),
    ("spec/template/metadata/annotations", True, "batch", "", "Job"),
    ("spec/jobTemplate/metadata/annotations", True, "batch", "", "CronJob"),
    ("spec/jobTemplate/spec/template/metadata/annotations", True, "batch", "", "CronJob"),
]

# metadata/namespace, Namespace names and role binding subjects have their own rules
# (see set_namespace); these are the remaining namespace field specs.
NAMESPACE_FIELDSPECS: list[FieldSpec] = [
    ("spec/service/namespace", True, "apiregistration.k8s.io", "", "APIService"),
    (
        "spec/conversion/webhook/clientConfig/service/namespace",
        False,
        "apiextensions.k8s.io",
        "",
        "CustomResourceDefinition",
    ),
]


def _spec_selects(spec: FieldSpec, resource: Resource) -> bool:
    _, _, group, version, kind = spec
    return (
        (not group or group == api_group(resource))
        and (not version or version == api_version(resource))
        and (not kind or kind == resource.get("kind"))
    )


def _apply_fieldspec(node: Any, parts: list[str], create: bool, setter: Callable[[dict[str, Any], str], None]) -> None:
    """Walk `parts` from `node`; at the last part call setter(parent_map, field).

    Lists met on the way are walked element by element. Missing or null maps are created
    only when the spec says `create`.
    """
    if isinstance(node, list):
        for item in node:
            _apply_fieldspec(item, parts, create, setter)
        return
    if not isinstance(node, dict):
        raise Invalid("M501", f"expected a map on the way to '{'/'.join(parts)}', found {type(node).__name__}")
    field, rest = parts[0].removesuffix("[]"), parts[1:]
    if not rest:
        if node.get(field) is None and not create:
            return
        setter(node, field)
        return
    if node.get(field) is None:
        if not create:
            return
        node[field] = {}
    _apply_fieldspec(node[field], rest, create, setter)


def set_map_entries(entries: dict[str, str]) -> Callable[[dict[str, Any], str], None]:
    def setter(parent: dict[str, Any], field: str) -> None:
        if parent.get(field) is None:
            parent[field] = {}
        target = parent[field]
        if not isinstance(target, dict):
            raise Invalid("M501", f"'{field}' is not a map")
        target.update(entries)

    return setter


def apply_fieldspecs(
    resource: Resource, specs: Iterable[FieldSpec], setter: Callable[[dict[str, Any], str], None]
) -> None:
    for spec in specs:
        if _spec_selects(spec, resource):
            _apply_fieldspec(resource, spec[0].split("/"), spec[1], setter)
