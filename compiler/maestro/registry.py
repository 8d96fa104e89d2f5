"""registry: the MLflow state a spec asks for, and `maestro registry sync|check`.

Desired state (`desired_state`, pure, JSON-serialisable, every mapping in sorted key order):

    experiment       name = registry.experiment or metadata.name;
                     tags team, tier, costCenter, model (the registered model's name)
    registeredModel  name = registry.model or metadata.name; description = metadata.description;
                     tags team, tier, costCenter, owners (comma-joined)
    serve            {"alias": "champion"} or {"version": 7}: what serving resolves
    variants         the A/B variants' aliases or versions (serving resolves them too)
    gates            the spec's gates plus the environment's `governance.min_gates`

How platform minimums combine with the spec's gates (`combine_gates`): a minimum `m` for a
metric means `metric >= m` must hold whatever the spec says. As in policy MPS005
(policies/spec/registry.rego), only a lower bound (`>=`, `>`) can meet a minimum.
- A spec gate `>= v` or `> v` with `v >= m` is at least as strict: it alone is kept.
- A weaker lower bound (`v < m`) is replaced by the platform's `>= m`: the two could only
  fail together, and one finding reads better than two.
- Otherwise (no gate on the metric, or `<=`, `<`, `==`) the platform's `>= m` is added
  beside the spec's gate, and both must hold.
Minimums apply to models that serve: they are the floor for what reaches online traffic
(a batch model, like a forecaster, is gated on its own metrics). A spec that waives MPS005
(`metadata.waivers`) gets no platform minimums either: the waiver says a metric does not
exist for that kind of model. Whether the waiver is still valid is for
governance to judge (an expired one is an error there), so rendering does not depend on
today's date. Every gate says where it came from (`source`: spec | platform).

sync (`plan` then `apply`) creates what is missing and corrects what differs: the
experiment (created with its tags; restored if it was deleted), the registered model
(created with description and tags), the description, and the tags above. It never deletes
anything: runs, versions, aliases and tags it does not set are left alone, and a tag the
spec stops setting keeps its last value. It never moves an alias either (promotion is a
person's or CI's decision); it warns when what serving resolves does not exist. Running it
twice changes nothing the second time.

check resolves what serving resolves (the A/B variants' aliases and versions must exist
too) and evaluates every gate against the latest value of each metric of the main served
version's run; variants are not gated (they are how a candidate earns promotion). Every failure is an error naming model, version, metric,
observed value and threshold, e.g.
    M806 fraud-detector version 3 (alias champion): val_auc = 0.91, needs >= 0.92

mlflow is imported inside functions only: compiling and validating never pay for it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import operator
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote, urlsplit, urlunsplit

from maestro.diagnostics import CODES, Diagnostic, error, sort_diagnostics, warning
from maestro.frontend.spec import Gate, Spec
from maestro.output.reporters import format_text
from maestro.resolve.config import Platform

if TYPE_CHECKING:
    from maestro.check import Checked
    from maestro.resolve.workspace import Workspace

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
TRACKING_URI_VAR = "MLFLOW_TRACKING_URI"
OK, FINDINGS, ENVIRONMENT = 0, 1, 2

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
LOWER_BOUNDS = (">=", ">")
MIN_GATES_RULE = "MPS005"  # the policy that requires the platform minimums; a waiver of it lifts them


class RegistryUnavailable(Exception):
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
    return state  # type: ignore[no-any-return]


# ------------------------------------------------------------------ tracking URI and client


def tracking_uri_for(ws: Workspace, env: str) -> str:
    """The environment's tracking URI; `MLFLOW_TRACKING_URI`, when set, wins.

    A relative `sqlite:///` path from the config is relative to the repository root (like
    every path in config/), so the embedded store is the same file from any folder; in
    `MLFLOW_TRACKING_URI` it means what it means to MLflow: relative to the working folder.
    """
    override = os.environ.get(TRACKING_URI_VAR)
    if override:
        return absolute_sqlite(override, Path.cwd())
    if env not in ws.platforms:
        raise RegistryUnavailable(f"unknown environment '{env}' (configured: {', '.join(ws.environments)})")
    return absolute_sqlite(ws.platforms[env].environments[env].endpoints.mlflow, ws.root)


def absolute_sqlite(uri: str, base: Path) -> str:
    """`sqlite:///rel/x.db` -> `sqlite:////<base>/rel/x.db`; other URIs unchanged."""
    path = _sqlite_path(uri)
    if path is None or path.is_absolute():
        return uri
    query = uri.partition("?")[2]
    return "sqlite:///" + (base / path).resolve().as_posix() + (f"?{query}" if query else "")


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a file-backed sqlite URI (None for other URIs, ':memory:')."""
    if not uri.startswith("sqlite:///"):
        return None
    raw = uri[len("sqlite:///") :].partition("?")[0]
    if raw in ("", ":memory:"):
        return None
    return Path(raw)


