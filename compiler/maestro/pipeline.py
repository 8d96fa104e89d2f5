"""The pipeline: the one module that composes the stages (DESIGN.md "Pipeline").

Front half: load -> validate (pydantic) -> semantic rules -> resolve per environment. A spec
is checked as written, then once per environment with `spec.environments.<env>` merged on
top, so that an override that breaks a rule is reported at the override's line.

Back half: validated specs -> objects -> transforms -> verify -> file tree.

Each step is a function of data; this module only composes them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

from maestro.diagnostics import Diagnostic, error, has_errors
from maestro.errors import UsageError
from maestro.frontend.loader import Located, load
from maestro.frontend.pydantic_errors import validate_model
from maestro.frontend.semantics import check_literals, check_spec, to_diagnostics
from maestro.frontend.spec import Spec
from maestro.mlflow.lockfile import LOCK_FILE, EnvLock, LockFile, lock_problems, stale_diagnostics, wanted
from maestro.names import ARGOCD_FOLDER, PLATFORM_FOLDER
from maestro.output import link
from maestro.output.embed import embed, is_launched, manifest_config_map
from maestro.output.emit import Tree, folder
from maestro.output.secret_values import inline_secret_findings
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
    platform,
    registry,
    secrets,
    security,
    serving,
    standard_labels,
    training,
    tuning,
)
from maestro.resolve.config import fill
from maestro.resolve.effective import effective
from maestro.resolve.merge import get
from maestro.resolve.workspace import SPEC_FILE, SPECS_DIR, Inputs, Workspace
from maestro.transform.apply import apply_transforms
from maestro.transform.namespace import substitute_namespace

# ------------------------------------------------------------------ the front half: load, validate, resolve


@dataclass
class Checked:
    """One spec file after validation."""

    path: Path
    located: Located | None
    spec: Spec | None  # as written (None if invalid)
    effective: dict[str, Spec] = field(default_factory=dict)  # env -> resolved spec
    effective_located: dict[str, Located] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    lock: LockFile | None = None  # maestro.lock.yaml beside the spec, when present and valid
    lock_located: Located | None = None


def check_located(located: Located, inputs: Inputs, selected: list[str] | None = None) -> Checked:
    """Schema and semantic checks of one loaded spec, as written and per environment."""
    checked = Checked(path=Path(located.file), located=located, spec=None)
    diags = to_diagnostics(check_literals(located.data), located)
    spec, more = validate_model(Spec, located)
    diags += more
    if spec is not None:
        diags += to_diagnostics(check_spec(spec, inputs.environments), located)
    checked.spec = spec
    if spec is None:
        checked.diagnostics = diags
        return checked
    # Problems of the spec as written are reported once, not again for every environment.
    reported = {(d.file, d.line, d.col, d.code) for d in diags}
    for env in selected if selected is not None else inputs.environments:
        eff_loc = effective(located, env, platform=inputs.platforms.get(env), overlay=inputs.overlays.get(env))
        eff, env_diags = validate_model(Spec, eff_loc)
        env_diags = [_in_env(d, env) for d in env_diags]
        if eff is not None:
            env_diags += to_diagnostics(check_spec(eff, inputs.environments), eff_loc, env)
            if env in inputs.settings:
                from maestro.render import features, secrets, tuning

                platform = inputs.settings[env]
                env_diags += to_diagnostics(tuning.check(eff, platform), eff_loc, env)
                env_diags += to_diagnostics(features.check(eff, platform, env), eff_loc, env)
                env_diags += to_diagnostics(
                    secrets.check(eff, platform.environments[env].endpoints.vault), eff_loc, env
                )
            checked.effective[env] = eff
            checked.effective_located[env] = eff_loc
        diags += [d for d in env_diags if (d.file, d.line, d.col, d.code) not in reported]
    checked.diagnostics = diags
    return checked


def _in_env(d: Diagnostic, env: str) -> Diagnostic:
    from dataclasses import replace

    return replace(d, env=env)


def check_file(
    path: Path, display: str, inputs: Inputs, selected: list[str] | None = None, root: Path | None = None
) -> Checked:
    located, diags = load(path, display)
    if located is None:
        return Checked(path=path, located=None, spec=None, diagnostics=_about(diags, path.parent.name))
    checked = check_located(located, inputs, selected)
    checked.path = path
    if checked.spec is not None and root is not None:
        checked.diagnostics += _placement(checked.spec, path, root, located)
    if checked.spec is not None:
        checked.diagnostics += _lock(checked, display, inputs)
    model = checked.spec.metadata.name if checked.spec is not None else path.parent.name
    checked.diagnostics = _about(checked.diagnostics, model)
    return checked


def _about(diags: list[Diagnostic], model: str) -> list[Diagnostic]:
    """The spec's diagnostics, each saying which model it is about (its folder when the spec
    is too broken to have a name)."""
    return [d if d.model else replace(d, model=model) for d in diags]


@dataclass
class Front:
    """The front half's outcome for a set of spec files."""

    checked: list[Checked]
    diagnostics: list[Diagnostic]  # every spec's, their governance findings, the duplicate names


