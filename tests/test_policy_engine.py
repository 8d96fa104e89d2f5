"""conftest semantics (deny/violation/warn, suffixes, result objects, exceptions, namespaces,
multi-document YAML, data files), `policy test`, and failing closed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from maestro.diagnostics import CODES, Severity
from maestro.output.reporters import format_sarif, format_text
from maestro.policy.policyset import (
    PolicyError,
    PolicySet,
    TestResult,
    check_files,
    exception_key,
    format_test_results,
    is_failure_rule,
    is_warning_rule,
    load_documents,
)

CASES = Path(__file__).parent / "policy_cases"
MULTI = CASES / "inputs" / "multi.yaml"


def deployment(name="web", image="nginx:1.27", replicas=3, team="search", root_ok=True, annotations=None):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"team": team} if team else {}, "annotations": annotations or {}},
        "spec": {
            "replicas": replicas,
            "template": {
                "spec": {
                    "securityContext": {"runAsNonRoot": root_ok},
                    "containers": [{"name": "app", "image": image, "resources": {"limits": {"memory": "1Gi"}}}],
                }
            },
        },
    }


@pytest.fixture(scope="module")
def v1() -> PolicySet:
    return PolicySet.load(CASES / "basic_v1")


@pytest.fixture(scope="module")
def v0() -> PolicySet:
    return PolicySet.load(CASES / "basic_v0")


def summary(findings):
    return sorted((f.kind, f.rule, f.msg) for f in findings)


@pytest.fixture(autouse=True)
def every_rule_alone_too(monkeypatch):
    """Every check in this file also runs with one engine call per rule (the way
    `PolicySet._values` falls back): the same findings, prints and errors."""
    original = PolicySet.check

    def outcome(ps, input, namespace, data, all_namespaces, combined):
        try:
            found = original(ps, input, namespace, data, all_namespaces=all_namespaces, combined=combined)
            return ("ok", found, ps.last_prints)
        except PolicyError as e:
            return ("error", (str(e), e.kind, e.rule, e.file, e.line, e.col), ps.last_prints)

    def both(ps, input, namespace="main", data=None, *, all_namespaces=False, combined=True):
        alone = outcome(ps, input, namespace, data, all_namespaces, False)
        assert outcome(ps, input, namespace, data, all_namespaces, combined) == alone
        return original(ps, input, namespace, data, all_namespaces=all_namespaces, combined=combined)

    monkeypatch.setattr(PolicySet, "check", both)


def test_every_rule_of_a_package_is_evaluated_in_one_engine_call(monkeypatch):
    """The shipped policies on a rendered object: one call for the package; one per rule when
    the call is undefined (a complete rule with no value), fails or prints, with the same outcome."""
    import yaml

    from maestro.policy.rego import RegoEngine

    monkeypatch.undo()  # the check alone, not also every rule alone (every_rule_alone_too)
    ps = PolicySet.load(Path(__file__).parent.parent / "policies" / "k8s")
    doc = yaml.safe_load(
        (Path(__file__).parent.parent / "rendered/prod/fraud-detector/inferenceservice-fraud-detector.yaml").read_text()
    )
    calls = []
    for name in ("eval", "eval_rule"):
        original = getattr(RegoEngine, name)

        def counting(self, *args, _name=name, _original=original, **kw):
            calls.append(_name)
            return _original(self, *args, **kw)

        monkeypatch.setattr(RegoEngine, name, counting)
    calls.clear()
    ps.check(doc, "main", combined=True)
    assert calls == ["eval"]
    calls.clear()
    ps.check(doc, "main", combined=False)
    assert calls.count("eval_rule") == len(ps.rules("main")) + 1  # and the exception rule
    for extra in (
        'deny_never := {"x"} if false',  # undefined: the list of every rule is undefined
        'deny_divide contains "x" if 1 / input.zero',  # a runtime error, at this rule
        'warn_print contains "x" if print("seen")',  # what it prints, in rule order
    ):
        one = PolicySet.from_sources({"p.rego": f"package main\n\nimport rego.v1\n\n{extra}\n"})
        calls.clear()
        try:
            one.check({"zero": 0})
        except PolicyError:
            pass
        assert calls[:2] == ["eval", "eval_rule"]  # the package at once, then the rule alone


# ---------------------------------------------------------------- rule names


@pytest.mark.parametrize(
    ("name", "failure", "warning"),
    [
        ("deny", True, False),
        ("violation", True, False),
        ("deny_latest_tag", True, False),
        ("violation_a_b2", True, False),
        ("warn", False, True),
        ("warn_x", False, True),
        ("deny_", False, False),
        ("denylist", False, False),
        ("warning", False, False),
        ("deny-x", False, False),
        ("test_deny", False, False),
    ],
)
def test_rule_name_patterns(name, failure, warning):
    assert (is_failure_rule(name), is_warning_rule(name)) == (failure, warning)


@pytest.mark.parametrize(
    ("rule", "key"),
    [
        ("deny", ""),
        ("violation", ""),
        ("warn", ""),
        ("deny_foo", "foo"),
        ("violation_foo", "foo"),
        ("warn_foo", "foo"),
        ("deny_foo_bar", "foo_bar"),
    ],
)
def test_exception_keys(rule, key):
    assert exception_key(rule) == key


# ---------------------------------------------------------------- check: v1 policy


def test_clean_input_has_no_findings(v1):
    assert v1.check(deployment()) == []


def test_deny_violation_warn_and_suffixes(v1):
    doc = deployment(image="nginx:latest", replicas=1, team="unknown", root_ok=False)
    assert summary(v1.check(doc)) == [
        ("deny", "deny", "web: containers must not run as root"),
        ("deny", "deny_latest_tag", "container app uses the latest tag"),
        ("deny", "violation_known_team", 'team "unknown" is not in the catalog'),
        ("warn", "warn", "1 replicas is fewer than 2"),
    ]
    # `warning` and `denylist` exist in the package but are not conftest rules
    assert {r.name for r in v1.rules("main")} == {
        "deny",
        "deny_latest_tag",
        "violation_team_label",
        "violation_known_team",
        "warn",
        "warn_no_memory_limit",
    }


def test_object_results_keep_msg_code_path_and_other_keys(v1):
    (f,) = [f for f in v1.check(deployment(image="a:latest")) if f.rule == "deny_latest_tag"]
    assert (f.kind, f.namespace, f.msg, f.code) == ("deny", "main", "container app uses the latest tag", "MLP001")
    assert f.path == ["spec", "template", "spec", "containers", 0, "image"]
    assert f.details == {"severity": "high"}
    assert f.rule_path == "data.main.deny_latest_tag"
    assert (Path(f.rule_file).name, f.rule_line) == ("main.rego", 14)
    (g,) = v1.check(deployment(team=None))
    assert (g.rule, g.code, g.path, g.details) == ("violation_team_label", "MLP002", "/metadata", {})


def test_exception_v1_form_skips_named_rules_for_matching_input_only(v1):
    legacy = deployment(name="legacy-batch", image="a:latest", team=None)
    findings = v1.check(legacy)
    assert summary(findings) == [
        (
            "exception",
            "deny_latest_tag",
            "data.main.deny_latest_tag skipped by data.main.exception (1 result suppressed)",
        ),
        (
            "exception",
            "violation_team_label",
            "data.main.violation_team_label skipped by data.main.exception (1 result suppressed)",
        ),
    ]
    (e,) = [f for f in findings if f.rule == "deny_latest_tag"]
    assert e.details == {"suppressed": ["container app uses the latest tag"]}
    # the same problems on another name are failures
    assert {f.rule for f in v1.check(deployment(name="other", image="a:latest", team=None))} == {
        "deny_latest_tag",
        "violation_team_label",
    }


def test_exception_empty_name_skips_plain_deny(v1):
    doc = deployment(root_ok=False, annotations={"maestro.ml/allow-root": "true"})
    assert summary(v1.check(doc)) == [
        ("exception", "deny", "data.main.deny skipped by data.main.exception (1 result suppressed)"),
        ("exception", "warn", "data.main.warn skipped by data.main.exception (0 results suppressed)"),
    ]


def test_data_files_are_merged_into_data(v1):
    assert v1.engine.data == {
        "limits": {"min_replicas": 2},
        "flags": {"legacy": "no"},  # YAML 1.2
        "catalog": {"known_teams": ["payments-risk", "search"]},  # catalog/teams.json -> data.catalog
    }


def test_data_argument_is_merged_over_data_files(v1):
    doc = deployment(replicas=3)
    assert v1.check(doc, data={"limits": {"min_replicas": 5}})[0].msg == "3 replicas is fewer than 5"
    assert v1.check(doc, data={"limits": {"min_replicas": 5}})[0].msg == "3 replicas is fewer than 5"  # cached
    assert v1.check(doc) == []  # the data argument does not stick
    with pytest.raises(PolicyError) as info:
        v1.check(doc, data={"main": {"deny": []}})  # would shadow a rule
    assert info.value.kind == "data"


# ---------------------------------------------------------------- check: v0 policy, mixed


def test_v0_policy_same_semantics(v0):
    doc = deployment(image="a:latest", replicas=1, team=None, root_ok=False)
    findings = v0.check(doc)
    assert summary(findings) == [
        ("deny", "deny", "web: containers must not run as root"),
        ("deny", "deny_latest_tag", "container app uses the latest tag"),
        ("deny", "violation", "metadata.labels.team is required"),
        ("warn", "warn", "fewer than 2 replicas"),
    ]
    (viol,) = [f for f in findings if f.rule == "violation"]
    assert viol.details == {"details": {"field": "team"}}


def test_exception_v0_form(v0):
    doc = deployment(name="legacy-batch", image="a:latest")
    assert summary(v0.check(doc)) == [
        (
            "exception",
            "deny_latest_tag",
            "data.main.deny_latest_tag skipped by data.main.exception (1 result suppressed)",
        )
    ]


def test_v0_and_v1_files_in_one_package():
    ps = PolicySet.load(CASES / "mixed")
    assert sorted(m.syntax for m in ps.engine.modules) == ["v0", "v1", "v1", "v1"]
    assert summary(ps.check({"replicas": 11, "names": ["ok", "Bad"]})) == [
        ("deny", "deny", "v0: 11 replicas is more than 10"),
        ("deny", "deny", 'v1: bad name "Bad"'),
    ]
    assert summary(ps.check({"replicas": 1})) == [("warn", "warn", "v0: uses a v1 helper")]


# ---------------------------------------------------------------- namespaces


@pytest.fixture(scope="module")
def ns() -> PolicySet:
    return PolicySet.load(CASES / "namespaces")


def test_default_namespace_is_main(ns):
    doc = {"x": True, "privileged": True}
    assert [(f.namespace, f.msg) for f in ns.check(doc)] == [("main", "main: x is set")]


def test_other_namespaces_and_their_exceptions(ns):
    doc = {"x": True, "privileged": True}
    assert [(f.namespace, f.msg) for f in ns.check(doc, "k8s.security")] == [("k8s.security", "security: privileged")]
    excepted = ns.check({"privileged": True, "trusted": True}, "k8s.security")
    assert [(f.kind, f.rule) for f in excepted] == [("exception", "deny_privileged")]
    both = ns.check(doc, ["main", "k8s.security"])
    assert [f.namespace for f in both] == ["main", "k8s.security"]


def test_all_namespaces(ns):
    assert ns.namespaces() == ["k8s.security", "main", "team"]  # `helpers` has no conftest rules
    doc = {"x": True, "privileged": True}
    assert sorted((f.namespace, f.kind) for f in ns.check(doc, all_namespaces=True)) == [
        ("k8s.security", "deny"),
        ("main", "deny"),
        ("team", "warn"),
    ]


@pytest.mark.parametrize("namespace", ["nope", "helpers", []])
def test_missing_or_empty_namespace_fails_closed(ns, namespace):
    with pytest.raises(PolicyError) as info:
        ns.check({"x": True}, namespace)
    assert info.value.kind == "namespace"


# ---------------------------------------------------------------- multi-document YAML


def test_multi_document_yaml_indices_lines_and_empty_documents():
    docs, problems = load_documents(MULTI)
    assert problems == []
    assert [(d.index, d.line, d.data["metadata"]["name"]) for d in docs] == [
        (0, 2, "web"),
        (2, 19, "legacy-batch"),
        (3, 31, "web"),
    ]


def test_check_files_reports_each_document(v1):
    diags, s = check_files([MULTI], policy=v1)
    got = [(d.code, d.severity.value, d.line, d.col, dict(d.extra)["document"], d.message) for d in diags]
    assert got == [
        ("MLP001", "error", 14, 18, "0", "container app uses the latest tag"),
        ("M401", "error", 19, 1, "2", "legacy-batch: containers must not run as root"),
        ("M405", "info", 19, 1, "2", "data.main.deny_latest_tag skipped by data.main.exception (1 result suppressed)"),
        (
            "M405",
            "info",
            19,
            1,
            "2",
            "data.main.violation_team_label skipped by data.main.exception (1 result suppressed)",
        ),
        ("M402", "warning", 19, 1, "2", "1 replicas is fewer than 2"),
        ("M402", "warning", 19, 1, "2", "container job has no memory limit"),
        ("M401", "error", 31, 1, "3", 'team "unknown-team" is not in the catalog'),
    ]
    assert (s.files, s.documents, s.failures, s.warnings, s.exceptions, s.errors) == (1, 3, 3, 2, 2, 0)
    first = diags[0]
    assert first.pointer == "/spec/template/spec/containers/0/image"
    assert dict(first.extra) == {
        "rule": "data.main.deny_latest_tag",
        "document": "0",
        "policy_code": "MLP001",
        "path": '["spec", "template", "spec", "containers", 0, "image"]',
        "severity": "high",
    }
    assert all(d.file == str(MULTI) for d in diags)
    assert "MLP001" in format_sarif(diags) and format_text(diags).endswith("3 error(s), 2 warning(s)\n")


def test_policy_code_in_maestro_form_or_malformed_falls_back(tmp_path):
    policy = tmp_path / "p"
    policy.mkdir()
    (policy / "main.rego").write_text("""package main

