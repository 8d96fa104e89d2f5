"""Resource-level overlay transforms with the exact meaning of Kustomize v5.5.

DESIGN.md ("Precedence", "Overlays and the rendered tree") says the overlay's
`namespace`, `commonLabels`, `commonAnnotations`, `images` and `patches` mean on the
rendered objects what they mean in a kustomization.yaml that lists those objects as
`resources`; a difference from `kubectl kustomize` is a bug. Every rule below was found
by experiment with `kubectl kustomize` (kubectl 1.32, Kustomize v5.5.0), and
tests/test_kustomize.py keeps checking them against it.

    apply_transforms(resources, overlay, context=..., base_dir=...) -> (resources, diagnostics)

runs them all; set_namespace, add_labels, add_annotations, set_images and apply_patch run
one each. All take plain data, never mutate it, and report bad input as diagnostics
(codes M501-M510), never as exceptions. Other overlay keys (defaults, enforce...) are
ignored here.

Order: Kustomize's fixed order for one kustomization, whatever the key order in the file:
  1. patches, entry by entry (a `target` sees the objects as rendered: not yet
     namespaced, labelled or re-imaged)
  2. namespace       3. commonLabels       4. commonAnnotations
  5. images, entry by entry
  6. name references: when the namespace moved objects, RoleBinding subjects and webhook
     services that name them follow; then the reference fields are checked for shape.

Behaviours worth knowing (each one a surprise at some point, each one tested):
- patches: a text that parses as a list is a JSON 6902 patch and needs a `target`;
  otherwise it is one or more strategic-merge documents with `kind` and `metadata.name`.
  With a target, a strategic-merge patch is merged into every selected object whatever
  its own kind/name; without one it must match exactly one object by
  apiVersion/kind/name/namespace. A target that selects nothing is silently ignored.
  Target fields are regular expressions anchored at both ends; an object without a
  namespace is in "default" (cluster-scoped ones in "").
- JSON 6902 is applied as Kustomize's library (evanphx/json-patch v4) reads RFC 6902:
  `replace` of a missing map key adds it, a missing `value` is null, indexes may be
  negative or zero-padded, copying a missing key copies null. Its YAML is YAML 1.1
  (`yes` is true); a text starting with "[" must be strict JSON.
- while patches run, `metadata.annotations` holds Kustomize's bookkeeping
  (internal.config.kubernetes.io/previous{Kinds,Names,Namespaces}), so a JSON patch can
  `add /metadata/annotations/x` to an object that has none. On output, annotations are
  strings (3 -> "3") and an empty annotations map is dropped; labels are left alone.
- strategic merge follows the Kubernetes 1.21 schema Kustomize embeds, for the built-in
  kinds it knows (autoscaling/v2 HorizontalPodAutoscaler is not one). Lists with a merge
  key merge by it, patch elements first, then the rest of the original list; every
  such list in the object is re-merged even when the patch does not name it (repeated
  keys collapse). Other lists, and every list of a custom resource (Rollout,
  InferenceService, PyTorchJob...), are replaced whole, directives and nulls included.
  `$patch: delete|replace` and null work; `$retainKeys` and `$setElementOrder/...` are
  NOT understood and land in the object as plain keys.
- lists keyed by two fields (ports: port+protocol; topologySpreadConstraints) match on
  both: a patch port that leaves out a `protocol` the object states is dropped. Where
  Kustomize handles such a list erratically (a port repeated with and without protocol)
  Maestro refuses it (M505) instead of guessing: the one deliberate difference.
- namespace: set on every object Kustomize does not know to be cluster-scoped (custom
  resources such as ClusterIssuer get one too); a core `Namespace` object is renamed to
  the namespace; role-binding subjects named `default` get it; two objects that end up
  with the same id are an error.
- commonLabels reach selectors and pod templates only through Kustomize's built-in
  field list (Service and ReplicationController selectors are created if missing; Job,
  PodDisruptionBudget and NetworkPolicy selectors only if present). Custom resources get
  `metadata.labels` only, not their pod templates; commonAnnotations likewise.
- images: `name` is a regular expression (its dots match any character) and `*` matches
  every image; images are found in any `containers`/`initContainers` list at any depth
  of any kind except CustomResourceDefinition (not `ephemeralContainers`). Giving
  newTag drops a digest and vice versa; giving both writes `name:tag@digest`.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import os
import re
import warnings
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

import jsonpatch
from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import YAMLError

from maestro.diagnostics import CODES, Diagnostic, error

CODES.update(
    {
        "M501": "invalid overlay transform",
        "M502": "patch does not parse",
        "M503": "strategic merge patch matches no resource",
        "M504": "JSON patch operation failed",
        "M505": "strategic merge patch failed",
        "M506": "invalid patch target",
        "M507": "resource id conflict",
        "M508": "image field has the wrong node kind",
        "M509": "patch file cannot be read",
        "M510": "field Kustomize follows for name references has the wrong node kind",
    }
)

Resource = dict[str, Any]
T = TypeVar("T")


class _Invalid(Exception):
    """A problem in user input found deep inside a transform; turned into a Diagnostic
    at the function boundary, never seen by callers."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint


# ------------------------------------------------------------------ small helpers


def _group(resource: Resource) -> str:
    api = str(resource.get("apiVersion") or "")
    return api.split("/")[0] if "/" in api else ""


def _version(resource: Resource) -> str:
    return str(resource.get("apiVersion") or "").split("/")[-1]


def _meta(resource: Resource) -> dict[str, Any]:
    meta = resource.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _name(resource: Resource) -> str:
    return str(_meta(resource).get("name") or "")


def _namespace(resource: Resource) -> str:
    return str(_meta(resource).get("namespace") or "")


