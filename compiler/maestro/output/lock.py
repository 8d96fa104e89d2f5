"""One writer per output folder: an OS file lock beside it, held for a whole render.

Two renders of one folder at once lost files (issue 14): the second deleted the first's
staging folder, which then swapped in a partial tree. Renders of one output root therefore
serialize on a POSIX record lock (`fcntl.lockf`) of `.<name>.lock` beside the root (never
inside it: the root is swapped as a whole). The kernel releases the lock when its process
ends however it ends, so a killed render never blocks the next one, and whoever holds the
lock knows that any `.<name>.staging-*` folder is stale (its owner would hold the lock).

The lock is taken before the inputs are read: a render that read older inputs must not
write after one that read newer ones. `render --check` takes it shared (it waits for a
writer to finish, and writers wait for it); where the lock file cannot be created (a
read-only checkout) nobody can write either, and the check runs without it.

POSIX record locks belong to the process: a forked policy worker does not inherit them,
and closing *any* descriptor of the file drops them, so the file is opened once per process
and the lock is re-entrant here rather than taken twice. Only the process that took the lock
writes: a forked worker (policy sandbox, `render --jobs`) inherits this module's record of it
but not the lock, so asking for it there is refused instead of pretending to hold it (and
waiting for it would wait for the parent, which waits for the worker).
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from maestro.errors import environment_problem

_held: dict[Path, list[int]] = {}  # lock file -> [descriptor, depth, pid of the holder]


def lock_path(root: Path) -> Path:
    """The lock file of an output root (already resolved)."""
    return root.parent / f".{root.name}.lock"


@contextmanager
def output_lock(root: Path, *, shared: bool = False, on_wait: Callable[[], None] | None = None) -> Iterator[bool]:
    """Hold the lock of output root `root` (resolved) for the block; yields whether a lock is
    held (False only for a shared lock on a folder nobody can write). `on_wait` runs once
    when another process holds the lock and this one is about to wait for it."""
    path = lock_path(root)
    if path in _held:
        if _held[path][2] != os.getpid():
            raise RuntimeError(
                f"the lock {path} is held by process {_held[path][2]}, not by this forked process {os.getpid()}: "
                "only the process that took it may write the output folder"
            )
        _held[path][1] += 1
        try:
            yield True
        finally:
            _held[path][1] -= 1
        return
    try:
        if not shared:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if shared and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT):
            yield False
            return
        problem = environment_problem(exc, f"creating the lock file {path}")
        if problem is None:
            raise
        raise problem from None
    kind = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    try:
        try:
            fcntl.lockf(fd, kind | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            if on_wait is not None:
                on_wait()
            fcntl.lockf(fd, kind)
        _held[path] = [fd, 1, os.getpid()]
        yield True
    finally:
        _held.pop(path, None)
        os.close(fd)  # releases the lock (and would release any other of this process on the file)
