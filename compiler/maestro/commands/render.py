"""`maestro render`: compile specs/ into rendered/ (or --out DIR), --check, or --stdout for one model."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maestro.commands.common import (
    cpu_count,
    display,
    exit_code,
    load_governance,
    load_workspace,
    policy_folder,
    quick_key_of,
    recall,
    remember,
    repo_root,
    spec_paths,
)
from maestro.errors import FINDINGS, OK, USAGE, UsageError
from maestro.output.reporters import print_diagnostics

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from maestro.diagnostics import Diagnostic
    from maestro.output.emit import Spool
    from maestro.output.manifest import Ahead, Manifest, Stats
    from maestro.pipeline import Incremental, Rendered, RunKeys


def command(args: argparse.Namespace) -> int:
    if getattr(args, "stdout", False):
        return _render_stdout(args)
    from maestro.output.emit import check_output_root, output_target
    from maestro.output.lock import output_lock

    root = repo_root(args)
    out_root = Path(args.out) if args.out else root / "rendered"
    bad_root = check_output_root(out_root, root) if args.out else None
    if bad_root is not None:
        print_diagnostics([bad_root], "text")
        return USAGE
    target = output_target(out_root)
    if not args.out and not target.is_relative_to(root):
        raise UsageError(
            f"rendered/ is a symbolic link to {target}, outside the repository: Argo CD reads rendered/ from the "
            "repository, so render into it (remove the link), or name the folder with --out DIR"
        )

    def waiting() -> None:
        print(f"maestro: waiting for another maestro render of {display(target)} to finish", file=sys.stderr)

    if getattr(args, "stream", None) is not None:  # --stdout reads no output folder
        return _command(args, root, None)
    # Before the inputs are read: a render that read older inputs must not write after one
    # that read newer ones (output/lock.py). --check waits for a writer to finish.
    with output_lock(target, shared=bool(args.check), on_wait=waiting):
        return _command(args, root, target)


def _command(args: argparse.Namespace, root: Path, target: Path | None) -> int:
    started = time.monotonic()
    out_root = Path(args.out) if args.out else root / "rendered"
    early = _early(args, root, target)
    last = early.unchanged(args) if early is not None else None
    if last is not None:
        return _unchanged(args, root, out_root, len(last.environments), last, started)
    ahead = None
    if early is not None and args.model is None:  # a manifest's whole tree or environment: scanned meanwhile
        from maestro.output.manifest import Ahead

        ahead = Ahead(early.target, _scopes(args, [args.env]))
    try:
        return _render(args, root, target, early, out_root, started, ahead)
    finally:
        if ahead is not None:
            ahead.close()


def _render(
    args: argparse.Namespace,
    root: Path,
    target: Path | None,
    early: _Early | None,
    out_root: Path,
    started: float,
    ahead: Ahead | None,
) -> int:
    from maestro.cache import Cache
    from maestro.diagnostics import has_errors
    from maestro.output.emit import Spool
    from maestro.pipeline import check_specs_incremental

    ws, diags = load_workspace(root)
    selected = ws.selected(args.env)
    crd = ws.platform.crd_schema_dir
    if crd and not (root / crd).is_dir():
        raise UsageError(
            f"crd_schema_dir '{crd}' (config/platform.yaml) is not a folder; it names extra CRD "
            "schemas on top of the ones Maestro ships: create it, or remove the key"
        )
    cache = None if getattr(args, "no_cache", False) else Cache(root)
    shard = getattr(args, "shard", None)
    if shard is not None and (args.model is not None or getattr(args, "stream", None) is not None):
        raise UsageError("render --shard renders a slice of every model: it does not combine with --model or --stdout")
    paths = early.paths if early is not None else [(p, display(p)) for p in spec_paths(root, [])]
    from maestro.pipeline import run_keys

    known = early.folders if early is not None else None
    keys = run_keys(ws, _read_by(paths, args.model), selected, policy_folder(root, args), known)
    # A render from the cache needs no policies (loading them is most of a no-op render): they
    # load on first use. A spec not in the cache is checked against them: then they start
    # loading now, while this process parses and checks.
    missed = cache is None or not all(cache.has(key) for key in keys.specs.values())
    gov = load_governance(root, args, ws, lazy=True, early=missed)
    manifest = None
    if cache is not None and shard is None and target is not None:
        # A render of the same inputs into a folder as the last render left it has nothing to do.
        from maestro.keys import with_crd
        from maestro.output import manifest as manifests

        # The quick key with the CRD schemas is hashed before they are read, like the rest.
        quick = with_crd(early.quick, root, crd) if early is not None and early.quick else ""
        manifest = _Recorder(
            manifests.manifest_path(root, target, _slot(args)),
            target,
            keys.digest(*_selection(args, target)),
            keys,
            quick=quick,
            crd=crd,
            environments=selected,
            ahead=ahead,
        )
        # read once, under this lock, by _early (10 MB at N=1,000)
        last = manifest.last = early.last if early is not None else manifests.read(manifest.path)
        if (
            last is not None
            and last.key == manifest.key
            and manifest.scan(_scopes(args, selected), settle=False) == last.files
        ):
            if quick and (last.quick, last.crd, last.environments) != (quick, crd, selected):
                # The run key vouches for the tree: the quick key of these inputs may too (the
                # quick key hashes more, e.g. the overlays of environments not selected).
                manifests.write(manifest.path, replace(last, quick=quick, crd=crd, environments=selected))
            return _unchanged(args, root, out_root, len(selected), last, started)
    # On a terminal, a bar over the specs: the front half's pool also renders them.
    progress = _Progress(len(paths), started) if sys.stderr.isatty() and args.model is None else None
    try:
        front = check_specs_incremental(
            ws,
            paths,
            selected,
            gov,
            policy_folder(root, args),
            cache,
            model=args.model,
            shard=shard,
            keys=keys,
            jobs=getattr(args, "jobs", None) or cpu_count(),
            progress=progress.advance if progress is not None else None,
        )
    finally:
        if progress is not None:
            progress.stop()
    diags += front.diagnostics
    if has_errors(diags):
        print_diagnostics(diags, "text")
        print("nothing written: fix the errors above", file=sys.stderr)
        return FINDINGS
    # --check with --shard reads the other shards' folders as they are (each shard checks its own).
    elsewhere = _reader(out_root) if shard is not None and args.check else None
    # A whole tree's files wait on disk, not in memory, until they are compared and written.
    with Spool() if args.model is None else contextlib.nullcontext() as spool:
        rc = _emit(args, root, out_root, selected, front, diags, elsewhere, spool, started, manifest)
    whole = args.env is None and args.model is None and shard is None and getattr(args, "stream", None) is None
    if cache is not None and whole and rc == OK:
        cache.prune()  # this render read every entry the current inputs need: they are kept
    return rc


def _emit(
    args: argparse.Namespace,
    root: Path,
    out_root: Path,
    selected: list[str],
    front: Incremental,
    diags: list[Diagnostic],
    elsewhere: Any,
    spool: Spool | None,
    started: float,
    recorder: _Recorder | None = None,
) -> int:
    """Render what `front` selected, then write it, check it or print it."""
    from maestro.output.emit import compare, remove_leftovers, write_tree

    shard = getattr(args, "shard", None)
    result = _render_with_progress(front, getattr(args, "jobs", None) or cpu_count(), elsewhere, spool)
    diags += result.diagnostics
    if exit_code(diags, args.strict):
        print_diagnostics(diags, "text")
        print("nothing written: fix the errors above", file=sys.stderr)
        return FINDINGS
    if front.layers_skipped:
        print(
            "environment layers (platform/, argocd/) not rendered: specs of other shards have errors, which "
            "their shards report",
            file=sys.stderr,
        )
    if shard is not None:
        scopes = shard_scopes(out_root, selected, bool(args.env), result.models, shard, front.layers)
        files = result.tree.files
    elif args.model is not None:
        scopes = _scopes(args, selected)
        files = {k: v for k, v in result.tree.files.items() if any(k.startswith(s + "/") for s in scopes)}
    else:
        scopes = _scopes(args, selected)
        files = result.tree.files
    print_diagnostics(diags, "text")  # warnings, if any
    if getattr(args, "stream", None) is not None:  # --stdout
        text = _model_documents(files, f"{args.env}/{args.model}")
        # Only a render with no errors gets here (a failed policy set is one, M408).
        if getattr(args, "stream_key", ""):
            remember(root, "stdout", args.stream_key, front.ws.platform.crd_schema_dir, (text, list(diags)))
        args.stream.write(text)
        return OK
    shown = _shown(root, out_root)
    # The manifest's stats of a tree found current are taken before it is compared (an edit
    # made meanwhile is then seen by the next render), of a tree written in its staging folder.
    before = recorder.scan(scopes) if recorder is not None else None
    same = recorder.same(before, result.origins) if recorder is not None else set()
    if args.check:
        changes = compare(out_root, scopes, files, before, same)
        for label, paths_ in (("added", changes.added), ("changed", changes.changed), ("removed", changes.removed)):
            for rel in paths_:
                print(f"{label}: {shown}/{rel}")
        if changes:
            print(f"{shown} is out of date: run maestro render", file=sys.stderr)
            return FINDINGS
        if recorder is not None:
            recorder.record(before, result, files, diags)
        print(f"{shown} is current ({len(result.models)} model(s), {result.objects} objects)")
        return OK
    changes = compare(out_root, scopes, files, before, same)
    if changes:
        if recorder is not None:
            recorder.forget()  # a render killed from here on leaves no manifest
        written = write_tree(out_root, scopes, files, changes, before)
        if recorder is not None:
            recorder.record(written, result, files, diags)
    else:
        remove_leftovers(out_root)  # what a killed render left, even when there is nothing to change
        if recorder is not None:
            recorder.record(before, result, files, diags)
    print(summary(len(result.models), len(selected), result.objects, shown, changes, time.monotonic() - started))
    return OK


def _scopes(args: argparse.Namespace, selected: list[str]) -> list[str]:
    """What a render without --shard owns in the output folder (shard_scopes: with it)."""
    if args.model is not None:
        return [f"{env}/{args.model}" for env in selected]
    return selected if args.env else [""]


def _shown(root: Path, out_root: Path) -> str:
    return out_root.relative_to(root).as_posix() if out_root.is_relative_to(root) else display(out_root)


@dataclass
class _Early:
    """What a render reads before anything else: the spec folders, the quick key of its
    inputs (keys.quick_key, without the CRD schemas) and the manifest the last render left."""

    root: Path
    target: Path
    paths: list[tuple[Path, str]]
    quick: str  # "" when the inputs could not be hashed here (the full path says why)
    last: Manifest | None
    folders: dict[tuple[Path, str], str]  # keys.folder_key of the specs hashed, by (path, name shown)

    def unchanged(self, args: argparse.Namespace) -> Manifest | None:
        """The manifest of the last render of the folder when that render had these inputs
        and left the folder as it is now: decided without loading the workspace (no YAML
        parsed, no pydantic imported). Its CRD schema folder and environments are those of
        this render: config's bytes and the MAESTRO_* variables, which name them, are the same."""
        from maestro.keys import with_crd
        from maestro.output.manifest import scan

        last = self.last
        if last is None or not self.quick or with_crd(self.quick, self.root, last.crd) != last.quick:
            return None
        return last if scan(self.target, _scopes(args, last.environments), settle=False) == last.files else None