def _text(value: Any) -> str:
    """A scalar as YAML writes it: Kustomize compares merge keys and image names as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return ""
    return str(value)


def _clone(value: T) -> T:
    """A deep copy that also un-shares: copy.deepcopy keeps two references to one dict as
    one dict, and a transform on one place would then show up in the other."""
    if isinstance(value, dict):
        return cast(T, {k: _clone(v) for k, v in value.items()})
    if isinstance(value, list):
        return cast(T, [_clone(v) for v in value])
    return value


def _label(resource: Resource) -> str:
    return f"{resource.get('kind', '?')}/{_name(resource)}"


# Kinds Kustomize's embedded schema marks cluster-scoped, by (apiVersion, kind); found by
# running its namespace transformer over every built-in kind. Anything else, custom
# resources included, counts as namespaced.
def _pairs(text: str) -> set[tuple[str, str]]:
    """Lines of "apiVersion: Kind Kind ..." as a set of (apiVersion, kind)."""
    pairs: set[tuple[str, str]] = set()
    for line in text.strip().splitlines():
        api, kinds = line.strip().split(": ")
        pairs.update((api, kind) for kind in kinds.split())
    return pairs


_CLUSTER_SCOPED = _pairs("""
    admissionregistration.k8s.io/v1: MutatingWebhookConfiguration ValidatingWebhookConfiguration
    admissionregistration.k8s.io/v1beta1: MutatingWebhookConfiguration ValidatingWebhookConfiguration
    apiextensions.k8s.io/v1: CustomResourceDefinition
    apiextensions.k8s.io/v1beta1: CustomResourceDefinition
    apiregistration.k8s.io/v1: APIService
    apiregistration.k8s.io/v1beta1: APIService
    certificates.k8s.io/v1: CertificateSigningRequest
    certificates.k8s.io/v1beta1: CertificateSigningRequest
    flowcontrol.apiserver.k8s.io/v1beta1: FlowSchema PriorityLevelConfiguration
    networking.k8s.io/v1: IngressClass
    networking.k8s.io/v1beta1: IngressClass
    node.k8s.io/v1: RuntimeClass
    node.k8s.io/v1beta1: RuntimeClass
    policy/v1beta1: PodSecurityPolicy
    rbac.authorization.k8s.io/v1: ClusterRole ClusterRoleBinding
    rbac.authorization.k8s.io/v1beta1: ClusterRole ClusterRoleBinding
    scheduling.k8s.io/v1: PriorityClass
    scheduling.k8s.io/v1beta1: PriorityClass
    storage.k8s.io/v1: CSIDriver CSINode StorageClass VolumeAttachment
    storage.k8s.io/v1beta1: CSIDriver CSINode StorageClass VolumeAttachment
    v1: ComponentStatus Namespace Node PersistentVolume
""")


def is_cluster_scoped(resource: Resource) -> bool:
    return (str(resource.get("apiVersion") or ""), str(resource.get("kind") or "")) in _CLUSTER_SCOPED


def _effective_namespace(resource: Resource) -> str:
    # Kustomize's ids treat "no namespace" as "default" for namespaced kinds.
    if is_cluster_scoped(resource):
        return _namespace(resource)
    return _namespace(resource) or "default"


def _resid(resource: Resource) -> tuple[str, str, str, str, str]:
    return (
        _group(resource),
        _version(resource),
        str(resource.get("kind") or ""),
        _name(resource),
        _effective_namespace(resource),
    )


# ------------------------------------------------------------------ fieldspecs

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
        (not group or group == _group(resource))
        and (not version or version == _version(resource))
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
        raise _Invalid("M501", f"expected a map on the way to '{'/'.join(parts)}', found {type(node).__name__}")
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


def _set_map_entries(entries: dict[str, str]) -> Callable[[dict[str, Any], str], None]:
    def setter(parent: dict[str, Any], field: str) -> None:
        if parent.get(field) is None:
            parent[field] = {}
        target = parent[field]
        if not isinstance(target, dict):
            raise _Invalid("M501", f"'{field}' is not a map")
        target.update(entries)

    return setter


def _apply_fieldspecs(
    resource: Resource, specs: Iterable[FieldSpec], setter: Callable[[dict[str, Any], str], None]
) -> None:
    for spec in specs:
        if _spec_selects(spec, resource):
            _apply_fieldspec(resource, spec[0].split("/"), spec[1], setter)


# ------------------------------------------------------------------ labels, annotations


def _check_string_map(value: Any, what: str) -> dict[str, str]:
    # Kustomize decodes these maps into map[string]string: a number or a bool is an error.
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _Invalid(
            "M501", f"{what} must map names to strings", hint="quote values that look like numbers or booleans"
        )
    return {str(k): v for k, v in value.items()}


def _add_labels(resources: list[Resource], labels: dict[str, str]) -> list[Resource]:
    """commonLabels: metadata.labels plus the selectors and templates Kustomize knows."""
    out = _clone(resources)
    labels = _check_string_map(labels, "commonLabels")
    if labels:
        for resource in out:
            _apply_fieldspecs(resource, LABEL_FIELDSPECS, _set_map_entries(labels))
    return out


def _add_annotations(resources: list[Resource], annotations: dict[str, str]) -> list[Resource]:
    """commonAnnotations: metadata.annotations plus built-in pod templates."""
    out = _clone(resources)
    annotations = _check_string_map(annotations, "commonAnnotations")
    if annotations:
        for resource in out:
            _apply_fieldspecs(resource, ANNOTATION_FIELDSPECS, _set_map_entries(annotations))
    return out


# ------------------------------------------------------------------ namespace

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def substitute_namespace(template: str, context: dict[str, str]) -> str:
    """ "{team}-prod" -> "payments-risk-prod"; an unknown placeholder is an error."""

    def repl(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in context:
            raise _Invalid(
                "M501",
                f"unknown placeholder '{{{key}}}' in namespace",
                hint="placeholders are " + ", ".join("{%s}" % k for k in sorted(context)),
            )
        return str(context[key])

    return _PLACEHOLDER.sub(repl, template)


def _set_namespace(resources: list[Resource], namespace: str) -> list[Resource]:
    """namespace: Kustomize's NamespaceTransformer, then the reference fix-up it causes."""
    out = _clone(resources)
    if not namespace:
        return out
    before = [(_name(r), _effective_namespace(r)) for r in out]
    for resource in out:
        if not is_cluster_scoped(resource):
            resource.setdefault("metadata", {})
            if resource["metadata"] is None:
                resource["metadata"] = {}
            resource["metadata"]["namespace"] = namespace
        if resource.get("apiVersion") == "v1" and resource.get("kind") == "Namespace":
            resource.setdefault("metadata", {})["name"] = namespace
        if resource.get("kind") in ("RoleBinding", "ClusterRoleBinding"):
            # Only subjects named "default" get the namespace here, whatever their kind.
            for subject in resource.get("subjects") or []:
                if isinstance(subject, dict) and subject.get("name") == "default":
                    subject["namespace"] = namespace

        def set_value(parent: dict[str, Any], field: str) -> None:
            parent[field] = namespace

        _apply_fieldspecs(resource, NAMESPACE_FIELDSPECS, set_value)
    ids: dict[tuple[str, ...], int] = {}
    for resource in out:
        ids[_resid(resource)] = ids.get(_resid(resource), 0) + 1
    clashes = sorted({"/".join(k[2:]) for k, n in ids.items() if n > 1})
    if clashes:
        raise _Invalid("M507", "namespace transformation produces ID conflict: " + ", ".join(clashes))
    _fix_namespace_references(out, before)
    return out


