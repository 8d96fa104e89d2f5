"""The report as text, JSON, or a Markdown pull-request comment cut to GitHub's size limit."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from maestro.diagnostics import Diagnostic
from maestro.diff.git import ARGOCD, RENDERED
from maestro.diff.report import Report, VersionChange
from maestro.diff.side import Scoped
from maestro.diff.snapshot import Snapshot

if TYPE_CHECKING:
    from maestro.mlflow.lockfile import Pinned

MARKDOWN_LIMIT = 60_000  # GitHub refuses comments over 65,536 characters

FORMATS = ("text", "markdown", "json")

# ------------------------------------------------------------------ formatters


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def _delta(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+,.2f}"


def _side_label(snap: Snapshot) -> str:
    return snap.label if snap.commit is None else f"{snap.label} ({snap.commit[:12]})"


def _where(d: Diagnostic) -> str:
    if not d.file:
        return ""
    return f"{d.file}:{d.line}:{d.col}" if d.line else d.file


def _scope(f: Scoped) -> str:
    return "/".join(p for p in (f.env or "*", f.model) if p)


def format_text(report: Report) -> str:
    out = [f"base: {_side_label(report.base)}", f"head: {_side_label(report.head)}"]
    out += report.reasons
    skip = report.skip_line()
    if skip:
        out.append(skip)
    if report.quiet():
        out.append(f"{report.quiet()} model-environment(s) rendered without differences")
    out.append("")
    if report.versions:  # what serving runs: the line a reviewer of a promotion reads first
        out.append("model versions:")
        out += [f"  {v.text}" for _, v in report.versions]
        out.append("")
    for e in report.entries:
        if not report.shown(e):
            continue
        line = f"{e.env}/{e.model}: {e.status}  +{e.count('added')} -{e.count('removed')} ~{e.count('changed')}"
        if e.model != ARGOCD:
            line += f"  cost {_money(e.cost_base)} -> {_money(e.cost_head)} {e.currency} ({_delta(e.cost_delta)})"
        out.append(line)
        out += [f"  note: {n}" for n in e.notes]
        sign = {"added": "+", "removed": "-", "changed": "~"}
        out += [f"  {sign[c.change]} {c.path.split('/', 2)[2]}" for c in e.changes]
    for title, items in (("new findings", report.findings), ("resolved findings", report.resolved)):
        if items:
            out.append(f"{title}:")
            for f in items:
                d = f.diagnostic
                where = _where(d)
                out.append(f"  {_scope(f)}: {d.code} {d.severity.value}: {d.text}" + (f" ({where})" if where else ""))
                if d.hint:
                    out.append(f"    hint: {d.hint}")
    t = report.totals()
    rendered = len(report.rendered)
    out.append(
        f"summary: {rendered} model-environment(s) rendered, +{t['added']} -{t['removed']} ~{t['changed']} "
        f"files, monthly cost {_delta(report.cost_delta)} {report.currency}, {len(report.findings)} new "
        f"finding(s)" + ("" if report.changed else "; no changes")
    )
    diffs = [c.diff for e in report.entries for c in e.changes]
    if diffs:
        out.append("")
    return "\n".join(out) + "\n" + "".join(diffs)


def _finding_json(f: Scoped) -> dict[str, Any]:
    d = f.diagnostic
    return {
        "env": f.env or None,
        "model": f.model or None,
        "severity": d.severity.value,
        "code": d.code,
        "message": d.text,
        "file": d.file,
        "line": d.line,
        "col": d.col,
        "hint": d.hint,
    }


def _pinned_json(p: Pinned | None) -> dict[str, Any] | None:
    return None if p is None else p.model_dump(mode="json", by_alias=True, exclude_none=True)


def _version_json(v: VersionChange) -> dict[str, Any]:
    """A served version's change: `base`/`head` as the lock holds them (null: unlocked)."""
    return {"variant": v.variant, "base": _pinned_json(v.base), "head": _pinned_json(v.head), "text": v.text}


