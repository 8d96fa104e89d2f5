"""Strategic merge: the Kubernetes 1.21 schema Kustomize embeds (merge keys per kind and field) and
the merge itself, with `$patch` directives and nulls.
"""

from __future__ import annotations

from typing import Any

from maestro.transform.resource import MISSING, Invalid, Resource, as_text, kind_pairs

# The part of Kustomize's embedded Kubernetes 1.21 schema that changes how a strategic
# merge patch behaves: lists with a patch strategy, and the fields leading to them.
# type -> field -> (merge keys or None for a nested object, type of the value/elements).
# () as keys marks a merged list of scalars (finalizers). Read from the Kubernetes OpenAPI
# definitions (x-kubernetes-patch-strategy, -patch-merge-key, -list-map-keys: Kustomize
# uses the list-map-keys when present), for the kinds Kustomize's schema knows.
_Field = tuple[tuple[str, ...] | None, str | None]

_CONTAINER: dict[str, _Field] = {
    "env": (("name",), None),
    "ports": (("containerPort", "protocol"), None),
    "volumeDevices": (("devicePath",), None),
    "volumeMounts": (("mountPath",), None),
}

_STATUS: dict[str, _Field] = {"status": (None, "Status")}

_SMP_TYPES: dict[str, dict[str, _Field]] = {
    "ObjectMeta": {"finalizers": ((), None), "ownerReferences": (("uid",), None)},
    "Status": {"conditions": (("type",), None)},
    "PodTemplateSpec": {"metadata": (None, "ObjectMeta"), "spec": (None, "PodSpec")},
    "PodSpec": {
        "containers": (("name",), "Container"),
        "ephemeralContainers": (("name",), "Container"),
        "initContainers": (("name",), "Container"),
        "hostAliases": (("ip",), None),
        "imagePullSecrets": (("name",), None),
        "volumes": (("name",), "Volume"),
        "topologySpreadConstraints": (("topologyKey", "whenUnsatisfiable"), None),
    },
    "Container": _CONTAINER,
    "Volume": {"ephemeral": (None, "EphemeralVolumeSource")},
    "EphemeralVolumeSource": {"volumeClaimTemplate": (None, "ClaimTemplate")},
    "ClaimTemplate": {"metadata": (None, "ObjectMeta")},
    "TemplateSpec": {"template": (None, "PodTemplateSpec")},
    "JobTemplateSpec": {"metadata": (None, "ObjectMeta"), "spec": (None, "TemplateSpec")},
    "CronJobSpec": {"jobTemplate": (None, "JobTemplateSpec")},
    "ServiceSpec": {"ports": (("port", "protocol"), None)},
    "CSINodeSpec": {"drivers": (("name",), None)},
    "NodeSpec": {"podCIDRs": ((), None)},
    "NodeStatus": {"addresses": (("type",), None), "conditions": (("type",), None)},
    "PodStatus": {"conditions": (("type",), None), "podIPs": (("ip",), None)},
    # roots (metadata -> ObjectMeta is added for every known kind)
    "Deployment": {"spec": (None, "TemplateSpec"), **_STATUS},
    "DaemonSet": {"spec": (None, "TemplateSpec"), **_STATUS},
    "ReplicaSet": {"spec": (None, "TemplateSpec"), **_STATUS},
    "StatefulSet": {"spec": (None, "TemplateSpec"), **_STATUS},
    "ReplicationController": {"spec": (None, "TemplateSpec"), **_STATUS},
    "Job": {"spec": (None, "TemplateSpec"), **_STATUS},
    "CronJob": {"spec": (None, "CronJobSpec")},
    "Pod": {"spec": (None, "PodSpec"), "status": (None, "PodStatus")},
    "PodTemplate": {"template": (None, "PodTemplateSpec")},
    "Service": {"spec": (None, "ServiceSpec"), **_STATUS},
    "ServiceAccount": {"secrets": (("name",), None)},
    "MutatingWebhookConfiguration": {"webhooks": (("name",), None)},
    "ValidatingWebhookConfiguration": {"webhooks": (("name",), None)},
    "CSINode": {"spec": (None, "CSINodeSpec")},
    "Node": {"spec": (None, "NodeSpec"), "status": (None, "NodeStatus")},
    "Namespace": _STATUS,
    "PersistentVolumeClaim": _STATUS,
    "PodDisruptionBudget": _STATUS,
    "NetworkPolicy": _STATUS,
    "APIService": _STATUS,
    "ComponentStatus": {"conditions": (("type",), None)},
}

