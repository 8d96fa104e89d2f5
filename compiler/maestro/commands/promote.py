"""`maestro promote MODEL --from E1 --to E2 [--dry-run] [--format text|markdown]`.

Copies E1's locked main version into E2's entry of `specs/<model>/maestro.lock.yaml`, after
checking it on E2's tracking server (mlflow/lock.py `promote_entry`): the version exists
there from the same run, and the spec's gates plus E2's `governance.min_gates` hold on
that run's metrics. Writes only the lock file; prints what changed (`--format markdown`
for a pull request body). Exit 0 promoted (or would be, with --dry-run), 1 refused (a gate
fails, nothing locked in E1, ...), 2 usage or an unreachable server.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

from maestro.commands.common import atomic_write, load_workspace, repo_root
from maestro.commands.lock import display_path, select_models
from maestro.errors import FINDINGS, OK, UsageError
from maestro.output.reporters import print_diagnostics

if TYPE_CHECKING:
    from maestro.diagnostics import Diagnostic
    from maestro.mlflow.lock import Promotion
    from maestro.pipeline import Checked
    from maestro.resolve.workspace import Workspace


def command(args: argparse.Namespace) -> int:
    """An unreachable tracking server or an MLflow error raises RegistryUnavailable (exit 2)."""
    from maestro.diagnostics import error, has_errors
    from maestro.mlflow.client import connect, quiet_logs, redact, tracking_uri_for
    from maestro.mlflow.lock import entry_changes, promote_entry
    from maestro.mlflow.lockfile import LOCK_FILE, dumps, with_entry
    from maestro.mlflow.state import desired_state

    ws, _ = load_workspace(repo_root(args))
    source, target = args.source, args.target
    ws.selected(source)
    ws.selected(target)
    if source == target:
        raise UsageError(f"--from and --to are the same environment ({source})")
    [c] = select_models(ws, args.model, [source, target])
    blocking = [d for d in c.diagnostics if d.is_error and not _stale_target(d, target)]
    if blocking or c.spec is None:
        print_diagnostics(blocking, "text")
        print("nothing promoted: fix the errors above", file=sys.stderr)
        return FINDINGS
    model = c.spec.metadata.name
    shown = display_path(ws, c.path.parent / LOCK_FILE)
    entry = c.lock.environments.get(source) if c.lock is not None else None
    spec = c.effective.get(target)
    refusal = None
    if entry is None:
        refusal = error(
            "M815",
            f"{model} has no locked version in {source} to promote",
            hint=f"lock it first: maestro registry lock --env {source} --model {model}",
            file=shown,
        )
    elif spec is None or spec.spec.serving is None:
        refusal = error("M815", f"{model} does not serve in {target}", file=c.path.as_posix())
    if refusal is not None:
        print_diagnostics([refusal], "text")
        return FINDINGS
    assert entry is not None and spec is not None
    source_uri, target_uri = tracking_uri_for(ws, source), tracking_uri_for(ws, target)
    if source_uri == target_uri:
        servers = f"{source} and {target} use the same tracking server ({redact(target_uri)})"
    else:
        servers = (
            f"{source} and {target} use different tracking servers ({redact(source_uri)} and {redact(target_uri)}): "
            f"version {entry.serve.version} is looked up on {target}'s; copying a version between servers is "
            "not something maestro does"
        )
    quiet_logs()
    client = connect(target_uri)
    state = desired_state(spec, ws.platforms[target], target)
    destination = ws.platforms[target].environments[target].endpoints.mlflow_artifacts
    old = c.lock.environments.get(target) if c.lock is not None else None
    promotion = promote_entry(client, entry, source, state, destination, old)
    diags = [_positioned(d, c, ws, target) for d in promotion.diagnostics]
    lines = entry_changes(target, model, old, promotion.entry) if promotion.entry is not None else []
    if args.format == "markdown":
        sys.stdout.write(_markdown(model, source, target, servers, entry.serve.version, promotion, lines, diags))
    else:
        print(f"promote {model}: {source} -> {target}")
        print(servers)
        _gates_text(promotion, entry.serve.version, target)
        print_diagnostics(diags, "text")
        for line in lines or ([] if has_errors(diags) else [f"{target}/{model}: already serves that version"]):
            print(line)
    if has_errors(diags) or promotion.entry is None:
        print(f"promotion refused: nothing written to {shown}", file=sys.stderr)
        return FINDINGS
    assert c.lock is not None
    new = with_entry(c.lock, target, promotion.entry)
    if args.dry_run:
        if args.format == "text":
            print("dry run: nothing written")
        return OK
    if new != c.lock:
        atomic_write(c.path.parent / LOCK_FILE, dumps(new))
        if args.format == "text":
            print(f"wrote {shown}")
    return OK


def _stale_target(d: Diagnostic, target: str) -> bool:
    """The target's entry being stale does not stop a promotion: it is replaced."""
    from maestro.frontend.loader import escape

    return d.code == "M812" and d.pointer.startswith(f"/environments/{escape(target)}")


