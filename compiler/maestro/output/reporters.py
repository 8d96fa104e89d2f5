"""Reporters: pure functions from sorted diagnostics to text in one output format
(human text, JSON, GitHub Actions annotations, SARIF 2.1.0).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict

from maestro import __version__
from maestro.diagnostics import CODES, Diagnostic, Severity, sort_diagnostics


def _where(d: Diagnostic) -> str:
    if not d.file:
        return "maestro"
    if d.line:
        return f"{d.file}:{d.line}:{d.col}"
    return d.file


def merge_environments(diags: Sequence[Diagnostic]) -> list[tuple[Diagnostic, list[str]]]:
    """One entry per finding, with every environment it holds in: the same code, message,
    position, hint and model in dev, staging and prod is one thing to fix, printed once.
    First-occurrence order; a finding without an environment stands alone."""
    groups: dict[tuple[object, ...], tuple[Diagnostic, list[str]]] = {}
    for d in diags:
        # a finding without an environment has nothing to merge with: its position in the list keys it
        key: tuple[object, ...] = (d.severity, d.code, d.message, d.file, d.line, d.col, d.hint, d.model)
        key += ("env",) if d.env else ("alone", len(groups))
        entry = groups.setdefault(key, (d, []))
        if d.env and d.env not in entry[1]:
            entry[1].append(d.env)
    return list(groups.values())


def format_text(diags: Sequence[Diagnostic]) -> str:
    out = []
    merged = merge_environments(diags)
    for d, envs in merged:
        sev = "" if d.is_error else f"{d.severity.value}: "
        where = f" (environment {envs[0]})" if len(envs) == 1 else f" (environments {', '.join(sorted(envs))})"
        out.append(f"{_where(d)}: {d.code} {sev}{d.message}{where if envs else ''}")
        if d.hint:
            out.append(f"  hint: {d.hint}")
    errors = sum(d.is_error for d, _ in merged)
    warnings = sum(d.severity is Severity.WARNING for d, _ in merged)
    if diags:
        out.append(f"{errors} error(s), {warnings} warning(s)")
    return "\n".join(out) + ("\n" if out else "")


def format_json(diags: Sequence[Diagnostic]) -> str:
    items = []
    for d in diags:
        item = asdict(d)
        item["severity"] = d.severity.value
        item["message"] = d.text  # as the other formats show it; `env` and `model` are fields too
        item["extra"] = dict(d.extra)
        items.append(item)
    return json.dumps({"diagnostics": items}, indent=2, sort_keys=True) + "\n"


def _gh_escape(value: str, prop: bool = False) -> str:
    # GitHub workflow-command escaping (actions/toolkit's escapeData / escapeProperty).
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


def format_github(diags: Sequence[Diagnostic]) -> str:
    level = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
    out = []
    for d in diags:
        props = []
        if d.file:
            props.append(f"file={_gh_escape(d.file, True)}")
        if d.line:
            props.append(f"line={d.line}")
            props.append(f"col={d.col}")
        props.append(f"title={_gh_escape(d.code + ' ' + CODES.get(d.code, ''), True)}")
        msg = d.text + (f"\nhint: {d.hint}" if d.hint else "")
        out.append(f"::{level[d.severity]} {','.join(props)}::{_gh_escape(msg)}")
    return "\n".join(out) + ("\n" if out else "")


SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def format_sarif(diags: Sequence[Diagnostic], tool_version: str = "") -> str:
    level = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
    used = sorted({d.code for d in diags})
    rules = [{"id": c, "name": CODES.get(c, c), "shortDescription": {"text": CODES.get(c, c)}} for c in used]
    results = []
    for d in diags:
        result: dict[str, object] = {
            "ruleId": d.code,
            "ruleIndex": used.index(d.code),
            "level": level[d.severity],
            "message": {"text": d.text + (f" (hint: {d.hint})" if d.hint else "")},
        }
        if d.file:
            loc: dict[str, object] = {"artifactLocation": {"uri": d.file}}
            if d.line:
                loc["region"] = {"startLine": d.line, "startColumn": max(d.col, 1)}
            result["locations"] = [{"physicalLocation": loc}]
        if d.pointer:
            result["properties"] = {"pointer": d.pointer}
        results.append(result)
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "maestro",
                        "version": tool_version or "0",
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


FORMATTERS = {
    "text": format_text,
    "json": format_json,
    "github": format_github,
    "sarif": format_sarif,
}


def print_diagnostics(diags: Iterable[Diagnostic], fmt: str) -> None:
    """The one place diagnostics reach stdout: sorted canonically, in format `fmt`."""
    ordered = sort_diagnostics(diags)
    text = format_sarif(ordered, __version__) if fmt == "sarif" else FORMATTERS[fmt](ordered)
    sys.stdout.write(text)
