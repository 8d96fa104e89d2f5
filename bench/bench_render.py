"""Benchmark: every speed target of `maestro render` and `validate`, measured side by side in one run.

    .venv/bin/python bench/bench_render.py [N ...]          (default: 100 1000)
    .venv/bin/python bench/bench_render.py --quick 1000     (skip the --jobs 1 render)

A synthetic repository of N specs x 3 environments (the shipped examples under new names,
with their teams, so every renderer, overlay transform and shipped policy runs) is rendered:

- full: every spec rendered (`--no-cache`), with the default `--jobs` (the CPUs) and with
  `--jobs 1`; the ratio is the speed-up of the process pool;
- the YAML floor: libyaml's C emitter (`yaml.dump(..., Dumper=CSafeDumper)`) dumping the
  same objects, read back from the rendered tree: full render / floor <= 3 is the target;
- `kubectl kustomize` on every rendered folder, as Argo CD does for hand-written overlays:
  run on a sample of folders and scaled to all of them (every folder at N=1,000 takes ~10 min);
- no-op render (warm cache), one-spec-change render, `render --model M --env E`, the Argo CD
  plugin's `render --stdout --env E --model M` with a warm cache (first call, and the same call
  again, as a repo-server refresh makes it) and without one;
- peak RSS of the full render (the largest process: the parent or a worker);
- `render --check --shard I/4` without a cache, each shard (a CI matrix of 4 jobs);
- cold `maestro validate` of one spec (with nothing kept: --no-cache, as after an edit; then
  the same inputs again) and `maestro --help`, median of 5 fresh interpreters,
  against `python -c pass` (the package is byte-compiled first, as a wheel install is).

Times are wall-clock seconds on this machine, one run each (medians for the cold starts);
the load average is printed at the start and end: the ratios are what to compare.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MAESTRO = [sys.executable, "-m", "maestro"]
KUSTOMIZE_SAMPLE = 12
SHARDS = 4


def make_repo(dest: Path, n: int) -> None:
    for sub in ("config", "overlays", "schemas", "policies"):
        shutil.copytree(ROOT / sub, dest / sub)
    examples = sorted((ROOT / "specs").glob("*/maestro.yaml"))
    for i in range(n):
        src = examples[i % len(examples)]
        name = f"m{i:04d}-{src.parent.name}"[:46].rstrip("-")
        text = re.sub(r"(?m)^  name: .*$", f"  name: {name}", src.read_text(), count=1)
        (dest / "specs" / name).mkdir(parents=True)
        (dest / "specs" / name / "maestro.yaml").write_text(text)
        lock = src.parent / "maestro.lock.yaml"  # prod serves only locked versions (issue 16)
        if lock.exists():
            old = re.escape(src.parent.name)
            # The registered model is the model's name unless the spec names it (registry.model).
            keys = "model" if re.search(rf"(?m)^    model: {old}$", text) else "model|    registeredModel"
            locked = re.sub(rf"(?m)^({keys}): {old}$", rf"\1: {name}", lock.read_text())
            (dest / "specs" / name / "maestro.lock.yaml").write_text(locked)


class Run:
    def __init__(self, seconds: float, cpu: float, rss_mb: float, out: str) -> None:
        self.seconds, self.cpu, self.rss_mb, self.out = seconds, cpu, rss_mb, out


def _subreaper() -> None:
    """Become the parent of the commands' orphaned descendants (Linux PR_SET_CHILD_SUBREAPER):
    a render's pool processes each start a policy worker, which outlives them when the pool
    ends them; reparented to init, its CPU time (the Rego evaluation, a third of a render's)
    was counted by nobody. Reparented here, `run` waits for it and counts it."""
    import ctypes

    pr_set_child_subreaper = 36
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_child_subreaper, 1, 0, 0, 0)


def run(cmd: list[str], cwd: Path | None = None) -> Run:
    """Wall time, CPU time and peak RSS (of the largest process of its tree) of one command;
    the CPU time of its descendants too, also those it left running (`_subreaper`)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    cpu, rss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss
    while True:  # orphans of the command, reparented here: they end when their pipes close
        try:
            _, _, orphan = os.wait4(-1, 0)
        except ChildProcessError:
            break
        cpu, rss = cpu + orphan.ru_utime + orphan.ru_stime, max(rss, orphan.ru_maxrss)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-3000:]}")
    return Run(seconds, cpu, rss / 1024, out)


