"""`maestro codeowners [--check]`: the CODEOWNERS block from metadata.owners and config's owners.

The committed CODEOWNERS is checked here (CI runs the suite), as `schema --check` is in
test_cli; where each pattern reaches is asked of git's own wildmatch (`git check-ignore`):
CODEOWNERS patterns are gitignore patterns on GitHub and GitLab alike.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, require_tool
from maestro.cli import main
from maestro.output.codeowners import BEGIN, END, Rule, block, rules, splice


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for sub in ("config", "specs", "overlays", "policies"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    return tmp_path


def _rules_of(text: str) -> list[str]:
    inside = text[text.index(BEGIN) : text.index(END)]
    return [line for line in inside.splitlines() if line and not line.startswith("#")]


def test_committed_codeowners_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "--root", str(ROOT), "codeowners", "--check")
    assert rc == 0, f"CODEOWNERS is stale: run `maestro codeowners`\n{out}{err}"
    assert out == "CODEOWNERS is current\n" and err == ""


def test_patterns_reach_every_owned_file_through_git_wildmatch(tmp_path: Path) -> None:
    """Every file of specs/, rendered/, config/, overlays/ and policies/ is matched by the
    rule of its owner, and nothing else in the repository is."""
    git = require_tool("git")
    text = (ROOT / "CODEOWNERS").read_text(encoding="utf-8")
    lines = _rules_of(text)
    owners_of = {line.split()[0]: line.split()[1:] for line in lines}
    (tmp_path / ".gitignore").write_text("".join(line.split()[0] + "\n" for line in lines), encoding="utf-8")
    subprocess.run([git, "init", "-q", str(tmp_path)], check=True)
    files = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*") if p.is_file() and ".git" not in p.parts)
    files = [f for f in files if not f.startswith((".venv/", ".mypy_cache/", ".ruff_cache/", ".pytest_cache/"))]
    done = subprocess.run(
        [git, "check-ignore", "--no-index", "-v", "--stdin"],
        input="\n".join(files) + "\n",
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    matched = {}
    for line in done.stdout.splitlines():
        where, path = line.split("\t")
        matched[path] = where.split(":", 2)[2]
    platform = ["@acme/ml-platform"]
    expected_models = {p.name: p for p in (ROOT / "specs").iterdir() if (p / "maestro.yaml").is_file()}
    for path in files:
        top, *rest = path.split("/")
        if top in ("config", "overlays", "policies"):
            assert owners_of[matched[path]] == platform, path
        elif top == "specs":
            assert matched[path] == f"/specs/{rest[0]}/", path
        elif top == "rendered":
            folder = rest[1]
            if folder in ("platform", "argocd"):
                assert owners_of[matched[path]] == platform, path
            else:
                assert folder in expected_models and matched[path] == f"/rendered/*/{folder}/", path
        else:
            assert path not in matched, path
    assert owners_of["/specs/demand-forecaster/"] == ["@acme/supply-chain-ds", "forecasting@example.com"]
    assert owners_of["/rendered/*/fraud-detector/"] == ["@payments-risk/ml"]


def test_write_keeps_the_lines_around_the_block_and_check_shows_drift(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".github").mkdir()
    target = repo / ".github" / "CODEOWNERS"  # GitHub reads it before the root one
    target.write_text("* @acme/admins\n", encoding="utf-8")
    rc, out, _ = run(capsys, "--root", str(repo), "codeowners", "--check")
    assert rc == 1 and "+/specs/fraud-detector/ @payments-risk/ml" in out
    assert target.read_text(encoding="utf-8") == "* @acme/admins\n"  # --check writes nothing

    assert run(capsys, "--root", str(repo), "codeowners") == (0, "wrote .github/CODEOWNERS\n", "")
    written = target.read_text(encoding="utf-8")
    assert written.startswith("* @acme/admins\n\n" + BEGIN + "\n") and written.endswith(END + "\n")
    assert not (repo / "CODEOWNERS").exists()
    target.write_text(written + "/specs/fraud-detector/maestro.lock.yaml @acme/release\n", encoding="utf-8")
    assert run(capsys, "--root", str(repo), "codeowners", "--check")[0] == 0

    spec = repo / "specs" / "fraud-detector" / "maestro.yaml"
    spec.write_text(spec.read_text().replace('owners: ["@payments-risk/ml"]', 'owners: ["@payments-risk/mlops"]'))
    rc, out, err = run(capsys, "--root", str(repo), "codeowners", "--check")
    assert rc == 1 and "out of date" in err
    assert (
        "\n-/specs/fraud-detector/ @payments-risk/ml\n" in out
        and "\n+/specs/fraud-detector/ @payments-risk/mlops\n" in out
    )
    assert run(capsys, "--root", str(repo), "codeowners")[0] == 0
    again = target.read_text(encoding="utf-8")
    assert "/rendered/*/fraud-detector/ @payments-risk/mlops\n" in again
    assert again.startswith("* @acme/admins\n") and again.endswith("/maestro.lock.yaml @acme/release\n")
    assert run(capsys, "--root", str(repo), "codeowners") == (0, ".github/CODEOWNERS is current\n", "")


def test_new_file_is_the_root_one_and_bytes_are_stable(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--root", str(repo), "codeowners")[:2] == (0, "wrote CODEOWNERS\n")
    assert (repo / "CODEOWNERS").read_bytes() == (ROOT / "CODEOWNERS").read_bytes()


def test_broken_markers_are_positioned_and_nothing_is_written(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = repo / "CODEOWNERS"
    broken = f"* @acme/admins\n{BEGIN}\n/specs/x/ @a\n"
    target.write_text(broken, encoding="utf-8")
    rc, out, _ = run(capsys, "--root", str(repo), "codeowners")
    assert rc == 1
    assert "CODEOWNERS:2:1: M820 the Maestro block needs" in out and "found 1 and 0" in out
    assert target.read_text(encoding="utf-8") == broken


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f"{END}\n", 1),
        (f"{BEGIN}\n", 1),
        (f"{BEGIN}\n{BEGIN}\n{END}\n", 2),
        (f"{BEGIN}\n{END}\n{BEGIN}\n", 3),
        (f"{END}\n{BEGIN}\n", 1),
        (f"{BEGIN}\n{END}\n{END}\n", 3),
        (f"{BEGIN}\n{BEGIN}\n", 2),
    ],
)
def test_splice_refuses_untrustworthy_markers(text: str, line: int) -> None:
    out, diags = splice(text, block([]), "CODEOWNERS")
    assert out is None and [(d.code, d.line) for d in diags] == [("M820", line)]


def test_splice_replaces_in_place_and_appends_once() -> None:
    new = block([Rule("/specs/a/", ("@x",))])
    assert splice(None, new, "C") == (new, [])
    first, _ = splice("* @o", new, "C")
    assert first == "* @o\n\n" + new
    assert splice(first, new, "C") == (first, [])
    replaced, _ = splice(first, block([Rule("/specs/a/", ("@y",))]), "C")
    assert replaced is not None and replaced.count(BEGIN) == 1 and "/specs/a/ @y\n" in replaced


def test_rules_deduplicate_owners_and_skip_platform_without_owners() -> None:
    got = rules({"b": ("b", ["@t/b", "@t/b", "b@example.com"]), "a": ("a", ["@t/a"])}, [])
    assert [r.line() for r in got] == [
        "/specs/a/ @t/a",
        "/rendered/*/a/ @t/a",
        "/specs/b/ @t/b b@example.com",
        "/rendered/*/b/ @t/b b@example.com",
    ]


def test_platform_without_owners_is_a_warning(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = repo / "config" / "platform.yaml"
    config.write_text(config.read_text().replace('owners: ["@acme/ml-platform"]\n', ""), encoding="utf-8")
    rc, out, _ = run(capsys, "--root", str(repo), "codeowners")
    assert rc == 0 and "config/platform.yaml: M821 warning: config sets no `owners`" in out
    assert "/config/" not in (repo / "CODEOWNERS").read_text(encoding="utf-8")


def test_spec_without_valid_metadata_writes_nothing(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = repo / "specs" / "fraud-detector" / "maestro.yaml"
    spec.write_text(spec.read_text().replace('owners: ["@payments-risk/ml"]', 'owners: ["payments risk"]'))
    rc, out, err = run(capsys, "--root", str(repo), "codeowners")
    assert rc == 1 and "specs/fraud-detector/maestro.yaml:8:" in out and "M104" in out
    assert "CODEOWNERS not written" in err and not (repo / "CODEOWNERS").exists()


def test_unknown_owner_format_in_config_is_positioned(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = repo / "config" / "platform.yaml"
    config.write_text(config.read_text().replace('["@acme/ml-platform"]', '["ml platform"]'), encoding="utf-8")
    rc, out, _ = run(capsys, "--root", str(repo), "codeowners")
    assert rc == 2 and "config/platform.yaml:" in out and "owners" in out
