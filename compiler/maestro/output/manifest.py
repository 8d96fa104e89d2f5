"""What the last render left in an output folder, so that a render of the same inputs can
tell from file-system metadata alone that there is nothing to do (a no-op render).

A full compare reads every file of the tree (~100,000 files at N=1,000 models, seconds). A
render that wrote an output folder, or found it current, records beside the cache
(`.maestro/manifests/`, one file per output folder and selection: `manifest_path`) a
`Manifest`: the key of everything the render was computed from (every spec folder's bytes,
the inputs of `pipeline.inputs_key`, the selection) and the stat of every file in the scopes
it owns (size, mtime in ns, inode). A later render with the same key whose scan
(`os.scandir` and `lstat`, no reads) gives the same stats has nothing to write, and its
findings and counts are the recorded ones.

The manifest also records the quick key (`maestro.keys.quick_key`): the same inputs hashed
from their bytes, with no parsing, before the render loads anything. A render whose quick key
and scan match decides it is a no-op without loading the workspace (no YAML parsed, pydantic
not imported); one whose quick key differs takes the path above, which may still find the run
key unchanged (an overlay of an environment not selected changed): it records the new quick key.

Anything else falls back to the full path: a file edited by hand changes its mtime (and its
inode when an editor saves by renaming), a removed or added file changes the listing, a
changed input changes the key. Not seen: an edit that restores the file's mtime on purpose
(`touch -r`) with the same size and inode, as for git's index and make.

Truthful however a render ends: the manifest is removed before a render writes the tree and
written (atomically, checksummed like a cache entry) only after the new tree is in place;
the stats of a tree the render wrote are taken in its staging folder before the swap (a
rename keeps them), so an edit made after the swap is seen; the stats of a tree found
current are taken before it is compared, so an edit made during the compare is seen. Read
and written under the output lock (output/lock.py), like the tree itself.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from dataclasses import dataclass, fields
from pathlib import Path

from maestro.cache import read_entry, write_entry
from maestro.diagnostics import Diagnostic
from maestro.forked import Forked

MANIFEST_DIR = Path(".maestro") / "manifests"

Stats = dict[str, tuple[int, int, int]]  # relative path -> (size, mtime_ns, inode)


@dataclass(frozen=True)
class Manifest:
    key: str  # everything the render was computed from, and its selection
    files: Stats  # every file within the scopes, as the render left them
    models: int
    objects: int
    diagnostics: list[Diagnostic]  # what the render printed (warnings)
    # file -> the key of the part that made it (pipeline.Rendered.origins): a file whose stats
    # and part key are unchanged holds the bytes the part makes, without being read
    origins: dict[str, str]
    # The same inputs hashed from their bytes alone, before the workspace is loaded
    # (keys.quick_key, with the extra CRD schemas of `crd`); "" when not computed (never matches)
    quick: str
    crd: str | None  # config's crd_schema_dir as the render read it
    environments: list[str]  # those the render covered (its scopes, its summary line)


_FIELDS = {f.name for f in fields(Manifest)}


def manifest_path(repo: Path, target: Path, selection: str = "") -> Path:
    """Where the manifest of output folder `target` (resolved) is kept in repository `repo`,
    for renders of `selection` (what of the folder they own: --env, --model).

    One per selection: a render of one model records the stats of that model's files only,
    and must not replace what a render of the whole folder recorded of every other file (the
    next whole render would read all of them again: 3.4 s at N=1,000). Another selection's
    render may change files of this one's: every decision a manifest makes requires the
    stats it recorded to be those on disk, so such files are read again, nothing else."""
    name = os.fsencode(target) + b"\0" + selection.encode("utf-8")
    return repo / MANIFEST_DIR / hashlib.sha256(name).hexdigest()[:32]


def read(path: Path) -> Manifest | None:
    value = read_entry(path)
    # one pickled by an older Maestro may lack a field: none
    return value if isinstance(value, Manifest) and set(vars(value)) == _FIELDS else None


def write(path: Path, manifest: Manifest) -> None:
    """Record `manifest` atomically; a disk that refuses only loses it (the next render compares)."""
    write_entry(path, manifest)


def forget(path: Path) -> None:
    """Remove the manifest before the tree changes: a render killed after that leaves none."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def scan(root: Path, scopes: list[str], *, settle: bool = True) -> Stats | None:
    """The stats of every file under `root` within `scopes` (a scope "" is the whole root,
    else a path below it), without reading any. None when something there is neither a
    regular file nor a folder (a symbolic link: the compare decides what it means).

    With `settle` (stats to record): none is taken in the clock tick of its file's mtime.
    File times come from a clock that ticks every few ms (ext4: the kernel's coarse clock),
    so a file written in the tick it was scanned in could be written again, to the same
    size, with the same mtime: a manifest must not vouch for it (git's "racy clean" entries,
    Documentation/technical/racy-git.txt). Such files are scanned again once their tick is past."""
    started = time.time_ns()
    out: Stats = {}
    for scope in scopes:
        top = os.path.join(root, scope) if scope else os.fspath(root)
        try:
            st = os.lstat(top)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode):
            out[scope] = (st.st_size, st.st_mtime_ns, st.st_ino)
        elif not stat.S_ISDIR(st.st_mode) or not _scan_dir(top, f"{scope}/" if scope else "", out):
            return None
    return _settled(root, out, started) if settle else out


