"""Recording where each value of a rendered object came from, while the renderers build it.

Three sources, and no edit to any renderer:

1. Inputs carry their origin. The effective spec, the environment's platform config, the
   lock entry and the render context's strings are copied (`traced`) with every str, int
   and float (values and map keys) replaced by a subclass (`TStr`, `TInt`, `TFloat`) that
   remembers `(source, JSON pointer)`. Renderers use them as the plain values they are; a
   value copied into an object keeps its origin. What a renderer computes (an f-string,
   arithmetic, `str(n)`) is a plain value again: derived. bool and None cannot be
   subclassed: they count as derived.
2. Rules from the call structure. A `sys.setprofile` hook (`Recorder`) watches the render
   package's functions and the pipeline's stamping: when one returns a container, or
   passes one to another watched function, every key or index of it that no function
   claimed yet is claimed by that function (the rule that put it there); a string it
   returns that it built itself (not a constant, not a module global, not an argument) is
   its own. `obj()`, the skeleton helper, is transparent: its caller is the rule.
3. Transforms. `Recording.step` sees each overlay step (a patch, namespace, commonLabels,
   commonAnnotations, an images entry) with the objects before and after: a leaf the step
   adds or changes is the overlay entry's, and the value it replaced, with its origin,
   stays in the chain.

`Recorder.capture` strips an object back to plain types right after its renderer, so the
transforms, the checks and emit see exactly what a normal render gives them: the rendered
bytes are the same with and without recording (tests/test_why.py).

Known limits: a number computed in a helper and placed by its caller is the caller's; a
transform that sets a value to what it already was does not show; a patch that deletes an
object or inserts into a list shifts the later objects' or items' positions, which then
show as the patch's.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import CodeType, FrameType
from typing import Any, Literal

from pydantic import BaseModel

Source = Literal["spec", "config", "lock", "context"]


@dataclass(frozen=True)
class Input:
    """A value taken from an input: the effective spec, the environment's platform config,
    the lock entry, or the render context (`/env`, `/namespace`, `/source`)."""

    source: Source
    pointer: str


@dataclass(frozen=True)
class Rule:
    """Renderer code: the function that wrote a value, or put an input's value in its place."""

    module: str
    function: str
    file: str
    line: int


@dataclass(frozen=True)
class Transform:
    """A value an overlay transform set; `pointer` into overlays/<env>/overlay.yaml (or
    `/namespace`: the namespace transform, whose value is the environment's namespace)."""

    pointer: str
    replaced: Any = None  # the value before the step (None: the step added it)
    before: Traced | None = None  # where that value came from


Origin = Input | Rule | Transform


@dataclass(frozen=True)
class Traced:
    """A leaf's origin, and for an input's value the rule that placed it in the object."""

    origin: Origin
    placed: Rule | None = None


class TStr(str):
    origin: Input


class TInt(int):
    origin: Input


class TFloat(float):
    origin: Input


_TRACED: dict[type, type] = {str: TStr, int: TInt, float: TFloat}
TRACED_TYPES = (TStr, TInt, TFloat)


def escape(token: str) -> str:
    if "~" not in token and "/" not in token:
        return token
    return token.replace("~", "~0").replace("/", "~1")


def _leaf(value: Any, source: Source, pointer: str) -> Any:
    out = _TRACED[type(value)](value)
    out.origin = Input(source, pointer)
    return out


