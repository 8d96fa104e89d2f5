"""Recursive rules and functions, found in the AST before anything is evaluated.

OPA rejects recursion at compile time (`rego_recursion_error: rule f is recursive:
f -> g -> f`, reported at every rule of the cycle; ast/compile.go `checkRecursion`). regorus
0.13 does not: a recursive *function* overflows the native stack and the process dies with
SIGSEGV (measured: `f(x) := y if { y := f(x) }` called from any rule), and a recursive rule
is reported only when evaluation reaches it. So the adapter checks the dependency graph at
load time, from the AST regorus gives (`Engine.get_ast_as_json`).

A rule depends on a rule when its head or body refers to it:
* a variable named after a rule of the same package, unless the rule declares a local of
  that name (function arguments, `:=`, `some`, `every`) - OPA's scoping, simplified to the
  whole rule: a local shadows the rule name everywhere in that rule;
* a `data.` reference (also through an import alias) whose constant prefix names the rule,
  or names a package prefix above it (`data.main` depends on every rule of `main`, as in
  OPA's test `dataref = true { data }`).
A reference with a computed part depends on everything under its constant prefix
(`data.main[x]`: every rule of `main`); a bare `data[x]` is not followed. regorus reports
recursion among rules that only a dynamic reference reveals at evaluation time, and
functions cannot be called that way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Key = tuple[tuple[str, ...], str]  # (package segments, rule name)
_REF_KINDS = ("RefDot", "RefBrack")
_SKIP = frozenset({"span", "eidx", "sidx", "qidx"})  # positions and indexes: no names below


@dataclass(frozen=True)
class Recursion:
    """One rule that can reach itself, at the head of its first definition."""

    package: str
    rule: str
    loop: tuple[str, ...]  # rule names from the rule back to itself, as OPA prints them
    file: str
    line: int
    col: int  # as regorus counts it (bytes, tab = 4): the adapter converts to characters

    @property
    def message(self) -> str:
        return f"rule {self.rule} is recursive: {' -> '.join(self.loop)}"


def find_recursion(modules: list[dict[str, Any]]) -> list[Recursion]:
    """Every rule on a dependency cycle, for the modules of one engine (regorus' AST JSON)."""
    rules: dict[Key, tuple[str, int, int]] = {}
    uses: list[tuple[Key, tuple[str, ...], dict[str, tuple[str, ...]], set[str], list[list[str]]]] = []
    for module in modules:
        ast, source = module["ast"], module["source"]["contents"]
        package = tuple(_path(ast["package"]["refr"]) or ())
        aliases = _aliases(ast, source)
        for rule in ast.get("rules", []):
            ((kind, body),) = rule.items()
            if kind == "Default":
                head, parts, args = body, [body.get("value")], []
            else:
                ((_, head),) = body["head"].items()
                args = head.get("args", [])
                parts = [head.get("key"), head.get("value"), head.get("assign"), body.get("bodies", []), args]
            name = (_path(head.get("refr")) or [""])[0]
            if not name:
                continue
            key = (package, name)
            span = head.get("span") or body.get("span") or {}
            rules.setdefault(key, (module["source"]["file"], span.get("line", 0), span.get("col", 0)))
            local: set[str] = set()
            refs: list[list[str]] = []
            _scan(args, source, local, refs, declaring=True)
            _scan(parts, source, local, refs)
            uses.append((key, package, aliases, local, refs))
    graph = _graph(rules, uses)
    found = []
    cyclic = {k for comp in _components(graph) for k in comp if len(comp) > 1 or k in graph[k]}
    for key in sorted(cyclic):
        loop = _loop(graph, key)
        if loop:
            file, line, col = rules[key]
            found.append(Recursion(".".join(key[0]), key[1], tuple(k[1] for k in loop), file, line, col))
    return found


# ------------------------------------------------------------------ the graph


def _graph(
    rules: dict[Key, tuple[str, int, int]],
    uses: list[tuple[Key, tuple[str, ...], dict[str, tuple[str, ...]], set[str], list[list[str]]]],
) -> dict[Key, set[Key]]:
    by_path = {(*pkg, name): (pkg, name) for pkg, name in rules}
    under: dict[tuple[str, ...], set[Key]] = {}  # every package prefix -> the rules below it
    for pkg, name in rules:
        for i in range(len(pkg) + 1):
            under.setdefault(pkg[:i], set()).add((pkg, name))
    graph: dict[Key, set[Key]] = {k: set() for k in rules}
    for key, package, aliases, local, refs in uses:
        for segs in refs:
            head = segs[0]
            if head in local:
                continue
            if head == "data":
                path = tuple(segs[1:])
                if not path:  # `data[x]`: nothing constant to follow
                    continue
            elif head in aliases:
                path = aliases[head] + tuple(segs[1:])
            else:
                if (package, head) in rules:
                    graph[key].add((package, head))
                continue
            for i in range(len(path), 0, -1):  # the longest prefix that names a rule
                if path[:i] in by_path:
                    graph[key].add(by_path[path[:i]])
                    break
            else:
                graph[key].update(under.get(path, set()))
    return graph


def _components(graph: dict[Key, set[Key]]) -> list[list[Key]]:
    """Strongly connected components (Tarjan's algorithm, without recursion: a policy may
    hold thousands of rules in one chain)."""
    index: dict[Key, int] = {}
    low: dict[Key, int] = {}
    on_stack: set[Key] = set()
    stack: list[Key] = []
    out: list[list[Key]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[Key, list[Key]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.append(member)
                    if member == node:
                        break
                out.append(comp)
    return out


def _loop(graph: dict[Key, set[Key]], start: Key) -> list[Key]:
    """The shortest path from `start` back to itself ([start, ..., start]), or []."""
    previous: dict[Key, Key] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node]):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    return []


# ------------------------------------------------------------------ AST helpers


def _path(node: Any) -> list[str] | None:
    """The constant segments a reference starts with: `data.a.b[x].c` -> [data, a, b]."""
    if not isinstance(node, dict) or len(node) != 1:
        return None
    ((kind, body),) = node.items()
    if kind == "Var":
        return [body["value"]]
    if kind in _REF_KINDS:
        base = _path(body["refr"])
        if base is None or len(base) == 0:
            return base
        if kind == "RefDot":
            return [*base, body["field"][1]] if base[-1:] != ["\0"] else base
        index = body.get("index")
        if isinstance(index, dict) and "String" in index:
            return [*base, index["String"]["value"]] if base[-1:] != ["\0"] else base
        return [*base, "\0"]  # computed: nothing after this is constant
    return None


def _aliases(ast: dict[str, Any], source: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for imp in ast.get("imports", []):
        segs = _path(imp.get("refr"))
        if not segs or segs[0] != "data" or "\0" in segs:
            continue
        alias = segs[-1]
        span = imp.get("as")
        if isinstance(span, dict) and "start" in span:
            alias = source[span["start"] : span["end"]]
        out[alias] = tuple(segs[1:])
    return out


def _text(source: str, span: Any) -> str | None:
    if isinstance(span, dict) and "start" in span and "end" in span:
        return source[span["start"] : span["end"]]
    return None


def _scan(node: Any, source: str, local: set[str], refs: list[list[str]], declaring: bool = False) -> None:
    """One walk over a rule: the locals it declares (function arguments, `:=`, `some`,
    `every`; under `declaring` every variable is one) and every reference it makes (a
    variable, or an `a.b[c]` chain, as its constant segments)."""
    if isinstance(node, list):
        for item in node:
            _scan(item, source, local, refs, declaring)
        return
    if not isinstance(node, dict):
        return
    if len(node) == 1:
        ((kind, body),) = node.items()
        if kind == "Var":
            if declaring:
                local.add(body["value"])
            else:
                refs.append([body["value"]])
            return
        if kind in _REF_KINDS:
            segs = _path(node)
            if segs:
                refs.append([s for s in segs if s != "\0"])
            # computed indexes, and whatever the chain starts from if it is not a variable
            inner: Any = node
            while isinstance(inner, dict) and len(inner) == 1 and next(iter(inner)) in _REF_KINDS:
                part = next(iter(inner.values()))
                if "index" in part:
                    _scan(part["index"], source, local, refs)
                inner = part["refr"]
            if not (isinstance(inner, dict) and "Var" in inner):
                _scan(inner, source, local, refs)
            return
        if kind == "AssignExpr" and body.get("op") == "ColEq":
            _scan(body.get("lhs"), source, local, refs, declaring=True)
            _scan(body.get("rhs"), source, local, refs)
            return
        if kind == "SomeIn":
            _scan([body.get("key"), body.get("value")], source, local, refs, declaring=True)
            _scan(body.get("collection"), source, local, refs)
            return
        if kind in ("SomeVars", "Every"):
            for span in [body.get("key"), body.get("value"), *(body.get("vars") or [])]:
                name = _text(source, span)
                if name:
                    local.add(name)
    for kind, value in node.items():
        if kind not in _SKIP and isinstance(value, (dict, list)):
            _scan(value, source, local, refs, declaring)
