"""Spot (preemptible) nodes for training and tuning pods: which pods go there, how they get
there, and which runs may.

A pod goes to spot nodes when its section says `spot: true`, or says nothing and the
environment's `spot.training`/`spot.tuning` default is on (platform config). It then gets
the platform's spot scheduling (`spot.node_selector`, `spot.node_affinity`,
`spot.tolerations`) on top of whatever the renderer set (render/decorate.py applies it).

A spot node can be reclaimed at any moment, so a training run may use one only if an
eviction costs a restart, not the run: the spec names a `checkpointPath` to resume from, or
`restartPolicy: OnFailure` (the run is safe to start over). Anything else is error M224 at
`spec.training.spot` (or at `spec.training` when the environment's default asked for it).
Tuning needs neither: the study's storage heartbeat (render/tuning.py) marks an evicted
trial failed and the other workers go on.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, Literal

from maestro.frontend.semantics import Violation
from maestro.frontend.spec import Spec
from maestro.resolve.config import Platform

EVICTION_SAFE_RESTARTS = frozenset({"OnFailure"})


def on_spot(spec: Spec, platform: Platform, env: str, section: Literal["training", "tuning"]) -> bool:
    body = getattr(spec.spec, section)
    if body is None:
        return False
    if body.spot is not None:
        return bool(body.spot)
    return bool(getattr(platform.environments[env].spot, section))


def check(spec: Spec, platform: Platform, env: str) -> Iterator[Violation]:
    training = spec.spec.training
    if training is None or not on_spot(spec, platform, env, "training"):
        return
    if training.checkpoint_path is not None or training.restart_policy in EVICTION_SAFE_RESTARTS:
        return
    explicit = training.spot is not None
    yield Violation(
        "/spec/training/spot" if explicit else "/spec/training",
        "M224",
        "training on spot nodes needs a checkpointPath or restartPolicy: OnFailure"
        + ("" if explicit else f" (environment {env} runs training on spot nodes by default)"),
        "set training.checkpointPath to where the code saves checkpoints, or restartPolicy: OnFailure if a run "
        "may start over; or spot: false",
        key=explicit,
    )


def schedule_on_spot(pod_spec: dict[str, Any], platform: Platform) -> None:
    """The platform's spot scheduling added to a pod spec (in place)."""
    spot = platform.spot
    if spot.node_selector:
        pod_spec["nodeSelector"] = {**(pod_spec.get("nodeSelector") or {}), **spot.node_selector}
    if spot.node_affinity:
        affinity = pod_spec.setdefault("affinity", {})
        affinity["nodeAffinity"] = copy.deepcopy(spot.node_affinity)
    if spot.tolerations:
        present = pod_spec.get("tolerations") or []
        pod_spec["tolerations"] = [*present, *(copy.deepcopy(t) for t in spot.tolerations if t not in present)]
