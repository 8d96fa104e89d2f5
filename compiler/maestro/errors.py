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
    if os.environ.get("MAESTRO_DEBUG"):
        raise exc
    print(INTERNAL_MESSAGE.format(kind=type(exc).__name__, error=exc), file=sys.stderr)
    return INTERNAL
