"""`maestro why FILE FIELD`: where a value of a rendered object came from.

FILE is an object file of a model's folder, `rendered/<env>/<model>/<kind>-<name>.yaml`
(the file need not exist: the model is rendered in memory, with field provenance recorded,
`pipeline.trace_model`). FIELD is a dotted path into the object (`spec.strategy.canary.steps[1]`,
`metadata.annotations["maestro.ml/source"]`) or a JSON pointer; a field holding a map or a
list is answered leaf by leaf. For each value: the line that set it (the spec, an overlay, the
platform config, the lock, or the renderer that wrote it), what it overrode along the
precedence chain, and for an input's value the renderer that put it there.

An unknown environment, model, file or field exits 2 listing the valid choices.

Known limits: a number computed in a helper and placed by its caller is the caller's; a value
an overlay transform sets to what the renderer already set shows as the renderer's; the
platform layer's and Argo CD folders are not traced.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from maestro.commands.common import load_workspace, repo_root
from maestro.errors import FINDINGS, OK, UsageError

_TOKEN = re.compile(r"""\.?([^.\[\]"']+)|\[(\d+)\]|\["([^"]*)"\]|\['([^']*)'\]""")


def field_pointer(field: str) -> str:
    """A dotted path (or a JSON pointer, kept) as a JSON pointer."""
    if field.startswith("/") or field == "":
        return field
    out, pos = [], 0
    while pos < len(field):
        m = _TOKEN.match(field, pos)
        if m is None or m.end() == pos:
            raise UsageError(f"cannot read field '{field}' at '{field[pos:]}' (write a.b[0].c or a[\"key.with/dots\"])")
        token = next(g for g in m.groups() if g is not None)
        out.append(token.replace("~", "~0").replace("/", "~1"))
        pos = m.end()
    return "".join(f"/{t}" for t in out)


def _choices(names: list[str]) -> str:
    return ", ".join(names) if names else "none"


def _locate(root: Path, file: str) -> tuple[str, str, str]:
    """(env, model, file name) of a rendered object file, named from the working directory or the root."""
    from maestro.pipeline import RENDERED

    path = Path(file)
    candidates = [path.resolve()] if path.is_absolute() else [(Path.cwd() / path).resolve(), (root / path).resolve()]
    base = (root / RENDERED).resolve()
    for p in candidates:
        if p.is_relative_to(base):
            parts = p.relative_to(base).parts
            if len(parts) == 3:
                return parts[0], parts[1], parts[2]
            raise UsageError(
                f"{file}: not an object file of a model's folder ({RENDERED}/<env>/<model>/<kind>-<name>.yaml)"
            )
    raise UsageError(f"{file}: not under {RENDERED}/ of this repository ({RENDERED}/<env>/<model>/<kind>-<name>.yaml)")


def command(args: argparse.Namespace) -> int:
    from maestro.diagnostics import has_errors
    from maestro.names import RESERVED_MODEL_NAMES
    from maestro.output.emit import file_name
    from maestro.output.reporters import print_diagnostics
    from maestro.pipeline import check_specs, trace_model
    from maestro.provenance.explain import Sources, dotted, explain
    from maestro.resolve.workspace import SPEC_FILE, SPECS_DIR, discover

    root = repo_root(args)
    ws, _ = load_workspace(root)
    env, model, name = _locate(root, args.file)
    if env not in ws.environments:
        raise UsageError(f"{args.file}: unknown environment '{env}' (environments: {_choices(ws.environments)})")
    models = sorted(p.parent.name for p in discover(root))
    if model in RESERVED_MODEL_NAMES or model not in models:
        what = (
            "the platform layer and Argo CD folders are not traced"
            if model in RESERVED_MODEL_NAMES
            else "no such model"
        )
        raise UsageError(f"{args.file}: {what} (models: {_choices(models)})")
    display = f"{SPECS_DIR}/{model}/{SPEC_FILE}"
    front = check_specs(ws, [(root / display, display)], [env])
    c = front.checked[0]
    if has_errors(c.diagnostics) or c.spec is None or c.located is None or env not in c.effective:
        print_diagnostics(front.diagnostics, "text")
        print(f"{display} has errors: fix them first", file=sys.stderr)
        return FINDINGS
    trace = trace_model(ws, env, c)
    files = {file_name(res): i for i, res in enumerate(trace.objects)}
    if name not in files:
        raise UsageError(f"{args.file}: no such object in {env}/{model} (files: {_choices(sorted(files))})")
    i = files[name]
    obj, origins, note = _as_written(trace.objects, i, dict(trace.origins[i]), name)
    pointer = field_pointer(args.field)
    _check_field(obj, pointer, args.field)
    src = Sources(
        env=env,
        spec=c.located,
        platform=ws.inputs.platforms.get(env),
        overlay=ws.inputs.overlays.get(env),
        lock=c.lock_located,
        root=root,
    )
    answers = []
    for ptr in sorted((p for p in origins if p == pointer or p.startswith(pointer + "/")), key=_order(obj)):
        answers.append({"field": dotted(ptr), "value": _get(obj, ptr), "chain": explain(origins[ptr], src)})
    if args.format == "json":
        doc = [{**a, "chain": [s.as_dict() for s in a["chain"]]} for a in answers]
        out = {"file": f"rendered/{env}/{model}/{name}", "note": note, "answers": doc}
        print(json.dumps(out, indent=2, default=str))
        return OK
    print(f"rendered/{env}/{model}/{name}" + (f"  ({note})" if note else ""))
    for a in answers:
        print(f"{a['field']}: {json.dumps(a['value'], default=str)}")
        for s in a["chain"]:
            label = {"set": "set by", "overridden": "overrides", "placed": "placed by", "replaced": "replaced"}[s.role]
            value = "" if s.value is None or s.kind == "renderer" else f" = {json.dumps(s.value, default=str)}"
            note = f"  ({s.note})" if s.note else ""
            print(f"  {label:<10} {s.where}  {s.field}{value}{note}")
    return OK


def _as_written(objects: list[Any], i: int, origins: dict[str, Any], name: str) -> tuple[Any, dict[str, Any], str]:
    """The object as its file holds it: a launcher's ConfigMap gets its launched run's
    manifest (output/embed.py), which the leaves embed wrote are attributed to; a launched
    run is kept, with a note saying where it is written."""
    from maestro.output.embed import embed, is_launched, manifest_config_map
    from maestro.output.emit import file_name
    from maestro.provenance.record import Traced, leaves, rule_of

    obj = objects[i]
    if is_launched(obj):
        return obj, origins, f"a launched run: written into configmap-{manifest_config_map(obj)}.yaml under job.yaml"
    final = next((r for r in embed(objects) if file_name(r) == name), obj)
    if final != obj:
        now = dict(leaves(final))
        embedded = Traced(rule_of(embed.__code__))
        origins = {p: o for p, o in origins.items() if p in now}
        for ptr, value in now.items():
            if ptr not in origins or _get(obj, ptr) != value:
                origins[ptr] = embedded
    return final, origins, ""


def _get(obj: Any, pointer: str) -> Any:
    from maestro.resolve.merge import get

    return get(obj, pointer)


def _order(obj: Any) -> Any:
    """Leaves in document order (the pointers' order in the object)."""
    from maestro.provenance.record import leaves

    rank = {p: n for n, (p, _) in enumerate(leaves(obj))}
    return lambda p: rank.get(p, len(rank))


def _check_field(obj: Any, pointer: str, field: str) -> None:
    """UsageError naming the valid keys where `pointer` leaves the object."""
    from maestro.provenance.explain import dotted

    node, walked = obj, ""
    for raw in [t for t in pointer.split("/")[1:]]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node, walked = node[token], f"{walked}/{raw}"
            continue
        if isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node, walked = node[int(token)], f"{walked}/{raw}"
            continue
        at = dotted(walked) or "the top level"
        if isinstance(node, dict):
            choices = ", ".join(sorted(node))
        elif isinstance(node, list):
            choices = f"indices 0..{len(node) - 1}" if node else "none (an empty list)"
        else:
            choices = f"none ({at} is a value)"
        raise UsageError(f"no field '{field}' in this object (at {at}: {choices})")