# Built-in kinds Kustomize's schema knows, by apiVersion (found by probing: only these
# merge `metadata.finalizers` instead of replacing it).
_KNOWN_KINDS = kind_pairs("""
    v1: Binding ComponentStatus ConfigMap Endpoints Event LimitRange Namespace Node PersistentVolume PersistentVolumeClaim Pod PodTemplate ReplicationController ResourceQuota Secret Service ServiceAccount
    admissionregistration.k8s.io/v1: MutatingWebhookConfiguration ValidatingWebhookConfiguration
    admissionregistration.k8s.io/v1beta1: MutatingWebhookConfiguration ValidatingWebhookConfiguration
    apiextensions.k8s.io/v1: CustomResourceDefinition
    apiextensions.k8s.io/v1beta1: CustomResourceDefinition
    apiregistration.k8s.io/v1: APIService
    apiregistration.k8s.io/v1beta1: APIService
    apps/v1: ControllerRevision DaemonSet Deployment ReplicaSet StatefulSet
    authentication.k8s.io/v1: TokenRequest TokenReview
    authentication.k8s.io/v1beta1: TokenReview
    authorization.k8s.io/v1: LocalSubjectAccessReview SelfSubjectAccessReview SelfSubjectRulesReview SubjectAccessReview
    authorization.k8s.io/v1beta1: SelfSubjectAccessReview SelfSubjectRulesReview SubjectAccessReview
    autoscaling/v1: HorizontalPodAutoscaler Scale
    autoscaling/v2beta1: HorizontalPodAutoscaler
    autoscaling/v2beta2: HorizontalPodAutoscaler
    batch/v1: CronJob Job
    batch/v1beta1: CronJob
    certificates.k8s.io/v1: CertificateSigningRequest
    certificates.k8s.io/v1beta1: CertificateSigningRequest
    coordination.k8s.io/v1: Lease
    coordination.k8s.io/v1beta1: Lease
    discovery.k8s.io/v1: EndpointSlice
    discovery.k8s.io/v1beta1: EndpointSlice
    events.k8s.io/v1: Event
    events.k8s.io/v1beta1: Event
    extensions/v1beta1: Ingress
    flowcontrol.apiserver.k8s.io/v1beta1: FlowSchema PriorityLevelConfiguration
    networking.k8s.io/v1: Ingress IngressClass NetworkPolicy
    networking.k8s.io/v1beta1: Ingress IngressClass
    node.k8s.io/v1: RuntimeClass
    node.k8s.io/v1beta1: RuntimeClass
    policy/v1: PodDisruptionBudget
    policy/v1beta1: PodDisruptionBudget PodSecurityPolicy
    rbac.authorization.k8s.io/v1: ClusterRole ClusterRoleBinding Role RoleBinding
    rbac.authorization.k8s.io/v1beta1: ClusterRole ClusterRoleBinding
    scheduling.k8s.io/v1: PriorityClass
    scheduling.k8s.io/v1beta1: PriorityClass
    storage.k8s.io/v1: CSIDriver CSINode StorageClass VolumeAttachment
    storage.k8s.io/v1beta1: CSIDriver CSINode CSIStorageCapacity StorageClass VolumeAttachment
""")

# Where a field's schema is: a type name (map) or (keys, element type) (list).
_Info = Any


def root_info(resource: Resource) -> _Info:
    key = (str(resource.get("apiVersion") or ""), str(resource.get("kind") or ""))
    if key not in _KNOWN_KINDS:
        return None
    return ("root", key[1])


def _fields(info: _Info) -> dict[str, _Field]:
    if info is None or (isinstance(info, tuple) and info[0] != "root"):
        return {}
    if isinstance(info, tuple):
        return {"metadata": (None, "ObjectMeta"), **_SMP_TYPES.get(info[1], {})}
    return _SMP_TYPES.get(info, {})


def _child(info: _Info, field: str) -> _Info:
    keys, child = _fields(info).get(field, (None, None))
    if keys is not None:
        return ("list", keys, child)
    return child


