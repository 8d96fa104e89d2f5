"""Pins the Rego engine's behaviour, through the adapter (`maestro.policy.rego`), so that an engine
swap (or a regorus upgrade) that changes a meaning or an error position fails here first.

Every case was checked against regorus 0.13.0; where regorus is lenient or lazy the adapter
compensates, and the test pins the adapter's (fail-closed) result.
"""

from __future__ import annotations

import pytest

from maestro.policy.rego import UNDEFINED, PolicyError, RegoEngine, char_col, detect_syntax

V1 = "package c\n\nimport rego.v1\n\n"


def engine(*sources: str, data: dict | None = None) -> RegoEngine:
    e = RegoEngine()
    for i, src in enumerate(sources):
        e.add_module(f"p{i}.rego", src, analyze=False)
    if data is not None:
        e.set_data(data)
    e.analyze()
    return e


def error_of(fn, *args, **kw) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        fn(*args, **kw)
    return info.value


# ---------------------------------------------------------------- semantics


EVERY = (
    V1
    + """bad(x) if x < 0

all_good if {
	every x in input.xs {
		not bad(x)
	}
}
"""
)


@pytest.mark.parametrize(("xs", "expected"), [([1, 2, 3], True), ([1, -1, 3], UNDEFINED), ([], True)])
def test_every_with_negated_call(xs, expected):
    assert engine(EVERY).eval_rule("data.c.all_good", {"xs": xs}) is expected


UNBOUND = (
    V1
    + """bad(x) if x < 0

bad_indices contains i if bad(input.xs[i])

any_bad if bad(input.xs[_])

bad_names contains name if {
	some name
	bad(input.limits[name])
}
"""
)


def test_function_call_on_ref_with_unbound_index():
    e = engine(UNBOUND)
    inp = {"xs": [1, -1, 2, -5], "limits": {"cpu": -1, "mem": 3}}
    assert e.eval_rule("data.c.bad_indices", inp) == [1, 3]
    assert e.eval_rule("data.c.any_bad") is True
    assert e.eval_rule("data.c.bad_names") == ["cpu"]
    assert e.eval_rule("data.c.bad_indices", {"xs": [1, 2]}) == []
    assert e.eval_rule("data.c.any_bad") is UNDEFINED


WITH_INPUT = (
    V1
    + """deny contains msg if {
	input.replicas > 3
	msg := "too many"
}

test_denies_many if {
	deny["too many"] with input as {"replicas": 5}
}

test_allows_few if {
	count(deny) == 0 with input as {"replicas": 1}
}

test_with_data if {
	data.cfg.limit == 7 with data.cfg.limit as 7
}
"""
)


def test_with_input_as_in_test_rules_does_not_leak():
    e = engine(WITH_INPUT)
    for name in ("test_denies_many", "test_allows_few", "test_with_data"):
        assert e.eval_rule(f"data.c.{name}") is True
    # `with` replaced input only inside the test: the engine's input is still undefined ...
    assert e.eval("input") == []
    # ... and a later real input is seen as given
    assert e.eval_rule("data.c.deny", {"replicas": 9}) == ["too many"]
    assert e.eval_rule("data.c.test_allows_few") is True  # `with` still wins over input


def test_time_parse_rfc3339_ns_with_z_and_offsets():
    e = engine(
        V1
        + """t := time.parse_rfc3339_ns(input.t)

later if time.parse_rfc3339_ns(input.a) > time.parse_rfc3339_ns(input.b)
"""
    )
    assert e.eval_rule("data.c.t", {"t": "2024-01-02T03:04:05Z"}) == 1704164645000000000
    assert e.eval_rule("data.c.t", {"t": "2024-01-02T05:04:05+02:00"}) == 1704164645000000000
    assert e.eval_rule("data.c.t", {"t": "2024-01-02T03:04:05.5Z"}) == 1704164645500000000
    assert e.eval_rule("data.c.later", {"a": "2024-01-02T03:04:06Z", "b": "2024-01-02T03:04:05Z"}) is True
    assert e.eval_rule("data.c.later", {"a": "2024-01-02T03:04:04Z", "b": "2024-01-02T03:04:05Z"}) is UNDEFINED


V0_DENY = """package main

deny[msg] {
	input.x > 1
	msg := sprintf("v0 says %d", [input.x])
}
"""

V1_DENY = """package main

import rego.v1

deny contains msg if {
	input.x > 2
	msg := sprintf("v1 says %d", [input.x])
}
"""

