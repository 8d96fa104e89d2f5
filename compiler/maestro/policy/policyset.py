"""Governance policies with conftest semantics, on top of the Rego adapter (`maestro.policy.rego`).

* Rules named `^(deny|violation)(_[a-zA-Z0-9]+)*$` are failures, `^warn(_[a-zA-Z0-9]+)*$`
  warnings. A result is a string (the message) or an object with a string `msg` and any
  other keys (`code`, `path`, ... are kept).
* `exception` rules: when `data.<ns>.exception[_][_] == "foo"` for an input, the rules
  `deny_foo`, `violation_foo` and `warn_foo` are skipped for it (plain `deny`, `violation`,
  `warn` are named by `""`). As in conftest, the skipped rule is still evaluated, so an
  error in it still fails, and each skipped rule is reported as an exception.
* Namespace `main` by default; others by name, or every package holding such rules.
* Multi-document YAML: each non-empty document is one input, reported with its index in the
  file (0-based, counting every document) and the line where its content starts.
* `run_tests`: every rule named `test_*` in every package, like `opa test`/`conftest verify`:
  it passes when it evaluates to `true`; undefined or any other value fails; an evaluation
  error is reported with its position. `todo_test_*` rules are skipped.

Fail closed, beyond conftest: a missing namespace, a rule whose value is not a set of
messages, a result object without a string `msg`, or an exception rule of the wrong shape is
a `PolicyError`, never an empty result (conftest silently ignores several of these).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from maestro.diagnostics import CODES, Diagnostic, Severity, error, warning
from maestro.policy.rego import (
    EVERY_RULE,
    UNDEFINED,
    PolicyError,
    RegoEngine,
    RuleInfo,
    overlay_data,
    to_json_text,
)

__all__ = [
    "CheckSummary",
    "InputDocument",
    "PolicyError",
    "PolicyResult",
    "PolicySet",
    "TestResult",
    "check_files",
    "exception_key",
    "format_test_results",
    "is_failure_rule",
    "is_warning_rule",
    "load_documents",
]

CODES.update(
    {
        # M4xx: governance policies (Rego)
        "M401": "policy denial",
        "M402": "policy warning",
        "M403": "policy error (syntax, compile or evaluation)",
        "M404": "policy directory or namespace missing",
        "M405": "policy exception applied",
        "M408": "policy exceeded its time or memory bound, or crashed the engine",
    }
)

FAILURE_RE = re.compile(r"^(deny|violation)(_[a-zA-Z0-9]+)*$")
WARNING_RE = re.compile(r"^warn(_[a-zA-Z0-9]+)*$")
_PREFIX_RE = re.compile(r"^(deny|violation|warn)_")
# A policy author's own code is kept as the diagnostic code when it looks like a code and
# does not pose as one of Maestro's own (M followed by three digits).
_AUTHOR_CODE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,63}$")
_MAESTRO_CODE_RE = re.compile(r"^M\d{3}$")

MAX_INPUT_BYTES = 16 * 1024 * 1024


def is_failure_rule(name: str) -> bool:
    return bool(FAILURE_RE.match(name))


def is_warning_rule(name: str) -> bool:
    return bool(WARNING_RE.match(name))


def exception_key(rule: str) -> str:
    """The name an `exception` rule uses for `rule`: deny_foo -> foo, deny -> ""."""
    if rule in ("deny", "violation", "warn"):
        return ""
    return _PREFIX_RE.sub("", rule, count=1)


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class PolicyResult:
    """One result of one conftest rule for one input."""

    kind: str  # "deny" (deny*/violation*), "warn", or "exception" (rule skipped by an exception)
    namespace: str
    rule: str  # rule name, e.g. "deny_latest"
    msg: str
    code: str | None = None  # the result object's `code`, as the policy author wrote it
    path: Any = None  # the result object's `path` (JSON pointer, list of keys, ...), if any
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)  # every other key
    rule_file: str = ""  # where the rule is defined (first definition)
    rule_line: int = 0

    @property
    def rule_path(self) -> str:
        return f"data.{self.namespace}.{self.rule}"


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest test class

    package: str
    name: str
    status: str  # pass | fail | error | skip
    file: str
    line: int
    col: int = 1
    message: str = ""  # why it failed or errored
    prints: tuple[str, ...] = ()
    duration_ms: float = 0.0

    @property
    def full_name(self) -> str:
        return f"data.{self.package}.{self.name}"

    @property
    def passed(self) -> bool:
        return self.status == "pass"


@dataclass(frozen=True)
class InputDocument:
    file: str
    index: int  # 0-based position among all documents of the file
    line: int  # where the document's content starts (1-based)
    col: int
    data: Any
    located: Any = field(default=None, compare=False, hash=False)  # loader.Located


@dataclass
class CheckSummary:
    files: int = 0
    documents: int = 0
    failures: int = 0
    warnings: int = 0
    exceptions: int = 0  # exception findings that suppressed at least one result
    errors: int = 0  # policy errors and unreadable inputs
    namespaces: tuple[str, ...] = ()


# ---------------------------------------------------------------- the policy set


class Checker(Protocol):
    """What checking documents needs of a loaded policy set: `PolicySet` in this process, or
    `policy.sandbox.IsolatedPolicySet` in a bounded worker."""

    source: str

    def packages(self) -> list[str]: ...

    def namespaces(self) -> list[str]: ...

    def check(
        self,
        input: Any,
        namespace: str | Sequence[str] = "main",
        data: Mapping[str, Any] | None = None,
        *,
        all_namespaces: bool = False,
    ) -> list[PolicyResult]: ...


def resolve_namespaces(policy: Checker, namespace: str | Sequence[str], all_namespaces: bool) -> list[str]:
    """The packages to evaluate: every one with conftest rules, or the named ones, which must
    exist and hold such rules (a PolicyError of kind "namespace" otherwise)."""
    if all_namespaces:
        found = policy.namespaces()
        if not found:
            raise PolicyError(
                f"no package in {policy.source} has deny, violation or warn rules", policy.source, kind="namespace"
            )
        return found
    wanted = [namespace] if isinstance(namespace, str) else list(namespace)
    if not wanted:
        raise PolicyError("no namespace given", kind="namespace")
    for ns in wanted:
        if ns not in policy.packages():
            known = ", ".join(policy.packages()) or "none"
            raise PolicyError(
                f"no package `{ns}` in {policy.source} (packages: {known})", policy.source, kind="namespace"
            )
        if ns not in policy.namespaces():
            raise PolicyError(f"package `{ns}` has no deny, violation or warn rules", policy.source, kind="namespace")
    return wanted


class PolicySet:
    """A policy directory loaded once (parsed, analysed) and evaluated against many inputs.

    Not thread-safe (one engine holds one input at a time); `clone()` gives an independent
    copy cheaply.
    """

    def __init__(self, engine: RegoEngine, source: str = "") -> None:
        self.source = source
        self._base = engine  # never given an input; tests and clones start from it
        self._eval = engine.clone()
        self._with_data: dict[str, RegoEngine] = {}
        self.last_prints: list[str] = []
        self._packages = engine.packages()
        self._rules: dict[str, list[RuleInfo]] = {}
        self._exception_rule: dict[str, RuleInfo] = {}
        self._combined: dict[str, str] = {}  # namespace -> the query of `_values`
        for rule in engine.rules():
            if rule.name == "exception" and rule.package not in self._exception_rule:
                self._exception_rule[rule.package] = rule
            if not (is_failure_rule(rule.name) or is_warning_rule(rule.name)):
                continue
            if rule.kind == "function":
                raise PolicyError(
                    f"`{rule.name}` is a function; conftest rules are sets of messages",
                    rule.file,
                    rule.line,
                    rule.col,
                    kind="conftest",
                )
            if rule.boolean:
                raise PolicyError(
                    f"`{rule.name}` is a boolean rule (`{rule.name} if ...`); write "
                    f"`{rule.name} contains msg if ...` so it yields messages",
                    rule.file,
                    rule.line,
                    rule.col,
                    kind="conftest",
                )
            defs = self._rules.setdefault(rule.package, [])
            if all(d.name != rule.name for d in defs):
                defs.append(rule)
        for defs in self._rules.values():
            defs.sort(key=lambda r: r.name)

    @classmethod
    def load(cls, policy_dir: Path | str, *, display: str | None = None, within: Path | None = None) -> PolicySet:
        """Load every `*.rego` under `policy_dir` plus its data files. Raises PolicyError.
        With `within`, a file that resolves outside that folder is refused unread."""
        shown = display if display is not None else str(policy_dir)
        return cls(RegoEngine.from_dir(Path(policy_dir), display=shown, within=within), shown)

    @classmethod
    def from_sources(cls, sources: Mapping[str, str], data: Mapping[str, Any] | None = None) -> PolicySet:
        """Policies given as text ({file name: source}), for tests and embedding."""
        engine = RegoEngine()
        for name, text in sources.items():
            engine.add_module(name, text, analyze=False)
        if data is not None:
            engine.set_data(data)
        engine.analyze()
        return cls(engine, "<sources>")

    def clone(self) -> PolicySet:
        return PolicySet(self._base.clone(), self.source)

    # -- introspection

    @property
    def engine(self) -> RegoEngine:
        return self._base

    def packages(self) -> list[str]:
        return list(self._packages)

    def namespaces(self) -> list[str]:
        """Packages that hold deny/violation/warn rules."""
        return sorted(self._rules)

    def rules(self, namespace: str) -> list[RuleInfo]:
        """The conftest rules (one per name) of a namespace."""
        return list(self._rules.get(namespace, []))

    # -- checking

    def _engine_for(self, data: Mapping[str, Any] | None) -> RegoEngine:
        if data is None:
            return self._eval
        key = to_json_text(dict(data), "data", canonical=True)
        engine = self._with_data.get(key)
        if engine is None:
            engine = self._base.clone()
            engine.set_data(overlay_data(self._base.data, json.loads(key)))
            if len(self._with_data) >= 8:
                self._with_data.pop(next(iter(self._with_data)))
            self._with_data[key] = engine
        return engine

    def check(
        self,
        input: Any,
        namespace: str | Sequence[str] = "main",
        data: Mapping[str, Any] | None = None,
        *,
        all_namespaces: bool = False,
        combined: bool = True,
    ) -> list[PolicyResult]:
        """Findings for one input. `data` is deep-merged over the directory's data documents
        (objects merge, other values in `data` win); it must not shadow a rule.
        Raises PolicyError (with the position in the policy) on any evaluation error.
        `combined=False`: one engine call per rule (`_values`), whatever happens."""
        namespaces = resolve_namespaces(self, namespace, all_namespaces)
        engine = self._engine_for(data)
        engine.set_input(input)
        try:
            findings: list[PolicyResult] = []
            for ns in namespaces:
                values = self._values(engine, ns) if combined else None
                excepted = self._exceptions(engine, ns, values)
                for rule in self._rules[ns]:
                    findings.extend(self._evaluate(engine, ns, rule, excepted, values))
            return findings
        finally:
            self.last_prints = engine.take_prints()

    def _values(self, engine: RegoEngine, ns: str) -> dict[str, Any] | None:
        """The value of the exception rule and of every conftest rule of `ns` (by rule path),
        in one engine call: the rules share their helpers' values there, and the input is read
        once (44% less time than one call per rule on the shipped policies). None when that
        call fails, is undefined (a complete rule without a value) or prints: then each rule is
        evaluated alone, which says where an error is and prints what it prints, in order."""
        rules = [*([self._exception_rule[ns]] if ns in self._exception_rule else []), *self._rules[ns]]
        query = self._combined.get(ns)
        if query is None:
            query = self._combined[ns] = "x := [" + ", ".join(r.path for r in rules) + "]"
        try:
            results = engine.eval(query, what=f"{EVERY_RULE}{ns}")
        except PolicyError:
            engine.take_prints()
            return None
        if engine.take_prints() or not results:
            return None
        return dict(zip((r.path for r in rules), results[0].bindings["x"], strict=True))

    def _exceptions(self, engine: RegoEngine, ns: str, values: Mapping[str, Any] | None = None) -> set[str]:
        rule = self._exception_rule.get(ns)
        if rule is None:
            return set()
        value = values[rule.path] if values is not None else self._value(engine, rule)
        if value is UNDEFINED:
            return set()
        problem = '`exception` must be a set of rule-name collections, e.g. `exception contains rules if { rules := ["foo"] }`'
        if not isinstance(value, list):
            raise PolicyError(
                f"{problem}; got {_kind(value)}", rule.file, rule.line, rule.col, kind="conftest", rule=rule.path
            )
        names: set[str] = set()
        for item in value:
            if not isinstance(item, list) or not all(isinstance(n, str) for n in item):
                raise PolicyError(
                    f"{problem}; got an element {_short(item)}",
                    rule.file,
                    rule.line,
                    rule.col,
                    kind="conftest",
                    rule=rule.path,
                )
            names.update(item)
        return names

    @staticmethod
    def _value(engine: RegoEngine, rule: RuleInfo) -> Any:
        try:
            return engine.eval_rule(rule.path)
        except PolicyError as exc:
            raise PolicyError(exc.message, exc.file, exc.line, exc.col, kind=exc.kind, rule=rule.path).located(
                rule.file, rule.line, rule.col
            ) from None

    def _evaluate(
        self, engine: RegoEngine, ns: str, rule: RuleInfo, excepted: set[str], values: Mapping[str, Any] | None = None
    ) -> list[PolicyResult]:
        value = values[rule.path] if values is not None else self._value(engine, rule)
        if value is UNDEFINED:
            items: list[Any] = []
        elif isinstance(value, list):
            items = value
        else:
            raise PolicyError(
                f"{rule.path} must be a set of messages; it is {_kind(value)}"
                + (" (write `contains`, not `[msg] if`)" if isinstance(value, dict) else ""),
                rule.file,
                rule.line,
                rule.col,
                kind="conftest",
                rule=rule.path,
            )
        kind = "deny" if is_failure_rule(rule.name) else "warn"
        results = [self._finding(kind, ns, rule, item) for item in items]
        if exception_key(rule.name) in excepted:
            return [
                PolicyResult(
                    "exception",
                    ns,
                    rule.name,
                    f"{rule.path} skipped by data.{ns}.exception "
                    f"({len(results)} result{'s' if len(results) != 1 else ''} suppressed)",
                    details={"suppressed": [f.msg for f in results]},
                    rule_file=rule.file,
                    rule_line=rule.line,
                )
            ]
        return results

    @staticmethod
    def _finding(kind: str, ns: str, rule: RuleInfo, item: Any) -> PolicyResult:
        if isinstance(item, str):
            return PolicyResult(kind, ns, rule.name, item, rule_file=rule.file, rule_line=rule.line)
        if isinstance(item, dict):
            msg = item.get("msg")
            if not isinstance(msg, str):
                raise PolicyError(
                    f"a result of {rule.path} has no string `msg`: {_short(item)}",
                    rule.file,
                    rule.line,
                    rule.col,
                    kind="conftest",
                    rule=rule.path,
                )
            code = item.get("code")
            if code is not None and not isinstance(code, str):
                if isinstance(code, (int, float)) and not isinstance(code, bool):
                    code = str(code)
                else:
                    raise PolicyError(
                        f"a result of {rule.path} has a `code` that is not a string: {_short(code)}",
                        rule.file,
                        rule.line,
                        rule.col,
                        kind="conftest",
                        rule=rule.path,
                    )
            details = {k: v for k, v in item.items() if k not in ("msg", "code", "path")}
            return PolicyResult(
                kind, ns, rule.name, msg, code, item.get("path"), details, rule_file=rule.file, rule_line=rule.line
            )
        raise PolicyError(
            f"{rule.path} yielded {_short(item)}; results must be strings or objects with a `msg`",
            rule.file,
            rule.line,
            rule.col,
            kind="conftest",
            rule=rule.path,
        )

    # -- unit tests

    def run_tests(self, match: str | None = None) -> list[TestResult]:
        """Run every `test_*` rule of every package (`match`: regex on data.pkg.name)."""
        pattern = re.compile(match) if match else None
        groups: dict[tuple[str, str], list[RuleInfo]] = {}
        for rule in sorted(self._base.rules(), key=lambda r: (r.file, r.line, r.col)):
            if rule.name.startswith(("test_", "todo_test_")):
                groups.setdefault((rule.package, rule.name), []).append(rule)
        out: list[TestResult] = []
        for (pkg, name), defs in groups.items():
            first = defs[0]
            if pattern and not pattern.search(f"data.{pkg}.{name}"):
                continue
            if name.startswith("todo_test_"):
                out.append(TestResult(pkg, name, "skip", first.file, first.line, first.col))
                continue
            if any(d.kind == "function" for d in defs):
                out.append(
                    TestResult(pkg, name, "error", first.file, first.line, first.col, "a test rule takes no arguments")
                )
                continue
            if len(defs) > 1:
                where = ", ".join(f"{d.file}:{d.line}" for d in defs)
                out.append(
                    TestResult(
                        pkg,
                        name,
                        "error",
                        first.file,
                        first.line,
                        first.col,
                        f"test defined {len(defs)} times ({where}); the engine merges "
                        "same-named rules, so give each test its own name",
                    )
                )
                continue
            engine = self._base.clone()
            t0 = time.perf_counter()
            try:
                value = engine.eval_rule(first.path)
            except PolicyError as exc:
                err = exc.located(first.file, first.line, first.col)
                out.append(
                    TestResult(
                        pkg,
                        name,
                        "error",
                        first.file,
                        first.line,
                        first.col,
                        str(err),
                        tuple(engine.take_prints()),
                        (time.perf_counter() - t0) * 1000,
                    )
                )
                continue
            ms = (time.perf_counter() - t0) * 1000
            prints = tuple(engine.take_prints())
            if value is True:
                out.append(TestResult(pkg, name, "pass", first.file, first.line, first.col, "", prints, ms))
            else:
                why = "undefined" if value is UNDEFINED else f"value is {_short(value)}, not true"
                out.append(TestResult(pkg, name, "fail", first.file, first.line, first.col, why, prints, ms))
        return out


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return "a number"
    return type(value).__name__


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------- formatting


def format_test_results(results: Sequence[TestResult], *, verbose: bool = False) -> str:
    """`policy test` output: one line per test, then the total line "N passed, N failed".

    Failed and errored tests show where the test is and why; `print` output of failing
    tests (of every test with `verbose`) follows, indented.
    """
    lines = []
    for r in results:
        if r.status == "pass":
            lines.append(f"PASS {r.full_name}")
        elif r.status == "skip":
            lines.append(f"SKIP {r.full_name}")
        else:
            reason = r.message if r.status == "fail" else f"error: {r.message}"
            lines.append(f"FAIL {r.full_name} ({r.file}:{r.line}): {reason}")
        if r.prints and (verbose or r.status in ("fail", "error")):
            lines.extend(f"  {p}" for p in r.prints)
    passed = sum(r.status == "pass" for r in results)
    failed = sum(r.status in ("fail", "error") for r in results)
    skipped = sum(r.status == "skip" for r in results)
    if skipped:
        lines.append(f"{skipped} skipped")
    lines.append(f"{passed} passed, {failed} failed")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- checking YAML files


def load_documents(path: Path, display: str | None = None) -> tuple[list[InputDocument], list[Diagnostic]]:
    """Every non-empty YAML document of a file (YAML 1.2; JSON is YAML), each with positions.

    The spec loader's reader, so duplicate keys, alias bombs and nesting bounds give the
    same diagnostics (M001-M010) as for specs; only the size bound is larger, for
    manifests. Never raises for bad input.
    """
    from maestro.frontend.loader import loads_all

    file = display or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [], [error("M010", f"cannot read: {exc.strerror or exc}", file=file)]
    docs, diags = loads_all(raw, file, max_bytes=MAX_INPUT_BYTES)
    out = []
    for located in docs:
        pos = located.pos("")
        out.append(InputDocument(file, located.document, pos.line, pos.col, located.data, located))
    return out, diags


def _pointer_for(doc: InputDocument, path: Any) -> str | None:
    """A JSON pointer into `doc` for a result's `path`, if it names a located node."""
    from maestro.frontend.loader import pointer

    located = doc.located
    if located is None or path is None:
        return None
    candidates: list[str] = []
    if isinstance(path, list) and all(isinstance(p, (str, int)) and not isinstance(p, bool) for p in path):
        candidates.append(pointer(*path))
    elif isinstance(path, str):
        if path == "" or path.startswith("/"):
            candidates.append(path)
        else:
            candidates.append(pointer(*[int(p) if p.isdigit() else p for p in path.split(".")]))
    for ptr in candidates:
        if ptr in located.values or ptr in located.keys:
            return ptr
    # A value the document does not spell out (a default): report at its nearest parent.
    return candidates[0] if candidates else None