def check_specs(
    ws: Workspace,
    paths: Sequence[tuple[Path, str]],
    envs: list[str],
    gov: Governance | None = None,
    model: str | None = None,
) -> Front:
    """The front half, wired once: each spec (path, display name) loaded, validated, resolved
    in `envs` and, with `gov`, governed when it has no errors; then names unique across them.

    With `model`, only that model's spec: by name, or by folder for a spec too broken to have
    one (its diagnostics must show); UsageError when there is none.
    """
    checked = every = [check_file(path, shown, ws.inputs, envs, ws.root) for path, shown in paths]
    if model is not None:
        checked = [c for c in checked if (c.spec.metadata.name if c.spec else c.path.parent.name) == model]
        if not checked:
            known = ", ".join(sorted(c.spec.metadata.name if c.spec else c.path.parent.name for c in every))
            raise UsageError(f"no spec named '{model}' under {SPECS_DIR}/ (models: {known or 'none'})")
    diags: list[Diagnostic] = []
    for c in checked:
        diags += c.diagnostics
        if gov is not None and not has_errors(c.diagnostics):
            diags += _about(govern(c, ws, envs, gov), c.spec.metadata.name if c.spec else "")
    diags += duplicate_models(checked)
    return Front(checked, diags)


def govern(checked: Checked, ws: Workspace, envs: list[str], gov: Governance) -> list[Diagnostic]:
    """Spec-scope findings of one validated spec in every selected environment, waived."""
    spec = checked.spec
    if spec is None or checked.located is None or gov.spec_policies is None:
        return []
    diags: list[Diagnostic] = []
    for env in envs:
        eff = checked.effective.get(env)
        if eff is None:
            continue
        platform = ws.platforms[env]
        sync = argocd.sync_mode(platform.environments[env].sync, ws.overlays.get(env), eff.metadata.tier)
        diags += gov.check_spec(eff, env, platform, sync, checked.effective_located[env], lock_entry(checked, env))
    return apply_waivers(diags, spec, checked.located, ws.platform, envs)


def _lock(checked: Checked, display: str, inputs: Inputs) -> list[Diagnostic]:
    """Load the version lock beside the spec (load -> validate -> checks, like a spec); its
    problems and stale entries are the spec's findings."""
    assert checked.spec is not None
    model = checked.spec.metadata.name
    path = checked.path.parent / LOCK_FILE
    if not path.exists():
        return []
    located, diags = load(path, (PurePosixPath(display).parent / LOCK_FILE).as_posix())
    checked.lock_located = located
    if located is None:
        return diags
    lock, diags = validate_model(LockFile, located)
    if lock is None:
        return diags
    diags = lock_problems(lock, located, model, inputs.environments)
    if diags:
        return diags
    checked.lock = lock
    for env, spec in checked.effective.items():
        diags += stale_diagnostics(lock, located, env, wanted(spec), model)
    return diags


def _placement(spec: Spec, path: Path, root: Path, located: Located) -> list[Diagnostic]:
    """A spec under specs/ lives in the folder named after the model (rendered/<env>/<name>)."""
    try:
        rel = path.resolve().relative_to((root / SPECS_DIR).resolve())
    except ValueError:
        return []
    if len(rel.parts) == 2 and rel.parts[0] != spec.metadata.name:
        return [
            error(
                "M217",
                f"spec is in folder '{rel.parts[0]}' but metadata.name is '{spec.metadata.name}'",
                hint=f"move it to specs/{spec.metadata.name}/{SPEC_FILE} or rename the model",
                **located.where("/metadata/name"),
            )
        ]
    return []


