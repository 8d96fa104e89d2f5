"""Benchmark: `maestro diff` for a one-spec change on an N-model repository, next to a full
`maestro render` of the same repository, in the same run.

    .venv/bin/python bench/bench_diff.py [N ...]     (default: 1000)

The repository is bench_render's `make_repo` (the shipped examples under new names, 25
teams; no policies, as in bench_render, since the synthetic teams break the budget rules and
`render` would write nothing), committed with its rendered tree. Then one spec's
serving replicas change and are committed, and `maestro diff --base HEAD~1 --head HEAD`
runs (both sides from git); then the same change is left uncommitted and
`maestro diff --base HEAD~1` runs against the working tree. Times are wall-clock, one run
each, in child processes (so imports count, as they do for a user).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_render import make_repo  # noqa: E402

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
MAESTRO = [sys.executable, "-m", "maestro"]


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, check=True, stdout=subprocess.DEVNULL)


def timed(cmd: list[str], ok: tuple[int, ...] = (0,)) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}")
    return elapsed, proc.stdout


def bump_replicas(repo: Path) -> str:
    """Raise serving.replicas.min of the first spec that serves; returns the model."""
    for spec in sorted((repo / "specs").glob("*/maestro.yaml")):
        text = spec.read_text()
        new, n = re.subn(r"replicas: \{min: (\d+)", lambda m: f"replicas: {{min: {int(m.group(1)) + 1}", text, count=1)
        if n:
            spec.write_text(new)
            return spec.parent.name
    raise SystemExit("no spec with serving.replicas")


def main(sizes: list[int]) -> None:
    print(
        f"{'N':>6} {'render s':>9} {'diff refs s':>12} {'diff worktree s':>16} {'speed-up':>9} "
        f"{'rendered':>9} {'skipped':>8} {'changed files':>14}"
    )
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            repo = Path(tmp)
            make_repo(repo, n)
            render_s, _ = timed([sys.executable, "-m", "maestro", "--root", str(repo), "render"])
            git(repo, "init", "-q")
            git(repo, "add", "-A")
            git(repo, "commit", "-qm", "base")
            model = bump_replicas(repo)
            git(repo, "commit", "-qam", f"{model}: one more replica")
            refs_s, out = timed(
                [*MAESTRO, "--root", str(repo), "diff", "--base", "HEAD~1", "--head", "HEAD", "--format", "json"],
                ok=(1,),
            )
            git(repo, "reset", "-q", "--soft", "HEAD~1")  # the same change, now uncommitted
            worktree_s, _ = timed(
                [*MAESTRO, "--root", str(repo), "diff", "--base", "HEAD", "--format", "json"], ok=(1,)
            )
            summary = json.loads(out)["summary"]
            print(
                f"{n:>6} {render_s:>9.2f} {refs_s:>12.2f} {worktree_s:>16.2f} {render_s / refs_s:>8.1f}x "
                f"{summary['rendered']:>9} {summary['skipped']:>8} {summary['objects']['changed']:>14}",
                flush=True,
            )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000])
