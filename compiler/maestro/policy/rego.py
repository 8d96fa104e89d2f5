"""The Rego engine adapter: the only module that imports `regorus`.

Everything the rest of Maestro knows about Rego goes through `RegoEngine`, so that a future
engine swap touches this file and `tests/test_rego_conformance.py` only.

What this adapter adds on top of regorus 0.13 (each point was measured, see the
conformance tests):

* **Syntax per file.** regorus parses a file in the mode set by `set_rego_v0` *at the
  moment the file is added*; files parsed in either mode then live together in one engine.
  A v1 file parsed in v0 mode is *not* rejected: `if` becomes an identifier and the rule
  silently means something else. So the mode is chosen per file (`detect_syntax`) from
  `import rego.v1`, `import future.keywords...` and the use of the v1 keywords `if` and
  `contains`, never by trial parsing.
* **Fail closed.** regorus reports most static errors (unsafe variables, unknown
  functions, conflicts) lazily, when evaluation reaches them, and evaluating a whole package
  (`data.main`) drops the errors of rules defined in a second file of that package. The
  adapter therefore evaluates rules by their full path, never whole packages for verdicts,
  checks every function call against the engine's builtins and the user functions at load
  time, evaluates every plain rule once at load time, and refuses data documents that
  would shadow a rule (regorus lets data win silently).
* **Clean errors.** Every failure is a `PolicyError` with file, line, col and a one-line
  message; the Rust backtrace regorus appends is dropped.
* **JSON in, JSON out.** Values cross the boundary as JSON text: regorus' native
  conversion cannot return sets of objects (Python sets need hashable members).
"""

from __future__ import annotations

import datetime as _dt
import enum
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regorus

from maestro.policy.recursion import find_recursion

__all__ = [
    "UNDEFINED",
    "ModuleInfo",
    "PolicyError",
    "QueryResult",
    "RegoEngine",
    "RuleInfo",
    "char_col",
    "detect_syntax",
    "engine_version",
    "merge_data",
    "overlay_data",
    "to_json_text",
]


# ---------------------------------------------------------------- errors


class PolicyError(Exception):
    """A policy could not be loaded or evaluated. Never means "no findings"."""

    def __init__(
        self,
        message: str,
        file: str = "",
        line: int = 0,
        col: int = 0,
        *,
        kind: str = "error",
        rule: str = "",
        others: Sequence[PolicyError] = (),
    ):
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        self.kind = kind  # io | syntax | compile | runtime | data | input | conftest | namespace
        self.rule = rule  # data path of the rule being evaluated, when known
        self.others = tuple(others)  # further errors found in the same pass
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = self.file
        if where and self.line:
            where = f"{where}:{self.line}:{self.col}"
        return f"{where}: {self.message}" if where else self.message

    def located(self, file: str, line: int, col: int) -> PolicyError:
        """The same error, placed at `file:line:col` when it carries no position of its own."""
        if self.file and self.line:
            return self
        return PolicyError(self.message, file, line, col, kind=self.kind, rule=self.rule, others=self.others)


_LOC_RE = re.compile(r"^\s*-->\s*(?P<file>.*):(?P<line>\d+):(?P<col>\d+)\s*$", re.M)
_ERR_RE = re.compile(r"^error:\s*(?P<msg>.*)$", re.M)
_NOISE_RE = re.compile(r"\s*\(path \[.*?\], scopes \[.*\]\)\s*$")


def _error_from(exc: BaseException, kind: str, rule: str = "") -> PolicyError:
    text = str(exc.args[0]) if exc.args else str(exc)
    text = text.split("Stack backtrace:", 1)[0]
    loc = _LOC_RE.search(text)
    msg_m = _ERR_RE.search(text)
    if msg_m:
        message = msg_m.group("msg").strip()
    else:
        message = next((ln.strip() for ln in text.splitlines() if ln.strip()), "") or type(exc).__name__
    message = _NOISE_RE.sub("", message).rstrip(":").strip()
    if kind == "compile" and not _is_static(message):
        kind = "runtime"
    if loc:
        return PolicyError(
            message, loc.group("file"), int(loc.group("line")), int(loc.group("col")), kind=kind, rule=rule
        )
    return PolicyError(message, kind=kind, rule=rule)


