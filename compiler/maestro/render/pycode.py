"""Generated Python (the Feast definitions, the Airflow DAGs): how a value becomes code.

Generated modules are templates run in jinja2's immutable sandbox (`render.text_template`)
where every printed value passes one of these filters: `literal` writes a Python literal (the
`repr` of an exactly-typed str, int or bool, or lists and str-keyed dicts of them, keys
sorted), `identifier` a checked variable name; `finalize` refuses anything that did not pass
a filter, so a forgotten filter fails the render instead of pasting spec text into code. The
result is then parsed and its calls checked against the names the template may call
(`check_calls`): a bug in a template fails the render rather than shipping a module that
does something else.
"""

from __future__ import annotations

import ast
import keyword
from collections.abc import Callable, Iterable


class GeneratedCodeError(RuntimeError):
    """Generated code is not what its renderer means to write (a Maestro bug)."""


class Code(str):
    """Text a filter has made safe for its place in a module."""


def literal(value: object, what: str) -> str:
    # Exact types: a subclass could override __repr__. No floats or None: nothing needs them.
    if type(value) in (bool, int, str):
        return repr(value)
    if isinstance(value, str):
        return repr(str(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v, what) for v in value) + "]"
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return "{" + ", ".join(f"{literal(k, what)}: {literal(value[k], what)}" for k in sorted(value)) + "}"
    raise GeneratedCodeError(f"{type(value).__name__} value {value!r} has no literal form in {what}")


def literal_filter(what: str) -> Callable[[object], Code]:
    def py(value: object) -> Code:
        return Code(literal(value, what))

    return py


def identifier_filter(reserved: Iterable[str], what: str) -> Callable[[object], Code]:
    taken = frozenset(reserved)

    def ident(value: object) -> Code:
        if not (
            isinstance(value, str)
            and value.isidentifier()
            and value.isascii()
            and not keyword.iskeyword(value)
            and value not in taken
        ):
            raise GeneratedCodeError(f"{value!r} is not a safe variable name for {what}")
        return Code(value)

    return ident


def finalizer(what: str) -> Callable[[object], object]:
    def finalize(value: object) -> object:
        if isinstance(value, Code):
            return value
        raise GeneratedCodeError(
            f"template value {value!r} went into {what} unfiltered: pass it through a filter (py, ident, ...)"
        )

    return finalize


def check_calls(text: str, filename: str, callable_names: Iterable[str], what: str) -> ast.Module:
    """The module compiles, and calls nothing but `callable_names`."""
    allowed = frozenset(callable_names)
    try:
        tree = ast.parse(text, filename)
        compile(tree, filename, "exec", dont_inherit=True)  # what parsing alone lets through
    except (SyntaxError, ValueError) as exc:
        raise GeneratedCodeError(f"{what} is not valid Python: {exc}\n{text}") from exc
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in allowed):
            raise GeneratedCodeError(f"{what} may not call {ast.unparse(node.func)} (line {node.lineno})")
    return tree