def duplicate_models(checked: list[Checked]) -> list[Diagnostic]:
    seen: dict[str, Checked] = {}
    out = []
    for c in checked:
        if c.spec is None or c.located is None:
            continue
        name = c.spec.metadata.name
        if name in seen:
            out.append(
                error(
                    "M214",
                    f"model '{name}' is also defined in {seen[name].located.file}",  # type: ignore[union-attr]
                    hint="model names are unique across specs/",
                    **c.located.where("/metadata/name"),
                )
            )
        else:
            seen[name] = c
    return out


# ------------------------------------------------------------------ the back half: render, transform, verify

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


def context_for(ws: Workspace, env: str, spec: Spec, source: str, lock: EnvLock | None = None) -> Context:
    overlay = ws.overlays.get(env)
    sync = argocd.sync_mode(ws.platforms[env].environments[env].sync, overlay, spec.metadata.tier)
    return Context(
        env=env,
        platform=ws.platforms[env],
        namespace=namespace_for(ws, env, spec),
        source=source,
        sync=sync,
        lock=lock,
    )


def lock_entry(c: Checked, env: str) -> EnvLock | None:
    """The spec's lock entry for `env` (a stale one never gets here: it is an error in check)."""
    return c.lock.environments.get(env) if c.lock is not None else None


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


def render_model(
    ws: Workspace, env: str, spec: Spec, source: str, lock: EnvLock | None = None
) -> tuple[list[Resource], list[Diagnostic]]:
    """Every object of one model in one environment, transformed, not yet verified."""
    ctx = context_for(ws, env, spec, source, lock)
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
        env_objects: list[Resource] = []
        placed: list[link.Placed] = []
        linked: dict[str, Checked] = {}
        for c in sorted(checked, key=lambda c: c.spec.metadata.name if c.spec else ""):
            spec = c.effective.get(env)
            if spec is None:
                continue
            source = _source(ws, c)
            objects, diags = render_model(ws, env, spec, source, lock_entry(c, env))
            result.tree.diagnostics.extend(diags)
            prefix = f"{env}/{spec.metadata.name}"
            # The rendered tree never carries a secret value, whatever a renderer or patch did.
            result.tree.diagnostics.extend(inline_secret_findings(objects, prefix=prefix))
            findings: list[Diagnostic] = []
            for res in objects:
                where = f"{prefix}/{_where(res)}"
                result.tree.diagnostics.extend(verifier.verify(res, source=where))
                if gov is not None:
                    findings += gov.check_object(res, env, spec.metadata.team, ws.platforms[env], f"rendered/{where}")
            if findings and c.spec is not None and c.located is not None:
                result.tree.diagnostics.extend(apply_waivers(findings, c.spec, c.located, ws.platform, envs))
            # Launched runs reach the platform layer and the link stage as objects (their pods
            # use names and selectors like any other); the tree gets them inside the
            # ConfigMaps their launchers read (output/embed.py).
            env_objects += objects
            placed += [link.Placed(res, f"{RENDERED}/{prefix}/{_where(res)}", spec.metadata.name) for res in objects]
            objects = embed(objects)
            folder(result.tree, prefix, objects, source)
            linked[spec.metadata.name] = c
            result.objects += len(objects)
            result.models.add(spec.metadata.name)
            refs.append(model_ref(ws, env, spec, source))
            if progress is not None:
                progress()
        # The platform layer is derived from the models' objects, so it comes after them.
        layer = platform.render_env(env, ws.platforms[env], refs, env_objects)
        apps = argocd.render_env(env, ws.platforms[env], ws.overlays.get(env), refs, layer)
        for name, objects in ((PLATFORM_FOLDER, layer), (ARGOCD_FOLDER, apps)):
            prefix = f"{env}/{name}"
            result.tree.diagnostics.extend(inline_secret_findings(objects, prefix=prefix))
            for res in objects:
                where = f"{prefix}/{_fname(res)}"
                result.tree.diagnostics.extend(verifier.verify(res, source=where))
                if gov is not None and name == PLATFORM_FOLDER:  # Maestro's own Argo CD objects are not policed
                    result.tree.diagnostics.extend(
                        gov.check_object(res, env, "", ws.platforms[env], f"rendered/{where}")
                    )
            if objects:
                folder(result.tree, prefix, objects)
            result.objects += len(objects)
        placed += [link.Placed(res, f"{RENDERED}/{env}/{PLATFORM_FOLDER}/{_fname(res)}") for res in layer]
        unresolved = link.link(link_input(ws, env, refs, linked, placed))
        result.tree.diagnostics.extend(link_diagnostics(unresolved, ws, env, linked))
    return result