def _early(args: argparse.Namespace, root: Path, target: Path | None) -> _Early | None:
    """`_Early` for a render that keeps a manifest (not --no-cache, --shard or --stdout)."""
    if target is None or getattr(args, "no_cache", False) or getattr(args, "shard", None) is not None:
        return None
    from maestro.output.manifest import manifest_path, read

    paths = [(p, display(p)) for p in spec_paths(root, [])]
    folders: dict[tuple[Path, str], str] = {}
    quick = quick_key_of(args, root, _read_by(paths, args.model), _selection(args, target), folders)
    return _Early(root, target, paths, quick, read(manifest_path(root, target, _slot(args))), folders)


def _read_by(paths: list[tuple[Path, str]], model: str | None) -> list[tuple[Path, str]]:
    """The spec files (path, name shown) whose bytes a render's outcome depends on. With
    --model M, the spec of specs/M/ alone when there is one: `check_specs_incremental` reads
    no other (at N=1,000, hashing every spec folder twice was a third of `render --model`).
    A render that must read the others, to find M in another folder, fails on M217 (a spec
    lives in the folder named after it) and so records no key."""
    own = [(p, shown) for p, shown in paths if p.parent.name == model] if model is not None else []
    return own or paths


def _slot(args: argparse.Namespace) -> str:
    """Which of the output folder's manifests a render reads and records: its --env and --model."""
    return f"env={args.env or ''} model={args.model or ''}" if args.env or args.model else ""


