"""`sync`: plan and apply the changes that bring the registry to the desired state; never deletes,
never moves an alias.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from maestro.diagnostics import Diagnostic, warning
from maestro.mlflow.client import (
    aliases_of,
    artifact_location,
    connect,
    get_model_version,
    get_registered_model,
    mlflow_calls,
)
from maestro.mlflow.state import PROMOTE_HINT, served_targets

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
    with mlflow_calls(client):
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
        rm = get_registered_model(client, want["name"])
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
    with mlflow_calls(client):
        for change in changes:
            if change.action == "create-experiment":
                client.create_experiment(
                    exp["name"], artifact_location=artifact_location(client, exp["name"]), tags=dict(exp["tags"])
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
    rm = None if created else get_registered_model(client, name)
    aliases = aliases_of(rm) if rm is not None else {}
    out = []
    for t in served_targets(state):
        label, target = t.label, t.target
        if "alias" in target and target["alias"] not in aliases:
            out.append(
                warning(
                    "M802",
                    f"{name}: alias {target['alias']} is not set{label}; serving cannot resolve "
                    f"models:/{name}@{target['alias']} until a version is promoted",
                    hint=PROMOTE_HINT.format(name=name, alias=target["alias"]),
                )
            )
        elif "version" in target and (rm is None or get_model_version(client, name, target["version"]) is None):
            out.append(
                warning(
                    "M803",
                    f"{name}: version {target['version']} does not exist{label}; serving cannot "
                    f"resolve models:/{name}/{target['version']}",
                )
            )
    return out


def sync_with(state: dict[str, Any], client: Any, dry_run: bool = False) -> SyncReport:
    """Plan, and unless `dry_run` apply, one model's state with an open client."""
    changes = plan(state, client)
    if changes and not dry_run:
        apply(state, changes, client)
    created = any(c.action == "create-registered-model" for c in changes)
    with mlflow_calls(client):
        notes = _served_warnings(state, client, created)
    return SyncReport(
        model=state["model"],
        environment=state["environment"],
        changes=tuple(changes),
        applied=bool(changes) and not dry_run,
        diagnostics=tuple(notes),
    )


def plan_on_empty_store(state: dict[str, Any]) -> SyncReport:
    """A dry run's report for a store that does not exist yet (a local sqlite file): what a
    sync would create, found without opening the store, since opening one creates it."""
    changes = (
        Change("create-experiment", state["experiment"]["name"]),
        Change("create-registered-model", state["registeredModel"]["name"]),
    )
    return SyncReport(
        model=state["model"],
        environment=state["environment"],
        changes=changes,
        applied=False,
        diagnostics=tuple(_served_warnings(state, None, created=True)),
    )


def sync(state: dict[str, Any], tracking_uri: str, dry_run: bool = False) -> SyncReport:
    """Reconcile the registry at `tracking_uri` with `state` (RegistryUnavailable on environment errors)."""
    return sync_with(state, connect(tracking_uri), dry_run)
