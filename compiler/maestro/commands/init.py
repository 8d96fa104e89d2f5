"""`maestro init NAME`: scaffold specs/NAME/maestro.yaml."""

from __future__ import annotations

import argparse

from maestro.commands.common import atomic_write, display, load_workspace, repo_root
from maestro.errors import OK, UsageError


def command(args: argparse.Namespace) -> int:
    from maestro.frontend.scaffold import scaffold
    from maestro.resolve.workspace import SPEC_FILE, SPECS_DIR

    root = repo_root(args)
    ws, _ = load_workspace(root)
    text, problem = scaffold(args.name, args.team, args.framework, ws.platforms)
    if problem:
        raise UsageError(problem)
    target = root / SPECS_DIR / args.name / SPEC_FILE
    if target.exists() and not args.force:
        raise UsageError(f"{display(target)} already exists (use --force to overwrite)")
    atomic_write(target, text)
    print(f"wrote {display(target)}")
    return OK