def _selection(args: argparse.Namespace, target: Path | None) -> list[str]:
    """What, besides the inputs, the outcome of a render depends on: the output folder (None:
    stdout), what of it the render owns, and the working directory (files are named relative
    to it)."""
    return [
        f"out={target}" if target is not None else "stdout",
        f"env={args.env or ''}",
        f"model={args.model or ''}",
        f"cwd={os.getcwd()}",
    ]


@dataclass
class _Recorder:
    """The manifest of this render's output folder (output/manifest.py): the key of its inputs
    and selection; records what the render left, unless it held a symbolic link."""

    path: Path
    target: Path
    key: str
    keys: RunKeys
    quick: str = ""  # keys.quick_key with the CRD schemas; "" when not computed
    crd: str | None = None
    environments: list[str] = field(default_factory=list)
    last: Manifest | None = None  # what the last render of the folder recorded, whatever its key
    ahead: Ahead | None = None  # the scan this render will want, under way

    def scan(self, scopes: list[str], *, settle: bool = True) -> Stats | None:
        from maestro.output.manifest import scan

        ahead = self.ahead
        if ahead is not None and settle and scopes == ahead.scopes:
            self.ahead = None
            return ahead.result()
        return scan(self.target, scopes, settle=settle)

    def forget(self) -> None:
        from maestro.output.manifest import forget

        forget(self.path)

    def same(self, now: Stats | None, origins: dict[str, str]) -> set[str]:
        """The files that hold the bytes this render makes, known without reading them: made
        by a part of the same key as when the last render recorded them, and not touched since."""
        last = self.last
        if now is None or last is None:
            return set()
        return {
            rel
            for rel, key in origins.items()
            if last.origins.get(rel) == key and rel in now and now[rel] == last.files.get(rel)
        }

    def record(
        self, stats: Stats | None, result: Rendered, files: Mapping[str, bytes], diags: list[Diagnostic]
    ) -> None:
        from maestro.output.manifest import Manifest, write

        if stats is not None:
            origins = {rel: result.origins[rel] for rel in files if rel in result.origins}
            write(
                self.path,
                Manifest(
                    self.key,
                    stats,
                    len(result.models),
                    result.objects,
                    list(diags),
                    origins,
                    self.quick,
                    self.crd,
                    self.environments,
                ),
            )


