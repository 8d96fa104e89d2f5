"""Incremental and parallel render: the tree from the cache (.maestro/cache/) and from a
process pool is byte for byte the tree a full render writes, after no change, a one-spec
change and a platform config change; a damaged or foreign cache entry is a miss.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT
from maestro import pipeline
from maestro.cache import CACHE_DIR, Cache, Digest
from maestro.cli import main
from maestro.output import link
from maestro.output.emit import read_tree


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for sub in ("config", "specs", "overlays", "policies"):
        shutil.copytree(ROOT / sub, tmp_path / "repo" / sub)
    return tmp_path / "repo"


def render(repo: Path, out: Path, *extra: str) -> dict[str, bytes]:
    rc = main(["--root", str(repo), "render", "--out", str(out), *extra])
    assert rc == 0
    return read_tree(out, [""])


def full(repo: Path) -> dict[str, bytes]:
    """What a render without the cache, in this process, writes."""
    return render(repo, repo.parent / "full", "--no-cache", "--jobs", "1")


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """(env, model) of every model-environment rendered in this process (use --jobs 1)."""
    seen: list[tuple[str, str]] = []
    original = pipeline.render_model_env

    def counting(ws: Any, env: str, c: Any, *args: Any) -> Any:
        seen.append((env, c.spec.metadata.name))
        return original(ws, env, c, *args)

    monkeypatch.setattr(pipeline, "render_model_env", counting)
    yield seen


def test_no_op_render_renders_nothing_and_writes_the_same_tree(
    repo: Path, calls: list[tuple[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    out = repo.parent / "out"
    first = render(repo, out, "--jobs", "1")
    assert len(calls) == 18  # 6 specs x 3 environments
    assert (repo / CACHE_DIR).is_dir()
    calls.clear()
    assert render(repo, out, "--jobs", "1") == first
    assert calls == []
    assert "(0 added, 0 changed, 0 removed)" in capsys.readouterr().out
    assert first == full(repo)


def test_one_spec_change_renders_that_spec_only(repo: Path, calls: list[tuple[str, str]]) -> None:
    out = repo.parent / "out"
    before = render(repo, out, "--jobs", "1")
    spec = repo / "specs" / "churn-predictor" / "maestro.yaml"
    text = spec.read_text()
    changed = text.replace("replicas: {min: 2, max: 6}", "replicas: {min: 2, max: 7}", 1)
    assert changed != text
    spec.write_text(changed)
    calls.clear()
    after = render(repo, out, "--jobs", "1")
    assert sorted(calls) == [(env, "churn-predictor") for env in ("dev", "prod", "staging")]
    assert after != before
    assert after == full(repo)


def test_a_one_spec_change_dumps_and_checks_only_that_models_argo_cd_applications(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment layers keep what they made of each object (pipeline._layer_object):
    after a one-spec change only the changed model's Application is dumped and checked again
    in each environment, and no platform object is policed again."""
    from maestro import serialize

    out = repo.parent / "out"
    render(repo, out, "--jobs", "1")
    dumped = repo.parent / "dumped"
    original = serialize.dump

    def counting(doc: Any) -> str:
        if isinstance(doc, dict) and doc.get("kind") == "Application":
            with open(dumped, "a") as f:
                f.write(f"{doc['metadata']['name']}\n")
        return original(doc)

    monkeypatch.setattr(serialize, "dump", counting)
    from maestro.policy.governance import Governance

    policed: list[str] = []
    check_object = Governance.check_object

    def policing(self: Any, obj: Any, env: str, team: str, platform: Any, file: str) -> Any:
        policed.append(file)
        return check_object(self, obj, env, team, platform, file)

    monkeypatch.setattr(Governance, "check_object", policing)
    spec = repo / "specs" / "churn-predictor" / "maestro.yaml"
    text = spec.read_text()
    spec.write_text(text.replace('owners: ["@acme/growth-analytics"]', 'owners: ["@acme/growth-ml"]', 1))
    dumped.write_text("")
    after = render(repo, out, "--jobs", "1")
    # the owners are in its Application (spec.info), in each environment
    assert sorted(dumped.read_text().split()) == [f"churn-predictor-{env}" for env in ("dev", "prod", "staging")]
    # and the platform layers' objects are the same: their policy findings too (no policy worker
    # starts for them in a layer's process)
    assert policed and not [f for f in policed if "/platform/" in f]
    assert b"@acme/growth-ml" in after["dev/argocd/application-churn-predictor-dev.yaml"]
    monkeypatch.setattr(serialize, "dump", original)
    assert after == full(repo)