RENDERED = "rendered"


def link_input(
    ws: Workspace, env: str, refs: list[argocd.ModelRef], specs: dict[str, Checked], placed: list[link.Placed]
) -> link.LinkInput:
    """What the link stage needs of one environment besides its objects: what config says the
    cluster provides (placeholders filled per model namespace), and who calls each model."""
    config = ws.platforms[env]
    pv = config.provided

    def per_model(patterns: list[str]) -> frozenset[tuple[str, str]]:
        return frozenset((r.namespace, fill(p, model=r.name, team=r.team, env=env)) for r in refs for p in patterns)

    provided = link.Provided(
        namespaces=tuple(pv.namespaces),
        priority_classes=frozenset(pv.priority_classes),
        secrets=per_model(pv.secrets),
        config_maps=per_model(pv.config_maps),
        service_accounts=per_model(pv.service_accounts),
        storage_uri_prefixes=tuple(pv.storage_uri_prefixes),
        cluster_training_runtimes=frozenset(pv.cluster_training_runtimes),
    )
    callers = {}
    for name, c in specs.items():
        network = c.effective[env].spec.network
        callers[name] = link.Callers(
            tuple(sorted({p.namespace for p in network.allow_from} if network else set())),
            config.istio_ingress_namespace,
        )
    return link.LinkInput(env, tuple(placed), provided, config.mesh.mode, config.monitoring.namespace, callers)


def link_diagnostics(
    findings: list[link.Finding], ws: Workspace, env: str, specs: dict[str, Checked]
) -> list[Diagnostic]:
    """Each finding at the line that caused it: the overlay patch that wrote the unresolved
    name, else the spec section (as resolved for the environment), else the rendered file.
    The rendered file and the pointer in the object travel in `extra`."""
    overlay = ws.inputs.overlays.get(env)
    out = []
    for f in findings:
        where: dict[str, Any] = {"file": f.path, "pointer": f.pointer}
        patch = _patch_writing(overlay, f.subject) if f.subject else None
        c = specs.get(f.model) if f.model else None
        if patch is not None and overlay is not None:
            where = overlay.where(patch)
        elif c is not None and f.cause is not None and env in c.effective_located:
            where = _cause_position(c, env, f.cause)
        extra = (("rendered", f.path), ("object_pointer", f.pointer))
        message = f.message if where["file"] == f.path else f"{f.message} (in {f.path})"
        out.append(error(f.code, message, hint=f.hint, extra=extra, **where))
    return out


def _cause_position(c: Checked, env: str, pointer: str) -> dict[str, Any]:
    """A value where the effective spec got it (the spec, its environment override or an
    overlay); a section where the spec writes it, when it does (an overlay's defaults may
    have opened the same section first)."""
    eff = c.effective_located[env]
    value = get(eff.data, pointer)
    if c.located is not None and (value is None or isinstance(value, (dict, list))):
        if pointer in c.located.keys or pointer in c.located.values:
            return c.located.where(pointer, key=pointer in c.located.keys)
    return eff.where(pointer)


def _patch_writing(overlay: Located | None, value: str) -> str | None:
    """The overlay's `patches` entry whose text sets `value`, if one does."""
    if overlay is None:
        return None
    for i, entry in enumerate(overlay.data.get("patches") or []):
        text = entry.get("patch") if isinstance(entry, dict) else None
        if isinstance(text, str) and re.search(rf"(?<![\w.-]){re.escape(value)}(?![\w.-])", text):
            return f"/patches/{i}"
    return None


def model_ref(ws: Workspace, env: str, spec: Spec, source: str) -> argocd.ModelRef:
    """What the environment's Argo CD objects need to know of one model (only its metadata is read)."""
    ctx = context_for(ws, env, spec, source)
    meta = spec.metadata
    return argocd.ModelRef(
        name=meta.name,
        team=meta.team,
        tier=meta.tier,
        namespace=ctx.namespace,
        source=source,
        sync=ctx.sync,
        owners=tuple(meta.owners),
    )


def _where(res: Resource) -> str:
    """The file a finding about `res` points at: a launched run's is the ConfigMap that holds
    it (under `job.yaml`; the message names the run), a real file for editors and annotations."""
    if is_launched(res):
        return _fname({"kind": "ConfigMap", "metadata": {"name": manifest_config_map(res)}})
    return _fname(res)


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
