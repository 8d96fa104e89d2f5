"""The pipeline: the one module that composes the stages (DESIGN.md "Pipeline").

Front half: load -> validate (pydantic) -> semantic rules -> resolve per environment. A spec
is checked as written, then once per environment with `spec.environments.<env>` merged on
top, so that an override that breaks a rule is reported at the override's line.

Back half: validated specs -> objects -> transforms -> verify -> file tree.

Each step is a function of data; this module only composes them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Generator, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import TYPE_CHECKING, Any

from maestro.diagnostics import Diagnostic, error, has_errors
from maestro.errors import UsageError
from maestro.forked import Forked
from maestro.frontend.loader import Located, load
from maestro.frontend.pydantic_errors import validate_model
from maestro.frontend.semantics import check_airflow_templating, check_literals, check_spec, to_diagnostics
from maestro.frontend.spec import Spec
from maestro.keys import folder_key
from maestro.mlflow.lockfile import LOCK_FILE, EnvLock, LockFile, lock_problems, stale_diagnostics, wanted
from maestro.resolve.effective import effective
from maestro.resolve.merge import get
from maestro.resolve.workspace import SPEC_FILE, SPECS_DIR, Inputs, Workspace

# The back half (renderers, transforms, verify, link, emit) and the policy engine are
# imported where they are used: `maestro validate` and `maestro --help` never load them.
if TYPE_CHECKING:
    from maestro.cache import Cache
    from maestro.output import link
    from maestro.output.emit import Tree
    from maestro.output.verify import Verifier
    from maestro.policy.governance import Governance
    from maestro.render import Context, Resource
    from maestro.render.argocd import ModelRef
    from maestro.render.platform import Uses
    from maestro.resolve.config import Platform

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
    if (
        isinstance(located.data, dict)
        and isinstance(located.data.get("spec"), dict)
        and "pipeline" in located.data["spec"]
    ):
        diags += to_diagnostics(check_airflow_templating(located.data), located)
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
                from maestro.render import features, secrets, spot, tuning

                platform = inputs.settings[env]
                env_diags += to_diagnostics(tuning.check(eff, platform), eff_loc, env)
                env_diags += to_diagnostics(features.check(eff, platform, env), eff_loc, env)
                env_diags += to_diagnostics(spot.check(eff, platform, env), eff_loc, env)
                env_diags += to_diagnostics(
                    secrets.check(eff, platform.environments[env].endpoints.vault), eff_loc, env
                )
                env_diags += to_diagnostics(secrets.scope_findings(eff, platform, env), eff_loc, env)
                env_diags += _namespace_diagnostics(eff, env, inputs)
            checked.effective[env] = eff
            checked.effective_located[env] = eff_loc
        diags += [d for d in env_diags if (d.file, d.line, d.col, d.code) not in reported]
    checked.diagnostics = diags
    return checked


def _namespace_diagnostics(spec: Spec, env: str, inputs: Inputs) -> list[Diagnostic]:
    """The model's namespace in `env` must be a DNS label (at most 63 characters); reported
    where its pattern is written, the overlay's or the config's, naming the model."""
    from maestro.names import DNS1123_LABEL
    from maestro.transform.namespace import substitute_namespace
    from maestro.transform.resource import Invalid

    overlay = inputs.overlays.get(env)
    written = overlay.data.get("namespace") if overlay is not None else None
    if isinstance(written, str) and written:
        pattern, where = written, overlay.where("/namespace")  # type: ignore[union-attr]
    else:
        platform_doc = inputs.platforms.get(env)
        pattern = inputs.settings[env].environments[env].namespace
        where = platform_doc.where(f"/environments/{env}/namespace") if platform_doc is not None else {}
    try:
        namespace = substitute_namespace(pattern, _placeholders(env, spec))
    except Invalid:
        return []  # the overlay's own check reports the placeholder
    if len(namespace) <= 63 and DNS1123_LABEL.fullmatch(namespace):
        return []
    why = f"{len(namespace)} characters, more than 63" if len(namespace) > 63 else "not a DNS-1123 label"
    return [
        error(
            "M302" if where.get("file", "").startswith("overlays/") else "M301",
            f"namespace '{namespace}' of model {spec.metadata.name} ({pattern}) is {why}",
            hint="namespaces are DNS-1123 labels: lower-case letters, digits and '-', at most 63 characters",
            env=env,
            model=spec.metadata.name,
            **where,
        )
    ]


def _in_env(d: Diagnostic, env: str) -> Diagnostic:
    from dataclasses import replace

    return replace(d, env=env)


def check_file(
    path: Path, display: str, inputs: Inputs, selected: list[str] | None = None, root: Path | None = None
) -> Checked:
    located, diags = load(path, display, root=root)
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
    from maestro.policy.governance import apply_waivers
    from maestro.render.argocd import sync_mode

    spec = checked.spec
    if spec is None or checked.located is None or gov.spec_policies is None:
        return []
    diags: list[Diagnostic] = []
    for env in envs:
        eff = checked.effective.get(env)
        if eff is None:
            continue
        platform = ws.platforms[env]
        sync = sync_mode(platform.environments[env].sync, ws.overlays.get(env), eff.metadata.tier)
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
    return _duplicates(
        [
            (c.spec.metadata.name, c.located.file, c.located.where("/metadata/name"))
            for c in checked
            if c.spec is not None and c.located is not None
        ]
    )


def _duplicates(named: Sequence[tuple[str, str, dict[str, Any]]]) -> list[Diagnostic]:
    """M214 for each (name, file, where its metadata.name is) whose name came before."""
    seen: dict[str, str] = {}
    out = []
    for name, file, where in named:
        if name in seen:
            out.append(
                error(
                    "M214",
                    f"model '{name}' is also defined in {seen[name]}",
                    hint="model names are unique across specs/",
                    **where,
                )
            )
        else:
            seen[name] = file
    return out


# ------------------------------------------------------------------ the back half: render, transform, verify

SOURCE_ANNOTATION = "maestro.ml/source"
RENDERED = "rendered"


@functools.cache
def renderers() -> tuple[ModuleType, ...]:
    """One module per artifact family, in the order their objects are listed (DESIGN.md)."""
    from maestro.render import features, mesh, monitoring, registry, secrets, security, serving, training, tuning

    return (serving, mesh, training, tuning, registry, features, monitoring, secrets, security)


@dataclass
class Rendered:
    tree: Tree = field(default_factory=lambda: _tree())
    objects: int = 0
    models: set[str] = field(default_factory=set)
    # file -> the cache key of the part that made it (a model-environment or a layer): the same
    # key makes the same bytes (render_incremental only; output/manifest.py records them)
    origins: dict[str, str] = field(default_factory=dict)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.tree.diagnostics


def _tree(files: MutableMapping[str, bytes] | None = None) -> Tree:
    from maestro.output.emit import Tree

    return Tree() if files is None else Tree(files=files)


def namespace_for(ws: Workspace, env: str, spec: Spec) -> str:
    from maestro.transform.namespace import substitute_namespace

    overlay = ws.overlays.get(env)
    pattern = (overlay.namespace if overlay and overlay.namespace else None) or ws.platforms[env].environments[
        env
    ].namespace
    return substitute_namespace(pattern, _placeholders(env, spec))


def _placeholders(env: str, spec: Spec) -> dict[str, str]:
    return {"team": spec.metadata.team, "model": spec.metadata.name, "env": env}


def context_for(ws: Workspace, env: str, spec: Spec, source: str, lock: EnvLock | None = None) -> Context:
    from maestro.render import Context, argocd

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
    from maestro.render import SYNC_WAVE, argocd, standard_labels

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
    ws: Workspace, env: str, spec: Spec, source: str, lock: EnvLock | None = None, *, patches: int | None = None
) -> tuple[list[Resource], list[Diagnostic]]:
    """Every object of one model in one environment, transformed, not yet verified.
    `patches`: apply only the overlay's first N patches (None: all of them)."""
    from maestro.render import airflow

    spec = airflow.scheduled(spec)
    ctx = context_for(ws, env, spec, source, lock)
    resources: list[Resource] = []
    for module in renderers():
        resources += stamp(module.render(spec, ctx), spec, ctx, module.COMPONENT)
    resources = _decorate(resources, spec, ctx)
    out, diags = _transform(ws, env, spec, ctx, resources, patches=patches)
    return _with_pipeline(ws, env, spec, ctx, out, diags, patches=patches)