DELETE: Any = object()  # "remove this field / element"


def strategic_merge(dest: Any, patch: Any, info: _Info = None) -> Any:
    """Merge `patch` into `dest` (mutating it) as Kustomize's kyaml merge does.

    Returns the merged value, or DELETE. `info` is the schema position (see _child).
    """
    if patch is MISSING:
        # Kustomize walks the whole object, not only what the patch names: lists with a
        # merge key are re-merged even when the patch leaves them alone (which drops
        # repeated keys, see _merge_by_key).
        if isinstance(dest, dict) and info is not None:
            for key in list(dest):
                dest[key] = strategic_merge(dest[key], MISSING, _child(info, key))
        elif isinstance(dest, list) and isinstance(info, tuple) and info[0] == "list":
            return _merge_associative(dest, [], info[1], info[2])
        return dest
    if patch is None:
        return DELETE
    base = None if dest is MISSING else dest
    if isinstance(patch, dict):
        if base is not None and not isinstance(base, dict):
            raise Invalid("M505", f"cannot merge a map into a {type(base).__name__}")
        return _merge_map(base, patch, info)
    if isinstance(patch, list):
        if base is not None and not isinstance(base, list):
            raise Invalid("M505", f"cannot merge a list into a {type(base).__name__}")
        if isinstance(info, tuple) and info[0] == "list":
            return _merge_associative(base, patch, info[1], info[2])
        return patch
    if isinstance(base, (dict, list)):
        raise Invalid("M505", f"cannot merge a scalar into a {type(base).__name__}")
    return patch


def _merge_map(dest: dict[str, Any] | None, patch: dict[str, Any], info: _Info) -> Any:
    directive = patch.pop("$patch", None)
    if directive not in (None, "merge", "replace", "delete"):
        raise Invalid("M505", f"unknown patch strategy '{directive}'")
    if directive == "delete":
        return DELETE
    if dest is None or directive == "replace":
        # A new or replaced map is the patch itself, merged with itself so that its
        # nulls and nested directives take effect.
        dest = patch
    for key in sorted(set(dest) | set(patch), key=str):
        merged = strategic_merge(dest.get(key, MISSING), patch.get(key, MISSING), _child(info, key))
        if merged is DELETE or merged is None or merged is MISSING:
            dest.pop(key, None)
        else:
            dest[key] = merged
    return dest


def _merge_associative(
    dest: list[Any] | None, patch: list[Any], keys: tuple[str, ...], element_type: str | None
) -> Any:
    if dest is None:
        # A new list is the patch merged with itself; list directives are not read then
        # (Kustomize leaves a `- $patch: replace` element in the output).
        dest = patch
    else:
        lead = keys[0] if keys else ""

        def directive(item: Any, kind: str) -> bool:
            return isinstance(item, dict) and item.get("$patch") == kind and lead not in item

        if {"$patch": "delete"} in patch:
            return DELETE
        patch = [item for item in patch if not directive(item, "merge")]
        if any(directive(item, "replace") for item in patch):
            # Replace the whole list; every element marked `$patch: replace` goes.
            patch = [item for item in patch if not (isinstance(item, dict) and item.get("$patch") == "replace")]
            dest = patch
    if not keys:
        return _merge_scalars(dest, patch)
    if len(keys) > 1:
        _refuse_erratic(dest, "object", keys)
        _refuse_erratic(patch, "patch", keys)
    elements = [e for e in dest + patch if isinstance(e, dict)]
    live = [k for k in keys if any(as_text(e.get(k)) for e in elements)] or list(keys)
    if len(live) == 1:
        return _merge_by_key(dest, patch, live[0], element_type)
    return _merge_by_keys(dest, patch, live, element_type)


