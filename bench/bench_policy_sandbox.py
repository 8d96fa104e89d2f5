"""The cost of evaluating policies in a bounded worker (policy/sandbox.py) instead of in process.

    .venv/bin/python bench/bench_policy_sandbox.py [ROUNDS]     (default: 5)

The repository's own policies/k8s over every object of the committed rendered tree, each
with its environment's `data.maestro.config`, exactly as `maestro render` checks them: once
with `PolicySet` in this process, once with `IsolatedPolicySet` (a pipe round trip and two
pickles per object), alternating, best of ROUNDS. Also the load (parse + analyze) each way.
Prints numbers; not a test. Compare the ratio, not the seconds, across machines.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def main(rounds: int) -> None:
    from maestro.policy.governance import config_data
    from maestro.policy.policyset import PolicySet, load_documents
    from maestro.policy.sandbox import IsolatedPolicySet
    from maestro.resolve.workspace import open_workspace

    ws, _ = open_workspace(ROOT)
    assert ws is not None
    inputs: list[tuple[Any, dict[str, Any]]] = []
    for path in sorted((ROOT / "rendered").glob("*/*/*.yaml")):
        env = path.relative_to(ROOT / "rendered").parts[0]
        if path.name == "kustomization.yaml" or env not in ws.platforms:
            continue
        for doc in load_documents(path)[0]:
            inputs.append((doc.data, config_data(ws.platforms[env], env, "growth")))
    folder = ROOT / "policies" / "k8s"

    def load_direct() -> PolicySet:
        return PolicySet.load(folder)

    def load_isolated() -> IsolatedPolicySet:
        return IsolatedPolicySet.load(folder)

    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, loader in (("in process", load_direct), ("isolated", load_isolated)):
            start = time.perf_counter()
            policies = loader()
            loaded = time.perf_counter() - start
            start = time.perf_counter()
            for obj, data in inputs:
                policies.check(obj, "main", data)
            spent = time.perf_counter() - start
            if isinstance(policies, IsolatedPolicySet):
                policies.close()
            best[f"{name} load"] = min(best.get(f"{name} load", loaded), loaded)
            best[name] = min(best.get(name, spent), spent)
    n = len(inputs)
    print(f"{n} objects, best of {rounds}")
    print(f"{'':12} {'load s':>8} {'check s':>8} {'per object':>11}")
    for name in ("in process", "isolated"):
        print(f"{name:12} {best[name + ' load']:>8.3f} {best[name]:>8.3f} {best[name] / n * 1e6:>9.0f} us")
    print(
        f"isolated / in process: check {best['isolated'] / best['in process']:.2f}x, "
        f"load {best['isolated load'] / best['in process load']:.2f}x"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
