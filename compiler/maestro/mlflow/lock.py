"""Lock and promote: resolve what serving resolves into `maestro.lock.yaml` (`lockfile.py`).

`lock_entry` resolves, on an environment's tracking server, every version a model serves
(the main `serve` and each A/B variant's) to its registered version, run and artifact URI,
and records the gated metrics' latest values on that run:

- alias -> version from the registered model's aliases (M802 when it is not set); a pinned
  version must exist (M803).
- the version must come from a run (M804): the run is what the gates are evaluated on.
- the artifact URI is `get_model_version_download_uri` (the version's `storage_location`,
  else its `source`); a `runs:/<run>/<path>` source is the run's `artifact_uri` + path (how
  MLflow's own `RunsArtifactRepository` resolves it); then `lockfile.kserve_uri` turns it into
  a URI KServe downloads, or refuses it (M813).

An entry `maestro promote` wrote (`promotedFrom`) is kept by `lock` unless the command names
that environment (`--env`): promotion, not the target's alias, decides what it serves.

`promote_entry` copies the source environment's locked main version into the target's
entry, after checking it on the target's tracking server: the version must exist there
and come from the same run (version numbers do not carry over between servers; copying a
version across servers is out of scope), and the spec's gates plus the target's
`governance.min_gates` must hold on that run's metrics (M805/M806, naming metric, value and
threshold). The target's variants are resolved from its own aliases, as `lock` would.

mlflow is imported by the client module inside functions only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from maestro.diagnostics import CODES, Diagnostic, error
from maestro.mlflow.check import evaluate_gates, num
from maestro.mlflow.client import aliases_of, get_model_version, get_registered_model, get_run, mlflow_calls
from maestro.mlflow.lockfile import EnvLock, Pinned, kserve_uri, pinned_target, target_text
from maestro.mlflow.state import OPS, PROMOTE_HINT

CODES.update(
    {
        "M814": "promoted version differs on the target's tracking server",
        "M815": "nothing to promote",
    }
)


@dataclass(frozen=True)
class Resolved:
    """What one environment serves, resolved on its server (entry None when something failed)."""

    entry: EnvLock | None
    diagnostics: tuple[Diagnostic, ...] = ()
    kept: bool = False  # the main version is a promotion's, left as it was


def _fail(code: str, message: str, hint: str | None, where: tuple[tuple[str, str], ...]) -> Diagnostic:
    return error(code, message, hint=hint, extra=where)


def resolve_pin(
    client: Any,
    name: str,
    target: str | int,
    metrics: list[str],
    destination: str | None,
    where: tuple[tuple[str, str], ...] = (),
) -> tuple[Pinned | None, list[Diagnostic]]:
    """One alias or version of registered model `name`, resolved (or the reasons it cannot be)."""
    with mlflow_calls(client):
        return _resolve_pin(client, name, target, metrics, destination, where)


def _resolve_pin(
    client: Any,
    name: str,
    target: str | int,
    metrics: list[str],
    destination: str | None,
    where: tuple[tuple[str, str], ...],
) -> tuple[Pinned | None, list[Diagnostic]]:
    rm = get_registered_model(client, name)
    if rm is None:
        return None, [
            _fail(
                "M801",
                f"{name}: registered model not found",
                "run `maestro registry sync` to create it, then register a version",
                where,
            )
        ]
    if isinstance(target, int):
        version = target
        mv = get_model_version(client, name, version)
        if mv is None:
            return None, [_fail("M803", f"{name}: version {version} does not exist", "pin a registered version", where)]
    else:
        aliases = aliases_of(rm)
        if target not in aliases:
            known = ", ".join(f"{a} -> {v}" for a, v in sorted(aliases.items())) or "none"
            return None, [
                _fail(
                    "M802",
                    f"{name}: alias {target} is not set (aliases: {known})",
                    PROMOTE_HINT.format(name=name, alias=target),
                    where,
                )
            ]
        version = aliases[target]
        mv = get_model_version(client, name, version)
        if mv is None:  # an alias to a deleted version
            return None, [
                _fail("M803", f"{name}: alias {target} points to version {version}, which is gone", None, where)
            ]
    subject = f"{name} version {version}" + (f" (alias {target})" if isinstance(target, str) else "")
    run_id = mv.run_id or ""
    run = get_run(client, run_id) if run_id else None
    if run is None:
        why = f"its run {run_id} does not exist" if run_id else "the version has no run"
        return None, [
            _fail(
                "M804",
                f"{subject}: {why}; a lock records the run its gates are evaluated on",
                "register versions from a run: MlflowClient().create_model_version(name, source, run_id=RUN_ID)",
                where,
            )
        ]
    artifact = str(client.get_model_version_download_uri(name, str(version)))
    parts = urlsplit(artifact)
    if parts.scheme == "runs":
        # runs:/<run_id>/<path>: relative to that run's artifact root.
        owner, _, path = artifact[len("runs:/") :].lstrip("/").partition("/")
        owner_run = run if owner == run_id else get_run(client, owner)
        root = str(owner_run.info.artifact_uri) if owner_run is not None else ""
        artifact = root.rstrip("/") + ("/" + path if path else "") if root else artifact
    uri, why = kserve_uri(artifact, destination)
    if uri is None:
        return None, [
            _fail(
                "M813",
                f"{subject}: its artifacts at {artifact} cannot be downloaded by the serving pods: {why}",
                "store model artifacts in object storage (an experiment artifact_location or the server's "
                "--default-artifact-root / --artifacts-destination on s3://, gs://, Azure or hdfs://)",
                where,
            )
        ]
    logged = dict(run.data.metrics or {})
    pinned = Pinned.model_validate(
        {
            **({"alias": target} if isinstance(target, str) else {}),
            "version": version,
            "runId": run_id,
            "source": uri,
            "metrics": {m: float(logged[m]) for m in sorted(metrics) if m in logged},
        }
    )
    return pinned, []


def lock_entry(
    client: Any, state: dict[str, Any], destination: str | None, old: EnvLock | None = None, keep_promoted: bool = True
) -> Resolved:
    """The environment's entry for a model's desired `state` (mlflow/state.py), resolved.

    With `keep_promoted`, an `old` entry whose main version a promotion wrote, and which still
    serves the spec's target, keeps that version (its variants are resolved again).
    """
    name = state["registeredModel"]["name"]
    metrics = sorted({g["metric"] for g in state.get("gates", [])})
    base = (("model", state["model"]),)
    diags: list[Diagnostic] = []
    serve_target = _target(state["serve"])
    serve: Pinned | None
    promoted = (
        old.serve
        if old is not None
        and old.serve.promoted_from is not None
        and old.registered_model == name
        and pinned_target(old.serve) == serve_target
        else None
    )
    if keep_promoted and promoted is not None:
        serve = promoted
    else:
        serve, found = resolve_pin(client, name, serve_target, metrics, destination, base)
        diags += found
        if serve is not None and promoted is not None and _same_version(serve, promoted):
            serve = promoted  # the alias points where the promotion did: nothing changed
    variants: dict[str, Pinned] = {}
    for v in state.get("variants", []):
        pinned, found = resolve_pin(
            client, name, _target(v["serve"]), metrics, destination, base + (("variant", v["name"]),)
        )
        diags += found
        if pinned is not None:
            variants[v["name"]] = pinned
    if serve is None or diags:
        return Resolved(None, tuple(diags))
    entry = EnvLock.model_validate({"registeredModel": name, "serve": serve, "variants": variants})
    return Resolved(entry, (), kept=keep_promoted and promoted is not None)


def _same_version(a: Pinned, b: Pinned) -> bool:
    return (a.version, a.run_id, a.source) == (b.version, b.run_id, b.source)


def _gate_row(gate: dict[str, Any], logged: dict[str, float]) -> tuple[str, str, float, float | None, bool]:
    observed = float(logged[gate["metric"]]) if gate["metric"] in logged else None
    holds = observed is not None and OPS[gate["op"]](observed, float(gate["value"]))
    return gate["metric"], gate["op"], float(gate["value"]), observed, holds


def _target(target: dict[str, Any]) -> str | int:
    return int(target["version"]) if "version" in target else str(target["alias"])


def gate_findings(state: dict[str, Any], pinned: Pinned, label: str) -> list[Diagnostic]:
    """The gates of `state` evaluated on the metrics recorded in `pinned` (what the lock holds)."""
    gates = state.get("gates", [])
    subject = f"{state['registeredModel']['name']} version {pinned.version}" + (
        f" (alias {pinned.alias})" if pinned.alias else ""
    )
    return evaluate_gates(
        gates, pinned.metrics, f"{label}{subject}", f"run {pinned.run_id}", (("model", state["model"]),)
    )


@dataclass(frozen=True)
class Promotion:
    """What `promote` decided: the new target entry (None when refused) and why."""

    entry: EnvLock | None
    diagnostics: tuple[Diagnostic, ...]
    gates: tuple[tuple[str, str, float, float | None, bool], ...] = ()  # metric, op, threshold, observed, holds


def promote_entry(
    client: Any,
    source: EnvLock,
    source_env: str,
    state: dict[str, Any],
    destination: str | None,
    old: EnvLock | None,
) -> Promotion:
    """The target environment's entry with the source's main version, checked on the target's server.

    `state` is the model's desired state in the target environment (its gates include the
    target's min_gates); `client` talks to the target's tracking server.
    """
    with mlflow_calls(client):
        return _promote(client, source, source_env, state, destination, old)


def _promote(
    client: Any,
    source: EnvLock,
    source_env: str,
    state: dict[str, Any],
    destination: str | None,
    old: EnvLock | None,
) -> Promotion:
    name = state["registeredModel"]["name"]
    env = state["environment"]
    base = (("model", state["model"]),)
    pin = source.serve
    target = _target(state["serve"])
    if isinstance(target, int):
        return Promotion(
            None,
            (
                _fail(
                    "M815",
                    f"the spec pins version {target} in {env}; a promotion writes only the lock",
                    f"serve an alias in {env} (spec.environments.{env}.registry.serve) to promote into it",
                    base,
                ),
            ),
        )
    if source.registered_model != name:
        return Promotion(
            None,
            (
                _fail(
                    "M815",
                    f"{source_env} serves registered model {source.registered_model}, {env} serves {name}",
                    "a promotion moves a version of one registered model between environments",
                    base,
                ),
            ),
        )
    mv = get_model_version(client, name, pin.version)
    if mv is None:
        return Promotion(
            None,
            (
                _fail(
                    "M803",
                    f"{name}: version {pin.version} does not exist on {env}'s tracking server",
                    "register the version on that server first (copying versions between servers is not "
                    "something maestro does)",
                    base,
                ),
            ),
        )
    if (mv.run_id or "") != pin.run_id:
        return Promotion(
            None,
            (
                _fail(
                    "M814",
                    f"{name} version {pin.version} on {env}'s tracking server comes from run {mv.run_id or '(none)'}, "
                    f"but {source_env}'s lock has run {pin.run_id}: it is another model",
                    "the environments use different tracking servers and version numbers do not carry over; "
                    "register the same run's model on the target server, lock it there, or point both "
                    "environments at one server",
                    base,
                ),
            ),
        )
    metrics = sorted({g["metric"] for g in state.get("gates", [])})
    resolved, diags = _resolve_pin(client, name, pin.version, metrics, destination, base)
    if resolved is None:
        return Promotion(None, tuple(diags))
    run = get_run(client, pin.run_id)
    logged = dict(run.data.metrics or {}) if run is not None else {}
    subject = f"{name} version {pin.version}"
    findings = evaluate_gates(state.get("gates", []), logged, subject, f"run {pin.run_id}", base)
    gates = tuple(_gate_row(g, logged) for g in state.get("gates", []))
    if findings:
        return Promotion(None, tuple(findings), gates)
    serve = resolved.model_copy(update={"alias": target, "promoted_from": source_env})
    variants: dict[str, Pinned] = {}
    for v in state.get("variants", []):
        kept = old.variants.get(v["name"]) if old is not None else None
        if kept is not None and pinned_target(kept) == _target(v["serve"]):
            variants[v["name"]] = kept
            continue
        pinned, found = _resolve_pin(
            client, name, _target(v["serve"]), metrics, destination, base + (("variant", v["name"]),)
        )
        if pinned is None:
            return Promotion(None, tuple(found), gates)
        variants[v["name"]] = pinned
    entry = EnvLock.model_validate({"registeredModel": name, "serve": serve, "variants": variants})
    return Promotion(entry, (), gates)


# ------------------------------------------------------------------ describing changes


def describe(env: str, model: str, old: Pinned | None, new: Pinned | None, variant: str | None = None) -> str:
    """One line for a change of what an environment serves, the form `diff` shows too:
    `prod/fraud-detector: model version 12 -> 14, val_auc 0.931 -> 0.944`."""
    who = f"{env}/{model}" + (f" (A/B variant {variant})" if variant else "")
    if old is None and new is None:
        return f"{who}: unlocked"
    if new is None:
        assert old is not None
        return f"{who}: model version {old.version} -> unlocked ({target_text(pinned_target(old))} resolved at deploy time)"
    if old is None:
        metrics = ", ".join(f"{m} {num(v)}" for m, v in new.metrics.items())
        return f"{who}: unlocked -> model version {new.version}" + (f", {metrics}" if metrics else "")
    parts = [
        f"model version {old.version} -> {new.version}"
        if old.version != new.version
        else f"model version {new.version}"
    ]
    if old.run_id != new.run_id:
        parts.append(f"run {old.run_id[:8]} -> {new.run_id[:8]}")
    for m in sorted(set(old.metrics) | set(new.metrics)):
        a, b = old.metrics.get(m), new.metrics.get(m)
        if a != b:
            parts.append(f"{m} {'-' if a is None else num(a)} -> {'-' if b is None else num(b)}")
    if old.source != new.source and old.version == new.version:
        parts.append(f"source {old.source} -> {new.source}")
    return f"{who}: " + ", ".join(parts)


def served_changes(old: EnvLock | None, new: EnvLock | None) -> list[tuple[str | None, Pinned | None, Pinned | None]]:
    """(variant or None for the main version, old, new) of every served version that differs
    between two entries, the main version first (none when equal)."""
    out: list[tuple[str | None, Pinned | None, Pinned | None]] = []
    if (old.serve if old else None) != (new.serve if new else None):
        out.append((None, old.serve if old else None, new.serve if new else None))
    for name in sorted(set(old.variants if old else {}) | set(new.variants if new else {})):
        a = old.variants.get(name) if old else None
        b = new.variants.get(name) if new else None
        if a != b:
            out.append((name, a, b))
    return out


def entry_changes(env: str, model: str, old: EnvLock | None, new: EnvLock | None) -> list[str]:
    """The lines for every served version that differs between two entries (none when equal)."""
    return [describe(env, model, a, b, variant) for variant, a, b in served_changes(old, new)]
