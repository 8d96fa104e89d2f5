"""Governance end to end: policies enforced by `validate` and `render`, at the spec line
(or overlay line) that set the value; waivers; failing closed."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import ROOT
from maestro.cli import main

SPEC = Path("specs/fraud-detector/maestro.yaml")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for sub in ("config", "specs", "overlays", "policies", "schemas"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAESTRO_TODAY", "2026-12-01")
    return tmp_path


def edit(repo: Path, old: str, new: str, path: Path = SPEC) -> int:
    """Replace `old` (once) and return the 1-based line where `new` starts."""
    text = (repo / path).read_text()
    assert old in text, old
    (repo / path).write_text(text.replace(old, new, 1))
    return text[: text.index(old)].count("\n") + 1 + new[: len(new) - len(new.lstrip("\n"))].count("\n")


def validate(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    rc = main(["validate", "--env", "prod", *extra])
    out = capsys.readouterr()
    return rc, out.out + out.err


def finding(out: str, code: str) -> tuple[str, int]:
    m = re.search(rf"^(\S+):(\d+):\d+: {code} (.*)$", out, re.M)
    assert m, f"{code} not in:\n{out}"
    return m.group(1), int(m.group(2))


CASES = [
    # (code, old, new, line-of-new offset is where the finding must be)
    ("MPS001", "  costCenter: cc-4411\n", ""),
    ("MPS004", "      strategy: canary\n      steps: [10, 25, 50, 100]\n", "      strategy: rolling\n"),
    ("MPS005", '      - {metric: val_auc, op: ">=", value: 0.92}', '      - {metric: val_auc, op: ">=", value: 0.80}'),
    ("MPS007", "    trials: 60\n", "    trials: 3000\n"),
    ("MPS009", "    replicas: {min: 2, max: 12}", "    replicas: {min: 2, max: 50}"),
    ("MPS012", '    drift: {method: psi, threshold: 0.2, schedule: "0 * * * *", features: [amount_avg_7d]}\n', ""),
    ("MPS013", "    slo: {availability: 99.9, latencyP99Ms: 60, window: 30d}\n", ""),
    ("MPS014", "fraud-train:1.4.2", "fraud-train:latest"),
    ("MPS015", "registry.example.com/payments/fraud-train", "docker.io/someone/fraud-train"),
]


@pytest.mark.parametrize("code,old,new", CASES, ids=[c[0] for c in CASES])
def test_each_spec_rule_fails_prod_at_the_spec_line(
    repo: Path, capsys: pytest.CaptureFixture[str], code: str, old: str, new: str
) -> None:
    rc, out = validate(capsys)
    assert rc == 0, out
    line = edit(repo, old, new)
    rc, out = validate(capsys)
    assert rc == 1
    file, at = finding(out, code)
    assert file == str(SPEC)
    if new:
        assert at == line, out  # the value the user wrote
    else:
        assert at < line, out  # removed: reported at its parent section


def test_environment_override_is_where_the_finding_points(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = edit(repo, "    prod: {serving: {replicas: {min: 3}}}", "    prod: {serving: {replicas: {min: 1}}}")
    rc, out = validate(capsys)
    assert rc == 1
    assert finding(out, "MPS002") == (str(SPEC), line)


def test_overlay_setting_is_where_the_finding_points(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    overlay = Path("overlays/prod/overlay.yaml")
    line = (
        edit(
            repo,
            "enforce:\n  monitoring: {dashboard: true}\n",
            "enforce:\n  monitoring: {dashboard: true}\n  serving: {replicas: {max: 99}}\n",
            overlay,
        )
        + 2
    )
    rc, out = validate(capsys)
    assert rc == 1
    assert finding(out, "MPS009") == (str(overlay), line)


def test_manual_sync_for_critical_tiers(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(repo, "  manualForTiers: [critical]\n", "", Path("overlays/prod/overlay.yaml"))
    rc, out = validate(capsys)
    assert rc == 1
    file, line = finding(out, "MPS006")
    assert (file, line) == (str(SPEC), 9)  # metadata.tier: the only spec input it depends on


def test_warnings_pass_unless_strict(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(repo, "    budget: {gpuHours: 0, cpuHours: 400}", "    budget: {gpuHours: 0, cpuHours: 10}")
    rc, out = validate(capsys)
    assert rc == 0 and "MPS008 warning:" in out
    rc, out = validate(capsys, "--strict")
    assert rc == 1


def test_valid_waiver_downgrades_and_stays_visible(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(repo, "fraud-train:1.4.2", "fraud-train:latest")
    edit(
        repo,
        "  description: Card-not-present fraud scoring\n",
        "  description: Card-not-present fraud scoring\n  waivers:\n"
        "    - {rule: MPS014, reason: vendor image is only published as latest, until: 2026-12-20, ticket: PLAT-77}\n",
    )
    rc, out = validate(capsys)
    assert rc == 0, out
    assert "MPS014 info: waived until 2026-12-20:" in out
    assert "hint: waiver: vendor image is only published as latest (PLAT-77)" in out
    rc = main(["validate", "--env", "prod", "--format", "sarif"])
    sarif = capsys.readouterr().out
    assert '"level": "note"' in sarif and "waived until 2026-12-20" in sarif


@pytest.mark.parametrize("until,code", [("2026-11-30", "M406"), ("2027-06-01", "M407")])
def test_expired_or_too_long_waivers_are_errors(
    repo: Path, capsys: pytest.CaptureFixture[str], until: str, code: str
) -> None:
    edit(repo, "fraud-train:1.4.2", "fraud-train:latest")
    line = (
        edit(
            repo,
            "  description: Card-not-present fraud scoring\n",
            "  description: Card-not-present fraud scoring\n  waivers:\n"
            f"    - {{rule: MPS014, reason: vendor image is only published as latest, until: {until}}}\n",
        )
        + 2
    )
    rc, out = validate(capsys)
    assert rc == 1
    assert finding(out, code) == (str(SPEC), line)
    assert "MPS014" in out  # the unwaived finding is still reported


def test_broken_policy_fails_closed(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "policies/spec/broken.rego").write_text("package maestro.spec\n\ndeny contains msg if {\n  msg := x\n}\n")
    rc, out = validate(capsys)
    assert rc == 2
    assert re.search(r"policies/spec/broken\.rego:\d+:\d+: M403", out), out


def test_missing_policy_dir_named_on_the_command_line(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = validate(capsys, "--policy", "nope")
    assert rc == 2 and "--policy nope" in out


def test_resource_rule_fails_render_naming_object_and_field(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(
        repo,
        "patches:\n",
        "patches:\n"
        "  - target: {kind: CronJob, name: fraud-detector-drift}\n"
        "    patch: |-\n"
        "      - {op: add, path: /spec/jobTemplate/spec/template/spec/hostNetwork, value: true}\n",
        Path("overlays/prod/overlay.yaml"),
    )
    rc = main(["render", "--check"])
    out = capsys.readouterr()
    assert rc == 1
    assert "rendered/prod/fraud-detector/cronjob-fraud-detector-drift.yaml" in out.out
    assert "MPK008" in out.out and "hostNetwork" in out.out


def test_policy_test_and_check_commands(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "test"]) == 0
    assert re.search(r"^\d+ passed, 0 failed$", capsys.readouterr().out, re.M)
    rendered = sorted(str(p) for p in (ROOT / "rendered/prod/fraud-detector").glob("*.yaml"))
    assert main(["policy", "check", *rendered]) == 1
    assert "MPK000" in capsys.readouterr().out  # fails closed without the platform config
    assert main(["policy", "check", *rendered, "--env", "prod", "--team", "payments-risk"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\d+ document\(s\) in \d+ file\(s\): 0 failure\(s\)", out, re.M), out
    bad = repo / "bad.yaml"
    bad.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostNetwork: true\n"
        "  containers: [{name: c, image: docker.io/x:latest}]\n---\n"
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: dg==}\n"
    )
    assert main(["policy", "check", str(bad), "--env", "prod"]) == 1
    out = capsys.readouterr().out
    for code in ("MPK001", "MPK002", "MPK008", "MPK009"):
        assert code in out


SLOW_SPEC_RULE = """package maestro.spec

