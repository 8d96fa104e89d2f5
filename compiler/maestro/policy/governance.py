"""Governance: the platform's Rego policies applied to specs and rendered objects, and waivers.

Two scopes, one engine (`policy.py`):
- `policies/spec` (package `maestro.spec`): one evaluation per model and environment;
  input = the resolved spec plus `{env, model, team, tier, argocd, estimates}`.
- `policies/k8s` (package `main`): one evaluation per rendered object, exactly what
  `conftest test rendered/<env>/<model>/*.yaml -p policies/k8s` feeds it.
Both see `data.maestro.config`: the environment's governance thresholds, the team's budget
and limits, allowed registries and cost rates, so thresholds live in config, not in Rego.

A finding's `path` is a JSON pointer into the spec (or object); it is reported at the line
that set the value, in the spec or in the overlay that enforced it.

Waivers (`metadata.waivers`) turn a finding of the named rule into an `info` diagnostic
marked waived; an expired waiver, or one longer than the platform allows, is an error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from maestro.costs import tuning_estimate
from maestro.diagnostics import CODES, Diagnostic, Severity, error
from maestro.frontend.loader import Located
from maestro.frontend.spec import Spec
from maestro.keys import today
from maestro.layout import POLICIES_DIR, policy_folders, shown
from maestro.mlflow.lockfile import EnvLock
from maestro.policy.policyset import InputDocument, finding_to_diagnostic, policy_error_diagnostic
from maestro.policy.rego import PolicyError
from maestro.policy.sandbox import IsolatedPolicySet, Limits, Starting
from maestro.resolve.config import Platform, Policies

CODES.update(
    {
        "M406": "waiver expired",
        "M407": "waiver longer than the platform allows",
    }
)

# Rules that guard the governance itself (config present, waivers valid) or secrets: a
# waiver never silences them (policies/README.md lists them as not waivable).
NOT_WAIVABLE = frozenset({"MPS000", "MPS016", "MPK000", "MPK009", "MPK010"})
SPEC_NAMESPACE = "maestro.spec"
K8S_NAMESPACE = "main"
BOUNDED = ("limit", "crash")  # sandbox errors: their message already names the input


def config_data(platform: Platform, env: str, team: str) -> dict[str, Any]:
    """`data.maestro.config` for one environment and team."""
    return {
        "maestro": {
            "config": {
                "env": env,
                "governance": platform.environments[env].governance.model_dump(mode="json"),
                "team": platform.team(team).model_dump(mode="json"),
                "registries": list(platform.registries),
                "costs": platform.costs.model_dump(mode="json"),
            }
        }
    }


def spec_input(spec: Spec, env: str, platform: Platform, sync: str, lock: EnvLock | None = None) -> dict[str, Any]:
    """`input` of the spec-scope policies; `lock` is the environment's entry of maestro.lock.yaml."""
    estimate = tuning_estimate(spec, platform)
    doc = spec.model_dump(mode="json", by_alias=True)
    doc["spec"].pop("environments", None)
    return {
        "env": env,
        "model": spec.metadata.name,
        "team": spec.metadata.team,
        "tier": spec.metadata.tier,
        "spec": doc,
        "argocd": {"sync": sync},
        "estimates": {
            "tuning": None
            if estimate is None
            else {
                "trials": estimate.trials,
                "trialHours": estimate.trial_hours,
                "cpuHours": estimate.cpu_hours,
                "gpuHours": estimate.gpu_hours,
                "cost": estimate.cost,
                "currency": platform.costs.currency,
            }
        },
        "lock": None if lock is None else lock.model_dump(mode="json", by_alias=True),
    }


