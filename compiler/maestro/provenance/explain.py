"""From a recorded origin (record.py) to the lines that set a value, following precedence.

- A spec value: every layer of the precedence chain that sets it (platform `spec_defaults`,
  overlay `defaults`, the spec, the spec's `environments.<env>`, overlay `enforce`; lowest
  first in the documents, the winner first in the answer); none: the schema's default.
- A config value: its line in config/platform.yaml or platform.<env>.yaml, or the
  `MAESTRO_*` variable that set it, or the config's default.
- A lock value: its line in the model's maestro.lock.yaml.
- The render context: the environment, its namespace pattern (overlay or config), the spec file.
- Renderer code: `compiler/maestro/render/x.py:LINE module.function` and its docstring's first line.
- An overlay transform: the overlay entry's line, then what the value was before it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from maestro.frontend.loader import Located
from maestro.provenance.record import Input, Rule, Traced, Transform
from maestro.resolve.merge import get


@dataclass(frozen=True)
class Step:
    """One link of a value's precedence chain, as `maestro why` prints it."""

    kind: str  # spec | overlay | config | lock | environment | source | renderer | transform | default
    role: str  # set | overridden | placed | replaced
    where: str  # file:line:col, a renderer's file:line, or $VARIABLE
    field: str  # the field in that file (dotted), or module.function for a renderer
    value: Any = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "role": self.role,
            "where": self.where,
            "field": self.field,
            "value": self.value,
            "note": self.note,
        }


@dataclass(frozen=True)
class Sources:
    """The located documents an origin points into, for one model in one environment."""

    env: str
    spec: Located  # the spec as written
    platform: Located | None  # config/platform.yaml with platform.<env>.yaml merged
    overlay: Located | None
    lock: Located | None
    root: Path  # where relative file names start (the repository)


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def dotted(pointer: str) -> str:
    """`/spec/serving/rollout/steps/1` -> `spec.serving.rollout.steps[1]`; keys that are not
    identifiers are quoted: `metadata.annotations["maestro.ml/source"]`."""
    out = ""
    for raw in pointer.split("/")[1:]:
        token = _unescape(raw)
        if token.isdigit():
            out += f"[{token}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", token):
            out += f".{token}" if out else token
        else:
            out += f'["{token}"]'
    return out


def _pos(located: Located, pointer: str) -> str | None:
    pos = located.values.get(pointer) or located.keys.get(pointer)
    return None if pos is None else f"{pos.file}:{pos.line}:{pos.col}"


def _spec_layers(src: Sources, pointer: str) -> list[tuple[str, str, Located, str]]:
    """(kind, label, document, pointer in it) of each layer that can set `pointer`, lowest first."""
    if not pointer.startswith("/spec/"):
        return [("spec", "the spec", src.spec, pointer)]
    rest = pointer[len("/spec") :]
    env = src.env.replace("~", "~0").replace("/", "~1")
    out = []
    if src.platform is not None:
        out.append(("config", "the platform's spec_defaults", src.platform, f"/spec_defaults{rest}"))
    if src.overlay is not None:
        out.append(("overlay", "the overlay's defaults", src.overlay, f"/defaults{rest}"))
    out.append(("spec", "the spec", src.spec, pointer))
    out.append(("spec", f"the spec's environments.{src.env}", src.spec, f"/spec/environments/{env}{rest}"))
    if src.overlay is not None:
        out.append(("overlay", "the overlay's enforce (the platform's rule)", src.overlay, f"/enforce{rest}"))
    return out


def _env_var(pointer: str) -> str | None:
    """The MAESTRO_* variable that set a config value, if one did (resolve/config.py's names)."""
    from maestro.resolve.config import ENV_PREFIX

    tokens = [_unescape(t) for t in pointer.split("/")[1:]]
    names = {k.upper(): k for k in os.environ if k.upper().startswith(ENV_PREFIX)}
    for n in range(len(tokens), 0, -1):
        var = ENV_PREFIX + "__".join(tokens[:n]).upper()
        if var in names:
            return names[var]
    return None


