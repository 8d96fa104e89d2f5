"""`maestro diff`: what a change does to the rendered tree, per environment and model.

    maestro diff --base GITREF [--head GITREF] [--env E] [--format text|markdown|json]

Both sides are read from git without touching the working tree: a ref's inputs
(`config/`, `overlays/`, `policies/`, `specs/`) are written from git's object store into
a temporary folder (`git ls-tree` + `git cat-file --batch`; `rendered/` is never read).
Without `--head` the head is the working tree as it is, uncommitted and untracked
(not ignored) files included: what `maestro render` would write right now, which in CI is
the pull request's checkout. `crd_schema_dir` is resolved against the real repository
root on both sides (a relative path would point nowhere from a temporary copy).

Only models whose inputs changed are rendered. A model's inputs are its spec file, its
environment's overlay folder, `config/`, `policies/` and the compiler (the files under
`compiler/maestro/`, `__version__` included, when the repository holds the compiler).
A change to `config/`, `policies/` or the compiler affects every model; a change under
`overlays/<env>/` every model in that environment. Changes are found by comparing git blob
ids (`git hash-object` for the working tree), without parsing anything. The output says
what was skipped.

Both sides are rendered by the compiler that runs this command (the current
installation): the base ref's own compiler is not used. The diff therefore shows what the
head compiler makes of base and head; a compiler change still counts as "every model
affected", so that the inputs it might render differently are rendered.

`rendered/<env>/argocd/` depends on every model of the environment (one AppProject per
team, listing the team's namespaces). It is computed whenever a model of the environment
is rendered, from the affected models' validated specs and the other models' metadata
(read with a fast YAML scan, not validated: their inputs are the same on both sides).

Per environment and model the report holds: the files added, removed and changed (with a
unified diff of the emitted YAML, which is key-sorted, so key order never shows), the
findings new in head and those resolved (diagnostics of check, governance and render,
compared by code, message, environment and model, not by line), and the monthly cost
estimate of base and head (`costs.monthly_cost`) with its delta.

A spec that is invalid in head is a finding (status `invalid`, its diagnostics listed,
exit 1). A bad ref, a folder outside git, or a config or policy set that cannot be loaded
is an environment error (exit 2). Otherwise the exit code follows `flux diff`: 0 when the
report is empty, 1 when anything differs (objects, cost, findings).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maestro.diagnostics import Diagnostic, has_errors

if TYPE_CHECKING:  # imported where used: `maestro --help` should not pay for the pipeline
    from maestro.frontend.spec import Metadata
    from maestro.output.verify import Verifier
    from maestro.policy.governance import Governance
    from maestro.render.argocd import ModelRef
    from maestro.resolve.workspace import Workspace

INPUT_DIRS = ("config", "overlays", "policies", "specs")
COMPILER_DIR = "compiler/maestro"
RENDERED = "rendered"
ARGOCD = "argocd"
MARKDOWN_LIMIT = 60_000  # GitHub refuses comments over 65,536 characters
CHUNK = 25  # models rendered per pipeline call: bounds memory on big changes
FORMATS = ("text", "markdown", "json")

OK, CHANGES, ERROR = 0, 1, 2


class DiffError(Exception):
    """A ref, the repository or git itself is unusable (exit 2)."""


# ------------------------------------------------------------------ git


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False)
    except FileNotFoundError:
        raise DiffError("git is not installed (maestro diff reads revisions with git)") from None
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DiffError(f"git {args[0]} failed: {lines[-1] if lines else f'exit {proc.returncode}'}")
    return proc.stdout


@dataclass(frozen=True)
class Repo:
    top: Path  # the git work tree's top folder
    prefix: str  # the maestro root relative to it: "" or "sub/dir/"
    root: Path  # the maestro root (the real one: crd_schema_dir is resolved here)


def open_repo(root: Path) -> Repo:
    try:
        top = _git(root, "rev-parse", "--show-toplevel").decode().strip()
        prefix = _git(root, "rev-parse", "--show-prefix").decode().strip()
    except DiffError:
        raise DiffError(f"{root} is not inside a git repository (maestro diff compares git revisions)") from None
    return Repo(Path(top), prefix, root)


def resolve(repo: Repo, ref: str, option: str) -> str:
    """The commit id `ref` names; a DiffError naming the option otherwise."""
    if not ref or ref.startswith("-"):
        raise DiffError(f"{option} {ref!r}: not a git revision")
    try:
        return _git(repo.top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()
    except DiffError:
        raise DiffError(
            f"{option} {ref}: no such commit in {repo.top} (in a shallow CI checkout, fetch it first: "
            f"git fetch origin <branch>)"
        ) from None


# ------------------------------------------------------------------ snapshots


@dataclass(frozen=True)
class Snapshot:
    """One side of the diff: which files its inputs are (git blob ids), and where to read them."""

    label: str  # the ref as given, or "working tree"
    commit: str | None  # None: the working tree
    files: Mapping[str, str]  # path relative to the maestro root -> blob id (inputs and compiler)
    root: Path | None = None  # folder holding the inputs (the working tree, or a temporary copy)

    @property
    def has_config(self) -> bool:
        return "config/platform.yaml" in self.files

    @cached_property
    def specs(self) -> dict[str, str]:
        """model (its folder under specs/) -> blob id of its maestro.yaml."""
        out = {}
        for rel, oid in self.files.items():
            parts = rel.split("/")
            if len(parts) == 3 and parts[0] == "specs" and parts[2] == "maestro.yaml":
                out[parts[1]] = oid
        return out

    def under(self, folder: str) -> dict[str, str]:
        return {rel: oid for rel, oid in self.files.items() if rel.startswith(folder + "/")}

    def version(self) -> str | None:
        """`__version__` of the compiler in this snapshot (None when it holds no compiler)."""
        path = self.root / COMPILER_DIR / "__init__.py" if self.root is not None else None
        if path is None or not path.is_file():
            return None
        m = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", path.read_text("utf-8", "replace"), re.M)
        return m.group(1) if m else None


def snapshot_commit(repo: Repo, commit: str, label: str) -> Snapshot:
    paths = [repo.prefix + d for d in (*INPUT_DIRS, COMPILER_DIR)]
    out = _git(repo.top, "ls-tree", "-r", "-z", "--full-tree", commit, "--", *paths)
    files = {}
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        mode, kind, oid = meta.decode().split(" ")
        rel = path.decode("utf-8", "surrogateescape")
        if kind == "blob" and rel.startswith(repo.prefix):
            files[rel[len(repo.prefix) :]] = f"{mode} {oid}"
    return Snapshot(label=label, commit=commit, files=files)


def snapshot_worktree(repo: Repo) -> Snapshot:
    """The working tree as `git add -A` would see it: tracked and untracked, not ignored."""
    out = _git(repo.root, "ls-files", "-z", "-c", "-o", "--exclude-standard", "--", *INPUT_DIRS, COMPILER_DIR)
    rels = sorted({p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p})
    rels = [r for r in rels if (repo.root / r).is_file()]  # tracked but deleted files are gone
    # hash-object reads --stdin-paths from the top of the work tree, whatever the cwd.
    paths = "".join(f"{repo.prefix}{r}\n" for r in rels).encode()
    oids = _git(repo.top, "hash-object", "--stdin-paths", stdin=paths).decode().split() if rels else []
    modes = {r: "120000" if (repo.root / r).is_symlink() else "100644" for r in rels}
    # Only the blob id is compared: the mode git records for an executable file is noise here.
    files = {r: f"{modes[r]} {oid}" for r, oid in zip(rels, oids)}
    return Snapshot(label="working tree", commit=None, files=files, root=repo.root)


def _oid(entry: str | None) -> str | None:
    """The blob id of a `mode oid` entry: modes (the executable bit) do not change output."""
    return entry.split()[-1] if entry else None


def _same(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    return {k: _oid(v) for k, v in a.items()} == {k: _oid(v) for k, v in b.items()}


def materialize(repo: Repo, snap: Snapshot, dest: Path) -> Snapshot:
    """Write a commit's inputs into `dest` (and the compiler's __init__.py, for its version;
    never rendered/, which can be large and is not an input)."""
    version = f"{COMPILER_DIR}/__init__.py"
    wanted = sorted(rel for rel in snap.files if rel.split("/", 1)[0] in INPUT_DIRS or rel == version)
    oids = [snap.files[rel].split()[-1] for rel in wanted]
    blobs = _cat_blobs(repo, oids) if oids else {}
    for rel in wanted:
        mode, oid = snap.files[rel].split()
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if mode == "120000":
            os.symlink(blobs[oid].decode("utf-8", "surrogateescape"), path)
        else:
            path.write_bytes(blobs[oid])
    return Snapshot(label=snap.label, commit=snap.commit, files=snap.files, root=dest)


def _cat_blobs(repo: Repo, oids: list[str]) -> dict[str, bytes]:
    out = _git(repo.top, "cat-file", "--batch", stdin="".join(o + "\n" for o in oids).encode())
    blobs: dict[str, bytes] = {}
    pos = 0
    while pos < len(out):
        end = out.index(b"\n", pos)
        header = out[pos:end].decode().split()
        if len(header) != 3:
            raise DiffError(f"git cat-file: unexpected output {out[pos:end][:80]!r}")
        size = int(header[2])
        blobs[header[0]] = out[end + 1 : end + 1 + size]
        pos = end + 1 + size + 1
    return blobs


# ------------------------------------------------------------------ what to render


@dataclass(frozen=True)
class Plan:
    envs: list[str]  # selected environments, head's order first
    models: list[str]  # every model on either side
    affected: dict[str, set[str]]  # env -> models to render there
    reasons: list[str]  # why, in words


def plan(base: Snapshot, head: Snapshot, base_envs: list[str], head_envs: list[str], only_env: str | None) -> Plan:
    envs = list(head_envs) + [e for e in base_envs if e not in head_envs]
    if only_env is not None:
        envs = [e for e in envs if e == only_env]
    base_specs, head_specs = base.specs, head.specs
    models = sorted(set(base_specs) | set(head_specs))
    reasons = []
    everything = False
    for folder in ("config", "policies"):
        if not _same(base.under(folder), head.under(folder)):
            reasons.append(f"{folder}/ changed: every model rendered")
            everything = True
    if not _same(base.under(COMPILER_DIR), head.under(COMPILER_DIR)):
        versions = base.version(), head.version()
        said = f" {versions[0] or 'none'} -> {versions[1] or 'none'}" if versions[0] != versions[1] else ""
        reasons.append(f"the compiler ({COMPILER_DIR}/){said} changed: every model rendered")
        everything = True
    changed_specs = {m for m in models if _oid(base_specs.get(m)) != _oid(head_specs.get(m))}
    affected: dict[str, set[str]] = {}
    for env in envs:
        folder = f"overlays/{env}"
        overlay_changed = not _same(base.under(folder), head.under(folder))
        if overlay_changed and not everything:
            reasons.append(f"{folder}/ changed: every model in {env} rendered")
        affected[env] = set(models) if everything or overlay_changed else set(changed_specs)
    if changed_specs and not everything:
        words = {
            m: "added" if m not in base_specs else "deleted" if m not in head_specs else "changed"
            for m in sorted(changed_specs)
        }
        reasons.append("specs: " + ", ".join(f"{m} ({w})" for m, w in words.items()))
    return Plan(envs=envs, models=models, affected=affected, reasons=reasons)


# ------------------------------------------------------------------ rendering one side


@dataclass(frozen=True)
class Finding:
    env: str  # "" when it holds in every environment
    model: str  # "" for the environment or the repository; "argocd" for rendered/<env>/argocd
    diagnostic: Diagnostic

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.diagnostic.code, self.diagnostic.message, self.env, self.model)


_ENV_SUFFIX = re.compile(r"\(environment ([^()\s]+)\)$")


def place(d: Diagnostic, envs: Iterable[str], model: str = "") -> tuple[str, str]:
    """The (environment, model) a diagnostic is about, from its file and message."""
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
    m = _ENV_SUFFIX.search(d.message)
    if m and m.group(1) in known:
        env = m.group(1)
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
    invalid: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)
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

    from maestro.cli import Unusable, UsageError
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
        and all(_same(snap.under(d), like.snap.under(d)) for d in ("config", "overlays"))
    ):
        ws, diags = replace(like.ws, root=snap.root), [f.diagnostic for f in like.findings]
    else:
        ws, diags = open_workspace(snap.root)
    if ws is None or has_errors(diags):
        raise Unusable([_relabel(d, snap) for d in diags], "json" if fmt == "json" else "text")
    side.ws = ws
    side.findings += [Finding(*place(d, ws.environments), d) for d in diags]
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
    from maestro.cli import Unusable
    from maestro.policy.governance import Governance

    if side.gov is None:
        gov, problems = Governance.load(side.snap.root)  # type: ignore[arg-type]
        if problems:
            raise Unusable([_relabel(d, side.snap) for d in problems], "json" if fmt == "json" else "text")
        side.gov = gov
    return side.gov


def render_side(side: Side, work: dict[str, list[str]], fmt: str, progress: Callable[[], None] | None = None) -> None:
    """Check, govern and render `work` (model -> environments) on one side."""
    from maestro.check import SPEC_FILE, SPECS_DIR, Checked, check_file
    from maestro.costs import monthly_cost
    from maestro.pipeline import context_for, render
    from maestro.policy.governance import govern_spec
    from maestro.render.argocd import ModelRef

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
        c = check_file(ws.root / display, display, ws.inputs, envs, ws.root)
        side.findings += [Finding(*place(d, ws.environments, model), d) for d in c.diagnostics]
        if has_errors(c.diagnostics) or c.spec is None:
            side.invalid.add(model)
            continue
        side.findings += [Finding(*place(d, ws.environments, model), d) for d in govern_spec(c, ws, envs, gov)]
        for env in envs:
            spec = c.effective[env]
            side.costs[(env, model)] = monthly_cost(spec, ws.platforms[env]).total
            ctx = context_for(ws, env, spec, display)
            side.refs[(env, model)] = ModelRef(
                name=model,
                team=spec.metadata.team,
                tier=spec.metadata.tier,
                namespace=ctx.namespace,
                source=display,
                sync=ctx.sync,
                owners=tuple(spec.metadata.owners),
            )
        groups[tuple(envs)].append(c)
    for envs_, checked in groups.items():
        for start in range(0, len(checked), CHUNK):
            result = render(ws, checked[start : start + CHUNK], list(envs_), verifier, progress=progress, gov=gov)
            for rel, data in result.tree.files.items():
                env, model, name = rel.split("/", 2)
                if model != ARGOCD:  # computed over every model of the environment, below
                    side.files.setdefault((env, model), {})[name] = data
            for d in result.diagnostics:
                env, model = place(d, ws.environments)
                if model != ARGOCD:
                    side.findings.append(Finding(env, model, d))


# ------------------------------------------------------------------ Argo CD folder


def scan_metadata(path: Path) -> Metadata | None:
    """A spec's `metadata` (name, team, tier, owners) without validating the rest: a fast
    YAML 1.2 reading when every value is a plain string, the full loader otherwise.
    None when the spec has no valid metadata."""
    from pydantic import ValidationError

    from maestro.frontend.spec import Metadata

    data = _fast_metadata(path)
    if data is None:
        from maestro.frontend.loader import load

        located, _ = load(path, str(path))
        top = located.data if located is not None else None
        meta = top.get("metadata") if isinstance(top, dict) else None
        if not isinstance(meta, dict):
            return None
        data = {k: meta[k] for k in ("name", "team", "tier", "owners") if k in meta}
    try:
        return Metadata.model_validate(data)
    except ValidationError:
        return None


def _fast_metadata(path: Path) -> dict[str, Any] | None:
    try:
        import yaml  # type: ignore[import-untyped]  # libyaml: ~30x faster than the pure-Python loader
        from ruamel.yaml.nodes import ScalarNode as RuamelScalar
        from ruamel.yaml.resolver import VersionedResolver

        loader = yaml.CSafeLoader
    except (ImportError, AttributeError):
        return None
    try:
        if path.stat().st_size > 1_000_000:
            return None
        root = yaml.compose(path.read_text("utf-8-sig"), Loader=loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    resolver = VersionedResolver(version=(1, 2))

    def string(node: Any) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            return None
        if node.style is None and resolver.resolve(RuamelScalar, node.value, (True, False)) != "tag:yaml.org,2002:str":
            return None  # a number, bool or null under YAML 1.2: let the real loader decide
        return str(node.value)

    def mapping(node: Any) -> dict[str, Any] | None:
        if not isinstance(node, yaml.MappingNode):
            return None
        out: dict[str, Any] = {}
        for k, v in node.value:
            key = string(k)
            if key is None or key in out or key == "<<":
                return None
            out[key] = v
        return out

    top = mapping(root)
    meta = mapping(top.get("metadata")) if top is not None else None
    if meta is None:
        return None
    data: dict[str, Any] = {}
    for key in ("name", "team", "tier"):
        if key in meta:
            value = string(meta[key])
            if value is None:
                return None
            data[key] = value
    if "owners" in meta:
        if not isinstance(meta["owners"], yaml.SequenceNode):
            return None
        owners = [string(n) for n in meta["owners"].value]
        if any(o is None for o in owners):
            return None
        data["owners"] = owners
    return data


def scanned_ref(side: Side, env: str, model: str) -> ModelRef | None:
    """The Argo CD view of a model that was not rendered (None if its metadata is invalid)."""
    from maestro.frontend.spec import Spec
    from maestro.pipeline import context_for
    from maestro.render.argocd import ModelRef

    source = f"specs/{model}/maestro.yaml"
    if side.ws is None or side.snap.root is None:
        return None
    if model not in side.scanned:  # metadata is the same in every environment: read it once
        side.scanned[model] = scan_metadata(side.snap.root / source)
    meta = side.scanned[model]
    if meta is None or meta.name != model:
        return None
    ctx = context_for(side.ws, env, Spec.model_construct(metadata=meta), source)
    return ModelRef(
        name=model,
        team=meta.team,
        tier=meta.tier,
        namespace=ctx.namespace,
        source=source,
        sync=ctx.sync,
        owners=tuple(meta.owners),
    )


def argocd_objects(side: Side, env: str, refs: list[ModelRef]) -> dict[str, dict[str, Any]]:
    from maestro.output.emit import file_name
    from maestro.render.argocd import render_env

    if side.ws is None or env not in side.ws.platforms:
        return {}
    apps = render_env(env, side.ws.platforms[env], side.ws.overlays.get(env), sorted(refs, key=lambda r: r.name))
    return {file_name(res): res for res in apps}


# ------------------------------------------------------------------ the report


@dataclass(frozen=True)
class FileChange:
    path: str  # relative to the rendered root: <env>/<model>/<file>
    change: str  # added | removed | changed
    diff: str  # unified diff, labelled a/rendered/... and b/rendered/...


@dataclass
class Entry:
    env: str
    model: str  # "argocd": the environment's rendered/<env>/argocd folder
    status: str  # added | removed | changed | unchanged | skipped | invalid
    changes: list[FileChange] = field(default_factory=list)
    cost_base: float | None = None
    cost_head: float | None = None
    currency: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def cost_delta(self) -> float | None:
        if self.status == "skipped":
            return 0.0
        if self.cost_base is None or self.cost_head is None:
            return None
        return round(self.cost_head - self.cost_base, 2)

    def count(self, change: str) -> int:
        return sum(1 for c in self.changes if c.change == change)


@dataclass
class Report:
    base: Snapshot
    head: Snapshot
    envs: list[str]
    entries: list[Entry]
    reasons: list[str]
    findings: list[Finding]  # new in head
    resolved: list[Finding]  # in base, gone in head
    currency: str = "USD"

    def entry_findings(self, env: str, model: str, which: str = "findings") -> list[Finding]:
        """The findings (or the resolved ones) of one model in one environment."""
        return [f for f in self._by_model[which].get(model, []) if f.env in (env, "")]

    @cached_property
    def _by_model(self) -> dict[str, dict[str, list[Finding]]]:
        index: dict[str, dict[str, list[Finding]]] = {"findings": {}, "resolved": {}}
        for which, items in (("findings", self.findings), ("resolved", self.resolved)):
            for f in items:
                index[which].setdefault(f.model, []).append(f)
        return index

    @property
    def rendered(self) -> list[Entry]:
        return [e for e in self.entries if e.status != "skipped" and e.model != ARGOCD]

    @property
    def skipped(self) -> list[Entry]:
        return [e for e in self.entries if e.status == "skipped" and e.model != ARGOCD]

    def shown(self, e: Entry) -> bool:
        """Worth a line: it changed, its cost moved, or it has new findings."""
        return (
            e.status in ("added", "removed", "changed", "invalid")
            or bool(e.changes)
            or bool(e.cost_delta)
            or bool(self.entry_findings(e.env, e.model))
        )

    @property
    def changed(self) -> bool:
        return any(self.shown(e) for e in self.entries) or bool(self.findings) or bool(self.resolved)

    @property
    def cost_delta(self) -> float:
        return round(sum(e.cost_delta or 0.0 for e in self.entries), 2)

    def totals(self) -> dict[str, int]:
        return {c: sum(e.count(c) for e in self.entries) for c in ("added", "removed", "changed")}

    def quiet(self) -> int:
        """Rendered, and nothing to say about them."""
        return sum(1 for e in self.rendered if not self.shown(e))

    def skip_line(self) -> str | None:
        per_env = {env: sum(1 for e in self.skipped if e.env == env) for env in self.envs}
        if not any(per_env.values()):
            return None
        if len(set(per_env.values())) == 1:
            n = next(iter(per_env.values()))
            return f"{n} model{'s' if n != 1 else ''} unchanged, not rendered"
        return "not rendered (inputs unchanged): " + ", ".join(f"{n} in {env}" for env, n in per_env.items() if n)


def unified(path: str, old: bytes | None, new: bytes | None) -> str:
    def lines(data: bytes | None) -> list[str]:
        if data is None:
            return []
        out = data.decode("utf-8", "replace").splitlines(keepends=True)
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n\\ No newline at end of file\n"
        return out

    a = f"a/{RENDERED}/{path}" if old is not None else "/dev/null"
    b = f"b/{RENDERED}/{path}" if new is not None else "/dev/null"
    return "".join(difflib.unified_diff(lines(old), lines(new), a, b))


def compare_files(prefix: str, base: Mapping[str, bytes], head: Mapping[str, bytes]) -> list[FileChange]:
    out = []
    for name in sorted(set(base) | set(head)):
        old, new = base.get(name), head.get(name)
        if old == new:
            continue
        change = "added" if old is None else "removed" if new is None else "changed"
        out.append(FileChange(f"{prefix}/{name}", change, unified(f"{prefix}/{name}", old, new)))
    return out


def _status(base: Mapping[str, object], head: Mapping[str, object], changes: list[FileChange]) -> str:
    if not base and head:
        return "added"
    if base and not head:
        return "removed"
    return "changed" if changes else "unchanged"


def build_report(repo: Repo, base: Snapshot, head: Snapshot, only_env: str | None, fmt: str) -> Report:
    """Everything `maestro diff` reports; both snapshots must be materialized."""
    from maestro.cli import UsageError

    h = open_side(head, repo, fmt)
    b = open_side(base, repo, fmt, like=h)
    if only_env is not None and only_env not in b.envs + h.envs:
        raise UsageError(f"unknown environment '{only_env}' (configured: {', '.join(h.envs or b.envs)})")
    p = plan(base, head, b.envs, h.envs, only_env)
    work: dict[str, list[str]] = defaultdict(list)
    for env in p.envs:
        for model in sorted(p.affected[env]):
            work[model].append(env)
    total = sum(len(v) for v in work.values())
    with _Progress(2 * total) as tick:
        render_side(h, work, fmt, tick)
        if _same(b.snap.under("policies"), h.snap.under("policies")):
            b.gov = h.gov  # the same policy files: compiled once (None until head needed them)
        render_side(b, work, fmt, tick)

    entries: list[Entry] = []
    for env in p.envs:
        currency = h.currency(env) or b.currency(env)
        for model in p.models:
            if model not in p.affected[env]:
                entries.append(Entry(env, model, "skipped", currency=currency))
                continue
            entries.append(_entry(env, model, b, h, currency))
        entries.append(_argocd_entry(env, p, b, h))

    head_keys = {f.key for f in h.findings}
    base_keys = {f.key for f in b.findings}
    order = {e: i for i, e in enumerate(p.envs)}

    def keep(fs: list[Finding], other: set[tuple[str, str, str, str]]) -> list[Finding]:
        unique = {f.key: f for f in fs if f.key not in other and (f.env in order or f.env == "")}
        return sorted(unique.values(), key=lambda f: (order.get(f.env, -1), f.model, f.diagnostic.sort_key()))

    currency = next((e.currency for e in entries if e.currency), "USD")
    return Report(
        base=base,
        head=head,
        envs=p.envs,
        entries=entries,
        reasons=p.reasons,
        findings=keep(h.findings, base_keys),
        resolved=keep(b.findings, head_keys),
        currency=currency,
    )


def _entry(env: str, model: str, b: Side, h: Side, currency: str | None) -> Entry:
    key = (env, model)
    old, new = b.files.get(key, {}), h.files.get(key, {})
    in_base, in_head = model in b.snap.specs and env in b.envs, model in h.snap.specs and env in h.envs
    entry = Entry(env, model, "unchanged", currency=currency)
    entry.cost_base = b.costs.get(key, 0.0 if not in_base else None)
    entry.cost_head = h.costs.get(key, 0.0 if not in_head else None)
    if model in b.invalid:
        entry.notes.append("base: spec invalid, not rendered")
        entry.cost_base = None
    if model in h.invalid:
        entry.status = "invalid"
        entry.notes.append("head: spec invalid, not rendered (see findings)")
        return entry
    entry.changes = compare_files(f"{env}/{model}", old, new)
    entry.status = _status(old, new, entry.changes)
    return entry


def _argocd_entry(env: str, p: Plan, b: Side, h: Side) -> Entry:
    from maestro.output.emit import dump, kustomization

    entry = Entry(env, ARGOCD, "skipped")
    if not p.affected[env]:
        return entry
    refs: dict[str, list[ModelRef]] = {"base": [], "head": []}
    for model in p.models:
        for name, side in (("base", b), ("head", h)):
            if side.ws is None or env not in side.ws.platforms or model not in side.snap.specs:
                continue
            if model in p.affected[env]:
                ref = side.refs.get((env, model))
            else:  # same inputs on both sides: one scan serves both
                ref = scanned_ref(h if model in h.snap.specs else b, env, model)
            if ref is not None:
                refs[name].append(ref)
    old, new = argocd_objects(b, env, refs["base"]), argocd_objects(h, env, refs["head"])
    base_files: dict[str, bytes] = {}
    head_files: dict[str, bytes] = {}
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):  # dicts compare exactly as their YAML would
            for objs, files, side in ((old, base_files, b), (new, head_files, h)):
                if name in objs and side.verifier is not None:  # objects imply a workspace, and so a verifier
                    files[name] = dump(objs[name]).encode()
                    for d in side.verifier.verify(objs[name], source=f"{env}/{ARGOCD}/{name}"):
                        side.findings.append(Finding(env, ARGOCD, d))
    if sorted(old) != sorted(new):
        if old:
            base_files["kustomization.yaml"] = kustomization(old).encode()
        if new:
            head_files["kustomization.yaml"] = kustomization(new).encode()
    entry.changes = compare_files(f"{env}/{ARGOCD}", base_files, head_files)
    entry.status = _status(old, new, entry.changes) if old or new else "unchanged"
    return entry


class _Progress:
    """A transient progress bar on a terminal, when there is enough to render to want one."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Any = None

    def __enter__(self) -> Callable[[], None] | None:
        if self.total < 50 or not sys.stderr.isatty():
            return None
        from rich.progress import Progress

        self.bar = Progress(transient=True)
        self.bar.__enter__()
        task = self.bar.add_task("rendering", total=self.total)
        return lambda: self.bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


