"""Benchmark: the cost of recording field provenance (`maestro why`) on rendering.

    .venv/bin/python bench/bench_provenance.py [ROUNDS]     (default: 5)

Every shipped model in every environment is rendered through `pipeline.render_model` (what
`maestro render` runs per model: renderers, stamping, the overlay's transforms) and through
`pipeline.trace_model` (the same, recording every leaf's origin), alternately, ROUNDS times
each in this process after one warm-up round of each. Reports the best and median
wall-clock time of a whole round per variant and the ratio traced / plain (median). The front
half (load, validate, resolve) runs once, before timing; it is the same for both.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(rounds: int) -> None:
    from maestro.pipeline import check_specs, lock_entry, render_model, trace_model
    from maestro.resolve.workspace import discover, open_workspace

    ws, _ = open_workspace(ROOT)
    assert ws is not None
    paths = [(p, p.relative_to(ROOT).as_posix()) for p in discover(ROOT)]
    checked = [c for c in check_specs(ws, paths, ws.environments).checked if c.spec is not None]
    work = [(c, env) for c in checked for env in ws.environments if env in c.effective]

    def plain() -> int:
        return sum(
            len(render_model(ws, env, c.effective[env], display, lock_entry(c, env))[0])
            for (c, env), display in ((w, f"specs/{w[0].path.parent.name}/maestro.yaml") for w in work)
        )

    def traced() -> int:
        return sum(len(trace_model(ws, env, c).objects) for c, env in work)

    times: dict[str, list[float]] = {"plain": [], "traced": []}
    objects = plain()
    assert traced() == objects  # warm-up, and the same objects
    for _ in range(rounds):
        for name, fn in (("plain", plain), ("traced", traced)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    print(f"{len(checked)} models x {len(ws.environments)} environments, {objects} objects, {rounds} rounds")
    for name, ts in times.items():
        print(f"  {name:<7} best {min(ts) * 1000:7.0f} ms   median {statistics.median(ts) * 1000:7.0f} ms")
    ratio = statistics.median(times["traced"]) / statistics.median(times["plain"])
    print(f"  recording costs {ratio:.1f}x render_model's time (median traced / median plain)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
