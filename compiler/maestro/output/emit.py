"""Emit: objects -> a deterministic file tree, written atomically, or compared (--check).

The only stage that writes. A render produces the complete content of its *scope* (the
whole output root, one environment, or one model's folders) as `{relative path: bytes}`;
`write_tree` makes the output root hold exactly that within the scope, all at once: the
new tree is staged beside the old one and swapped in with one `renameat2(RENAME_EXCHANGE)`
(a plain rename pair where the kernel lacks it), so a failure or a kill leaves the
previous tree as it was.

The tree a swap takes out is kept beside the root as its *spare* (`_Spare`), with the inode
of each of its files: most are hard links to the current tree's own files, so the next write
brings it to the new tree by touching only the files that differ, and swaps it in.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maestro.cache import read_entry, write_entry
from maestro.diagnostics import CODES, Diagnostic, error
from maestro.errors import EnvironmentProblem, environment_problem
from maestro.names import ARTIFACT_DIR
from maestro.output.lock import output_lock
from maestro.output.manifest import Stats, restat, scan
from maestro.serialize import dump

CODES.update(
    {
        "M701": "unsafe output path",
        "M702": "two objects render to the same file",
        "M703": "output folder is not a rendered tree",
    }
)

_SAFE_SEGMENT = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SAFE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def file_name(resource: dict[str, Any]) -> str:
    return f"{resource['kind'].lower()}-{resource['metadata']['name']}.yaml"


def kustomization(files: Iterable[str]) -> str:
    return dump({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": sorted(files)})


@dataclass
class Tree:
    """Files of a render, relative to the output root."""

    files: MutableMapping[str, bytes] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def add(self, rel: str, text: str, source: str = "") -> None:
        parts = rel.split("/")
        if any(not _SAFE_SEGMENT.match(p) for p in parts[:-1]) or not _SAFE_FILE.match(parts[-1]):
            self.diagnostics.append(
                error("M701", f"refusing to write '{rel}': not a safe path inside the output folder", file=source)
            )
            return
        if rel in self.files:
            self.diagnostics.append(
                error(
                    "M702",
                    f"two objects render to {rel}",
                    file=source,
                    hint="object names must be unique per kind within a model",
                )
            )
            return
        self.files[rel] = text.encode("utf-8")


def folder(
    tree: Tree,
    prefix: str,
    resources: list[dict[str, Any]],
    source: str = "",
    dumped: Sequence[str] | None = None,
) -> None:
    """A kustomize-buildable folder: one file per object (`dump`ed, or its text in `dumped`)
    plus kustomization.yaml; text artifacts carried by annotated ConfigMaps are mirrored as
    plain files beside them."""
    names = []
    for i, res in enumerate(resources):
        name = file_name(res)
        names.append(name)
        tree.add(f"{prefix}/{name}", dump(res) if dumped is None else dumped[i], source)
        art = (res.get("metadata", {}).get("annotations") or {}).get(ARTIFACT_DIR)
        if res.get("kind") == "ConfigMap" and art:
            for key, text in sorted((res.get("data") or {}).items()):
                tree.add(f"{prefix}/{art}/{key}", text, source)
    tree.add(f"{prefix}/kustomization.yaml", kustomization(names), source)


class Spool(MutableMapping[str, bytes]):
    """The files of a render kept on disk instead of in memory (a full tree at N=1,000 is
    ~250 MB): `render` adds each model's folder as it is rendered, and `compare` and
    `write_tree` read the files back one at a time. One anonymous temporary file (unlinked
    from the start: nothing is left behind, however the process ends), appended to."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="maestro-spool-")
        # rel -> (offset, length), or the loader of a deferred group of files (`defer`)
        self._at: dict[str, tuple[int, int] | Callable[[], Mapping[str, bytes]]] = {}
        self._end = 0

    def __setitem__(self, rel: str, data: bytes) -> None:
        written = 0
        while written < len(data):
            written += os.pwrite(self._file.fileno(), data[written:], self._end + written)
        self._at[rel] = (self._end, len(data))
        self._end += len(data)

    def defer(self, rels: Iterable[str], load: Callable[[], Mapping[str, bytes]]) -> None:
        """Hold files `rels` whose bytes `load` gives (all of them, once) when one is first read:
        a render from the cache names every file of the tree, and after a one-spec change
        reads almost none (the manifest vouches for them; output/manifest.py)."""
        for rel in rels:
            self._at[rel] = load

    def __getitem__(self, rel: str) -> bytes:
        at = self._at[rel]
        if callable(at):
            for name, data in at().items():
                if self._at.get(name) is at:
                    self[name] = data
            at = self._at[rel]
            assert not callable(at), f"{rel} is not among the files its loader gives"
        offset, length = at
        return os.pread(self._file.fileno(), length, offset)

    def __delitem__(self, rel: str) -> None:
        del self._at[rel]  # the bytes stay in the file until it is closed

    def __contains__(self, rel: object) -> bool:
        return rel in self._at

    def __iter__(self) -> Iterator[str]:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)

    def close(self) -> None:
        self._file.close()
        self._at = {}

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------ disk


