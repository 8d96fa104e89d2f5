"""`maestro registry lock [--env E] [--model M] [--check]`: pin what each environment serves.

For every selected model and environment where the model serves, resolve on the
environment's tracking server what serving resolves (mlflow/lock.py) and write
`specs/<model>/maestro.lock.yaml` (mlflow/lockfile.py). Nothing is written unless every
entry resolves: a missing alias, a version without a run or artifacts the serving pods
cannot download is a finding (exit 1), an unreachable server an environment error (exit 2).
An environment where the model no longer serves loses its entry.

`--check` writes nothing and exits 1 listing every entry `lock` would change (an alias
that moved, a spec whose target changed, a version that is gone): the scheduled CI job
that opens the update pull request runs it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maestro.commands.common import atomic_write, load_workspace, repo_root
from maestro.errors import FINDINGS, OK
from maestro.output.reporters import print_diagnostics

if TYPE_CHECKING:
    from maestro.diagnostics import Diagnostic
    from maestro.mlflow.lockfile import LockFile
    from maestro.pipeline import Checked
    from maestro.resolve.workspace import Workspace


@dataclass
class Plan:
    """One lock file's outcome."""

    checked: Checked
    path: Path
    old: LockFile | None
    new: LockFile
    lines: list[str] = field(default_factory=list)  # what changed, one line per served version
    kept: list[str] = field(default_factory=list)  # promoted entries left as they are


def select_models(ws: Workspace, model: str | None, envs: list[str]) -> list[Checked]:
    """The checked specs a lock command works on (an unknown model is a usage error naming the known ones)."""
    from maestro.pipeline import check_specs
    from maestro.resolve.workspace import discover

    return check_specs(ws, [(p, display_path(ws, p)) for p in discover(ws.root)], envs, model=model).checked


def display_path(ws: Workspace, path: Path) -> str:
    return path.relative_to(ws.root).as_posix() if path.is_relative_to(ws.root) else str(path)


def command(args: argparse.Namespace) -> int:
    """An unreachable tracking server or an MLflow error raises RegistryUnavailable (exit 2)."""
    from maestro.diagnostics import has_errors
    from maestro.mlflow.client import connect, quiet_logs, tracking_uri_for
    from maestro.mlflow.lock import entry_changes, gate_findings, lock_entry
    from maestro.mlflow.lockfile import LOCK_FILE, dumps, new_lock, with_entry
    from maestro.mlflow.state import desired_state

    ws, _ = load_workspace(repo_root(args))
    envs = ws.selected(args.env)
    checked = select_models(ws, args.model, envs)
    diags: list[Diagnostic] = [d for c in checked for d in c.diagnostics if _blocks_lock(d)]
    if has_errors(diags):
        print_diagnostics(diags, "text")
        print("nothing locked: fix the errors above", file=sys.stderr)
        return FINDINGS
    quiet_logs()
    clients: dict[str, Any] = {}
    plans: list[Plan] = []
    warnings: list[Diagnostic] = []
    for c in sorted(checked, key=lambda c: c.spec.metadata.name if c.spec else ""):
        assert c.spec is not None
        model = c.spec.metadata.name
        lock = c.lock if c.lock is not None else new_lock(model)
        plan = Plan(c, c.path.parent / LOCK_FILE, c.lock, lock)
        for env in envs:
            spec = c.effective.get(env)
            old = lock.environments.get(env)
            if spec is None or spec.spec.serving is None:
                if old is not None:
                    plan.new = with_entry(plan.new, env, None)
                    plan.lines += entry_changes(env, model, old, None)
                continue
            uri = tracking_uri_for(ws, env)
            if uri not in clients:
                clients[uri] = connect(uri)  # unreachable: RegistryUnavailable, exit 2
            state = desired_state(spec, ws.platforms[env], env)
            destination = ws.platforms[env].environments[env].endpoints.mlflow_artifacts
            resolved = lock_entry(clients[uri], state, destination, old, keep_promoted=args.env is None)
            diags += [_positioned(d, c, env) for d in resolved.diagnostics]
            if resolved.entry is None:
                continue
            if resolved.kept and old is not None:
                plan.kept.append(
                    f"{env}/{model}: kept model version {old.serve.version} (promoted from "
                    f"{old.serve.promoted_from}; `maestro registry lock --env {env}` resolves alias "
                    f"{old.serve.alias} instead)"
                )
            warnings += [_as_warning(d) for d in gate_findings(state, resolved.entry.serve, f"{env}: ")]
            plan.lines += entry_changes(env, model, old, resolved.entry)
            plan.new = with_entry(plan.new, env, resolved.entry)
        plans.append(plan)
    if has_errors(diags):
        print_diagnostics(diags + warnings, "text")
        print("nothing locked: fix the errors above", file=sys.stderr)
        return FINDINGS
    print_diagnostics(warnings, "text")
    changed = [p for p in plans if (p.old is None and p.new.environments) or (p.old is not None and p.new != p.old)]
    for p in plans:
        for line in p.kept:
            print(line)
    if args.check:
        for p in changed:
            for line in p.lines:
                print(line)
        if changed:
            print(
                f"{sum(len(p.lines) for p in changed)} locked version(s) out of date: "
                "run `maestro registry lock` (nothing written)",
                file=sys.stderr,
            )
            return FINDINGS
        print(f"locks are current ({len(plans)} model(s), {len(envs)} environment(s))")
        return OK
    for p in changed:
        atomic_write(p.path, dumps(p.new))
        for line in p.lines:
            print(line)
        print(f"wrote {display_path(ws, p.path)}")
    print(f"locked {len(plans)} model(s) in {', '.join(envs)}: {len(changed)} lock file(s) changed")
    return OK


def _blocks_lock(d: Diagnostic) -> bool:
    """Spec problems stop a lock; a stale lock entry does not (relocking is how it is fixed)."""
    return d.code != "M812"


def _as_warning(d: Diagnostic) -> Diagnostic:
    from dataclasses import replace

    from maestro.diagnostics import Severity

    return replace(d, severity=Severity.WARNING, hint="a promotion of this version would be refused")


def _positioned(d: Diagnostic, c: Checked, env: str) -> Diagnostic:
    """A resolution problem, at the spec line that asked for the version."""
    from dataclasses import replace

    spec, located = c.effective.get(env), c.effective_located.get(env)
    if spec is None or located is None:
        return d
    variant = dict(d.extra).get("variant")
    pointer = "/spec/registry/serve" if spec.spec.registry is not None else "/spec/serving"
    serving = spec.spec.serving
    if variant and serving is not None and serving.ab_test is not None:
        index = next((i for i, v in enumerate(serving.ab_test.variants) if v.name == variant), 0)
        pointer = f"/spec/serving/abTest/variants/{index}/serve"
    return replace(d, env=env, **located.where(pointer))
