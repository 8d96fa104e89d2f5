"""`maestro explain FIELD`: the documentation of a spec field, from the schema."""

from __future__ import annotations

import argparse
import sys

from maestro.errors import OK, UsageError


def command(args: argparse.Namespace) -> int:
    import difflib

    from maestro.frontend.schema import explain, lookup

    text = explain(args.field)
    if text is None:
        _, allowed = lookup(args.field)
        last = args.field.rsplit(".", 1)[-1]
        guess = difflib.get_close_matches(last, allowed, n=1)
        hint = (
            f"; did you mean '{args.field.rsplit('.', 1)[0] + '.' if '.' in args.field else ''}{guess[0]}'?"
            if guess
            else (f"; fields here: {', '.join(allowed)}" if allowed else "")
        )
        raise UsageError(f"no field '{args.field}' in maestro.yaml{hint}")
    sys.stdout.write(text)
    return OK
