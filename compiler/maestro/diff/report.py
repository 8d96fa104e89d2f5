"""The report: per environment and model, files added/removed/changed, cost, findings new and resolved."""

from __future__ import annotations

import difflib
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maestro.diff.argocd import argocd_objects, scanned_ref
from maestro.diff.git import ARGOCD, RENDERED, Repo, open_repo, resolve
from maestro.diff.plan import Plan, plan
from maestro.diff.side import Scoped, Side, open_side, render_side
from maestro.diff.snapshot import Snapshot, materialize, same_blobs, snapshot_commit, snapshot_worktree

if TYPE_CHECKING:  # imported where used: `maestro --help` should not pay for the pipeline
    from maestro.mlflow.lockfile import EnvLock, Pinned
    from maestro.render.argocd import ModelRef


# ------------------------------------------------------------------ the report


@dataclass(frozen=True)
class FileChange:
    path: str  # relative to the rendered root: <env>/<model>/<file>
    change: str  # added | removed | changed
    diff: str  # unified diff, labelled a/rendered/... and b/rendered/...


@dataclass(frozen=True)
class VersionChange:
    """A change of what a model serves in an environment, from its version lock."""

    variant: str | None  # None: the main served version
    base: Pinned | None  # None: unlocked (the alias is resolved when a pod starts)
    head: Pinned | None
    text: str  # the line `registry lock` and `promote` print: "prod/m: model version 12 -> 14, ..."


@dataclass
class Entry:
    env: str
    model: str  # "argocd": the environment's rendered/<env>/argocd folder
    status: str  # added | removed | changed | unchanged | skipped | invalid
    changes: list[FileChange] = field(default_factory=list)
    versions: list[VersionChange] = field(default_factory=list)
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
    findings: list[Scoped]  # new in head
    resolved: list[Scoped]  # in base, gone in head
    currency: str = "USD"

    def entry_findings(self, env: str, model: str, which: str = "findings") -> list[Scoped]:
        """The findings (or the resolved ones) of one model in one environment."""
        return [f for f in self._by_model[which].get(model, []) if f.env in (env, "")]

    @cached_property
    def _by_model(self) -> dict[str, dict[str, list[Scoped]]]:
        index: dict[str, dict[str, list[Scoped]]] = {"findings": {}, "resolved": {}}
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
            or bool(e.versions)
            or bool(e.cost_delta)
            or bool(self.entry_findings(e.env, e.model))
        )

    @property
    def changed(self) -> bool:
        return any(self.shown(e) for e in self.entries) or bool(self.findings) or bool(self.resolved)

    @property
    def cost_delta(self) -> float:
        return round(sum(e.cost_delta or 0.0 for e in self.entries), 2)

    @property
    def versions(self) -> list[tuple[Entry, VersionChange]]:
        """Every change of a served version, in report order."""
        return [(e, v) for e in self.entries for v in e.versions]

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


def status_of(base: Mapping[str, object], head: Mapping[str, object], changes: list[FileChange]) -> str:
    if not base and head:
        return "added"
    if base and not head:
        return "removed"
    return "changed" if changes else "unchanged"


def build_report(repo: Repo, base: Snapshot, head: Snapshot, only_env: str | None, fmt: str) -> Report:
    """Everything `maestro diff` reports; both snapshots must be materialized."""
    from maestro.errors import UnknownEnvironment

    h = open_side(head, repo, fmt)
    b = open_side(base, repo, fmt, like=h)
    if only_env is not None and only_env not in b.envs + h.envs:
        raise UnknownEnvironment(only_env, h.envs or b.envs)
    p = plan(base, head, b.envs, h.envs, only_env)
    work: dict[str, list[str]] = defaultdict(list)
    for env in p.envs:
        for model in sorted(p.affected[env]):
            work[model].append(env)
    total = sum(len(v) for v in work.values())
    with Progress(2 * total) as tick:
        render_side(h, work, fmt, tick)
        if same_blobs(b.snap.under("policies"), h.snap.under("policies")):
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

    def keep(fs: list[Scoped], other: set[tuple[str, str, str, str]]) -> list[Scoped]:
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
    entry.status = status_of(old, new, entry.changes)
    if in_head and key in h.locks and model not in b.invalid:
        entry.versions = version_changes(env, model, b.locks.get(key), h.locks[key])
    return entry


def version_changes(env: str, model: str, old: EnvLock | None, new: EnvLock | None) -> list[VersionChange]:
    from maestro.mlflow.lock import describe, served_changes

    return [VersionChange(v, a, b, describe(env, model, a, b, v)) for v, a, b in served_changes(old, new)]


def _argocd_entry(env: str, p: Plan, b: Side, h: Side) -> Entry:
    from maestro.output.emit import kustomization
    from maestro.serialize import dump

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
                        side.findings.append(Scoped(env, ARGOCD, d))
    if sorted(old) != sorted(new):
        if old:
            base_files["kustomization.yaml"] = kustomization(old).encode()
        if new:
            head_files["kustomization.yaml"] = kustomization(new).encode()
    entry.changes = compare_files(f"{env}/{ARGOCD}", base_files, head_files)
    entry.status = status_of(old, new, entry.changes) if old or new else "unchanged"
    return entry


class Progress:
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
