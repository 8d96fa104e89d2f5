"""`maestro lineage [--env E] [--model M] [--format mermaid|dot|json|openlineage]`: dataset ->
feature view -> training -> model version -> endpoint, from the specs (maestro/lineage.py).

Versions come from each model's lock (`specs/<model>/maestro.lock.yaml`, as the pipeline loads it) when there is one.
`--format openlineage` prints static OpenLineage job and dataset events, one JSON per line;
it needs openlineage-python (`pip install 'maestro-ml[lineage]'`), and their eventTime is
SOURCE_DATE_EPOCH when set (reproducible output), else now.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys

from maestro.commands.common import display, load_workspace, repo_root, spec_paths
from maestro.errors import FINDINGS, OK, UsageError
from maestro.output.reporters import print_diagnostics


def event_time() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch and epoch.isdigit() else dt.datetime.now(dt.UTC)
    return when.replace(microsecond=0).isoformat()


def command(args: argparse.Namespace) -> int:
    from maestro import lineage
    from maestro.diagnostics import has_errors
    from maestro.pipeline import check_specs

    root = repo_root(args)
    ws, diags = load_workspace(root)
    envs = ws.selected(args.env)
    front = check_specs(ws, [(p, display(p)) for p in spec_paths(root, [])], envs, model=args.model)
    checked = front.checked
    diags += front.diagnostics
    if has_errors(diags):
        print_diagnostics(diags, "text")
        print("no lineage: fix the errors above", file=sys.stderr)
        return FINDINGS
    pairs, versions = [], {}
    for c in checked:
        assert c.spec is not None
        if c.lock is not None:  # loaded and validated by check_specs, like the spec
            versions.update({(env, c.spec.metadata.name): e.serve.version for env, e in c.lock.environments.items()})
        pairs += [(env, c.effective[env]) for env in envs if env in c.effective]
    graph = lineage.build(pairs, {env: ws.platforms[env] for env in envs}, versions)
    if args.format == "openlineage":
        try:
            text = lineage.format_openlineage(graph, event_time())
        except ModuleNotFoundError as exc:
            raise UsageError(
                f"--format openlineage needs openlineage-python ({exc.name} is missing): "
                "pip install 'maestro-ml[lineage]'"
            ) from exc
    else:
        text = lineage.FORMATTERS[args.format](graph)
    sys.stdout.write(text)
    return OK