# ------------------------------------------------------------------ formatters


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def _delta(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+,.2f}"


def _side_label(snap: Snapshot) -> str:
    return snap.label if snap.commit is None else f"{snap.label} ({snap.commit[:12]})"


def _where(d: Diagnostic) -> str:
    if not d.file:
        return ""
    return f"{d.file}:{d.line}:{d.col}" if d.line else d.file


def _scope(f: Finding) -> str:
    return "/".join(p for p in (f.env or "*", f.model) if p)


def format_text(report: Report) -> str:
    out = [f"base: {_side_label(report.base)}", f"head: {_side_label(report.head)}"]
    out += report.reasons
    skip = report.skip_line()
    if skip:
        out.append(skip)
    if report.quiet():
        out.append(f"{report.quiet()} model-environment(s) rendered without differences")
    out.append("")
    for e in report.entries:
        if not report.shown(e):
            continue
        line = f"{e.env}/{e.model}: {e.status}  +{e.count('added')} -{e.count('removed')} ~{e.count('changed')}"
        if e.model != ARGOCD:
            line += f"  cost {_money(e.cost_base)} -> {_money(e.cost_head)} {e.currency} ({_delta(e.cost_delta)})"
        out.append(line)
        out += [f"  note: {n}" for n in e.notes]
        sign = {"added": "+", "removed": "-", "changed": "~"}
        out += [f"  {sign[c.change]} {c.path.split('/', 2)[2]}" for c in e.changes]
    for title, items in (("new findings", report.findings), ("resolved findings", report.resolved)):
        if items:
            out.append(f"{title}:")
            for f in items:
                d = f.diagnostic
                where = _where(d)
                out.append(
                    f"  {_scope(f)}: {d.code} {d.severity.value}: {d.message}" + (f" ({where})" if where else "")
                )
                if d.hint:
                    out.append(f"    hint: {d.hint}")
    t = report.totals()
    rendered = len(report.rendered)
    out.append(
        f"summary: {rendered} model-environment(s) rendered, +{t['added']} -{t['removed']} ~{t['changed']} "
        f"files, monthly cost {_delta(report.cost_delta)} {report.currency}, {len(report.findings)} new "
        f"finding(s)" + ("" if report.changed else "; no changes")
    )
    diffs = [c.diff for e in report.entries for c in e.changes]
    if diffs:
        out.append("")
    return "\n".join(out) + "\n" + "".join(diffs)