V1_NO_IMPORT = """package main

deny contains msg if {
	input.x > 3
	msg := "v1 without import"
}
"""


def test_v0_and_v1_syntax_each_and_mixed_in_one_package():
    assert engine(V0_DENY).eval_rule("data.main.deny", {"x": 5}) == ["v0 says 5"]
    assert engine(V1_DENY).eval_rule("data.main.deny", {"x": 5}) == ["v1 says 5"]
    assert engine(V1_NO_IMPORT).eval_rule("data.main.deny", {"x": 5}) == ["v1 without import"]
    mixed = engine(V0_DENY, V1_DENY, V1_NO_IMPORT)
    assert [m.syntax for m in mixed.modules] == ["v0", "v1", "v1"]
    assert mixed.eval_rule("data.main.deny", {"x": 5}) == ["v0 says 5", "v1 says 5", "v1 without import"]
    assert mixed.eval_rule("data.main.deny", {"x": 2}) == ["v0 says 2"]


def test_v0_with_future_keywords():
    src = """package main

import future.keywords.contains
import future.keywords.if
import future.keywords.in

deny contains msg if {
	some n in input.names
	msg := n
}
"""
    e = engine(src)
    assert e.modules[0].syntax == "v0"
    assert e.eval_rule("data.main.deny", {"names": ["a", "b"]}) == ["a", "b"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("package p\nimport rego.v1\np := 1\n", "v1"),
        ("package p\np contains 1 if true\n", "v1"),
        ("package p\np if input.x\n", "v1"),
        ("package p\np := [x | some x in input.xs]\n", "v1"),
        ("package p\np[x] { x := 1 }\n", "v0"),
        ('package p\np { contains(input.s, "if") }\n', "v0"),  # builtin call and a string, not keywords
        ("package p\n# if contains\np := input.if\n", "v0"),  # comment and field access
        ("package p\nimport future.keywords\np contains 1 if true\n", "v0"),
        ("package p\np := 1\n", "v0"),
    ],
)
def test_detect_syntax(source, expected):
    assert detect_syntax(source) == expected


def test_partial_future_import_with_unimported_keyword_is_refused():
    # the v0 parser would read `if` as a variable name and change the rule's meaning
    err = error_of(detect_syntax, "package p\nimport future.keywords.in\n\ndeny contains 1 if { 1 in [1] }\n", "p.rego")
    assert (err.file, err.line, err.col) == ("p.rego", 4, 6)
    assert "contains" in err.message


def test_sets_of_objects_come_back_as_lists_and_null_is_not_undefined():
    e = engine(
        V1
        + """deny contains {"msg": "a", "code": "X1"} if true

deny contains "plain" if true

nothing := null

looks_undefined := "<undefined>"

really_undefined := 1 if false
"""
    )
    assert e.eval_rule("data.c.deny") == ["plain", {"code": "X1", "msg": "a"}]
    assert e.eval_rule("data.c.nothing") is None
    assert e.eval_rule("data.c.looks_undefined") == "<undefined>"
    assert e.eval_rule("data.c.really_undefined") is UNDEFINED
    assert e.eval_rule("data.c.no_such_rule") is UNDEFINED


def test_print_is_gathered_not_written(capsys):
    e = engine(V1 + 'p if {\n\tprint("hello", input.x)\n\ttrue\n}\n')
    assert e.eval_rule("data.c.p", {"x": 1}) is True
    assert capsys.readouterr().out == ""
    assert e.take_prints() == ["p0.rego:6: hello 1"]
    assert e.take_prints() == []


def test_clone_is_independent_and_shares_modules():
    base = engine(V1 + "v := input.x\n")
    a, b = base.clone(), base.clone()
    a.set_input({"x": 1})
    b.set_input({"x": 2})
    assert (a.eval_rule("data.c.v"), b.eval_rule("data.c.v")) == (1, 2)
    assert base.eval_rule("data.c.v") is UNDEFINED
    assert [m.file for m in a.modules] == ["p0.rego"]


def test_data_documents_and_rule_listing():
    e = engine(
        V1
        + """default allow := false

allow if input.user in data.admins

deny contains "x" if not allow

obj[k] := 1 if some k in input.keys

f(x) := x + 1

a.b := 1
""",
        data={"admins": ["ann"]},
    )
    assert e.eval_rule("data.c.allow", {"user": "ann"}) is True
    assert e.eval_rule("data.c.allow", {"user": "bob"}) is False
    kinds = [(r.name, r.kind, r.line) for r in e.rules("c")]
    assert kinds == [
        ("allow", "default", 5),
        ("allow", "complete", 7),
        ("deny", "set", 9),
        ("obj", "object", 11),
        ("f", "function", 13),
        ("a", "complete", 15),
    ]
    assert e.rules("data.c") == e.rules("c")
    assert e.packages() == ["c"]