_STATIC_HINTS = (
    "unsafe",
    "could not find function",
    "rule conflicts",
    "recursion detected",
    "mismatch in number of arguments",
    "expects",
    "undefined variable",
)


def _is_static(message: str) -> bool:
    return any(h in message for h in _STATIC_HINTS)


# The step about to run in the engine: (what, file, line, col) -> None. The policy sandbox
# (policy/sandbox.py) installs one in its worker to re-arm its CPU timer before every parse
# and evaluation and to record where a fatal step was; nothing else does.
CallGuard = Callable[[str, str, int, int], None]
_call_guard: CallGuard | None = None
# The step of `PolicySet.check` evaluating every rule of a package in one call: a bound
# exceeded or a crash there is found again rule by rule, to say which rule (policy/sandbox.py).
EVERY_RULE = "every rule of package "


def set_call_guard(guard: CallGuard | None) -> None:
    """Run `guard(what, file, line, col)` before every parse and every evaluation."""
    global _call_guard
    _call_guard = guard


def _guard(call: Callable[..., Any], *args: Any, kind: str, rule: str = "") -> Any:
    try:
        return call(*args)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:
        raise _error_from(exc, kind, rule) from None


# ---------------------------------------------------------------- values


class _Undefined:
    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Any = _Undefined()
"""Returned by `RegoEngine.eval_rule` when the rule has no value (distinct from `null`)."""


def _json_default(value: Any) -> Any:
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        items = list(value)
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=_json_default))
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def to_json_text(value: Any, what: str = "value", *, canonical: bool = False) -> str:
    """Serialize plain data for the engine; refuse what JSON cannot carry (NaN, objects).
    `canonical` sorts keys (for cache keys); evaluation does not need it."""
    try:
        return json.dumps(value, allow_nan=False, default=_json_default, sort_keys=canonical)
    except (TypeError, ValueError) as exc:
        raise PolicyError(f"{what} is not JSON-compatible: {exc}", kind="input") from None


@dataclass(frozen=True)
class QueryResult:
    """One solution of a query: the value of each expression, and the variable bindings."""

    expressions: tuple[Any, ...]
    bindings: Mapping[str, Any]

    @property
    def value(self) -> Any:
        return self.expressions[0] if self.expressions else UNDEFINED


# ---------------------------------------------------------------- syntax detection

_SCRUB_RE = re.compile(r'#[^\n]*|`[^`]*`|"(?:[^"\\\n]|\\.)*"', re.S)
_IMPORT_V1_RE = re.compile(r"^[ \t]*import[ \t]+rego\.v1\b", re.M)
_IMPORT_FUTURE_RE = re.compile(r"^[ \t]*import[ \t]+future\.keywords(?:\.(\w+))?\b", re.M)
_KW_IF_RE = re.compile(r"(?<![.\w])if\b")
_KW_CONTAINS_RE = re.compile(r"(?<![.\w])contains\b(?!\s*\()")
_KW_OTHER_RE = re.compile(r"(?<![.\w])(?:every|in)\b(?!\s*\()")


