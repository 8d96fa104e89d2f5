"""No secret values, ever: the check that no rendered object carries one, whatever a renderer,
an overlay patch or the platform config put there (M710). It runs on the transformed objects,
after render, so it sees what would be written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from maestro.diagnostics import CODES, Diagnostic, error
from maestro.frontend.semantics import env_references, secret_kind
from maestro.output.emit import file_name

CODES.update(
    {
        "M710": "rendered object carries a secret value",
    }
)

_HINT = (
    "the rendered tree never holds secret values: store it in Vault and reference it from spec.secrets "
    "(values also come from overlays and config/platform.yaml)"
)


def inline_secret_findings(resources: list[dict[str, Any]], prefix: str = "") -> list[Diagnostic]:
    """M710 for every rendered object that carries a secret value: a string (or key) that
    looks like one (`semantics.secret_kind`), or a `kind: Secret` with `data`/`stringData`.

    `prefix` (`<env>/<model>`) goes before the object's file name in the diagnostic."""
    out = []
    for res in resources:
        meta = res.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        subject = f"{res.get('kind') or '?'}/{name or '?'}"
        where = file_name(res) if isinstance(res.get("kind"), str) and isinstance(name, str) else ""
        file = f"{prefix}/{where}" if prefix and where else (where or prefix)
        if res.get("kind") == "Secret":
            for field in ("data", "stringData"):
                if field in res:
                    out.append(
                        error(
                            "M710",
                            f"{subject}: {field}: a Secret with inline {field}; secrets reach the "
                            "cluster only from Vault (VaultStaticSecret)",
                            file=file,
                            pointer=f"/{field}",
                            hint=_HINT,
                        )
                    )
        for path, what, is_key in _secret_strings(res, ()):
            place = f"a key of {_field(path[:-1])}" if is_key else _field(path)
            message = f"{subject}: {place} holds what looks like {what}"
            out.append(error("M710", message, file=file, pointer=_pointer(path), hint=_HINT))
    return sorted(out, key=finding_order)


def finding_order(d: Diagnostic) -> tuple[str, str, str]:
    """The order of a folder's M710 findings (also when they are found one object at a time)."""
    return (d.file, d.pointer, d.message)


def _secret_strings(node: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str, bool]]:
    if isinstance(node, dict):
        for key, value in node.items():
            here = path + (str(key),)
            what = secret_kind(str(key))
            if what:
                yield here, what, True
            yield from _secret_strings(value, here)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _secret_strings(item, path + (i,))
    elif isinstance(node, str):
        what = secret_kind(node)
        if what:
            yield path, what, False


def _pointer(path: tuple[str | int, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _field(path: tuple[str | int, ...]) -> str:
    """`("data", "policy.hcl")` -> `data["policy.hcl"]`, as people name fields."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += ("." if out else "") + part
        else:
            out += f'["{part}"]'
    return out or "(top level)"


def command_line_findings(resources: list[dict[str, Any]], prefix: str = "") -> list[Diagnostic]:
    """M220 for every container whose `command` or `args` refers to (`$(NAME)`) a variable
    its `env` reads from a Secret: the kubelet expands it into the process arguments. The
    spec's own command is checked at validation; this catches what an overlay patch added."""
    out = []
    for res in resources:
        for path, container in _containers(res, ()):
            secret_vars = {
                e.get("name"): e["valueFrom"]["secretKeyRef"].get("name")
                for e in container.get("env") or []
                if isinstance(e, dict) and isinstance((e.get("valueFrom") or {}).get("secretKeyRef"), dict)
            }
            for field in ("command", "args"):
                for i, text in enumerate(container.get(field) or []):
                    for var in env_references(text) if isinstance(text, str) else []:
                        if var in secret_vars:
                            meta = res.get("metadata") or {}
                            out.append(
                                error(
                                    "M220",
                                    f"{res.get('kind')}/{meta.get('name')}: container {container.get('name')} puts "
                                    f"Secret {secret_vars[var]} ({var}) on its command line ($({var}) in {field})",
                                    file=f"{prefix}/{file_name(res)}" if prefix else file_name(res),
                                    pointer=_pointer((*path, field, i)),
                                    hint=f"read {var} from the environment in the program instead",
                                    extra=(("reference", f"$({var})"),),
                                )
                            )
    return out


def _containers(node: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any]]]:
    """Every container (and init container) of every pod template in an object."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                for i, c in enumerate(value):
                    if isinstance(c, dict):
                        yield (*path, key, i), c
            else:
                yield from _containers(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _containers(value, (*path, i))