def traced(value: Any, source: Source, pointer: str = "") -> Any:
    """A copy of `value` whose str/int/float values and map keys remember `(source, pointer)`
    (a key: the pointer of its entry). Pydantic models are copied field by field, pointers
    spelled with the fields' aliases (the YAML's names); anything else is returned as is."""
    if type(value) in _TRACED:
        return _leaf(value, source, pointer)
    if isinstance(value, BaseModel):
        copy = value.model_copy()
        fields = copy.__dict__
        for name, info in type(value).model_fields.items():
            fields[name] = traced(fields[name], source, f"{pointer}/{escape(info.alias or name)}")
        return copy
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            ptr = f"{pointer}/{escape(str(k))}"
            out[_leaf(k, source, ptr) if type(k) is str else k] = traced(v, source, ptr)
        return out
    if isinstance(value, list):
        return [traced(v, source, f"{pointer}/{i}") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return tuple(traced(v, source, f"{pointer}/{i}") for i, v in enumerate(value))
    return value


def plain(value: Any) -> Any:
    """A traced scalar as its base type (anything else unchanged)."""
    t = type(value)
    if t is TStr:
        return str.__str__(value)
    if t is TInt:
        return int.__int__(value)
    if t is TFloat:
        return float.__float__(value)
    return value


def _module(filename: str) -> str:
    tail = filename.replace("\\", "/").rsplit("/maestro/", 1)[-1].removesuffix(".py")
    return "maestro." + tail.replace("/", ".").removesuffix(".__init__")


_RULES: dict[CodeType, Rule] = {}


def rule_of(code: CodeType) -> Rule:
    rule = _RULES.get(code)
    if rule is None:
        rule = _RULES[code] = Rule(_module(code.co_filename), code.co_qualname, code.co_filename, code.co_firstlineno)
    return rule


class Recorder:
    """The profile hook of point 2 in the module docstring, and `capture`.

    `files`: the source files whose functions are rules; `extra`: single functions elsewhere
    that are rules too (the pipeline's stamping); `transparent`: functions that claim
    nothing (the skeleton helper, the tracing driver itself)."""

    def __init__(self, files: set[str], extra: set[CodeType], transparent: set[CodeType]) -> None:
        self.files = files
        self.extra = extra
        self.transparent = transparent
        self.owner: dict[tuple[int, Any], CodeType] = {}  # (id(container), key or index) -> rule
        self.strings: dict[int, CodeType] = {}  # id(str) -> the function that built it
        self.keep: list[Any] = []  # what the ids above belong to, alive while recording
        self._previous: Any = None

    # sys.settrace rather than sys.setprofile: a trace function is called for Python frames
    # only (no event per builtin call), and a frame that is not watched gets no local trace
    # function, so nothing more is called for it; watched frames turn line events off
    # (frame.f_trace_lines) and only report their return.

    def __enter__(self) -> Recorder:
        self._previous = sys.gettrace()
        sys.settrace(self._call)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.settrace(self._previous)

    def _watched(self, code: CodeType) -> bool:
        return (code.co_filename in self.files or code in self.extra) and code not in self.transparent

    def _call(self, frame: FrameType, event: str, arg: Any) -> Any:
        code = frame.f_code
        ours = code.co_filename in self.files or code in self.extra
        if not ours:
            return None
        caller = frame.f_back
        if caller is not None and self._watched(caller.f_code):
            local = frame.f_locals
            for name in code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]:
                value = local.get(name)
                if type(value) is dict or type(value) is list:
                    self._tag_containers(value, caller.f_code)
        if code in self.transparent:
            return None
        frame.f_trace_lines = False
        return self._returned

    def _returned(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "return" and arg is not None:
            self._tag(arg, frame)
        return self._returned

    def _tag(self, value: Any, frame: FrameType) -> None:
        code = frame.f_code
        if type(value) is str:
            # Built here: not a constant of the function, not a module global, not an argument.
            if (
                len(value) > 1
                and id(value) not in self.strings
                and value not in code.co_consts
                and not any(value is g for g in frame.f_globals.values())
                and not any(value is frame.f_locals.get(a) for a in code.co_varnames[: code.co_argcount])
            ):
                self.strings[id(value)] = code
                self.keep.append(value)
            return
        self._tag_containers(value, code)

    def _tag_containers(self, value: Any, code: CodeType) -> None:
        owner = self.owner
        stack = [value]
        while stack:
            v = stack.pop()
            t = type(v)
            if t is dict:
                items: Any = v.items()
            elif t is list or t is tuple:
                items = enumerate(v)
            else:
                continue
            i = id(v)
            fresh = False
            for k, x in items:
                if (i, k) not in owner:
                    owner[(i, k)] = code
                    fresh = True
                tx = type(x)
                if tx is dict or tx is list or tx is tuple:
                    stack.append(x)
            if fresh:
                self.keep.append(v)

    def capture(self, obj: Any, fallback: Rule) -> tuple[Any, dict[str, Traced]]:
        """(`obj` with plain values and keys, {JSON pointer of every leaf: its origin}); an
        empty map or list is a leaf."""
        out: dict[str, Traced] = {}
        owner, strings = self.owner, self.strings

        def walk(v: Any, ptr: str, code: CodeType | None) -> Any:
            t = type(v)
            if t is dict or t is list or t is tuple:
                i = id(v)
                if t is dict:
                    res: Any = {}
                    for k, x in v.items():
                        res[plain(k)] = walk(x, f"{ptr}/{escape(str(k))}", owner.get((i, k), code))
                else:
                    res = [walk(x, f"{ptr}/{n}", owner.get((i, n), code)) for n, x in enumerate(v)]
                if not v:
                    out[ptr] = Traced(rule_of(code) if code is not None else fallback)
                return res
            placed = rule_of(code) if code is not None else fallback
            if isinstance(v, TRACED_TYPES):
                out[ptr] = Traced(v.origin, placed)
                return plain(v)
            made = strings.get(id(v)) if t is str else None
            out[ptr] = Traced(rule_of(made) if made is not None else placed)
            return v

        return walk(obj, "", None), out


# ------------------------------------------------------------------ transforms


def leaves(obj: Any, ptr: str = "") -> Iterator[tuple[str, Any]]:
    """(JSON pointer, value) of every leaf, in document order; an empty map or list is a leaf."""
    stack = [(ptr, obj)]
    while stack:
        p, v = stack.pop()
        if type(v) is dict and v:
            stack.extend((f"{p}/{escape(str(k))}", x) for k, x in reversed(v.items()))
        elif type(v) is list and v:
            stack.extend((f"{p}/{i}", x) for i, x in reversed(list(enumerate(v))))
        else:
            yield p, v


_MISSING = object()


@dataclass
class Recording:
    """Per object (in render order): every leaf's origin, updated as the transforms run."""

    origins: list[dict[str, Traced]] = field(default_factory=list)
    overlay: dict[str, Any] = field(default_factory=dict)  # the transforms as the overlay spells them

    def step(self, pointer: str, before: list[Any], after: list[Any]) -> None:
        """One overlay transform ran: what it set or changed is the overlay entry's."""
        for i, obj in enumerate(after):
            if i >= len(self.origins):
                self.origins.append({})
            if i < len(before) and before[i] == obj:
                continue  # the step left this object alone
            old = dict(leaves(before[i])) if i < len(before) else {}
            origins = self.origins[i]
            now = dict(leaves(obj))
            for ptr, value in now.items():
                was = old.get(ptr, _MISSING)
                if was is _MISSING or was != value or type(was) is not type(value):
                    origins[ptr] = Traced(
                        Transform(self._entry(pointer, ptr), None if was is _MISSING else was, origins.get(ptr))
                    )
            for ptr in [p for p in origins if p not in now]:
                del origins[ptr]

    def _entry(self, pointer: str, leaf: str) -> str:
        """The overlay entry that set `leaf`: a commonLabels/commonAnnotations key, else the step."""
        if pointer in ("/commonLabels", "/commonAnnotations"):
            key = leaf.rsplit("/", 1)[-1]
            table = self.overlay.get(pointer[1:]) or {}
            unescaped = key.replace("~1", "/").replace("~0", "~")
            if unescaped in table:
                return f"{pointer}/{key}"
        return pointer
