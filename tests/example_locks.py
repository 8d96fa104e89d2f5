"""The shipped examples' prod locks (specs/<model>/maestro.lock.yaml), made by a real MLflow.

    .venv/bin/python tests/example_locks.py [--env prod] [--root DIR] [--tracking-uri URI]

Without --tracking-uri it starts a throwaway `mlflow server` (sqlite, one worker), registers
every example that serves in the environment the way a training pipeline would (an
experiment whose artifacts live in s3://acme-mlflow-<env>/<experiment>, a run per version
that logs gate-passing metrics, versions registered from `runs:/<run>/model`, the aliases the
specs serve), then runs `maestro registry lock --env <env>` against it and stops the server.

What comes out is deterministic except the run IDs MLflow generates (and the artifact URIs
that contain them): regenerating rewrites those, and `maestro render` then rewrites the
`maestro.ml/model-run-id` annotations and storage URIs under rendered/<env>/.

tests/test_example_locks.py runs `register_examples` against a fresh store and checks that
the committed locks are what this script makes, run IDs aside.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def passing(gates: list[dict[str, Any]], rank: int) -> dict[str, float]:
    """Metrics that meet every gate; a higher `rank` is a little better on each gated metric."""
    out = {}
    for metric in sorted({g["metric"] for g in gates}):
        mine = [g for g in gates if g["metric"] == metric]
        equal = [g["value"] for g in mine if g["op"] == "=="]
        lo = max((g["value"] for g in mine if g["op"] in (">=", ">")), default=None)
        hi = min((g["value"] for g in mine if g["op"] in ("<=", "<")), default=None)
        if equal:
            value = equal[0]
        elif lo is not None and hi is not None:
            value = (lo + hi) / 2
        elif lo is not None:
            value = min(lo + 0.005 * (rank + 1), 0.999)
        else:
            assert hi is not None
            value = max(hi - 0.005 * (rank + 1), 0.001)
        out[metric] = round(value, 4)
    return out


def targets(state: dict[str, Any]) -> list[str | int]:
    """What serving resolves: the main target, then the variants'."""
    out: list[str | int] = []
    for t in [state["serve"], *(v["serve"] for v in state["variants"])]:
        out.append(int(t["version"]) if "version" in t else str(t["alias"]))
    return out


def register_examples(root: Path, client: Any, env: str) -> list[str]:
    """Register every example serving in `env` on `client`'s store; the models' names."""
    from maestro.mlflow.state import desired_state
    from maestro.mlflow.sync import sync_with
    from maestro.pipeline import check_file
    from maestro.resolve.workspace import discover, open_workspace

    ws, diags = open_workspace(root)
    assert ws is not None, diags
    names = []
    for path in discover(root):
        checked = check_file(path, path.relative_to(root).as_posix(), ws.inputs, [env], root)
        spec = checked.effective.get(env)
        if spec is None or spec.spec.serving is None:
            continue
        state = desired_state(spec, ws.platforms[env], env)
        experiment = state["experiment"]["name"]
        client.create_experiment(experiment, artifact_location=f"s3://acme-mlflow-{env}/{experiment}")
        sync_with(state, client)  # the registered model, tags
        wanted = targets(state)
        pinned = [t for t in wanted if isinstance(t, int)]
        aliases = [t for t in wanted if isinstance(t, str)]
        # Versions 1..n: the pinned ones, then one per alias (the main one first, then the variants').
        count = max(pinned, default=0) + len(aliases)
        name = state["registeredModel"]["name"]
        exp_id = client.get_experiment_by_name(experiment).experiment_id
        for rank in range(count):
            run = client.create_run(exp_id, run_name=f"{name}-train-{rank + 1}")
            for metric, value in passing(state["gates"], rank).items():
                client.log_metric(run.info.run_id, metric, value)
            client.set_terminated(run.info.run_id)
            client.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
        for i, alias in enumerate(aliases):
            client.set_registered_model_alias(name, alias, str(count - len(aliases) + 1 + i))
        names.append(name)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="prod")
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--tracking-uri", help="an empty tracking store to use (default: a throwaway mlflow server)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from maestro.cli import main as maestro
    from maestro.mlflow.client import connect, quiet_logs
    from mlflow_server import start_server, stop_server

    quiet_logs()
    with tempfile.TemporaryDirectory(prefix="maestro-example-locks-") as folder:
        server = None
        uri = args.tracking_uri
        if uri is None:
            server, uri = start_server(Path(folder))
        try:
            print(f"registering the examples on {uri}")
            print("registered:", ", ".join(register_examples(args.root, connect(uri), args.env)))
            os.environ["MLFLOW_TRACKING_URI"] = uri  # every environment resolves on this store
            return maestro(["--root", str(args.root), "registry", "lock", "--env", args.env])
        finally:
            if server is not None:
                stop_server(server)


if __name__ == "__main__":
    sys.exit(main())
