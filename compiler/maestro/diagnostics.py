"""One diagnostic type for every stage, and the pure formatters that print them.

Positions are 1-based (converted from the parser's 0-based marks exactly once, in
`loader`). A diagnostic without a position (e.g. a missing file) has line = col = 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


# Stable codes. The number never changes meaning; the title is what SARIF and docs show.
CODES: dict[str, str] = {
    # M0xx: reading YAML
    "M001": "YAML syntax error",
    "M002": "tab character in indentation",
    "M003": "duplicate mapping key",
    "M004": "more than one YAML document",
    "M005": "empty file",
    "M006": "top level is not a mapping",
    "M007": "file is not UTF-8 text",
    "M008": "file too large",
    "M009": "alias expansion or nesting past the bound",
    "M010": "file cannot be read",
    # M1xx: shape of the document (schema)
    "M101": "unknown field",
    "M102": "missing required field",
    "M103": "wrong type",
    "M104": "invalid value",
    # M2xx: meaning of the spec
    "M201": "invalid or too long name",
    "M202": "invalid Kubernetes quantity",
    "M203": "invalid cron expression",
    "M204": "replicas min greater than max",
    "M205": "invalid canary steps",
    "M206": "invalid A/B weights",
    "M207": "feature view refers to an undeclared entity or source",
    "M208": "drift feature not found in any view",
    "M209": "invalid tuning search space",
    "M210": "metric gated more than once",
    "M211": "unsafe Vault path",
    "M212": "invalid environment variable name",
    "M213": "literal value that looks like a secret",
    "M214": "duplicate name",
    "M215": "unknown environment",
    "M216": "section needs another section",
    "M217": "spec folder does not match the model name",
    # M3xx: platform config and overlays
    "M301": "invalid platform configuration",
    "M302": "invalid overlay",
    "M303": "spec not found",
    # M9xx: the compiler itself
    "M901": "internal error",
}


@dataclass(frozen=True, order=False)
class Diagnostic:
    severity: Severity
    code: str
    message: str
    file: str = ""
    line: int = 0
    col: int = 0
    pointer: str = ""
    hint: str | None = None
    extra: tuple[tuple[str, str], ...] = field(default=())

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line, self.col, self.code, self.message)

    def at(self, file: str, line: int, col: int) -> Diagnostic:
        return replace(self, file=file, line=line, col=col)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


def error(code: str, message: str, **kw: object) -> Diagnostic:
    return Diagnostic(Severity.ERROR, code, message, **kw)  # type: ignore[arg-type]


def warning(code: str, message: str, **kw: object) -> Diagnostic:
    return Diagnostic(Severity.WARNING, code, message, **kw)  # type: ignore[arg-type]


def sort_diagnostics(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Canonical order (file, line, col, code), duplicates dropped."""
    return sorted(set(diags), key=Diagnostic.sort_key)


def has_errors(diags: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diags)


# ---------------------------------------------------------------- formatters


def _where(d: Diagnostic) -> str:
    if not d.file:
        return "maestro"
    if d.line:
        return f"{d.file}:{d.line}:{d.col}"
    return d.file


def format_text(diags: Sequence[Diagnostic]) -> str:
    out = []
    for d in diags:
        sev = "" if d.is_error else f"{d.severity.value}: "
        out.append(f"{_where(d)}: {d.code} {sev}{d.message}")
        if d.hint:
            out.append(f"  hint: {d.hint}")
    errors = sum(d.is_error for d in diags)
    warnings = sum(d.severity is Severity.WARNING for d in diags)
    if diags:
        out.append(f"{errors} error(s), {warnings} warning(s)")
    return "\n".join(out) + ("\n" if out else "")


def format_json(diags: Sequence[Diagnostic]) -> str:
    items = []
    for d in diags:
        item = asdict(d)
        item["severity"] = d.severity.value
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
        msg = d.message + (f"\nhint: {d.hint}" if d.hint else "")
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
            "message": {"text": d.message + (f" (hint: {d.hint})" if d.hint else "")},
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