class Ahead(Forked[Stats | None]):
    """`scan(root, scopes)` (settled), made in a forked process from now on, while this one
    renders: its 100,000 `lstat` calls at N=1,000 (0.5-1 s) then cost no time of a one-spec
    render. Fork early, while the process is small."""

    def __init__(self, root: Path, scopes: list[str]) -> None:
        self.scopes = scopes
        super().__init__(lambda: scan(root, scopes))


_TICK_NS = 20_000_000  # twice the coarsest kernel clock tick (HZ=100): file systems with ns times
_SECOND_NS = 1_000_000_000


def _grain(mtime_ns: int) -> int:
    """How long after `mtime_ns` a write may still get the same mtime: a file system that keeps
    whole seconds only (a time with no fraction, most likely) takes two seconds (FAT: 2 s)."""
    return 2 * _SECOND_NS if mtime_ns % _SECOND_NS == 0 else _TICK_NS


def restat(root: Path, rels: list[str]) -> Stats | None:
    """The settled stats of the files `rels` under `root` (None as for `scan`)."""
    started = time.time_ns()
    out = _stat_files(root, rels)
    return None if out is None else _settled(root, out, started)


def _stat_files(root: Path, rels: list[str]) -> Stats | None:
    """The stats of the regular files `rels` under `root`; None if one is gone or not a file."""
    out: Stats = {}
    for rel in rels:
        try:
            st = os.lstat(os.path.join(root, rel))
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        out[rel] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return out


def _settled(root: Path, stats: Stats, started: int) -> Stats | None:
    for _ in range(3):
        racy = [rel for rel, (_, mtime, _) in stats.items() if mtime + _grain(mtime) > started]
        if not racy:
            return stats
        wait = max(stats[rel][1] + _grain(stats[rel][1]) for rel in racy) - time.time_ns()
        if wait > 2 * _SECOND_NS + _TICK_NS:  # a time in the future (clock skew): vouch for nothing
            return None
        if wait > 0:
            time.sleep(wait / _SECOND_NS)
        started = time.time_ns()
        again = _stat_files(root, racy)
        if again is None:
            return None
        stats.update(again)
    return None  # still being written: nothing to vouch for


def _scan_dir(path: str, prefix: str, out: Stats) -> bool:
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if not _scan_dir(entry.path, f"{prefix}{entry.name}/", out):
                    return False
            elif entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                out[prefix + entry.name] = (st.st_size, st.st_mtime_ns, st.st_ino)
            else:
                return False
    return True
