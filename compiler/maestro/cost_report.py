"""`maestro cost`: the monthly estimate per model and team against each team's budget, with
the saving each cost option gives.

Data in, data out: `build` takes effective specs per environment and the platform configs
and returns a `Report`; `FORMATTERS` turn it into text, JSON or Markdown. The estimate is
`costs.monthly_cost` with the environment, the same model `maestro diff` prices a change
with, so the two never disagree. A team's budget (`teams.*.budget.monthly`) is compared
with its models' estimates summed over the environments reported.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from maestro.costs import Saving, monthly_cost, savings
from maestro.frontend.spec import Spec
from maestro.resolve.config import Platform


@dataclass(frozen=True)
class ModelCost:
    env: str
    model: str
    team: str
    serving: float
    training: float
    tuning: float
    total: float
    savings: tuple[Saving, ...]


@dataclass(frozen=True)
class TeamCost:
    team: str
    total: float
    budget: float
    potential_saving: float  # options not yet applied

    @property
    def over_budget(self) -> bool:
        return self.budget > 0 and self.total > self.budget

    @property
    def used(self) -> float | None:
        return round(self.total / self.budget, 4) if self.budget else None


@dataclass(frozen=True)
class Report:
    currency: str
    envs: tuple[str, ...]
    models: tuple[ModelCost, ...]
    teams: tuple[TeamCost, ...] = field(default=())

    @property
    def over_budget(self) -> list[str]:
        return [t.team for t in self.teams if t.over_budget]


def build(specs: Iterable[tuple[str, Spec]], platforms: dict[str, Platform]) -> Report:
    """`specs`: (environment, effective spec) pairs; `platforms`: environment -> its config."""
    rows = []
    for env, spec in sorted(specs, key=lambda p: (p[0], p[1].metadata.name)):
        platform = platforms[env]
        cost = monthly_cost(spec, platform, env)
        rows.append(
            ModelCost(
                env,
                spec.metadata.name,
                spec.metadata.team,
                cost.serving,
                cost.training,
                cost.tuning,
                cost.total,
                tuple(savings(spec, platform, env)),
            )
        )
    any_platform = next(iter(platforms.values()))
    teams = []
    for team in sorted({r.team for r in rows}):
        mine = [r for r in rows if r.team == team]
        potential = sum(s.monthly for r in mine for s in r.savings if not s.applied)
        teams.append(
            TeamCost(
                team, round(sum(r.total for r in mine), 2), any_platform.team(team).budget.monthly, round(potential, 2)
            )
        )
    envs = tuple(sorted({r.env for r in rows}))
    return Report(any_platform.costs.currency, envs, tuple(rows), tuple(teams))


# ------------------------------------------------------------------ formats


def _money(value: float, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def _saving_text(s: Saving, currency: str) -> str:
    state = "applied" if s.applied else "available"
    return f"{s.option} {state}: {_money(s.monthly, currency)}/month ({s.note})"


def format_text(report: Report) -> str:
    c = report.currency
    lines = [f"Monthly estimate ({c}), environments: {', '.join(report.envs)}"]
    for r in report.models:
        lines.append(
            f"{r.env}/{r.model} [{r.team}]: {_money(r.total, c)} "
            f"(serving {r.serving:,.2f}, training {r.training:,.2f}, tuning {r.tuning:,.2f})"
        )
        lines += [f"  {_saving_text(s, c)}" for s in r.savings]
    lines.append("Teams:")
    for t in report.teams:
        budget = f"budget {_money(t.budget, c)}, {t.used:.0%} used" if t.used is not None else "no budget"
        flag = "  OVER BUDGET" if t.over_budget else ""
        lines.append(
            f"  {t.team}: {_money(t.total, c)} ({budget}); "
            f"options not applied would save {_money(t.potential_saving, c)}{flag}"
        )
    return "\n".join(lines) + "\n"


def format_json(report: Report) -> str:
    data = {
        "currency": report.currency,
        "environments": list(report.envs),
        "models": [
            {**{k: v for k, v in asdict(r).items() if k != "savings"}, "savings": [asdict(s) for s in r.savings]}
            for r in report.models
        ],
        "teams": [{**asdict(t), "over_budget": t.over_budget, "used": t.used} for t in report.teams],
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def format_markdown(report: Report) -> str:
    c = report.currency
    out = [
        f"### Monthly cost estimate ({c})",
        "",
        "| env | model | team | serving | training | tuning | total | savings |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for r in report.models:
        saved = "<br>".join(_saving_text(s, c) for s in r.savings) or "–"
        out.append(
            f"| {r.env} | {r.model} | {r.team} | {r.serving:,.2f} | {r.training:,.2f} | {r.tuning:,.2f} "
            f"| **{r.total:,.2f}** | {saved} |"
        )
    out += ["", "| team | estimate | budget | used | not yet saved |", "|---|---:|---:|---:|---:|"]
    for t in report.teams:
        used = f"{t.used:.0%}" if t.used is not None else "–"
        mark = " :warning: over budget" if t.over_budget else ""
        out.append(f"| {t.team} | {t.total:,.2f} | {t.budget:,.2f} | {used}{mark} | {t.potential_saving:,.2f} |")
    return "\n".join(out) + "\n"


FORMATTERS: dict[str, Callable[[Report], str]] = {
    "text": format_text,
    "json": format_json,
    "markdown": format_markdown,
}
