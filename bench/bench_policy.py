"""Per-document cost of policy evaluation: a 6-rule conftest package over 1,000 documents.

Prints numbers; not a test. Run: .venv/bin/python bench/bench_policy.py
Compares the ways to drive regorus (shared engine + set_input vs a clone per document;
one whole-package query vs one query per rule) and the PolicySet.check path Maestro uses.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import regorus

from maestro.policy.policyset import PolicySet
from maestro.policy.rego import RegoEngine, engine_version

N = 1000
REPEAT = 5

POLICY = """package main

import rego.v1

deny contains msg if {
	input.kind == "Deployment"
	not input.spec.template.spec.securityContext.runAsNonRoot
	msg := sprintf("%s must run as non-root", [input.metadata.name])
}

deny_team_label contains {"msg": "missing team label", "code": "MLP002", "path": "/metadata/labels"} if {
	not input.metadata.labels.team
}

violation_latest contains msg if {
	some c in input.spec.template.spec.containers
	endswith(c.image, ":latest")
	msg := sprintf("container %s uses latest", [c.name])
}

warn contains "single replica" if input.spec.replicas < 2

warn_memory_limit contains msg if {
	some c in input.spec.template.spec.containers
	not c.resources.limits.memory
	msg := sprintf("container %s has no memory limit", [c.name])
}

deny_privileged contains msg if {
	some c in input.spec.template.spec.containers
	c.securityContext.privileged
	msg := sprintf("container %s is privileged", [c.name])
}

exception contains ["team_label"] if input.metadata.name == "legacy"
"""

RULES = ["deny", "deny_team_label", "violation_latest", "warn", "warn_memory_limit", "deny_privileged"]


def document(i: int) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"app-{i}", "labels": {"team": "a"} if i % 2 else {}},
        "spec": {
            "replicas": i % 3,
            "template": {
                "spec": {
                    "securityContext": {"runAsNonRoot": i % 4 == 0},
                    "containers": [
                        {
                            "name": f"c{j}",
                            "image": "img:latest" if j == i % 3 else "img:1.0",
                            "resources": {"limits": {"cpu": "1"}},
                            "securityContext": {"privileged": j == 5},
                        }
                        for j in range(3)
                    ],
                }
            },
        },
    }


def best_ms_per_doc(fn) -> float:
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000 / N


def main() -> None:
    docs = [document(i) for i in range(N)]
    texts = [json.dumps(d) for d in docs]

    t0 = time.perf_counter()
    policy = PolicySet.from_sources({"bench.rego": POLICY})
    load_ms = (time.perf_counter() - t0) * 1000

    raw = regorus.Engine()
    raw.add_policy("bench.rego", POLICY)
    rule_paths = [f"data.main.{r}" for r in RULES + ["exception"]]

    def raw_shared_package() -> None:
        for t in texts:
            raw.set_input_json(t)
            raw.eval_query_as_json("data.main")

    def raw_shared_per_rule() -> None:
        for t in texts:
            raw.set_input_json(t)
            for p in rule_paths:
                raw.eval_rule_as_json(p)

    def raw_shared_per_rule_query() -> None:
        for t in texts:
            raw.set_input_json(t)
            for p in rule_paths:
                raw.eval_query_as_json(p)

    def raw_clone_per_rule() -> None:
        for t in texts:
            e = raw.clone()
            e.set_input_json(t)
            for p in rule_paths:
                e.eval_rule_as_json(p)

    adapter = RegoEngine()
    adapter.add_module("bench.rego", POLICY)

    def adapter_shared() -> None:
        for d in docs:
            adapter.set_input(d)
            for p in rule_paths:
                adapter.eval_rule(p)

    def adapter_clone() -> None:
        for d in docs:
            e = adapter.clone()
            e.set_input(d)
            for p in rule_paths:
                e.eval_rule(p)

    def policy_check() -> None:
        for d in docs:
            policy.check(d)

    findings = sum(len(policy.check(d)) for d in docs)
    rows = [
        ("regorus: shared engine, one data.main query (unsafe: drops errors)", raw_shared_package),
        ("regorus: shared engine, eval_rule per rule (7)", raw_shared_per_rule),
        ("regorus: shared engine, eval_query per rule (7)", raw_shared_per_rule_query),
        ("regorus: clone per document, eval_rule per rule", raw_clone_per_rule),
        ("adapter: shared engine, set_input + eval_rule x7", adapter_shared),
        ("adapter: clone per document, set_input + eval_rule x7", adapter_clone),
        ("PolicySet.check (shared engine; what maestro uses)", policy_check),
    ]
    print(f"{engine_version()}, python {sys.version.split()[0]}")
    print(f"{len(RULES)}-rule package + exception rule, {N} documents, best of {REPEAT}")
    print(f"PolicySet load (parse + analysis): {load_ms:.2f} ms; findings over all documents: {findings}")
    results = []
    for label, fn in rows:
        ms = best_ms_per_doc(fn)
        results.append(ms)
        print(f"  {label:<68} {ms:.4f} ms/doc")
    clone_cost = statistics.mean([best_ms_per_doc(lambda: [raw.clone() for _ in range(N)])])
    print(f"  {'regorus: clone() alone':<68} {clone_cost:.4f} ms/doc")


if __name__ == "__main__":
    main()
