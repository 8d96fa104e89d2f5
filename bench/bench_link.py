"""Benchmark: the link stage's share of `maestro render` over N synthetic specs x 3 environments.

    .venv/bin/python bench/bench_link.py [N ...]     (default: 100 400)

The specs are bench_render's (the shipped examples under new names, 25 teams, so namespaces
are shared by many models). One in-process render per N; the link stage is timed inside it,
so the ratio link / render is what to compare across machines.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_render import make_repo


def main(sizes: list[int]) -> None:
    from maestro.cli import main as cli
    from maestro.output import link

    original = link.link
    spent = [0.0]

    def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    link.link = timed  # type: ignore[assignment]
    print(f"{'specs':>6} {'render s':>9} {'link s':>8} {'link/render':>12}")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            repo = Path(tmp)
            make_repo(repo, n)
            spent[0] = 0.0
            start = time.perf_counter()
            rc = cli(["--root", str(repo), "render", "--out", str(repo / "out")])
            total = time.perf_counter() - start
            assert rc in (0, 1), rc
            print(f"{n:>6} {total:>9.2f} {spent[0]:>8.2f} {spent[0] / total:>12.1%}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 400])