def _decorate(resources: list[Resource], spec: Spec, ctx: Context) -> list[Resource]:
    """What every rendered pod gets (logs, traces, lineage, spot)."""
    from maestro.render.decorate import decorate

    return decorate(resources, spec, ctx)


def _overlay_transforms(ws: Workspace, env: str, ctx: Context, patches: int | None = None) -> dict[str, Any]:
    """The overlay's transforms; `patches`: only its first N patches (None: all of them)."""
    transforms: dict[str, Any] = {"namespace": ctx.namespace}
    doc = ws.inputs.overlays.get(env)
    if doc is not None:
        for key in ("commonLabels", "commonAnnotations", "images", "patches"):
            if key in doc.data:
                transforms[key] = doc.data[key]
        if patches is not None and isinstance(transforms.get("patches"), list):
            transforms["patches"] = transforms["patches"][:patches]
    return transforms


def _with_pipeline(
    ws: Workspace,
    env: str,
    spec: Spec,
    ctx: Context,
    out: list[Resource],
    diags: list[Diagnostic],
    *,
    patches: int | None = None,
) -> tuple[list[Resource], list[Diagnostic]]:
    """With a pipeline, the Airflow DAG: built from the transformed objects (what the cluster
    runs), then stamped and transformed itself."""
    from maestro.render import airflow
    from maestro.transform.apply import apply_transforms

    if spec.spec.pipeline is None:
        return out, diags
    out, dag = airflow.apply(out, spec, ctx)
    dag_out, more = apply_transforms(
        stamp(dag, spec, ctx, airflow.COMPONENT),
        _overlay_transforms(ws, env, ctx, patches),
        context=_placeholders(env, spec),
        base_dir=ws.root / "overlays" / env,
    )
    return out + dag_out, diags + more


def _transform(
    ws: Workspace,
    env: str,
    spec: Spec,
    ctx: Context,
    resources: list[Resource],
    observe: Callable[[str, list[Resource], list[Resource]], None] | None = None,
    *,
    patches: int | None = None,
) -> tuple[list[Resource], list[Diagnostic]]:
    """The overlay's transforms on one model's objects, diagnostics placed in the overlay."""
    from maestro.transform.apply import apply_transforms

    overlay = ws.overlays.get(env)
    doc = ws.inputs.overlays.get(env)
    out, diags = apply_transforms(
        resources,
        _overlay_transforms(ws, env, ctx, patches),
        context=_placeholders(env, spec),
        base_dir=ws.root / "overlays" / env,
        observe=observe,
    )
    if doc is not None and overlay is not None:
        diags = [
            replace(d, **doc.where(d.pointer))
            if d.pointer.startswith(("/patches", "/images", "/common"))
            else replace(d, file=doc.file)
            for d in diags
        ]
    return out, diags


@dataclass
class ModelEnv:
    """What one model contributes to one environment: its folder's files and findings, and
    what the environment-wide stages (platform layer, Argo CD, link) read of it. A pure
    function of the model's inputs (`render_model_env`), so it is what the cache keeps."""

    env: str
    model: str
    files: dict[str, bytes]
    diagnostics: list[Diagnostic]
    objects: list[Resource]  # as the environment-wide stages see them (launched runs not embedded)
    ref: ModelRef
    callers: tuple[str, ...]  # namespaces the spec's network.allowFrom admits
    uses: Uses  # what the platform layer reads of `objects` (platform.uses_of)
    count: int = 0  # the objects written (launched runs embedded), also when `objects` is not read back
    # a policy set had failed (a bound, a crash) when this was made: its later checks were
    # skipped, so this was not checked and is never cached (the next render checks it)
    unchecked: bool = False
    # As kept in the cache (`_put_part`): the names of `files`, whose bytes are kept apart
    names: tuple[str, ...] = ()
    # What the link stage needs to know without `objects` (`_spaces`): the namespaces the model
    # is in (its objects', its own), and the namespaces its objects make others read (link.reads)
    spaces: tuple[str, ...] = ()
    reads: tuple[tuple[str, str], ...] = ()


def render_model_env(
    ws: Workspace, env: str, c: Checked, verifier: Verifier, gov: Governance | None, envs: list[str]
) -> ModelEnv:
    """One model in one environment: rendered, transformed, checked (no secret values, the
    schemas, with `gov` the resource-scope policies, waived) and laid out as its folder."""
    from maestro.output.embed import embed
    from maestro.output.emit import Tree, folder
    from maestro.output.secret_values import inline_secret_findings
    from maestro.policy.governance import apply_waivers
    from maestro.render.platform import uses_of

    spec = c.effective[env]
    source = _source(ws, c)
    objects, diags = render_model(ws, env, spec, source, lock_entry(c, env))
    tree = Tree(diagnostics=list(diags))
    prefix = f"{env}/{spec.metadata.name}"
    # The rendered tree never carries a secret value, whatever a renderer or patch did.
    tree.diagnostics.extend(inline_secret_findings(objects, prefix=prefix))
    tree.diagnostics.extend(
        replace(d, env=env, model=spec.metadata.name)
        for d in command_line_diagnostics(objects, prefix, ws.inputs.overlays.get(env))
    )
    tree.diagnostics.extend(verify_model(ws, env, spec, source, objects, verifier, lock_entry(c, env)))
    findings: list[Diagnostic] = []
    for res in objects:
        where = f"{prefix}/{_where(res)}"
        if gov is not None:
            findings += gov.check_object(res, env, spec.metadata.team, ws.platforms[env], f"rendered/{where}")
    if findings and c.spec is not None and c.located is not None:
        tree.diagnostics.extend(apply_waivers(findings, c.spec, c.located, ws.platform, envs))
    # Launched runs reach the platform layer and the link stage as objects (their pods use
    # names and selectors like any other); the tree gets them inside the ConfigMaps their
    # launchers read (output/embed.py).
    written = embed(objects)
    folder(tree, prefix, written, source)
    ref, callers = _ref_and_callers(ws, env, spec, source)
    unchecked = gov is not None and gov.failed
    spaces, reads = _spaces(objects, ref)
    return ModelEnv(
        env,
        spec.metadata.name,
        dict(tree.files),
        tree.diagnostics,
        objects,
        ref,
        callers,
        uses_of(objects),
        len(written),
        unchecked,
        spaces=spaces,
        reads=reads,
    )


def _spaces(objects: list[Resource], ref: ModelRef) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """`ModelEnv.spaces` and `.reads` of a model's objects."""
    from maestro.output import link

    spaces = {ref.namespace, *(link._ns(res) for res in objects)}
    return tuple(sorted(spaces)), tuple(sorted({edge for res in objects for edge in link.reads(res)}))


@dataclass
class EnvLayer:
    """What an environment adds over its models: the platform layer's and Argo CD's folders,
    their findings and the link stage's; derived from every model of the environment."""

    files: dict[str, bytes]
    diagnostics: list[Diagnostic]
    objects: int