def median(cmd: list[str], runs: int = 5) -> float:
    return statistics.median(run(cmd, cwd=ROOT).seconds for _ in range(runs))


def yaml_floor(rendered: Path) -> tuple[float, int]:
    """Seconds libyaml's C emitter takes to dump every rendered object once."""
    import yaml

    objects = []
    for path in sorted(rendered.glob("*/*/*.yaml")):
        if path.name != "kustomization.yaml":
            objects.append(yaml.load(path.read_text(), Loader=yaml.CSafeLoader))
    start = time.perf_counter()
    for obj in objects:
        yaml.dump(obj, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return time.perf_counter() - start, len(objects)


def kustomize_every_folder(rendered: Path) -> tuple[float, int, int]:
    """`kubectl kustomize` per rendered folder, timed on a sample and scaled to all of them."""
    kubectl = shutil.which("kubectl")
    folders = sorted(p for p in rendered.glob("*/*") if (p / "kustomization.yaml").exists())
    if kubectl is None:
        return float("nan"), 0, len(folders)
    step = max(1, len(folders) // KUSTOMIZE_SAMPLE)
    sample = folders[::step][:KUSTOMIZE_SAMPLE]
    spent = sum(run([kubectl, "kustomize", str(f)]).seconds for f in sample)
    return spent / len(sample) * len(folders), len(sample), len(folders)


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def line(target: str, value: str, ratio: str, verdict: bool | None) -> None:
    mark = "" if verdict is None else ("met" if verdict else "NOT met")
    print(f"  {target:<62} {value:>16} {ratio:>26}  {mark}")


def bench(n: int, quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-render-{n}-") as tmp:
        repo = Path(tmp)
        make_repo(repo, n)
        root = ["--root", str(repo)]
        print(f"N={n}: {n} specs x 3 environments, shipped policies ({load()})")
        full = run([*MAESTRO, *root, "render", "--no-cache"])
        shutil.rmtree(repo / "rendered")
        cold = run([*MAESTRO, *root, "render"])  # fills the cache
        serial = None if quick else run([*MAESTRO, *root, "render", "--no-cache", "--jobs", "1", "--check"])
        noop = run([*MAESTRO, *root, "render"])
        spec = sorted((repo / "specs").glob("*/maestro.yaml"))[n // 2]
        spec.write_text(re.sub(r"(?m)^  description: (.*)$", r"  description: \1 (edited)", spec.read_text(), count=1))
        one = run([*MAESTRO, *root, "render"])
        model = spec.parent.name
        single = run([*MAESTRO, *root, "render", "--model", model, "--env", "prod"])
        cmp_warm = run([*MAESTRO, *root, "render", "--stdout", "--env", "prod", "--model", model])
        cmp_again = run([*MAESTRO, *root, "render", "--stdout", "--env", "prod", "--model", model])
        cmp_cold = run([*MAESTRO, *root, "render", "--stdout", "--env", "prod", "--model", model, "--no-cache"])
        # A CI matrix of SHARDS jobs, each `render --check --shard I/N` on a fresh runner (no cache):
        # shard 1 also checks the environment layers, from the other shards' committed folders.
        shards = [
            run([*MAESTRO, *root, "render", "--check", "--no-cache", "--shard", f"{i}/{SHARDS}"])
            for i in range(1, SHARDS + 1)
        ]
        floor, objects = yaml_floor(repo / "rendered")
        kust, sampled, folders = kustomize_every_folder(repo / "rendered")

    print(f"  {objects} objects in {folders or '?'} folders")
    line("full render, every spec (--no-cache, default --jobs)", f"{full.seconds:.2f} s", "", None)
    line(
        "  vs libyaml C dump of the same objects (target <= 3x)",
        f"{floor:.2f} s",
        f"render/floor {full.seconds / floor:.1f}x",
        full.seconds / floor <= 3,
    )
    line(
        f"  vs kubectl kustomize on every folder ({sampled} timed, scaled)",
        f"{kust:.1f} s",
        f"render/kustomize {full.seconds / kust:.2f}x",
        full.seconds < kust,
    )
    if serial is not None:
        line(
            "  --jobs 1 (both cores used by default: speed-up)",
            f"{serial.seconds:.2f} s",
            f"speed-up {serial.seconds / full.seconds:.2f}x",
            serial.seconds / full.seconds > 1.2,
        )
    line("  CPU time of the full render", f"{full.cpu:.1f} s", f"{1000 * full.cpu / (3 * n):.1f} ms/model-env", None)
    line("  peak RSS (largest process)", f"{full.rss_mb:.0f} MB", "", None)
    line("render filling the cache (first run)", f"{cold.seconds:.2f} s", "", None)
    line(
        "no-op render (target < 1 s)",
        f"{noop.seconds:.2f} s",
        f"vs full {noop.seconds / full.seconds:.3f}x",
        noop.seconds < 1,
    )
    line(
        "one-spec-change render (target < 1 s)",
        f"{one.seconds:.2f} s",
        f"vs full {one.seconds / full.seconds:.3f}x",
        one.seconds < 1,
    )
    line("render --model M --env E (target < 1 s)", f"{single.seconds:.2f} s", "", single.seconds < 1)
    slowest = max(shards, key=lambda r: r.seconds)
    line(
        f"render --check --shard I/{SHARDS}, no cache (slowest of {SHARDS})",
        f"{slowest.seconds:.2f} s",
        f"vs full {slowest.seconds / full.seconds:.2f}x",
        None,
    )
    line(
        "  shard 1 (also the environment layers)",
        f"{shards[0].seconds:.2f} s",
        f"peak RSS {shards[0].rss_mb:.0f} MB",
        None,
    )
    line("Argo CD plugin: render --stdout, warm cache", f"{cmp_warm.seconds:.2f} s", "per Application", None)
    line("  the same call again (a refresh of the Application)", f"{cmp_again.seconds:.2f} s", "per Application", None)
    line("Argo CD plugin: render --stdout, no cache", f"{cmp_cold.seconds:.2f} s", "per Application", None)
    print(f"  ({load()})")
    return {"full": full.seconds}


def startup() -> None:
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "compiler" / "maestro")], check=True)
    base = median([sys.executable, "-c", "pass"])
    pyd = median([sys.executable, "-c", "import pydantic"])
    helped = median([*MAESTRO, "--help"])
    # --no-cache: what the first validate after a spec edit pays (nothing kept for its inputs)
    validate = median([*MAESTRO, "validate", "--no-cache", "specs/sentiment-bert/maestro.yaml"])
    run([*MAESTRO, "validate", "specs/sentiment-bert/maestro.yaml"], cwd=ROOT)  # keeps the findings
    again = median([*MAESTRO, "validate", "specs/sentiment-bert/maestro.yaml"])
    print(f"cold start, median of 5 ({load()}); python -c pass {base:.3f} s, import pydantic {pyd:.3f} s")
    line("maestro --help (target < 0.1 s)", f"{helped:.3f} s", f"{helped / base:.1f}x python -c pass", helped < 0.1)
    line(
        "maestro validate one spec, nothing kept (target < 0.3 s)",
        f"{validate:.3f} s",
        f"{validate / pyd:.1f}x import pydantic",
        validate < 0.3,
    )
    line(
        "  the same validate again (its findings kept)",
        f"{again:.3f} s",
        f"{again / pyd:.1f}x import pydantic",
        again < 0.3,
    )


def main(argv: list[str]) -> None:
    _subreaper()
    quick = "--quick" in argv
    sizes = [int(a) for a in argv if a != "--quick"] or [100, 1000]
    startup()
    for n in sizes:
        bench(n, quick)


if __name__ == "__main__":
    main(sys.argv[1:])
