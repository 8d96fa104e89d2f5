"""One diagnostic type for every stage (its formatters are in `output.reporters`).

Positions are 1-based (converted from the parser's 0-based marks exactly once, in
`loader`). A diagnostic without a position (e.g. a missing file) has line = col = 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
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
    "M011": "file outside the repository",
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
    "M218": "Vault path outside the team's paths",
    "M219": "secret variable shadows one the platform or the program loader uses",
    "M220": "secret variable on a container command line",
    "M222": "rollout strategy conflicts with the A/B test",
    "M223": "online view cannot be kept fresh",
    "M224": "spot training that an eviction would lose",
    "M225": "invalid pipeline",
    "M226": "value Airflow would template",
    # M3xx: platform config and overlays
    "M301": "invalid platform configuration",
    "M302": "invalid overlay",
    "M303": "spec not found",
    "M304": "environment without its overlay",
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
    # What the diagnostic is about, as data (never written into `message`): the environment
    # ("" when it holds as written, in every environment) and the model ("" for the
    # repository, its config or an environment as a whole).
    env: str = ""
    model: str = ""

    @property
    def text(self) -> str:
        """The message as reporters show it: with the environment it holds in, if one."""
        return f"{self.message} (environment {self.env})" if self.env else self.message

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line, self.col, self.code, self.text)

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