def render_env_layer(
    ws: Workspace,
    env: str,
    parts: Sequence[ModelEnv],
    verifier: Verifier,
    gov: Governance | None,
    checked_for: Callable[[str], Checked | None],
    memo: Memo | None = None,
    links: Links | None = None,
) -> EnvLayer:
    """The platform layer and Argo CD objects of one environment from its models (in name
    order), checked like the models' objects, then every reference between the objects linked.

    `memo`: each object's file and findings as an earlier layer of the same environment
    inputs made them, by the object's bytes (`_layer_object`); filled with this layer's.
    `links`: the same for the link stage's findings, by namespace (`_linked`); the parts'
    objects are then read through it, only for the namespaces linked again."""
    from maestro.names import ARGOCD_FOLDER, PLATFORM_FOLDER
    from maestro.output.emit import Tree, folder
    from maestro.output.secret_values import finding_order
    from maestro.render import argocd, platform

    refs = [p.ref for p in parts]
    tree = Tree()
    count = 0
    # The platform layer is derived from the models' objects, so it comes after them.
    layer = platform.render_env(env, ws.platforms[env], refs, platform.Uses.join(p.uses for p in parts))
    apps = argocd.render_env(env, ws.platforms[env], ws.overlays.get(env), refs, layer)
    for name, objects in ((PLATFORM_FOLDER, layer), (ARGOCD_FOLDER, apps)):
        prefix = f"{env}/{name}"
        policed = gov if name == PLATFORM_FOLDER else None  # Maestro's own Argo CD objects are not policed
        made = [_layer_object(res, prefix, verifier, memo, policed, ws.platforms[env]) for res in objects]
        # in the order of a check of the whole folder: the secret scan's findings sorted first
        tree.diagnostics.extend(sorted((d for _, found, _ in made for d in found), key=finding_order))
        for _, _, checked in made:
            tree.diagnostics.extend(checked)
        if objects:
            folder(tree, prefix, objects, dumped=[text for text, _, _ in made])
        count += len(objects)
    unresolved = _linked(ws, env, parts, layer, links)
    tree.diagnostics.extend(link_diagnostics(unresolved, ws, env, checked_for))
    return EnvLayer(dict(tree.files), tree.diagnostics, count)


@dataclass
class Links:
    """What the link stage found on the objects of each namespace of an environment, with the
    key of everything those findings depend on (`_linked`): `old` as an earlier layer of the
    same environment inputs left it, `used` this layer's. `keys`: each model's part key;
    `load`: a part's objects, read only when a namespace it is in is linked again."""

    keys: Mapping[str, str]
    load: Callable[[ModelEnv], list[Resource]]
    old: dict[str, tuple[str, list[link.Finding]]] = field(default_factory=dict)
    used: dict[str, tuple[str, list[link.Finding]]] = field(default_factory=dict)


def _linked(
    ws: Workspace, env: str, parts: Sequence[ModelEnv], layer: list[Resource], links: Links | None
) -> list[link.Finding]:
    """The link stage's findings on one environment's objects. With `links`, a namespace whose
    findings depend on nothing that changed (its objects, the cluster-scoped ones, the
    namespaces it reads: `link.needed`) keeps its findings, and the others are linked again
    from the objects of what they need: a one-spec change links one team's namespace, not
    every object of the environment (0.76 s of each layer at N=1,000)."""
    from maestro.cache import Digest
    from maestro.names import PLATFORM_FOLDER
    from maestro.output import link

    def placed(p: ModelEnv, objects: list[Resource]) -> list[link.Placed]:
        return [link.Placed(res, f"{RENDERED}/{p.env}/{p.model}/{_where(res)}", p.model) for res in objects]

    platform = [link.Placed(res, f"{RENDERED}/{env}/{PLATFORM_FOLDER}/{_fname(res)}") for res in layer]
    callers = {p.model: p.callers for p in parts}
    refs = [p.ref for p in parts]
    if links is None:
        every = [x for p in parts for x in placed(p, p.objects)] + platform
        return link.link(link_input(ws, env, refs, callers, every))
    # What each namespace holds: its models (by part key: the same key, the same objects) and
    # the platform layer's objects (by their bytes).
    held: dict[str, list[str]] = {"": []}
    for p in parts:
        for ns in p.spaces:
            held.setdefault(ns, []).append(f"{p.model}={links.keys[p.model]}")
    for res in layer:
        held.setdefault(link._ns(res), []).append(Digest(_pickled(res)).hexdigest())
    digests = {ns: Digest(*kept).hexdigest() for ns, kept in held.items()}
    edges = [e for p in parts for e in p.reads] + [e for res in layer for e in link.reads(res)]

    def key_of(ns: str) -> str:
        need = link.needed([ns], edges)
        return Digest(*(f"{n}={digests.get(n, '')}" for n in sorted(digests if need is None else need))).hexdigest()

    wanted = {ns: key_of(ns) for ns in sorted(digests)}
    stale = [ns for ns, key in wanted.items() if links.old.get(ns, ("",))[0] != key]
    found = [f for ns in wanted if ns not in stale for f in links.old[ns][1]]
    if stale:
        need = link.needed(stale, edges)
        some = [
            x
            for p in parts
            if need is None or not need.isdisjoint(p.spaces)
            for x in placed(p, links.load(p))
            if need is None or link._ns(x.obj) in need
        ]
        some += [x for x in platform if need is None or link._ns(x.obj) in need]
        found += link.link(link_input(ws, env, refs, callers, some), only=stale)
    for ns, key in wanted.items():
        links.used[ns] = (key, [f for f in found if f.namespace == ns])
    return link.ordered(found)


Made = tuple[str, list[Diagnostic], list[Diagnostic]]  # file text, secret-scan findings, schema and policy findings


@dataclass
class Memo:
    """What an environment layer made of each of its objects (`_layer_object`), by a hash of
    the object's folder and pickled bytes: `old` as an earlier layer of the same environment
    inputs left it, `used` what this layer read or made (what it leaves for the next one)."""

    old: dict[str, Made] = field(default_factory=dict)
    used: dict[str, Made] = field(default_factory=dict)


def _layer_object(
    res: Resource, prefix: str, verifier: Verifier, memo: Memo | None, gov: Governance | None, platform: Platform
) -> Made:
    """The file text and findings of one object of an environment layer (with `gov`, its
    resource policies' too), from `memo` when an earlier layer made the same object. A
    one-spec change leaves all but one of an environment's 1,000 Argo CD Applications as they
    were: dumping and checking them again was a quarter of the layer. And a layer computed in
    a forked process that checks no policy starts no policy worker there (0.2 s of CPU each).
    Equal pickles are equal objects (of the same types: a literal block string is not a plain
    one), so a hit is what dumping and checking would give. The memo's inputs are those of
    the environment: the policies and config among them."""
    from maestro.cache import Digest
    from maestro.output.secret_values import inline_secret_findings
    from maestro.serialize import dump

    def made() -> Made:
        where = f"{prefix}/{_fname(res)}"
        checked = verifier.verify(res, source=where)
        if gov is not None:
            env = prefix.split("/")[0]
            checked = [*checked, *gov.check_object(res, env, "", platform, f"rendered/{where}")]
        return dump(res), inline_secret_findings([res], prefix=prefix), checked

    if memo is None:
        return made()
    key = Digest(prefix, _pickled(res)).hexdigest()
    got = memo.used.get(key) or memo.old.get(key) or made()
    memo.used[key] = got
    return got


def _pickled(res: Resource) -> bytes:
    """An object's bytes: equal objects (of the same types), equal bytes. Without the pickler's
    memo (`fast`): with it, a string object met twice is written once, so the bytes would
    depend on how the object was built."""
    import io
    import pickle

    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(res)
    return out.getvalue()


@dataclass
class Trace:
    """One model's objects in one environment as `render_model` makes them, and for each
    object the origin of every leaf (JSON pointer -> provenance.record.Traced)."""

    objects: list[Resource]
    origins: list[dict[str, Any]]
    diagnostics: list[Diagnostic]


