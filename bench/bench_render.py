"""Benchmark: `maestro render` over N synthetic specs x 3 environments, next to
`kubectl kustomize` building one kustomization over the same rendered tree.

    .venv/bin/python bench/bench_render.py [N ...]     (default: 100 1000)

Synthetic specs are the shipped examples under new names, so every renderer and every
overlay transform runs. Times are wall-clock, one run each, measured in the same process
run; the ratio is what to compare across machines.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_repo(dest: Path, n: int) -> None:
    for sub in ("config", "overlays", "schemas"):
        shutil.copytree(ROOT / sub, dest / sub)
    examples = sorted((ROOT / "specs").glob("*/maestro.yaml"))
    for i in range(n):
        src = examples[i % len(examples)]
        name = f"m{i:04d}-{src.parent.name}"[:46].rstrip("-")
        text = re.sub(r"(?m)^  name: .*$", f"  name: {name}", src.read_text(), count=1)
        text = re.sub(r"(?m)^  team: .*$", f"  team: team-{i % 25:02d}", text, count=1)
        (dest / "specs" / name).mkdir(parents=True)
        (dest / "specs" / name / "maestro.yaml").write_text(text)


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(sizes: list[int]) -> None:
    maestro = [sys.executable, "-m", "maestro"]
    kubectl = shutil.which("kubectl")
    print(f"{'N':>6} {'objects':>8} {'render s':>9} {'per model-env ms':>17} {'kustomize s':>12} {'ratio':>6}")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            repo = Path(tmp)
            make_repo(repo, n)
            render_s = timed([*maestro, "--root", str(repo), "render"])
            folders = sorted(p for p in (repo / "rendered").glob("*/*") if (p / "kustomization.yaml").exists())
            files = [f for folder in folders for f in sorted(folder.glob("*.yaml")) if f.name != "kustomization.yaml"]
            objects = len(files)
            # One kustomization over every object of the tree (nesting the 3N folder
            # kustomizations instead costs kustomize ~0.8 s per folder).
            (repo / "rendered" / "kustomization.yaml").write_text(
                "resources:\n" + "".join(f"- {f.relative_to(repo / 'rendered')}\n" for f in files)
            )
            # kustomize grows faster than linearly with the resource count (7k objects: ~4 min
            # here), so past 10k objects it is not run: the ratio at N=100 is the comparison.
            kust_s = (
                timed([kubectl, "kustomize", str(repo / "rendered")]) if kubectl and objects <= 10_000 else float("nan")
            )
            print(
                f"{n:>6} {objects:>8} {render_s:>9.2f} {1000 * render_s / (3 * n):>17.1f} {kust_s:>12.2f} "
                f"{render_s / kust_s:>6.2f}"
            )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 1000])
