"""`namespace`: set on every namespaced object, with the name-reference fix-ups Kustomize makes."""

from __future__ import annotations

import re
from typing import Any

from maestro.diagnostics import Diagnostic
from maestro.transform.fieldspecs import NAMESPACE_FIELDSPECS, apply_fieldspecs
from maestro.transform.resource import (
    Invalid,
    Resource,
    api_group,
    api_version,
    as_text,
    effective_namespace,
    guard,
    is_cluster_scoped,
    own,
    resid,
    resource_name,
    resource_namespace,
)

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def substitute_namespace(template: str, context: dict[str, str]) -> str:
    """ "{team}-prod" -> "payments-risk-prod"; an unknown placeholder is an error."""

    def repl(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in context:
            raise Invalid(
                "M501",
                f"unknown placeholder '{{{key}}}' in namespace",
                hint="placeholders are " + ", ".join(f"{{{k}}}" for k in sorted(context)),
            )
        return str(context[key])

    return _PLACEHOLDER.sub(repl, template)


def transform_namespace(resources: list[Resource], namespace: str) -> list[Resource]:
    """namespace: Kustomize's NamespaceTransformer, then the reference fix-up it causes."""
    out = own(resources)
    if not namespace:
        return out
    before = [(resource_name(r), effective_namespace(r)) for r in out]
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

        apply_fieldspecs(resource, NAMESPACE_FIELDSPECS, set_value)
    ids: dict[tuple[str, ...], int] = {}
    for resource in out:
        ids[resid(resource)] = ids.get(resid(resource), 0) + 1
    clashes = sorted({"/".join(k[2:]) for k, n in ids.items() if n > 1})
    if clashes:
        raise Invalid("M507", "namespace transformation produces ID conflict: " + ", ".join(clashes))
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
            raise Invalid("M501", f"a {kind} reference has no 'name'")
        candidates = [(r, old) for r, old in zip(resources, before) if r.get("kind") == kind and api_version(r) == "v1"]
        if "namespace" in ref:
            wanted = as_text(ref["namespace"])
            found = [(r, old) for r, old in candidates if old[1] == wanted]
            candidates = found or [(r, old) for r, old in candidates if resource_namespace(r) == wanted]
        matches = [r for r, old in candidates if old[0] == ref["name"]]
        if not matches:
            return
        if len({(resource_name(r), resource_namespace(r)) for r in matches}) > 1:
            raise Invalid("M507", f"found multiple possible referrals for {kind} '{ref['name']}'")
        if resource_namespace(matches[0]):
            ref["name"] = resource_name(matches[0])
            ref["namespace"] = resource_namespace(matches[0])

    for resource in resources:
        kind, group = resource.get("kind"), api_group(resource)
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


def set_namespace(resources: list[Resource], namespace: str) -> tuple[list[Resource], list[Diagnostic]]:
    """`namespace:` (already substituted), with the reference fix-up it causes."""
    return guard("/namespace", resources, lambda: transform_namespace(resources, namespace))
