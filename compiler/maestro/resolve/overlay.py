"""Environment overlays: `overlays/<env>/overlay.yaml`.

An overlay has two halves. `defaults` and `enforce` are spec fragments merged below and
above the spec (DESIGN.md "Precedence"). The rest are resource-level transforms with
exactly the meaning of the same fields in a kustomization.yaml (see `maestro.transform`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from maestro.diagnostics import Diagnostic, error
from maestro.frontend.loader import Located, load
from maestro.frontend.spec import Model

OVERLAYS_DIR = "overlays"
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
    located, diags = load(path, str(path.relative_to(root)))
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
    return (overlay if not problems else None), located, problems


def _as_overlay(d: Diagnostic) -> Diagnostic:
    from dataclasses import replace

    return replace(d, code="M302" if d.code.startswith("M1") else d.code)