import rego.v1

deny_fake contains {"msg": "claims a maestro code", "code": "M001"} if true

deny_odd contains {"msg": "odd code", "code": "has spaces"} if true

deny_num contains {"msg": "numeric code", "code": 42} if true

warn_hint contains {"msg": "w", "code": "MLP9", "hint": "do this", "path": "spec.replicas"} if true
""")
    doc = tmp_path / "in.yaml"
    doc.write_text("spec:\n  replicas: 1\n")
    diags, _ = check_files([doc], policy)
    got = {d.message: (d.code, d.severity, d.line, d.col, d.hint, dict(d.extra).get("policy_code")) for d in diags}
    assert got == {
        "claims a maestro code": ("M401", Severity.ERROR, 1, 1, None, "M001"),
        "odd code": ("M401", Severity.ERROR, 1, 1, None, "has spaces"),
        "numeric code": ("M401", Severity.ERROR, 1, 1, None, "42"),  # a code starts with a letter
        "w": ("MLP9", Severity.WARNING, 2, 13, "do this", "MLP9"),  # dotted path located
    }


def test_codes_are_registered():
    assert {"M401", "M402", "M403", "M404", "M405"} <= set(CODES)


def test_bad_input_file_gives_loader_diagnostics(v1, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\na: 2\n")
    missing = tmp_path / "missing.yaml"
    diags, s = check_files([bad, missing], policy=v1)
    assert [(d.code, d.line) for d in diags] == [("M003", 2), ("M010", 0)]
    assert s.errors == 2


# ---------------------------------------------------------------- policy test (verify)


def test_run_tests_v1_all_pass(v1):
    results = v1.run_tests()
    assert [(r.full_name, r.status) for r in results] == [
        ("data.main.test_clean_deployment_passes", "pass"),
        ("data.main.test_latest_tag_denied", "pass"),
        ("data.main.test_min_replicas_from_data", "pass"),
        ("data.main.test_yaml_12_no_is_a_string", "pass"),
    ]
    assert format_test_results(results).splitlines()[-1] == "4 passed, 0 failed"


def test_run_tests_v0_pass_fail_skip_and_format(v0):
    results = v0.run_tests()
    assert [(r.name, r.status) for r in results] == [
        ("test_root_denied", "pass"),
        ("test_exception_skips_latest_tag_only_for_legacy", "pass"),
        ("test_this_one_fails", "fail"),
        ("todo_test_later", "skip"),
    ]
    failed = results[2]
    assert (Path(failed.file).name, failed.line, failed.message) == ("main_test.rego", 12, "undefined")
    out = format_test_results(results)
    assert out == (
        "PASS data.main.test_root_denied\n"
        "PASS data.main.test_exception_skips_latest_tag_only_for_legacy\n"
        f"FAIL data.main.test_this_one_fails ({failed.file}:12): undefined\n"
        "SKIP data.main.todo_test_later\n"
        "1 skipped\n"
        "2 passed, 1 failed\n"
    )
    assert [r.name for r in v0.run_tests(match="root")] == ["test_root_denied"]


def test_run_tests_errors_values_duplicates_and_prints():
    ps = PolicySet.from_sources(
        {
            "t.rego": """package t