def explain_input(origin: Input, src: Sources) -> list[Step]:
    """The lines that set an input value, the winner first, then what it overrode."""
    if origin.source == "spec":
        hits = []
        for kind, label, doc, ptr in _spec_layers(src, origin.pointer):
            where = _pos(doc, ptr)
            if where is not None:
                hits.append(Step(kind, "overridden", where, dotted(ptr), get(doc.data, ptr), label))
        if not hits:
            field = dotted(origin.pointer)
            return [
                Step(
                    "default",
                    "set",
                    "maestro.frontend.spec",
                    field,
                    None,
                    f"the schema's default (maestro explain {field})",
                )
            ]
        return [replace(hits[-1], role="set"), *reversed(hits[:-1])]
    if origin.source == "config":
        var = _env_var(origin.pointer)
        if var is not None:
            return [
                Step("config", "set", f"${var}", dotted(origin.pointer), os.environ[var], "an environment variable")
            ]
        if src.platform is not None:
            where = _pos(src.platform, origin.pointer)
            if where is not None:
                value = get(src.platform.data, origin.pointer)
                return [Step("config", "set", where, dotted(origin.pointer), value, "the platform config")]
        return [
            Step(
                "default",
                "set",
                "maestro.resolve.config",
                dotted(origin.pointer),
                None,
                "the platform config's default",
            )
        ]
    if origin.source == "lock":
        where = _pos(src.lock, origin.pointer) if src.lock is not None else None
        value = get(src.lock.data, origin.pointer) if src.lock is not None else None
        note = "the version lock (maestro registry lock, maestro promote)"
        return [Step("lock", "set", where or "maestro.lock.yaml", dotted(origin.pointer), value, note)]
    return _explain_context(origin.pointer, src)


def _explain_context(pointer: str, src: Sources) -> list[Step]:
    if pointer == "/env":
        return [Step("environment", "set", f"rendered/{src.env}/", "env", src.env, "the environment being rendered")]
    if pointer == "/namespace":  # the overlay's pattern over the environment's (pipeline.namespace_for)
        steps = []
        ptr = f"/environments/{src.env}/namespace"
        if src.overlay is not None and _pos(src.overlay, "/namespace") is not None:
            where = str(_pos(src.overlay, "/namespace"))
            value = get(src.overlay.data, "/namespace")
            steps.append(Step("overlay", "set", where, "namespace", value, "the overlay's namespace pattern"))
        if src.platform is not None and _pos(src.platform, ptr) is not None:
            where = str(_pos(src.platform, ptr))
            role = "overridden" if steps else "set"
            value = get(src.platform.data, ptr)
            steps.append(Step("config", role, where, dotted(ptr), value, "the environment's namespace pattern"))
        return steps or [Step("default", "set", "maestro.resolve.config", dotted(ptr), None, "the config's default")]
    return [Step("source", "set", src.spec.file, "source", src.spec.file, "the spec file the model comes from")]


def explain_rule(rule: Rule, root: Path, role: str = "set") -> Step:
    """A renderer function as a step: its file and line, and its docstring's first line."""
    import importlib

    note = ""
    try:
        target: Any = importlib.import_module(rule.module)
        for part in rule.function.split("."):
            target = getattr(target, part)
        doc = (getattr(target, "__doc__", None) or "").strip()
        note = doc.splitlines()[0] if doc else ""
    except (ImportError, AttributeError):  # a nested function: no docstring to show
        pass
    try:
        file = Path(rule.file).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        file = rule.module.replace(".", "/") + ".py"
    return Step("renderer", role, f"{file}:{rule.line}", f"{rule.module}.{rule.function}", None, note)


def explain(traced: Traced, src: Sources) -> list[Step]:
    """The precedence chain of one rendered value, the step that decided it first."""
    origin = traced.origin
    if isinstance(origin, Transform):
        if origin.pointer == "/namespace":  # the namespace transform sets the environment's namespace
            steps = [
                replace(s, kind="transform" if s.kind == "default" else s.kind)
                for s in _explain_context("/namespace", src)
            ]
            steps = [replace(steps[0], note=steps[0].note + ", set by the namespace transform"), *steps[1:]]
        else:
            where = (_pos(src.overlay, origin.pointer) if src.overlay is not None else None) or "overlay"
            value = get(src.overlay.data, origin.pointer) if src.overlay is not None else None
            kind = origin.pointer.split("/")[1]
            steps = [
                Step(
                    "transform",
                    "set",
                    where,
                    dotted(origin.pointer),
                    value if not isinstance(value, dict | list) else None,
                    f"the overlay's {kind}",
                )
            ]
        if origin.before is not None:
            earlier = explain(origin.before, src)
            steps += [replace(s, role="replaced" if i == 0 else s.role) for i, s in enumerate(earlier)]
        return steps
    if isinstance(origin, Rule):
        return [explain_rule(origin, src.root)]
    steps = explain_input(origin, src)
    if traced.placed is not None:
        steps.append(explain_rule(traced.placed, src.root, role="placed"))
    return steps