def _fix_namespace_references(resources: list[Resource], before: list[tuple[str, str]]) -> None:
    """Point RoleBinding subjects and webhook services at the objects' new namespace.

    Kustomize's name-reference pass: a reference map {name, namespace?} follows the one
    object it names, chosen by original namespace first, then current namespace.
    """

    def follow(ref: Any, kind: str) -> None:
        if not isinstance(ref, dict):
            return
        if "name" not in ref:
            raise _Invalid("M501", f"a {kind} reference has no 'name'")
        candidates = [(r, old) for r, old in zip(resources, before) if r.get("kind") == kind and _version(r) == "v1"]
        if "namespace" in ref:
            wanted = _text(ref["namespace"])
            found = [(r, old) for r, old in candidates if old[1] == wanted]
            candidates = found or [(r, old) for r, old in candidates if _namespace(r) == wanted]
        matches = [r for r, old in candidates if old[0] == ref["name"]]
        if not matches:
            return
        if len({(_name(r), _namespace(r)) for r in matches}) > 1:
            raise _Invalid("M507", f"found multiple possible referrals for {kind} '{ref['name']}'")
        if _namespace(matches[0]):
            ref["name"] = _name(matches[0])
            ref["namespace"] = _namespace(matches[0])

    for resource in resources:
        kind, group = resource.get("kind"), _group(resource)
        if group == "rbac.authorization.k8s.io" and kind in ("RoleBinding", "ClusterRoleBinding"):
            subjects = resource.get("subjects")
            for subject in subjects if isinstance(subjects, list) else []:
                follow(subject, "ServiceAccount")
        if group == "admissionregistration.k8s.io" and kind in (
            "ValidatingWebhookConfiguration",
            "MutatingWebhookConfiguration",
        ):
            webhooks = resource.get("webhooks")
            for hook in webhooks if isinstance(webhooks, list) else []:
                config = hook.get("clientConfig") if isinstance(hook, dict) else None
                if isinstance(config, dict) and config.get("service") is not None:
                    follow(config["service"], "Service")


# ------------------------------------------------------------------ images

_TAG = r"(:[a-zA-Z0-9_.{}-]*)?(@sha256:[a-zA-Z0-9_.{}-]*)?"


def _image_matches(image: str, name: str) -> bool:
    # Kustomize builds a regular expression from `name` without escaping it.
    if name == "*":
        return True
    try:
        return re.fullmatch(f"(?:{name}){_TAG}", image) is not None
    except re.error:
        return False


def _split_image(image: str) -> tuple[str, str, str]:
    """name, tag, digest; a registry port ("host:5000/x") is part of the name."""
    rest, digest = image, ""
    at = image.rfind("@")
    if at > 0:
        rest, digest = image[:at], image[at + 1 :]
    slash = rest.find("/")
    search_from = slash if slash > 0 else 0
    colon = rest.find(":", search_from)
    if colon > 0:
        return rest[:colon], rest[colon + 1 :], digest
    return rest, "", digest


def _update_image(value: str, entry: dict[str, str]) -> str:
    name, tag, digest = _split_image(value)
    if entry.get("newName"):
        name = entry["newName"]
    new_tag, new_digest = entry.get("newTag", ""), entry.get("digest", "")
    # Setting one of tag/digest drops the other; setting both keeps both.
    if new_tag or new_digest:
        tag, digest = new_tag, new_digest
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _check_image_entry(entry: Any) -> dict[str, str]:
    if not isinstance(entry, dict):
        raise _Invalid("M501", "an images entry must be a map")
    unknown = set(entry) - {"name", "newName", "newTag", "digest"}
    if unknown:
        raise _Invalid("M501", f"unknown field(s) in images entry: {', '.join(sorted(unknown))}")
    if not all(isinstance(v, str) for v in entry.values()):
        raise _Invalid("M501", "images fields must be strings", hint='quote tags such as "1.4"')
    if not entry.get("name"):
        raise _Invalid("M501", "an images entry needs a name")
    return dict(entry)


def _set_images(resources: list[Resource], images: list[dict[str, str]]) -> list[Resource]:
    """images: rewrite `image` in every containers/initContainers list, at any depth."""
    out = _clone(resources)
    entries = [_check_image_entry(e) for e in images or []]
    for entry in entries:
        for resource in out:
            if resource.get("kind") != "CustomResourceDefinition":
                _walk_images(resource, entry)
    return out


def _walk_images(node: Any, entry: dict[str, str]) -> None:
    if isinstance(node, list):
        for item in node:
            _walk_images(item, entry)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        _walk_images(value, entry)
        if key in ("containers", "initContainers") and isinstance(value, list):
            for container in value:
                if not isinstance(container, dict):
                    raise _Invalid("M508", f"'{key}' holds a {type(container).__name__}, not a map")
                if "image" not in container:
                    continue
                image = container["image"]
                if isinstance(image, (dict, list)):
                    raise _Invalid("M508", f"'image' in '{key}' is a {type(image).__name__}, not a string")
                if _image_matches(_text(image), entry["name"]):
                    container["image"] = _update_image(_text(image), entry)