import rego.v1

test_div_by_zero if {
	x := 1 / input.zero
	x > 0
} 

test_not_true := 7

test_dup if true

test_dup if false

test_prints if {
	print("visible only for failures or verbose")
	false
}
""",
            "u.rego": "package u\n\nimport rego.v1\n\ntest_other_package if true\n",
        }
    )
    results = {r.full_name: r for r in ps.run_tests()}
    assert {k: v.status for k, v in results.items()} == {
        "data.t.test_div_by_zero": "fail",
        "data.t.test_not_true": "fail",
        "data.t.test_dup": "error",
        "data.t.test_prints": "fail",
        "data.u.test_other_package": "pass",
    }
    assert results["data.t.test_div_by_zero"].message == "undefined"  # input is undefined in tests
    assert results["data.t.test_not_true"].message == "value is 7, not true"
    assert "defined 2 times" in results["data.t.test_dup"].message
    assert results["data.t.test_prints"].prints == ("t.rego:17: visible only for failures or verbose",)
    out = format_test_results(list(results.values()))
    assert "  t.rego:17: visible only for failures or verbose\n" in out
    assert out.endswith("1 passed, 4 failed\n")


def test_run_tests_runtime_error_is_reported_with_position():
    ps = PolicySet.from_sources({"t.rego": "package t\n\nimport rego.v1\n\ntest_boom if {\n\tx := 1 / 0\n\tx > 0\n}\n"})
    (r,) = ps.run_tests()
    assert r.status == "error"
    assert r.message == "t.rego:6:9: divide by zero"
    assert (
        format_test_results([r])
        == "FAIL data.t.test_boom (t.rego:5): error: t.rego:6:9: divide by zero\n0 passed, 1 failed\n"
    )


def test_test_result_is_plain_data():
    r = TestResult("main", "test_x", "pass", "f.rego", 3)
    assert (r.full_name, r.passed) == ("data.main.test_x", True)


# ---------------------------------------------------------------- failing closed


def test_missing_policy_dir(tmp_path):
    with pytest.raises(PolicyError) as info:
        PolicySet.load(tmp_path / "nope")
    assert info.value.kind == "io"
    diags, s = check_files([MULTI], tmp_path / "nope")
    assert [(d.code, d.severity) for d in diags] == [("M404", Severity.ERROR)]
    assert s.errors == 1 and s.documents == 0


def test_policy_dir_without_rego_files(tmp_path):
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(PolicyError) as info:
        PolicySet.load(tmp_path)
    assert "no .rego files" in info.value.message


def test_syntax_error_fails_load_with_position():
    with pytest.raises(PolicyError) as info:
        PolicySet.load(CASES / "err_syntax")
    err = info.value
    assert (Path(err.file).name, err.line, err.col, err.kind) == ("broken.rego", 8, 1, "syntax")
    diags, _ = check_files([MULTI], CASES / "err_syntax")
    assert [(d.code, Path(d.file).name, d.line, d.col) for d in diags] == [("M403", "broken.rego", 8, 1)]


def test_unknown_function_fails_load_even_if_never_reached():
    with pytest.raises(PolicyError) as info:
        PolicySet.load(CASES / "err_unknown_function")
    err = info.value
    assert (Path(err.file).name, err.line, err.col) == ("main.rego", 7, 24)
    assert err.message == "unknown function `strings.no_such_function`"


def test_runtime_error_during_check_is_an_error_not_a_pass(tmp_path):
    ps = PolicySet.load(CASES / "err_runtime")
    assert ps.check({"requests": 1, "limit": 2}) == []
    with pytest.raises(PolicyError) as info:
        ps.check({"requests": 1, "limit": 0})
    err = info.value
    assert (Path(err.file).name, err.line, err.col, err.kind, err.message) == (
        "main.rego",
        6,
        26,
        "runtime",
        "divide by zero",
    )
    assert err.rule == "data.main.deny"
    inp = tmp_path / "in.yaml"
    inp.write_text("requests: 1\nlimit: 2\n---\nrequests: 1\nlimit: 0\n")
    diags, s = check_files([inp], CASES / "err_runtime")
    assert [(d.code, Path(d.file).name, d.line, d.col) for d in diags] == [("M403", "main.rego", 6, 26)]
    assert f"while checking {inp}:4, document 1" in diags[0].message
    assert (s.documents, s.errors) == (2, 1)


def test_error_without_engine_position_gets_the_rules_position():
    ps = PolicySet.from_sources(
        {
            "p.rego": 'package main\n\nimport rego.v1\n\ndeny contains msg if {\n\tmsg := sprintf("%d", [time.parse_rfc3339_ns(input.t)])\n}\n'
        }
    )
    with pytest.raises(PolicyError) as info:
        ps.check({"t": "yesterday"})
    assert (info.value.file, info.value.line, info.value.col) == ("p.rego", 5, 1)


@pytest.mark.parametrize(
    ("source", "fragment", "line"),
    [
        ("deny if input.x", "boolean rule", 5),  # conftest refuses `deny if` too
        ('deny[msg] if { msg := "x"; input.x }', "must be a set of messages; it is an object", 5),
        ('deny contains {"message": "no msg"} if input.x', "has no string `msg`", 5),
        ("deny contains 42 if input.x", "results must be strings or objects", 5),
        ('deny contains {"msg": "m", "code": {"a": 1}} if input.x', "`code` that is not a string", 5),
        ('deny := "one string" if input.x', "it is a string", 5),
        # conftest would ignore a set of strings here (`exception[_][_]` never matches)
        (
            'deny contains "x" if input.x\n\nexception contains "x" if input.x',
            "`exception` must be a set of rule-name",
            7,
        ),
        ("deny_f(x) := x", "is a function", 5),
    ],
)
def test_malformed_conftest_rules_fail_closed(source, fragment, line):
    def check():
        ps = PolicySet.from_sources({"p.rego": f"package main\n\nimport rego.v1\n\n{source}\n"})
        return ps.check({"x": True})

    with pytest.raises(PolicyError) as info:
        check()
    assert fragment in info.value.message
    assert (info.value.file, info.value.line) == ("p.rego", line)


def test_data_file_problems_fail_closed(tmp_path):
    shutil.copytree(CASES / "namespaces", tmp_path / "p")
    (tmp_path / "p" / "bad.json").write_text('{"a": 1, "a": 2}')
    with pytest.raises(PolicyError) as info:
        PolicySet.load(tmp_path / "p")
    assert info.value.kind == "data" and "duplicate key" in info.value.message
    (tmp_path / "p" / "bad.json").write_text('{"main": {"deny": []}}')
    with pytest.raises(PolicyError) as info:
        PolicySet.load(tmp_path / "p")
    assert "data.main.deny" in info.value.message
    (tmp_path / "p" / "bad.json").write_text(json.dumps({"a": 1}))
    (tmp_path / "p" / "more.yaml").write_text("a: 2\na: 3\n")
    with pytest.raises(PolicyError) as info:
        PolicySet.load(tmp_path / "p")
    assert (Path(info.value.file).name, info.value.line, info.value.kind) == ("more.yaml", 2, "data")
    (tmp_path / "p" / "more.yaml").write_text("- a list\n")
    with pytest.raises(PolicyError) as info:
        PolicySet.load(tmp_path / "p")
    assert "top level is a list" in info.value.message
    (tmp_path / "p" / "more.yaml").write_text("a: 2\n")
    with pytest.raises(PolicyError) as info:
        PolicySet.load(tmp_path / "p")
    assert "data conflict at data.a" in info.value.message


def test_hidden_entries_are_ignored(tmp_path):
    shutil.copytree(CASES / "namespaces", tmp_path / "p")
    (tmp_path / "p" / ".git").mkdir()
    (tmp_path / "p" / ".git" / "junk.rego").write_text("this is not rego")
    (tmp_path / "p" / ".junk.yaml").write_text(": : :")
    assert PolicySet.load(tmp_path / "p").namespaces() == ["k8s.security", "main", "team"]
