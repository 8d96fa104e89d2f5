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


def monthly_cost(spec: Spec, platform: Platform) -> MonthlyCost:
    """Serving at min replicas all month; scheduled training runs x their deadline as an
    upper bound; one tuning study a month."""
    body = spec.spec
    serving = 0.0
    if body.serving is not None:
        replicas = max(body.serving.replicas.min, 0)
        serving = replicas * hourly(body.serving.resources, platform) * HOURS_PER_MONTH
        for _v in body.serving.ab_test.variants if body.serving.ab_test else []:
            serving += hourly(body.serving.resources, platform) * HOURS_PER_MONTH  # one pod per variant
    training = 0.0
    if body.training is not None and body.training.schedule:
        per_run = body.training.workers * hourly(body.training.resources, platform) * body.training.timeout_minutes / 60
        training = runs_per_month(body.training.schedule) * per_run
    tuning = tuning_estimate(spec, platform)
    return MonthlyCost(round(serving, 2), round(training, 2), tuning.cost if tuning else 0.0)