# ------------------------------------------------------------------ strategic merge schema

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
_KNOWN_KINDS = _pairs("""
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


def _root_info(resource: Resource) -> _Info:
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


# ------------------------------------------------------------------ strategic merge

_MISSING: Any = object()  # a field absent from a map (distinct from YAML null)
_DELETE: Any = object()  # "remove this field / element"


def _strategic_merge(dest: Any, patch: Any, info: _Info = None) -> Any:
    """Merge `patch` into `dest` (mutating it) as Kustomize's kyaml merge does.

    Returns the merged value, or _DELETE. `info` is the schema position (see _child).
    """
    if patch is _MISSING:
        # Kustomize walks the whole object, not only what the patch names: lists with a
        # merge key are re-merged even when the patch leaves them alone (which drops
        # repeated keys, see _merge_by_key).
        if isinstance(dest, dict) and info is not None:
            for key in list(dest):
                dest[key] = _strategic_merge(dest[key], _MISSING, _child(info, key))
        elif isinstance(dest, list) and isinstance(info, tuple) and info[0] == "list":
            return _merge_associative(dest, [], info[1], info[2])
        return dest
    if patch is None:
        return _DELETE
    base = None if dest is _MISSING else dest
    if isinstance(patch, dict):
        if base is not None and not isinstance(base, dict):
            raise _Invalid("M505", f"cannot merge a map into a {type(base).__name__}")
        return _merge_map(base, patch, info)
    if isinstance(patch, list):
        if base is not None and not isinstance(base, list):
            raise _Invalid("M505", f"cannot merge a list into a {type(base).__name__}")
        if isinstance(info, tuple) and info[0] == "list":
            return _merge_associative(base, patch, info[1], info[2])
        return patch
    if isinstance(base, (dict, list)):
        raise _Invalid("M505", f"cannot merge a scalar into a {type(base).__name__}")
    return patch


def _merge_map(dest: dict[str, Any] | None, patch: dict[str, Any], info: _Info) -> Any:
    directive = patch.pop("$patch", None)
    if directive not in (None, "merge", "replace", "delete"):
        raise _Invalid("M505", f"unknown patch strategy '{directive}'")
    if directive == "delete":
        return _DELETE
    if dest is None or directive == "replace":
        # A new or replaced map is the patch itself, merged with itself so that its
        # nulls and nested directives take effect.
        dest = patch
    for key in sorted(set(dest) | set(patch), key=str):
        merged = _strategic_merge(dest.get(key, _MISSING), patch.get(key, _MISSING), _child(info, key))
        if merged is _DELETE or merged is None or merged is _MISSING:
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
            return _DELETE
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
    live = [k for k in keys if any(_text(e.get(k)) for e in elements)] or list(keys)
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
        return tuple(_text(item.get(k)) if isinstance(item, dict) else "" for k in keys)

    stated: dict[str, set[tuple[bool, ...]]] = {}
    for item in items:
        stated.setdefault(values(item)[0], set()).add(tuple(bool(v) for v in values(item)))
    if "" in stated or any(len(s) > 1 for s in stated.values()) or len(set(map(values, items))) != len(items):
        raise _Invalid(
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
        if value is not None and _text(value) not in [_text(v) for v in out]:
            out.append(value)
    return out


def _find(items: list[Any], key: str, value: str) -> Any:
    for item in items:
        if isinstance(item, dict) and key in item and _text(item[key]) == value:
            return item
    return _MISSING


def _set_element(items: list[Any], key: str, value: str, element: Any) -> None:
    """kyaml's ElementSetter: replace every element whose `key` matches `value` (an empty
    value matches any element that has the key), delete when element is None, append
    when nothing matched. Empty elements are dropped on the way."""
    kept, found = [], False
    for item in items:
        if item is None or item == {}:
            continue
        if isinstance(item, dict) and key in item and (value == "" or _text(item[key]) == value):
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
        value = _text(item.get(key)) if isinstance(item, dict) else ""
        if value not in values:
            values.append(value)
    out: list[Any] = []
    for value in values:
        merged = _strategic_merge(_find(dest, key, value), _find(patch, key, value), element_type)
        if merged in (_DELETE, _MISSING, None) or merged == {}:
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
            _set_element(out, key, _text(item[key]), item)
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
        return tuple(_text(item.get(k)) if isinstance(item, dict) else "" for k in keys)

    def agree(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
        return all(x == y or not x or not y for x, y in zip(a, b))

    new: list[Any] = []
    for element in patch:
        target = next((i for i, d in enumerate(dest) if values(d) == values(element)), None)
        if target is not None:
            merged = _strategic_merge(dest[target], element, element_type)
            if merged is not _DELETE:
                dest[target] = merged
            elif all(values(element)):
                # `$patch: delete` only works on an entry that states every key
                del dest[target]
        elif not any(agree(values(d), values(element)) for d in dest):
            merged = _strategic_merge(_MISSING, element, element_type)
            if merged is not _DELETE:
                new.append(merged)
    return new + dest


# ------------------------------------------------------------------ patches

_INTERNAL = "internal.config.kubernetes.io/"
# Annotations Kustomize keeps for itself and strips from what it writes.
_STRIPPED = {
    "config.kubernetes.io/index",
    "config.kubernetes.io/path",
    "config.kubernetes.io/origin",
    "config.k8s.io/id",
    "internal.config.kubernetes.io/index",
    "internal.config.kubernetes.io/path",
    "internal.config.kubernetes.io/id",
    "internal.config.kubernetes.io/seqindent",
    "internal.config.kubernetes.io/annotations-migration-resource-id",
    "internal.config.kubernetes.io/previousKinds",
    "internal.config.kubernetes.io/previousNames",
    "internal.config.kubernetes.io/previousNamespaces",
    "internal.config.kubernetes.io/prefixes",
    "internal.config.kubernetes.io/suffixes",
}


def _with_bookkeeping(resource: Resource) -> Resource:
    """The object as a Kustomize patch sees it: with its previous-id annotations."""
    view = _clone(resource)
    meta = view.get("metadata")
    if not isinstance(meta, dict):
        return view
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict):
        annotations = meta["annotations"] = {}
    annotations[_INTERNAL + "previousKinds"] = str(view.get("kind") or "")
    annotations[_INTERNAL + "previousNames"] = _name(view)
    annotations[_INTERNAL + "previousNamespaces"] = (
        "_non_namespaceable_" if is_cluster_scoped(view) else _namespace(view) or "default"
    )
    return view


def _strip_bookkeeping(resource: Resource) -> Resource:
    meta = resource.get("metadata")
    if isinstance(meta, dict) and "annotations" in meta:
        annotations = meta["annotations"]
        if isinstance(annotations, list):
            raise _Invalid("M504", f"{_label(resource)}: metadata.annotations must be a map")
        if not isinstance(annotations, dict):
            annotations = {}
        if isinstance(annotations, dict):
            for key in _STRIPPED & set(annotations):
                del annotations[key]
            # Kustomize reads annotations back as strings: 3 -> "3", null -> "null",
            # a map or list -> "".
            for key, value in annotations.items():
                if value is None:
                    annotations[key] = "null"
                elif not isinstance(value, str):
                    annotations[key] = _text(value)
        if not annotations:
            del meta["annotations"]
    return resource


class _GoConstructor(SafeConstructor):
    """Integers as Go's YAML libraries read them: 0644 is octal (420), 0o17 and 0x1f too."""

    def construct_go_int(self, node: Any) -> Any:
        text = str(self.construct_scalar(node)).replace("_", "")
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        bases = {"0x": 16, "0o": 8, "0b": 2}
        try:
            if digits[:2].lower() in bases:
                return sign * int(digits[2:], bases[digits[:2].lower()])
            if len(digits) > 1 and digits.startswith("0") and set(digits) <= set("01234567"):
                return sign * int(digits, 8)
            return sign * int(digits)
        except ValueError:
            return text


