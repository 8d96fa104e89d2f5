"""`maestro validate`: schema, semantic and policy checks; writes nothing."""

from __future__ import annotations

import argparse

from maestro.commands.common import display, exit_code, load_governance, load_workspace, repo_root, spec_paths
from maestro.errors import UsageError
from maestro.output.reporters import print_diagnostics

# ------------------------------------------------------------------ verbs


def command(args: argparse.Namespace) -> int:
    from maestro.diagnostics import has_errors
    from maestro.pipeline import check_file, duplicate_models
    from maestro.policy.governance import govern_spec

    root = repo_root(args)
    ws, diags = load_workspace(root, args.format)
    envs = ws.environments
    if args.env is not None and args.env not in envs:
        raise UsageError(f"unknown environment '{args.env}' (configured: {', '.join(envs)})")
    selected = [args.env] if args.env else envs
    gov = load_governance(root, args)
    checked = [check_file(p, display(p), ws.inputs, selected, root) for p in spec_paths(root, args.specs)]
    for c in checked:
        diags += c.diagnostics
        if not has_errors(c.diagnostics):
            diags += govern_spec(c, ws, selected, gov)
    diags += duplicate_models(checked)
    print_diagnostics(diags, args.format)
    if args.format == "text" and not has_errors(diags) and not (args.strict and diags):
        print(f"{len(checked)} spec(s) valid in {', '.join(selected)}")
    return exit_code(diags, args.strict)
