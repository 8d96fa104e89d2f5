"""render --shard I/N: each shard renders a slice of the models (by `shard_of` their folder),
shard 1 also each environment's platform/ and argocd/ folders. The shards' trees are
disjoint and together are a full render, byte for byte (written apart or over one stale
tree), and `render --check --shard` over every shard passes exactly when the tree is current.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import MODELS, ROOT
from maestro import pipeline
from maestro.cli import main
from maestro.output.emit import read_objects, read_tree
from maestro.pipeline import shard_of


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for sub in ("config", "specs", "overlays", "policies"):
        shutil.copytree(ROOT / sub, tmp_path / "repo" / sub)
    return tmp_path / "repo"


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The model of every model-environment rendered in this process (use --jobs 1)."""
    seen: list[str] = []
    original = pipeline.render_model_env

    def counting(ws: Any, env: str, c: Any, *args: Any) -> Any:
        seen.append(c.spec.metadata.name)
        return original(ws, env, c, *args)

    monkeypatch.setattr(pipeline, "render_model_env", counting)
    yield seen


def render(repo: Path, out: Path, *extra: str) -> int:
    return main(["--root", str(repo), "render", "--out", str(out), "--jobs", "1", *extra])


def test_shards_split_the_models_by_folder_name_alone() -> None:
    for count in (1, 2, 3, 7):
        owners = {m: shard_of(m, count) for m in MODELS}
        assert all(1 <= s <= count for s in owners.values())
        assert owners == {m: shard_of(m, count) for m in reversed(MODELS)}  # no dependence on the others
    assert len({shard_of(m, 2) for m in MODELS}) == 2  # both shards have work in the examples


@pytest.mark.parametrize("count", [2, 3])
def test_union_of_the_shards_is_the_full_render(repo: Path, count: int, calls: list[str]) -> None:
    assert render(repo, repo.parent / "full", "--no-cache") == 0
    full = read_tree(repo.parent / "full", [""])
    trees = []
    for index in range(1, count + 1):
        calls.clear()
        assert render(repo, repo.parent / f"shard{index}", "--no-cache", "--shard", f"{index}/{count}") == 0
        trees.append(read_tree(repo.parent / f"shard{index}", [""]))
        mine = {m for m in MODELS if shard_of(m, count) == index}
        if index > 1:  # only shard 1 needs the other models' objects (for the environment layers)
            assert set(calls) == mine
        layers = {k for k in trees[-1] if k.split("/")[1] in ("platform", "argocd")}
        assert bool(layers) == (index == 1)
        assert {k.split("/")[1] for k in trees[-1]} - {"platform", "argocd"} == mine
    union: dict[str, bytes] = {}
    for tree in trees:
        assert not set(union) & set(tree)  # disjoint
        union.update(tree)
    assert union == full


def test_shards_rendered_over_one_stale_tree_make_it_the_full_render(repo: Path) -> None:
    assert render(repo, repo.parent / "full", "--no-cache") == 0
    full = read_tree(repo.parent / "full", [""])
    out = repo.parent / "out"
    shutil.copytree(repo.parent / "full", out)
    # What only a full render would clean up: a model that is gone, a stray file, an unknown env.
    for stray in ("dev/gone-model/deployment-gone-model.yaml", "prod/stray.yaml", "qa/x/y.yaml"):
        (out / stray).parent.mkdir(parents=True, exist_ok=True)
        (out / stray).write_text("kind: Stray\n")
    edited = repo / "specs" / MODELS[0] / "maestro.yaml"
    edited.write_text(edited.read_text().replace("description: ", "description: Edited. ", 1))
    assert render(repo, repo.parent / "after", "--no-cache") == 0
    after = read_tree(repo.parent / "after", [""])
    assert after != full
    for index in (2, 3, 1):  # any order
        assert render(repo, out, "--shard", f"{index}/3") == 0
    assert read_tree(out, [""]) == after


def test_check_composes_over_the_shards(repo: Path, calls: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    out = repo.parent / "out"
    assert render(repo, out) == 0
    count = 3
    # A folder with a launched run embedded in a ConfigMap cannot be read back as the objects
    # the link stage saw (embedding drops the run's launch annotations): shard 1 renders those.
    unreadable = {m for m in MODELS for env in ("dev", "prod", "staging") if read_objects(out, f"{env}/{m}") is None}
    assert unreadable != set(MODELS)  # some folders are read back
    for index in range(1, count + 1):
        calls.clear()
        assert render(repo, out, "--check", "--no-cache", "--shard", f"{index}/{count}") == 0
        mine = {m for m in MODELS if shard_of(m, count) == index}
        # Shard 1 reads the other shards' folders from the tree instead of rendering them.
        assert set(calls) == (mine | unreadable if index == 1 else mine)
    edited = MODELS[-1]
    spec = repo / "specs" / edited / "maestro.yaml"
    spec.write_text(spec.read_text().replace("description: ", "description: Edited. ", 1))
    capsys.readouterr()
    failed = []
    for index in range(1, count + 1):
        if render(repo, out, "--check", "--shard", f"{index}/{count}") != 0:
            failed.append(index)
    assert failed == [shard_of(edited, count)]
    assert f"/{edited}/" in capsys.readouterr().out  # the shard that failed names the stale files
    stale_layer = out / "dev" / "platform"
    shutil.rmtree(stale_layer)
    spec.write_text(spec.read_text().replace("description: Edited. ", "description: ", 1))
    results = {index: render(repo, out, "--check", "--shard", f"{index}/{count}") for index in range(1, count + 1)}
    assert results == {1: 1, 2: 0, 3: 0}


def test_shard_1_renders_the_other_shards_models_in_its_pool(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a pool, shard 1 renders every model for the environment layers, side by side,
    instead of reading the other shards' folders (or rendering those it cannot read) one by
    one in its own process: at N=1,000 that took 1.97x a full render."""
    from maestro.output import emit

    out = repo.parent / "out"
    assert render(repo, out) == 0
    reads: list[tuple[object, ...]] = []
    monkeypatch.setattr(emit, "read_objects", lambda *a: reads.append(a))
    for index in (1, 2, 3):
        argv = ["--root", str(repo), "render", "--out", str(out), "--jobs", "2", "--check", "--no-cache"]
        assert main([*argv, "--shard", f"{index}/3"]) == 0
    assert reads == []
    # ... and its layers are still checked: a stale platform folder fails shard 1 alone.
    shutil.rmtree(out / "dev" / "platform")
    results = {i: main([*argv, "--shard", f"{i}/3"]) for i in (1, 2, 3)}
    assert results == {1: 1, 2: 0, 3: 0}


@pytest.mark.parametrize("value", ["0/2", "3/2", "1/0", "x", "1/", "-1/2"])
def test_a_bad_shard_is_a_usage_error(repo: Path, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert render(repo, repo.parent / "out", "--shard", value) == 2
    assert "I/N" in capsys.readouterr().err


def test_shard_does_not_combine_with_model(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert render(repo, repo.parent / "out", "--shard", "1/2", "--model", MODELS[0]) == 2
    assert "--shard" in capsys.readouterr().err