_GoConstructor.add_constructor("tag:yaml.org,2002:int", _GoConstructor.construct_go_int)


def _yaml_docs(text: str, version: tuple[int, int] | None = None) -> list[Any]:
    loader = YAML(typ="safe", pure=True)
    loader.Constructor = _GoConstructor
    if version:
        loader.version = version
    with warnings.catch_warnings():
        # YAML 1.1 floats such as 1e3 warn in ruamel; they are fine here.
        warnings.simplefilter("ignore")
        return [doc for doc in loader.load_all(text) if doc is not None]


def _json_ready(value: Any, rfc3339: bool = False) -> Any:
    """YAML values as Kustomize passes them on: no inf/nan; a date is its text in a
    JSON patch and an RFC 3339 time in a strategic merge patch."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v, rfc3339) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v, rfc3339) for v in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat().replace("+00:00", "Z") if rfc3339 else value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat() + ("T00:00:00Z" if rfc3339 else "")
    if isinstance(value, float) and not math.isfinite(value):
        raise _Invalid("M502", f"unable to parse JSON patch: {value} is not a JSON number")
    return value


def _parse_patch(text: str) -> tuple[str, Any]:
    """("json", ops) or ("smp", [documents]), told apart as Kustomize does.

    A text starting with "[" must be strict JSON. A JSON patch written as YAML is read
    with YAML 1.1 rules (yes -> true, 0644 -> 420), a strategic merge patch with 1.2
    rules, as Kustomize's two YAML libraries do.
    """
    try:
        if text.strip().startswith("["):
            docs = [json.loads(text)]
        else:
            docs = [_json_ready(doc, rfc3339=True) for doc in _yaml_docs(text)]
            if len(docs) == 1 and isinstance(docs[0], list):
                docs = [_json_ready(_yaml_docs(text, (1, 1))[0])]
    except (YAMLError, ValueError) as exc:
        raise _Invalid("M502", f"unable to parse SM or JSON patch: {str(exc).splitlines()[0]}")
    is_json = len(docs) == 1 and isinstance(docs[0], list) and all(isinstance(op, dict) for op in docs[0])
    is_smp = all(
        isinstance(d, dict) and d.get("kind") and isinstance(d.get("metadata"), dict) and d["metadata"].get("name")
        for d in docs
    )
    if (is_json and not docs[0]) or (not docs and is_smp):
        raise _Invalid("M502", "patch illegally qualifies as both an SM and JSON patch")
    if is_json:
        return "json", docs[0]
    if is_smp:
        return "smp", docs
    raise _Invalid(
        "M502",
        "unable to parse SM or JSON patch",
        hint="a JSON 6902 patch is a list of operations; a strategic merge patch is a map with kind and metadata.name",
    )


# ---- target selection


def _regex(pattern: str, what: str) -> re.Pattern[str]:
    try:
        return re.compile(f"(?:{pattern})")
    except re.error as exc:
        raise _Invalid("M506", f"invalid regular expression in target {what}: {exc}")


_LABEL_NAME = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_TOKEN = re.compile(r"\s*(!=|==|=|,|\(|\)|!|>|<|[^\s!=,()<>]+)")


def _valid_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", prefix)):
        return False
    return 0 < len(name) <= 63 and _LABEL_NAME.fullmatch(name) is not None


def _valid_value(value: str) -> bool:
    return len(value) <= 63 and _LABEL_NAME.fullmatch(value) is not None


# A requirement of a label selector: (key, operator, values); operators are "exists",
# "!exists", "in", "notin", "gt", "lt" ("=" is "in" with one value, "!=" is "notin").
Requirement = tuple[str, str, frozenset[str]]


def _parse_selector(text: str) -> list[Requirement]:
    """A Kubernetes label selector ("a=b,c in (d,e),!f"), as labels.Parse reads it."""
    tokens: list[str] = _TOKEN.findall(text)
    if "".join(tokens) != re.sub(r"\s+", "", text):
        raise _Invalid("M506", f"unable to parse selector '{text}'")
    requirements: list[Requirement] = []
    pos = 0

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise _Invalid("M506", f"unable to parse selector '{text}': unexpected end")
        pos += 1
        return tokens[pos - 1]

    def check(key: str, values: Iterable[str] = ()) -> None:
        if not _valid_key(key):
            raise _Invalid("M506", f"invalid label key '{key}' in selector '{text}'")
        for value in values:
            if not _valid_value(value):
                raise _Invalid("M506", f"invalid label value '{value}' in selector '{text}'")

    while pos < len(tokens):
        token = take()
        if token == "!":
            key = take()
            check(key)
            requirements.append((key, "!exists", frozenset()))
        elif pos >= len(tokens) or tokens[pos] == ",":
            check(token)
            requirements.append((token, "exists", frozenset()))
        else:
            key, op = token, take()
            if op in ("in", "notin"):
                if take() != "(":
                    raise _Invalid("M506", f"unable to parse selector '{text}': expected '('")
                values: set[str] = set()
                while (token := take()) != ")":
                    if token != ",":
                        values.add(token)
                values = values or {""}  # "in ()" means the empty value
            elif op in ("=", "==", "!="):
                values = {take() if pos < len(tokens) and tokens[pos] != "," else ""}
                op = "notin" if op == "!=" else "in"
            elif op in (">", "<"):
                values = {take()}
                if not re.fullmatch(r"\d+", next(iter(values))):
                    raise _Invalid("M506", f"'{next(iter(values))}' is not an integer in selector '{text}'")
                op = "gt" if op == ">" else "lt"
            else:
                raise _Invalid(
                    "M506", f"unable to parse selector '{text}': found '{op}', expected one of =, !=, ==, in, notin"
                )
            check(key, values)
            requirements.append((key, op, frozenset(values)))
        if pos < len(tokens) and take() != ",":
            raise _Invalid("M506", f"unable to parse selector '{text}'")
    return requirements


def _selects(requirements: list[Requirement], labels: dict[str, str]) -> bool:
    for key, op, values in requirements:
        value = labels.get(key)
        if (op == "exists" and value is None) or (op == "!exists" and value is not None):
            return False
        if (op == "in" and value not in values) or (op == "notin" and value in values):
            return False
        if op in ("gt", "lt"):
            if value is None or not re.fullmatch(r"-?\d+", value):
                return False
            bound = int(next(iter(values)))
            if not (int(value) > bound if op == "gt" else int(value) < bound):
                return False
    return True


def _string_map(value: Any) -> dict[str, str]:
    return {str(k): _text(v) for k, v in value.items()} if isinstance(value, dict) else {}


_TARGET_FIELDS: dict[str, Callable[[Resource], str]] = {
    "group": _group,
    "version": _version,
    "kind": lambda r: str(r.get("kind") or ""),
    "name": _name,
    "namespace": _effective_namespace,
}


def _select(resources: list[Resource], target: dict[str, Any]) -> list[int]:
    """Indexes of the resources a kustomize patch `target` selects."""
    unknown = set(target) - set(_TARGET_FIELDS) - {"labelSelector", "annotationSelector"}
    if unknown:
        raise _Invalid("M506", f"unknown field(s) in patch target: {', '.join(sorted(unknown))}")
    patterns = [
        (_TARGET_FIELDS[field], _regex(str(target[field]), field)) for field in _TARGET_FIELDS if target.get(field)
    ]
    selectors = [
        (field, _parse_selector(str(target[field])))
        for field in ("labelSelector", "annotationSelector")
        if target.get(field)
    ]

    def selected(resource: Resource) -> bool:
        if not all(pattern.fullmatch(get(resource)) for get, pattern in patterns):
            return False
        for field, requirements in selectors:
            labels = _meta(resource).get("labels" if field == "labelSelector" else "annotations")
            if not _selects(requirements, _string_map(labels)):
                return False
        return True

    return [i for i, resource in enumerate(resources) if selected(resource)]


# ---- applying one patch


def _tokens(path: str) -> list[str]:
    # Kustomize's JSON patch library drops whatever precedes the first "/": "spec/x" means "/x".
    return [t.replace("~1", "/").replace("~0", "~") for t in str(path).split("/")[1:]]


def _pointer(tokens: list[str]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def _index(token: str, size: int, inserting: bool) -> str:
    """An array index as Kustomize's JSON patch library reads it: "+1" and "01" are 1,
    and negative indexes count from the end (-1 appends when inserting)."""
    if not re.fullmatch(r"[+-]?\d+", token):
        return token
    index = int(token)
    if index < 0:
        index += size + 1 if inserting else size
    return str(index)


def _locate(doc: Any, tokens: list[str], inserting: bool = False) -> tuple[list[str], Any, Any]:
    """(normalised tokens, parent, value or _MISSING)."""
    normal: list[str] = []
    parent, node = None, doc
    for i, token in enumerate(tokens):
        parent = node
        if isinstance(node, list):
            token = _index(token, len(node), inserting and i == len(tokens) - 1)
            node = node[int(token)] if token.isdigit() and int(token) < len(node) else _MISSING
        elif isinstance(node, dict):
            node = node.get(token, _MISSING)
        else:
            node = _MISSING
        normal.append(token)
        if node is _MISSING and i < len(tokens) - 1:
            return normal + tokens[i + 1 :], None, _MISSING
    return normal, parent, node


def _same_json(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b))
    return (a == b and type(a) in (int, float) and type(b) in (int, float)) or (type(a) is type(b) and a == b)


def _json_op(doc: Any, op: dict[str, Any]) -> Any:
    """One RFC 6902 operation, read the way Kustomize's library (evanphx/json-patch v4)
    reads it, then applied by the jsonpatch library."""
    kind = op.get("op")
    if "path" not in op:
        raise _Invalid("M504", f"{kind} operation failed to decode path")
    if kind == "move" and _tokens(op.get("from", "")) and _tokens(op["path"]):
        # remove, then add at the path as it reads after the removal
        value = _locate(doc, _tokens(op["from"]))[2]
        if value is _MISSING:
            raise _Invalid("M504", f"move: the from path {op['from']} does not exist")
        doc = _json_op(doc, {"op": "remove", "path": op["from"]})
        return _json_op(doc, {"op": "add", "path": op["path"], "value": value})
    tokens, parent, current = _locate(doc, _tokens(op["path"]), inserting=kind in ("add", "move", "copy"))
    if kind == "test":
        if current is _MISSING and isinstance(parent, dict) and "value" in op and op["value"] is None:
            return doc  # a missing map key equals null
        if current is _MISSING or not _same_json(current, op.get("value")):
            raise _Invalid("M504", f"testing value {op['path']} failed")
        return doc
    if not tokens:
        # The whole document: Kustomize's library replaces it by a map, ignores a
        # replace by anything else, and refuses the other operations.
        if kind == "replace" and not isinstance(op.get("value"), list):
            return _clone(op["value"]) if isinstance(op.get("value"), dict) else doc
        raise _Invalid("M504", f'{kind} operation does not apply: doc is missing path: ""')
    fixed = dict(op, path=_pointer(tokens))
    if kind in ("add", "replace"):
        fixed.setdefault("value", None)  # a missing value is null
    if kind == "replace" and isinstance(parent, dict) and current is _MISSING:
        fixed["op"] = "add"  # replacing a missing map key adds it
    if kind in ("move", "copy"):
        source = _tokens(op.get("from", ""))
        if not source:
            raise _Invalid("M504", f"{kind} operation does not apply: doc is missing from path")
        source, source_parent, value = _locate(doc, source)
        if kind == "copy" and value is _MISSING and isinstance(source_parent, dict):
            # copying a missing map key copies null
            fixed = {"op": "add", "path": fixed["path"], "value": None}
        else:
            fixed["from"] = _pointer(source)
    try:
        return jsonpatch.JsonPatch([fixed]).apply(doc, in_place=True)
    except (
        jsonpatch.JsonPatchException,
        jsonpatch.JsonPointerException,
        KeyError,
        TypeError,
        ValueError,
        IndexError,
    ) as exc:
        raise _Invalid("M504", f"{kind} {op.get('path')}: {exc}")


def _apply_json(resource: Resource, ops: list[dict[str, Any]]) -> Resource:
    doc: Any = _with_bookkeeping(resource)
    for op in _clone(ops):
        try:
            doc = _json_op(doc, op)
        except _Invalid as exc:
            raise _Invalid("M504", f"{_label(resource)}: {exc.message}")
    if not isinstance(doc, dict) or not doc.get("kind"):
        raise _Invalid("M504", f"{_label(resource)}: the patched object has no kind")
    return _strip_bookkeeping(doc)


def _apply_smp(resource: Resource, doc: dict[str, Any]) -> Resource | None:
    """None when the patch deletes the object (`$patch: delete` at the top)."""
    doc = _clone(doc)
    # The object keeps its identity, whatever apiVersion, kind, name or namespace the
    # patch states (they served only to find the object).
    doc["apiVersion"], doc["kind"] = resource.get("apiVersion"), resource.get("kind")
    doc["metadata"]["name"] = _meta(resource).get("name")
    if "namespace" in _meta(resource):
        doc["metadata"]["namespace"] = _meta(resource)["namespace"]
    else:
        doc["metadata"].pop("namespace", None)
    merged = _strategic_merge(_with_bookkeeping(resource), doc, _root_info(resource))
    if merged is _DELETE:
        return None
    return _strip_bookkeeping(merged)


def _apply_patch(
    resources: list[Resource], entry: dict[str, Any], *, base_dir: str | os.PathLike[str] | None = None
) -> list[Resource]:
    """One kustomize `patches` entry ({patch | path, target?}) applied to the list."""
    if not isinstance(entry, dict):
        raise _Invalid("M501", "a patches entry must be a map")
    unknown = set(entry) - {"patch", "path", "target", "options"}
    if unknown:
        raise _Invalid("M501", f"unknown field(s) in patches entry: {', '.join(sorted(unknown))}")
    text = _patch_text(entry, base_dir)
    kind, body = _parse_patch(text)
    target = entry.get("target")
    if target is not None and not isinstance(target, dict):
        raise _Invalid("M506", "patch target must be a map")
    out = _clone(resources)
    if kind == "json":
        if target is None:
            raise _Invalid("M502", "must specify a target for JSON patch")
        for i in _select(out, target):
            out[i] = _apply_json(out[i], body)
        return out
    if target is not None:
        if len(body) > 1:
            raise _Invalid("M502", "multiple strategic merge patches in one `patches` entry cannot have a target")
        selected = set(_select(out, target))
        patched = [_apply_smp(r, body[0]) if i in selected else r for i, r in enumerate(out)]
        return [r for r in patched if r is not None]
    kept: list[Resource | None] = list(out)
    for doc in body:
        wanted = (_group(doc), _version(doc), str(doc["kind"]), _name(doc), _effective_namespace(doc))
        hits = [i for i, r in enumerate(kept) if r is not None and _resid(r) == wanted]
        if len(hits) != 1:
            what = "no resource matches" if not hits else "more than one resource matches"
            raise _Invalid(
                "M503",
                f"{what} strategic merge patch for {doc.get('apiVersion')} {doc['kind']} '{_name(doc)}'",
                hint="add a `target`, or check apiVersion, kind, name and namespace",
            )
        kept[hits[0]] = _apply_smp(cast(Resource, kept[hits[0]]), doc)
    return [r for r in kept if r is not None]


def _patch_text(entry: dict[str, Any], base_dir: str | os.PathLike[str] | None) -> str:
    patch, path = entry.get("patch"), entry.get("path")
    if patch and path:
        raise _Invalid("M501", "patch and path can't be set at the same time")
    if path:
        if base_dir is None:
            raise _Invalid("M509", f"patch path '{path}' given but no base directory")
        root = os.path.realpath(base_dir)
        full = os.path.realpath(os.path.join(root, str(path)))
        if os.path.commonpath([root, full]) != root:
            # Kustomize's load restrictor: files must sit in or below the kustomization.
            raise _Invalid("M509", f"patch file '{path}' is not in or below '{base_dir}'")
        try:
            with open(full, encoding="utf-8") as handle:
                return handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise _Invalid("M509", f"cannot read patch file '{path}': {exc}")
    if not isinstance(patch, str) or not patch.strip():
        raise _Invalid("M501", "must specify one of patch and path")
    return patch


# ------------------------------------------------------------------ reference fields

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
        raise _Invalid(
            "M510", f"{where}: expected a map or a list on the way to '{'/'.join(parts)}', found {_text(node)!r}"
        )
    value = node.get(parts[0])
    if len(parts) > 1 and value is not None:
        _walkable(value, parts[1:], where)


def _check_references(resources: list[Resource]) -> list[Resource]:
    """Fail where Kustomize's name-reference pass would (see _REFERENCE_PATHS)."""
    for resource in resources:
        for path in _REFERENCE_PATHS.get(str(resource.get("kind")), []):
            _walkable(resource, path.split("/"), _label(resource))
    return resources