@dataclass
class Governance:
    spec_policies: IsolatedPolicySet | None
    k8s_policies: IsolatedPolicySet | None

    @classmethod
    def load(
        cls, root: Path, policy_dir: Path | None = None, settings: Policies | None = None
    ) -> tuple[Governance, list[Diagnostic]]:
        """The repository's policies, each set in a bounded worker (`policy/sandbox.py`).

        Fails closed: a broken policy is an error, never a pass, and so is a missing
        policies/spec or policies/k8s unless config says the repository runs without
        governance (`policies.required: false`)."""
        return cls.start(root, policy_dir, settings)()

    @classmethod
    def start(
        cls,
        root: Path,
        policy_dir: Path | None = None,
        settings: Policies | None = None,
        started: Starting | None = None,
    ) -> Callable[[], tuple[Governance, list[Diagnostic]]]:
        """`load` in two halves: the workers start loading now, and the returned function
        waits for them. The caller does its own work in between (a cold `validate` imports
        and parses while the policies parse). `started`: workers the caller started before
        config was read (`commands.common.start_policies`), taken when they are the ones these
        settings start, else ended."""
        settings = settings or Policies()
        limits = Limits(timeout_seconds=settings.timeout_seconds, memory_mb=settings.memory_mb)
        base = policy_dir or root / POLICIES_DIR
        every = policy_folders(root, policy_dir)
        missing = [scope for scope, folder, _ in every if not folder.is_dir()]
        folders = [(folder, name) for scope, folder, name in every if scope not in missing]
        within = None if policy_dir else root
        if started is not None and not started.made_as(folders, limits, within):
            started.close()
            started = None
        if missing and settings.required:
            named = shown(root, base) if base.is_dir() else shown(root, base) + "/"
            what = (
                f"{named} does not exist" if not base.is_dir() else f"{named} has no {' and no '.join(missing)}/ folder"
            )
            diags = [
                error(
                    "M404",
                    f"{what}: the platform's governance policies (spec/ for specs, k8s/ for rendered objects) must "
                    "be there, or nothing would be checked",
                    file=shown(root, base),
                    hint="restore them, or set policies.required: false in config/platform.yaml if this repository "
                    "runs without governance",
                )
            ]
            return lambda: (cls(None, None), diags)
        scopes = [scope for scope, _, _ in every if scope not in missing]
        finish = started or IsolatedPolicySet.start_all(folders, limits, within)

        def done() -> tuple[Governance, list[Diagnostic]]:
            sets: dict[str, IsolatedPolicySet | None] = {"spec": None, "k8s": None}
            diags: list[Diagnostic] = []
            for scope, got in zip(scopes, finish(), strict=True):
                if isinstance(got, PolicyError):
                    diags.append(policy_error_diagnostic(got))
                else:
                    sets[scope] = got
            return cls(sets["spec"], sets["k8s"]), diags

        return done

    def close(self) -> None:
        """End the policy workers (they also end with this process)."""
        for policies in (self.spec_policies, self.k8s_policies):
            if policies is not None:
                policies.close()

    @property
    def failed(self) -> bool:
        """Whether a policy set failed in this process (its later checks are skipped)."""
        return any(p is not None and p.failed for p in (self.spec_policies, self.k8s_policies))

    def check_spec(
        self, spec: Spec, env: str, platform: Platform, sync: str, located: Located, lock: EnvLock | None = None
    ) -> list[Diagnostic]:
        if self.spec_policies is None:
            return []
        doc = InputDocument(located.file, 0, 1, 1, None, located)
        try:
            findings = self.spec_policies.check(
                spec_input(spec, env, platform, sync, lock),
                SPEC_NAMESPACE,
                data=config_data(platform, env, spec.metadata.team),
                about=f"model {spec.metadata.name} in {env}",
            )
        except PolicyError as exc:
            if exc.kind == "skipped":  # the set failed on an earlier input: reported once, there
                return []
            context = "" if exc.kind in BOUNDED else f"model {spec.metadata.name}, environment {env}"
            return [policy_error_diagnostic(exc, context)]
        out = []
        for f in findings:
            d = finding_to_diagnostic(f, doc)
            if d is not None:
                out.append(replace(d, env=env))
        return out

    def check_object(self, obj: dict[str, Any], env: str, team: str, platform: Platform, file: str) -> list[Diagnostic]:
        if self.k8s_policies is None:
            return []
        doc = InputDocument(file, 0, 0, 0, obj, None)
        what = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        try:
            findings = self.k8s_policies.check(
                obj, K8S_NAMESPACE, data=config_data(platform, env, team), about=f"{file} ({what})"
            )
        except PolicyError as exc:
            if exc.kind == "skipped":  # the set failed on an earlier object: reported once, there
                return []
            return [policy_error_diagnostic(exc, "" if exc.kind in BOUNDED else what)]
        out = []
        for f in findings:
            d = finding_to_diagnostic(f, doc)
            if d is not None:
                out.append(replace(d, pointer=f.path if isinstance(f.path, str) else d.pointer))
        return out


def waiver_days(platform: Platform, envs: list[str]) -> int:
    """The longest a waiver may run in a render of `envs`: the strictest environment's limit."""
    return min(platform.environments[e].governance.max_waiver_days for e in envs) if envs else 90


def apply_waivers(
    diags: list[Diagnostic], spec: Spec, located: Located, platform: Platform, envs: list[str]
) -> list[Diagnostic]:
    """Waived findings become `info`, marked waived; invalid waivers become errors."""
    on = today()
    problems: list[Diagnostic] = []
    active: dict[str, Any] = {}
    longest = waiver_days(platform, envs)
    for i, w in enumerate(spec.metadata.waivers):
        where = located.where(f"/metadata/waivers/{i}/until")
        try:
            until = dt.date.fromisoformat(w.until)
        except ValueError:
            problems.append(error("M104", f"waiver for {w.rule}: '{w.until}' is not a date (YYYY-MM-DD)", **where))
            continue
        if until < on:
            problems.append(
                error(
                    "M406",
                    f"waiver for {w.rule} expired on {w.until}",
                    hint="renew it with a new date and reason, or fix the finding",
                    **where,
                )
            )
            continue
        if (until - on).days > longest:
            problems.append(
                error(
                    "M407",
                    f"waiver for {w.rule} runs {(until - on).days} days; the platform allows at most {longest}",
                    hint=f"set until to {on + dt.timedelta(days=longest)} or earlier",
                    **where,
                )
            )
            continue
        active[w.rule] = w
    out = []
    used: set[str] = set()
    for d in diags:
        waiver = active.get(d.code) if d.code not in NOT_WAIVABLE else None
        if waiver is not None and d.severity is not Severity.INFO:
            used.add(d.code)
            out.append(
                replace(
                    d,
                    severity=Severity.INFO,
                    message=f"waived until {waiver.until}: {d.message}",
                    hint=f"waiver: {waiver.reason}" + (f" ({waiver.ticket})" if waiver.ticket else ""),
                    extra=d.extra + (("waived", "true"), ("waiver_until", waiver.until)),
                )
            )
        else:
            out.append(d)
    return out + problems
