"""`maestro cost [--env E] [--format text|json|markdown]`: the monthly estimate per model and
team against budgets, with the saving of each cost option (maestro/cost_report.py).

Exit 0, or 1 when a team's estimate is over its budget (so CI can gate on it); specs that do
not validate are reported like `validate` does (1), and left out of nothing: no estimate is
printed for an invalid tree.
"""

from __future__ import annotations

import argparse
import sys

from maestro.commands.common import display, load_workspace, repo_root, spec_paths
from maestro.errors import FINDINGS, OK
from maestro.output.reporters import print_diagnostics


def command(args: argparse.Namespace) -> int:
    from maestro.cost_report import FORMATTERS, build
    from maestro.diagnostics import has_errors
    from maestro.pipeline import check_specs

    root = repo_root(args)
    ws, diags = load_workspace(root)
    envs = ws.selected(args.env)
    front = check_specs(ws, [(p, display(p)) for p in spec_paths(root, [])], envs)
    diags += front.diagnostics
    if has_errors(diags):
        print_diagnostics(diags, "text")
        print("no estimate: fix the errors above", file=sys.stderr)
        return FINDINGS
    pairs = [(env, c.effective[env]) for c in front.checked for env in envs if env in c.effective]
    report = build(pairs, {env: ws.platforms[env] for env in envs})
    sys.stdout.write(FORMATTERS[args.format](report))
    if report.over_budget:
        print(f"over budget: {', '.join(report.over_budget)}", file=sys.stderr)
        return FINDINGS
    return OK
