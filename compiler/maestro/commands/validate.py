"""`maestro validate`: schema, semantic and policy checks; writes nothing."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from maestro.commands.common import (
    display,
    exit_code,
    load_governance,
    load_workspace,
    quick_key_of,
    recall,
    remember,
    repo_root,
    spec_paths,
    start_policies,
)
from maestro.output.reporters import print_diagnostics

if TYPE_CHECKING:
    from maestro.diagnostics import Diagnostic


def command(args: argparse.Namespace) -> int:
    root = repo_root(args)
    paths = [(p, display(p)) for p in spec_paths(root, args.specs)]
    # The findings of the same inputs, kept by an earlier validate: the same command again (a
    # pre-commit hook after a manual run, an editor on save) imports no pydantic, parses nothing.
    selection = ["validate", f"env={args.env or ''}", f"cwd={os.getcwd()}"]
    key = "" if args.no_cache else quick_key_of(args, root, paths, selection)
    kept = recall(root, "validate", key) if key else None
    if kept is not None:
        diags, count, selected = kept
        return _report(args, diags, count, selected)
    started = start_policies(root, args)  # the policies load while config is read and the checks import
    try:
        ws, diags = load_workspace(root, args.format)
        selected = ws.selected(args.env)
        gov = load_governance(root, args, ws, early=True, started=started)
    except BaseException:
        if started is not None:
            started.close()
        raise

    from maestro.pipeline import check_overlays, check_specs, verifier_for

    front = check_specs(ws, paths, selected, gov)
    diags += front.diagnostics
    # Validate sees what render sees: the overlays' transforms on the specs' objects.
    diags += check_overlays(ws, front.checked, selected, verifier_for(ws))
    # A policy set that failed (a bound, a crash) may pass next time: not kept.
    if key and not gov.failed:
        remember(root, "validate", key, ws.platform.crd_schema_dir, (diags, len(front.checked), selected))
    return _report(args, diags, len(front.checked), selected)


def _report(args: argparse.Namespace, diags: list[Diagnostic], count: int, selected: list[str]) -> int:
    from maestro.diagnostics import has_errors

    print_diagnostics(diags, args.format)
    if args.format == "text" and not has_errors(diags) and not (args.strict and diags):
        print(f"{count} spec(s) valid in {', '.join(selected)}")
    return exit_code(diags, args.strict)