def redact(uri: str) -> str:
    """The URI without credentials, for messages."""
    parts = urlsplit(uri)
    if parts.password is None and parts.username is None:
        return uri
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # MLflow 3.17.2's SQL store triggers SQLAlchemy 2.1's SADeprecationWarning ('noload')
    # when imported, and MLflow announces its own API changes with FutureWarnings: notes for
    # MLflow's developers, noise for ours (and errors under pytest's filterwarnings=error).
    with warnings.catch_warnings():
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            warnings.simplefilter("ignore", category)
        yield


def probe(uri: str, attempts: int = 3, timeout: float = 5.0) -> None:
    """Fail fast when an http(s) tracking server does not answer.

    MLflow's client retries a refused connection for about four minutes before giving up;
    `GET /health` tells in seconds. Any answer below 500 counts as reachable (authentication
    and routing are for the MLflow client to report), and so does a TLS handshake that fails
    on a certificate MLflow may be configured to trust (MLFLOW_TRACKING_SERVER_CERT_PATH).
    """
    if urlsplit(uri).scheme not in ("http", "https"):
        return
    url = uri.rstrip("/") + "/health"
    reason = ""
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=timeout):
                return
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code < 500:
                return
            reason = f"HTTP {exc.code} from /health"
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ssl.SSLError):
                return
            reason = str(exc.reason)
        except OSError as exc:  # timeouts, resets
            reason = str(exc) or type(exc).__name__
        if attempt + 1 < attempts:
            time.sleep(0.5 * 2**attempt)
    raise RegistryUnavailable(f"MLflow tracking server {redact(uri)} is not reachable ({reason})")


def connect(uri: str, attempts: int = 3) -> Any:
    """An `MlflowClient` for `uri` (tracking and registry), after checking it can be reached.

    A file-backed sqlite store gets its folder created (sqlite creates files, not folders).
    """
    probe(uri, attempts=attempts)
    db = _sqlite_path(uri)
    try:
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        with _quiet():
            from mlflow import MlflowClient

            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    except Exception as exc:
        raise RegistryUnavailable(f"cannot open MLflow tracking store {redact(uri)}: {_first_line(exc)}") from None
    return client


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _artifact_location(client: Any, experiment: str) -> str | None:
    """Where a new experiment's artifacts go: beside an embedded sqlite store, else the server's choice.

    Without it MLflow records `./mlruns/<id>` of whatever folder sync ran in.
    """
    db = _sqlite_path(str(getattr(client, "tracking_uri", "")))
    if db is None:
        return None
    return (db.parent.resolve() / "mlartifacts" / quote(experiment, safe="")).as_uri()


def _is_missing(exc: BaseException) -> bool:
    return getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"


@contextlib.contextmanager
def _calls(client: Any) -> Iterator[None]:
    """MLflow errors that are not ours to interpret become RegistryUnavailable (exit 2)."""
    from mlflow.exceptions import MlflowException

    try:
        with _quiet():
            yield
    except MlflowException as exc:
        uri = redact(str(getattr(client, "tracking_uri", "")))
        raise RegistryUnavailable(f"MLflow at {uri}: {_first_line(exc)}") from None


def _registered_model(client: Any, name: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name)
    except MlflowException as exc:
        if _is_missing(exc):
            return None
        raise


def _model_version(client: Any, name: str, version: int) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(name, str(version))
    except MlflowException as exc:
        if _is_missing(exc):
            return None
        raise