def _in_scope(rel: str, scopes: list[str]) -> bool:
    return any(s == "" or rel == s or rel.startswith(s + "/") for s in scopes)


def read_tree(root: Path, scopes: list[str]) -> dict[str, bytes]:
    return {rel: (root / rel).read_bytes() for rel in tree_paths(root, scopes)}


def tree_paths(root: Path, scopes: list[str]) -> list[str]:
    """The files under `root` within `scopes`, relative, sorted (symbolic links left out)."""
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            rel = path.relative_to(root).as_posix()
            if _in_scope(rel, scopes):
                out.append(rel)
    return out


def read_objects(root: Path, prefix: str) -> list[dict[str, Any]] | None:
    """The objects of the rendered folder `root/prefix` as written, in its kustomization's
    order; None when there is no such folder (or it is not one Maestro wrote). `dump`
    writes YAML 1.1 with every ambiguous string quoted, so loading gives the objects back.
    Also None when a launched run is embedded in a ConfigMap (output/embed.py): embedding
    drops its launch annotations, so the run as the link stage saw it cannot be read back."""
    import yaml

    from maestro.render.launch import JOB_FILE

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        listed = yaml.load((root / prefix / "kustomization.yaml").read_bytes(), Loader=loader)["resources"]
        objects = [yaml.load((root / prefix / name).read_bytes(), Loader=loader) for name in listed]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None
    if not all(isinstance(o, dict) for o in objects):
        return None
    embedded = any(o.get("kind") == "ConfigMap" and JOB_FILE in (o.get("data") or {}) for o in objects)
    return None if embedded else objects


@dataclass(frozen=True)
class Changes:
    added: list[str]
    changed: list[str]
    removed: list[str]

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def compare(
    root: Path,
    scopes: list[str],
    files: Mapping[str, bytes],
    current: Collection[str] | None = None,
    same: Collection[str] = (),
) -> Changes:
    """What writing `files` would change under `root` within `scopes`. `current`: the files
    there (`tree_paths`, when not given); `same`: files known to hold their bytes already
    (not read: a render knows them from output/manifest.py)."""
    here = set(tree_paths(root, scopes) if current is None else current)
    return Changes(  # read one file at a time: a tree can be large
        added=sorted(set(files) - here),
        changed=sorted(k for k in files if k in here and k not in same and (root / k).read_bytes() != files[k]),
        removed=sorted(here - set(files)),
    )


def check_output_root(root: Path, repo: Path) -> Diagnostic | None:
    """Refuse to treat a folder that holds other things (a repository, a home) as output."""
    resolved = root.resolve()
    if (
        resolved == Path(resolved.anchor)
        or repo.resolve().is_relative_to(resolved)
        or (resolved / ".git").exists()
        or (resolved / "config" / "platform.yaml").exists()
    ):
        return error(
            "M703",
            f"refusing to write into {root}: it holds more than a rendered tree",
            hint="use an empty folder or the repository's rendered/",
        )
    return None


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def output_target(root: Path) -> Path:
    """The folder a render writes: `root`, or what it links to. A symbolic link is written
    through (its target is replaced, the link stays); a dangling one is refused."""
    root = root.absolute()
    if root.is_symlink():
        target = root.resolve()
        if not target.is_dir():
            raise EnvironmentProblem(
                f"{root} is a symbolic link to {target}, which is not a folder: create the folder, or remove the link"
            )
        return target
    return root