def _extra(pairs: Iterable[tuple[str, Any]]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for k, v in pairs:
        if k in seen or v is None:
            continue
        seen.add(k)
        out.append((k, v if isinstance(v, str) else json.dumps(v, sort_keys=True, ensure_ascii=False)))
    return tuple(out)


def finding_to_diagnostic(finding: PolicyResult, doc: InputDocument) -> Diagnostic | None:
    """The diagnostic for one finding on one document (None for a no-op exception).

    The code is the policy's own `code` when the result carries a usable one (letters,
    digits, `_.:-`, at most 64, not of Maestro's `M###` form), else M401 (deny) / M402 (warn).
    """
    ptr = _pointer_for(doc, finding.path)
    file, line, col = doc.file, doc.line, doc.col
    if ptr is not None:
        pos = doc.located.pos(ptr)
        # A merged document knows which file set each value (a spec, or the overlay).
        file, line, col = pos.file or doc.file, pos.line, pos.col
    base = [("rule", finding.rule_path), ("document", str(doc.index))]
    if finding.kind == "exception":
        if not finding.details.get("suppressed"):
            return None
        return Diagnostic(
            Severity.INFO,
            "M405",
            finding.msg,
            file=file,
            line=line,
            col=col,
            extra=_extra(base + [("suppressed", finding.details["suppressed"])]),
        )
    fallback = "M401" if finding.kind == "deny" else "M402"
    code = finding.code
    own = code is not None and bool(_AUTHOR_CODE_RE.match(code)) and not _MAESTRO_CODE_RE.match(code)
    extra = base + ([("policy_code", code)] if code is not None else [])
    if finding.path is not None:
        extra.append(("path", finding.path))
    hint = finding.details.get("hint")
    extra.extend((k, v) for k, v in sorted(finding.details.items()) if k != "hint")
    make = error if finding.kind == "deny" else warning
    return make(
        code if own and code is not None else fallback,
        finding.msg,
        file=file,
        line=line,
        col=col,
        pointer=ptr or "",
        hint=hint if isinstance(hint, str) else None,
        extra=_extra(extra),
    )


_BOUND_HINTS = {
    "limit": "policy evaluation is bounded by policies.timeout_seconds and policies.memory_mb in "
    "config/platform.yaml: make the rule cheaper (no loops over large ranges), or raise the bound",
    "crash": "the Rego engine died evaluating this rule (a deep chain of function calls overflows its stack): "
    "simplify the rule",
}


def policy_error_diagnostic(exc: PolicyError, context: str = "") -> Diagnostic:
    code = "M404" if exc.kind in ("io", "namespace") else "M408" if exc.kind in _BOUND_HINTS else "M403"
    message = exc.message + (f" ({context})" if context else "")
    extra = [("kind", exc.kind)] + ([("rule", exc.rule)] if exc.rule else [])
    return error(
        code, message, file=exc.file, line=exc.line, col=exc.col, hint=_BOUND_HINTS.get(exc.kind), extra=_extra(extra)
    )


def check_files(
    paths: Sequence[Path],
    policy_dir: Path | str | None = None,
    namespace: str | Sequence[str] = "main",
    *,
    all_namespaces: bool = False,
    data: Mapping[str, Any] | None = None,
    policy: Checker | None = None,
    display: Mapping[Path, str] | None = None,
) -> tuple[list[Diagnostic], CheckSummary]:
    """`policy check`: every document of every file against the policies, as diagnostics.

    Pass `policy` to reuse a loaded PolicySet, else `policy_dir` is loaded. Never raises
    for bad input: an unloadable policy directory is one M403/M404 diagnostic, an evaluation
    error an M403 at its position in the policy (the input named in the message), a bad
    input file the loader's M0xx diagnostic. Exit status is the caller's: any error-severity
    diagnostic means "not clean".
    """
    summary = CheckSummary()
    if policy is None:
        if policy_dir is None:
            raise ValueError("check_files needs policy_dir or policy")
        try:
            policy = PolicySet.load(policy_dir)
        except PolicyError as exc:
            summary.errors += 1
            return [policy_error_diagnostic(exc)], summary
    try:
        summary.namespaces = tuple(resolve_namespaces(policy, namespace, all_namespaces))
    except PolicyError as exc:
        summary.errors += 1
        return [policy_error_diagnostic(exc)], summary
    diags: list[Diagnostic] = []
    for path in paths:
        path = Path(path)
        shown = (display or {}).get(path, str(path))
        summary.files += 1
        docs, problems = load_documents(path, shown)
        if problems:
            summary.errors += sum(d.is_error for d in problems)
            diags.extend(problems)
            continue
        for doc in docs:
            summary.documents += 1
            try:
                findings = policy.check(doc.data, list(summary.namespaces), data)
            except PolicyError as exc:
                summary.errors += 1
                if exc.kind != "skipped":  # an isolated set that failed earlier: reported there, once
                    diags.append(
                        policy_error_diagnostic(exc, f"while checking {shown}:{doc.line}, document {doc.index}")
                    )
                continue
            for f in findings:
                d = finding_to_diagnostic(f, doc)
                if d is None:
                    continue
                diags.append(d)
                if f.kind == "deny":
                    summary.failures += 1
                elif f.kind == "warn":
                    summary.warnings += 1
                else:
                    summary.exceptions += 1
    return diags, summary