def test_a_write_goes_through_the_spare_tree_unless_the_tree_was_replaced(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a one-spec change the write updates the spare tree the last write left (no copy
    of the tree); after a render without the cache (every file new) the spare shares too
    few files with the tree, and the write copies the tree afresh. Either way the tree is
    the full render's."""
    from maestro.output import emit

    copies: list[str] = []
    link_tree = emit._link_tree
    out = repo.parent / "out"

    def copying(src: str, dst: str) -> None:
        if Path(dst).name.startswith(f".{out.name}."):  # the whole tree, not a folder of it (recursion)
            copies.append(dst)
        link_tree(src, dst)

    monkeypatch.setattr(emit, "_link_tree", copying)
    render(repo, out, "--jobs", "1")
    assert len(copies) == 1  # the first tree's spare
    spec = repo / "specs" / "churn-predictor" / "maestro.yaml"
    _edit(spec, "replicas: {min: 2, max: 6}", "replicas: {min: 2, max: 7}")
    assert render(repo, out, "--jobs", "1") == full(repo)
    assert len(copies) == 1
    _edit(spec, "replicas: {min: 2, max: 7}", "replicas: {min: 2, max: 8}")
    render(repo, out, "--no-cache", "--jobs", "1")  # writes every file anew
    copies.clear()
    _edit(spec, "replicas: {min: 2, max: 8}", "replicas: {min: 2, max: 9}")
    assert render(repo, out, "--jobs", "1") == full(repo)
    assert len(copies) == 1


def test_without_an_atomic_exchange_the_rename_pair_keeps_the_spare_tree(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the kernel has no RENAME_EXCHANGE, the swap is a pair of renames (emit._swap),
    for a staged tree and for the spare tree alike: each write leaves the full render's tree,
    a spare the next write uses, and no old tree behind."""
    from maestro.output import emit

    monkeypatch.setattr(emit, "_exchange", lambda a, b: False)
    out = repo.parent / "out"
    spec = repo / "specs" / "churn-predictor" / "maestro.yaml"
    render(repo, out, "--jobs", "1")
    for was, now in (("max: 6}", "max: 7}"), ("max: 7}", "max: 8}")):
        _edit(spec, f"replicas: {{min: 2, {was}", f"replicas: {{min: 2, {now}")
        assert render(repo, out, "--jobs", "1") == full(repo)
        assert (repo.parent / ".out.spare" / "state").is_file()
        assert not list(repo.parent.glob(".out.old-*")) and not list(repo.parent.glob(".out.staging-*"))


def test_platform_config_change_is_seen(repo: Path) -> None:
    out = repo.parent / "out"
    before = render(repo, out)
    config = repo / "config" / "platform.yaml"
    text = config.read_text()
    # A team's budget is its namespace's ResourceQuota in the platform layer.
    changed = text.replace("budget: {monthly: 40000, cpu_hours: 500", "budget: {monthly: 41000, cpu_hours: 500", 1)
    assert changed != text
    config.write_text(changed)
    after = render(repo, out)
    assert after == full(repo)
    assert {k for k in after if after[k] != before.get(k)} != set()


def test_overlay_change_is_seen(repo: Path) -> None:
    out = repo.parent / "out"
    render(repo, out)
    overlay = repo / "overlays" / "prod" / "overlay.yaml"
    text = overlay.read_text()
    overlay.write_text(text.replace("commonAnnotations:\n", "commonAnnotations:\n  example.com/cost-center: ml\n", 1))
    after = render(repo, out)
    assert after == full(repo)
    assert any(b"example.com/cost-center" in v for k, v in after.items() if k.startswith("prod/"))


# pydantic-settings reads MAESTRO_* case-insensitively: the keys must too (they hashed
# upper-case names only, and a render from the cache kept the old targetRevision).
@pytest.mark.parametrize("name", ["MAESTRO_GITOPS__TARGET_REVISION", "maestro_gitops__target_revision"])
def test_environment_override_is_seen(repo: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    out = repo.parent / "out"
    before = render(repo, out)
    monkeypatch.setenv(name, "release-9")
    after = render(repo, out)
    assert after != before
    assert after == full(repo)


def test_parallel_render_is_the_serial_render(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without a cache the front half's pool keeps its parts in an unlinked temporary file.
    scratch = repo.parent / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    assert render(repo, repo.parent / "par", "--no-cache", "--jobs", "2") == full(repo)
    assert list(scratch.iterdir()) == []


def test_the_front_half_pool_fills_the_cache(
    repo: Path, calls: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --jobs 2 a cold render checks and renders every spec in the pool's processes (none
    in this one, so it never holds every checked spec), and caches what a serial render makes."""
    out = repo.parent / "out"
    checked: list[Path] = []
    check = pipeline.check_file
    monkeypatch.setattr(pipeline, "check_file", lambda path, *a, **k: checked.append(path) or check(path, *a, **k))
    parallel = render(repo, out, "--jobs", "2")
    assert calls == [] and checked == []  # the pool's processes appended to their own copies
    shutil.rmtree(repo / ".maestro" / "manifests")  # the next render reads the cache, not the manifest
    assert render(repo, out, "--jobs", "1") == parallel
    assert calls == []  # every part came from the cache
    assert parallel == full(repo)
    # A one-spec change with --jobs 2: its parts here, the environments' layers side by side.
    spec = repo / "specs" / "sentiment-bert" / "maestro.yaml"
    spec.write_text(spec.read_text().replace("  description: ", "  description: edited ", 1))
    edited = render(repo, out, "--jobs", "2")
    assert edited != parallel
    assert edited == full(repo)


@pytest.fixture
def forked_layers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pids of the environment layers a render starts in forked processes as it goes."""
    pids: list[int] = []

    class Counted(pipeline.Forked):  # type: ignore[type-arg]
        def __init__(self, fn: Any) -> None:
            super().__init__(fn)
            pids.append(self.pid)

    monkeypatch.setattr(pipeline, "Forked", Counted)
    return pids


@pytest.mark.parametrize("jobs", [2, 3])
def test_a_one_spec_change_starts_each_layer_as_its_parts_are_in(
    repo: Path, jobs: int, forked_layers: list[int]
) -> None:
    """The changed parts are rendered here; up to --jobs - 1 environments' layers start in
    forked processes as soon as their parts are in, the rest side by side at the end."""
    out = repo.parent / "out"
    render(repo, out, "--jobs", str(jobs))
    forked_layers.clear()
    _edit(repo / "specs" / "sentiment-bert" / "maestro.yaml", "  description: ", "  description: edited ")
    edited = render(repo, out, "--jobs", str(jobs))
    assert len(forked_layers) == jobs - 1
    assert not any(_alive(pid) for pid in forked_layers)
    assert edited == full(repo)


def test_a_layer_failing_in_its_forked_process_fails_the_render(
    repo: Path, forked_layers: list[int], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = repo.parent / "out"
    before = render(repo, out, "--jobs", "2")
    forked_layers.clear()
    original = pipeline._env_layer

    def failing(inc: Any, env: str, *args: Any) -> Any:
        if env == "dev":
            raise RuntimeError("the dev layer broke")
        return original(inc, env, *args)

    monkeypatch.setattr(pipeline, "_env_layer", failing)
    _edit(repo / "specs" / "sentiment-bert" / "maestro.yaml", "  description: ", "  description: edited ")
    capsys.readouterr()
    assert main(["--root", str(repo), "render", "--out", str(out), "--jobs", "2"]) == 3  # an internal error
    assert "RuntimeError: the dev layer broke" in capsys.readouterr().err
    assert len(forked_layers) == 1 and not _alive(forked_layers[0])
    assert read_tree(out, [""]) == before  # nothing written


def test_damaged_and_foreign_entries_are_misses(repo: Path) -> None:
    out = repo.parent / "out"
    first = render(repo, out)
    entries = sorted(p for p in (repo / CACHE_DIR).glob("*/*") if not p.name.startswith("."))
    assert entries
    for i, path in enumerate(entries):
        raw = path.read_bytes()
        path.write_bytes(raw[: len(raw) // 2] if i % 2 else raw[:-1] + bytes([raw[-1] ^ 1]))
    shutil.rmtree(out)
    assert render(repo, out) == first
    cache = Cache(repo)
    key = Digest("test").hexdigest()
    cache.put(key, {"not": "a record"})
    assert cache.get(key) == {"not": "a record"}


def test_cache_survives_a_killed_writer(repo: Path) -> None:
    """A writer killed mid-write leaves a temporary file, never a readable partial entry."""
    cache = Cache(repo)
    key = Digest("killed").hexdigest()
    tmp = repo / CACHE_DIR / key[:2] / f".tmp-12345-{key[2:18]}"
    tmp.parent.mkdir(parents=True)
    tmp.write_bytes(b"maestro-cache-1\n" + b"\0" * 10)
    assert cache.get(key) is None
    cache.put(key, [1, 2])
    assert cache.get(key) == [1, 2]


def _age(path: Path, days: float) -> None:
    import os
    import time

    then = time.time() - days * 86400
    os.utime(path, (then, then))


def test_cache_prune_removes_what_no_render_used_for_a_week(repo: Path) -> None:
    """An entry read is marked used; `prune` removes entries unused for UNUSED_DAYS days and
    the temporary files of killed writers older than an hour, at most once a day."""
    from maestro.cache import UNUSED_DAYS

    cache = Cache(repo)
    keys = {name: Digest(name).hexdigest() for name in ("old", "old but read", "old but kept", "new")}
    for name, key in keys.items():
        cache.put(key, name)
    path = {name: repo / CACHE_DIR / key[:2] / key[2:] for name, key in keys.items()}
    for name in ("old", "old but read", "old but kept"):
        _age(path[name], UNUSED_DAYS + 1)
    killed = path["old"].parent / ".tmp-12345-0123456789abcdef"
    killed.write_bytes(b"partial")
    _age(killed, 0.1)  # 2.4 hours
    writing = path["new"].parent / ".tmp-12346-0123456789abcdef"
    writing.write_bytes(b"partial")  # a writer still at work
    assert cache.get(keys["old but read"]) == "old but read"
    cache.keep(keys["old but kept"])
    assert cache.prune() == 2
    assert not path["old"].exists() and not killed.exists()
    assert all(path[n].exists() for n in ("old but read", "old but kept", "new")) and writing.exists()
    _age(path["new"], UNUSED_DAYS + 1)
    assert cache.prune() == 0  # pruned less than a day ago
    assert path["new"].exists()
    assert cache.prune(every=0) == 1 and not path["new"].exists()


def test_a_whole_render_prunes_only_what_the_current_inputs_do_not_need(
    repo: Path, calls: list[tuple[str, str]]
) -> None:
    """After a week without renders, the next whole render reads every entry the current
    inputs need (marking them used) before it prunes: what it did not read goes; the render
    after it still finds everything else in the cache."""
    from maestro.cache import UNUSED_DAYS

    out = repo.parent / "out"
    render(repo, out, "--jobs", "1")
    cache = Cache(repo)
    dead = Digest("an entry of inputs long gone").hexdigest()
    cache.put(dead, "gone")
    for entry in (repo / CACHE_DIR).glob("*/*"):
        _age(entry, UNUSED_DAYS + 1)
    (repo / CACHE_DIR / ".pruned").unlink(missing_ok=True)
    # A hand edit of the output: the render takes the full path with every result in the
    # cache (specs, models, layers), so it reads no model's objects, which must stay too.
    victim = out / "dev" / "churn-predictor" / "kustomization.yaml"
    victim.write_text(victim.read_text() + "# edited by hand\n")
    calls.clear()
    render(repo, out, "--jobs", "1")
    assert calls == []
    assert cache.get(dead) is None  # pruned
    assert (repo / CACHE_DIR / ".pruned").exists()
    # A spec changes: every layer is made again, from every model's objects, which are read
    # from the cache: only the changed model is rendered again.
    _edit(repo / "specs" / "fraud-detector" / "maestro.yaml", "fraud", "fraud ")
    calls.clear()
    after = render(repo, out, "--jobs", "1")
    assert {model for _env, model in calls} == {"fraud-detector"}
    assert after == full(repo)


def test_cache_is_ignored_by_git() -> None:
    assert ".maestro/" in (ROOT / ".gitignore").read_text().splitlines()


def test_spool_gives_back_what_was_put_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The files of a render wait in the spool (one unlinked temporary file), not in memory."""
    from maestro.output.emit import Spool

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    files = {f"dev/m{i}/f{j}.yaml": bytes([i, j]) * (i * 97 + j) for i in range(20) for j in range(5)}
    with Spool() as spool:
        spool.update(files)
        assert list(tmp_path.iterdir()) == []  # nothing to clean up, however the process ends
        assert list(spool) == list(files) and len(spool) == len(files)
        assert all(spool[k] == v for k, v in files.items())
        assert dict(spool.items()) == files
        del spool["dev/m0/f0.yaml"]
        assert "dev/m0/f0.yaml" not in spool and len(spool) == len(files) - 1


def test_a_render_from_the_cache_loads_no_policies_and_a_broken_policy_still_fails(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maestro.policy.governance import Governance

    out = repo.parent / "out"
    first = render(repo, out, "--jobs", "1")
    loads: list[object] = []
    original = Governance.start.__func__  # type: ignore[attr-defined]

    def counting(cls: Any, *args: Any, **kwargs: Any) -> Any:
        loads.append(args)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(Governance, "start", classmethod(counting))
    assert render(repo, out, "--jobs", "1") == first
    assert loads == []  # everything came from the cache
    policy = sorted((repo / "policies" / "k8s").glob("*.rego"))[0]
    policy.write_text(policy.read_text() + "\nthis is not rego\n")
    assert main(["--root", str(repo), "render", "--out", str(out), "--jobs", "1"]) == 2
    assert len(loads) == 1
    assert read_tree(out, [""]) == first  # nothing written


SLOW_THEN_DENY = """package main

import rego.v1

# Unbounded on churn-predictor's objects at image tag 0.9.4 (2e9 steps: past any time bound)
deny contains "never reached" if {
	contains(json.marshal(input), "churn-train:0.9.4")
	some i in numbers.range(1, 50000)
	some j in numbers.range(1, 50000)
	i * j < 0
}

deny contains "fraud-detector may not serve" if {
	input.kind == "InferenceService"
	input.metadata.name == "fraud-detector"
}

deny contains "no quota for growth" if {
	input.kind == "ResourceQuota"
	input.metadata.namespace == "growth-dev"
}
"""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_nothing_checked_by_a_failed_policy_set_is_cached(
    repo: Path, jobs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A policy set that exceeds its bound is skipped for the rest of the run (M408, reported
    once). What that run computed after the failure was never checked by the policies: cached,
    it would pass the next render unchecked (fail open) once the bound is no longer hit."""
    (repo / "policies" / "k8s" / "zz_slow.rego").write_text(SLOW_THEN_DENY)
    config = repo / "config" / "platform.yaml"
    config.write_text(config.read_text() + "\npolicies:\n  timeout_seconds: 1\n")
    out = repo.parent / "out"
    assert main(["--root", str(repo), "render", "--env", "dev", "--out", str(out), "--jobs", jobs]) == 1
    assert "M408" in capsys.readouterr().out
    spec = repo / "specs" / "churn-predictor" / "maestro.yaml"
    spec.write_text(spec.read_text().replace("churn-train:0.9.4", "churn-train:0.9.5"))
    assert main(["--root", str(repo), "render", "--env", "dev", "--out", str(out), "--jobs", jobs]) == 1
    shown = capsys.readouterr().out
    assert "M408" not in shown
    assert "fraud-detector may not serve" in shown
    assert "no quota for growth" in shown  # a platform object (pipeline._layer_object)


# ------------------------------------------------------------------ the manifest: a no-op from stats alone


def manifest_of(repo: Path, out: Path) -> Path:
    from maestro.output.manifest import manifest_path

    return manifest_path(repo, out.resolve())


@pytest.fixture
def fronts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Which of the front half (specs checked or read from the cache) and the compare ran."""
    from maestro.output import emit

    seen: list[str] = []
    check, compare = pipeline.check_specs_incremental, emit.compare
    monkeypatch.setattr(pipeline, "check_specs_incremental", lambda *a, **k: seen.append("front") or check(*a, **k))
    monkeypatch.setattr(emit, "compare", lambda *a, **k: seen.append("compare") or compare(*a, **k))
    yield seen


def test_a_no_op_render_reads_no_spec_record_and_no_output_file(
    repo: Path, fronts: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = repo.parent / "out"
    first = render(repo, out, "--jobs", "1")
    assert manifest_of(repo, out).is_file()
    fronts.clear()
    printed = capsys.readouterr().out
    assert render(repo, out, "--jobs", "1") == first
    assert fronts == []  # decided from the stats of the tree and the keys of the inputs alone
    again = capsys.readouterr().out
    assert again.split(":")[0] == printed.split(":")[0]  # the same models, environments and objects
    assert "0 file(s) changed (0 added, 0 changed, 0 removed)" in again
    assert main(["--root", str(repo), "render", "--out", str(out), "--check"]) == 0
    assert "is current (6 model(s)" in capsys.readouterr().out
    assert fronts == []
    # --no-cache neither reads nor trusts it
    assert main(["--root", str(repo), "render", "--out", str(out), "--no-cache", "--jobs", "1"]) == 0
    assert fronts == ["front", "compare"]
    assert first == full(repo)


@pytest.mark.parametrize("damage", ["edited", "removed", "extra"])
def test_a_hand_change_after_a_no_op_is_seen_by_check_and_repaired_by_render(
    repo: Path, damage: str, fronts: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = repo.parent / "out"
    first = render(repo, out, "--jobs", "1")
    fronts.clear()
    assert render(repo, out, "--jobs", "1") == first
    assert fronts == []  # from the manifest
    folder = out / "prod" / "churn-predictor"
    victim = folder / "kustomization.yaml"
    if damage == "edited":  # in place, same size and inode, right after a render: only the mtime differs
        data = victim.read_bytes()
        with open(victim, "r+b") as f:
            f.write(data.replace(b"resources", b"resourcez", 1))
        label = "changed"
    elif damage == "removed":
        victim.unlink()
        label = "added"  # the render adds it back
    else:
        victim = folder / "notes.yaml"
        victim.write_text("kind: Note\n")
        label = "removed"  # a file the render does not make is removed
    capsys.readouterr()
    assert main(["--root", str(repo), "render", "--out", str(out), "--check"]) == 1
    rel = victim.relative_to(out).as_posix()
    listed = [line for line in capsys.readouterr().out.splitlines() if line.startswith(label + ": ")]
    assert len(listed) == 1 and listed[0].endswith("/" + rel)
    after = render(repo, out, "--jobs", "1")
    assert "1 file(s) changed" in capsys.readouterr().out
    assert after == first == full(repo)


def test_a_render_killed_while_writing_leaves_no_manifest(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from maestro.output import emit, manifest

    out = repo.parent / "out"
    render(repo, out, "--jobs", "1")
    spec = repo / "specs" / "churn-predictor" / "maestro.yaml"
    spec.write_text(spec.read_text().replace("replicas: {min: 2, max: 6}", "replicas: {min: 2, max: 7}", 1))

    def killed(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(emit, "_exchange", killed)  # killed before the swap
    assert main(["--root", str(repo), "render", "--out", str(out), "--jobs", "1"]) == 130
    assert not manifest_of(repo, out).exists()
    monkeypatch.undo()
    monkeypatch.setattr(manifest, "write_entry", killed)  # killed after the swap, before the record
    assert main(["--root", str(repo), "render", "--out", str(out), "--jobs", "1"]) == 130
    assert not manifest_of(repo, out).exists()
    monkeypatch.undo()
    assert render(repo, out, "--jobs", "1") == full(repo)


def test_stats_recorded_are_never_of_the_clock_tick_the_file_was_written_in(tmp_path: Path) -> None:
    """A file written again in the tick of its mtime keeps its mtime: the manifest must not
    vouch for a file scanned in that tick (git's racy-clean problem)."""
    import time

    from maestro.output.manifest import scan

    (tmp_path / "a").mkdir()
    for i in range(50):
        (tmp_path / "a" / f"f{i}.yaml").write_text("x" * i)
    stats = scan(tmp_path, [""])
    done = time.time_ns()
    assert stats is not None and len(stats) == 50
    assert all(done - mtime >= 20_000_000 for _size, mtime, _ino in stats.values())
    (tmp_path / "a" / "link").symlink_to("f1.yaml")
    assert scan(tmp_path, [""]) is None  # the compare decides what a link means
    assert scan(tmp_path, ["b"], settle=False) == {}


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def test_a_scan_ahead_is_the_scan_and_leaves_no_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A render's scan of the output folder runs in a forked process while the render works
    (manifest.Ahead): it gives what `scan` gives, raises what it raises, and its process is
    gone after `result()` and after `close()` (a render that ended before wanting it)."""
    from maestro.output import manifest

    for i in range(300):
        (tmp_path / "a" / f"m{i % 7}").mkdir(parents=True, exist_ok=True)
        (tmp_path / "a" / f"m{i % 7}" / f"f{i}.yaml").write_text("x" * i)
    ahead = manifest.Ahead(tmp_path, [""])
    assert ahead.pid and _alive(ahead.pid)
    pid = ahead.pid
    got = ahead.result()
    assert got == manifest.scan(tmp_path, [""]) and got is not None and len(got) == 300
    assert not _alive(pid)
    ahead = manifest.Ahead(tmp_path, ["a/m1"])
    pid = ahead.pid
    ahead.close()
    assert not _alive(pid)

    def failing(root: Path, scopes: list[str], *, settle: bool = True) -> Any:
        raise PermissionError(13, "Permission denied", str(root))

    monkeypatch.setattr(manifest, "scan", failing)  # the forked process inherits it
    with pytest.raises(PermissionError, match="Permission denied"):
        manifest.Ahead(tmp_path, [""]).result()


def test_a_render_takes_its_scan_ahead_and_waits_for_no_other(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A render with a manifest (not --model, --shard, --stdout, --no-cache) scans its output
    folder ahead, once; the tree and the no-op after it are as ever."""
    from maestro.output import manifest

    out = repo.parent / "out"
    render(repo, out, "--jobs", "1")
    ahead: list[list[str]] = []
    scans: list[bool] = []
    original_ahead, original_scan = manifest.Ahead.__init__, manifest.scan

    def started(self: Any, root: Path, scopes: list[str]) -> None:
        ahead.append(scopes)
        original_ahead(self, root, scopes)

    def scanning(root: Path, scopes: list[str], *, settle: bool = True) -> Any:
        scans.append(settle)
        return original_scan(root, scopes, settle=settle)

    monkeypatch.setattr(manifest.Ahead, "__init__", started)
    monkeypatch.setattr(manifest, "scan", scanning)
    _edit(
        repo / "specs" / "churn-predictor" / "maestro.yaml", "replicas: {min: 2, max: 6}", "replicas: {min: 2, max: 7}"
    )
    after = render(repo, out, "--jobs", "1")
    assert ahead == [[""]]
    assert scans == []  # in this process: the forked one made the scan this render used
    scans.clear()
    assert render(repo, out, "--jobs", "1") == after  # a no-op: the quick key and a scan of its own
    assert ahead == [[""]] and scans == [False]
    assert after == full(repo)


# ------------------------------------------------------------------ a one-spec change: read and write what changed


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[set[str]]]:
    """The files each compare read (those it did not know to be current)."""
    from maestro.output import emit

    seen: list[set[str]] = []
    original = emit.compare

    def spying(root: Path, scopes: list[str], files: Any, current: Any = None, same: Any = ()) -> Any:
        here = set(emit.tree_paths(root, scopes) if current is None else current)
        seen.append({k for k in files if k in here and k not in same})
        return original(root, scopes, files, current, same)

    monkeypatch.setattr(emit, "compare", spying)
    yield seen


def test_a_one_spec_change_reads_and_writes_only_what_it_changed(repo: Path, compared: list[set[str]]) -> None:
    out = repo.parent / "out"
    before = render(repo, out, "--jobs", "1")
    inodes = {rel: (out / rel).stat().st_ino for rel in before}
    # a hand edit of another model's file, in the same run: it is not trusted
    other = out / "dev" / "fraud-detector" / "kustomization.yaml"
    other.write_bytes(other.read_bytes().replace(b"resources", b"resourcez", 1))
    spec = repo / "specs" / "churn-predictor" / "maestro.yaml"
    spec.write_text(spec.read_text().replace("replicas: {min: 2, max: 6}", "replicas: {min: 2, max: 7}", 1))
    compared.clear()
    after = render(repo, out, "--jobs", "1")
    assert after == full(repo)
    read = compared[0]
    layers = ("/platform/", "/argocd/")
    assert {r for r in read if "/churn-predictor/" not in r and not any(s in r for s in layers)} == {
        "dev/fraud-detector/kustomization.yaml"
    }
    changed = {rel for rel in after if after[rel] != before.get(rel)}
    assert changed and all(
        rel.split("/")[1] in ("churn-predictor", "platform", "argocd")
        for rel in changed - {"dev/fraud-detector/kustomization.yaml"}
    )
    for rel in after:  # unchanged files are the old tree's, linked; changed ones are new
        kept = (out / rel).stat().st_ino == inodes.get(rel)
        assert kept == (rel in before and rel not in changed and rel != "dev/fraud-detector/kustomization.yaml"), rel


def test_a_whole_render_after_a_one_model_render_reads_only_what_changed(
    repo: Path, compared: list[set[str]], fronts: list[str]
) -> None:
    """Each selection (--env, --model) keeps its own manifest: a render of one model does not
    replace what the whole render recorded of every other file (before, the next whole
    render read all of them again). Files another selection rewrote are read, the rest not."""
    out = repo.parent / "out"
    render(repo, out, "--jobs", "1")
    _edit(
        repo / "specs" / "churn-predictor" / "maestro.yaml", "replicas: {min: 2, max: 6}", "replicas: {min: 2, max: 7}"
    )
    one = render(repo, out, "--jobs", "1", "--model", "churn-predictor", "--env", "prod")
    compared.clear()
    after = render(repo, out, "--jobs", "1")
    assert after == full(repo) and after != one
    layers = ("/platform/", "/argocd/")
    read = compared[0]
    assert read and all("/churn-predictor/" in r or any(s in r for s in layers) for r in read)
    # The one-model manifest vouches for its files while nobody else rewrote them...
    fronts.clear()
    assert render(repo, out, "--jobs", "1", "--model", "churn-predictor", "--env", "prod") == after
    assert fronts == []
    # ...and not after: the spec changes, the whole render rewrites the model's files, the
    # spec changes back (the one-model render's inputs are those it recorded again).
    spec = repo / "specs" / "churn-predictor" / "maestro.yaml"
    v1 = spec.read_text()
    _edit(spec, "replicas: {min: 2, max: 7}", "replicas: {min: 2, max: 8}")
    render(repo, out, "--jobs", "1")
    spec.write_text(v1)
    fronts.clear()
    again = render(repo, out, "--jobs", "1", "--model", "churn-predictor", "--env", "prod")
    assert fronts == ["front", "compare"]  # the stats it recorded are not those on disk
    scope = "prod/churn-predictor/"
    assert {k: v for k, v in again.items() if k.startswith(scope)} == {
        k: v for k, v in after.items() if k.startswith(scope)
    }


def _is_files(value: Any) -> bool:
    """Whether a cache entry holds a model-environment's files (name -> bytes)."""
    return isinstance(value, dict) and bool(value) and all(isinstance(v, bytes) for v in value.values())


def test_a_one_spec_change_reads_no_other_models_files(
    repo: Path, calls: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model-environment's files are kept apart from what every render reads of it: after a
    one-spec change the others' files are named (the manifest vouches for them) but never read
    from the cache. Gone or damaged, they are rendered again when they must be written."""
    from maestro.cache import read_entry

    out = repo.parent / "out"
    render(repo, out, "--jobs", "1")
    read: list[Any] = []
    original = Cache.get

    def spying(self: Cache, key: str) -> Any:
        value = original(self, key)
        read.append(value)
        return value

    monkeypatch.setattr(Cache, "get", spying)
    _edit(
        repo / "specs" / "churn-predictor" / "maestro.yaml", "replicas: {min: 2, max: 6}", "replicas: {min: 2, max: 7}"
    )
    after = render(repo, out, "--jobs", "1")
    parts = [v for v in read if isinstance(v, pipeline.ModelEnv)]
    assert len(parts) == 15 and all(p.files == {} and p.names for p in parts)  # 5 models x 3 envs
    assert not [v for v in read if _is_files(v)]
    assert after == full(repo)
    # The files of every model gone from the cache, and the tree too: they are rendered again.
    for entry in (repo / CACHE_DIR).glob("*/*"):
        if _is_files(read_entry(entry)):
            entry.unlink()
    shutil.rmtree(out)
    calls.clear()
    assert render(repo, out, "--jobs", "1") == after
    assert len(calls) == 18


def test_one_environment_or_model_after_a_whole_render_renders_nothing_again(
    repo: Path, calls: list[tuple[str, str]]
) -> None:
    """A model-environment's key holds its environment's inputs, not the selection's: after a
    whole render, `--env E` and `--model M --env E` (the Argo CD plugin's selection) render no
    model again (their specs are checked for the selection), and write what a render without
    the cache writes."""
    out = repo.parent / "out"
    whole = render(repo, out, "--jobs", "1")
    calls.clear()
    assert render(repo, out, "--jobs", "1", "--env", "prod") == whole
    assert render(repo, out, "--jobs", "1", "--model", "fraud-detector", "--env", "dev") == whole
    assert calls == []
    # An overlay of another environment changes: prod's models are its own still.
    _edit(repo / "overlays" / "dev" / "overlay.yaml", "commonAnnotations:\n", "commonAnnotations:\n  a.example/x: y\n")
    assert render(repo, out, "--jobs", "1", "--env", "prod") == whole
    assert calls == []
    after = render(repo, out, "--jobs", "1", "--env", "dev")
    assert {env for env, _ in calls} == {"dev"} and len(calls) == 6
    assert after == full(repo) != whole


WAIVER = """  waivers:
    - rule: MPS002
      reason: replica budget under review
      until: "{until}"
"""


def test_a_spec_with_waivers_is_rendered_again_for_a_selection_that_allows_other_waivers(
    repo: Path, calls: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """How long a waiver may run is the strictest selected environment's limit (prod 30 days,
    dev 180): a spec that writes waivers has model-environments per that limit; one that
    writes none shares them across selections."""
    import datetime as dt

    monkeypatch.setenv("MAESTRO_TODAY", "2030-01-01")
    spec = repo / "specs" / "churn-predictor" / "maestro.yaml"
    until = (dt.date(2030, 1, 1) + dt.timedelta(days=20)).isoformat()  # allowed everywhere
    _edit(spec, "\nspec:\n", "\n" + WAIVER.format(until=until) + "spec:\n")
    out = repo.parent / "out"
    render(repo, out, "--jobs", "1")  # the limit: prod's 30 days
    calls.clear()
    dev = render(repo, out, "--jobs", "1", "--env", "dev")  # the limit: dev's 180 days
    assert calls == [("dev", "churn-predictor")]
    nocache = render(repo, repo.parent / "nocache", "--no-cache", "--jobs", "1", "--env", "dev")
    assert {k: v for k, v in dev.items() if k.startswith("dev/")} == nocache
    calls.clear()
    render(repo, out, "--jobs", "1", "--env", "prod")  # prod's 30 days again: as the whole render
    assert calls == []


def test_a_removed_model_leaves_no_folder_behind(repo: Path) -> None:
    out = repo.parent / "out"
    render(repo, out, "--jobs", "1")
    assert (out / "prod" / "churn-predictor").is_dir()
    shutil.rmtree(repo / "specs" / "churn-predictor")
    after = render(repo, out, "--jobs", "1")
    assert after == full(repo)
    assert not any((out / env / "churn-predictor").exists() for env in ("dev", "staging", "prod"))


# ------------------------------------------------------------------ the quick key: a no-op before the workspace


def _workspace_loads(monkeypatch: pytest.MonkeyPatch, command: Any) -> list[Path]:
    """The repositories whose workspace the verb module `command` loads from now on."""
    seen: list[Path] = []
    original = command.load_workspace

    def counting(root: Path, *args: Any) -> Any:
        seen.append(root)
        return original(root, *args)

    monkeypatch.setattr(command, "load_workspace", counting)
    return seen


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The repositories whose workspace `maestro render` loaded (config and overlays parsed)."""
    from maestro.commands import render as render_command

    return _workspace_loads(monkeypatch, render_command)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _policy_comment(repo: Path) -> None:
    policy = sorted((repo / "policies" / "k8s").glob("*.rego"))[0]
    policy.write_text(policy.read_text() + "\n# reviewed\n")


def _made(folder: Path) -> Path:
    folder.mkdir()
    return folder


# What a changed input does to the next render: each must make it take the full path (extra
# arguments returned are given to that render and the ones after).
QUICK_CHANGES: dict[str, Any] = {
    "config file": lambda repo, mp: _edit(
        repo / "config" / "platform.yaml",
        "budget: {monthly: 40000, cpu_hours: 500",
        "budget: {monthly: 41000, cpu_hours: 500",
    ),
    "overlay file": lambda repo, mp: _edit(
        repo / "overlays" / "prod" / "overlay.yaml",
        "commonAnnotations:\n",
        "commonAnnotations:\n  example.com/cost-center: ml\n",
    ),
    "policy file": lambda repo, mp: _policy_comment(repo),
    "spec file": lambda repo, mp: _edit(
        repo / "specs" / "churn-predictor" / "maestro.yaml", "replicas: {min: 2, max: 6}", "replicas: {min: 2, max: 7}"
    ),
    "file beside a spec": lambda repo, mp: (repo / "specs" / "churn-predictor" / "NOTES.md").write_text("notes\n"),
    "spec removed": lambda repo, mp: shutil.rmtree(repo / "specs" / "churn-predictor"),
    "MAESTRO_ variable": lambda repo, mp: mp.setenv("MAESTRO_GITOPS__TARGET_REVISION", "release-9"),
    "MAESTRO_TODAY": lambda repo, mp: mp.setenv("MAESTRO_TODAY", "2031-01-01"),
    "the date": lambda repo, mp: mp.setattr("maestro.keys.today", lambda: __import__("datetime").date(2031, 1, 1)),
    # outside the repository, as before: the specs are named by the same (absolute) paths
    "working directory": lambda repo, mp: mp.chdir(_made(repo.parent / "elsewhere")),
    "working directory in specs/": lambda repo, mp: mp.chdir(repo / "specs"),  # names them relative to it
    "--env": lambda repo, mp: ["--env", "prod"],
}


@pytest.mark.parametrize("change", list(QUICK_CHANGES))
def test_every_input_of_the_quick_key_when_changed_takes_the_full_path(
    repo: Path, loads: list[Path], monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    out = repo.parent / "out"
    first = render(repo, out, "--jobs", "1")
    assert render(repo, out, "--jobs", "1") == first
    assert len(loads) == 1  # the second render was decided by the quick key
    extra = QUICK_CHANGES[change](repo, monkeypatch)
    extra = extra if isinstance(extra, list) else []
    after = render(repo, out, "--jobs", "1", *extra)
    assert len(loads) == 2  # the full path
    assert render(repo, out, "--jobs", "1", *extra) == after
    assert len(loads) == 2  # the quick key of the changed inputs was recorded
    assert after == full(repo)


def _stdout(repo: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["--root", str(repo), "render", "--stdout", "--env", "dev", "--model", "churn-predictor", *extra])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("change", list(QUICK_CHANGES))
def test_render_stdout_from_the_quick_key_is_what_the_full_path_prints(
    repo: Path, loads: list[Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], change: str
) -> None:
    """The Argo CD plugin's call (`render --stdout`) whose inputs are unchanged prints what it
    printed, decided from the quick key before the workspace loads; each input, changed,
    takes the full path, and what that prints is what a render without the cache prints."""
    first = _stdout(repo, capsys)
    assert first[0] == 0 and first[1].startswith("---\n") and len(loads) == 1
    assert _stdout(repo, capsys) == first
    assert len(loads) == 1  # decided by the quick key
    extra = QUICK_CHANGES[change](repo, monkeypatch)
    extra = extra if isinstance(extra, list) else []
    after = _stdout(repo, capsys, *extra)
    assert len(loads) == 2  # the full path
    if change == "spec removed":
        assert after[0] == 2 and after[1] == ""
        return
    assert _stdout(repo, capsys, *extra) == after
    assert len(loads) == 2  # then quick again
    assert after[:2] == _stdout(repo, capsys, *extra, "--no-cache")[:2]


def test_render_stdout_from_the_quick_key_keeps_strict_and_warnings(
    repo: Path, loads: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A warning printed by the full path is printed again from the cache, and --strict (not
    in the key) still fails on it."""
    spec = repo / "specs" / "churn-predictor" / "maestro.yaml"
    _edit(spec, "parallelism: ", "parallelism: 99 #")  # more workers than trials: M209, a warning
    rc, out, err = _stdout(repo, capsys)
    assert rc == 0 and out and "M209" in err
    assert _stdout(repo, capsys) == (rc, out, err) and len(loads) == 1
    rc, out, err = _stdout(repo, capsys, "--strict")
    assert (rc, out) == (1, "") and "M209" in err and len(loads) == 1


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The repositories whose workspace `maestro validate` loaded (config and overlays parsed)."""
    from maestro.commands import validate as validate_command

    return _workspace_loads(monkeypatch, validate_command)


def _validate(repo: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()
    spec = repo / "specs" / "churn-predictor" / "maestro.yaml"
    rc = main(["--root", str(repo), "validate", str(spec), *extra])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("change", list(QUICK_CHANGES))
def test_validate_from_the_quick_key_is_what_the_full_path_prints(
    repo: Path,
    validations: list[Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change: str,
) -> None:
    """`validate` of inputs it validated before prints what it printed, decided from the quick
    key before the workspace loads; each input, changed, takes the full path, and what that
    prints is what a validate without the cache prints."""
    first = _validate(repo, capsys)
    assert first[0] == 0 and "1 spec(s) valid" in first[1] and len(validations) == 1
    assert _validate(repo, capsys) == first
    assert len(validations) == 1  # decided by the quick key
    extra = QUICK_CHANGES[change](repo, monkeypatch)
    extra = extra if isinstance(extra, list) else []
    after = _validate(repo, capsys, *extra)
    assert len(validations) == 2  # the full path
    assert _validate(repo, capsys, *extra) == after
    assert len(validations) == 2  # then quick again
    assert after == _validate(repo, capsys, *extra, "--no-cache")
    assert len(validations) == 3  # --no-cache reads no kept outcome


def test_validate_from_the_quick_key_keeps_findings_formats_and_strict(
    repo: Path, validations: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Findings are kept, not their text: each --format prints them from the cache as the full
    path does; --strict (not in the key) still fails on a kept warning, errors still fail."""
    spec = repo / "specs" / "churn-predictor" / "maestro.yaml"
    _edit(spec, "parallelism: ", "parallelism: 99 #")  # more workers than trials: M209, a warning
    rc, out, err = _validate(repo, capsys)
    assert rc == 0 and "M209" in out
    assert _validate(repo, capsys) == (rc, out, err) and len(validations) == 1
    strict = _validate(repo, capsys, "--strict")
    assert strict[0] == 1 and "M209" in strict[1] and len(validations) == 1
    for fmt in ("json", "github", "sarif"):
        assert _validate(repo, capsys, "--format", fmt) == _validate(repo, capsys, "--format", fmt, "--no-cache")
    _edit(spec, "framework: sklearn", "framework: sklearnn")  # an error
    broken = _validate(repo, capsys)
    assert broken[0] == 1 and _validate(repo, capsys) == broken


def test_validate_keeps_no_outcome_of_a_failed_policy_set(
    repo: Path, validations: list[Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A policy set that failed (a time bound, a crash) may pass on the next run: the next
    validate checks again."""
    from maestro.policy.governance import Governance

    monkeypatch.setattr(Governance, "failed", property(lambda self: True))
    _validate(repo, capsys)
    _validate(repo, capsys)
    assert len(validations) == 2


def test_a_no_op_decided_by_the_quick_key_imports_no_pydantic(repo: Path, loads: list[Path]) -> None:
    """The no-op render in a fresh process (`python -X importtime -m maestro`, the CLI's path):
    neither pydantic nor a YAML parser nor the pipeline is imported. The same command after a
    spec change imports them (the check can see them)."""
    import subprocess
    import sys

    out = repo.parent / "out"
    first = render(repo, out, "--jobs", "1")

    def imported() -> tuple[str, set[str]]:
        cmd = [sys.executable, "-X", "importtime", "-m", "maestro", "--root", str(repo), "render", "--out", str(out)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        lines = [line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
        return done.stdout, set(lines)

    heavy = {"pydantic", "pydantic_core", "pydantic_settings", "ruamel.yaml", "maestro.pipeline", "maestro.resolve"}
    printed, modules = imported()
    assert "0 file(s) changed" in printed
    assert "maestro.keys" in modules  # what it decided with
    assert not heavy & modules
    assert read_tree(out, [""]) == first
    _edit(
        repo / "specs" / "churn-predictor" / "maestro.yaml", "replicas: {min: 2, max: 6}", "replicas: {min: 2, max: 7}"
    )
    printed, modules = imported()
    assert " 0 file(s) changed" not in printed and "file(s) changed" in printed
    assert heavy <= modules


def test_a_quick_key_miss_whose_run_key_matches_records_the_quick_key(
    repo: Path, loads: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The quick key hashes every overlay; a render of one environment has the same run key
    after another environment's overlay changed: nothing to do, and the next is quick."""
    out = repo.parent / "out"
    first = render(repo, out, "--jobs", "1", "--env", "prod")
    _edit(
        repo / "overlays" / "dev" / "overlay.yaml", "commonAnnotations:\n", "commonAnnotations:\n  example.com/x: y\n"
    )
    capsys.readouterr()
    assert render(repo, out, "--jobs", "1", "--env", "prod") == first
    assert "0 file(s) changed" in capsys.readouterr().out
    assert len(loads) == 2  # the full path, which found the run key unchanged
    assert render(repo, out, "--jobs", "1", "--env", "prod") == first
    assert len(loads) == 2


def test_the_extra_crd_schemas_are_in_the_quick_key(repo: Path, loads: list[Path]) -> None:
    config = repo / "config" / "platform.yaml"
    _edit(config, "# crd_schema_dir: crd-schemas", "crd_schema_dir: crd-schemas")
    (repo / "crd-schemas").mkdir()
    out = repo.parent / "out"
    first = render(repo, out, "--jobs", "1")
    assert render(repo, out, "--jobs", "1") == first
    assert len(loads) == 1
    (repo / "crd-schemas" / "README.md").write_text("schemas of our own operators\n")
    assert render(repo, out, "--jobs", "1") == first
    assert len(loads) == 2
    shutil.rmtree(repo / "crd-schemas")  # config names a folder that is not there: a usage error, as without a cache
    assert main(["--root", str(repo), "render", "--out", str(out)]) == 2
    assert main(["--root", str(repo), "render", "--out", str(repo.parent / "full"), "--no-cache"]) == 2


def test_render_model_keys_its_own_spec_folder_alone(repo: Path, loads: list[Path]) -> None:
    """`render --model M` reads only specs/M/ (the Argo CD plugin's and a developer's loop), so
    its keys hash only that folder: another model's edit leaves it a no-op decided by the quick
    key; an edit of its own folder takes the full path and gives the `--no-cache` tree."""
    out = repo.parent / "out"
    one = ["--model", "churn-predictor", "--env", "dev"]
    render(repo, out, "--jobs", "1")
    first = render(repo, out, "--jobs", "1", *one)
    assert len(loads) == 2
    _edit(repo / "specs" / "fraud-detector" / "maestro.yaml", "fraud", "fraud ")  # any byte of another folder
    assert render(repo, out, "--jobs", "1", *one) == first
    assert len(loads) == 2  # quick: its key holds no other folder
    _edit(repo / "specs" / "churn-predictor" / "maestro.yaml", "dev: {tuning: {trials: 4}", "dev: {tuning: {trials: 5}")
    after = render(repo, out, "--jobs", "1", *one)
    assert len(loads) == 3
    scope = "dev/churn-predictor/"
    assert (
        {k: v for k, v in after.items() if k.startswith(scope)}
        == {k: v for k, v in full(repo).items() if k.startswith(scope)}
        != {k: v for k, v in first.items() if k.startswith(scope)}
    )


def test_a_render_that_misses_starts_the_policies_before_it_checks(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The policy workers load while the render parses and checks the specs (as `validate`'s
    do), not when the first check needs them; a render from the cache starts none (above)."""
    from maestro.policy.governance import Governance

    events: list[str] = []
    original_start = Governance.start.__func__  # type: ignore[attr-defined]
    original_check = pipeline.check_file

    def start(cls: Any, *args: Any, **kwargs: Any) -> Any:
        events.append("start")
        return original_start(cls, *args, **kwargs)

    def check(*args: Any, **kwargs: Any) -> Any:
        events.append("check")
        return original_check(*args, **kwargs)

    monkeypatch.setattr(Governance, "start", classmethod(start))
    monkeypatch.setattr(pipeline, "check_file", check)
    render(repo, repo.parent / "out", "--jobs", "1")
    assert events[0] == "start" and events.count("start") == 1 and "check" in events


def test_an_edit_while_a_render_runs_is_seen_by_the_next(
    repo: Path, loads: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quick key recorded is of the bytes before the render read them: a spec edited
    after it was read (here: while the tree is compared) makes the next render miss."""
    from maestro.output import emit

    out = repo.parent / "out"
    render(repo, out, "--jobs", "1")
    spec = repo / "specs" / "churn-predictor" / "maestro.yaml"
    _edit(spec, "replicas: {min: 2, max: 6}", "replicas: {min: 2, max: 7}")
    compare = emit.compare

    def edited_meanwhile(*args: Any, **kwargs: Any) -> Any:
        if "max: 7" in spec.read_text():
            _edit(spec, "replicas: {min: 2, max: 7}", "replicas: {min: 2, max: 8}")
        return compare(*args, **kwargs)

    monkeypatch.setattr(emit, "compare", edited_meanwhile)
    render(repo, out, "--jobs", "1")  # renders max: 7, its spec now says max: 8
    monkeypatch.setattr(emit, "compare", compare)
    assert len(loads) == 2
    after = render(repo, out, "--jobs", "1")
    assert len(loads) == 3  # not the no-op the recorded key would have vouched for
    assert render(repo, out, "--jobs", "1") == after
    assert len(loads) == 3
    assert after == full(repo)
    assert b"maxReplicas: 8" in b"".join(v for k, v in after.items() if "churn-predictor" in k)


def test_a_one_spec_change_links_again_only_the_namespaces_it_touches(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The link stage's findings are kept by namespace (pipeline._linked). Each example model
    has a team namespace of its own: after a change of one spec no other model's objects are
    read back, and a finding in another namespace is reported as without the cache."""
    overlay = repo / "overlays" / "prod" / "overlay.yaml"
    _edit(
        overlay,
        "patches:\n",
        "patches:\n"
        "  - target: {group: serving.kserve.io, kind: InferenceService, name: fraud-detector}\n"
        "    patch: |-\n"
        "      - op: add\n"
        "        path: /spec/predictor/serviceAccountName\n"
        "        value: ghost\n",
    )
    out = repo.parent / "out"

    def findings(*extra: str) -> list[str]:
        rc = main(["--root", str(repo), "render", "--out", str(out), "--jobs", "1", *extra])
        printed = capsys.readouterr()
        assert rc == 1
        return [line for line in (printed.out + printed.err).splitlines() if " M83" in line]

    first = findings()
    assert len(first) == 1 and "ServiceAccount 'ghost'" in first[0] and first[0].startswith("overlays/prod/")
    read_back: list[tuple[str, str]] = []
    original = pipeline._with_objects

    def counting(inc: Any, part: Any, *args: Any) -> Any:
        if not part.objects:
            read_back.append((part.env, part.model))
        return original(inc, part, *args)

    monkeypatch.setattr(pipeline, "_with_objects", counting)
    linked: list[str] = []
    original_link = link.link

    def linking(inp: Any, checks: Any = None, only: Any = None) -> Any:
        linked.extend(only or ["(all)"])
        return original_link(inp, checks, only)

    monkeypatch.setattr(link, "link", linking)
    _edit(
        repo / "specs" / "churn-predictor" / "maestro.yaml", "replicas: {min: 2, max: 6}", "replicas: {min: 2, max: 7}"
    )
    assert findings() == first
    assert sorted(linked) == ["growth-dev", "growth-prod", "growth-staging"]
    assert read_back == []  # churn-predictor's own objects were just rendered
    assert findings("--no-cache") == first


def test_a_render_hashes_each_spec_folder_once(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The quick key and the render's own keys share each spec folder's digest."""
    from maestro import keys

    hashed: list[Path] = []
    original = keys.folder_key

    def counting(path: Path, shown: str) -> str:
        hashed.append(path)
        return original(path, shown)

    monkeypatch.setattr(keys, "folder_key", counting)
    monkeypatch.setattr(pipeline, "folder_key", counting)
    out = repo.parent / "out"
    first = render(repo, out, "--jobs", "1")
    specs = sorted((repo / "specs").glob("*/maestro.yaml"))
    assert sorted(hashed) == specs
    _edit(repo / "specs" / "sentiment-bert" / "maestro.yaml", "  description: ", "  description: edited ")
    hashed.clear()
    assert render(repo, out, "--jobs", "1") != first
    assert sorted(hashed) == specs
    assert read_tree(out, [""]) == full(repo)
