"""Validate spec files: load -> schema -> semantics, per environment.

Composes the stages; each stage returns diagnostics as values. A spec is checked as
written, then once per environment with `spec.environments.<env>` merged on top, so that
an override that breaks a rule is reported at the override's line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maestro.diagnostics import Diagnostic, error, warning
from maestro.frontend.loader import Located, load
from maestro.frontend.pydantic_errors import validate_model
from maestro.frontend.semantics import Finding, check_literals, check_spec
from maestro.frontend.spec import Spec
from maestro.resolve.effective import effective

SPECS_DIR = "specs"
SPEC_FILE = "maestro.yaml"


@dataclass
class Checked:
    """One spec file after validation."""

    path: Path
    located: Located | None
    spec: Spec | None  # as written (None if invalid)
    effective: dict[str, Spec] = field(default_factory=dict)  # env -> resolved spec
    effective_located: dict[str, Located] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass(frozen=True)
class Inputs:
    """What every spec is resolved against."""

    environments: list[str]
    platforms: dict[str, Located] = field(default_factory=dict)  # env -> platform config document
    overlays: dict[str, Located] = field(default_factory=dict)  # env -> valid overlay document
    settings: dict[str, Any] = field(default_factory=dict)  # env -> Platform (checks that need the config)


def to_diagnostics(findings: Iterable[Finding], located: Located, env: str | None = None) -> list[Diagnostic]:
    out = []
    for f in findings:
        make = error if f.severity == "error" else warning
        message = f.message if env is None else f"{f.message} (environment {env})"
        hint = f.hint
        if f.related is not None:
            first = located.pos(f.related)
            hint = f"first declared at line {first.line}" + (f"; {hint}" if hint else "")
        out.append(make(f.code, message, hint=hint, **located.where(f.pointer, key=f.key)))
    return out


def discover(root: Path) -> list[Path]:
    """Every specs/*/maestro.yaml, sorted (determinism does not depend on the file system)."""
    return sorted((root / SPECS_DIR).glob(f"*/{SPEC_FILE}"))


def check_located(located: Located, inputs: Inputs, selected: list[str] | None = None) -> Checked:
    """Schema and semantic checks of one loaded spec, as written and per environment."""
    checked = Checked(path=Path(located.file), located=located, spec=None)
    diags = to_diagnostics(check_literals(located.data), located)
    spec, more = validate_model(Spec, located)
    diags += more
    if spec is not None:
        diags += to_diagnostics(check_spec(spec, inputs.environments), located)
    checked.spec = spec
    if spec is None:
        checked.diagnostics = diags
        return checked
    # Problems of the spec as written are reported once, not again for every environment.
    reported = {(d.file, d.line, d.col, d.code) for d in diags}
    for env in selected if selected is not None else inputs.environments:
        eff_loc = effective(located, env, platform=inputs.platforms.get(env), overlay=inputs.overlays.get(env))
        eff, env_diags = validate_model(Spec, eff_loc)
        env_diags = [_in_env(d, env) for d in env_diags]
        if eff is not None:
            env_diags += to_diagnostics(check_spec(eff, inputs.environments), eff_loc, env)
            if env in inputs.settings:
                from maestro.render import features, secrets, tuning

                platform = inputs.settings[env]
                env_diags += to_diagnostics(tuning.check(eff, platform), eff_loc, env)
                env_diags += to_diagnostics(features.check(eff, platform, env), eff_loc, env)
                env_diags += to_diagnostics(
                    secrets.check(eff, platform.environments[env].endpoints.vault), eff_loc, env
                )
            checked.effective[env] = eff
            checked.effective_located[env] = eff_loc
        diags += [d for d in env_diags if (d.file, d.line, d.col, d.code) not in reported]
    checked.diagnostics = diags
    return checked


def _in_env(d: Diagnostic, env: str) -> Diagnostic:
    from dataclasses import replace

    return replace(d, message=f"{d.message} (environment {env})")


def check_file(
    path: Path, display: str, inputs: Inputs, selected: list[str] | None = None, root: Path | None = None
) -> Checked:
    located, diags = load(path, display)
    if located is None:
        return Checked(path=path, located=None, spec=None, diagnostics=diags)
    checked = check_located(located, inputs, selected)
    checked.path = path
    if checked.spec is not None and root is not None:
        checked.diagnostics += _placement(checked.spec, path, root, located)
    return checked


def _placement(spec: Spec, path: Path, root: Path, located: Located) -> list[Diagnostic]:
    """A spec under specs/ lives in the folder named after the model (rendered/<env>/<name>)."""
    try:
        rel = path.resolve().relative_to((root / SPECS_DIR).resolve())
    except ValueError:
        return []
    if len(rel.parts) == 2 and rel.parts[0] != spec.metadata.name:
        return [
            error(
                "M217",
                f"spec is in folder '{rel.parts[0]}' but metadata.name is '{spec.metadata.name}'",
                hint=f"move it to specs/{spec.metadata.name}/{SPEC_FILE} or rename the model",
                **located.where("/metadata/name"),
            )
        ]
    return []


def duplicate_models(checked: list[Checked]) -> list[Diagnostic]:
    seen: dict[str, Checked] = {}
    out = []
    for c in checked:
        if c.spec is None or c.located is None:
            continue
        name = c.spec.metadata.name
        if name in seen:
            out.append(
                error(
                    "M214",
                    f"model '{name}' is also defined in {seen[name].located.file}",  # type: ignore[union-attr]
                    hint="model names are unique across specs/",
                    **c.located.where("/metadata/name"),
                )
            )
        else:
            seen[name] = c
    return out