import rego.v1

deny contains "slow" if {
	some i in numbers.range(1, 40000)
	some j in numbers.range(1, 40000)
	i + j == 0
}
"""


def spawned(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pids of the policy workers this process starts from now on."""
    from maestro.policy.sandbox import IsolatedPolicySet

    pids: list[int] = []
    original = IsolatedPolicySet._spawn

    def spawn(self: IsolatedPolicySet) -> None:
        original(self)
        pids.append(self._pid)

    monkeypatch.setattr(IsolatedPolicySet, "_spawn", spawn)
    return pids


def test_validate_takes_the_policy_workers_it_started_before_reading_config(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pids = spawned(monkeypatch)
    rc, out = validate(capsys)
    assert rc == 0, out
    assert len(pids) == 2  # spec and k8s, started before config was read, and used
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)


def test_validate_bounds_the_policies_by_config_though_they_started_before_it_was_read(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The workers start with the engine's default bounds before config is read: config's
    own bounds start them again, and the early ones end. (A rule without input is evaluated
    while loading: loading is bounded too.)"""
    (repo / "policies/spec/zz_slow.rego").write_text(SLOW_SPEC_RULE)
    config = repo / "config/platform.yaml"
    config.write_text(config.read_text() + "\npolicies:\n  timeout_seconds: 0.5\n")
    pids = spawned(monkeypatch)
    rc, out = validate(capsys)
    assert rc == 2 and "M408" in out and "CPU time limit of 0.5 s while loading the policies" in out, out
    assert len(pids) == 4
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)


def test_validate_ends_the_early_policy_workers_when_config_is_broken(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ended before the error is reported, not when the failed call's frames are collected."""
    import maestro.cli

    config = repo / "config/platform.yaml"
    config.write_text(config.read_text() + "\nno_such_setting: 1\n")
    pids = spawned(monkeypatch)
    alive: list[int] = []
    original = maestro.cli.exit_code_for

    def reporting(exc: BaseException) -> int:
        alive.extend(pid for pid in pids if os.path.exists(f"/proc/{pid}"))
        return original(exc)

    monkeypatch.setattr(maestro.cli, "exit_code_for", reporting)
    rc, out = validate(capsys)
    assert rc == 2 and "no_such_setting" in out, out
    assert len(pids) == 2 and alive == []
