"""The wheel as a user gets it: built from the sources alone, installed into a fresh virtualenv
outside the repository, run on a copy of the examples.

The build starts from exactly the files the Argo CD sidecar's Dockerfile copies into its
build stage, and uses exactly the setuptools version `pyproject.toml` names as its floor,
so the floor is one that supports the metadata we use (PEP 639 `license` and
`license-files` need setuptools 77). The install reads the package index like any user's
(pip's cache makes a repeated run cheaper); it is the one test that checks the dependency
list is complete, because the test environment has every dependency already. Both wheel
tests run on one xdist worker (one build). ≈40-60 s on 2 shared cores, most of it pip.
"""

from __future__ import annotations

import filecmp
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest

from conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PACKAGE = ROOT / "compiler" / "maestro"
DIST_NAME = "maestro-ml"
EXAMPLES = ("config", "overlays", "policies", "specs", "schemas")
DOCKERFILE = ROOT / "deploy" / "argocd-cmp" / "Dockerfile"
pytestmark = pytest.mark.xdist_group("wheel")


def _pip(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """This environment's pip acting on another interpreter's environment (`pip --python`):
    the fresh venvs need no pip of their own."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    return path / "bin" / "python"


def _setuptools_floor() -> str:
    [requirement] = [r for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools")]
    match = re.fullmatch(r"setuptools>=([0-9.]+)", requirement)
    assert match, f"build-system requires {requirement!r}: expected a plain floor, setuptools>=X"
    return match.group(1)


def _package_files() -> set[str]:
    """Files of the package in the source tree, as wheel paths (maestro/...)."""
    out = set()
    for path in PACKAGE.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            out.add(path.relative_to(PACKAGE.parent).as_posix())
    return out


def _build_context() -> list[str]:
    """What the Dockerfile's build stage copies from the repository (`COPY SRC... DEST`)."""
    stage = DOCKERFILE.read_text(encoding="utf-8").split("\nFROM ")[1]
    sources: list[str] = []
    for line in stage.splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            sources += [w.rstrip("/") for w in words[1:-1]]
    return sources


def test_dockerfile_builds_from_the_sources_it_copies() -> None:
    assert _build_context() == ["pyproject.toml", "README.md", "LICENSE", "compiler"]
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist ." in text
    assert "RUN pip install --no-cache-dir /dist/*.whl" in text


def test_no_instruction_installs_the_wrong_distribution() -> None:
    """The distribution named maestro on the package index is an unrelated project."""
    # `pip install [options] maestro[extras][==version]`, up to a comment or the end of the code
    wrong = re.compile(r"pip install[^\n`#]*?\s['\"]?maestro(\[[^\]]*\])?(==[^\s`]*)?(?=[\s`'\"]|$)", re.M)
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
    offenders = []
    for name in tracked.stdout.split("\0"):
        path = ROOT / name
        if name and path.suffix in {".md", ".yaml", ".yml", ".toml", ".py", ""} and path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            offenders += [f"{name}: {m.group(0)}" for m in wrong.finditer(text)]
    assert not offenders


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of what the Dockerfile copies (no in-tree build folders)."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    for name in _build_context():
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
            )
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    builder = _venv(base / "build-venv")
    _pip(builder, "install", "-q", f"setuptools=={_setuptools_floor()}", cwd=base)
    _pip(builder, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(base / "dist"), ".", cwd=src)
    [built] = (base / "dist").glob("*.whl")
    return built


@pytest.mark.slow
def test_wheel_metadata_and_contents(wheel: Path) -> None:
    from maestro import __version__

    assert wheel.name == f"maestro_ml-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        info = f"maestro_ml-{__version__}.dist-info"
        meta = HeaderParser().parsestr(zf.read(f"{info}/METADATA").decode())
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
    assert meta["Name"] == DIST_NAME and meta["Version"] == __version__
    assert meta["License-Expression"] == "Apache-2.0"
    assert f"{info}/licenses/LICENSE" in names
    assert "maestro = maestro.cli:run" in entry_points
    # every file of the package travels: modules, templates, CRD schemas with README and NOTICE
    missing = _package_files() - names
    assert not missing, sorted(missing)
    assert not [n for n in names if n.startswith(("tests/", "specs/", "compiler/"))]


@pytest.mark.slow
def test_wheel_installs_and_compiles_the_examples(wheel: Path, tmp_path: Path) -> None:
    """pip install the wheel into a fresh venv, then validate and render a copy of the examples
    outside the repository: the tree is the committed one, byte for byte."""
    python = _venv(tmp_path / "venv")
    _pip(python, "install", "-q", "--no-compile", str(wheel), cwd=tmp_path)
    maestro = tmp_path / "venv" / "bin" / "maestro"
    work = tmp_path / "models"
    for part in EXAMPLES:
        shutil.copytree(ROOT / part, work / part)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NO_COLOR": "1"}  # nothing of this venv
    validate = subprocess.run(
        [str(maestro), "validate"], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr
    render = subprocess.run(
        [str(maestro), "render"], cwd=work / "specs", env=env, capture_output=True, text=True, timeout=300
    )
    assert render.returncode == 0, render.stdout + render.stderr
    compare = filecmp.dircmp(work / "rendered", ROOT / "rendered")
    assert _same_tree(compare), "rendered tree differs from the committed one"
    # without the `registry` extra, the verb that needs it names the extra
    registry = subprocess.run(
        [str(maestro), "registry", "sync", "--env", "dev", "--dry-run"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert registry.returncode == 2, registry.stdout + registry.stderr
    assert "pip install 'maestro-ml[registry]'" in registry.stderr and "Traceback" not in registry.stderr
    version = subprocess.run([str(maestro), "--version"], env=env, capture_output=True, text=True, timeout=60)
    from maestro import __version__

    assert version.stdout.strip() == f"maestro {__version__}"


def _same_tree(cmp: filecmp.dircmp[str]) -> bool:
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
    return not mismatch and not errors and all(_same_tree(sub) for sub in cmp.subdirs.values())