# ------------------------------------------------------------------ public, one transform each
#
# Each takes plain data and returns (new list, diagnostics); the input is never mutated
# and problems in it are diagnostics, never exceptions. On error the list is returned
# unchanged.


def _guard(
    pointer: str, resources: list[Resource], fn: Callable[[], list[Resource]]
) -> tuple[list[Resource], list[Diagnostic]]:
    try:
        return fn(), []
    except _Invalid as exc:
        return _clone(resources), [error(exc.code, exc.message, pointer=pointer, hint=exc.hint)]


def set_namespace(resources: list[Resource], namespace: str) -> tuple[list[Resource], list[Diagnostic]]:
    """`namespace:` (already substituted), with the reference fix-up it causes."""
    return _guard("/namespace", resources, lambda: _set_namespace(resources, namespace))


def add_labels(resources: list[Resource], labels: dict[str, str]) -> tuple[list[Resource], list[Diagnostic]]:
    """`commonLabels:`."""
    return _guard("/commonLabels", resources, lambda: _add_labels(resources, labels))


def add_annotations(resources: list[Resource], annotations: dict[str, str]) -> tuple[list[Resource], list[Diagnostic]]:
    """`commonAnnotations:`."""
    return _guard("/commonAnnotations", resources, lambda: _add_annotations(resources, annotations))