def _run(client: Any, run_id: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        if _is_missing(exc):
            return None
        raise


def _aliases(rm: Any) -> dict[str, int]:
    # Versions are ints over a direct sqlite store and strings over REST (FACTS.md).
    return {str(alias): int(version) for alias, version in (rm.aliases or {}).items()}


# ------------------------------------------------------------------ sync


class Change(NamedTuple):
    """One step that brings the registry to the desired state."""

    action: str  # create-experiment | restore-experiment | set-experiment-tag |
    #              create-registered-model | set-description | set-registered-model-tag
    subject: str  # the experiment's or registered model's name
    key: str = ""  # the tag
    old: str | None = None
    new: str | None = None

    def describe(self) -> str:
        was = "" if self.old is None else f" (was {self.old!r})"
        return {
            "create-experiment": f"create experiment {self.subject!r}",
            "restore-experiment": f"restore deleted experiment {self.subject!r}",
            "set-experiment-tag": f"experiment {self.subject!r}: set tag {self.key} = {self.new!r}{was}",
            "create-registered-model": f"create registered model {self.subject!r}",
            "set-description": f"registered model {self.subject!r}: set description {self.new!r}{was}",
            "set-registered-model-tag": f"registered model {self.subject!r}: set tag {self.key} = {self.new!r}{was}",
        }[self.action]


@dataclass(frozen=True)
class SyncReport:
    model: str  # metadata.name
    environment: str
    changes: tuple[Change, ...]
    applied: bool  # False for a dry run (or nothing to do)
    diagnostics: tuple[Diagnostic, ...] = field(default=())  # warnings: what serving resolves is missing


def _tag_changes(action: str, subject: str, have: dict[str, str], want: dict[str, str]) -> list[Change]:
    return [
        Change(action, subject, key, have.get(key), value)
        for key, value in sorted(want.items())
        if have.get(key) != value
    ]


def plan(state: dict[str, Any], client: Any) -> list[Change]:
    """The changes `apply` would make, in order; [] when the registry is as desired."""
    with _calls(client):
        changes: list[Change] = []
        exp = state["experiment"]
        found = client.get_experiment_by_name(exp["name"])
        if found is None:
            changes.append(Change("create-experiment", exp["name"]))
        else:
            if found.lifecycle_stage == "deleted":
                changes.append(Change("restore-experiment", exp["name"]))
            changes += _tag_changes("set-experiment-tag", exp["name"], dict(found.tags or {}), exp["tags"])
        want = state["registeredModel"]
        rm = _registered_model(client, want["name"])
        if rm is None:
            changes.append(Change("create-registered-model", want["name"]))
        else:
            description = want.get("description")
            if description is not None and (rm.description or "") != description:
                changes.append(Change("set-description", want["name"], old=rm.description or None, new=description))
            changes += _tag_changes("set-registered-model-tag", want["name"], dict(rm.tags or {}), want["tags"])
        return changes


def apply(state: dict[str, Any], changes: Sequence[Change], client: Any) -> None:
    """Make the changes `plan` listed."""
    exp, want = state["experiment"], state["registeredModel"]
    with _calls(client):
        for change in changes:
            if change.action == "create-experiment":
                client.create_experiment(
                    exp["name"], artifact_location=_artifact_location(client, exp["name"]), tags=dict(exp["tags"])
                )
            elif change.action == "restore-experiment":
                client.restore_experiment(client.get_experiment_by_name(exp["name"]).experiment_id)
            elif change.action == "set-experiment-tag":
                client.set_experiment_tag(
                    client.get_experiment_by_name(exp["name"]).experiment_id, change.key, change.new
                )
            elif change.action == "create-registered-model":
                client.create_registered_model(
                    want["name"], tags=dict(want["tags"]), description=want.get("description")
                )
            elif change.action == "set-description":
                client.update_registered_model(want["name"], description=change.new)
            elif change.action == "set-registered-model-tag":
                client.set_registered_model_tag(want["name"], change.key, change.new)
            else:  # pragma: no cover - plan makes no other action
                raise ValueError(f"unknown change {change.action!r}")


def _served_warnings(state: dict[str, Any], client: Any, created: bool) -> list[Diagnostic]:
    """Warnings for aliases and versions serving resolves that do not exist (sync never sets them)."""
    name = state["registeredModel"]["name"]
    rm = None if created else _registered_model(client, name)
    aliases = _aliases(rm) if rm is not None else {}
    out = []
    for t in _targets(state):
        label, target = t.label, t.target
        if "alias" in target and target["alias"] not in aliases:
            out.append(
                warning(
                    "M802",
                    f"{name}: alias {target['alias']} is not set{label}; serving cannot resolve "
                    f"models:/{name}@{target['alias']} until a version is promoted",
                    hint=_PROMOTE_HINT.format(name=name, alias=target["alias"]),
                )
            )
        elif "version" in target and (rm is None or _model_version(client, name, target["version"]) is None):
            out.append(
                warning(
                    "M803",
                    f"{name}: version {target['version']} does not exist{label}; serving cannot "
                    f"resolve models:/{name}/{target['version']}",
                )
            )
    return out


_PROMOTE_HINT = (
    "promotion is a reviewed decision: MlflowClient().set_registered_model_alias({name!r}, {alias!r}, VERSION)"
)


class Target(NamedTuple):
    variant: str | None  # None for what the main model server resolves
    target: dict[str, Any]  # {"alias": NAME} or {"version": N}

    @property
    def label(self) -> str:
        """How a message names a variant's target (nothing for the main one)."""
        return f" (A/B variant {self.variant})" if self.variant else ""


def _targets(state: dict[str, Any]) -> list[Target]:
    """What serving resolves: the main model server's target, then each A/B variant's."""
    return [Target(None, state["serve"])] + [Target(v["name"], v["serve"]) for v in state.get("variants", [])]


def sync_with(state: dict[str, Any], client: Any, dry_run: bool = False) -> SyncReport:
    """Plan, and unless `dry_run` apply, one model's state with an open client."""
    changes = plan(state, client)
    if changes and not dry_run:
        apply(state, changes, client)
    created = any(c.action == "create-registered-model" for c in changes)
    with _calls(client):
        notes = _served_warnings(state, client, created)
    return SyncReport(
        model=state["model"],
        environment=state["environment"],
        changes=tuple(changes),
        applied=bool(changes) and not dry_run,
        diagnostics=tuple(notes),
    )


def sync(state: dict[str, Any], tracking_uri: str, dry_run: bool = False) -> SyncReport:
    """Reconcile the registry at `tracking_uri` with `state` (RegistryUnavailable on environment errors)."""
    return sync_with(state, connect(tracking_uri), dry_run)


# ------------------------------------------------------------------ check


def _num(x: float) -> str:
    """A number as people write it: 0.91, not 0.91000000000000003."""
    return format(x, ".15g") if math.isfinite(x) else str(x)


def check_with(state: dict[str, Any], client: Any) -> list[Diagnostic]:
    """Errors for what serving resolves and every gate on it; [] when all holds.

    A version without a run is an error only when there are gates to evaluate on it.
    """
    with _calls(client):
        return _check(state, client)


def _check(state: dict[str, Any], client: Any) -> list[Diagnostic]:
    name = state["registeredModel"]["name"]
    base = (("model", name),)
    rm = _registered_model(client, name)
    if rm is None:
        return [
            error(
                "M801",
                f"{name}: registered model not found",
                hint="run `maestro registry sync` to create it, then register a version",
                extra=base,
            )
        ]
    aliases = _aliases(rm)
    out: list[Diagnostic] = []
    resolved: int | None = None
    for t in _targets(state):
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
                        hint=_PROMOTE_HINT.format(name=name, alias=alias),
                        extra=extra,
                    )
                )
                continue
            version = aliases[alias]
        else:
            version = int(target["version"])
            if _model_version(client, name, version) is None:
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
    mv = _model_version(client, name, resolved)
    run_id = (mv.run_id if mv is not None else None) or ""
    if not run_id:
        needs = ", ".join(f"{g['metric']} {g['op']} {_num(g['value'])}" for g in gates)
        return out + [
            error(
                "M804",
                f"{subject}: the version has no run, so its gates ({needs}) cannot be checked",
                hint="register versions from a run: MlflowClient().create_model_version(name, source, run_id=RUN_ID)",
                extra=where,
            )
        ]
    run = _run(client, run_id)
    if run is None:
        return out + [error("M804", f"{subject}: its run {run_id} does not exist", extra=where)]
    metrics = dict(run.data.metrics or {})  # the latest value of each metric
    for g in gates:
        extra = where + (
            ("metric", g["metric"]),
            ("source", g.get("source", "spec")),
            ("threshold", f"{g['op']} {_num(g['value'])}"),
        )
        hint = "platform minimum (governance.min_gates)" if g.get("source") == "platform" else None
        observed = metrics.get(g["metric"])
        if observed is None:
            out.append(
                error(
                    "M805",
                    f"{subject}: {g['metric']} was not logged on run {run_id}, needs {g['op']} {_num(g['value'])}",
                    hint=hint,
                    extra=extra,
                )
            )
        elif not OPS[g["op"]](float(observed), float(g["value"])):
            shown, threshold = _num(observed), _num(g["value"])
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


