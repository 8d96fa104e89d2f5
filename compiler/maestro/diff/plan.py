"""What to render: the models and environments whose inputs differ between the snapshots."""

from __future__ import annotations

from dataclasses import dataclass

from maestro.diff.git import COMPILER_DIR
from maestro.diff.snapshot import Snapshot, blob_id, same_blobs

# ------------------------------------------------------------------ what to render


@dataclass(frozen=True)
class Plan:
    envs: list[str]  # selected environments, head's order first
    models: list[str]  # every model on either side
    affected: dict[str, set[str]]  # env -> models to render there
    reasons: list[str]  # why, in words


def plan(base: Snapshot, head: Snapshot, base_envs: list[str], head_envs: list[str], only_env: str | None) -> Plan:
    envs = list(head_envs) + [e for e in base_envs if e not in head_envs]
    if only_env is not None:
        envs = [e for e in envs if e == only_env]
    base_specs, head_specs = base.specs, head.specs
    models = sorted(set(base_specs) | set(head_specs))
    reasons = []
    everything = False
    for folder in ("config", "policies"):
        if not same_blobs(base.under(folder), head.under(folder)):
            reasons.append(f"{folder}/ changed: every model rendered")
            everything = True
    if not same_blobs(base.under(COMPILER_DIR), head.under(COMPILER_DIR)):
        versions = base.version(), head.version()
        said = f" {versions[0] or 'none'} -> {versions[1] or 'none'}" if versions[0] != versions[1] else ""
        reasons.append(f"the compiler ({COMPILER_DIR}/){said} changed: every model rendered")
        everything = True
    # A model's folder is its input: the spec and its version lock (a promotion changes only the lock).
    changed_specs = {m for m in models if not same_blobs(base.model_inputs(m), head.model_inputs(m))}
    affected: dict[str, set[str]] = {}
    for env in envs:
        folder = f"overlays/{env}"
        overlay_changed = not same_blobs(base.under(folder), head.under(folder))
        if overlay_changed and not everything:
            reasons.append(f"{folder}/ changed: every model in {env} rendered")
        affected[env] = set(models) if everything or overlay_changed else set(changed_specs)
    if changed_specs and not everything:
        words = {m: _change(m, base, head) for m in sorted(changed_specs)}
        reasons.append("specs: " + ", ".join(f"{m} ({w})" for m, w in words.items()))
    return Plan(envs=envs, models=models, affected=affected, reasons=reasons)


def _change(model: str, base: Snapshot, head: Snapshot) -> str:
    if model not in base.specs:
        return "added"
    if model not in head.specs:
        return "deleted"
    if blob_id(base.specs[model]) == blob_id(head.specs[model]):
        return "version lock changed"
    return "changed"
