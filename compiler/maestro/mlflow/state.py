"""The MLflow state a spec asks for (`desired_state`), what serving resolves, and state files
(see the package docstring for how platform minimums combine with the spec's gates).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from maestro.diagnostics import CODES
from maestro.errors import UsageError
from maestro.frontend.spec import Gate, Spec
from maestro.resolve.config import Platform

CODES.update(
    {
        "M801": "registered model not found",
        "M802": "served alias not set",
        "M803": "served model version not found",
        "M804": "model version without a run",
        "M805": "gated metric not logged",
        "M806": "promotion gate failed",
        "M807": "registered model or experiment claimed by two specs",
    }
)

API_VERSION = "maestro.ml/v1alpha1"

KIND = "RegistryState"

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}

LOWER_BOUNDS = (">=", ">")

MIN_GATES_RULE = "MPS005"  # the policy that requires the platform minimums; a waiver of it lifts them


class RegistryUnavailable(UsageError):
    """The tracking server or store cannot be used, or the input is unusable (exit 2)."""


# ------------------------------------------------------------------ desired state


def registered_model_name(spec: Spec) -> str:
    registry = spec.spec.registry
    return (registry.model if registry and registry.model else None) or spec.metadata.name


def experiment_name(spec: Spec) -> str:
    registry = spec.spec.registry
    return (registry.experiment if registry and registry.experiment else None) or spec.metadata.name


def has_registry_state(spec: Spec) -> bool:
    """A model has registry state when it says so, or when serving resolves from the registry."""
    return spec.spec.registry is not None or spec.spec.serving is not None


def _target(serve: str | int) -> dict[str, Any]:
    return {"version": serve} if isinstance(serve, int) else {"alias": serve}


def _gate(metric: str, op: str, value: float, source: str) -> dict[str, Any]:
    return {"metric": metric, "op": op, "source": source, "value": float(value)}


def _meets_minimum(gate: Gate, minimum: float) -> bool:
    return gate.op in LOWER_BOUNDS and gate.value >= minimum


def combine_gates(gates: Sequence[Gate], minimums: dict[str, float]) -> list[dict[str, Any]]:
    """The spec's gates with the platform's minimums on top (module docstring), sorted."""
    out = []
    for g in gates:
        minimum = minimums.get(g.metric)
        if minimum is not None and g.op in LOWER_BOUNDS and g.value < minimum:
            continue  # a weaker lower bound: the platform's minimum replaces it, below
        out.append(_gate(g.metric, g.op, g.value, "spec"))
    for metric, minimum in minimums.items():
        if not any(_meets_minimum(g, minimum) for g in gates if g.metric == metric):
            out.append(_gate(metric, ">=", minimum, "platform"))
    # By metric; for one metric the spec's gate before the platform's.
    return sorted(out, key=lambda g: (g["metric"], g["source"] != "spec", g["op"], g["value"]))


def desired_state(spec: Spec, platform: Platform, env: str) -> dict[str, Any]:
    """What the registry should hold for one model in one environment (module docstring).

    `platform` is the environment's (platform.<env>.yaml merged). Plain data, every mapping
    in sorted key order, so `json.dumps` of it is canonical without `sort_keys`.
    """
    meta = spec.metadata
    registry = spec.spec.registry
    model = registered_model_name(spec)
    ownership: dict[str, str] = {"team": meta.team, "tier": meta.tier}
    if meta.cost_center:
        ownership["costCenter"] = meta.cost_center
    registered: dict[str, Any] = {"name": model, "tags": _sorted({**ownership, "owners": ",".join(meta.owners)})}
    if meta.description is not None:
        registered["description"] = meta.description
    serving = spec.spec.serving
    variants = serving.ab_test.variants if serving is not None and serving.ab_test is not None else []
    waived = any(w.rule == MIN_GATES_RULE for w in meta.waivers)
    minimums = {} if waived or serving is None else platform.environments[env].governance.min_gates
    state = {
        "apiVersion": API_VERSION,
        "environment": env,
        "experiment": {"name": experiment_name(spec), "tags": _sorted({**ownership, "model": model})},
        "gates": combine_gates(registry.gates if registry else [], minimums),
        "kind": KIND,
        "model": meta.name,
        "registeredModel": _sorted(registered),
        "serve": _target(registry.serve if registry else "champion"),
        "variants": [{"name": v.name, "serve": _target(v.serve)} for v in sorted(variants, key=lambda v: v.name)],
    }
    return state


def _sorted(d: dict[str, Any]) -> dict[str, Any]:
    return {k: d[k] for k in sorted(d)}


def state_json(state: dict[str, Any]) -> str:
    """The canonical text of a state: pretty JSON, sorted keys, trailing newline."""
    return json.dumps(state, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def state_problems(state: Any) -> list[str]:
    """What makes `state` (e.g. a --state file) unusable; [] when it is a RegistryState."""
    if not isinstance(state, dict):
        return ["the state is not a JSON object"]
    out = []
    if state.get("apiVersion") != API_VERSION or state.get("kind") != KIND:
        out.append(f"apiVersion/kind is not {API_VERSION}/{KIND}")
    for key in ("experiment", "registeredModel"):
        part = state.get(key)
        if not (isinstance(part, dict) and isinstance(part.get("name"), str) and part["name"]):
            out.append(f"{key}.name is missing")
        elif not (isinstance(part.get("tags"), dict) and all(isinstance(v, str) for v in part["tags"].values())):
            out.append(f"{key}.tags is not a mapping of strings")
    description = (
        (state.get("registeredModel") or {}).get("description")
        if isinstance(state.get("registeredModel"), dict)
        else None
    )
    if description is not None and not isinstance(description, str):
        out.append("registeredModel.description is not a string")
    targets = [("serve", state.get("serve"))]
    variants = state.get("variants", [])
    if not isinstance(variants, list) or not all(
        isinstance(v, dict) and isinstance(v.get("name"), str) for v in variants
    ):
        out.append("variants is not a list of {name, serve}")
    else:
        targets += [(f"variants[{v['name']}].serve", v.get("serve")) for v in variants]
    for where, target in targets:
        if not _valid_target(target):
            out.append(f'{where} is not {{"alias": NAME}} or {{"version": N}}')
    gates = state.get("gates", [])
    if not isinstance(gates, list) or not all(
        isinstance(g, dict)
        and isinstance(g.get("metric"), str)
        and g.get("op") in OPS
        and isinstance(g.get("value"), (int, float))
        and not isinstance(g.get("value"), bool)
        for g in gates
    ):
        out.append("gates is not a list of {metric, op, value}")
    return out


def _valid_target(target: Any) -> bool:
    if not isinstance(target, dict) or len(target) != 1:
        return False
    if "alias" in target:
        return isinstance(target["alias"], str) and bool(target["alias"])
    version = target.get("version")
    return isinstance(version, int) and not isinstance(version, bool) and version >= 1


def load_state(path: Path) -> dict[str, Any]:
    """A state file (the sync Job's /state/registry.json); RegistryUnavailable when unusable."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryUnavailable(f"cannot read state file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise RegistryUnavailable(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
    problems = state_problems(state)
    if problems:
        raise RegistryUnavailable(f"{path}: not a registry state: {'; '.join(problems)}")
    return state


PROMOTE_HINT = (
    "promotion is a reviewed decision: MlflowClient().set_registered_model_alias({name!r}, {alias!r}, VERSION)"
)


class Target(NamedTuple):
    variant: str | None  # None for what the main model server resolves
    target: dict[str, Any]  # {"alias": NAME} or {"version": N}

    @property
    def label(self) -> str:
        """How a message names a variant's target (nothing for the main one)."""
        return f" (A/B variant {self.variant})" if self.variant else ""


def served_targets(state: dict[str, Any]) -> list[Target]:
    """What serving resolves: the main model server's target, then each A/B variant's."""
    return [Target(None, state["serve"])] + [Target(v["name"], v["serve"]) for v in state.get("variants", [])]