def _gates_text(promotion: Promotion, version: int, target: str) -> None:
    from maestro.mlflow.check import num

    if not promotion.gates:
        return
    print(f"gates on version {version}, with {target}'s run metrics:")
    for metric, op, threshold, observed, holds in promotion.gates:
        value = "not logged" if observed is None else num(observed)
        print(f"  {metric} {value} {op} {num(threshold)}: {'holds' if holds else 'FAILS'}")


def _markdown(
    model: str,
    source: str,
    target: str,
    servers: str,
    version: int,
    promotion: Promotion,
    lines: list[str],
    diags: list[Diagnostic],
) -> str:
    """A pull request body: the change, the gates as a table, and what refused it."""
    from maestro.mlflow.check import num

    out = [f"## Promote `{model}`: {source} → {target}", ""]
    refused = promotion.entry is None or any(d.is_error for d in diags)
    if refused:
        out += ["**Refused.**", ""]
    out += [f"- {line}" for line in lines] or ([] if refused else [f"- {target}/{model}: already serves that version"])
    out += ["", f"{servers}.", ""]
    if promotion.gates:
        out += [
            f"Gates on version {version}, with {target}'s run metrics:",
            "",
            "| metric | gate | value | |",
            "|---|---|---|---|",
        ]
        for metric, op, threshold, observed, holds in promotion.gates:
            value = "not logged" if observed is None else num(observed)
            out.append(f"| {metric} | {op} {num(threshold)} | {value} | {'✅' if holds else '❌'} |")
        out.append("")
    for d in diags:
        out.append(f"- `{d.code}` {d.message}")
    return "\n".join(out).rstrip("\n") + "\n"


def _positioned(d: Diagnostic, c: Checked, ws: Workspace, env: str) -> Diagnostic:
    """A gate finding at the gate's line (the spec's, or the platform minimum's in config)."""
    from maestro.frontend.loader import escape

    extra = dict(d.extra)
    metric, source = extra.get("metric"), extra.get("source")
    spec, located = c.effective.get(env), c.effective_located.get(env)
    if metric is not None and source == "platform":
        doc = ws.inputs.platforms.get(env)
        if doc is not None:
            return replace(d, **doc.where(f"/environments/{escape(env)}/governance/min_gates/{escape(metric)}"))
        return d
    if spec is None or located is None:
        return d
    pointer = "/spec/registry/serve" if spec.spec.registry is not None else "/spec/serving"
    if metric is not None and spec.spec.registry is not None:
        index = next((i for i, g in enumerate(spec.spec.registry.gates) if g.metric == metric), None)
        pointer = f"/spec/registry/gates/{index}" if index is not None else "/spec/registry/gates"
    return replace(d, **located.where(pointer))
