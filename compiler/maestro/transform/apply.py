"""The overlay: every resource-level transform, in Kustomize's fixed order (see the package docstring)."""

from __future__ import annotations

import functools
import os
import pickle
from collections.abc import Callable
from typing import Any

from maestro.diagnostics import Diagnostic, error
from maestro.transform.bookkeeping import strip_bookkeeping
from maestro.transform.images import transform_images
from maestro.transform.labels import transform_annotations, transform_labels
from maestro.transform.namespace import substitute_namespace, transform_namespace
from maestro.transform.patches import transform_patch
from maestro.transform.references import check_references
from maestro.transform.resource import (
    Invalid,
    Resource,
    clone,
    describe,
    effective_namespace,
    owning,
    resid,
    resource_name,
)


def _check_objects(resources: list[Resource]) -> list[Resource]:
    # Kustomize refuses to load anything but objects with a kind and a name.
    for i, resource in enumerate(resources):
        if not isinstance(resource, dict) or not resource.get("kind") or not resource_name(resource):
            raise Invalid("M501", f"resource {i} is not an object with kind and metadata.name")
    return resources


def _check_unique(resources: list[Resource]) -> list[Resource]:
    seen: set[tuple[str, ...]] = set()
    for resource in resources:
        if resid(resource) in seen:
            raise Invalid(
                "M507",
                f"may not add resource with an already registered id: "
                f"{describe(resource)} in namespace '{effective_namespace(resource)}'",
            )
        seen.add(resid(resource))
    return resources


def apply_transforms(
    resources: list[Resource],
    overlay: dict[str, Any],
    *,
    context: dict[str, str],
    base_dir: str | os.PathLike[str] | None = None,
    observe: Callable[[str, list[Resource], list[Resource]], None] | None = None,
) -> tuple[list[Resource], list[Diagnostic]]:
    """Apply the overlay's resource-level transforms in Kustomize's order.

    Never raises for bad input and never mutates `resources` or `overlay`. With errors in
    the diagnostics, the returned list is best effort (the failing step is skipped) and
    must not be written out. `observe(pointer, before, after)` is told about every overlay
    step that ran (field provenance: `maestro why`); it runs the steps without the in-place
    shortcut below.

    The objects are cloned once and every step changes them in place; only when a step
    fails does the overlay run again with a clone per step, so that the failing step is
    skipped whole and the later steps see exactly what they saw before.
    """
    if observe is not None:
        return _apply(clone(resources), overlay, context, base_dir, fail_fast=False, observe=observe)
    try:
        with owning():
            return _apply(clone(resources), overlay, context, base_dir, fail_fast=True)
    except _StepFailed:
        return _apply(clone(resources), overlay, context, base_dir, fail_fast=False)


class _StepFailed(Exception):
    pass


def _apply(
    out: list[Resource],
    overlay: dict[str, Any],
    context: dict[str, str],
    base_dir: str | os.PathLike[str] | None,
    *,
    fail_fast: bool,
    observe: Callable[[str, list[Resource], list[Resource]], None] | None = None,
) -> tuple[list[Resource], list[Diagnostic]]:
    diagnostics: list[Diagnostic] = []

    def step(pointer: str, fn: Callable[[list[Resource]], list[Resource]]) -> None:
        nonlocal out
        # A copy for the observer only (pickle: a C-speed deep copy; nothing else reads it).
        before = pickle.loads(pickle.dumps(out, pickle.HIGHEST_PROTOCOL)) if observe is not None and pointer else None
        try:
            out = fn(out)
        except Invalid as exc:
            if fail_fast:
                raise _StepFailed from None
            diagnostics.append(error(exc.code, exc.message, pointer=pointer, hint=exc.hint))
            return
        if before is not None and observe is not None:
            observe(pointer, before, out)

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
    step("", lambda rs: [strip_bookkeeping(r) for r in rs])
    step("", _check_unique)
    for i, entry in enumerate(shape("patches", list) or []):
        step(f"/patches/{i}", functools.partial(transform_patch, entry=entry, base_dir=base_dir))
    namespace = shape("namespace", str)
    if namespace:
        step("/namespace", lambda rs: transform_namespace(rs, substitute_namespace(namespace, context)))
    step("/commonLabels", lambda rs: transform_labels(rs, overlay.get("commonLabels") or {}))
    step("/commonAnnotations", lambda rs: transform_annotations(rs, overlay.get("commonAnnotations") or {}))
    for i, entry in enumerate(shape("images", list) or []):
        step(f"/images/{i}", functools.partial(transform_images, images=[entry]))
    step("", check_references)
    step("", lambda rs: [strip_bookkeeping(r) for r in rs])
    if not diagnostics:
        step("", _check_unique)  # a patch may have renamed an object onto another
    return out, diagnostics
