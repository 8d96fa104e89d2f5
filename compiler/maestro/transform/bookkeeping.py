"""Kustomize's bookkeeping annotations (internal.config.kubernetes.io/...), present while patches run."""

from __future__ import annotations

from maestro.transform.resource import (
    Invalid,
    Resource,
    as_text,
    clone,
    describe,
    is_cluster_scoped,
    resource_name,
    resource_namespace,
)

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


def with_bookkeeping(resource: Resource) -> Resource:
    """The object as a Kustomize patch sees it: with its previous-id annotations."""
    view = clone(resource)
    meta = view.get("metadata")
    if not isinstance(meta, dict):
        return view
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict):
        annotations = meta["annotations"] = {}
    annotations[_INTERNAL + "previousKinds"] = str(view.get("kind") or "")
    annotations[_INTERNAL + "previousNames"] = resource_name(view)
    annotations[_INTERNAL + "previousNamespaces"] = (
        "_non_namespaceable_" if is_cluster_scoped(view) else resource_namespace(view) or "default"
    )
    return view


def strip_bookkeeping(resource: Resource) -> Resource:
    meta = resource.get("metadata")
    if isinstance(meta, dict) and "annotations" in meta:
        annotations = meta["annotations"]
        if isinstance(annotations, list):
            raise Invalid("M504", f"{describe(resource)}: metadata.annotations must be a map")
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
                    annotations[key] = as_text(value)
        if not annotations:
            del meta["annotations"]
    return resource