def _scrub(source: str) -> str:
    """The source with comments and string literals blanked out (positions preserved)."""
    return _SCRUB_RE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), source)


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def detect_syntax(source: str, file: str = "") -> str:
    """ "v1" or "v0" for one policy file.

    * `import rego.v1` -> v1 (OPA 1.0 syntax, the default for new policies);
    * `import future.keywords...` -> v0 with opt-in keywords (both parsers accept it; the v0
      parser keeps v0 meanings such as a body-less `p["x"]` being a set element);
    * the v1 keywords (`if`, `contains`, `every`, `in`) used in code -> v1;
    * otherwise v0 (`deny[msg] { ... }`), which is what a file without those keywords is.

    A v0-with-future-imports file that uses `if` or `contains` without importing them is an
    error: the v0 parser would read the keyword as a variable and change the rule's meaning.
    """
    code = _scrub(source)
    if _IMPORT_V1_RE.search(code):
        return "v1"
    futures = [m.group(1) for m in _IMPORT_FUTURE_RE.finditer(code)]
    uses_if = _KW_IF_RE.search(code)
    uses_contains = _KW_CONTAINS_RE.search(code)
    if futures:
        everything = None in futures
        missing = sorted(
            (use.start(), kw)
            for kw, use in (("if", uses_if), ("contains", uses_contains))
            if use and not everything and kw not in futures
        )
        for start, kw in missing[:1]:
            line, col = _line_col(source, start)
            raise PolicyError(
                f"`{kw}` is used as a keyword but only some future keywords are imported; "
                f"add `import future.keywords.{kw}` or use `import rego.v1`",
                file,
                line,
                col,
                kind="syntax",
            )
        return "v0"
    if uses_if or uses_contains or _KW_OTHER_RE.search(code):
        return "v1"
    return "v0"


# ---------------------------------------------------------------- AST summaries


@dataclass(frozen=True)
class RuleInfo:
    package: str  # "main" (without "data.")
    name: str  # first segment of the rule's ref: "deny", "deny_latest", "test_x"
    ref: str  # the whole head ref: "deny", "a.b.c"
    kind: str  # set | complete | object | function | default
    file: str
    line: int
    col: int
    boolean: bool = False  # a complete rule without a value (`p if ...`, v0 `p { ... }`)

    @property
    def path(self) -> str:
        return f"data.{self.package}.{self.name}"


@dataclass(frozen=True)
class ModuleInfo:
    file: str
    package: str
    syntax: str  # v0 | v1
    rules: tuple[RuleInfo, ...] = ()


def _ref_segments(node: Any) -> list[str] | None:
    """`a.b["c"]` as ["a", "b", "c"]; None for refs with computed parts."""
    if not isinstance(node, dict) or len(node) != 1:
        return None
    ((kind, body),) = node.items()
    if kind == "Var":
        return [body["value"]]
    if kind == "RefDot":
        base = _ref_segments(body["refr"])
        return None if base is None else base + [body["field"][1]]
    if kind == "RefBrack":
        base = _ref_segments(body["refr"])
        idx = body.get("index", {})
        if base is not None and isinstance(idx, dict) and "String" in idx:
            return base + [idx["String"]["value"]]
        return None
    return None


def _head_ref_base(node: Any) -> tuple[list[str], bool]:
    """The constant prefix of a rule head ref, and whether it ends in a computed `[key]`."""
    segs = _ref_segments(node)
    if segs is not None:
        return segs, False
    ((kind, body),) = node.items()
    if kind in ("RefBrack", "RefDot"):
        base, _ = _head_ref_base(body["refr"])
        return base, kind == "RefBrack"
    return [], False


def _ref_start(node: Any) -> tuple[int, int]:
    """Where a ref like `a.b.c` starts (its spans point at the last dot)."""
    while isinstance(node, dict) and len(node) == 1:
        ((kind, body),) = node.items()
        if kind in ("RefDot", "RefBrack") and isinstance(body, dict):
            node = body.get("refr")
            continue
        break
    return _span(node)


def _span(node: Any) -> tuple[int, int]:
    if isinstance(node, dict):
        if "span" in node and isinstance(node["span"], dict):
            return node["span"].get("line", 0), node["span"].get("col", 0)
        if len(node) == 1:
            ((_, body),) = node.items()
            return _span(body)
    return 0, 0


def char_col(line_text: str, engine_col: int) -> int:
    """regorus counts columns in UTF-8 bytes with a tab as 4; editors, SARIF and our
    diagnostics count characters. Convert one to the other for a given source line."""
    if engine_col <= 1:
        return engine_col
    width = 0
    for i, ch in enumerate(line_text):
        if width >= engine_col - 1:
            return i + 1
        width += 4 if ch == "\t" else len(ch.encode("utf-8"))
    return len(line_text) + 1 + max(0, engine_col - 1 - width)


