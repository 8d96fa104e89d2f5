"""The render pipeline: validated specs -> objects -> transforms -> verify -> file tree.

Each step is a function of data; this module only composes them (DESIGN.md "Pipeline").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

from maestro.check import Checked
from maestro.diagnostics import Diagnostic
from maestro.frontend.spec import Spec
from maestro.output.emit import Tree, folder
from maestro.output.verify import Verifier
from maestro.policy.governance import Governance, apply_waivers
from maestro.render import (
    SYNC_WAVE,
    Context,
    Resource,
    argocd,
    features,
    mesh,
    monitoring,
    registry,
    secrets,
    security,
    serving,
    standard_labels,
    training,
    tuning,
)
from maestro.resolve.workspace import Workspace
from maestro.transform.apply import apply_transforms
from maestro.transform.namespace import substitute_namespace

# One module per artifact family, in the order their objects are listed (DESIGN.md).
RENDERERS: tuple[ModuleType, ...] = (serving, mesh, training, tuning, registry, features, monitoring, secrets, security)
SOURCE_ANNOTATION = "maestro.ml/source"


@dataclass
class Rendered:
    tree: Tree = field(default_factory=Tree)
    objects: int = 0
    models: set[str] = field(default_factory=set)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.tree.diagnostics


def namespace_for(ws: Workspace, env: str, spec: Spec) -> str:
    overlay = ws.overlays.get(env)
    pattern = (overlay.namespace if overlay and overlay.namespace else None) or ws.platforms[env].environments[
        env
    ].namespace
    return substitute_namespace(pattern, _placeholders(env, spec))


def _placeholders(env: str, spec: Spec) -> dict[str, str]:
    return {"team": spec.metadata.team, "model": spec.metadata.name, "env": env}


def context_for(ws: Workspace, env: str, spec: Spec, source: str) -> Context:
    overlay = ws.overlays.get(env)
    sync = argocd.sync_mode(ws.platforms[env].environments[env].sync, overlay, spec.metadata.tier)
    return Context(
        env=env, platform=ws.platforms[env], namespace=namespace_for(ws, env, spec), source=source, sync=sync
    )


def stamp(resources: Iterable[Resource], spec: Spec, ctx: Context, component: str) -> list[Resource]:
    """Provenance: recommended labels, the source spec, and the Argo CD sync wave."""
    out = []
    for res in resources:
        meta = res.setdefault("metadata", {})
        meta["labels"] = {**standard_labels(spec, ctx, component), **meta.get("labels", {})}
        annotations = {SOURCE_ANNOTATION: ctx.source, **meta.get("annotations", {})}
        wave = argocd.sync_wave(res)
        if wave is not None:
            annotations.setdefault(SYNC_WAVE, wave)
        meta["annotations"] = annotations
        out.append(res)
    return out


def render_model(ws: Workspace, env: str, spec: Spec, source: str) -> tuple[list[Resource], list[Diagnostic]]:
    """Every object of one model in one environment, transformed, not yet verified."""
    ctx = context_for(ws, env, spec, source)
    resources: list[Resource] = []
    for module in RENDERERS:
        resources += stamp(module.render(spec, ctx), spec, ctx, module.COMPONENT)
    overlay = ws.overlays.get(env)
    doc = ws.inputs.overlays.get(env)
    transforms: dict[str, Any] = {"namespace": ctx.namespace}
    if doc is not None:
        for key in ("commonLabels", "commonAnnotations", "images", "patches"):
            if key in doc.data:
                transforms[key] = doc.data[key]
    base_dir = ws.root / "overlays" / env
    out, diags = apply_transforms(resources, transforms, context=_placeholders(env, spec), base_dir=base_dir)
    if doc is not None and overlay is not None:
        diags = [
            replace(d, **doc.where(d.pointer))
            if d.pointer.startswith(("/patches", "/images", "/common"))
            else replace(d, file=doc.file)
            for d in diags
        ]
    return out, diags


def render(
    ws: Workspace,
    checked: list[Checked],
    envs: list[str],
    verifier: Verifier,
    progress: Callable[[], None] | None = None,
    gov: Governance | None = None,
) -> Rendered:
    """The tree of every selected environment for every valid spec in `checked`, each
    object verified against its schema and, with `gov`, the resource-scope policies."""
    result = Rendered()
    for env in envs:
        refs = []
        for c in sorted(checked, key=lambda c: c.spec.metadata.name if c.spec else ""):
            spec = c.effective.get(env)
            if spec is None:
                continue
            source = _source(ws, c)
            objects, diags = render_model(ws, env, spec, source)
            result.tree.diagnostics.extend(diags)
            prefix = f"{env}/{spec.metadata.name}"
            # The rendered tree never carries a secret value, whatever a renderer or patch did.
            result.tree.diagnostics.extend(secrets.inline_secret_findings(objects, prefix=prefix))
            findings: list[Diagnostic] = []
            for res in objects:
                where = f"{prefix}/{_fname(res)}"
                result.tree.diagnostics.extend(verifier.verify(res, source=where))
                if gov is not None:
                    findings += gov.check_object(res, env, spec.metadata.team, ws.platforms[env], f"rendered/{where}")
            if findings and c.spec is not None and c.located is not None:
                result.tree.diagnostics.extend(apply_waivers(findings, c.spec, c.located, ws.platform, envs))
            folder(result.tree, prefix, objects, source)
            result.objects += len(objects)
            result.models.add(spec.metadata.name)
            ctx = context_for(ws, env, spec, source)
            refs.append(
                argocd.ModelRef(
                    name=spec.metadata.name,
                    team=spec.metadata.team,
                    tier=spec.metadata.tier,
                    namespace=ctx.namespace,
                    source=source,
                    sync=ctx.sync,
                    owners=tuple(spec.metadata.owners),
                )
            )
            if progress is not None:
                progress()
        apps = argocd.render_env(env, ws.platforms[env], ws.overlays.get(env), refs)
        result.tree.diagnostics.extend(secrets.inline_secret_findings(apps, prefix=f"{env}/argocd"))
        for res in apps:
            result.tree.diagnostics.extend(verifier.verify(res, source=f"{env}/argocd/{_fname(res)}"))
        folder(result.tree, f"{env}/argocd", apps)
        result.objects += len(apps)
    return result


def _fname(res: Resource) -> str:
    from maestro.output.emit import file_name

    return file_name(res)


def _source(ws: Workspace, c: Checked) -> str:
    try:
        return c.path.resolve().relative_to(ws.root.resolve()).as_posix()
    except ValueError:
        return c.path.as_posix()


def verifier_for(ws: Workspace) -> Verifier:
    crd = ws.platform.crd_schema_dir
    return Verifier(ws.platform.kubernetes_version, (ws.root / crd) if crd else None)