def test_data_that_would_shadow_a_rule_is_refused():
    # regorus lets a data document at a rule's path win silently: `deny` would be emptied
    e = engine(V1 + 'deny contains "x" if true\n')
    err = error_of(e.set_data, {"c": {"deny": []}})
    assert (err.file, err.line, err.col, err.kind) == ("p0.rego", 5, 1, "data")
    assert "data.c.deny" in err.message
    err = error_of(e.set_data, {"c": 5})
    assert err.kind == "data"
    e.set_data({"c": {"other": 1}})  # data beside rules is fine
    assert e.eval_rule("data.c.deny") == ["x"]


def test_input_must_be_json():
    e = engine(V1 + "v := input\n")
    err = error_of(e.set_input, {"x": float("nan")})
    assert err.kind == "input"
    e.set_input({"when": __import__("datetime").date(2024, 1, 2), "tags": {"b", "a"}})
    assert e.eval_rule("data.c.v") == {"when": "2024-01-02", "tags": ["a", "b"]}


# ---------------------------------------------------------------- errors and positions


def test_syntax_error_position():
    err = error_of(engine, V1 + "limit := 1 + * 2\n")
    assert (err.file, err.line, err.col, err.kind) == ("p0.rego", 5, 14, "syntax")
    assert err.message == "expecting expression"
    assert str(err) == "p0.rego:5:14: expecting expression"


def test_syntax_error_in_v0_file():
    # regorus' v0 parser reports an error inside a rule body at the body's opening brace
    err = error_of(engine, "package main\n\ndeny[msg] {\n\tmsg := 1 + * 2\n}\n")
    assert (err.file, err.line, err.col, err.kind) == ("p0.rego", 3, 11, "syntax")
    assert err.message == "expecting }"


def test_columns_are_characters_not_engine_bytes():
    # regorus counts a tab as 4 columns and a non-ASCII character as its UTF-8 bytes
    err = error_of(engine, 'package c\n\n\tp := "日本" + * 2\n')
    assert (err.line, err.col) == (3, 14)
    assert char_col("\tx", 5) == 2
    assert char_col("é!", 3) == 2


def test_unsafe_variable_in_head_position():
    # reported when evaluation reaches the rule (regorus checks safety lazily)
    e = engine(V1 + "deny contains msg if {\n\tinput.x == 1\n}\n")
    err = error_of(e.eval_rule, "data.c.deny", {"x": 1})
    assert (err.file, err.line, err.col) == ("p0.rego", 5, 15)
    assert err.message == "var msg is unsafe"


def test_unsafe_variable_in_body_fails_at_load():
    err = error_of(engine, V1 + 'deny contains "m" if {\n\ty == 1\n}\n')
    assert (err.file, err.line, err.col) == ("p0.rego", 6, 2)
    assert err.message == "use of undefined variable `y` is unsafe"


def test_unsafe_variable_in_second_file_of_a_package_is_not_dropped():
    # regorus' whole-package query (`data.main`) silently skips this error when the broken
    # rule sits in the second file of the package; evaluating by rule path reports it.
    ok = 'package main\n\nimport rego.v1\n\nwarn contains "w" if input.x == 1\n'
    broken = "package main\n\nimport rego.v1\n\ndeny contains msg if input.x == 1\n"
    e = engine(ok, broken)
    assert e.eval_rule("data.main.warn", {"x": 1}) == ["w"]
    err = error_of(e.eval_rule, "data.main.deny")
    assert (err.file, err.line, err.col) == ("p1.rego", 5, 15)


def test_undefined_function_fails_at_load_with_position():
    err = error_of(engine, V1 + 'deny contains msg if {\n\tinput.kind == "x"\n\tmsg := strings.nope(input)\n}\n')
    assert (err.file, err.line, err.col, err.kind) == ("p0.rego", 7, 9, "compile")
    assert err.message == "unknown function `strings.nope`"


def test_functions_resolve_through_packages_and_imports():
    lib = "package lib.util\n\nimport rego.v1\n\ndouble(x) := x * 2\n"
    user = (
        V1
        + "import data.lib.util\nimport data.lib.util as u\n\na := util.double(1)\n\nb := u.double(2)\n\nc := data.lib.util.double(3)\n"
    )
    e = engine(lib, user)
    assert [e.eval_rule(f"data.c.{n}") for n in "abc"] == [2, 4, 6]
    err = error_of(engine, lib, V1 + "import data.lib.util\n\na := util.triple(1)\n")
    assert (err.line, err.message) == (7, "unknown function `util.triple`")


