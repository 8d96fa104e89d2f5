"""`maestro schema`: write (or --check) schemas/maestro.schema.json."""

from __future__ import annotations

import argparse
import sys

from maestro.commands.common import atomic_write, repo_root
from maestro.errors import FINDINGS, OK


def command(args: argparse.Namespace) -> int:
    from maestro.frontend.schema import SCHEMA_PATH, render

    root = repo_root(args)
    target = root / SCHEMA_PATH
    text = render()
    current = target.read_text(encoding="utf-8") if target.exists() else None
    if args.check:
        if current != text:
            print(f"{SCHEMA_PATH} is out of date with the spec models; run: maestro schema", file=sys.stderr)
            return FINDINGS
        print(f"{SCHEMA_PATH} is current")
        return OK
    if current != text:
        atomic_write(target, text)
        print(f"wrote {SCHEMA_PATH}")
    return OK