def _unchanged(args: argparse.Namespace, root: Path, out_root: Path, envs: int, last: Manifest, started: float) -> int:
    """A render whose inputs and output folder are those the manifest `last` recorded: what
    that render printed, without reading a spec, a cache entry or an output file."""
    from maestro.output.emit import Changes, remove_leftovers

    diags = list(last.diagnostics)
    if exit_code(diags, args.strict):
        print_diagnostics(diags, "text")
        print("nothing written: fix the errors above", file=sys.stderr)
        return FINDINGS
    print_diagnostics(diags, "text")  # warnings, if any
    shown = _shown(root, out_root)
    if args.check:
        print(f"{shown} is current ({last.models} model(s), {last.objects} objects)")
        return OK
    remove_leftovers(out_root)  # what a killed render left, even when there is nothing to change
    print(summary(last.models, envs, last.objects, shown, Changes([], [], []), time.monotonic() - started))
    return OK


def shard_scopes(
    out_root: Path, envs: list[str], one_env: bool, models: set[str], shard: tuple[int, int], layers: bool
) -> list[str]:
    """What shard I of N owns in the output folder, so that the shards together own exactly
    what a full render does: each model folder (rendered or left on disk) by `shard_of` its
    name; shard 1 the environment layers and whatever else a full render would remove."""
    from maestro.names import ARGOCD_FOLDER, PLATFORM_FOLDER
    from maestro.pipeline import shard_of

    index, count = shard
    scopes = []
    for env in envs:
        names = set(models)
        if (out_root / env).is_dir():
            names |= {p.name for p in (out_root / env).iterdir()}
        for name in sorted(names):
            if name in (PLATFORM_FOLDER, ARGOCD_FOLDER) or not (name in models or (out_root / env / name).is_dir()):
                owner = 1 if layers else 0  # shard 1's; nobody's when it could not render the layers
            else:
                owner = shard_of(name, count)
            if owner == index:
                scopes.append(f"{env}/{name}")
    if index == 1 and not one_env and out_root.is_dir():
        scopes += sorted(p.name for p in out_root.iterdir() if p.name not in envs)
    return scopes


def _reader(out_root: Path) -> Callable[[str, str], Any]:
    from maestro.output.emit import read_objects

    return lambda env, model: read_objects(out_root, f"{env}/{model}")


