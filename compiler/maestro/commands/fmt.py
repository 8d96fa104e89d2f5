"""`maestro fmt`: canonical key order and indentation, comments kept."""

from __future__ import annotations

import argparse

from maestro.commands.common import atomic_write, display, repo_root, spec_paths
from maestro.errors import FINDINGS, OK
from maestro.output.reporters import print_diagnostics


def command(args: argparse.Namespace) -> int:
    from maestro.diagnostics import has_errors
    from maestro.frontend.fmt import format_text
    from maestro.frontend.loader import load

    root = repo_root(args)
    diags = []
    changed = []
    for path in spec_paths(root, args.specs):
        located, problems = load(path, display(path))
        if located is None:
            diags += problems
            continue
        original = path.read_text(encoding="utf-8-sig")
        formatted = format_text(original)
        if formatted != original:
            changed.append(path)
            if not args.check:
                atomic_write(path, formatted)
    print_diagnostics(diags, "text")
    verb = "would reformat" if args.check else "reformatted"
    for path in changed:
        print(f"{verb} {display(path)}")
    if has_errors(diags):
        return FINDINGS
    return FINDINGS if args.check and changed else OK
