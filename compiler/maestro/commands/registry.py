"""`maestro registry sync|check`: select the specs' states, run sync or check, print the outcome."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maestro.commands.common import load_workspace, repo_root
from maestro.diagnostics import Diagnostic, error, sort_diagnostics
from maestro.errors import FINDINGS, OK, USAGE, UsageError
from maestro.mlflow.check import check_with
from maestro.mlflow.client import (
    TRACKING_URI_VAR,
    absolute_sqlite,
    connect,
    quiet_logs,
    redact,
    require_mlflow,
    sqlite_path,
    tracking_uri_for,
)
from maestro.mlflow.state import RegistryUnavailable, desired_state, has_registry_state, load_state
from maestro.mlflow.sync import SyncReport, plan_on_empty_store, sync_with
from maestro.output.reporters import format_text

if TYPE_CHECKING:
    from maestro.pipeline import Checked
    from maestro.resolve.workspace import Workspace

# ------------------------------------------------------------------ commands


@dataclass
class Selected:
    """The states of the models a command works on, with where they came from."""

    states: list[dict[str, Any]] = field(default_factory=list)
    checked: dict[str, Checked] = field(default_factory=dict)  # model -> its checked spec
    diagnostics: list[Diagnostic] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # models without registry state


def select(ws: Workspace, env: str, model: str | None = None) -> Selected:
    """Every spec's desired state in `env` (or one model's), and the spec problems in the way."""
    from maestro.pipeline import check_specs
    from maestro.resolve.workspace import discover

    paths = [(path, path.relative_to(ws.root).as_posix()) for path in discover(ws.root)]
    front = check_specs(ws, paths, ws.selected(env), model=model)
    out = Selected(diagnostics=list(front.diagnostics))
    seen: dict[tuple[str, str], str] = {}
    for c in front.checked:
        spec = c.effective.get(env)
        if spec is None:
            continue
        if not has_registry_state(spec):
            out.skipped.append(spec.metadata.name)
            continue
        state = desired_state(spec, ws.platforms[env], env)
        for kind, key, pointer in (
            ("registered model", state["registeredModel"]["name"], "/spec/registry/model"),
            ("experiment", state["experiment"]["name"], "/spec/registry/experiment"),
        ):
            other = seen.setdefault((kind, key), spec.metadata.name)
            if other != spec.metadata.name:
                located = c.effective_located[env]
                out.diagnostics.append(
                    error(
                        "M807",
                        f"{kind} '{key}' is also the {kind} of model {other}",
                        hint="every model needs its own; two specs would overwrite each other's tags",
                        env=env,
                        **located.where(pointer),
                    )
                )
        out.states.append(state)
        out.checked[spec.metadata.name] = c
    return out


def format_report(r: SyncReport, dry_run: bool) -> str:
    """One model's part of a sync's output."""
    lines = [f"{r.model} ({r.environment}): " + (f"{len(r.changes)} change(s)" if r.changes else "up to date")]
    lines += [f"  {'would ' if dry_run else ''}{c.describe()}" for c in r.changes]
    lines += [f"  warning: {d.code} {d.message}" for d in r.diagnostics]
    return "\n".join(lines) + "\n"


def format_summary(reports: Sequence[SyncReport], uri: str, dry_run: bool) -> str:
    total = sum(len(r.changes) for r in reports)
    where = redact(uri)
    if dry_run:
        return f"dry run: {total} change(s) planned for {len(reports)} model(s) on {where}; nothing changed\n"
    return f"synced {len(reports)} model(s) with {where}: {total} change(s) applied\n"


def _fail(message: str) -> int:
    print(f"maestro: {message}", file=sys.stderr)
    return USAGE


def sync_command(
    ws: Workspace | None,
    env: str | None,
    model: str | None = None,
    dry_run: bool = False,
    state_file: Path | None = None,
) -> int:
    """`maestro registry sync`: 0 applied (or up to date), 1 spec errors, 2 environment errors.

    With `state_file` (the sync Job) it syncs exactly that state; `ws` may then be None and
    the tracking URI comes from MLFLOW_TRACKING_URI (or, with a workspace, the state's
    environment in config).
    """
    try:
        if state_file is not None:
            states = [load_state(state_file)]
            state_env = states[0]["environment"]
            if env is not None and env != state_env:
                return _fail(f"--env {env} does not match the state file's environment '{state_env}'")
            if os.environ.get(TRACKING_URI_VAR):
                uri = absolute_sqlite(os.environ[TRACKING_URI_VAR], Path.cwd())
            elif ws is not None and state_env in ws.environments:
                uri = tracking_uri_for(ws, state_env)
            else:
                return _fail(f"no tracking URI: set {TRACKING_URI_VAR}")
        else:
            if ws is None or env is None:
                return _fail("registry sync needs --env (or --state FILE)")
            selected = select(ws, env, model)
            if any(d.is_error for d in selected.diagnostics):
                sys.stdout.write(format_text(sort_diagnostics(selected.diagnostics)))
                print("nothing synced: fix the errors above", file=sys.stderr)
                return FINDINGS
            states = selected.states
            uri = tracking_uri_for(ws, env)
        if not states:
            print(f"nothing to sync: no model in {env} has a registry or serving section")
            return OK
        require_mlflow()
        db = sqlite_path(uri)
        if dry_run and db is not None and not db.exists():
            # a dry run changes nothing, not even by creating the store it would sync to
            reports = [plan_on_empty_store(state) for state in states]
            sys.stdout.write("".join(format_report(r, dry_run) for r in reports))
            sys.stdout.write(
                format_summary(reports, uri, dry_run).replace(
                    "; nothing changed", "; nothing changed (the store does not exist yet)"
                )
            )
            return OK
        quiet_logs()
        client = connect(uri)
        reports = []
        for state in states:  # each model's outcome as it happens: a later failure keeps it on record
            reports.append(sync_with(state, client, dry_run))
            sys.stdout.write(format_report(reports[-1], dry_run))
            sys.stdout.flush()
    except UsageError as exc:  # RegistryUnavailable, an unknown environment or model
        return _fail(str(exc))
    sys.stdout.write(format_summary(reports, uri, dry_run))
    return OK


def _state_uri(state_file: Path) -> tuple[dict[str, Any], str]:
    """A state file and the tracking URI the pipeline's pod sets (MLFLOW_TRACKING_URI)."""
    state = load_state(state_file)
    if not os.environ.get(TRACKING_URI_VAR):
        raise RegistryUnavailable(f"no tracking URI: set {TRACKING_URI_VAR}")
    return state, absolute_sqlite(os.environ[TRACKING_URI_VAR], Path.cwd())


