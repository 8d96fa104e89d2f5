"""`maestro codeowners [--check]`: write (or check) the CODEOWNERS block that makes each
model's owners (`metadata.owners`) the approvers of its spec, version lock and rendered
folders, and the platform's owners (config `owners`) the approvers of config/, overlays/,
policies/ and the rendered platform and Argo CD folders: with branch protection's "require
review from code owners" (GitHub) or code owner approval (GitLab), a promotion pull request
needs the model owners' approval. The block's format is in `output/codeowners.py`.

Specs are read as written (no environment is resolved): only a spec too broken to have a
valid `metadata` stops it (exit 1, nothing written). `--check` writes nothing and exits 1
when the file is not what `codeowners` would write, showing the difference.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from maestro.commands.common import atomic_write, load_workspace, repo_root
from maestro.errors import FINDINGS, OK
from maestro.output.reporters import print_diagnostics


def locate(root: Path) -> str:
    """The CODEOWNERS file the forges read: the first that exists, else the root one."""
    from maestro.output.codeowners import DEFAULT_LOCATION, LOCATIONS

    return next((rel for rel in LOCATIONS if (root / rel).is_file()), DEFAULT_LOCATION)


def command(args: argparse.Namespace) -> int:
    import difflib

    from maestro.output.codeowners import block, no_platform_owners, rules, splice
    from maestro.pipeline import check_specs
    from maestro.resolve.config import CONFIG_DIR, CONFIG_FILE
    from maestro.resolve.workspace import discover

    root = repo_root(args)
    ws, _ = load_workspace(root)
    front = check_specs(ws, [(p, p.relative_to(root).as_posix()) for p in discover(root)], envs=[])
    broken = [d for c in front.checked if c.spec is None for d in c.diagnostics]
    if broken:
        print_diagnostics(broken, "text")
        print("CODEOWNERS not written: a spec above has no valid metadata", file=sys.stderr)
        return FINDINGS
    models = {c.spec.metadata.name: (c.path.parent.name, c.spec.metadata.owners) for c in front.checked if c.spec}
    if not ws.platform.owners:
        print_diagnostics([no_platform_owners(f"{CONFIG_DIR}/{CONFIG_FILE}")], "text")
    rel = locate(root)
    target = root / rel
    current = target.read_text(encoding="utf-8") if target.is_file() else None
    text, problems = splice(current, block(rules(models, ws.platform.owners)), rel)
    if text is None:
        print_diagnostics(problems, "text")
        return FINDINGS
    if text == current:
        print(f"{rel} is current")
        return OK
    if args.check:
        print(
            f"{rel} is out of date with the specs' metadata.owners and config's owners; run: maestro codeowners",
            file=sys.stderr,
        )
        diff = difflib.unified_diff(
            (current or "").splitlines(keepends=True), text.splitlines(keepends=True), f"a/{rel}", f"b/{rel}"
        )
        sys.stdout.writelines(diff)
        return FINDINGS
    atomic_write(target, text)
    print(f"wrote {rel}")
    return OK
