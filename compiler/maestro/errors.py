"""One exception base, one exit-code table, and the one handler that maps an outcome to an exit code.

Exit codes (DESIGN.md "CLI"): 0 ok, 1 findings (invalid spec, policy denial, `--check` drift),
2 usage or environment error, 3 internal error (a bug: the message asks for a report),
130 interrupted (Ctrl-C, as a shell reports SIGINT).

Problems in user input are diagnostics, never exceptions; an exception that ends a command is
a `MaestroError` (whose subclass says which exit code) or a bug. Only `cli.main` calls
`exit_code_for`, so the mapping lives here and nowhere else.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from maestro.diagnostics import Diagnostic

OK = 0
FINDINGS = 1
USAGE = 2  # bad arguments, or an environment (repository, config, git, tracking server) that cannot be used
INTERNAL = 3
INTERRUPTED = 130


class MaestroError(Exception):
    """An outcome that ends a command; `exit_code` says how."""

    exit_code: ClassVar[int] = USAGE


class UsageError(MaestroError):
    """Bad arguments or an unusable environment (exit 2); printed as `maestro: <message>`."""


class UnknownEnvironment(UsageError):
    """An environment that config/platform.yaml does not define (exit 2): the one place its message is written."""

    def __init__(self, env: str, configured: Sequence[str]) -> None:
        super().__init__(f"unknown environment '{env}' (configured: {', '.join(configured)})")


class Unusable(MaestroError):
    """The repository's config, overlays or policies are invalid: nothing can be checked (exit 2).
    Carries the diagnostics that say why, printed in the command's output format."""

    def __init__(self, diags: Sequence[Diagnostic], fmt: str = "text") -> None:
        super().__init__(f"{len(diags)} problem(s) make the repository unusable")
        self.diags, self.fmt = list(diags), fmt


class EnvironmentProblem(UsageError):
    """The machine, not the input or maestro: a full disk, a read-only file system, a busy
    mount, no permission (exit 2). The message says what happened and what to do."""


# errno -> what to do about it. These are facts about the machine a command runs on, never
# bugs in maestro: they exit 2 with this advice, not 3 with a request for a bug report.
_ADVICE = {
    "ENOSPC": "the device is full: free some space (df -h shows which device) and run again",
    "EDQUOT": "the disk quota is used up: free some space and run again",
    "EROFS": "the file system is read-only: run where the repository is writable, or write elsewhere with --out DIR",
    "EBUSY": "it is busy, e.g. a mount point, which cannot be replaced by renaming: write into a folder inside it "
    "(--out DIR/rendered) or unmount it",
    "EACCES": "permission denied: check the owner and mode of the folder, or write elsewhere with --out DIR",
    "EPERM": "the operation is not permitted here (file attributes, a sealed or immutable folder): write elsewhere "
    "with --out DIR",
    "EXDEV": "it lies on another device than its parent folder: write into a folder inside it",
    "EMFILE": "too many open files: raise the limit (ulimit -n) and run again",
    "ENFILE": "the system is out of file handles: try again when it is less busy",
    "ENOMEM": "the machine is out of memory: free some and run again",
    "EIO": "an I/O error from the device: check the disk (dmesg) and run again",
    "ENAMETOOLONG": "a path is too long for the file system: use a shorter output folder",
    "ELOOP": "a chain of symbolic links loops: fix the links",
    "ETXTBSY": "a file is in use by a running program: stop it and run again",
}


def environment_problem(exc: OSError, doing: str) -> EnvironmentProblem | None:
    """`exc` as an EnvironmentProblem saying what to do, or None when its errno is not one of
    the machine's (a bug, then). `doing` names the operation: "writing rendered/dev/x.yaml"."""
    import errno as _errno

    name = _errno.errorcode.get(exc.errno or 0, "")
    advice = _ADVICE.get(name)
    if advice is None:
        return None
    return EnvironmentProblem(f"{doing}: {exc.strerror or name} ({name}); {advice}")


INTERNAL_MESSAGE = (
    "maestro: internal error ({kind}: {error}). This is a bug in maestro; please report it "
    "with the command and the input (MAESTRO_DEBUG=1 shows the traceback)."
)


def exit_code_for(exc: BaseException) -> int:
    """Report `exc` on stderr (or, for `Unusable`, its diagnostics on stdout) and return the
    exit code. Re-raises a bug's exception when MAESTRO_DEBUG is set, to show the traceback."""
    if isinstance(exc, KeyboardInterrupt):
        print("maestro: interrupted", file=sys.stderr)
        return INTERRUPTED
    if isinstance(exc, BrokenPipeError):  # `maestro ... | head`: the reader has all it wanted
        return OK
    if isinstance(exc, Unusable):
        from maestro.output.reporters import print_diagnostics

        print_diagnostics(exc.diags, exc.fmt)
        return exc.exit_code
    if isinstance(exc, MaestroError):
        print(f"maestro: {exc}", file=sys.stderr)
        return exc.exit_code
    if isinstance(exc, OSError):  # the machine (full disk, read-only, busy), wherever it showed
        problem = environment_problem(exc, f"{exc.filename}" if exc.filename else "maestro")
        if problem is not None:
            print(f"maestro: {problem}", file=sys.stderr)
            return problem.exit_code
    if os.environ.get("MAESTRO_DEBUG"):
        raise exc
    print(INTERNAL_MESSAGE.format(kind=type(exc).__name__, error=exc), file=sys.stderr)
    return INTERNAL
