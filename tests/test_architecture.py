"""The layout's rules (docs/architecture.md), checked on the package's source.

Imports are read with `ast`, module level and inside functions alike (a lazy import is still
a dependency); imports under `if TYPE_CHECKING:` are left out (they never run). A plain test
rather than import-linter: the rules need the function-level imports too, and the suite
already runs everywhere the code changes.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import maestro

PACKAGE = Path(maestro.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except those under `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def _imports(name: str) -> Iterator[tuple[str, str]]:
    """(module imported, name imported or "") for every maestro import `name` makes at run time."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("maestro"):
                    yield alias.name, ""
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("maestro"):
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                yield (submodule, "") if submodule in MODULES else (node.module or "", alias.name)


GRAPH = {name: sorted({m for m, _ in _imports(name) if m in MODULES and m != name}) for name in MODULES}


def test_every_module_imports() -> None:
    for info in pkgutil.walk_packages(maestro.__path__, "maestro."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)


def test_no_import_cycle() -> None:
    """Tarjan's strongly connected components: every component is a single module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert cycles == []


def test_the_cycle_check_sees_a_cycle() -> None:
    """The check above can fail: a graph with a cycle in it has one component of two."""
    saved = dict(GRAPH)
    try:
        GRAPH["maestro.diagnostics"] = [*GRAPH["maestro.diagnostics"], "maestro.pipeline"]
        with pytest.raises(AssertionError):
            test_no_import_cycle()
    finally:
        GRAPH.clear()
        GRAPH.update(saved)


def test_no_private_name_is_imported_from_another_module() -> None:
    bad = [
        f"{name} imports {module}.{imported}"
        for name in MODULES
        for module, imported in _imports(name)
        if imported.startswith("_") and not imported.startswith("__")
    ]
    assert bad == []


def test_no_renderer_imports_the_emitter_or_the_output_stage() -> None:
    bad = [
        f"{name} -> {m}"
        for name in MODULES
        if name.startswith("maestro.render")
        for m in GRAPH[name]
        if m.startswith("maestro.output")
    ]
    assert bad == []


# The functions that compose stages, and the one module allowed to call them across stages.
COMPOSED = {
    "maestro.pipeline": {"check_file", "check_located", "govern", "render_model"},
    "maestro.transform.apply": {"apply_transforms"},
    "maestro.frontend.pydantic_errors": {"validate_model"},
    "maestro.resolve.effective": {"effective"},
}
ALLOWED = {
    # who may import what: the pipeline composes; a stage's own package may use its parts
    "apply_transforms": {"maestro.pipeline"},
    "effective": {"maestro.pipeline"},
    "check_file": set(),
    "check_located": set(),
    "govern": set(),
    "render_model": set(),
    "validate_model": {"maestro.pipeline", "maestro.resolve.config", "maestro.resolve.overlay"},
}


def test_only_the_pipeline_composes_stages() -> None:
    bad = []
    for name in MODULES:
        for module, imported in _imports(name):
            if imported in COMPOSED.get(module, set()) and name not in ALLOWED[imported]:
                bad.append(f"{name} imports {module}.{imported}")
    assert bad == []