def _iter_nodes(node: Any, key: str) -> Iterator[Any]:
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            for k, v in cur.items():
                if k == key:
                    yield v
                if isinstance(v, (dict, list)):
                    stack.append(v)
        elif isinstance(cur, list):
            stack.extend(cur)


def _summarize(
    module: dict, syntax: str
) -> tuple[ModuleInfo, list[tuple[dict, tuple[str, ...]]], dict[str, tuple[str, ...]]]:
    """Module summary, its function calls (node, package) and import aliases."""
    file = module["source"]["file"]
    ast = module["ast"]
    pkg_segs = _ref_segments(ast["package"]["refr"]) or []
    package = ".".join(pkg_segs)
    lines = module["source"]["contents"].splitlines()

    def _pos(node: Any) -> tuple[int, int]:
        line, col = _span(node)
        return line, char_col(lines[line - 1], col) if 0 < line <= len(lines) else col

    aliases: dict[str, tuple[str, ...]] = {}
    for imp in ast.get("imports", []):
        segs = _ref_segments(imp.get("refr"))
        if not segs or segs[0] != "data":
            continue
        alias = segs[-1]
        if imp.get("as"):
            ln = imp["span"]["line"]
            m = re.search(r"\bas\s+([A-Za-z_]\w*)", lines[ln - 1] if 0 < ln <= len(lines) else "")
            if m:
                alias = m.group(1)
        aliases[alias] = tuple(segs)
    rules: list[RuleInfo] = []
    for rule in ast.get("rules", []):
        ((rkind, body),) = rule.items()
        if rkind == "Default":
            segs, _ = _head_ref_base(body["refr"])
            line, col = _pos(body)
            rules.append(RuleInfo(package, segs[0] if segs else "", ".".join(segs), "default", file, line, col))
            continue
        ((hkind, head),) = body["head"].items()
        segs, computed = _head_ref_base(head["refr"])
        line, col = _pos(head)
        if hkind == "Func":
            kind, boolean = "function", False
        elif hkind == "Set":
            kind, boolean = "set", False
        else:  # Compr: complete rule, or a partial object when the ref ends in [key]
            kind = "object" if computed else "complete"
            boolean = head.get("assign") is None and not computed and len(segs) == 1
        rules.append(RuleInfo(package, segs[0] if segs else "", ".".join(segs), kind, file, line, col, boolean))
    info = ModuleInfo(file, package, syntax, tuple(rules))
    return info, [(c, tuple(pkg_segs)) for c in _iter_nodes(ast, "Call")], aliases


# ---------------------------------------------------------------- builtins

_FUNC_CACHE: dict[str, bool] = {}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_BUILTINS: frozenset[str] | None = None


def _builtins() -> frozenset[str]:
    global _BUILTINS
    if _BUILTINS is None:
        probe = regorus.Engine()
        out = json.loads(_guard(probe.eval_query_as_json, "x := opa.runtime()", kind="compile"))
        names = out["result"][0]["bindings"]["x"].get("builtins", [])
        _BUILTINS = frozenset(names) | {"print"}
    return _BUILTINS


def _is_builtin(name: str) -> bool:
    """Whether the engine knows a builtin `name` (asked of the engine itself, cached)."""
    if name in _builtins():
        return True
    if not _NAME_RE.match(name):
        return False
    if name not in _FUNC_CACHE:
        probe = regorus.Engine()
        try:
            probe.eval_query_as_json(f"{name}()")
            _FUNC_CACHE[name] = True
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as exc:
            _FUNC_CACHE[name] = "could not find function" not in str(exc)
    return _FUNC_CACHE[name]


def engine_version() -> str:
    probe = regorus.Engine()
    out = json.loads(_guard(probe.eval_query_as_json, "x := opa.runtime()", kind="compile"))
    rt = out["result"][0]["bindings"]["x"]
    return f"regorus {rt.get('regorus-version', '?')} (OPA {rt.get('version', '?')})"