def trace_model(ws: Workspace, env: str, c: Checked) -> Trace:
    """`render_model` with field provenance recorded (provenance/record.py): the renderers
    run on traced copies of their inputs under the recording hook, each object is stripped
    back to plain values before the transforms, which report their steps. The objects are
    the ones a normal render makes, byte for byte."""
    from maestro.frontend.loader import escape
    from maestro.provenance.record import Recorder, Recording, Traced, leaves, rule_of, traced
    from maestro.render import airflow, obj

    spec = airflow.scheduled(c.effective[env])
    lock = lock_entry(c, env)
    ctx = context_for(ws, env, spec, _source(ws, c), lock)
    tspec = traced(spec, "spec")
    tctx = replace(
        ctx,
        env=traced(ctx.env, "context", "/env"),
        namespace=traced(ctx.namespace, "context", "/namespace"),
        source=traced(ctx.source, "context", "/source"),
        platform=traced(ctx.platform, "config"),
        lock=traced(lock, "lock", f"/environments/{escape(env)}") if lock is not None else None,
    )
    render_dir = Path(obj.__code__.co_filename).parent
    files = {str(render_dir / p.name) for p in render_dir.glob("*.py")}
    made: list[tuple[Resource, Any, dict[str, Any]]] = []
    with Recorder(files, {stamp.__code__}, {obj.__code__}) as recorder:
        for module in renderers():
            fallback = rule_of(module.render.__code__)
            objects = module.render(tspec, tctx)
            # Before stamping: stamp rebuilds labels and annotations, keeping the renderer's.
            unstamped = [recorder.capture(res, fallback)[1] for res in objects]
            made += zip(stamp(objects, tspec, tctx, module.COMPONENT), [fallback] * len(objects), unstamped)
        # in place, under the recorder: what decoration sets is render/decorate.py's
        _decorate([res for res, _, _ in made], tspec, tctx)
    recording = Recording(overlay=ws.inputs.overlays[env].data if env in ws.inputs.overlays else {})
    resources = []
    stamped = rule_of(stamp.__code__)
    for res, fallback, before in made:
        plain, origins = recorder.capture(res, fallback)
        for ptr, origin in origins.items():
            if ptr in before and stamped in (origin.origin, origin.placed):
                origins[ptr] = before[ptr]
        resources.append(plain)
        recording.origins.append(origins)
    out, diags = _transform(ws, env, spec, ctx, resources, observe=recording.step)
    if spec.spec.pipeline is None:
        return Trace(out, recording.origins, diags)
    # The pipeline drops the training CronJob, edits the launcher Role and adds the DAG: a
    # leaf that kept its value keeps its origin, anything else is airflow.apply's.
    kept: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {
        (o["kind"], o["metadata"]["name"]): (dict(leaves(o)), origins) for o, origins in zip(out, recording.origins)
    }
    out, diags = _with_pipeline(ws, env, spec, ctx, out, diags)
    placed = Traced(rule_of(airflow.apply.__code__))
    traces = []
    for o in out:
        values, origins = kept.get((o["kind"], o["metadata"]["name"]), ({}, {}))
        traces.append(
            {ptr: origins[ptr] if ptr in origins and values.get(ptr) == v else placed for ptr, v in leaves(o)}
        )
    return Trace(out, traces, diags)


def render(
    ws: Workspace,
    checked: list[Checked],
    envs: list[str],
    verifier: Verifier,
    progress: Callable[[], None] | None = None,
    gov: Governance | None = None,
    *,
    jobs: int = 1,
) -> Rendered:
    """The tree of every selected environment for every valid spec in `checked`, each
    object verified against its schema and, with `gov`, the resource-scope policies.
    With `jobs` > 1 the model-environments render in that many processes."""
    by_name = {c.spec.metadata.name: c for c in checked if c.spec is not None}
    ordered = sorted(checked, key=lambda c: c.spec.metadata.name if c.spec else "")
    tasks = [(env, c) for env in envs for c in ordered if env in c.effective]
    parts = list(_render_parts(ws, tasks, verifier, gov, envs, jobs, progress))
    result = Rendered()
    for env in envs:
        env_parts = [p for p in parts if p.env == env]
        for p in env_parts:
            _add(result, p.files, p.diagnostics, p.count)
            result.models.add(p.model)
        layer = render_env_layer(ws, env, env_parts, verifier, gov, by_name.get)
        _add(result, layer.files, layer.diagnostics, layer.objects)
    return result


def _add(result: Rendered, files: Mapping[str, bytes], diags: list[Diagnostic], objects: int) -> None:
    result.tree.files.update(files)
    result.tree.diagnostics.extend(diags)
    result.objects += objects


# The state forked workers read (fork shares it copy-on-write; nothing is pickled to them).
_WORK: tuple[Any, ...] = ()


def _work(i: int) -> ModelEnv:
    ws, tasks, verifier, gov, envs = _WORK
    env, c = tasks[i]
    return render_model_env(ws, env, c, verifier, gov, envs)


