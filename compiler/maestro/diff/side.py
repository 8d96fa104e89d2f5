"""One side of the diff: its workspace, and what its affected models check, govern and render to."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from maestro.diagnostics import Diagnostic, has_errors
from maestro.diff.git import RENDERED, Repo
from maestro.diff.snapshot import Snapshot, same_blobs
from maestro.names import RESERVED_MODEL_NAMES as ENVIRONMENT_FOLDERS

if TYPE_CHECKING:  # imported where used: `maestro --help` should not pay for the pipeline
    from maestro.frontend.spec import Metadata
    from maestro.mlflow.lockfile import EnvLock
    from maestro.output.verify import Verifier
    from maestro.policy.governance import Governance
    from maestro.render.argocd import ModelRef
    from maestro.resolve.workspace import Workspace


CHUNK = 25  # models rendered per pipeline call: bounds memory on big changes

# ------------------------------------------------------------------ rendering one side


@dataclass(frozen=True)
class Scoped:
    """A diagnostic with the environment and model whose report it belongs in (from its file
    and `env`; "argocd" for rendered/<env>/argocd)."""

    env: str  # "" when it holds in every environment
    model: str  # "" for the environment or the repository; "argocd" for rendered/<env>/argocd
    diagnostic: Diagnostic

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.diagnostic.code, self.diagnostic.message, self.env, self.model)


def place(d: Diagnostic, envs: Iterable[str], model: str = "") -> tuple[str, str]:
    """The (environment, model) a diagnostic is about, from its file and its `env`."""
    known = set(envs)
    parts = d.file.split("/")
    if parts[0] == RENDERED:
        parts = parts[1:]
    if len(parts) >= 3 and parts[0] in known:
        return parts[0], parts[1]
    if len(parts) >= 2 and parts[0] == "specs":
        model = parts[1]
    env = ""
    if len(parts) >= 2 and parts[0] == "overlays" and parts[1] in known:
        env = parts[1]
    if d.env in known:
        env = d.env
    return env, model


@dataclass
class Side:
    """What one snapshot renders to, for the affected models only."""

    snap: Snapshot
    ws: Workspace | None = None  # None when the snapshot holds no maestro repository
    gov: Governance | None = None  # loaded on first use
    verifier: Verifier | None = None
    files: dict[tuple[str, str], dict[str, bytes]] = field(default_factory=dict)  # (env, model) -> {file: bytes}
    costs: dict[tuple[str, str], float] = field(default_factory=dict)
    refs: dict[tuple[str, str], ModelRef] = field(default_factory=dict)
    locks: dict[tuple[str, str], EnvLock | None] = field(default_factory=dict)  # (env, model) -> lock entry
    invalid: set[str] = field(default_factory=set)
    findings: list[Scoped] = field(default_factory=list)
    scanned: dict[str, Metadata | None] = field(default_factory=dict)  # model -> metadata read without rendering

    @property
    def envs(self) -> list[str]:
        return self.ws.environments if self.ws is not None else []

    def currency(self, env: str) -> str | None:
        return self.ws.platforms[env].costs.currency if self.ws is not None and env in self.ws.platforms else None


def open_side(snap: Snapshot, repo: Repo, fmt: str, like: Side | None = None) -> Side:
    """The snapshot's workspace and verifier; Unusable (exit 2) when its config is broken.
    With `like`, a side whose config/ and overlays/ hold the same blobs, its workspace is
    reused (rooted here) instead of parsed again."""
    from dataclasses import replace

    from maestro.errors import Unusable, UsageError
    from maestro.output.verify import Verifier
    from maestro.resolve.workspace import open_workspace

    side = Side(snap)
    if not snap.has_config or snap.root is None:
        return side
    ws: Workspace | None
    diags: list[Diagnostic]
    if (
        like is not None
        and like.ws is not None
        and all(same_blobs(snap.under(d), like.snap.under(d)) for d in ("config", "overlays"))
    ):
        ws, diags = replace(like.ws, root=snap.root), [f.diagnostic for f in like.findings]
    else:
        ws, diags = open_workspace(snap.root)
    if ws is None or has_errors(diags):
        raise Unusable([_relabel(d, snap) for d in diags], "json" if fmt == "json" else "text")
    side.ws = ws
    side.findings += [Scoped(*place(d, ws.environments), d) for d in diags]
    crd = ws.platform.crd_schema_dir
    crd_dir = (repo.root / crd) if crd else None  # against the real root, never the temporary copy
    if crd_dir is not None and not crd_dir.is_dir():
        raise UsageError(
            f"crd_schema_dir '{crd}' (config/platform.yaml in {snap.label}) is not a folder; it names "
            "extra CRD schemas on top of the ones Maestro ships: create it, or remove the key"
        )
    side.verifier = Verifier(ws.platform.kubernetes_version, crd_dir)
    return side


def _relabel(d: Diagnostic, snap: Snapshot) -> Diagnostic:
    """A diagnostic about a temporary copy names the ref instead."""
    from dataclasses import replace

    if snap.commit is None or not d.file:
        return d
    return replace(d, file=f"{snap.label}:{d.file}")


def _governance(side: Side, fmt: str) -> Governance:
    from maestro.errors import Unusable
    from maestro.policy.governance import Governance

    if side.gov is None:
        gov, problems = Governance.load(side.snap.root, settings=side.ws.platform.policies if side.ws else None)  # type: ignore[arg-type]
        if problems:
            raise Unusable([_relabel(d, side.snap) for d in problems], "json" if fmt == "json" else "text")
        side.gov = gov
    return side.gov


def render_side(side: Side, work: dict[str, list[str]], fmt: str, progress: Callable[[], None] | None = None) -> None:
    """Check, govern and render `work` (model -> environments) on one side."""
    from maestro.costs import monthly_cost
    from maestro.pipeline import Checked, check_specs, lock_entry, model_ref, render
    from maestro.resolve.workspace import SPEC_FILE, SPECS_DIR

    ws, verifier = side.ws, side.verifier
    if ws is None or verifier is None or not work:
        return
    specs = side.snap.specs
    gov = _governance(side, fmt)
    groups: dict[tuple[str, ...], list[Checked]] = defaultdict(list)
    for model in sorted(work):
        envs = [e for e in work[model] if e in ws.platforms]
        if model not in specs or not envs:
            continue
        display = f"{SPECS_DIR}/{model}/{SPEC_FILE}"
        front = check_specs(ws, [(ws.root / display, display)], envs, gov)
        c = front.checked[0]
        side.findings += [Scoped(*place(d, ws.environments, model), d) for d in front.diagnostics]
        if has_errors(c.diagnostics) or c.spec is None:
            side.invalid.add(model)
            continue
        for env in envs:
            spec = c.effective[env]
            side.costs[(env, model)] = monthly_cost(spec, ws.platforms[env], env).total
            side.refs[(env, model)] = model_ref(ws, env, spec, display)
            side.locks[(env, model)] = lock_entry(c, env)
        groups[tuple(envs)].append(c)
    for envs_, checked in groups.items():
        for start in range(0, len(checked), CHUNK):
            result = render(ws, checked[start : start + CHUNK], list(envs_), verifier, progress=progress, gov=gov)
            for rel, data in result.tree.files.items():
                env, model, name = rel.split("/", 2)
                # Both depend on every model of the environment: argocd is computed below; the
                # platform layer is not compared (it needs every model's objects; rendered/ shows it).
                if model not in ENVIRONMENT_FOLDERS:
                    side.files.setdefault((env, model), {})[name] = data
            for d in result.diagnostics:
                env, model = place(d, ws.environments)
                if model not in ENVIRONMENT_FOLDERS:
                    side.findings.append(Scoped(env, model, d))