def _finding_json(f: Finding) -> dict[str, Any]:
    d = f.diagnostic
    return {
        "env": f.env or None,
        "model": f.model or None,
        "severity": d.severity.value,
        "code": d.code,
        "message": d.message,
        "file": d.file,
        "line": d.line,
        "col": d.col,
        "hint": d.hint,
    }


def format_json(report: Report) -> str:
    envs: dict[str, Any] = {}
    for env in report.envs:
        models: dict[str, Any] = {}
        argocd: dict[str, Any] = {}
        for e in (x for x in report.entries if x.env == env):
            item = {
                "status": e.status,
                "objects": {
                    c: [x.path.split("/", 2)[2] for x in e.changes if x.change == c]
                    for c in ("added", "removed", "changed")
                },
                "findings": [_finding_json(f) for f in report.entry_findings(env, e.model)],
                "resolved": [_finding_json(f) for f in report.entry_findings(env, e.model, "resolved")],
                "notes": e.notes,
            }
            if e.model == ARGOCD:
                argocd = item
            else:
                item["cost"] = {"base": e.cost_base, "head": e.cost_head, "delta": e.cost_delta, "currency": e.currency}
                models[e.model] = item
        envs[env] = {
            "models": models,
            "argocd": argocd,
            "findings": [_finding_json(f) for f in report.entry_findings(env, "")],
        }
    t = report.totals()
    doc = {
        "base": {"ref": report.base.label, "commit": report.base.commit},
        "head": {"ref": report.head.label, "commit": report.head.commit},
        "reasons": report.reasons,
        "envs": envs,
        "skipped": [f"{e.env}/{e.model}" for e in report.skipped],
        "summary": {
            "changed": report.changed,
            "rendered": len(report.rendered),
            "skipped": len(report.skipped),
            "objects": t,
            "cost": {"delta": report.cost_delta, "currency": report.currency},
            "findings": len(report.findings),
            "resolved": len(report.resolved),
            "invalid": sorted({e.model for e in report.entries if e.status == "invalid"}),
        },
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;")


def _md(text: str) -> str:
    """Plain text in a Markdown table cell or list item."""
    return _html(text).replace("|", "\\|").replace("\n", " ")


def format_markdown(report: Report, limit: int = MARKDOWN_LIMIT) -> str:
    """A pull-request comment: summary table, findings, then one collapsible diff per file,
    cut to `limit` characters with a note saying what was left out."""
    head = [f"### maestro diff: `{_side_label(report.base)}` → `{_side_label(report.head)}`", ""]
    head += [f"- {_md(r)}" for r in report.reasons]
    skip = report.skip_line()
    if skip:
        head.append(f"- {skip}")
    if report.quiet():
        head.append(f"- {report.quiet()} model-environment(s) rendered without differences")
    if len(head) > 2:
        head.append("")
    rows = [e for e in report.entries if report.shown(e)]
    t = report.totals()
    if not report.changed:
        head.append("No changes to the rendered tree, costs or findings.")
        return "\n".join(head) + "\n"
    table = [
        f"| env | model | status | objects +/−/~ | monthly cost ({_md(report.currency)}) base → head (Δ) |",
        "|---|---|---|---|---|",
    ]
    for e in rows:
        cost = "" if e.model == ARGOCD else f"{_money(e.cost_base)} → {_money(e.cost_head)} ({_delta(e.cost_delta)})"
        table.append(
            f"| {e.env} | {e.model} | {e.status} | +{e.count('added')} −{e.count('removed')} "
            f"~{e.count('changed')} | {cost} |"
        )
    total = (
        f"**Total:** +{t['added']} −{t['removed']} ~{t['changed']} files, monthly cost "
        f"{_delta(report.cost_delta)} {_md(report.currency)}, {len(report.findings)} new finding(s)"
        + (f", {len(report.resolved)} resolved" if report.resolved else "")
        + "."
    )
    notes = [f"- `{e.env}/{e.model}`: {_md(n)}" for e in rows for n in e.notes]
    sections: list[str] = []
    if report.findings:
        sections.append(
            f"#### New findings ({len(report.findings)})\n\n"
            + "\n".join(_finding_md(f) for f in report.findings)
            + "\n"
        )
    if report.resolved:
        sections.append(
            f"<details><summary>Resolved findings ({len(report.resolved)})</summary>\n\n"
            + "\n".join(_finding_md(f) for f in report.resolved)
            + "\n\n</details>\n"
        )
    blocks = []
    for e in report.entries:
        for c in e.changes:
            fence = _fence(c.diff)
            blocks.append(
                f"<details><summary><code>{_html(RENDERED + '/' + c.path)}</code> ({c.change})</summary>\n\n"
                f"{fence}diff\n{c.diff}{fence}\n\n</details>\n"
            )

    budget = Budget(limit)
    budget.add("\n".join(head) + "\n" + total + "\n\n")
    budget.add_all((row + "\n" for row in table), "table rows")
    if notes:
        budget.add_all((row + "\n" for row in ["", *notes]), "notes")
    budget.add_all(("\n" + section for section in sections), "sections")
    if blocks:
        budget.add(f"\n#### Changes ({len(blocks)} file{'s' if len(blocks) != 1 else ''})\n\n")
        budget.add_all((block + "\n" for block in blocks), "file diffs")
    return budget.text()


def _finding_md(f: Finding) -> str:
    d = f.diagnostic
    where = _where(d)
    return (
        f"- **{d.severity.value}** `{d.code}` {_scope(f)}: {_md(d.message)}"
        + (f" (`{where}`)" if where else "")
        + (f"<br>hint: {_md(d.hint)}" if d.hint else "")
    )


class Budget:
    """Markdown pieces, in order, up to a size limit; once one does not fit, it and every
    later piece are counted instead, in a closing note."""

    NOTE_ROOM = 400

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.left: dict[str, int] = {}

    def add(self, piece: str, what: str = "sections") -> None:
        if not self.left and self.size + len(piece) <= self.limit - self.NOTE_ROOM:
            self.parts.append(piece)
            self.size += len(piece)
        else:
            self.left[what] = self.left.get(what, 0) + 1

    def add_all(self, pieces: Iterable[str], what: str) -> None:
        for piece in pieces:
            self.add(piece, what)

    def text(self) -> str:
        out = "".join(self.parts)
        if self.left:
            what = ", ".join(f"{n} {k}" for k, n in self.left.items())
            out += (
                f"\n> **Truncated** to stay under GitHub's comment size limit: {what} not shown. "
                f"Run `maestro diff` locally (or with `--format json`) for everything.\n"
            )
        return out


FORMATTERS: dict[str, Callable[[Report], str]] = {
    "text": format_text,
    "markdown": format_markdown,
    "json": format_json,
}


# ------------------------------------------------------------------ command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base", required=True, metavar="GITREF", help="the revision to compare against, e.g. origin/main"
    )
    parser.add_argument(
        "--head",
        metavar="GITREF",
        help="the revision to compare (default: the working tree, uncommitted changes included)",
    )
    parser.add_argument("--env", help="one environment (default: every environment)")
    parser.add_argument(
        "--format", choices=FORMATS, default="text", help="text, markdown (a pull-request comment) or json"
    )


