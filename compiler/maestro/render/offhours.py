"""Off-hours scale-down of serving in environments that do not need it around the clock.

In an environment whose `off_hours.enabled` is on (the platform config: dev and staging), a
model server that runs more replicas than `off_hours.replicas` is scaled by a KEDA
ScaledObject (serving.py: it owns the server's replicas, also for a server of fixed size or
one scaled on CPU alone, which would otherwise have `spec.replicas` or an HPA) whose
`minReplicaCount` is `off_hours.replicas` and whose last trigger is a `cron` trigger asking for
the server's own minimum during working hours (`off_hours.start` to `off_hours.end`, in
`off_hours.timezone`). Outside those hours the server scales down to `off_hours.replicas` (0 by
default) unless traffic makes another trigger ask for more: KEDA scales to zero only when every
trigger is inactive, which the cron trigger is off-hours and the request-rate trigger is without
traffic; CPU/memory triggers may scale to zero only beside another kind of trigger, which the
cron trigger is (keda.sh/docs/latest/scalers/cron, .../scalers/cpu).

One ScaledObject per server, one owner of its replicas: the trigger is part of the ScaledObject
serving renders, never a second autoscaler. This module holds the rules serving and `maestro
cost` share.
"""

from __future__ import annotations

from typing import Any

from maestro.frontend.spec import Spec
from maestro.resolve.config import OffHours


def scales_down(spec: Spec, off: OffHours) -> bool:
    """Whether the model's serving is scaled down off-hours in an environment: the environment
    has off-hours and serving runs more replicas than off-hours asks for."""
    serving = spec.spec.serving
    return off.enabled and serving is not None and server_scales_down(serving.replicas.min, off)


def server_scales_down(working: int, off: OffHours) -> bool:
    """Whether a server whose working-hours minimum is `working` is scaled down off-hours."""
    return off.enabled and working > off.replicas


def cron_trigger(working: int, off: OffHours) -> dict[str, Any]:
    """The KEDA cron trigger holding `working` replicas during working hours."""
    return {
        "type": "cron",
        "metadata": {
            "timezone": off.timezone,
            "start": off.start,
            "end": off.end,
            "desiredReplicas": str(working),
        },
    }
