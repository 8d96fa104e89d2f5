"""Fault tests: hostile or careless policies against the real engine, isolated in a worker.

Each policy here once took the whole process down or ran unbounded (regorus 0.13.0):
a deep chain of calls overflows the native stack (SIGSEGV), two `numbers.range` loops over
40,000 run for hours, a comprehension over 1e8 strings asks for gigabytes, and an array
literal nested 25 deep takes the parser minutes. Through `IsolatedPolicySet` each becomes a
`PolicyError` at the rule that caused it, and the test process lives on.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import ROOT
from maestro.policy.policyset import PolicySet
from maestro.policy.rego import PolicyError
from maestro.policy.sandbox import IsolatedPolicySet, Limits

FAST = Limits(timeout_seconds=0.5, memory_mb=256)
ROOMY = Limits(timeout_seconds=20, memory_mb=512)  # parsing thousands of functions takes a while
HEADER = "package main\n\nimport rego.v1\n\n"


def policy_dir(tmp_path: Path, source: str, name: str = "p.rego") -> Path:
    folder = tmp_path / "policies"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(HEADER + source)
    return folder


def failure(tmp_path: Path, source: str, input: object = None, limits: Limits = FAST) -> PolicyError:
    folder = policy_dir(tmp_path, source)
    with pytest.raises(PolicyError) as info:
        ps = IsolatedPolicySet.load(folder, display="policies", limits=limits)
        try:
            ps.check(input if input is not None else {"a": 1}, "main", about="Deployment/x")
        finally:
            ps.close()
    return info.value


def call_chain(depth: int) -> str:
    """`f0(x) := f1(x)`, ..., `f<depth>(x) := x`: no recursion, just deep (3000 deep overflows
    regorus' stack: SIGSEGV)."""
    lines = [f"f{i}(x) := f{i + 1}(x)" for i in range(depth)] + [f"f{depth}(x) := x"]
    return "\n".join(lines) + '\n\ndeny contains "deep" if f0(input.a) == 1\n'


def test_a_crash_in_the_engine_is_a_diagnostic_at_the_rule(tmp_path: Path) -> None:
    err = failure(tmp_path, call_chain(3000), limits=ROOMY)
    assert err.kind == "crash"
    assert "crashed (SIGSEGV)" in err.message and "data.main.deny" in err.message
    lines = (tmp_path / "policies" / "p.rego").read_text().splitlines()
    rule_line = next(i for i, text in enumerate(lines, 1) if text.startswith("deny contains"))
    assert (err.file, err.line) == ("policies/p.rego", rule_line)  # the rule that was being evaluated
    assert "while checking Deployment/x against policies" in err.message


def test_an_unbounded_loop_stops_at_the_time_limit_naming_rule_and_input(tmp_path: Path) -> None:
    source = (
        'deny contains "slow" if {\n\tsome i in numbers.range(1, 40000)\n\tsome j in numbers.range(1, 40000)\n'
        "\ti + j == input.a\n}\n"
    )
    err = failure(tmp_path, source)
    assert err.kind == "limit"
    assert "CPU time limit of 0.5 s" in err.message and "data.main.deny" in err.message
    assert (err.file, err.line) == ("policies/p.rego", 5)


def test_a_memory_bomb_stops_at_the_memory_limit(tmp_path: Path) -> None:
    source = (
        "deny contains x if {\n\tinput.a == 1\n"
        '\tx := concat("", [s | some i in numbers.range(1, 100000000); s := "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])\n}\n'
    )
    err = failure(tmp_path, source)
    assert err.kind == "limit"
    assert "memory limit of 256 MB" in err.message and "Deployment/x" in err.message


def test_a_parser_blow_up_stops_at_the_time_limit_while_loading(tmp_path: Path) -> None:
    err = failure(tmp_path, "p := " + "[" * 25 + "1" + "]" * 25 + "\n")
    assert err.kind == "limit"
    assert "parsing policies/p.rego" in err.message and "loading the policies" in err.message
    assert (err.file, err.line) == ("policies/p.rego", 1)


def test_recursion_is_refused_before_anything_runs(tmp_path: Path) -> None:
    err = failure(tmp_path, 'f(x) := y if {\n\ty := f(x)\n}\n\ndeny contains "r" if f(input.a)\n')
    assert (err.kind, err.line, err.message) == ("compile", 5, "rule f is recursive: f -> f")


def test_after_a_failure_the_set_is_not_evaluated_again(tmp_path: Path) -> None:
    folder = policy_dir(
        tmp_path, call_chain(3000).replace("if f0(input.a) == 1", "if {\n\tinput.crash == 1\n\tf0(input.a) == 1\n}")
    )
    ps = IsolatedPolicySet.load(folder, display="policies", limits=ROOMY)
    try:
        assert ps.check({"a": 1, "crash": 2}, "main") == []
        with pytest.raises(PolicyError) as first:
            ps.check({"a": 1, "crash": 1}, "main", about="Service/s")
        assert first.value.kind == "crash" and "Service/s" in first.value.message
        with pytest.raises(PolicyError) as again:
            ps.check({"a": 1, "crash": 2}, "main")
        assert again.value.kind == "skipped"
    finally:
        ps.close()


def test_a_crashing_unit_test_is_an_error_and_the_others_still_run(tmp_path: Path) -> None:
    source = call_chain(3000).replace('deny contains "deep" if f0(input.a) == 1\n', "")
    source += "\ntest_a if true\n\ntest_b if f0(1) == 1\n\ntest_c if false\n"
    ps = IsolatedPolicySet.load(policy_dir(tmp_path, source), display="policies", limits=ROOMY)
    try:
        results = {r.name: r for r in ps.run_tests()}
    finally:
        ps.close()
    assert {n: r.status for n, r in results.items()} == {"test_a": "pass", "test_b": "error", "test_c": "fail"}
    assert "crashed (SIGSEGV)" in results["test_b"].message


def test_the_worker_leaves_no_process_behind(tmp_path: Path) -> None:
    ps = IsolatedPolicySet.load(policy_dir(tmp_path, 'deny contains "a" if input.a == 1\n'), limits=FAST)
    pid = ps._pid
    assert pid and os.path.exists(f"/proc/{pid}")
    ps.close()
    assert not os.path.exists(f"/proc/{pid}")


@pytest.mark.parametrize("scope", ["k8s", "spec"])
def test_isolated_results_equal_in_process_results(scope: str) -> None:
    """The repository's own policies give the same findings either way (inputs: every
    document of the policy test fixtures and the rendered tree's objects of one model)."""
    from maestro.policy.policyset import load_documents

    direct = PolicySet.load(ROOT / "policies" / scope, display=f"policies/{scope}")
    isolated = IsolatedPolicySet.load(ROOT / "policies" / scope, display=f"policies/{scope}")
    namespace = "main" if scope == "k8s" else "maestro.spec"
    try:
        assert isolated.namespaces() == direct.namespaces()
        files = sorted((ROOT / "rendered" / "prod" / "fraud-detector").glob("*.yaml")) if scope == "k8s" else []
        docs = [d.data for f in files for d in load_documents(f)[0]] or [{"spec": {}}]
        for doc in docs:
            assert isolated.check(doc, namespace) == direct.check(doc, namespace)
        assert [(r.name, r.status) for r in isolated.run_tests()] == [(r.name, r.status) for r in direct.run_tests()]
    finally:
        isolated.close()


_FORKED: IsolatedPolicySet | None = None  # what forked workers inherit (as `render --jobs` workers do)


def _messages(ps: IsolatedPolicySet, n: int) -> list[str]:
    return [f.msg for f in ps.check({"a": n % 3}, "main")]


def _check_in_a_forked_worker(n: int) -> tuple[list[str], int]:
    assert _FORKED is not None
    return _messages(_FORKED, n), _FORKED._pid


def test_a_forked_process_gets_its_own_worker(tmp_path: Path) -> None:
    """Processes forked from the owner (render --jobs) inherit the pipes to its worker:
    requests from several of them on one pipe would take each other's answers. Each forked
    copy starts a worker of its own; the owner's serves the owner throughout."""
    import multiprocessing

    global _FORKED
    source = 'deny contains msg if {\n\tinput.a == 1\n\tmsg := sprintf("a is %v", [input.a])\n}\n'
    ps = IsolatedPolicySet.load(policy_dir(tmp_path, source), display="policies", limits=ROOMY)
    owner_worker = ps._pid
    _FORKED = ps
    try:
        with multiprocessing.get_context("fork").Pool(3) as pool:
            pending = pool.map_async(_check_in_a_forked_worker, range(90), chunksize=1)
            for n in range(30):  # the owner keeps checking meanwhile
                assert _messages(ps, n) == (["a is 1"] if n % 3 == 1 else [])
            results = pending.get(timeout=300)
        for n, (findings, worker) in enumerate(results):
            assert findings == (["a is 1"] if n % 3 == 1 else []), n
            assert worker != owner_worker
        assert ps._pid == owner_worker and os.path.exists(f"/proc/{owner_worker}")
        assert _messages(ps, 1) == ["a is 1"]
    finally:
        _FORKED = None
        ps.close()