def run(args: argparse.Namespace, root: Path) -> int:
    """0 nothing differs, 1 something does (objects, cost, findings, an invalid spec), 2 error."""
    from maestro.cli import UsageError

    try:
        report = compute(root, args.base, args.head, args.env, args.format)
    except DiffError as exc:
        raise UsageError(str(exc)) from None
    sys.stdout.write(FORMATTERS[args.format](report))
    return CHANGES if report.changed else OK


def compute(
    root: Path, base_ref: str, head_ref: str | None = None, env: str | None = None, fmt: str = "text"
) -> Report:
    """The report for `root` (a maestro repository inside a git work tree)."""
    repo = open_repo(root)
    base_commit = resolve(repo, base_ref, "--base")
    head_commit = resolve(repo, head_ref, "--head") if head_ref is not None else None
    with ExitStack() as stack:
        snaps = []
        for ref, commit in ((base_ref, base_commit), (head_ref, head_commit)):
            if commit is None:
                snaps.append(snapshot_worktree(repo))
                continue
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="maestro-diff-")))
            snaps.append(materialize(repo, snapshot_commit(repo, commit, ref or commit), tmp))
        return build_report(repo, snaps[0], snaps[1], env, fmt)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m maestro.diff`: the verb without the rest of the CLI (benchmarks use it)."""
    from maestro.cli import Unusable, UsageError, _emit
    from maestro.resolve.config import find_root

    parser = argparse.ArgumentParser(prog="maestro diff")
    parser.add_argument("--root", metavar="DIR")
    add_arguments(parser)
    args = parser.parse_args(argv)
    root = Path(args.root).resolve() if args.root else find_root(Path.cwd().resolve())
    try:
        if root is None:
            raise UsageError("not inside a maestro repository (use --root DIR)")
        return run(args, root)
    except UsageError as exc:
        print(f"maestro: {exc}", file=sys.stderr)
        return ERROR
    except Unusable as exc:
        _emit(exc.diags, exc.fmt)
        return ERROR


if __name__ == "__main__":
    sys.exit(main())
