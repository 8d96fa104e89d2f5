"""Errors that end a command, and the exit codes (DESIGN.md): 0 ok, 1 findings, 2 usage or environment."""

from __future__ import annotations

OK, FINDINGS, USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments or an unusable environment (exit 2)."""


class Unusable(Exception):
    """The repository's config or overlays are invalid: nothing can be checked (exit 2)."""

    def __init__(self, diags: list, fmt: str) -> None:  # type: ignore[type-arg]
        self.diags, self.fmt = diags, fmt
