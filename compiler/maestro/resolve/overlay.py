"""Environment overlays: `overlays/<env>/overlay.yaml`.

An overlay has two halves. `defaults` and `enforce` are spec fragments merged below and
above the spec (DESIGN.md "Precedence"). The rest are resource-level transforms with
exactly the meaning of the same fields in a kustomization.yaml (see `maestro.transform`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from maestro.diagnostics import Diagnostic, error
from maestro.frontend.loader import Located, load
from maestro.frontend.spec import Model
from maestro.layout import OVERLAYS_DIR
from maestro.names import DNS1123_LABEL

OVERLAY_FILE = "overlay.yaml"


class Image(Model):
    """Kustomize `images` entry."""

    name: Annotated[str, Field(description="Image name to match (without tag or digest).", min_length=1)]
    new_name: Annotated[str | None, Field(description="Replacement image name.")] = None
    new_tag: Annotated[str | None, Field(description="Replacement tag.")] = None
    digest: Annotated[str | None, Field(description="Replacement digest (sha256:...).")] = None


class Target(Model):
    """Kustomize patch `target` selector; name/namespace/kind are regular expressions."""

    group: str | None = None
    version: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    label_selector: str | None = None
    annotation_selector: str | None = None


class Patch(Model):
    """Kustomize `patches` entry: strategic merge or JSON 6902, inline or from a file."""

    patch: Annotated[str | None, Field(description="Inline patch text.")] = None
    path: Annotated[str | None, Field(description="Patch file, relative to the overlay folder.")] = None
    target: Annotated[Target | None, Field(description="Objects the patch applies to.")] = None
    options: dict[str, bool] = {}


class ArgoCd(Model):
    """How Argo CD syncs this environment's Applications."""

    sync: Annotated[
        Literal["automated", "manual"] | None,
        Field(description="Sync mode for every model (default: the platform config's)."),
    ] = None
    manual_for_tiers: Annotated[
        list[Literal["critical", "standard", "experimental"]],
        Field(description="Tiers whose Applications sync manually (an approval step)."),
    ] = []


class Overlay(Model):
    """One environment's overlay."""

    api_version: Literal["maestro.ml/v1alpha1"]
    kind: Literal["Overlay"]
    environment: Annotated[str, Field(description="The environment this overlay is for (its folder name).")]
    namespace: Annotated[
        str | None, Field(description="Namespace for every object; placeholders {team} {model} {env}.")
    ] = None
    defaults: Annotated[dict[str, Any], Field(description="Spec fragment merged below the spec.")] = {}
    enforce: Annotated[dict[str, Any], Field(description="Spec fragment merged above the spec and its overrides.")] = {}
    common_labels: dict[str, str] = {}
    common_annotations: dict[str, str] = {}
    images: list[Image] = []
    patches: list[Patch] = []
    argocd: ArgoCd = ArgoCd()


def load_overlay(root: Path, env: str) -> tuple[Overlay | None, Located | None, list[Diagnostic]]:
    """The overlay for `env`, or (None, None, []) when the environment has none."""
    from maestro.frontend.pydantic_errors import validate_model

    path = root / OVERLAYS_DIR / env / OVERLAY_FILE
    if not path.exists():
        return None, None, []
    located, diags = load(path, str(path.relative_to(root)), root=root)
    if located is None:
        return None, None, diags
    overlay, diags = validate_model(Overlay, located)
    if overlay is None:
        return None, None, [_as_overlay(d) for d in diags]
    problems = []
    if overlay.environment != env:
        problems.append(
            error(
                "M302",
                f"overlay says environment '{overlay.environment}' but lives in overlays/{env}/",
                **located.where("/environment"),
            )
        )
    for i, patch in enumerate(overlay.patches):
        if (patch.patch is None) == (patch.path is None):
            problems.append(
                error(
                    "M302", "a patch needs exactly one of 'patch' or 'path'", **located.where(f"/patches/{i}", key=True)
                )
            )
        elif patch.path is not None:
            target = (path.parent / patch.path).resolve()
            if not target.is_relative_to(root.resolve()) or not target.is_file():
                problems.append(
                    error(
                        "M302",
                        f"patch file '{patch.path}' not found inside the repository",
                        **located.where(f"/patches/{i}/path"),
                    )
                )
    problems += _namespace_problems(overlay, located)
    if not problems:
        problems += _patch_problems(overlay, located, path.parent)
    return (overlay if not problems else None), located, problems


