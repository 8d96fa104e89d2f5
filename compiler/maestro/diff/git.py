"""Reading revisions with git (never touching the working tree), and the folders a diff compares."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from maestro.errors import UsageError

INPUT_DIRS = ("config", "overlays", "policies", "specs")

COMPILER_DIR = "compiler/maestro"
RENDERED = "rendered"
ARGOCD = "argocd"


class DiffError(UsageError):
    """A ref, the repository or git itself is unusable (exit 2)."""


# ------------------------------------------------------------------ git


def run_git(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes:
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
        top = run_git(root, "rev-parse", "--show-toplevel").decode().strip()
        prefix = run_git(root, "rev-parse", "--show-prefix").decode().strip()
    except DiffError:
        raise DiffError(f"{root} is not inside a git repository (maestro diff compares git revisions)") from None
    return Repo(Path(top), prefix, root)


def resolve(repo: Repo, ref: str, option: str) -> str:
    """The commit id `ref` names; a DiffError naming the option otherwise."""
    if not ref or ref.startswith("-"):
        raise DiffError(f"{option} {ref!r}: not a git revision")
    try:
        return run_git(repo.top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()
    except DiffError:
        raise DiffError(
            f"{option} {ref}: no such commit in {repo.top} (in a shallow CI checkout, fetch it first: "
            f"git fetch origin <branch>)"
        ) from None
