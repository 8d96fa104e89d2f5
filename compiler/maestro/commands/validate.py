"""`maestro validate`: schema, semantic and policy checks; writes nothing."""

from __future__ import annotations

import argparse

from maestro.commands.common import display, exit_code, load_governance, load_workspace, repo_root, spec_paths
from maestro.output.reporters import print_diagnostics


def command(args: argparse.Namespace) -> int:
    root = repo_root(args)
    ws, diags = load_workspace(root, args.format)
    selected = ws.selected(args.env)
    gov = load_governance(root, args, ws, early=True)  # the policies load while the pipeline imports

    from maestro.diagnostics import has_errors
    from maestro.pipeline import check_overlays, check_specs, verifier_for

    front = check_specs(ws, [(p, display(p)) for p in spec_paths(root, args.specs)], selected, gov)
    diags += front.diagnostics
    # Validate sees what render sees: the overlays' transforms on the specs' objects.
    diags += check_overlays(ws, front.checked, selected, verifier_for(ws))
    print_diagnostics(diags, args.format)
    if args.format == "text" and not has_errors(diags) and not (args.strict and diags):
        print(f"{len(front.checked)} spec(s) valid in {', '.join(selected)}")
    return exit_code(diags, args.strict)