# ------------------------------------------------------------------ commands


@dataclass
class Selected:
    """The states of the models a command works on, with where they came from."""

    states: list[dict[str, Any]] = field(default_factory=list)
    checked: dict[str, Checked] = field(default_factory=dict)  # model -> its checked spec
    diagnostics: list[Diagnostic] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # models without registry state


def select(ws: Workspace, env: str, model: str | None = None) -> Selected:
    """Every spec's desired state in `env` (or one model's), and the spec problems in the way."""
    from maestro.check import check_file, discover

    if env not in ws.environments:
        raise RegistryUnavailable(f"unknown environment '{env}' (configured: {', '.join(ws.environments)})")
    out = Selected()
    seen: dict[tuple[str, str], str] = {}
    found = False
    for path in discover(ws.root):
        display = path.relative_to(ws.root).as_posix()
        c = check_file(path, display, ws.inputs, [env], ws.root)
        if model is not None and (c.spec is None or c.spec.metadata.name != model):
            continue
        found = True
        out.diagnostics += c.diagnostics
        spec = c.effective.get(env)
        if spec is None:
            continue
        if not has_registry_state(spec):
            out.skipped.append(spec.metadata.name)
            continue
        state = desired_state(spec, ws.platforms[env], env)
        for kind, key, pointer in (
            ("registered model", state["registeredModel"]["name"], "/spec/registry/model"),
            ("experiment", state["experiment"]["name"], "/spec/registry/experiment"),
        ):
            other = seen.setdefault((kind, key), spec.metadata.name)
            if other != spec.metadata.name:
                located = c.effective_located[env]
                out.diagnostics.append(
                    error(
                        "M807",
                        f"{kind} '{key}' is also the {kind} of model {other} (environment {env})",
                        hint="every model needs its own; two specs would overwrite each other's tags",
                        **located.where(pointer),
                    )
                )
        out.states.append(state)
        out.checked[spec.metadata.name] = c
    if model is not None and not found:
        raise RegistryUnavailable(f"no spec named '{model}' under specs/")
    return out