def write_tree(
    root: Path,
    scopes: list[str],
    files: Mapping[str, bytes],
    changes: Changes | None = None,
    before: Stats | None = None,
) -> Stats | None:
    """Make `root` hold exactly `files` within `scopes` (and leave the rest), atomically.
    Returns the stats of the files within `scopes` as swapped in (`output/manifest.scan`).

    With `changes` (`compare` of these files, under the lock) and `before` (the scan of the
    scopes before that compare: only files and folders there), only the changed files are
    written: in the spare tree the last swap took out (`_Spare`), which holds the rest as
    hard links already, or else in a staging folder where the rest of the old tree is
    hard-linked (linking frees no data: ~50x cheaper than writing it again).

    Holds the output lock (re-entrant: the render command already holds it from before it
    read its inputs), removes what killed renders left (nobody else can own it while the lock
    is held), stages the new tree beside the old one and swaps it in. An error of the machine
    (full disk, read-only, busy mount) is an `EnvironmentProblem`; the old tree is unchanged."""
    root = output_target(root)
    try:
        with output_lock(root):
            return _write_locked(root, scopes, files, changes if before is not None else None, before)
    except OSError as exc:
        problem = environment_problem(exc, f"writing {root}")
        if problem is None:
            raise
        raise EnvironmentProblem(f"{problem} (nothing was changed in {root})") from None


def remove_leftovers(root: Path) -> None:
    """Remove the staging and old folders killed renders left beside `root`. A render that
    changes nothing calls this too: else what a killed render left would stay until the
    inputs change. Takes the output lock (re-entrant), which makes every such folder stale."""
    root = output_target(root)
    try:
        with output_lock(root):
            _remove_leftovers(root)
    except OSError as exc:
        problem = environment_problem(exc, f"removing what an interrupted render left beside {root}")
        if problem is None:
            raise
        raise problem from None


def _remove_leftovers(root: Path) -> None:
    for prefix in (f".{root.name}.staging-", f".{root.name}.old-"):
        for stale in root.parent.glob(prefix + "*"):  # left by a killed render: we hold the lock
            _remove(stale)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _refuse_links(root: Path, staging: Path, rel: str) -> None:
    """A link inside the old tree (kept by a partial render) must not carry a removal or the
    new files somewhere else: no folder on the way to `rel` may be a symbolic link."""
    parts = rel.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        if (staging / "/".join(parts[:i])).is_symlink():
            raise EnvironmentProblem(
                f"{root / '/'.join(parts[:i])} is a symbolic link; maestro writes only real folders inside the "
                "output folder: remove the link and render again"
            )


def _link_tree(src: str, dst: str) -> None:
    """Copy the tree `src` to `dst` as hard links (symbolic links as links)."""
    os.mkdir(dst)
    with os.scandir(src) as entries:
        for entry in entries:
            to = os.path.join(dst, entry.name)
            if entry.is_dir(follow_symlinks=False):
                _link_tree(entry.path, to)
            elif entry.is_symlink():
                os.symlink(os.readlink(entry.path), to)
            else:
                os.link(entry.path, to, follow_symlinks=False)