def _render_parts(
    ws: Workspace,
    tasks: Sequence[tuple[str, Checked]],
    verifier: Verifier,
    gov: Governance | None,
    envs: list[str],
    jobs: int,
    progress: Callable[[], None] | None,
) -> Generator[ModelEnv, None, None]:
    """`render_model_env` of every task, in task order, as they are done: here, or over `jobs`
    forked processes when there is enough work to pay for them (a fork costs ~10 ms)."""
    global _WORK
    import multiprocessing

    if not _pool_pays(jobs, len(tasks)):
        for env, c in tasks:
            part = render_model_env(ws, env, c, verifier, gov, envs)
            if progress is not None:
                progress()
            yield part
        return
    if gov is not None:
        gov.k8s_policies  # noqa: B018 (loads lazily loaded policies once, here, not in every process)
    _WORK = (ws, tasks, verifier, gov, envs)
    try:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            chunk = max(1, min(8, len(tasks) // (4 * jobs)))
            for part in pool.imap(_work, range(len(tasks)), chunksize=chunk):
                if progress is not None:
                    progress()
                yield part
    finally:
        _WORK = ()


# ------------------------------------------------------------------ incremental: the same, from the cache


def _policies_failed(gov: Governance | None) -> bool:
    """Whether a policy set failed in this process (`Governance.failed`): what was computed
    since was not checked by it, and is not kept in the cache."""
    return gov is not None and gov.failed


def inputs_key(ws: Workspace, envs: list[str], policy_dir: Path | None) -> str:
    """The inputs every spec is rendered against: the code (`keys.code_key`), the selected
    environments, config/ (and the MAESTRO_* variables that override it), their overlay
    folders (patch files included), the policies (None: governance off), the extra CRD
    schemas, and the date waivers expire against."""

    from maestro.cache import Digest
    from maestro.keys import code_key, environ, today
    from maestro.layout import CONFIG_DIR

    d = Digest(code_key(), "envs", *envs, "today", today().isoformat())
    d.add_tree(ws.root / CONFIG_DIR, "config")
    for name, value in environ():
        d.add("environ", name, value)
    for env in envs:
        d.add_tree(ws.root / "overlays" / env, f"overlay {env}")
    if policy_dir is None:
        d.add("no policies")
    else:
        d.add_tree(policy_dir / "spec", "policies spec").add_tree(policy_dir / "k8s", "policies k8s")
    crd = ws.platform.crd_schema_dir
    d.add_tree(ws.root / crd if crd else Path("/nonexistent"), "crd schemas")
    return d.hexdigest()


@dataclass
class SpecRecord:
    """The front half's outcome for one spec file, small enough to read back for every spec
    on every render (what the cache keeps per spec; `Checked` is rebuilt only when needed)."""

    path: Path
    display: str
    key: str  # the digest of everything it was computed from
    name: str | None  # metadata.name, None when the spec is invalid
    where: dict[str, Any] | None  # position of metadata.name, for duplicate names
    diagnostics: list[Diagnostic]  # its checks' and its governance's
    envs: tuple[str, ...]  # the environments it has an effective spec in
    folder: str = ""  # folder_key: its folder's bytes and how it is named, whatever the selection
    waivers: bool = False  # whether the spec writes waivers (then its parts depend on the selection)

    @property
    def model(self) -> str:
        return self.name if self.name is not None else self.path.parent.name


class Scratch:
    """`Cache`'s get/put/has for one render without a cache: pickled values in one anonymous
    temporary file (`emit.Spool`), so nothing is left to remove however the render ends (a
    folder of entry files took 1.6 s to remove at N=300). Forked processes read it too."""

    def __init__(self) -> None:
        from maestro.output.emit import Spool

        self._spool = Spool()

    def has(self, key: str) -> bool:
        return key in self._spool

    def get(self, key: str) -> Any:
        import pickle

        return pickle.loads(self._spool[key]) if key in self._spool else None

    def put(self, key: str, value: Any) -> None:
        import pickle

        self._spool[key] = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def keep(self, key: str) -> None:
        """Nothing to mark: the store ends with the render (`Cache.keep` marks an entry used)."""

    def close(self) -> None:
        self._spool.close()


@dataclass
class Incremental:
    """A render that reuses the cache: the spec records, and the specs checked in this run."""

    ws: Workspace
    envs: list[str]
    gov: Governance | None
    inputs: str  # inputs_key
    cache: Cache | Scratch | None
    # inputs_key of each selected environment alone, and the longest waiver the selection
    # allows: what a model-environment is made from besides its spec (`part_key`)
    env_keys: dict[str, str] = field(default_factory=dict)
    longest: int = 0
    records: list[SpecRecord] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    checked: dict[str, Checked] = field(default_factory=dict)  # by record key
    # With --shard: the spec folders whose models this run renders (None: every one), and
    # whether it renders the environment layers (shard 1: they derive from every model).
    own: frozenset[str] | None = None
    layers: bool = True
    layers_skipped: bool = False  # another shard's spec has errors: no layer can be derived
    # Without a cache, the parts the front half's pool rendered wait here (on disk, not in
    # memory) until their environment's turn; closed by `render_incremental`.
    scratch: Scratch | None = None

    def mine(self, rec: SpecRecord) -> bool:
        return self.own is None or rec.path.parent.name in self.own

    def checked_for(self, rec: SpecRecord) -> Checked:
        if rec.key not in self.checked:
            self.checked[rec.key] = check_file(rec.path, rec.display, self.ws.inputs, self.envs, self.ws.root)
        return self.checked[rec.key]


def check_specs_incremental(
    ws: Workspace,
    paths: Sequence[tuple[Path, str]],
    envs: list[str],
    gov: Governance | None,
    policy_dir: Path | None,
    cache: Cache | None,
    model: str | None = None,
    shard: tuple[int, int] | None = None,
    keys: RunKeys | None = None,
    jobs: int = 1,
    progress: Callable[[], None] | None = None,
) -> Incremental:
    """`check_specs`, reading each spec's outcome from `cache` when the bytes of its folder and
    of every other input are those it was computed from (None: no cache, everything checked).

    With `shard` (I, N): the specs of shard I (`shard_of` their folder); shard 1 reads every
    spec, since the environment layers it renders derive from all of them, but reports only
    its own specs' findings (and duplicate names, which it alone sees whole). `keys`: the
    keys `run_keys` computed for the same arguments (not computed twice).

    With `jobs` > 1 and enough specs to check, a pool of forked processes checks them and, in
    the same task, renders each valid spec's model-environments (`render_model_env`), which
    land in the cache (or, without one, a temporary one) for `render_incremental`: a spec is
    parsed and resolved once, in one process, and the parent never holds every checked spec."""
    from maestro.policy.governance import waiver_days

    policies = policy_dir if gov is not None else None
    inputs = keys.inputs if keys is not None else inputs_key(ws, envs, policies)
    inc = Incremental(ws, envs, gov, inputs, cache)
    inc.env_keys = {env: inputs_key(ws, [env], policies) for env in envs}
    inc.longest = waiver_days(ws.platform, envs)
    if shard is not None:
        index, count = shard
        inc.own = frozenset(p.parent.name for p, _ in paths if shard_of(p.parent.name, count) == index)
        inc.layers = index == 1
        if not inc.layers:
            paths = [(p, shown) for p, shown in paths if p.parent.name in inc.own]

    def key_of(path: Path, shown: str) -> tuple[str, str]:
        """The spec's record key and folder key."""
        if keys is not None and path in keys.specs:
            return keys.specs[path], keys.folders[path]
        folder = folder_key(path, shown)
        return spec_key(inc.inputs, folder), folder

    def cached(key: str, path: Path) -> SpecRecord | None:
        rec = cache.get(key) if cache is not None else None
        return rec if isinstance(rec, SpecRecord) and rec.path == path else None

    def checked(path: Path, shown: str, key: str, folder: str) -> SpecRecord:
        """Check a spec that is not in the cache, here."""
        c = check_file(path, shown, ws.inputs, envs, ws.root)
        rec = _record(c, path, shown, key, folder, ws, envs, gov)
        inc.checked[key] = c
        if cache is not None and not _policies_failed(gov):
            cache.put(key, rec)
        if progress is not None:
            progress()
        return rec

    def records(selected: Sequence[tuple[Path, str]], pool: bool) -> list[SpecRecord]:
        """Each spec's record, from the cache or checked (with `pool`, in the pool if it pays)."""
        todo = [(p, shown, *key_of(p, shown)) for p, shown in selected]
        found = {key: cached(key, p) for p, _shown, key, _folder in todo}
        misses = [(p, shown, key, folder) for p, shown, key, folder in todo if found[key] is None]
        if pool and _pool_pays(jobs, len(misses)):
            for rec in _check_in_pool(inc, misses, jobs, progress):
                found[rec.key] = rec
        return [found[key] or checked(p, shown, key, folder) for p, shown, key, folder in todo]

    # One model (the Argo CD plugin renders one per Application): its spec is in the folder
    # named after it (M217), so the others are not read unless it is not there.
    inc.records = records([(p, shown) for p, shown in paths if model is not None and p.parent.name == model], False)
    if not any(r.model == model for r in inc.records):
        inc.records = records(paths, model is None)
    if model is not None:
        every = inc.records
        inc.records = [r for r in every if r.model == model]
        if not inc.records:
            known = ", ".join(sorted(r.model for r in every))
            raise UsageError(f"no spec named '{model}' under {SPECS_DIR}/ (models: {known or 'none'})")
    for rec in inc.records:
        if inc.mine(rec):
            inc.diagnostics += rec.diagnostics
    if inc.layers:
        inc.diagnostics += _duplicates([(r.name, r.display, r.where) for r in inc.records if r.name and r.where])
    return inc


def _record(
    c: Checked, path: Path, shown: str, key: str, folder: str, ws: Workspace, envs: list[str], gov: Governance | None
) -> SpecRecord:
    """The front half's outcome for a checked spec: its checks' and its governance's findings."""
    diags = list(c.diagnostics)
    if gov is not None and not has_errors(c.diagnostics):
        diags += _about(govern(c, ws, envs, gov), c.spec.metadata.name if c.spec else "")
    named = c.spec is not None and c.located is not None
    return SpecRecord(
        path,
        shown,
        key,
        c.spec.metadata.name if c.spec is not None else None,
        c.located.where("/metadata/name") if named and c.located is not None else None,
        diags,
        tuple(c.effective),
        folder,
        bool(c.spec is not None and c.spec.metadata.waivers),
    )


def part_key(env_keys: Mapping[str, str], longest: int, rec: SpecRecord, env: str) -> str:
    """The key of a model-environment: the environment's inputs (its own overlay, not the
    other selected environments'), the spec's folder, and the longest waiver the selection
    allows when the spec writes waivers (`apply_waivers`: the one way the selection reaches a
    model-environment). So `render --env E` or `--model M` after a whole render reuses it."""
    from maestro.cache import Digest

    longest_waiver = ("longest waiver", str(longest)) if rec.waivers else ()
    return Digest(env_keys[env], "part", rec.folder, "env", env, *longest_waiver).hexdigest()


def _pool_pays(jobs: int, tasks: int) -> bool:
    """Whether forking `jobs` processes pays for `tasks` tasks (a fork costs ~10 ms)."""
    import multiprocessing

    return jobs > 1 and tasks >= 2 * jobs and "fork" in multiprocessing.get_all_start_methods()


def _front_work(i: int) -> tuple[SpecRecord, list[tuple[str, ModelEnv]], bool]:
    """In a pool process: check spec `i` of the front pool's tasks and render its parts."""
    ws, misses, envs, gov, verifier, env_keys, longest = _WORK
    path, shown, key, folder = misses[i]
    c = check_file(path, shown, ws.inputs, envs, ws.root)
    rec = _record(c, path, shown, key, folder, ws, envs, gov)
    parts: list[tuple[str, ModelEnv]] = []
    # Every checked spec's parts, another shard's too: shard 1's environment layers need
    # them, and rendering them here, side by side, beats reading or rendering them serially.
    if rec.name is not None and not has_errors(rec.diagnostics):
        parts = [
            (part_key(env_keys, longest, rec, env), render_model_env(ws, env, c, verifier, gov, envs))
            for env in rec.envs
        ]
    return rec, parts, _policies_failed(gov)


def _check_in_pool(
    inc: Incremental, misses: list[tuple[Path, str, str, str]], jobs: int, progress: Callable[[], None] | None
) -> Iterable[SpecRecord]:
    """The records of `misses` (path, display, key, folder key), checked by `jobs` forked processes, in
    order; their parts go into the cache (the scratch one without a cache) as they arrive."""
    global _WORK
    import multiprocessing

    gov = inc.gov
    if gov is not None:
        gov.k8s_policies  # noqa: B018 (a lazily loaded set loads once, here, not in every process)
    if inc.cache is None:
        inc.scratch = inc.cache = Scratch()
    store = inc.cache
    _WORK = (inc.ws, misses, inc.envs, gov, verifier_for(inc.ws), inc.env_keys, inc.longest)
    try:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            chunk = max(1, min(4, len(misses) // (4 * jobs)))
            for rec, parts, failed in pool.imap(_front_work, range(len(misses)), chunksize=chunk):
                if not failed:  # made with a failed policy set: not checked, never kept
                    store.put(rec.key, rec)
                for key, part in parts:
                    if not part.unchecked:
                        _put_part(store, key, part)
                if progress is not None:
                    progress()
                yield rec
    finally:
        _WORK = ()


def _put_part(store: Cache | Scratch, key: str, part: ModelEnv) -> None:
    """Keep a model-environment in three entries: what every render reads of it, its objects
    (read when a layer is made) and its files' bytes (read when they are written or compared:
    after a one-spec change, almost never)."""
    from maestro.cache import Digest

    store.put(key, replace(part, objects=[], files={}, names=tuple(part.files)))
    store.put(Digest(key, "objects").hexdigest(), part.objects)
    store.put(Digest(key, "files").hexdigest(), part.files)


def spec_key(inputs: str, folder: str) -> str:
    """The key of a spec's front-half outcome: the inputs of the selection and its `folder_key`."""
    from maestro.cache import Digest

    return Digest(inputs, "spec", folder).hexdigest()


@dataclass(frozen=True)
class RunKeys:
    """The keys of a render: `inputs_key` and every spec's `spec_key`; `digest` is the key of
    the whole render (what `output/manifest.py` records), read from no cache entry."""

    inputs: str
    specs: dict[Path, str]
    folders: dict[Path, str]  # folder_key of each

    def digest(self, *selection: str) -> str:
        from maestro.cache import Digest

        d = Digest("render", self.inputs, "selection", *selection, "specs")
        for path, key in self.specs.items():
            d.add(path.as_posix(), key)
        return d.hexdigest()


def run_keys(
    ws: Workspace,
    paths: Sequence[tuple[Path, str]],
    envs: list[str],
    policy_dir: Path | None,
    known: Mapping[tuple[Path, str], str] | None = None,
) -> RunKeys:
    """The keys of rendering every spec of `paths` into `envs` with the policies of `policy_dir`
    (None: governance off); `check_specs_incremental(keys=)` reuses them. `known`: folder keys
    already hashed (by `keys.quick_key`), by (path, name shown)."""
    inputs = inputs_key(ws, envs, policy_dir)
    known = known or {}
    folders = {path: known.get((path, shown)) or folder_key(path, shown) for path, shown in paths}
    return RunKeys(inputs, {path: spec_key(inputs, folder) for path, folder in folders.items()}, folders)


def shard_of(folder: str, count: int) -> int:
    """The shard (1..count) of the model whose spec is in specs/<folder>/: a hash of the
    folder name alone, so a model stays in its shard when others come and go."""
    import hashlib

    return int.from_bytes(hashlib.sha256(folder.encode("utf-8")).digest()[:8], "big") % count + 1


def render_incremental(
    inc: Incremental,
    verifier: Verifier,
    jobs: int = 1,
    progress: Callable[[], None] | None = None,
    elsewhere: Callable[[str, str], list[Resource] | None] | None = None,
    files: MutableMapping[str, bytes] | None = None,
) -> Rendered:
    """`render`, reusing every model-environment and environment layer whose inputs are
    unchanged: a model-environment's key is its spec's plus the environment; a layer's is
    the environment's inputs plus the keys of its models, in order. The result is the same
    tree, byte for byte, as `render` of every spec (tests/test_incremental.py).

    One environment at a time: its models' objects are held only until its layer is done,
    and the files go to `files` (an `emit.Spool` keeps them on disk) as they are made.

    With a shard (`inc.own`), the tree holds the shard's model folders and, on shard 1, the
    environment layers. Those need every model's objects: from the cache, else from
    `elsewhere(env, model)` (render --check reads the other shards' folders as committed: if
    one is stale its own shard fails), else rendered here."""
    try:
        return _render_incremental(inc, verifier, jobs, progress, elsewhere, files)
    finally:
        if inc.scratch is not None:
            inc.scratch.close()
            inc.scratch, inc.cache = None, None


def _render_incremental(
    inc: Incremental,
    verifier: Verifier,
    jobs: int,
    progress: Callable[[], None] | None,
    elsewhere: Callable[[str, str], list[Resource] | None] | None,
    files: MutableMapping[str, bytes] | None,
) -> Rendered:
    from maestro.cache import Digest

    ws, envs, gov, cache = inc.ws, inc.envs, inc.gov, inc.cache
    layers = inc.layers and not any(has_errors(r.diagnostics) for r in inc.records if not inc.mine(r))
    inc.layers_skipped = inc.layers and not layers
    ordered = sorted((r for r in inc.records if r.name and (layers or inc.mine(r))), key=lambda r: r.name or "")
    by_name = {r.name: r for r in ordered}
    plan: list[tuple[str, SpecRecord, str]] = []  # (env, record, model-env key)
    for env in envs:
        plan += [(env, r, part_key(inc.env_keys, inc.longest, r, env)) for r in ordered if env in r.envs]
    # What is neither in the cache nor (for another shard's model) read from its folder is
    # rendered, in plan order, by one pool for every environment.
    cached = {key for _e, _r, key in plan if cache is not None and cache.has(key)}
    missing = [(env, rec, key) for env, rec, key in plan if key not in cached and (inc.mine(rec) or elsewhere is None)]
    todo = {key for _e, _r, key in missing}
    rendered: Generator[ModelEnv, None, None] = _render_parts(
        ws, [(env, inc.checked_for(rec)) for env, rec, _ in missing], verifier, gov, envs, jobs, progress
    )

    def checked_for(name: str) -> Checked | None:
        rec = by_name.get(name)
        return inc.checked_for(rec) if rec is not None else None

    def render_here(env: str, rec: SpecRecord) -> ModelEnv:
        return render_model_env(ws, env, inc.checked_for(rec), verifier, gov, envs)

    result = Rendered() if files is None else Rendered(tree=_tree(files))
    # With a pool and a cache, the environments' layers that must be computed are computed
    # side by side once every part is in: each reads its parts' objects back from the cache.
    side_by_side = layers and cache is not None and jobs > 1
    pending: list[tuple[str, list[ModelEnv], list[str], bool, str]] = []  # (env, parts, keys, read, layer key)
    # When the parts are rendered here (a few changed: no pool, no thread), a layer starts in
    # a forked process as soon as its environment's parts are in, beside the next ones' parts.
    early = side_by_side and not _pool_pays(jobs, len(missing))
    started: dict[int, Forked[tuple[EnvLayer, bool]]] = {}  # pending index -> its process
    try:  # the started layers end, whatever happens
        try:
            for env in envs:
                parts: list[ModelEnv] = []
                keys: list[str] = []
                read = False  # a part made from another shard's folder: the layer is not cached
                for _e, rec, key in (t for t in plan if t[0] == env):
                    part: ModelEnv | None = None
                    if key in todo:
                        part = next(rendered)
                        if cache is not None and not part.unchecked:
                            _put_part(cache, key, part)
                            if side_by_side:
                                part = replace(part, objects=[])  # read back by the layer's process
                    elif key in cached:
                        got = cache.get(key) if cache is not None else None
                        part = got if isinstance(got, ModelEnv) else render_here(env, rec)  # damaged: a miss
                        if part.names:
                            part = _with_files(inc, part, key, rec, verifier, result.tree.files)
                    else:
                        objects = elsewhere(env, rec.name or "") if elsewhere is not None else None
                        part = _part_from(ws, env, inc.checked_for(rec), objects) if objects is not None else None
                        read = read or part is not None
                        part = part or render_here(env, rec)
                    if inc.mine(rec):
                        _add(result, part.files, part.diagnostics, part.count)
                        result.models.add(part.model)
                        result.origins.update(dict.fromkeys(part.names or part.files, key))
                    parts.append(replace(part, files={}, names=()))
                    keys.append(key)
                if not layers:
                    continue
                layer_key = Digest(
                    inc.env_keys[env], "layer", env, *(f"{p.model}={k}" for p, k in zip(parts, keys, strict=True))
                ).hexdigest()
                layer = cache.get(layer_key) if cache is not None else None
                if not isinstance(layer, EnvLayer):
                    if side_by_side:
                        pending.append((env, parts, keys, read, layer_key))
                        if early and len(started) < jobs - 1:
                            if not started and gov is not None:
                                gov.k8s_policies  # noqa: B018 (a lazily loaded set loads once, here, not in every process)
                            started[len(pending) - 1] = Forked(
                                functools.partial(_env_layer, inc, env, parts, keys, verifier, checked_for)
                            )
                        continue
                    layer, failed = _env_layer(inc, env, parts, keys, verifier, checked_for)
                    if cache is not None and not read and not failed:
                        cache.put(layer_key, layer)
                _add(result, layer.files, layer.diagnostics, layer.objects)
                result.origins.update(dict.fromkeys(layer.files, layer_key))
        finally:
            rendered.close()  # ends the pool when an error leaves parts unread
        # the layers not started yet, then those that were
        rest = [i for i in range(len(pending)) if i not in started]
        made = dict(
            zip(rest, _layers_in_pool(inc, [pending[i] for i in rest], verifier, checked_for, jobs), strict=True)
        )
        made.update((i, process.result()) for i, process in started.items())
    finally:
        for process in started.values():
            process.close()
    for i, (_env, _parts, _keys, read, layer_key) in enumerate(pending):
        layer, failed = made[i]
        if cache is not None and not read and not failed:
            cache.put(layer_key, layer)
        _add(result, layer.files, layer.diagnostics, layer.objects)
        result.origins.update(dict.fromkeys(layer.files, layer_key))
    return result


def _env_layer(
    inc: Incremental,
    env: str,
    parts: list[ModelEnv],
    keys: list[str],
    verifier: Verifier,
    checked_for: Callable[[str], Checked | None],
) -> tuple[EnvLayer, bool]:
    """The layer of `env` from its parts (objects read back from the cache where not held),
    and whether a policy set had failed when it was made (then it is not cached)."""
    from maestro.cache import Cache, Digest

    if not isinstance(inc.cache, Cache):  # --no-cache: nothing to reuse, nothing kept
        full = [_with_objects(inc, p, k, verifier) for p, k in zip(parts, keys, strict=True)]
        return render_env_layer(inc.ws, env, full, verifier, inc.gov, checked_for), _policies_failed(inc.gov)
    # What the last layer of these environment inputs made of each object, and found linking
    # each namespace; the parts' objects are read only for the namespaces linked again.
    by_model = dict(zip((p.model for p in parts), keys, strict=True))
    entries = [Digest(inc.env_keys[env], kept, env).hexdigest() for kept in ("layer objects", "link findings")]
    old_made, old_found = (inc.cache.get(entry) for entry in entries)
    memo = Memo(old_made if isinstance(old_made, dict) else {})
    links = Links(by_model, lambda p: _with_objects(inc, p, by_model[p.model], verifier).objects)
    links.old = old_found if isinstance(old_found, dict) else {}
    layer = render_env_layer(inc.ws, env, parts, verifier, inc.gov, checked_for, memo, links)
    failed = _policies_failed(inc.gov)
    if not failed:  # what a failed policy set found (or skipped) is not kept
        inc.cache.put(entries[0], memo.used)
    inc.cache.put(entries[1], links.used)
    return layer, failed


def _layer_work(i: int) -> tuple[EnvLayer, bool]:
    inc, pending, verifier, checked_for = _WORK
    env, parts, keys, _read, _key = pending[i]
    return _env_layer(inc, env, parts, keys, verifier, checked_for)


def _layers_in_pool(
    inc: Incremental,
    pending: list[tuple[str, list[ModelEnv], list[str], bool, str]],
    verifier: Verifier,
    checked_for: Callable[[str], Checked | None],
    jobs: int,
) -> list[tuple[EnvLayer, bool]]:
    """`_env_layer` of every pending environment, over up to `jobs` forked processes."""
    global _WORK
    import multiprocessing

    if len(pending) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [_env_layer(inc, env, parts, keys, verifier, checked_for) for env, parts, keys, _r, _k in pending]
    if inc.gov is not None:
        inc.gov.k8s_policies  # noqa: B018 (a lazily loaded set loads once, here, not in every process)
    _WORK = (inc, pending, verifier, checked_for)
    try:
        with multiprocessing.get_context("fork").Pool(min(jobs, len(pending))) as pool:
            return pool.map(_layer_work, range(len(pending)), chunksize=1)
    finally:
        _WORK = ()


def _with_files(
    inc: Incremental, part: ModelEnv, key: str, rec: SpecRecord, verifier: Verifier, tree: MutableMapping[str, bytes]
) -> ModelEnv:
    """A part read from the cache, with its files: deferred in `tree` when it is a spool (and
    the cache outlives the render: not the scratch one), which reads them only if they must
    be compared or written; else read now. An entry gone or damaged is rendered again."""
    from maestro.cache import Digest
    from maestro.output.emit import Spool

    cache = inc.cache
    assert cache is not None
    for kept in ("objects", "files"):  # read only when a layer is made, or a file written
        cache.keep(Digest(key, kept).hexdigest())

    def load() -> dict[str, bytes]:
        files = cache.get(Digest(key, "files").hexdigest())
        if isinstance(files, dict) and list(files) == list(part.names):
            return files
        return render_model_env(inc.ws, part.env, inc.checked_for(rec), verifier, inc.gov, inc.envs).files

    if not inc.mine(rec):  # another shard's: its layers read the part, not its files
        return replace(part, names=())
    if isinstance(tree, Spool) and inc.scratch is None:
        tree.defer(part.names, load)
        return part  # `names` name its files
    return replace(part, files=load(), names=())


def _part_from(ws: Workspace, env: str, c: Checked, objects: list[Resource]) -> ModelEnv:
    """What the environment layer reads of a model, made from its objects as written."""
    from maestro.render.platform import uses_of

    spec = c.effective[env]
    ref, callers = _ref_and_callers(ws, env, spec, _source(ws, c))
    spaces, reads = _spaces(objects, ref)
    return ModelEnv(
        env,
        spec.metadata.name,
        {},
        [],
        objects,
        ref,
        callers,
        uses_of(objects),
        len(objects),
        spaces=spaces,
        reads=reads,
    )


def _ref_and_callers(ws: Workspace, env: str, spec: Spec, source: str) -> tuple[ModelRef, tuple[str, ...]]:
    network = spec.spec.network
    callers = tuple(sorted({p.namespace for p in network.allow_from} if network else set()))
    return model_ref(ws, env, spec, source), callers


def _with_objects(inc: Incremental, part: ModelEnv, key: str, verifier: Verifier) -> ModelEnv:
    """`part` with its objects: as rendered in this run, from the cache, or rendered again."""
    from maestro.cache import Digest

    if part.objects or part.count == 0:
        return part
    objects = inc.cache.get(Digest(key, "objects").hexdigest()) if inc.cache is not None else None
    if isinstance(objects, list):  # the entry of this part's key: checksummed
        return replace(part, objects=objects)
    rec = next(r for r in inc.records if r.name == part.model)
    return render_model_env(inc.ws, part.env, inc.checked_for(rec), verifier, inc.gov, inc.envs)


def check_overlays(ws: Workspace, checked: list[Checked], envs: list[str], verifier: Verifier) -> list[Diagnostic]:
    """What rendering would find wrong with each environment's overlay, for `validate`:
    validate sees what render sees. The overlay's transforms run on every valid spec's
    objects (a patch target that matches nothing, a JSON 6902 path the object lacks), the
    result is checked for secrets on command lines, and objects a patch made invalid for
    their schema are reported at that patch."""
    out: list[Diagnostic] = []
    for c in checked:
        if c.spec is None or has_errors(c.diagnostics):
            continue
        for env in envs:
            spec = c.effective.get(env)
            if spec is None:
                continue
            source = _source(ws, c)
            objects, diags = render_model(ws, env, spec, source, lock_entry(c, env))
            out += [replace(d, env=env, model=spec.metadata.name) for d in diags]
            if has_errors(diags):
                continue
            prefix = f"{env}/{spec.metadata.name}"
            out += [
                replace(d, env=env, model=spec.metadata.name)
                for d in command_line_diagnostics(objects, prefix, ws.inputs.overlays.get(env))
            ]
            doc = ws.inputs.overlays.get(env)
            if doc is not None and doc.data.get("patches"):
                out += [
                    d
                    for d in verify_model(ws, env, spec, source, objects, verifier, lock_entry(c, env))
                    if d.file == doc.file
                ]
    return out


def verify_model(
    ws: Workspace,
    env: str,
    spec: Spec,
    source: str,
    objects: list[Resource],
    verifier: Verifier,
    lock: EnvLock | None = None,
) -> list[Diagnostic]:
    """Each object against its schema. A problem the overlay's patches caused (the object
    without them has none) is reported at the first patch that causes it: it is the
    overlay's to fix, not a bug in Maestro."""
    prefix = f"{env}/{spec.metadata.name}"
    found = [d for res in objects for d in verifier.verify(res, source=f"{prefix}/{_where(res)}")]
    doc = ws.inputs.overlays.get(env)
    patches = doc.data.get("patches") if doc is not None else None
    if not found or doc is None or not isinstance(patches, list) or not patches:
        return found

    def problems(n: int) -> set[tuple[str, str]]:
        objs, _ = render_model(ws, env, spec, source, lock, patches=n)
        return {(d.code, d.message) for res in objs for d in verifier.verify(res)}

    before = problems(0)
    steps: dict[int, set[tuple[str, str]]] = {}
    out = []
    for d in found:
        if (d.code, d.message) in before:
            out.append(d)
            continue
        culprit = next(
            (i for i in range(1, len(patches) + 1) if (d.code, d.message) in steps.setdefault(i, problems(i))),
            len(patches),
        )
        out.append(
            replace(
                d,
                message=f"{d.message} (in {d.file}, after the overlay's patch)",
                hint="the overlay's patch makes the object invalid for its schema: fix the patch",
                env=env,
                model=spec.metadata.name,
                **doc.where(f"/patches/{culprit - 1}"),
            )
        )
    return out


def command_line_diagnostics(objects: list[Resource], prefix: str, overlay: Located | None) -> list[Diagnostic]:
    """M220 for secrets on container command lines, at the overlay patch that wrote the
    reference when one did (the spec's own command is checked at validation)."""
    from maestro.output.secret_values import command_line_findings

    out = []
    for d in command_line_findings(objects, prefix=prefix):
        reference = dict(d.extra).get("reference", "")
        patch = _patch_writing(overlay, reference) if reference else None
        if patch is not None and overlay is not None:
            d = replace(d, message=f"{d.message} (in {d.file})", **overlay.where(patch))
        out.append(d)
    return out


def link_input(
    ws: Workspace, env: str, refs: list[ModelRef], allow_from: dict[str, tuple[str, ...]], placed: list[link.Placed]
) -> link.LinkInput:
    """What the link stage needs of one environment besides its objects: what config says the
    cluster provides (placeholders filled per model namespace), and who calls each model."""
    from maestro.output import link
    from maestro.resolve.config import fill

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
    callers = {
        name: link.Callers(namespaces, config.istio_ingress_namespace) for name, namespaces in allow_from.items()
    }
    return link.LinkInput(env, tuple(placed), provided, config.mesh.mode, config.monitoring.namespace, callers)


def link_diagnostics(
    findings: list[link.Finding], ws: Workspace, env: str, checked_for: Callable[[str], Checked | None]
) -> list[Diagnostic]:
    """Each finding at the line that caused it: the overlay patch that wrote the unresolved
    name, else the spec section (as resolved for the environment), else the rendered file.
    The rendered file and the pointer in the object travel in `extra`."""
    overlay = ws.inputs.overlays.get(env)
    out = []
    for f in findings:
        where: dict[str, Any] = {"file": f.path, "pointer": f.pointer}
        patch = _patch_writing(overlay, f.subject) if f.subject else None
        c = checked_for(f.model) if f.model else None
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


def model_ref(ws: Workspace, env: str, spec: Spec, source: str) -> ModelRef:
    """What the environment's Argo CD objects need to know of one model (only its metadata is read)."""
    from maestro.render.argocd import ModelRef

    ctx = context_for(ws, env, spec, source)
    meta = spec.metadata
    return ModelRef(
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
    from maestro.output.embed import is_launched, manifest_config_map

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
    from maestro.output.verify import Verifier

    crd = ws.platform.crd_schema_dir
    return Verifier(ws.platform.kubernetes_version, (ws.root / crd) if crd else None)