def format_sync(reports: Sequence[SyncReport], uri: str, dry_run: bool) -> str:
    """Human output of a sync: per model the changes and warnings, then a summary line."""
    return "".join(format_report(r, dry_run) for r in reports) + format_summary(reports, uri, dry_run)


def format_report(r: SyncReport, dry_run: bool) -> str:
    """One model's part of a sync's output."""
    lines = [f"{r.model} ({r.environment}): " + (f"{len(r.changes)} change(s)" if r.changes else "up to date")]
    lines += [f"  {'would ' if dry_run else ''}{c.describe()}" for c in r.changes]
    lines += [f"  warning: {d.code} {d.message}" for d in r.diagnostics]
    return "\n".join(lines) + "\n"


def format_summary(reports: Sequence[SyncReport], uri: str, dry_run: bool) -> str:
    total = sum(len(r.changes) for r in reports)
    where = redact(uri)
    if dry_run:
        return f"dry run: {total} change(s) planned for {len(reports)} model(s) on {where}; nothing changed\n"
    return f"synced {len(reports)} model(s) with {where}: {total} change(s) applied\n"


def _fail(message: str) -> int:
    print(f"maestro: {message}", file=sys.stderr)
    return ENVIRONMENT


def _quiet_logs() -> None:
    # MLflow logs schema migrations of a new sqlite store at INFO: not news for our users.
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def sync_command(
    ws: Workspace | None,
    env: str | None,
    model: str | None = None,
    dry_run: bool = False,
    state_file: Path | None = None,
) -> int:
    """`maestro registry sync`: 0 applied (or up to date), 1 spec errors, 2 environment errors.

    With `state_file` (the sync Job) it syncs exactly that state; `ws` may then be None and
    the tracking URI comes from MLFLOW_TRACKING_URI (or, with a workspace, the state's
    environment in config).
    """
    try:
        if state_file is not None:
            states = [load_state(state_file)]
            state_env = states[0]["environment"]
            if env is not None and env != state_env:
                return _fail(f"--env {env} does not match the state file's environment '{state_env}'")
            if os.environ.get(TRACKING_URI_VAR):
                uri = absolute_sqlite(os.environ[TRACKING_URI_VAR], Path.cwd())
            elif ws is not None and state_env in ws.environments:
                uri = tracking_uri_for(ws, state_env)
            else:
                return _fail(f"no tracking URI: set {TRACKING_URI_VAR}")
        else:
            if ws is None or env is None:
                return _fail("registry sync needs --env (or --state FILE)")
            selected = select(ws, env, model)
            if any(d.is_error for d in selected.diagnostics):
                sys.stdout.write(format_text(sort_diagnostics(selected.diagnostics)))
                print("nothing synced: fix the errors above", file=sys.stderr)
                return FINDINGS
            states = selected.states
            uri = tracking_uri_for(ws, env)
        if not states:
            print(f"nothing to sync: no model in {env} has a registry or serving section")
            return OK
        _quiet_logs()
        client = connect(uri)
        reports = []
        for state in states:  # each model's outcome as it happens: a later failure keeps it on record
            reports.append(sync_with(state, client, dry_run))
            sys.stdout.write(format_report(reports[-1], dry_run))
            sys.stdout.flush()
    except RegistryUnavailable as exc:
        return _fail(str(exc))
    sys.stdout.write(format_summary(reports, uri, dry_run))
    return OK


