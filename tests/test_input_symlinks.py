"""Fault tests: inputs that are symbolic links out of the repository, or not files at all.

A spec that was a link to /etc/shadow had its first line printed in an "unknown field"
message (issue 14). Whatever Maestro reads from a repository (specs, config, overlays,
policies) must lie inside it: a link that leads out is refused unread, by name, and nothing
of what it points at reaches the output. Links that stay inside the repository work.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import ROOT
from maestro.cli import main

SECRET = "topsecret-line"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for sub in ("config", "overlays", "schemas", "policies"):
        shutil.copytree(ROOT / sub, tmp_path / "repo" / sub)
    shutil.copytree(ROOT / "specs" / "fraud-detector", tmp_path / "repo" / "specs" / "fraud-detector")
    return tmp_path / "repo"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the repository whose files hold something nobody may see."""
    folder = tmp_path / "outside"
    folder.mkdir()
    for name in ("maestro.yaml", "platform.yaml", "overlay.yaml", "evil.rego"):
        (folder / name).write_text(f"{SECRET}: 1\nroot:*:20228:0:99999:7:::\n")
    return folder


def run(capsys: pytest.CaptureFixture[str], repo: Path, *argv: str) -> tuple[int, str]:
    rc = main(["--root", str(repo), *argv])
    out = capsys.readouterr()
    return rc, out.out + out.err


def diagnostics(capsys: pytest.CaptureFixture[str], repo: Path, *argv: str) -> tuple[int, list[dict]]:
    rc = main(["--root", str(repo), "validate", "--format", "json", *argv])
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err and "root:" not in out.out + out.err
    return rc, json.loads(out.out)["diagnostics"]


def test_a_spec_linked_out_of_the_repository_is_refused_unread(
    repo: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "specs" / "evil").mkdir()
    (repo / "specs" / "evil" / "maestro.yaml").symlink_to(outside / "maestro.yaml")
    rc, diags = diagnostics(capsys, repo)
    assert rc == 1
    assert [(d["code"], d["file"], d["line"]) for d in diags] == [("M011", str(repo / "specs/evil/maestro.yaml"), 0)]
    assert "outside the repository" in diags[0]["message"]


def test_a_spec_folder_linked_out_of_the_repository_is_refused(
    repo: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "specs" / "evil").symlink_to(outside)
    rc, text = run(capsys, repo, "render", "--env", "dev")
    assert rc == 1 and "M011" in text and "specs/evil/maestro.yaml" in text
    assert SECRET not in text and "root:" not in text and str(outside) not in text
    assert not (repo / "rendered").exists()


@pytest.mark.parametrize(
    ("link", "target"),
    [("config/platform.yaml", "platform.yaml"), ("overlays/dev/overlay.yaml", "overlay.yaml")],
)
def test_config_and_overlays_linked_out_are_refused(
    repo: Path, outside: Path, capsys: pytest.CaptureFixture[str], link: str, target: str
) -> None:
    (repo / link).unlink()
    (repo / link).symlink_to(outside / target)
    rc, text = run(capsys, repo, "validate", "--env", "dev")
    assert rc == 2 and "M011" in text, text
    assert link in text and SECRET not in text and "root:" not in text


def test_a_policy_file_or_folder_linked_out_is_refused_unread(
    repo: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "policies" / "k8s" / "evil.rego").symlink_to(outside / "evil.rego")
    rc, text = run(capsys, repo, "validate", "--env", "dev")
    assert rc == 2 and "policies/k8s/evil.rego" in text and "outside the repository" in text
    assert SECRET not in text and "root:" not in text
    (repo / "policies" / "k8s" / "evil.rego").unlink()
    shutil.move(repo / "policies" / "spec", outside / "spec")
    (repo / "policies" / "spec").symlink_to(outside / "spec")
    rc, text = run(capsys, repo, "validate", "--env", "dev")
    assert rc == 2 and "policies/spec" in text and "outside the repository" in text


def test_links_that_stay_inside_the_repository_work(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = repo / "overlays" / "common"
    common.mkdir()
    shutil.move(repo / "overlays" / "dev" / "overlay.yaml", common / "dev.yaml")
    (repo / "overlays" / "dev" / "overlay.yaml").symlink_to("../common/dev.yaml")
    rc, text = run(capsys, repo, "validate", "--env", "dev")
    assert rc == 0, text


def test_a_fifo_in_place_of_a_spec_is_refused_without_waiting(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "specs" / "pipe").mkdir()
    os.mkfifo(repo / "specs" / "pipe" / "maestro.yaml")
    rc, diags = diagnostics(capsys, repo, "--env", "dev")
    assert rc == 1
    assert [(d["code"], d["message"]) for d in diags] == [("M010", "cannot read: not a regular file")]
    # the same again, and a render: their keys hash the spec folders before anything else
    assert diagnostics(capsys, repo, "--env", "dev") == (rc, diags)
    rc, text = run(capsys, repo, "render", "--env", "dev", "--out", str(repo.parent / "out"))
    assert rc == 1 and "M010 cannot read: not a regular file" in text
