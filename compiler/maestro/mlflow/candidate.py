"""The pipeline's `evaluate` and `promote` steps (render/airflow.py): the gates on the version
a training run registered, and moving the environment's serve alias to it.

The training code sets an alias, the candidate (`spec.pipeline.candidate`, passed to it as
MAESTRO_CANDIDATE_ALIAS), on the version it registered. `evaluate` is `check` with that
alias in place of what serving resolves; `promote` runs the same check and, only when every
gate holds, points the state's serve alias at the candidate's version in this environment's
registry. A model whose serving pins a version (`registry.serve: 7`) is never promoted by a
pipeline, and serving pinned by a lock (`maestro registry lock`) changes only through a
reviewed change of the lock: the pipeline moves an alias, it opens nothing by itself.
"""

from __future__ import annotations

import copy
from typing import Any

from maestro.diagnostics import CODES, Diagnostic, error
from maestro.mlflow.check import check_with
from maestro.mlflow.client import aliases_of, get_registered_model, mlflow_calls

CODES.update({"M820": "pipeline cannot promote a pinned version"})


def candidate_state(state: dict[str, Any], alias: str) -> dict[str, Any]:
    """The state with `alias` as what serving resolves and no A/B variants: `check` then
    evaluates the gates on the candidate."""
    out = copy.deepcopy(state)
    out["serve"] = {"alias": alias}
    out["variants"] = []
    return out


def promote_with(state: dict[str, Any], alias: str, client: Any) -> tuple[list[Diagnostic], str | None]:
    """(findings, what changed): the serve alias moved to the candidate's version when every
    gate holds on it; nothing changed otherwise."""
    name = state["registeredModel"]["name"]
    serve = state["serve"]
    if "alias" not in serve:
        return [
            error(
                "M820",
                f"{name}: serving pins version {serve['version']}, so no pipeline promotes a candidate",
                hint="serve an alias (registry.serve: champion) to let the pipeline promote",
                extra=(("model", name),),
            )
        ], None
    found = check_with(candidate_state(state, alias), client)
    if any(d.is_error for d in found):
        return found, None
    with mlflow_calls(client):
        rm = get_registered_model(client, name)
        aliases = aliases_of(rm) if rm is not None else {}
        version = aliases[alias]
        before = aliases.get(serve["alias"])
        if before == version:
            return found, None
        client.set_registered_model_alias(name, serve["alias"], version)
    was = f" (was version {before})" if before is not None else ""
    return found, f"{name}: alias {serve['alias']} -> version {version}{was}, from candidate alias {alias}"