def check_command(ws: Workspace, env: str, model: str | None = None) -> int:
    """`maestro registry check`: 0 every gate holds, 1 findings, 2 environment errors."""
    uri = ""
    try:
        selected = select(ws, env, model)
        diags = list(selected.diagnostics)
        if not any(d.is_error for d in diags) and selected.states:
            uri = tracking_uri_for(ws, env)
            _quiet_logs()
            client = connect(uri)
            for state in selected.states:
                found = check_with(state, client)
                diags += [_positioned(d, selected.checked[state["model"]], ws, env) for d in found]
    except RegistryUnavailable as exc:
        return _fail(str(exc))
    ordered = sort_diagnostics(diags)
    sys.stdout.write(format_text(ordered))
    if any(d.is_error for d in ordered):
        return FINDINGS
    print(
        f"registry check passed: {len(selected.states)} model(s) in {env}"
        + (f" on {redact(uri)}" if selected.states else "")
    )
    return OK


def _positioned(d: Diagnostic, checked: Checked, ws: Workspace, env: str) -> Diagnostic:
    """Put a finding at the line that asked for it: the gate, the serve, or the platform minimum."""
    from maestro.frontend.loader import escape

    extra = dict(d.extra)
    metric, source, variant = extra.get("metric"), extra.get("source"), extra.get("variant")
    if metric is not None and source == "platform":
        doc = ws.inputs.platforms.get(env)
        pointer = f"/environments/{escape(env)}/governance/min_gates/{escape(metric)}"
    else:
        doc = checked.effective_located.get(env)
        spec = checked.effective.get(env)
        registry = spec.spec.registry if spec is not None else None
        serving = spec.spec.serving if spec is not None else None
        pointer = "/spec/registry/serve" if registry is not None else "/spec/serving"
        if metric is not None and registry is not None:
            index = next((i for i, g in enumerate(registry.gates) if g.metric == metric), None)
            pointer = f"/spec/registry/gates/{index}" if index is not None else "/spec/registry/gates"
        elif variant and serving is not None and serving.ab_test is not None:
            index = next((i for i, v in enumerate(serving.ab_test.variants) if v.name == variant), 0)
            pointer = f"/spec/serving/abTest/variants/{index}/serve"
        elif d.code == "M801" and registry is not None:
            pointer = "/spec/registry"
    if doc is None:
        return d
    return replace(d, **doc.where(pointer))


# ------------------------------------------------------------------ argparse wiring


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Sub-commands of `maestro registry`: `sync` and `check`."""
    sub = parser.add_subparsers(dest="registry_action", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("sync", help="create or correct the experiment, registered model, description and tags")
    p.add_argument("--env", help="environment whose config and tracking server to use (required without --state)")
    p.add_argument("--model", help="sync one model")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("--state", metavar="FILE", help="sync exactly this state file (the sync Job); no repository needed")
    p = sub.add_parser("check", help="evaluate the gates on the served version; exit 1 when one fails")
    p.add_argument("--env", required=True, help="environment to check")
    p.add_argument("--model", help="check one model")


def run(args: argparse.Namespace, ws: Workspace | None) -> int:
    """Dispatch parsed `maestro registry ...` arguments (`ws` may be None only with --state)."""
    if args.registry_action == "sync":
        return sync_command(ws, args.env, args.model, args.dry_run, Path(args.state) if args.state else None)
    if ws is None:
        return _fail("registry check needs a repository (config/platform.yaml)")
    return check_command(ws, args.env, args.model)