def _refuse_erratic(items: list[Any], side: str, keys: tuple[str, ...]) -> None:
    """Kustomize v5.5 merges a list keyed by several fields (ports: port+protocol)
    erratically, entries vanishing or repeating even when the patch does not touch the
    list, when an entry lacks the first key, two entries repeat all keys, or entries
    sharing the first key do not state the same keys (port 80 once with protocol TCP,
    once without). Kubernetes rejects such lists anyway (a missing protocol is TCP), so
    Maestro refuses them rather than produce something else than Kustomize."""

    def values(item: Any) -> tuple[str, ...]:
        return tuple(as_text(item.get(k)) if isinstance(item, dict) else "" for k in keys)

    stated: dict[str, set[tuple[bool, ...]]] = {}
    for item in items:
        stated.setdefault(values(item)[0], set()).add(tuple(bool(v) for v in values(item)))
    if "" in stated or any(len(s) > 1 for s in stated.values()) or len(set(map(values, items))) != len(items):
        raise Invalid(
            "M505",
            f"the {side} has a list keyed by {'+'.join(keys)} with a repeated or incomplete "
            f"entry; Kustomize merges such lists erratically",
            hint=f"give each entry its own {keys[0]}, or state {' and '.join(keys)} on every entry "
            f"(e.g. protocol: TCP on every port)",
        )


def _merge_scalars(dest: list[Any], patch: list[Any]) -> list[Any]:
    # A merged list of scalars (finalizers): the patch's values, then the others.
    out: list[Any] = []
    for value in patch + dest:
        if value is not None and as_text(value) not in [as_text(v) for v in out]:
            out.append(value)
    return out


def _find(items: list[Any], key: str, value: str) -> Any:
    for item in items:
        if isinstance(item, dict) and key in item and as_text(item[key]) == value:
            return item
    return MISSING


def _set_element(items: list[Any], key: str, value: str, element: Any) -> None:
    """kyaml's ElementSetter: replace every element whose `key` matches `value` (an empty
    value matches any element that has the key), delete when element is None, append
    when nothing matched. Empty elements are dropped on the way."""
    kept, found = [], False
    for item in items:
        if item is None or item == {}:
            continue
        if isinstance(item, dict) and key in item and (value == "" or as_text(item[key]) == value):
            found = True
            if element is not None:
                kept.append(element)
        else:
            kept.append(item)
    items[:] = kept
    if element is not None and not found:
        items.append(element)


def _merge_by_key(dest: list[Any], patch: list[Any], key: str, element_type: str | None) -> list[Any]:
    values: list[str] = []
    for item in patch + dest:
        value = as_text(item.get(key)) if isinstance(item, dict) else ""
        if value not in values:
            values.append(value)
    out: list[Any] = []
    for value in values:
        merged = strategic_merge(_find(dest, key, value), _find(patch, key, value), element_type)
        if merged in (DELETE, MISSING, None) or merged == {}:
            # A patch element without the key matches (and deletes) every element.
            _set_element(dest, key, value, None)
            continue
        if isinstance(merged, dict) and key not in merged and value:
            merged[key] = value
        _set_element(out, key, value, merged)
    # The original elements go back over their merged copies (a `$patch: replace` on an
    # element is thereby undone, as in Kustomize); elements without the key reset the list.
    for item in list(dest):
        if isinstance(item, dict) and key in item:
            _set_element(out, key, as_text(item[key]), item)
        else:
            out[:] = [item]
    return out


def _merge_by_keys(dest: list[Any], patch: list[Any], keys: list[str], element_type: str | None) -> list[Any]:
    """Lists keyed by several fields (see _refuse_erratic for the lists refused).

    An element matches only an element with the same values for all keys, a missing key
    counting as empty. A patch element that matches none, but agrees with an original
    element wherever both state a key (the same port, protocol left out), is dropped; the
    others are new and go first, in patch order. `$patch: delete` needs every key."""

    def values(item: Any) -> tuple[str, ...]:
        return tuple(as_text(item.get(k)) if isinstance(item, dict) else "" for k in keys)

    def agree(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
        return all(x == y or not x or not y for x, y in zip(a, b))

    new: list[Any] = []
    for element in patch:
        target = next((i for i, d in enumerate(dest) if values(d) == values(element)), None)
        if target is not None:
            merged = strategic_merge(dest[target], element, element_type)
            if merged is not DELETE:
                dest[target] = merged
            elif all(values(element)):
                # `$patch: delete` only works on an entry that states every key
                del dest[target]
        elif not any(agree(values(d), values(element)) for d in dest):
            merged = strategic_merge(MISSING, element, element_type)
            if merged is not DELETE:
                new.append(merged)
    return new + dest
