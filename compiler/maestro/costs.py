"""Cost estimates from a resolved spec and the platform's rates.

Used by the tuning renderer (an annotation), the governance policies (team budgets) and
`maestro diff` (monthly cost and its delta). Quantities are parsed with Kubernetes'
rules; rates come from `config/platform.yaml` `costs`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from croniter import croniter

from maestro.frontend.spec import Resources, Spec
from maestro.resolve.config import Platform

_SUFFIX = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^([0-9.]+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$")
HOURS_PER_MONTH = 730  # 365 * 24 / 12


def quantity(text: str) -> Decimal:
    """A Kubernetes quantity as a number (`500m` -> 0.5, `2Gi` -> 2147483648)."""
    m = _QUANTITY.match(text)
    if not m:
        raise ValueError(f"not a quantity: {text!r}")
    number, suffix = Decimal(m.group(1)), m.group(2) or ""
    if suffix[:1] in ("e", "E"):
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * _SUFFIX[suffix]


def hourly(res: Resources, platform: Platform) -> float:
    """Price of one pod with these requests for one hour."""
    c = platform.costs
    cores = float(quantity(res.cpu))
    gib = float(quantity(res.memory) / _SUFFIX["Gi"])
    return cores * c.cpu_hour + gib * c.memory_gib_hour + res.gpu * c.gpu_hour


@dataclass(frozen=True)
class TuningEstimate:
    trials: int
    trial_hours: float
    cpu_hours: float
    gpu_hours: float
    cost: float


def tuning_estimate(spec: Spec, platform: Platform) -> TuningEstimate | None:
    """Trials x expected trial duration x per-trial resources (training.resources; a trial
    is one pod of the tuning Job, not a distributed run)."""
    t, training = spec.spec.tuning, spec.spec.training
    if t is None or training is None:
        return None
    hours = (t.trial_minutes or platform.tuning.trial_minutes) / 60
    res = training.resources
    return TuningEstimate(
        trials=t.trials,
        trial_hours=hours,
        cpu_hours=round(t.trials * hours * float(quantity(res.cpu)), 3),
        gpu_hours=round(t.trials * hours * res.gpu, 3),
        cost=round(t.trials * hours * hourly(res, platform), 2),
    )


def runs_per_month(schedule: str) -> float:
    """How often a cron schedule fires in a 30-day month (from a fixed start: deterministic)."""
    from datetime import datetime, timedelta

    start = datetime(2026, 1, 1)
    it = croniter(schedule, start)
    count = 0
    while it.get_next(datetime) < start + timedelta(days=30):
        count += 1
        if count > 50_000:
            break
    return float(count)


@dataclass(frozen=True)
class MonthlyCost:
    serving: float
    training: float
    tuning: float

    @property
    def total(self) -> float:
        return round(self.serving + self.training + self.tuning, 2)


def monthly_cost(spec: Spec, platform: Platform, env: str | None = None) -> MonthlyCost:
    """Serving at min replicas all month; scheduled training runs x their deadline as an
    upper bound; one tuning study a month. With `env`, the cost options that environment
    has on for the model are priced in (`savings`: spot training and tuning, off-hours
    serving); without, on-demand prices around the clock."""
    cost = on_demand_cost(spec, platform)
    if env is None:
        return cost
    applied = {s.option: s.monthly for s in savings(spec, platform, env) if s.applied}
    return MonthlyCost(
        round(cost.serving - applied.get("off-hours", 0.0), 2),
        round(cost.training - applied.get("spot-training", 0.0), 2),
        round(cost.tuning - applied.get("spot-tuning", 0.0), 2),
    )


def on_demand_cost(spec: Spec, platform: Platform) -> MonthlyCost:
    body = spec.spec
    serving = 0.0
    if body.serving is not None:
        serving = serving_replicas(spec) * hourly(body.serving.resources, platform) * HOURS_PER_MONTH
    training = 0.0
    if body.training is not None and body.training.schedule:
        per_run = body.training.workers * hourly(body.training.resources, platform) * body.training.timeout_minutes / 60
        training = runs_per_month(body.training.schedule) * per_run
    tuning = tuning_estimate(spec, platform)
    return MonthlyCost(round(serving, 2), round(training, 2), tuning.cost if tuning else 0.0)


def serving_replicas(spec: Spec) -> int:
    """Pods serving at the minimum: the main model's min replicas and one pod per A/B variant."""
    serving = spec.spec.serving
    if serving is None:
        return 0
    return max(serving.replicas.min, 0) + len(serving.ab_test.variants if serving.ab_test else [])


@dataclass(frozen=True)
class Saving:
    option: str  # spot-training | spot-tuning | off-hours
    monthly: float  # saved per month, in costs.currency
    applied: bool  # on for this model in this environment (the estimate already has it)
    note: str


def savings(spec: Spec, platform: Platform, env: str) -> list[Saving]:
    """What each cost option saves a model in an environment: spot nodes for training and
    tuning (at `spot.discount`), and off-hours scale-down of serving where the environment
    has it (`off_hours`: the hours outside working hours, at `off_hours.replicas`)."""
    from maestro.render.offhours import scales_down  # the renderers' own rules
    from maestro.render.spot import on_spot

    cost = on_demand_cost(spec, platform)
    discount = platform.spot.discount
    out = []
    if cost.training:
        out.append(
            Saving(
                "spot-training",
                round(cost.training * discount, 2),
                on_spot(spec, platform, env, "training"),
                f"training pods on spot nodes at {discount:.0%} off",
            )
        )
    if cost.tuning:
        out.append(
            Saving(
                "spot-tuning",
                round(cost.tuning * discount, 2),
                on_spot(spec, platform, env, "tuning"),
                f"tuning trials on spot nodes at {discount:.0%} off",
            )
        )
    off = platform.environments[env].off_hours
    serving = spec.spec.serving
    if off.enabled and serving is not None and cost.serving:
        replicas = serving_replicas(spec)
        idle = max(replicas - off.replicas, 0) / replicas if replicas else 0.0
        fraction = off_hours_fraction(off.start, off.end)
        applied = scales_down(spec, off)
        note = f"serving at {off.replicas} replicas {fraction:.0%} of the week ({off.timezone})"
        out.append(
            Saving(
                "off-hours",
                round(cost.serving * idle * fraction, 2),
                applied,
                note if applied else note + "; serving runs no more replicas than that",
            )
        )
    return out


def off_hours_fraction(start: str, end: str) -> float:
    """Share of the week outside working hours, from the off_hours start and end crons
    (`m h * * days`, the same days for both)."""
    sm, sh, _, _, days = start.split()
    em, eh, _, _, _ = end.split()
    hours = max((int(eh) + int(em) / 60) - (int(sh) + int(sm) / 60), 0.0)
    return round(1 - hours * len(_days(days)) / (24 * 7), 4)


def _days(field: str) -> set[int]:
    out: set[int] = set()
    for part in field.split(","):
        if part == "*":
            return set(range(7))
        lo, _, hi = part.partition("-")
        out.update(d % 7 for d in range(int(lo), int(hi or lo) + 1))
    return out
