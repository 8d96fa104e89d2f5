"""Fault tests: the machine, not the input. A full disk, a read-only file system, an output
folder that is a mount point or a symbolic link.

These exited 2 as "internal error ... this is a bug" (issue 14). A problem of the machine is
exit 2 with a plain message saying what to do; the previous tree stays as it was and no
staging folder is left behind. The file systems are real: a small tmpfs mounted for the test
(we run as root in CI; where mounting is not allowed the test skips and says why).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import ROOT
from maestro.cli import main
from maestro.output.emit import read_tree

MODEL = "churn-predictor"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for sub in ("config", "overlays", "schemas", "policies"):
        shutil.copytree(ROOT / sub, tmp_path / "repo" / sub)
    shutil.copytree(ROOT / "specs" / MODEL, tmp_path / "repo" / "specs" / MODEL)
    return tmp_path / "repo"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


@contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def edit(repo: Path) -> None:
    spec = repo / "specs" / MODEL / "maestro.yaml"
    spec.write_text(spec.read_text().replace("description: 30-day", "description: Thirty-day"))


def assert_plain_environment_error(rc: int, err: str, *words: str) -> None:
    assert rc == 2, err
    assert "internal error" not in err and "bug" not in err and "Traceback" not in err
    for word in words:
        assert word in err, err


def test_a_full_disk_is_an_environment_error_and_the_old_tree_stays(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    probe = tmp_path / "probe"
    assert run(capsys, "--root", str(repo), "render", "--env", "dev", "--out", str(probe))[0] == 0
    size = sum(max(p.stat().st_size, 4096) for p in probe.rglob("*") if p.is_file())
    # Room for one tree and a half: the first render fits, the second cannot stage a new one.
    with tmpfs(tmp_path / "disk", f"{size * 3 // 2 // 1024}k") as disk:
        out = disk / "rendered"
        assert run(capsys, "--root", str(repo), "render", "--env", "dev", "--out", str(out))[0] == 0
        before = read_tree(out, [""])
        edit(repo)
        # The second render writes only the files the edit changes (it hard-links the rest of the
        # old tree into its staging folder): fill the disk so that not even those fit.
        filler = disk / "filler"
        with open(filler, "wb") as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        rc, _, err = run(capsys, "--root", str(repo), "render", "--env", "dev", "--out", str(out))
        assert_plain_environment_error(rc, err, "No space left on device (ENOSPC)", "free some space", "nothing was")
        assert read_tree(out, [""]) == before
        filler.unlink()
        assert sorted(p.name for p in disk.iterdir()) == [".rendered.lock", "rendered"]  # no staging left


def test_a_disk_with_no_room_for_the_spare_tree_still_renders(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The spare tree (emit._Spare: a hard-link copy of the first tree, its folders new inodes)
    is only a saving: on a disk with inodes for the tree and not its copy, the render writes
    the tree, exits 0 and leaves no partial spare behind."""
    probe = tmp_path / "probe"
    assert run(capsys, "--root", str(repo), "render", "--out", str(probe))[0] == 0
    inodes = 1 + sum(1 for _ in probe.rglob("*"))  # the folders and files, and the output folder
    # and the mount's own folder, the lock file, two to spare: not the copy's folders
    with tmpfs(tmp_path / "disk", f"8m,nr_inodes={inodes + 4}") as disk:
        out = disk / "rendered"
        rc, _, err = run(capsys, "--root", str(repo), "render", "--out", str(out))
        assert rc == 0, err
        assert read_tree(out, [""]) == read_tree(probe, [""])
        assert sorted(p.name for p in disk.iterdir()) == [".rendered.lock", "rendered"]


def test_a_read_only_file_system_is_an_environment_error(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with tmpfs(tmp_path / "ro", "8m") as mount:
        (mount / "out").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        rc, _, err = run(capsys, "--root", str(repo), "render", "--env", "dev", "--out", str(mount / "out"))
        assert_plain_environment_error(rc, err, "Read-only file system (EROFS)", "--out DIR")
        # --check only reads: it needs no lock file where none can be written
        rc, out, _ = run(capsys, "--root", str(repo), "render", "--env", "dev", "--out", str(mount / "out"), "--check")
        assert rc == 1 and "added:" in out


def test_an_output_folder_that_is_a_mount_point_is_an_environment_error(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with tmpfs(tmp_path / "mnt", "8m") as mount:
        (mount / "keep.txt").write_text("not ours")
        rc, _, err = run(capsys, "--root", str(repo), "render", "--env", "dev", "--out", str(mount))
        assert_plain_environment_error(rc, err, "is a mount point", f"--out {mount}/rendered")
        assert [p.name for p in mount.iterdir()] == ["keep.txt"]


def test_rendered_as_a_symlink_inside_the_repository_is_written_through(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "gitops").mkdir()
    (repo / "rendered").symlink_to("gitops")
    assert run(capsys, "--root", str(repo), "render", "--env", "dev")[0] == 0
    edit(repo)
    assert run(capsys, "--root", str(repo), "render", "--env", "dev")[0] == 0
    assert (repo / "rendered").is_symlink() and os.readlink(repo / "rendered") == "gitops"
    assert (repo / "gitops" / "dev" / MODEL / "kustomization.yaml").is_file()
    assert run(capsys, "--root", str(repo), "render", "--env", "dev", "--check")[0] == 0
    # beside the lock only the render cache (.maestro/) and the spare tree of the folder the
    # link names (emit._Spare): no staging or old tree left behind
    assert sorted(p.name for p in repo.iterdir() if p.name.startswith(".")) == [
        ".gitops.lock",
        ".gitops.spare",
        ".maestro",
    ]


def test_rendered_as_a_symlink_out_of_the_repository_is_refused(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / "rendered").symlink_to(elsewhere)
    rc, _, err = run(capsys, "--root", str(repo), "render", "--env", "dev")
    assert_plain_environment_error(rc, err, "symbolic link", "outside the repository", "--out DIR")
    assert list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in repo.iterdir()) == ["config", "overlays", "policies", "rendered", "schemas", "specs"]


def test_a_dangling_rendered_symlink_is_refused(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "rendered").symlink_to("nowhere")
    rc, _, err = run(capsys, "--root", str(repo), "render", "--env", "dev")
    assert_plain_environment_error(rc, err, "symbolic link", "not a folder")
    assert (repo / "rendered").is_symlink() and not (repo / "nowhere").exists()


def test_a_link_inside_the_rendered_tree_does_not_carry_files_out(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "--root", str(repo), "render")[0] == 0
    elsewhere = tmp_path / "elsewhere"
    shutil.move(repo / "rendered" / "dev", elsewhere)
    (repo / "rendered" / "dev").symlink_to(elsewhere)
    before = read_tree(elsewhere, [""])
    edit(repo)
    rc, _, err = run(capsys, "--root", str(repo), "render", "--model", MODEL)
    assert_plain_environment_error(rc, err, "rendered/dev is a symbolic link", "remove the link")
    assert read_tree(elsewhere, [""]) == before
