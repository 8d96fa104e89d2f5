"""`maestro schema`: write (or --check) schemas/maestro.schema.json, and the spec reference
docs/spec-reference.md where the repository keeps its docs (a `docs/` folder): both are
generated from the spec models, so a model change that forgets one fails the check."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from maestro.commands.common import atomic_write, repo_root
from maestro.errors import FINDINGS, OK


def targets(root: Path) -> list[tuple[str, str]]:
    """(repository path, generated text) of every file `schema` owns in this repository."""
    from maestro.frontend.schema import REFERENCE_PATH, SCHEMA_PATH, reference, render

    out = [(SCHEMA_PATH, render())]
    if (root / REFERENCE_PATH).parent.is_dir():
        out.append((REFERENCE_PATH, reference()))
    return out


def command(args: argparse.Namespace) -> int:
    root = repo_root(args)
    stale = []
    for rel, text in targets(root):
        target = root / rel
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            if args.check:
                print(f"{rel} is current")
            continue
        if args.check:
            stale.append(rel)
            print(f"{rel} is out of date with the spec models; run: maestro schema", file=sys.stderr)
        else:
            atomic_write(target, text)
            print(f"wrote {rel}")
    return FINDINGS if stale else OK