def test_rule_conflict_complete_rule_with_two_values():
    err = error_of(engine, V1 + "limit := 1\n\nlimit := 2\n")
    assert (err.file, err.line, err.col) == ("p0.rego", 7, 1)
    assert err.message == "rule conflicts with rule at p0.rego:5:1"


def test_rule_conflict_that_depends_on_input():
    e = engine(V1 + "limit := 1 if input.a\n\nlimit := 2 if input.a\n")
    err = error_of(e.eval_rule, "data.c.limit", {"a": True})
    assert (err.line, err.col) == (7, 1)
    assert e.eval_rule("data.c.limit", {"a": False}) is UNDEFINED


def test_two_default_rules_are_refused():
    # regorus keeps the first silently; OPA refuses
    err = error_of(engine, V1 + "default p := 1\n\ndefault p := 2\n")
    assert (err.line, err.col) == (7, 1)
    assert "multiple default rules" in err.message


def test_runtime_errors_carry_positions_and_no_backtrace():
    e = engine(
        V1
        + """ratio := input.a / input.b

f(x) := 1 if x > 0

f(x) := 2 if x > 0

v := f(input.a)

t := time.parse_rfc3339_ns(input.when)
"""
    )
    err = error_of(e.eval_rule, "data.c.ratio", {"a": 1, "b": 0, "when": "x"})
    assert (err.line, err.col, err.kind, err.message) == (5, 18, "runtime", "divide by zero")
    err = error_of(e.eval_rule, "data.c.v")
    assert (err.line, err.col) == (11, 7)  # the call's parenthesis
    assert err.message == "functions must not produce multiple outputs for same inputs"
    err = error_of(e.eval_rule, "data.c.t")
    assert err.message.startswith("Failed to parse datetime")
    assert (err.file, err.line) == ("", 0)  # regorus gives no position; PolicySet adds the rule's
    for msg in (str(err), err.message):
        assert "backtrace" not in msg.lower() and "\n" not in msg


def test_recursion_is_an_error():
    err = error_of(engine, V1 + "p if q\n\nq if p\n")
    assert (err.line, err.col, err.message) == (5, 1, "rule p is recursive: p -> q -> p")  # as OPA says it
    assert [(o.line, o.message) for o in err.others] == [(7, "rule q is recursive: q -> p -> q")]


# A recursive *function* overflows regorus' stack (SIGSEGV, the whole process) as soon as a
# rule calls it: these must be refused when the policies load, before any evaluation.
@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        ("f(x) := y if {\n\ty := f(x)\n}\n\np := f(1)\n", 5, "rule f is recursive: f -> f"),
        ("g(x) := h(x)\n\nh(x) := g(x)\n\np := g(1)\n", 5, "rule g is recursive: g -> h -> g"),
        ("f(x) := data.c.f(x)\n\np := f(1)\n", 5, "rule f is recursive: f -> f"),
        (
            "import data.c as me\n\nf(x) := me.g(x)\n\ng(x) := f(x)\n\np := f(1)\n",
            7,
            "rule f is recursive: f -> g -> f",
        ),
        ("p := count(data.c)\n", 5, "rule p is recursive: p -> p"),  # a package ref reads every rule in it
    ],
)
def test_recursive_functions_are_refused_at_load(source: str, line: int, message: str):
    err = error_of(engine, V1 + source)
    assert (err.line, err.col, err.kind, err.message) == (line, 1, "compile", message)


def test_locals_and_other_packages_are_not_recursion():
    e = engine(
        V1 + 'msg := 1\n\ndeny contains msg if {\n\tmsg := sprintf("%v", [input.x])\n}\n\n'
        "r if {\n\tsome r\n\tinput.x[r]\n}\n\nf(msg) := msg + 1\n\nq := f(msg)\n",
        "package d\n\nimport rego.v1\n\nf(x) := data.c.f(x)\n\ng := f(1)\n",
    )
    assert (e.eval_rule("data.c.q"), e.eval_rule("data.d.g")) == (2, 2)


def test_errors_at_load_are_all_collected():
    err = error_of(engine, V1 + "a := nope1(1)\n\nb := nope2(2)\n")
    assert err.line == 5
    assert [o.line for o in err.others] == [7]