def set_images(resources: list[Resource], images: list[dict[str, str]]) -> tuple[list[Resource], list[Diagnostic]]:
    """`images:`, entry by entry."""
    return _guard("/images", resources, lambda: _set_images(resources, images))


def apply_patch(
    resources: list[Resource], entry: dict[str, Any], *, base_dir: str | os.PathLike[str] | None = None
) -> tuple[list[Resource], list[Diagnostic]]:
    """One `patches:` entry ({patch | path, target?}); `path` is read below `base_dir`."""
    return _guard("/patches", resources, lambda: _apply_patch(resources, entry, base_dir=base_dir))


# ------------------------------------------------------------------ the overlay


def _check_objects(resources: list[Resource]) -> list[Resource]:
    # Kustomize refuses to load anything but objects with a kind and a name.
    for i, resource in enumerate(resources):
        if not isinstance(resource, dict) or not resource.get("kind") or not _name(resource):
            raise _Invalid("M501", f"resource {i} is not an object with kind and metadata.name")
    return resources


def _check_unique(resources: list[Resource]) -> list[Resource]:
    seen: set[tuple[str, ...]] = set()
    for resource in resources:
        if _resid(resource) in seen:
            raise _Invalid(
                "M507",
                f"may not add resource with an already registered id: "
                f"{_label(resource)} in namespace '{_effective_namespace(resource)}'",
            )
        seen.add(_resid(resource))
    return resources


