"""What the features renderer and the monitoring renderer share about materialization:
which views are materialized, their CronJobs' names and schedules.

Every online view gets its own CronJob (render/features.py) running Feast's incremental
materialization, and its own two alerts (render/monitoring.py); both derive the name and
schedule here, so that the alert always watches the CronJob that exists.
"""

from __future__ import annotations

import zlib

from maestro.frontend.spec import Spec, View
from maestro.names import fit
from maestro.render import name_of
from maestro.render.queries import parse_duration

CRONJOB_NAME_MAX = 52  # Kubernetes appends 11 characters to a CronJob's Jobs (names.py)
REFRESHES_PER_TTL = 4
MINUTE_STEPS = (5, 10, 15, 20, 30)  # divide the hour: evenly spaced runs
HOUR_STEPS = (1, 2, 3, 4, 6, 8, 12)  # divide the day
# Below this ttl the derived schedule cannot keep up; frontend/semantics.py (M223) refuses it.
MIN_DERIVED_TTL = MINUTE_STEPS[0] * 60 * REFRESHES_PER_TTL


def online_views(spec: Spec) -> list[View]:
    features = spec.spec.features
    return [v for v in features.views if v.online] if features is not None else []


def materialize_name(spec: Spec, view: View) -> str:
    """`<model>-mat-<view>`, cut to the 52 characters a CronJob name may have (names.fit).
    Feast names are snake_case identifiers and object names DNS labels: `_` becomes `-`
    (one-to-one, since a Feast name holds no `-`)."""
    return fit(f"{name_of(spec)}-mat-{str(view.name).replace('_', '-')}", CRONJOB_NAME_MAX)


def materialize_schedule(spec: Spec, view: View) -> str:
    """The view's own schedule, or one derived from its ttl (`schedule_from_ttl`)."""
    return view.materialization.schedule or schedule_from_ttl(view.ttl, f"{name_of(spec)}/{view.name}")


def schedule_from_ttl(ttl: str, key: str) -> str:
    """A cron schedule that refreshes a view about REFRESHES_PER_TTL times within its ttl.

    The period ttl / REFRESHES_PER_TTL is rounded down to a step that divides the hour
    (MINUTE_STEPS) or the day (HOUR_STEPS), so runs are evenly spaced, with a floor of 5
    minutes and a cap of one day. A failed run then still leaves the online values valid
    until the next ones; the stale alert fires only when a whole ttl passed without success.
    The start minute (and hour) comes from a hash of `key`, so that the views of every model
    do not all start at :00 and load the offline store at once; the same key always gets the
    same schedule.
    """
    period_minutes = parse_duration(ttl) // REFRESHES_PER_TTL // 60
    h = zlib.crc32(key.encode())
    if period_minutes < 60:
        step = max([s for s in MINUTE_STEPS if s <= period_minutes], default=MINUTE_STEPS[0])
        return f"{h % step}-59/{step} * * * *"
    hours = period_minutes // 60
    if hours < 24:
        step = max(s for s in HOUR_STEPS if s <= hours)
        return f"{h % 60} * * * *" if step == 1 else f"{h % 60} {(h // 60) % step}-23/{step} * * *"
    return f"{h % 60} {(h // 60) % 24} * * *"