NAMESPACE_PLACEHOLDERS = ("team", "model", "env")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# What identifies an object: a patch may not change it. Maestro's renderers own kinds and names
# (verify, link and the policies check what they built), and Kustomize itself refuses a kind or
# name change unless `options.allowKindChange`/`allowNameChange` say so.
_IDENTITY = {
    "": "whole object",
    "/kind": "kind",
    "/apiVersion": "apiVersion",
    "/metadata": "metadata",
    "/metadata/name": "name",
    "/metadata/namespace": "namespace",
}


def _namespace_problems(overlay: Overlay, located: Located) -> list[Diagnostic]:
    """The namespace pattern: known placeholders, and a DNS label once they are filled in
    (each model's own namespace is checked when its spec is: its length depends on the names)."""
    pattern = overlay.namespace
    if pattern is None:
        return []
    unknown = sorted(set(_PLACEHOLDER.findall(pattern)) - set(NAMESPACE_PLACEHOLDERS))
    where = located.where("/namespace")
    if unknown:
        return [
            error(
                "M302",
                "namespace: unknown placeholder(s) " + ", ".join("{" + u + "}" for u in unknown),
                hint="placeholders are " + ", ".join("{" + p + "}" for p in NAMESPACE_PLACEHOLDERS),
                **where,
            )
        ]
    sample = _PLACEHOLDER.sub("a", pattern)
    if not DNS1123_LABEL.fullmatch(sample):
        return [
            error(
                "M302",
                f"namespace '{pattern}' does not make a DNS-1123 label (lower-case letters, digits and '-', "
                "starting and ending with a letter or digit)",
                **where,
            )
        ]
    return []


def _patch_problems(overlay: Overlay, located: Located, base_dir: Path) -> list[Diagnostic]:
    """What a patch may not do, seen in its text: a JSON 6902 path that is no JSON pointer
    (kustomize's json-patch reads `spec/x` as `/x`), and any change of an object's identity."""
    from maestro.transform.patches import parse_patch, patch_text
    from maestro.transform.resource import Invalid

    out = []
    for i, entry in enumerate(overlay.patches):
        where = located.where(f"/patches/{i}/patch" if entry.patch is not None else f"/patches/{i}/path")
        try:
            kind, body = parse_patch(patch_text({"patch": entry.patch, "path": entry.path}, base_dir))
        except Invalid:
            continue  # the transform reports it, with Kustomize's words
        if kind == "smp":
            changes = [k for k in ("allowKindChange", "allowNameChange") if entry.options.get(k)]
            if changes:
                out.append(
                    error(
                        "M302",
                        f"patch {i}: options.{changes[0]} lets the patch change what the object is; Maestro's "
                        "renderers own kinds and names",
                        hint="patch fields of the objects Maestro renders; change a kind or name in the spec or config",
                        **where,
                    )
                )
            continue
        for j, op in enumerate(body):
            for field in ("path", "from"):
                value = op.get(field)
                if not isinstance(value, str):
                    continue
                if value and not value.startswith("/"):
                    read_as = "/" + "/".join(value.split("/")[1:])
                    out.append(
                        error(
                            "M302",
                            f"patch {i}, operation {j}: {field} '{value}' is not a JSON pointer (it must start "
                            f"with '/'); kustomize would apply it at '{read_as}'",
                            hint=f"write '/{value}'",
                            **where,
                        )
                    )
                elif value.rstrip("/") in _IDENTITY and (field == "from" or op.get("op") != "test"):
                    out.append(
                        error(
                            "M302",
                            f"patch {i}, operation {j}: {op.get('op')} {field} '{value}' changes the object's "
                            f"{_IDENTITY[value.rstrip('/')]}; Maestro's renderers own kinds and names",
                            hint="patch fields inside the object (its spec, labels, annotations)",
                            **where,
                        )
                    )
    return out


def _as_overlay(d: Diagnostic) -> Diagnostic:
    from dataclasses import replace

    return replace(d, code="M302" if d.code.startswith("M1") else d.code)
