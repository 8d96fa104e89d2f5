"""`check`: what serving resolves must exist, and every gate must hold on the served version's run."""

from __future__ import annotations

import math
from typing import Any

from maestro.diagnostics import Diagnostic, error
from maestro.mlflow.client import aliases_of, connect, get_model_version, get_registered_model, get_run, mlflow_calls
from maestro.mlflow.state import OPS, PROMOTE_HINT, served_targets

# ------------------------------------------------------------------ check


def num(x: float) -> str:
    """A number as people write it: 0.91, not 0.91000000000000003."""
    return format(x, ".15g") if math.isfinite(x) else str(x)


def check_with(state: dict[str, Any], client: Any) -> list[Diagnostic]:
    """Errors for what serving resolves and every gate on it; [] when all holds.

    A version without a run is an error only when there are gates to evaluate on it.
    """
    with mlflow_calls(client):
        return _check(state, client)


def _check(state: dict[str, Any], client: Any) -> list[Diagnostic]:
    name = state["registeredModel"]["name"]
    base = (("model", name),)
    rm = get_registered_model(client, name)
    if rm is None:
        return [
            error(
                "M801",
                f"{name}: registered model not found",
                hint="run `maestro registry sync` to create it, then register a version",
                extra=base,
            )
        ]
    aliases = aliases_of(rm)
    out: list[Diagnostic] = []
    resolved: int | None = None
    for t in served_targets(state):
        label, target = t.label, t.target
        extra = base + ((("variant", t.variant),) if t.variant else ())
        if "alias" in target:
            alias = target["alias"]
            if alias not in aliases:
                known = ", ".join(f"{a} -> {v}" for a, v in sorted(aliases.items())) or "none"
                out.append(
                    error(
                        "M802",
                        f"{name}: alias {alias} is not set{label} (aliases: {known})",
                        hint=PROMOTE_HINT.format(name=name, alias=alias),
                        extra=extra,
                    )
                )
                continue
            version = aliases[alias]
        else:
            version = int(target["version"])
            if get_model_version(client, name, version) is None:
                out.append(
                    error(
                        "M803",
                        f"{name}: version {version} does not exist{label}",
                        hint="pin a registered version in spec.registry.serve",
                        extra=extra,
                    )
                )
                continue
        if t.variant is None:
            resolved = version
    gates = state.get("gates", [])
    if resolved is None or not gates:
        return out
    serve = state["serve"]
    subject = f"{name} version {resolved}" + (f" (alias {serve['alias']})" if "alias" in serve else "")
    where = base + (("version", str(resolved)),)
    mv = get_model_version(client, name, resolved)
    run_id = (mv.run_id if mv is not None else None) or ""
    if not run_id:
        needs = ", ".join(f"{g['metric']} {g['op']} {num(g['value'])}" for g in gates)
        return out + [
            error(
                "M804",
                f"{subject}: the version has no run, so its gates ({needs}) cannot be checked",
                hint="register versions from a run: MlflowClient().create_model_version(name, source, run_id=RUN_ID)",
                extra=where,
            )
        ]
    run = get_run(client, run_id)
    if run is None:
        return out + [error("M804", f"{subject}: its run {run_id} does not exist", extra=where)]
    metrics = dict(run.data.metrics or {})  # the latest value of each metric
    return out + evaluate_gates(gates, metrics, subject, f"run {run_id}", where)


def evaluate_gates(
    gates: list[dict[str, Any]], metrics: dict[str, float], subject: str, run: str, where: tuple[tuple[str, str], ...]
) -> list[Diagnostic]:
    """M805 for a gated metric `run` did not log, M806 for one that fails its threshold.

    `metrics` holds the latest value of each metric; `subject` names the version in the
    message ("fraud-detector version 3 (alias champion)"), `where` goes into `extra`.
    """
    out = []
    for g in gates:
        extra = where + (
            ("metric", g["metric"]),
            ("source", g.get("source", "spec")),
            ("threshold", f"{g['op']} {num(g['value'])}"),
        )
        hint = "platform minimum (governance.min_gates)" if g.get("source") == "platform" else None
        observed = metrics.get(g["metric"])
        if observed is None:
            out.append(
                error(
                    "M805",
                    f"{subject}: {g['metric']} was not logged on {run}, needs {g['op']} {num(g['value'])}",
                    hint=hint,
                    extra=extra,
                )
            )
        elif not OPS[g["op"]](float(observed), float(g["value"])):
            shown, threshold = num(observed), num(g["value"])
            if shown == threshold:  # differ beyond 15 digits: show every digit
                shown, threshold = repr(float(observed)), repr(float(g["value"]))
            out.append(
                error(
                    "M806",
                    f"{subject}: {g['metric']} = {shown}, needs {g['op']} {threshold}",
                    hint=hint,
                    extra=extra + (("observed", shown),),
                )
            )
    return out


def check(state: dict[str, Any], tracking_uri: str) -> list[Diagnostic]:
    """`check_with` on a fresh client (RegistryUnavailable on environment errors)."""
    return check_with(state, connect(tracking_uri))
