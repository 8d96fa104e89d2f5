"""Snapshots: one side's input files as git blob ids, and their materialization into a folder."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from maestro.diff.git import COMPILER_DIR, INPUT_DIRS, DiffError, Repo, run_git

# ------------------------------------------------------------------ snapshots


@dataclass(frozen=True)
class Snapshot:
    """One side of the diff: which files its inputs are (git blob ids), and where to read them."""

    label: str  # the ref as given, or "working tree"
    commit: str | None  # None: the working tree
    files: Mapping[str, str]  # path relative to the maestro root -> blob id (inputs and compiler)
    root: Path | None = None  # folder holding the inputs (the working tree, or a temporary copy)

    @property
    def has_config(self) -> bool:
        return "config/platform.yaml" in self.files

    @cached_property
    def specs(self) -> dict[str, str]:
        """model (its folder under specs/) -> blob id of its maestro.yaml."""
        out = {}
        for rel, oid in self.files.items():
            parts = rel.split("/")
            if len(parts) == 3 and parts[0] == "specs" and parts[2] == "maestro.yaml":
                out[parts[1]] = oid
        return out

    def model_inputs(self, model: str) -> dict[str, str]:
        """The files of a model's folder under specs/ (its maestro.yaml, its version lock)."""
        return self.under(f"specs/{model}")

    def under(self, folder: str) -> dict[str, str]:
        return {rel: oid for rel, oid in self.files.items() if rel.startswith(folder + "/")}

    def version(self) -> str | None:
        """`__version__` of the compiler in this snapshot (None when it holds no compiler)."""
        path = self.root / COMPILER_DIR / "__init__.py" if self.root is not None else None
        if path is None or not path.is_file():
            return None
        m = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", path.read_text("utf-8", "replace"), re.M)
        return m.group(1) if m else None


def snapshot_commit(repo: Repo, commit: str, label: str) -> Snapshot:
    paths = [repo.prefix + d for d in (*INPUT_DIRS, COMPILER_DIR)]
    out = run_git(repo.top, "ls-tree", "-r", "-z", "--full-tree", commit, "--", *paths)
    files = {}
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        mode, kind, oid = meta.decode().split(" ")
        rel = path.decode("utf-8", "surrogateescape")
        if kind == "blob" and rel.startswith(repo.prefix):
            files[rel[len(repo.prefix) :]] = f"{mode} {oid}"
    return Snapshot(label=label, commit=commit, files=files)


def snapshot_worktree(repo: Repo) -> Snapshot:
    """The working tree as `git add -A` would see it: tracked and untracked, not ignored."""
    out = run_git(repo.root, "ls-files", "-z", "-c", "-o", "--exclude-standard", "--", *INPUT_DIRS, COMPILER_DIR)
    rels = sorted({p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p})
    rels = [r for r in rels if (repo.root / r).is_file()]  # tracked but deleted files are gone
    # hash-object reads --stdin-paths from the top of the work tree, whatever the cwd.
    paths = "".join(f"{repo.prefix}{r}\n" for r in rels).encode()
    oids = run_git(repo.top, "hash-object", "--stdin-paths", stdin=paths).decode().split() if rels else []
    modes = {r: "120000" if (repo.root / r).is_symlink() else "100644" for r in rels}
    # Only the blob id is compared: the mode git records for an executable file is noise here.
    files = {r: f"{modes[r]} {oid}" for r, oid in zip(rels, oids)}
    return Snapshot(label="working tree", commit=None, files=files, root=repo.root)


def blob_id(entry: str | None) -> str | None:
    """The blob id of a `mode oid` entry: modes (the executable bit) do not change output."""
    return entry.split()[-1] if entry else None


def same_blobs(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    return {k: blob_id(v) for k, v in a.items()} == {k: blob_id(v) for k, v in b.items()}


def materialize(repo: Repo, snap: Snapshot, dest: Path) -> Snapshot:
    """Write a commit's inputs into `dest` (and the compiler's __init__.py, for its version;
    never rendered/, which can be large and is not an input)."""
    version = f"{COMPILER_DIR}/__init__.py"
    wanted = sorted(rel for rel in snap.files if rel.split("/", 1)[0] in INPUT_DIRS or rel == version)
    oids = [snap.files[rel].split()[-1] for rel in wanted]
    blobs = _cat_blobs(repo, oids) if oids else {}
    for rel in wanted:
        mode, oid = snap.files[rel].split()
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if mode == "120000":
            os.symlink(blobs[oid].decode("utf-8", "surrogateescape"), path)
        else:
            path.write_bytes(blobs[oid])
    return Snapshot(label=snap.label, commit=snap.commit, files=snap.files, root=dest)


def _cat_blobs(repo: Repo, oids: list[str]) -> dict[str, bytes]:
    out = run_git(repo.top, "cat-file", "--batch", stdin="".join(o + "\n" for o in oids).encode())
    blobs: dict[str, bytes] = {}
    pos = 0
    while pos < len(out):
        end = out.index(b"\n", pos)
        header = out[pos:end].decode().split()
        if len(header) != 3:
            raise DiffError(f"git cat-file: unexpected output {out[pos:end][:80]!r}")
        size = int(header[2])
        blobs[header[0]] = out[end + 1 : end + 1 + size]
        pos = end + 1 + size + 1
    return blobs
