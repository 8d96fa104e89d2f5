"""Cold start: `maestro validate specs/fraud-detector/maestro.yaml` next to `python -c pass`.

    .venv/bin/python bench/bench_startup.py [RUNS]      (default 7)

Each command runs RUNS times in a fresh interpreter; the medians and their ratio are
printed. The validate run includes loading the platform config, the overlays, the Rego
policies, Optuna (the spec has tuning) and checking every environment.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def median_seconds(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(runs: int) -> None:
    base = median_seconds([sys.executable, "-c", "pass"], runs)
    cases = {
        "validate fraud-detector (tuning: imports optuna)": ["specs/fraud-detector/maestro.yaml"],
        "validate sentiment-bert (no tuning)": ["specs/sentiment-bert/maestro.yaml"],
    }
    print(f"python -c pass: {base * 1000:.0f} ms (median of {runs})")
    for label, args in cases.items():
        t = median_seconds([sys.executable, "-m", "maestro", "validate", *args], runs)
        print(f"{label}: {t * 1000:.0f} ms, {t / base:.1f}x python -c pass")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