def summary(models: int, envs: int, objects: int, shown: str, changes: Any, seconds: float) -> str:
    """The one line a render ends with: what it covered, what it changed, how long it took."""
    changed = len(changes.added) + len(changes.changed) + len(changes.removed)
    return (
        f"rendered {models} model(s) in {envs} environment(s), {objects} objects into {shown}: "
        f"{changed} file(s) changed ({len(changes.added)} added, {len(changes.changed)} changed, "
        f"{len(changes.removed)} removed) in {seconds:.1f} s"
    )


def _render_stdout(args: argparse.Namespace) -> int:
    """`render --stdout --env E --model M`: one model's objects as multi-document YAML on
    stdout (what an Argo CD Config Management Plugin's `generate` prints); diagnostics go
    to stderr and nothing is written."""
    import contextlib

    if args.env is None or args.model is None:
        raise UsageError("render --stdout needs --env E and --model M (it prints one model's objects)")
    if args.out or args.check:
        raise UsageError("render --stdout writes no files: it does not combine with --out or --check")
    root = repo_root(args)
    key = "" if getattr(args, "no_cache", False) else _stream_key(args, root)
    # What the same inputs printed, decided before anything is parsed: an Argo CD repo-server
    # calls the plugin for every Application on every refresh (no pydantic, no YAML parsed).
    printed = recall(root, "stdout", key) if key else None
    if printed is not None:
        text, diags = printed
        with contextlib.redirect_stdout(sys.stderr):
            print_diagnostics(diags, "text")  # warnings, if any
            if exit_code(diags, args.strict):  # --strict is not in the key
                print("nothing written: fix the errors above", file=sys.stderr)
                return FINDINGS
        sys.stdout.write(text)
        return OK
    inner = argparse.Namespace(**{**vars(args), "stdout": False, "stream": sys.stdout, "stream_key": key})
    with contextlib.redirect_stdout(sys.stderr):
        return command(inner)


def _stream_key(args: argparse.Namespace, root: Path) -> str:
    """The quick key (`quick_key_of`) of `render --stdout --env E --model M`: the bytes of everything
    but the extra CRD schemas, with the spec folder of M alone (`_read_by`; found without
    listing every spec folder). "" when M has no folder of its own (the render then fails on
    M217) or an input cannot be hashed here."""
    from maestro.layout import SPEC_FILE, SPECS_DIR

    spec = root / SPECS_DIR / args.model / SPEC_FILE
    return quick_key_of(args, root, [(spec, display(spec))], _selection(args, None)) if spec.is_file() else ""


def _model_documents(files: Mapping[str, bytes], prefix: str) -> str:
    """The objects of one rendered model folder, in its kustomization's order: each file is
    one object as `serialize.dump` wrote it, so the stream is the files' own bytes (parsing
    and dumping them again was half of a plugin call from the cache: 0.5 s of 1.0 s)."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    listed = yaml.load(files[f"{prefix}/kustomization.yaml"].decode("utf-8"))["resources"]
    return "".join("---\n" + files[f"{prefix}/{name}"].decode("utf-8") for name in listed)


PROGRESS_AFTER = 1.0  # seconds: a render that takes longer shows a progress bar on a terminal


class _Progress:
    """A progress bar on stderr that appears only once rendering has taken PROGRESS_AFTER
    seconds (a quick render prints nothing but its summary), and only on a terminal."""

    def __init__(self, total: int, started: float) -> None:
        self.total, self.started, self.done = total, started, 0
        self.bar: Any = None

    def advance(self) -> None:
        self.done += 1
        if self.bar is None and time.monotonic() - self.started > PROGRESS_AFTER and self.done < self.total:
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=True)  # stdout keeps the summary
            self.bar.start()
            self.task = self.bar.add_task("rendering", total=self.total, completed=self.done)
        elif self.bar is not None:
            self.bar.advance(self.task)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _render_with_progress(front: Incremental, jobs: int, elsewhere: Any = None, files: Any = None) -> Rendered:
    """Render every model and environment not in the cache; a progress bar on a terminal once it takes a while."""
    from maestro.pipeline import render_incremental, verifier_for

    started = time.monotonic()
    verifier = verifier_for(front.ws)
    if not sys.stderr.isatty():
        return render_incremental(front, verifier, jobs, elsewhere=elsewhere, files=files)
    progress = _Progress(sum(len(r.envs) for r in front.records), started)
    try:
        return render_incremental(front, verifier, jobs, progress=progress.advance, elsewhere=elsewhere, files=files)
    finally:
        progress.stop()
