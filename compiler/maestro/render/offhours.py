"""Off-hours scale-down of serving in environments that do not need it around the clock.

In an environment whose `off_hours.enabled` is on (the platform config: dev and staging),
every KEDA ScaledObject serving renders gets a `cron` trigger that asks for the spec's
minimum replicas during working hours (`off_hours.start` to `off_hours.end`, in
`off_hours.timezone`), and its `minReplicaCount` becomes `off_hours.replicas`: outside those
hours the model scales down to that (0 by default) unless traffic makes another trigger
ask for more. KEDA scales to zero only when every trigger is inactive, which the cron
trigger is off-hours and the request-rate trigger is without traffic
(keda.sh/docs/latest/scalers/cron).

It edits the ScaledObjects serving rendered, whatever their other triggers, so that the
serving renderer knows nothing about cost.
"""

from __future__ import annotations

from maestro.frontend.spec import Spec
from maestro.render import Context, Resource
from maestro.resolve.config import OffHours

KEDA_API = "keda.sh/v1alpha1"


def keda_scaled(spec: Spec) -> bool:
    """Whether serving's autoscaler is a KEDA ScaledObject (render/serving.py: scale-to-zero
    models today; every model once serving autoscales with KEDA throughout, issue 13B)."""
    serving = spec.spec.serving
    return serving is not None and serving.replicas.min == 0


def scales_down(spec: Spec, off: OffHours) -> bool:
    """Whether the model's serving is scaled down off-hours in an environment: the environment
    has off-hours, serving runs more replicas than off-hours asks for, and KEDA scales it."""
    serving = spec.spec.serving
    return off.enabled and serving is not None and serving.replicas.min > off.replicas and keda_scaled(spec)


def apply(resources: list[Resource], spec: Spec, ctx: Context) -> list[Resource]:
    off = ctx.environment.off_hours
    serving = spec.spec.serving
    if serving is None or not scales_down(spec, off):
        return resources
    for res in resources:
        if res.get("apiVersion") != KEDA_API or res.get("kind") != "ScaledObject":
            continue
        body = res["spec"]
        working = serving.replicas.min
        body["minReplicaCount"] = off.replicas
        body["triggers"] = [
            *body.get("triggers", []),
            {
                "type": "cron",
                "metadata": {
                    "timezone": off.timezone,
                    "start": off.start,
                    "end": off.end,
                    "desiredReplicas": str(working),
                },
            },
        ]
    return resources