def _prune(staging: Path, rel: str) -> None:
    """Remove the folders a removed file leaves empty (a full write would not make them)."""
    folder = (staging / rel).parent
    while folder != staging:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _write_locked(
    root: Path, scopes: list[str], files: Mapping[str, bytes], changes: Changes | None, before: Stats | None
) -> Stats | None:
    if os.path.ismount(root):
        raise EnvironmentProblem(
            f"{root} is a mount point: maestro replaces the output folder atomically by renaming, which a mount "
            f"point does not allow; write into a folder inside it (--out {root}/rendered)"
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(root)
    spare = _Spare(root)
    full = None  # every file of the current tree, with its inode: what the spare must hold
    if changes is not None and before is not None and root.is_dir() and not root.is_symlink():
        full = before if scopes == [""] else scan(root, [""], settle=False)
        known = spare.files(os.lstat(root).st_dev) if full is not None else None
        # A spare sharing too few files (the tree replaced by a render without the cache, a
        # checkout) is copied afresh below.
        if full is not None and known is not None and not _stale(known, full):
            return _swap_spare(root, spare, known, full, files, changes, before)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.staging-{os.getpid()}-", dir=root.parent))
    try:
        writes: Iterable[str] = files
        linked = root.is_dir() and (scopes != [""] or changes is not None)
        if linked:
            # Keep what lies outside the scope (and, with `changes`, what is current within
            # it): hard links make this cheap; files are replaced, never modified in place.
            os.rmdir(staging)
            _link_tree(os.fspath(root), os.fspath(staging))
            if changes is None:
                for scope in scopes:
                    _refuse_links(root, staging, scope)
                    _remove(staging / scope)
            else:
                for rel in changes.removed:
                    _refuse_links(root, staging, rel)
                    (staging / rel).unlink()
                    _prune(staging, rel)
                writes = changes.added + changes.changed
        made: set[str] = set()  # folders made in the staging folder (a fresh one holds no link)
        for rel in writes:
            path = staging / rel
            folder = rel.rpartition("/")[0]
            if linked:
                _refuse_links(root, staging, rel)
                if path.is_symlink() or path.exists():
                    _remove(path)  # a link to the old tree's file (or a folder a file replaces)
            if folder not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(folder)
            path.write_bytes(files[rel])
        os.chmod(staging, 0o755)
        # A rename keeps every file's size, mtime and inode: these are the stats after the swap.
        if changes is not None and before is not None:
            fresh = restat(staging, list(writes))
            gone = set(changes.removed) | set(changes.changed)
            stats = None if fresh is None else {k: v for k, v in before.items() if k not in gone} | fresh
        else:
            stats = scan(staging, scopes)
        if not root.exists():
            os.rename(staging, root)
            if scopes == [""] and stats is not None:
                # A new tree: its spare is a copy in hard links (1 s at N=1,000, once); one left
                # from an earlier tree shares none of its files.
                copy = root.with_name(f".{root.name}.staging-{os.getpid()}-spare")
                spare.adopt(copy, {rel: st[2] for rel, st in stats.items()}, made_from=root)
            return stats
        old = _swap(staging, root)
        if full is not None:
            spare.adopt(old, {rel: st[2] for rel, st in full.items()})
        else:
            shutil.rmtree(old)
        return stats
    finally:
        if staging.is_symlink() or staging.exists():
            try:
                _remove(staging)
            except OSError:
                pass  # the next render removes it (it holds the lock then)


@dataclass(frozen=True)
class _SpareState:
    dev: int  # the spare tree folder's device and inode: a folder put there by hand is not it
    ino: int
    files: dict[str, int]  # every file of the spare tree -> its inode


class _Spare:
    """The tree the last swap took out of an output folder, kept beside it in a hidden folder
    (`.<name>.spare/tree`, with a `.gitignore` of `*`), and the inode of every file in it.

    Making the staging folder a hard-link copy of the whole tree cost a one-spec render at
    N=1,000 3 s of its 9: 100,000 links, then as many unlinks, and 12,500 folders made and
    removed. The spare is that copy already made: its files are hard links to the current
    tree's own files but for those the last write changed, so a file whose inode is the one
    the current tree holds has its bytes (a live inode's number is unique on a device), and
    the write touches only the others. Every file of the current tree is scanned (the render
    scans it anyway to compare), so what was edited, added or removed by hand outside the
    render's scope is carried over as the full copy did.

    Trusted while its recorded state stands: the state is removed before the spare is
    changed and written after the swap, so a render killed in between leaves a spare that
    the next write removes and builds again."""

    def __init__(self, root: Path) -> None:
        self.home = root.with_name(f".{root.name}.spare")
        self.tree = self.home / "tree"
        self.state = self.home / "state"

    def files(self, dev: int) -> dict[str, int] | None:
        """The inodes of the spare's files, if it is on device `dev` and its state stands."""
        got = read_entry(self.state)
        try:
            st = os.lstat(self.tree)
        except OSError:
            return None
        if not isinstance(got, _SpareState) or (got.dev, got.ino) != (st.st_dev, st.st_ino) or got.dev != dev:
            return None
        return got.files

    def forget(self) -> None:
        self.state.unlink(missing_ok=True)

    def keep(self, files: dict[str, int]) -> None:
        st = os.lstat(self.tree)
        write_entry(self.state, _SpareState(st.st_dev, st.st_ino, files))

    def adopt(self, tree: Path, files: dict[str, int], made_from: Path | None = None) -> None:
        """Make `tree` (beside the output folder, holding `files`; with `made_from`, first made
        as a hard-link copy of that tree) the spare. Called once the new tree is in place: a
        spare is only a saving, so a disk that refuses one leaves none, and the render stands."""
        try:
            self.forget()
            if made_from is not None:
                _link_tree(os.fspath(made_from), os.fspath(tree))
            if self.home.is_symlink() or self.home.exists():
                _remove(self.home)
            self.home.mkdir()
            (self.home / ".gitignore").write_text("# maestro's spare copy of the output folder: not for git\n*\n")
            os.rename(tree, self.tree)
            self.keep(files)
        except OSError:
            for left in (tree, self.home):
                if left.is_symlink() or left.exists():
                    shutil.rmtree(left, ignore_errors=True)


def _swap_spare(
    root: Path,
    spare: _Spare,
    known: dict[str, int],
    full: Stats,
    files: Mapping[str, bytes],
    changes: Changes,
    before: Stats,
) -> Stats | None:
    """Bring the spare to the new tree (`full`'s files, but for `changes`, made of `files`),
    swap it in, and keep the old tree as the next spare. Returns the stats as `write_tree`."""
    tree = spare.tree
    spare.forget()  # a render killed from here on leaves a spare nobody trusts
    writes = changes.added + changes.changed
    fresh, gone = set(writes), set(changes.removed)
    for rel in known:  # what the new tree lacks, first: a file may stand where a folder goes
        if rel in gone or (rel not in full and rel not in fresh):
            _remove(tree / rel)
            _prune(tree, rel)
    for rel, st in full.items():
        if rel not in gone and rel not in fresh and known.get(rel) != st[2]:
            _replace(tree / rel, link=root / rel)
    for rel in writes:
        _replace(tree / rel, files[rel])
    # A rename keeps every file's size, mtime and inode: these are the stats after the swap.
    written = restat(tree, writes)
    stats = None if written is None else {k: v for k, v in before.items() if k not in gone and k not in fresh} | written
    old = _swap(tree, root)
    if old != tree:
        os.rename(old, tree)
    spare.keep({rel: st[2] for rel, st in full.items()})
    return stats


def _swap(new: Path, root: Path) -> Path:
    """Put the tree `new` in place of `root`; returns where the old tree is now (`new` itself
    after an atomic exchange, else a leftover folder `_remove_leftovers` knows)."""
    if _exchange(new, root):
        return new
    old = root.with_name(f".{root.name}.old-{os.getpid()}")
    os.rename(root, old)
    os.rename(new, root)
    return old


def _stale(known: dict[str, int], full: Stats) -> bool:
    """Whether more than a quarter of the current tree's files are not in the spare: relinking
    them one by one then costs more than a fresh hard-link copy of the tree (N=1,000: 100,000
    files relinked took 11 s, the copy and the removal of the old spare 3 s)."""
    return sum(1 for rel, st in full.items() if known.get(rel) != st[2]) > len(full) // 4


def _replace(path: Path, data: bytes = b"", link: Path | None = None) -> None:
    """Make the file `path` anew, holding `data` or as a hard link to `link`, never writing
    into the file there: in a spare, that file may be a hard link to the current tree's. A
    folder there holds no file (the spare's files are all known): one that a removal by hand
    left empty in an older tree."""
    _remove(path)
    try:
        _make(path, data, link)
    except FileNotFoundError:  # its folder is new
        path.parent.mkdir(parents=True, exist_ok=True)
        _make(path, data, link)


def _make(path: Path, data: bytes, link: Path | None) -> None:
    if link is not None:
        os.link(link, path, follow_symlinks=False)
    else:
        path.write_bytes(data)
