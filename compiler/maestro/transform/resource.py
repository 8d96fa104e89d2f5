"""What every transform shares: resource accessors (group, version, name, namespace, id), cloning,
the cluster-scoped kinds, and `Invalid`, the exception a transform raises for bad input (turned
into a diagnostic at the public function's boundary by `guard`).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

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


class Invalid(Exception):
    """A problem in user input found deep inside a transform; turned into a Diagnostic
    at the function boundary, never seen by callers."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint


def api_group(resource: Resource) -> str:
    api = str(resource.get("apiVersion") or "")
    return api.split("/")[0] if "/" in api else ""


def api_version(resource: Resource) -> str:
    return str(resource.get("apiVersion") or "").split("/")[-1]


def meta_of(resource: Resource) -> dict[str, Any]:
    meta = resource.get("metadata")
    return meta if isinstance(meta, dict) else {}


def resource_name(resource: Resource) -> str:
    return str(meta_of(resource).get("name") or "")


def resource_namespace(resource: Resource) -> str:
    return str(meta_of(resource).get("namespace") or "")


def as_text(value: Any) -> str:
    """A scalar as YAML writes it: Kustomize compares merge keys and image names as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return ""
    return str(value)


def clone(value: T) -> T:
    """A deep copy that also un-shares: copy.deepcopy keeps two references to one dict as
    one dict, and a transform on one place would then show up in the other."""
    if isinstance(value, dict):
        return cast(T, {k: clone(v) for k, v in value.items()})
    if isinstance(value, list):
        return cast(T, [clone(v) for v in value])
    return value


_OWNED: contextvars.ContextVar[bool] = contextvars.ContextVar("maestro_transform_owned", default=False)


def own(resources: list[Resource]) -> list[Resource]:
    """What a transform works on: a clone of its input (the input is never mutated), or,
    inside `owning()`, the input itself: `apply_transforms` cloned it once for all steps."""
    return resources if _OWNED.get() else clone(resources)


@contextlib.contextmanager
def owning() -> Iterator[None]:
    """Transforms called inside may mutate the list they are given (the caller owns it)."""
    token = _OWNED.set(True)
    try:
        yield
    finally:
        _OWNED.reset(token)


def describe(resource: Resource) -> str:
    return f"{resource.get('kind', '?')}/{resource_name(resource)}"


# Kinds Kustomize's embedded schema marks cluster-scoped, by (apiVersion, kind); found by
# running its namespace transformer over every built-in kind. Anything else, custom
# resources included, counts as namespaced.
def kind_pairs(text: str) -> set[tuple[str, str]]:
    """Lines of "apiVersion: Kind Kind ..." as a set of (apiVersion, kind)."""
    pairs: set[tuple[str, str]] = set()
    for line in text.strip().splitlines():
        api, kinds = line.strip().split(": ")
        pairs.update((api, kind) for kind in kinds.split())
    return pairs


_CLUSTER_SCOPED = kind_pairs("""
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


def effective_namespace(resource: Resource) -> str:
    # Kustomize's ids treat "no namespace" as "default" for namespaced kinds.
    if is_cluster_scoped(resource):
        return resource_namespace(resource)
    return resource_namespace(resource) or "default"


def resid(resource: Resource) -> tuple[str, str, str, str, str]:
    return (
        api_group(resource),
        api_version(resource),
        str(resource.get("kind") or ""),
        resource_name(resource),
        effective_namespace(resource),
    )


MISSING: Any = object()  # a field absent from a map (distinct from YAML null)


# The public transforms (set_namespace, add_labels, add_annotations, set_images,
# apply_patch) each take plain data and return (new list, diagnostics); the input is never
# mutated and problems in it are diagnostics, never exceptions. On error the list is
# returned unchanged.


def guard(
    pointer: str, resources: list[Resource], fn: Callable[[], list[Resource]]
) -> tuple[list[Resource], list[Diagnostic]]:
    try:
        return fn(), []
    except Invalid as exc:
        return clone(resources), [error(exc.code, exc.message, pointer=pointer, hint=exc.hint)]