# ---------------------------------------------------------------- data helpers


def merge_data(base: Any, extra: Any, where: str = "data", source: str = "") -> Any:
    """Deep-merge two data documents; a key with two different non-object values is an error."""
    if isinstance(base, dict) and isinstance(extra, dict):
        out = dict(base)
        for k, v in extra.items():
            out[k] = merge_data(out[k], v, f"{where}.{k}", source) if k in out else v
        return out
    if base == extra:
        return base
    raise PolicyError(f"data conflict at {where}: two documents give it different values", source, 0, 0, kind="data")


def overlay_data(base: Any, extra: Any) -> Any:
    """Deep-merge `extra` over `base`: objects merge key by key, anything else in `extra` wins."""
    if isinstance(base, dict) and isinstance(extra, dict):
        out = dict(base)
        for k, v in extra.items():
            out[k] = overlay_data(out[k], v) if k in out else v
        return out
    return extra


def _load_data_file(path: Path, display: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read data file: {exc}", display, kind="io") from None
    if path.suffix == ".json":

        def no_dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for k, v in pairs:
                if k in out:
                    raise ValueError(f"duplicate key {k!r}")
                out[k] = v
            return out

        def no_nan(token: str) -> Any:
            raise ValueError(f"{token} is not JSON")

        try:
            return json.loads(text, object_pairs_hook=no_dupes, parse_constant=no_nan) if text.strip() else None
        except json.JSONDecodeError as exc:
            raise PolicyError(f"invalid JSON: {exc.msg}", display, exc.lineno, exc.colno, kind="data") from None
        except ValueError as exc:
            raise PolicyError(f"invalid JSON: {exc}", display, 1, 1, kind="data") from None
    # YAML goes through Maestro's own loader: YAML 1.2, duplicate keys and alias bombs are
    # errors, timestamps stay the text that was written. One mapping per file.
    from maestro.frontend.loader import loads

    located, diags = loads(text, display)
    if located is None:
        d = diags[0]
        if d.code == "M005":  # empty file: no data
            return None
        raise PolicyError(f"invalid data file: {d.message}", display, d.line, d.col, kind="data")
    try:
        return json.loads(to_json_text(located.data, f"data file {display}"))
    except PolicyError as exc:
        raise PolicyError(exc.message, display, 1, 1, kind="data") from None


def _walk_files(root: Path) -> list[Path]:
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.is_file():
            out.append(p)
    return out


# ---------------------------------------------------------------- the engine


class RegoEngine:
    """A prepared set of Rego modules and data, evaluated against many inputs.

    Not thread-safe: one engine holds one `input` at a time. `clone()` is cheap (no reparse)
    and gives an independent engine with the same modules and data.
    """

    def __init__(self, _engine: Any = None) -> None:
        self._engine = _engine if _engine is not None else regorus.Engine()
        if _engine is None:
            self._engine.set_gather_prints(True)
        self.data: dict[str, Any] = {}
        self._syntax: dict[str, str] = {}  # file -> v0 | v1, in the order added
        self._lines: dict[str, list[str]] = {}  # file -> source lines (for column conversion)
        self._prints: list[str] = []  # prints drained from the engine, not yet taken
        self._modules: list[ModuleInfo] = []
        self._calls: list[tuple[str, dict, tuple[str, ...], dict[str, tuple[str, ...]]]] = []
        self._ast: list[dict[str, Any]] = []  # regorus' AST of every module (for the recursion check)
        self._positions: dict[str, tuple[str, int, int]] | None = None  # rule path -> first definition
        self._stale = False

    @property
    def modules(self) -> list[ModuleInfo]:
        """One summary per policy file, in the order the files were added."""
        self._refresh()
        return list(self._modules)

    def _refresh(self) -> None:
        if not self._stale:
            return
        ast = json.loads(_guard(self._engine.get_ast_as_json, kind="syntax"))
        by_file = {m["source"]["file"]: m for m in ast}
        modules: list[ModuleInfo] = []
        calls: list[tuple[str, dict[str, Any], tuple[str, ...], dict[str, tuple[str, ...]]]] = []
        for name, mode in self._syntax.items():
            info, found, aliases = _summarize(by_file[name], mode)
            modules.append(info)
            calls.extend((name, c, pkg, aliases) for c, pkg in found)
        self._modules, self._calls, self._ast, self._stale = modules, calls, ast, False
        self._positions = None

    # -- loading

    @classmethod
    def from_dir(cls, policy_dir: Path, *, display: str | None = None, within: Path | None = None) -> RegoEngine:
        """All `*.rego` files under `policy_dir` (recursively, sorted; dot-entries skipped) and
        the data documents in its `*.json`/`*.yaml`/`*.yml` files: a file in the root merges
        into `data` at the top, a file in `a/b/` under `data.a.b` (as OPA's loader does)."""
        root = Path(policy_dir)
        shown = display if display is not None else str(policy_dir)
        if within is not None:
            from maestro.frontend.loader import escapes

            outside = [p for p in [root, *_walk_files(root)] if escapes(p, within)] if root.is_dir() else []
            if outside:
                # Never read (nor echo in an error) what a link out of the repository points at.
                name = shown if outside[0] == root else str(Path(shown) / outside[0].relative_to(root))
                raise PolicyError(
                    "refusing to read it: it is a symbolic link to a file outside the repository", name, kind="io"
                )
        if not root.is_dir():
            what = "is not a directory" if root.exists() else "does not exist"
            raise PolicyError(f"policy directory {shown} {what}", shown, kind="io")
        engine = cls()
        data: Any = {}
        files = _walk_files(root)
        rego_files = [p for p in files if p.suffix == ".rego"]
        if not rego_files:
            raise PolicyError(f"no .rego files under {shown}", shown, kind="io")
        for p in rego_files:
            name = str(Path(shown) / p.relative_to(root))
            try:
                source = p.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise PolicyError(f"cannot read policy: {exc}", name, kind="io") from None
            engine.add_module(name, source, analyze=False)
        for p in files:
            if p.suffix not in (".json", ".yaml", ".yml"):
                continue
            rel = p.relative_to(root)
            name = str(Path(shown) / rel)
            doc = _load_data_file(p, name)
            if doc is None:
                continue
            prefix = list(rel.parts[:-1])
            if not prefix and not isinstance(doc, dict):
                raise PolicyError(
                    "a data file at the top of the policy directory must hold a mapping", name, 1, 1, kind="data"
                )
            for seg in reversed(prefix):
                doc = {seg: doc}
            data = merge_data(data, doc, source=name)
        engine.set_data(data)
        engine.analyze()
        return engine

    def add_module(self, name: str, source: str, syntax: str | None = None, *, analyze: bool = True) -> None:
        """Parse one policy file. `syntax` is "v0", "v1" or None (detect, see `detect_syntax`).
        With `analyze` (the default) the load-time checks of `analyze()` run right away;
        when adding many files, pass False and call `analyze()` once at the end."""
        if name in self._syntax:
            raise PolicyError(f"policy {name} added twice", name, kind="io")
        mode = syntax or detect_syntax(source, name)
        if mode not in ("v0", "v1"):
            raise ValueError(f"syntax must be v0 or v1, not {mode!r}")
        self._lines[name] = source.splitlines()
        self._engine.set_rego_v0(mode == "v0")
        if _call_guard is not None:
            _call_guard(f"parsing {name}", name, 1, 1)
        try:
            _guard(self._engine.add_policy, name, source, kind="syntax")
        except PolicyError as exc:
            raise self._fix(exc) from None
        finally:
            self._engine.set_rego_v0(False)
        self._syntax[name] = mode
        self._stale = True
        if analyze:
            self.analyze()

    def set_data(self, data: Mapping[str, Any]) -> None:
        """Replace the whole `data` document (policies stay). Data must not shadow a rule."""
        if not isinstance(data, Mapping):
            raise PolicyError("data must be a mapping", kind="data")
        text = to_json_text(dict(data), "data")
        plain = json.loads(text)
        self._check_shadowing(plain)
        _guard(self._engine.clear_data, kind="data")
        _guard(self._engine.add_data_json, text, kind="data")
        self.data = plain

    def clone(self) -> RegoEngine:
        self._refresh()
        twin = RegoEngine(_guard(self._engine.clone, kind="runtime"))
        twin.data = self.data
        twin._syntax = dict(self._syntax)
        twin._lines = self._lines
        twin._modules = list(self._modules)
        twin._calls = list(self._calls)
        twin._ast = self._ast
        return twin

    def _fix(self, exc: PolicyError) -> PolicyError:
        """Engine columns (bytes, tab = 4) to character columns, for files we know."""
        lines = self._lines.get(exc.file)
        if not lines or not 0 < exc.line <= len(lines):
            return exc
        return PolicyError(
            exc.message,
            exc.file,
            exc.line,
            char_col(lines[exc.line - 1], exc.col),
            kind=exc.kind,
            rule=exc.rule,
            others=exc.others,
        )

    # -- static checks

    def _check_shadowing(self, data: Mapping[str, Any]) -> None:
        for rule in self.rules():
            node: Any = data
            for seg in rule.package.split(".") + [rule.name]:
                if not isinstance(node, dict) or seg not in node:
                    node = None
                    break
                node = node[seg]
            else:
                raise PolicyError(
                    f"data document defines {rule.path}, which is also a rule; "
                    "the engine would let the data win silently",
                    rule.file,
                    rule.line,
                    rule.col,
                    kind="data",
                )
            node = data
            for seg in rule.package.split("."):
                if not isinstance(node, dict) or seg not in node:
                    break
                node = node[seg]
                if not isinstance(node, dict):
                    raise PolicyError(
                        f"data document gives a non-object value to a prefix of package {rule.package}",
                        rule.file,
                        rule.line,
                        rule.col,
                        kind="data",
                    )

    def analyze(self) -> None:
        """Load-time checks regorus leaves to evaluation time. Raises the first PolicyError
        (with the rest in `.others`): unknown functions, two `default` rules for one name,
        recursive rules and functions (`policy/recursion.py`), and errors from evaluating every
        non-test, non-function rule once without input (e.g. conflicting constant values)."""
        self._refresh()
        self._check_shadowing(self.data)
        errors: list[PolicyError] = []
        user_funcs: set[tuple[str, ...]] = set()
        for m in self.modules:
            for r in m.rules:
                if r.kind == "function":
                    user_funcs.add(("data", *m.package.split("."), *r.ref.split(".")))
        for file, call, pkg, aliases in self._calls:
            segs = _ref_segments(call.get("fcn"))
            if not segs:
                continue
            name = ".".join(segs)
            if segs[0] == "data":
                cand = tuple(segs)
            elif segs[0] in aliases:
                cand = aliases[segs[0]] + tuple(segs[1:])
            else:
                cand = ("data", *pkg, *segs)
            if cand in user_funcs or (segs[0] != "data" and segs[0] not in aliases and _is_builtin(name)):
                continue
            line, col = _ref_start(call.get("fcn"))
            errors.append(self._fix(PolicyError(f"unknown function `{name}`", file, line, col, kind="compile")))
        defaults: dict[tuple[str, str], RuleInfo] = {}
        for r in self.rules():
            if r.kind != "default":
                continue
            key = (r.package, r.ref)
            if key in defaults:
                first = defaults[key]
                errors.append(
                    PolicyError(
                        f"multiple default rules for data.{r.package}.{r.ref} (first at {first.file}:{first.line})",
                        r.file,
                        r.line,
                        r.col,
                        kind="compile",
                    )
                )
            else:
                defaults[key] = r
        # Before anything is evaluated: a recursive function crashes regorus (SIGSEGV).
        for found in find_recursion(self._ast):
            errors.append(
                self._fix(
                    PolicyError(
                        found.message,
                        found.file,
                        found.line,
                        found.col,
                        kind="compile",
                        rule=f"data.{found.package}.{found.rule}",
                    )
                )
            )
        if not errors:
            probe = self.clone()  # never given an input: input is undefined
            seen: set[str] = set()
            for r in self.rules():
                if r.kind == "function" or r.name.startswith(("test_", "todo_test_")) or r.path in seen:
                    continue
                seen.add(r.path)
                try:
                    probe.eval_rule(r.path)
                except PolicyError as exc:
                    errors.append(exc.located(r.file, r.line, r.col))
            probe.take_prints()
        if errors:
            errors.sort(key=lambda e: (e.file, e.line, e.col))
            worst = errors[0]
            raise PolicyError(
                worst.message, worst.file, worst.line, worst.col, kind=worst.kind, rule=worst.rule, others=errors[1:]
            )

    # -- introspection

    def packages(self) -> list[str]:
        self._refresh()
        return sorted({m.package for m in self._modules})

    def rules(self, package: str | None = None) -> list[RuleInfo]:
        """Every rule definition (one entry per definition), optionally of one package."""
        if package is not None and package.startswith("data."):
            package = package[5:]
        self._refresh()
        return [r for m in self._modules for r in m.rules if package is None or r.package == package]

    # -- evaluation

    def set_input(self, value: Any) -> None:
        _guard(self._engine.set_input_json, to_json_text(value, "input"), kind="input")

    def eval(self, query: str, input: Any = UNDEFINED, *, what: str = "") -> list[QueryResult]:
        """All solutions of `query`; an empty list means undefined. Sets come back as lists.
        `what`: the step's name for the call guard (default: the query)."""
        if input is not UNDEFINED:
            self.set_input(input)
        if _call_guard is not None:
            _call_guard(what or query, "", 0, 0)
        try:
            out = json.loads(_guard(self._engine.eval_query_as_json, query, kind="compile"))
        except PolicyError as exc:
            raise self._fix(exc) from None
        return [
            QueryResult(tuple(e.get("value") for e in r.get("expressions", [])), r.get("bindings", {}) or {})
            for r in out.get("result", [])
        ]

    def eval_rule(self, path: str, input: Any = UNDEFINED) -> Any:
        """The value of the rule (or rule prefix) at `path`, e.g. "data.main.deny";
        `UNDEFINED` when it has none."""
        if input is not UNDEFINED:
            self.set_input(input)
        if _call_guard is not None:
            _call_guard(path, *self._position(path))
        try:
            raw = self._engine.eval_rule_as_json(path)
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as exc:
            if "not a valid rule path" not in str(exc):
                raise self._fix(_error_from(exc, "compile", path)) from None
            raw = None
        if raw is not None:
            value = json.loads(raw)
            if value != "<undefined>":
                return value
        # Either a path that is not a whole rule (ref heads, packages) or the ambiguous
        # "<undefined>" marker: ask again with a query, which says "undefined" plainly.
        # Keep the first evaluation's prints only (the second would repeat them).
        first = self.take_prints() if raw is not None else []
        results = self.eval(path)
        if raw is not None:
            self.take_prints()
        self._prints.extend(first)
        return results[0].value if results else UNDEFINED

    def _position(self, path: str) -> tuple[str, int, int]:
        """Where the rule at `path` is first defined ("", 0, 0 for other paths)."""
        self._refresh()
        if self._positions is None:
            self._positions = {}
            for r in self.rules():
                self._positions.setdefault(r.path, (r.file, r.line, r.col))
        return self._positions.get(path, ("", 0, 0))

    def take_prints(self) -> list[str]:
        """Output of `print(...)` calls since the last call (never written to stdout)."""
        out, self._prints = self._prints + list(_guard(self._engine.take_prints, kind="runtime")), []
        return out