def apply_transforms(
    resources: list[Resource],
    overlay: dict[str, Any],
    *,
    context: dict[str, str],
    base_dir: str | os.PathLike[str] | None = None,
) -> tuple[list[Resource], list[Diagnostic]]:
    """Apply the overlay's resource-level transforms in Kustomize's order.

    Never raises for bad input and never mutates `resources` or `overlay`. With errors in
    the diagnostics, the returned list is best effort (the failing step is skipped) and
    must not be written out.
    """
    diagnostics: list[Diagnostic] = []
    out = _clone(resources)

    def step(pointer: str, fn: Callable[[list[Resource]], list[Resource]]) -> None:
        nonlocal out
        try:
            out = fn(out)
        except _Invalid as exc:
            diagnostics.append(error(exc.code, exc.message, pointer=pointer, hint=exc.hint))

    def shape(key: str, kind: type) -> Any:
        value = overlay.get(key)
        if value is not None and not isinstance(value, kind):
            diagnostics.append(
                error("M501", f"`{key}` must be a {'list' if kind is list else kind.__name__}", pointer=f"/{key}")
            )
            return None
        return value

    step("", _check_objects)
    if diagnostics:
        return out, diagnostics
    step("", lambda rs: [_strip_bookkeeping(r) for r in rs])
    step("", _check_unique)
    for i, entry in enumerate(shape("patches", list) or []):
        step(f"/patches/{i}", functools.partial(_apply_patch, entry=entry, base_dir=base_dir))
    namespace = shape("namespace", str)
    if namespace:
        step("/namespace", lambda rs: _set_namespace(rs, substitute_namespace(namespace, context)))
    step("/commonLabels", lambda rs: _add_labels(rs, overlay.get("commonLabels") or {}))
    step("/commonAnnotations", lambda rs: _add_annotations(rs, overlay.get("commonAnnotations") or {}))
    for i, entry in enumerate(shape("images", list) or []):
        step(f"/images/{i}", functools.partial(_set_images, images=[entry]))
    step("", _check_references)
    step("", lambda rs: [_strip_bookkeeping(r) for r in rs])
    if not diagnostics:
        step("", _check_unique)  # a patch may have renamed an object onto another
    return out, diagnostics
