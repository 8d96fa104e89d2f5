"""`maestro render`: compile specs/ into rendered/ (or --out DIR), --check, or --stdout for one model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from maestro.commands.common import display, exit_code, load_governance, load_workspace, repo_root, spec_paths
from maestro.errors import FINDINGS, OK, USAGE, UsageError
from maestro.output.reporters import print_diagnostics

if TYPE_CHECKING:
    from maestro.pipeline import Checked, Rendered
    from maestro.policy.governance import Governance
    from maestro.resolve.workspace import Workspace


def command(args: argparse.Namespace) -> int:
    if getattr(args, "stdout", False):
        return _render_stdout(args)
    from maestro.diagnostics import has_errors
    from maestro.output.emit import check_output_root, compare, write_tree
    from maestro.pipeline import check_specs

    root = repo_root(args)
    ws, diags = load_workspace(root)
    selected = ws.selected(args.env)
    crd = ws.platform.crd_schema_dir
    if crd and not (root / crd).is_dir():
        raise UsageError(
            f"crd_schema_dir '{crd}' (config/platform.yaml) is not a folder; it names extra CRD "
            "schemas on top of the ones Maestro ships: create it, or remove the key"
        )
    out_root = Path(args.out) if args.out else root / "rendered"
    bad_root = check_output_root(out_root, root) if args.out else None
    if bad_root is not None:
        print_diagnostics([bad_root], "text")
        return USAGE
    gov = load_governance(root, args)
    front = check_specs(ws, [(p, display(p)) for p in spec_paths(root, [])], selected, gov, model=args.model)
    checked = front.checked
    diags += front.diagnostics
    if has_errors(diags):
        print_diagnostics(diags, "text")
        print("nothing written: fix the errors above", file=sys.stderr)
        return FINDINGS
    result = _render_with_progress(ws, checked, selected, gov)
    diags += result.diagnostics
    if exit_code(diags, args.strict):
        print_diagnostics(diags, "text")
        print("nothing written: fix the errors above", file=sys.stderr)
        return FINDINGS
    if args.model is not None:
        scopes = [f"{env}/{args.model}" for env in selected]
        files = {k: v for k, v in result.tree.files.items() if any(k.startswith(s + "/") for s in scopes)}
    else:
        scopes = selected if args.env else [""]
        files = result.tree.files
    print_diagnostics(diags, "text")  # warnings, if any
    if getattr(args, "stream", None) is not None:  # --stdout
        args.stream.write(_model_documents(files, f"{args.env}/{args.model}"))
        return OK
    shown = out_root.relative_to(root).as_posix() if out_root.is_relative_to(root) else display(out_root)
    if args.check:
        changes = compare(out_root, scopes, files)
        for label, paths_ in (("added", changes.added), ("changed", changes.changed), ("removed", changes.removed)):
            for rel in paths_:
                print(f"{label}: {shown}/{rel}")
        if changes:
            print(f"{shown} is out of date: run maestro render", file=sys.stderr)
            return FINDINGS
        print(f"{shown} is current ({len(result.models)} model(s), {result.objects} objects)")
        return OK
    changes = compare(out_root, scopes, files)
    if changes:
        write_tree(out_root, scopes, files)
    print(
        f"rendered {len(result.models)} model(s), {result.objects} objects into {shown} "
        f"({len(changes.added)} added, {len(changes.changed)} changed, {len(changes.removed)} removed)"
    )
    return OK


def _render_stdout(args: argparse.Namespace) -> int:
    """`render --stdout --env E --model M`: one model's objects as multi-document YAML on
    stdout (what an Argo CD Config Management Plugin's `generate` prints); diagnostics go
    to stderr and nothing is written."""
    import contextlib

    if args.env is None or args.model is None:
        raise UsageError("render --stdout needs --env E and --model M (it prints one model's objects)")
    if args.out or args.check:
        raise UsageError("render --stdout writes no files: it does not combine with --out or --check")
    inner = argparse.Namespace(**{**vars(args), "stdout": False, "stream": sys.stdout})
    with contextlib.redirect_stdout(sys.stderr):
        return command(inner)


def _model_documents(files: dict[str, bytes], prefix: str) -> str:
    """The objects of one rendered model folder, in its kustomization's order."""
    from ruamel.yaml import YAML

    from maestro.serialize import dump_all

    yaml = YAML(typ="safe", pure=True)
    listed = yaml.load(files[f"{prefix}/kustomization.yaml"].decode("utf-8"))["resources"]
    return dump_all(yaml.load(files[f"{prefix}/{name}"].decode("utf-8")) for name in listed)


def _render_with_progress(ws: Workspace, checked: list[Checked], envs: list[str], gov: Governance) -> Rendered:
    """A progress bar on a terminal when there is enough to render to be worth one."""
    from maestro.pipeline import render, verifier_for

    verifier = verifier_for(ws)
    total = sum(1 for c in checked for env in envs if env in c.effective)
    if not sys.stderr.isatty() or total < 50:
        return render(ws, checked, envs, verifier, gov=gov)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("rendering", total=total)
        return render(ws, checked, envs, verifier, progress=lambda: bar.advance(task), gov=gov)
