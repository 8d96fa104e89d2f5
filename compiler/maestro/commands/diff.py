"""`maestro diff`: compare two revisions' rendered trees (see `maestro.diff`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from maestro.commands.common import repo_root
from maestro.diff.format import FORMATTERS
from maestro.diff.report import compute
from maestro.errors import FINDINGS, OK


def run(args: argparse.Namespace, root: Path) -> int:
    """0 nothing differs, 1 something does (objects, cost, findings, an invalid spec), 2 error."""
    report = compute(root, args.base, args.head, args.env, args.format)  # DiffError: a UsageError (exit 2)
    sys.stdout.write(FORMATTERS[args.format](report))
    return FINDINGS if report.changed else OK


def command(args: argparse.Namespace) -> int:
    return run(args, repo_root(args))
