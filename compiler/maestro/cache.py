"""A content-addressed store of render results under `.maestro/cache/` (ignored by git).

An entry's key is a digest of every input that can change the value (the pipeline decides
which: `Digest` hashes them); the value is stored under that key and never changed. So:

- a stale entry cannot be read: changed inputs make another key;
- concurrent renders are safe without a lock: two writers of one key write the same bytes,
  each to its own temporary file, and `os.replace` makes one of them the entry atomically;
- a killed process leaves at most a temporary file (`.tmp-*`, never read, removed when old);
- a damaged entry (a torn write after a crash, a disk error) fails its checksum and is a
  miss, never an error;
- it does not grow without bound: an entry read is marked used (its mtime, at most once a
  day), and `prune` removes what no render used for `UNUSED_DAYS` days. A render of the
  whole tree prunes, at most once a day, after it has read every entry the current inputs
  need; an entry removed under a concurrent render is a miss there, which recomputes it.

Values are pickled: the cache holds what this user's own renders wrote into their own
checkout, with the same trust as the checkout itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import stat
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CACHE_DIR = Path(".maestro") / "cache"
_MAGIC = b"maestro-cache-1\n"
_STALE_TMP_SECONDS = 3600
_DAY = 86400
UNUSED_DAYS = 7  # another branch's entries survive a week of work elsewhere
_PRUNED = ".pruned"  # its mtime: when the cache was last pruned


class Digest:
    """An incremental sha256 over labelled parts: `Digest().add("spec", data).hexdigest()`.

    Each part is length-prefixed, so ("ab", "c") and ("a", "bc") never collide."""

    def __init__(self, *parts: str | bytes) -> None:
        self._h = hashlib.sha256()
        for p in parts:
            self.add(p)

    def add(self, *parts: str | bytes) -> Digest:
        for part in parts:
            data = part.encode("utf-8") if isinstance(part, str) else part
            self._h.update(len(data).to_bytes(8, "little"))
            self._h.update(data)
        return self

    def add_tree(self, root: Path, label: str = "") -> Digest:
        """Every file under `root` (path and bytes), in sorted order; a missing root hashes as
        absent (different from an empty folder). A file that is not a regular one, where a
        link leads too (a FIFO, a device: reading one may wait forever or never end), hashes
        as its type: the command that reads it reports it."""
        self.add("tree", label)
        if not root.exists():
            return self.add("absent")
        if not root.is_dir():
            return self.add("file", _content(root))
        for path in sorted(_files(root)):
            self.add(path.relative_to(root).as_posix(), _content(path))
        return self

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def _content(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
    except OSError as exc:  # a dangling link, a loop: its reader says so
        return f"unreadable: {exc.errno}".encode()
    return path.read_bytes() if stat.S_ISREG(mode) else f"not a regular file: {stat.S_IFMT(mode):o}".encode()


def _files(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")]
        for name in filenames:
            if not name.endswith((".pyc", ".pyo")):
                yield Path(dirpath) / name


class Cache:
    """Get and put pickled values by key under `<root>/.maestro/cache/`."""

    def __init__(self, root: Path) -> None:
        self.dir = root / CACHE_DIR
        self._dir = os.fspath(self.dir)
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> str:
        # a string, not a Path: a one-spec render at N=1,000 names 14,000 entries
        return os.path.join(self._dir, key[:2], key[2:])

    def has(self, key: str) -> bool:
        """Whether an entry is stored under `key` (`get` may still find it damaged)."""
        return os.path.isfile(self._path(key))

    def get(self, key: str) -> Any:
        """The value stored under `key`, or None (a miss, also for a damaged entry); marks it used."""
        value = read_entry(self._path(key), used=True)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def keep(self, key: str) -> None:
        """Mark the entry of `key` used without reading it (one read with the entry it goes with)."""
        _mark_used(self._path(key))

    def put(self, key: str, value: Any) -> None:
        """Store `value` under `key`; a full or read-only disk only loses the entry."""
        write_entry(Path(self._path(key)), value)

    def prune(self, days: float = UNUSED_DAYS, every: float = _DAY) -> int:
        """Remove the entries no render used for `days` days, and the temporary files killed
        processes left (older than an hour); at most once every `every` seconds. The number
        of files removed."""
        now = time.time()
        stamp = self.dir / _PRUNED
        try:
            if now - stamp.stat().st_mtime < every:
                return 0
        except OSError:
            pass
        removed = 0
        unused, stale_tmp = now - days * _DAY, now - _STALE_TMP_SECONDS
        with contextlib.suppress(OSError):
            for sub in os.scandir(self.dir):
                if not sub.is_dir(follow_symlinks=False):
                    continue
                for entry in os.scandir(sub.path):
                    with contextlib.suppress(OSError):
                        st = entry.stat(follow_symlinks=False)
                        tmp = entry.name.startswith(".tmp-")
                        if st.st_mtime < (stale_tmp if tmp else unused):
                            os.unlink(entry.path)
                            removed += 1
            stamp.touch()
        return removed


def read_entry(path: Path | str, used: bool = False) -> Any:
    """The value of the entry file `path`, or None when it is missing, damaged (torn write,
    disk error: its checksum fails) or was pickled by another version of a class. With
    `used`, an entry last marked used more than a day ago is marked again (`Cache.prune`)."""
    if used:
        _mark_used(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    head = len(_MAGIC) + 32
    body = raw[head:]
    if raw[: len(_MAGIC)] != _MAGIC or hashlib.sha256(body).digest() != raw[len(_MAGIC) : head]:
        return None
    try:
        return pickle.loads(body)
    except Exception:  # a value pickled by another version of a class: a miss
        return None


def _mark_used(path: Path | str) -> None:
    """Set the entry's mtime to now unless that was done within a day (`Cache.prune`); a
    missing entry, or a read-only checkout (never pruned by us either), is left alone."""
    with contextlib.suppress(OSError):
        if time.time() - os.stat(path).st_mtime > _DAY:
            os.utime(path)


def write_entry(path: Path, value: Any) -> None:
    """Write the entry file `path` atomically (a temporary file, then `os.replace`); a full or
    read-only disk only loses the entry."""
    body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    tmp = path.parent / f".tmp-{os.getpid()}-{path.name[:16]}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(_MAGIC + hashlib.sha256(body).digest() + body)
        os.replace(tmp, path)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