def format_json(report: Report) -> str:
    envs: dict[str, Any] = {}
    for env in report.envs:
        models: dict[str, Any] = {}
        argocd: dict[str, Any] = {}
        for e in (x for x in report.entries if x.env == env):
            item = {
                "status": e.status,
                "objects": {
                    c: [x.path.split("/", 2)[2] for x in e.changes if x.change == c]
                    for c in ("added", "removed", "changed")
                },
                "versions": [_version_json(v) for v in e.versions],
                "findings": [_finding_json(f) for f in report.entry_findings(env, e.model)],
                "resolved": [_finding_json(f) for f in report.entry_findings(env, e.model, "resolved")],
                "notes": e.notes,
            }
            if e.model == ARGOCD:
                argocd = item
            else:
                item["cost"] = {"base": e.cost_base, "head": e.cost_head, "delta": e.cost_delta, "currency": e.currency}
                models[e.model] = item
        envs[env] = {
            "models": models,
            "argocd": argocd,
            "findings": [_finding_json(f) for f in report.entry_findings(env, "")],
        }
    t = report.totals()
    doc = {
        "base": {"ref": report.base.label, "commit": report.base.commit},
        "head": {"ref": report.head.label, "commit": report.head.commit},
        "reasons": report.reasons,
        "envs": envs,
        "skipped": [f"{e.env}/{e.model}" for e in report.skipped],
        "summary": {
            "changed": report.changed,
            "rendered": len(report.rendered),
            "skipped": len(report.skipped),
            "objects": t,
            "cost": {"delta": report.cost_delta, "currency": report.currency},
            "findings": len(report.findings),
            "resolved": len(report.resolved),
            "versions": len(report.versions),
            "invalid": sorted({e.model for e in report.entries if e.status == "invalid"}),
        },
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;")


def _md(text: str) -> str:
    """Plain text in a Markdown table cell or list item."""
    return _html(text).replace("|", "\\|").replace("\n", " ")


def format_markdown(report: Report, limit: int = MARKDOWN_LIMIT) -> str:
    """A pull-request comment: summary table, findings, then one collapsible diff per file,
    cut to `limit` characters with a note saying what was left out."""
    head = [f"### maestro diff: `{_side_label(report.base)}` → `{_side_label(report.head)}`", ""]
    head += [f"- {_md(r)}" for r in report.reasons]
    skip = report.skip_line()
    if skip:
        head.append(f"- {skip}")
    if report.quiet():
        head.append(f"- {report.quiet()} model-environment(s) rendered without differences")
    if len(head) > 2:
        head.append("")
    if report.versions:  # above the objects: what a promotion changes, in one line per version
        head += ["#### Model versions", ""]
        head += [f"- **{_md(v.text.split(': ', 1)[0])}**: {_md(v.text.split(': ', 1)[1])}" for _, v in report.versions]
        head.append("")
    rows = [e for e in report.entries if report.shown(e)]
    t = report.totals()
    if not report.changed:
        head.append("No changes to the rendered tree, costs or findings.")
        return "\n".join(head) + "\n"
    table = [
        f"| env | model | status | objects +/−/~ | monthly cost ({_md(report.currency)}) base → head (Δ) |",
        "|---|---|---|---|---|",
    ]
    for e in rows:
        cost = "" if e.model == ARGOCD else f"{_money(e.cost_base)} → {_money(e.cost_head)} ({_delta(e.cost_delta)})"
        table.append(
            f"| {e.env} | {e.model} | {e.status} | +{e.count('added')} −{e.count('removed')} "
            f"~{e.count('changed')} | {cost} |"
        )
    total = (
        f"**Total:** +{t['added']} −{t['removed']} ~{t['changed']} files, monthly cost "
        f"{_delta(report.cost_delta)} {_md(report.currency)}, {len(report.findings)} new finding(s)"
        + (f", {len(report.resolved)} resolved" if report.resolved else "")
        + "."
    )
    notes = [f"- `{e.env}/{e.model}`: {_md(n)}" for e in rows for n in e.notes]
    sections: list[str] = []
    if report.findings:
        sections.append(
            f"#### New findings ({len(report.findings)})\n\n"
            + "\n".join(_finding_md(f) for f in report.findings)
            + "\n"
        )
    if report.resolved:
        sections.append(
            f"<details><summary>Resolved findings ({len(report.resolved)})</summary>\n\n"
            + "\n".join(_finding_md(f) for f in report.resolved)
            + "\n\n</details>\n"
        )
    blocks = []
    for e in report.entries:
        for c in e.changes:
            fence = _fence(c.diff)
            blocks.append(
                f"<details><summary><code>{_html(RENDERED + '/' + c.path)}</code> ({c.change})</summary>\n\n"
                f"{fence}diff\n{c.diff}{fence}\n\n</details>\n"
            )

    budget = Budget(limit)
    budget.add("\n".join(head) + "\n" + total + "\n\n")
    budget.add_all((row + "\n" for row in table), "table rows")
    if notes:
        budget.add_all((row + "\n" for row in ["", *notes]), "notes")
    budget.add_all(("\n" + section for section in sections), "sections")
    if blocks:
        budget.add(f"\n#### Changes ({len(blocks)} file{'s' if len(blocks) != 1 else ''})\n\n")
        budget.add_all((block + "\n" for block in blocks), "file diffs")
    return budget.text()


def _finding_md(f: Scoped) -> str:
    d = f.diagnostic
    where = _where(d)
    return (
        f"- **{d.severity.value}** `{d.code}` {_scope(f)}: {_md(d.text)}"
        + (f" (`{where}`)" if where else "")
        + (f"<br>hint: {_md(d.hint)}" if d.hint else "")
    )


class Budget:
    """Markdown pieces, in order, up to a size limit; once one does not fit, it and every
    later piece are counted instead, in a closing note."""

    NOTE_ROOM = 400

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.left: dict[str, int] = {}

    def add(self, piece: str, what: str = "sections") -> None:
        if not self.left and self.size + len(piece) <= self.limit - self.NOTE_ROOM:
            self.parts.append(piece)
            self.size += len(piece)
        else:
            self.left[what] = self.left.get(what, 0) + 1

    def add_all(self, pieces: Iterable[str], what: str) -> None:
        for piece in pieces:
            self.add(piece, what)

    def text(self) -> str:
        out = "".join(self.parts)
        if self.left:
            what = ", ".join(f"{n} {k}" for k, n in self.left.items())
            out += (
                f"\n> **Truncated** to stay under GitHub's comment size limit: {what} not shown. "
                f"Run `maestro diff` locally (or with `--format json`) for everything.\n"
            )
        return out


FORMATTERS: dict[str, Callable[[Report], str]] = {
    "text": format_text,
    "markdown": format_markdown,
    "json": format_json,
}