def candidate_command(state_file: Path, alias: str, promote: bool) -> int:
    """The pipeline's steps (mlflow/candidate.py): `check --state F --alias A` evaluates the
    gates on the candidate; `sync --state F --promote A` also moves the serve alias to it.
    0 ok, 1 a gate failed (nothing promoted), 2 environment errors."""
    from maestro.mlflow.candidate import candidate_state, promote_with

    try:
        state, uri = _state_uri(state_file)
        quiet_logs()
        client = connect(uri)
        if promote:
            found, change = promote_with(state, alias, client)
        else:
            found, change = check_with(candidate_state(state, alias), client), None
    except RegistryUnavailable as exc:
        return _fail(str(exc))
    ordered = sort_diagnostics(found)
    sys.stdout.write(format_text(ordered))
    if any(d.is_error for d in ordered):
        print(f"{'nothing promoted' if promote else 'gates failed'} for candidate {alias}", file=sys.stderr)
        return FINDINGS
    name = state["registeredModel"]["name"]
    print(change or (f"{name}: candidate {alias} passes every gate" + (" (already served)" if promote else "")))
    return OK


def check_command(ws: Workspace, env: str, model: str | None = None) -> int:
    """`maestro registry check`: 0 every gate holds, 1 findings, 2 environment errors."""
    uri = ""
    try:
        selected = select(ws, env, model)
        diags = list(selected.diagnostics)
        if not any(d.is_error for d in diags) and selected.states:
            uri = tracking_uri_for(ws, env)
            require_mlflow()
            quiet_logs()
            client = connect(uri)
            for state in selected.states:
                found = check_with(state, client)
                diags += [_positioned(d, selected.checked[state["model"]], ws, env) for d in found]
    except UsageError as exc:  # RegistryUnavailable, an unknown environment or model
        return _fail(str(exc))
    ordered = sort_diagnostics(diags)
    sys.stdout.write(format_text(ordered))
    if any(d.is_error for d in ordered):
        return FINDINGS
    print(
        f"registry check passed: {len(selected.states)} model(s) in {env}"
        + (f" on {redact(uri)}" if selected.states else "")
    )
    return OK


def _positioned(d: Diagnostic, checked: Checked, ws: Workspace, env: str) -> Diagnostic:
    """Put a finding at the line that asked for it: the gate, the serve, or the platform minimum."""
    from maestro.frontend.loader import escape

    extra = dict(d.extra)
    metric, source, variant = extra.get("metric"), extra.get("source"), extra.get("variant")
    if metric is not None and source == "platform":
        doc = ws.inputs.platforms.get(env)
        pointer = f"/environments/{escape(env)}/governance/min_gates/{escape(metric)}"
    else:
        doc = checked.effective_located.get(env)
        spec = checked.effective.get(env)
        registry = spec.spec.registry if spec is not None else None
        serving = spec.spec.serving if spec is not None else None
        pointer = "/spec/registry/serve" if registry is not None else "/spec/serving"
        if metric is not None and registry is not None:
            index = next((i for i, g in enumerate(registry.gates) if g.metric == metric), None)
            pointer = f"/spec/registry/gates/{index}" if index is not None else "/spec/registry/gates"
        elif variant and serving is not None and serving.ab_test is not None:
            index = next((i for i, v in enumerate(serving.ab_test.variants) if v.name == variant), 0)
            pointer = f"/spec/serving/abTest/variants/{index}/serve"
        elif d.code == "M801" and registry is not None:
            pointer = "/spec/registry"
    if doc is None:
        return d
    return replace(d, **doc.where(pointer))


# ------------------------------------------------------------------ argparse wiring


def run(args: argparse.Namespace, ws: Workspace | None) -> int:
    """Dispatch parsed `maestro registry ...` arguments (`ws` may be None only with --state)."""
    state, candidate = getattr(args, "state", None), getattr(args, "promote", None) or getattr(args, "alias", None)
    if candidate is not None:
        if not state:
            return _fail(f"--{'promote' if args.registry_action == 'sync' else 'alias'} needs --state FILE")
        return candidate_command(Path(state), candidate, promote=args.registry_action == "sync")
    if args.registry_action == "sync":
        return sync_command(ws, args.env, args.model, args.dry_run, Path(args.state) if args.state else None)
    if ws is None:
        return _fail("registry check needs a repository (config/platform.yaml)")
    return check_command(ws, args.env, args.model)


def command(args: argparse.Namespace) -> int:
    if args.state:
        return run(args, None)  # the sync Job and the pipeline's steps: a state file, no repository
    if not args.env:
        raise UsageError(f"registry {args.registry_action} needs --env (or --state FILE)")
    ws, _ = load_workspace(repo_root(args))
    ws.selected(args.env)  # UnknownEnvironment unless configured
    return run(args, ws)
