"""`commonLabels` and `commonAnnotations`."""

from __future__ import annotations

from typing import Any

from maestro.diagnostics import Diagnostic
from maestro.transform.fieldspecs import ANNOTATION_FIELDSPECS, LABEL_FIELDSPECS, apply_fieldspecs, set_map_entries
from maestro.transform.resource import Invalid, Resource, guard, own


def _check_string_map(value: Any, what: str) -> dict[str, str]:
    # Kustomize decodes these maps into map[string]string: a number or a bool is an error.
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise Invalid(
            "M501", f"{what} must map names to strings", hint="quote values that look like numbers or booleans"
        )
    return {str(k): v for k, v in value.items()}


def transform_labels(resources: list[Resource], labels: dict[str, str]) -> list[Resource]:
    """commonLabels: metadata.labels plus the selectors and templates Kustomize knows."""
    out = own(resources)
    labels = _check_string_map(labels, "commonLabels")
    if labels:
        for resource in out:
            apply_fieldspecs(resource, LABEL_FIELDSPECS, set_map_entries(labels))
    return out


def transform_annotations(resources: list[Resource], annotations: dict[str, str]) -> list[Resource]:
    """commonAnnotations: metadata.annotations plus built-in pod templates."""
    out = own(resources)
    annotations = _check_string_map(annotations, "commonAnnotations")
    if annotations:
        for resource in out:
            apply_fieldspecs(resource, ANNOTATION_FIELDSPECS, set_map_entries(annotations))
    return out


def add_labels(resources: list[Resource], labels: dict[str, str]) -> tuple[list[Resource], list[Diagnostic]]:
    """`commonLabels:`."""
    return guard("/commonLabels", resources, lambda: transform_labels(resources, labels))


def add_annotations(resources: list[Resource], annotations: dict[str, str]) -> tuple[list[Resource], list[Diagnostic]]:
    """`commonAnnotations:`."""
    return guard("/commonAnnotations", resources, lambda: transform_annotations(resources, annotations))
