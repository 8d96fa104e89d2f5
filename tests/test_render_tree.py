"""The rendered tree: current, buildable by kubectl kustomize, deterministic, atomic.

The committed `rendered/` is the golden output; `pytest --update-goldens` regenerates it
(then review `git diff rendered/`).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from conftest import ROOT, require_tool
from maestro.cli import main
from maestro.output.emit import read_tree
from maestro.resolve import workspace

RENDERED = ROOT / "rendered"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for sub in ("config", "specs", "overlays", "schemas", "policies"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    return tmp_path


def test_rendered_tree_is_current(capsys: pytest.CaptureFixture[str], update_goldens: bool) -> None:
    if update_goldens:
        assert run(capsys, "--root", str(ROOT), "render")[0] == 0
    rc, out, err = run(capsys, "--root", str(ROOT), "render", "--check")
    assert rc == 0, out + err


def _docs(text: str) -> list[dict]:
    return [d for d in YAML(typ="safe").load_all(text) if d is not None]


@pytest.mark.parametrize(
    "folder", sorted(str(p.relative_to(RENDERED)) for p in RENDERED.glob("*/*") if (p / "kustomization.yaml").exists())
)
def test_every_folder_builds_with_kubectl_kustomize(folder: str) -> None:
    kubectl = require_tool("kubectl")
    built = subprocess.run([kubectl, "kustomize", str(RENDERED / folder)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    ours = [
        d
        for f in sorted((RENDERED / folder).glob("*.yaml"))
        if f.name != "kustomization.yaml"
        for d in _docs(f.read_text())
    ]
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    # kustomize re-orders objects and may drop empty maps; the content is the same.
    assert sorted(_docs(built.stdout), key=key) == sorted(ours, key=key)


def test_render_twice_and_shuffled_discovery_is_byte_identical(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "--root", str(repo), "render", "--out", str(repo / "a"))[0] == 0
    original = workspace.discover

    def shuffled(root: Path) -> list[Path]:
        paths = original(root)
        random.Random(7).shuffle(paths)
        return list(reversed(paths))

    monkeypatch.setattr(workspace, "discover", shuffled)
    assert run(capsys, "--root", str(repo), "render", "--out", str(repo / "b"))[0] == 0
    a, b = read_tree(repo / "a", [""]), read_tree(repo / "b", [""])
    assert a == b and a
    assert a == read_tree(RENDERED, [""])


def test_check_lists_added_changed_removed(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = repo / "rendered"
    assert run(capsys, "--root", str(repo), "render")[0] == 0
    (out_dir / "prod" / "stale").mkdir()
    (out_dir / "prod" / "stale" / "x.yaml").write_text("x: 1\n")
    victim = next((out_dir / "dev" / "fraud-detector").glob("inferenceservice-*.yaml"))
    victim.write_text(victim.read_text() + "# edited\n")
    (out_dir / "staging" / "sentiment-bert" / "kustomization.yaml").unlink()
    before = read_tree(out_dir, [""])
    rc, out, _err = run(capsys, "--root", str(repo), "render", "--check")
    assert rc == 1
    assert "added: rendered/staging/sentiment-bert/kustomization.yaml" in out
    assert f"changed: rendered/dev/fraud-detector/{victim.name}" in out
    assert "removed: rendered/prod/stale/x.yaml" in out
    assert read_tree(out_dir, [""]) == before  # --check writes nothing
    assert run(capsys, "--root", str(repo), "render")[0] == 0
    assert not (out_dir / "prod" / "stale").exists()


def test_deleted_spec_disappears_and_filters_limit_scope(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = repo / "rendered"
    assert run(capsys, "--root", str(repo), "render")[0] == 0
    shutil.rmtree(repo / "specs" / "sentiment-bert")
    marker = out_dir / "staging" / "fraud-detector" / "kustomization.yaml"
    marker.write_text("# stale\n")
    assert run(capsys, "--root", str(repo), "render", "--env", "dev")[0] == 0
    assert not (out_dir / "dev" / "sentiment-bert").exists()
    assert (out_dir / "prod" / "sentiment-bert").exists()  # outside --env dev: untouched
    assert marker.read_text() == "# stale\n"
    assert run(capsys, "--root", str(repo), "render", "--env", "staging", "--model", "fraud-detector")[0] == 0
    assert marker.read_text() != "# stale\n"
    assert run(capsys, "--root", str(repo), "render")[0] == 0
    assert not (out_dir / "prod" / "sentiment-bert").exists()


def test_invalid_spec_writes_nothing(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--root", str(repo), "render")[0] == 0
    before = read_tree(repo / "rendered", [""])
    spec = repo / "specs" / "fraud-detector" / "maestro.yaml"
    spec.write_text(spec.read_text().replace("min: 2, max: 12", "min: 20, max: 12"))
    rc, out, err = run(capsys, "--root", str(repo), "render")
    assert rc == 1 and "M204" in out and "nothing written" in err
    assert read_tree(repo / "rendered", [""]) == before


def test_refuses_dangerous_output_folder(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--root", str(repo), "render", "--out", str(repo))
    assert rc == 2 and "M703" in out


def test_bad_patch_in_overlay_is_positioned(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    overlay = repo / "overlays" / "prod" / "overlay.yaml"
    overlay.write_text(
        overlay.read_text().replace(
            "path: /spec/predictor/priorityClassName", "path: /spec/predictor/nope/priorityClassName"
        )
    )
    rc, out, _ = run(capsys, "--root", str(repo), "render")
    assert rc == 1
    assert "overlays/prod/overlay.yaml:" in out


def test_killed_render_leaves_old_or_new_tree(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = repo / "out"
    assert run(capsys, "--root", str(repo), "render", "--out", str(out_dir))[0] == 0
    old = read_tree(out_dir, [""])
    spec = repo / "specs" / "fraud-detector" / "maestro.yaml"
    spec.write_text(spec.read_text().replace("min: 2, max: 12", "min: 2, max: 11"))
    assert run(capsys, "--root", str(repo), "render", "--out", str(repo / "expected"))[0] == 0
    new = read_tree(repo / "expected", [""])
    assert new != old
    cmd = [sys.executable, "-m", "maestro", "--root", str(repo), "render", "--out", str(out_dir)]
    seen_old = False
    for delay in (0.2, 0.5, 0.8, 1.1, 1.5, 2.0, 3.0, 5.0, 8.0):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = read_tree(out_dir, [""])
        assert now in (old, new), f"mixed tree after a kill at {delay}s"
        seen_old = seen_old or now == old
        if now == new:
            break
    assert seen_old, "every kill came too late to test anything"
    spec.write_text(spec.read_text().replace("min: 2, max: 11", "min: 2, max: 12"))
    assert run(capsys, "--root", str(repo), "render", "--out", str(out_dir))[0] == 0
    assert read_tree(out_dir, [""]) == old
    assert not list(repo.glob(".out.staging-*"))  # a later render cleans what a killed one left


# Paths where a file in one tree is a folder in another ("d" and "d/b.yaml"): the spare must
# turn one into the other. "dev/" is the scope of a --env render.
_PATHS = ("a.yaml", "d", "d/b.yaml", "d/e/c.yaml", "dev/m/k.yaml", "dev/m", "dev/n.yaml", "prod/m/k.yaml", "x/y")


def _tree_of(chosen: dict[str, bytes]) -> dict[str, bytes]:
    """A tree: no file where another file's folder is."""
    return {p: b for p, b in chosen.items() if not any(q.startswith(p + "/") for q in chosen)}


_trees = st.dictionaries(st.sampled_from(_PATHS), st.sampled_from([b"1", b"2", b"33"]), max_size=7).map(_tree_of)
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("render"), _trees, st.sampled_from(["", "dev"])),
        # by hand, between renders: bytes written into the file (its inode, shared with the
        # spare), a new file renamed over it, a removal, a new file (outside the scope too)
        st.tuples(st.sampled_from(["in place", "renamed over", "removed", "added"]), st.sampled_from(_PATHS)),
    ),
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(_steps)
@example([("render", {"d/b.yaml": b"1"}, ""), ("removed", "d/b.yaml"), ("added", "d"), ("render", {"d": b"2"}, "")])
def test_a_write_through_the_spare_tree_leaves_what_a_full_copy_does(steps: list[tuple]) -> None:
    """write_tree, as a render calls it (the changes against a scan of the scope), on trees
    where files become folders and back, with the output edited by hand in between: the
    root holds the new files within the scope and what it held outside, whatever the spare
    (emit._Spare) holds; the spare is then used, not rebuilt (also where a real render would
    find it stale and copy the tree afresh: these trees are tiny)."""
    from maestro.output import emit
    from maestro.output.emit import compare, write_tree
    from maestro.output.manifest import scan

    stale = emit._stale
    emit._stale = lambda known, full: False  # not a fixture: hypothesis runs this body many times
    try:
        _write_through_the_spare(steps, compare, write_tree, scan)
    finally:
        emit._stale = stale


def _write_through_the_spare(steps: list[tuple], compare: Any, write_tree: Any, scan: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "out"
        for step in steps:
            now = read_tree(root, [""]) if root.is_dir() else {}
            if step[0] == "render":
                _, tree, scope = step
                files = {p: b for p, b in tree.items() if p.startswith(scope)}
                kept = {p: b for p, b in now.items() if not p.startswith(scope)}
                if any(q.startswith(p + "/") or p.startswith(q + "/") for p in files for q in kept):
                    continue  # a scope's file where a folder outside it is: not a tree a render makes
                before = scan(root, [scope], settle=False)
                changes = compare(root, [scope], files, before)
                spare = Path(tmp) / ".out.spare" / "tree"
                inode = spare.stat().st_ino if spare.is_dir() else None
                write_tree(root, [scope], files, changes, before)
                assert read_tree(root, [""]) == kept | files
                if inode is not None and changes:
                    assert (root.stat().st_ino) == inode  # the spare was swapped in, not rebuilt
                continue
            how, rel = step
            path = root / rel
            if how == "added":
                # not where a folder is: the files' own, or one a removal by hand left empty
                if (
                    not root.is_dir()
                    or path.is_dir()
                    or any(q.startswith(rel + "/") or rel.startswith(q + "/") for q in now)
                ):
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"by hand")
            elif rel in now and how == "in place":
                with open(path, "r+b") as f:
                    f.write(b"9")
            elif rel in now and how == "renamed over":
                (root / "tmp").write_bytes(b"by hand")
                os.replace(root / "tmp", path)
            elif rel in now:
                path.unlink()


# ------------------------------------------------------------------ cluster semantics of the committed tree


def _objects() -> list[tuple[str, dict]]:
    return [
        (str(f.relative_to(RENDERED)), d)
        for f in sorted(RENDERED.glob("*/*/*.yaml"))
        if f.name != "kustomization.yaml"
        for d in _docs(f.read_text())
    ]


def _env_values(node: object, name: str) -> list[str]:
    """Every `value` of a container env entry called `name`, anywhere in the object."""
    if isinstance(node, dict):
        found = [node["value"]] if node.get("name") == name and isinstance(node.get("value"), str) else []
        return found + [s for v in node.values() for s in _env_values(v, name)]
    if isinstance(node, list):
        return [s for v in node for s in _env_values(v, name)]
    return []


def test_every_pod_in_every_environment_gets_an_in_cluster_tracking_server() -> None:
    uris = [(where, uri) for where, d in _objects() for uri in _env_values(d, "MLFLOW_TRACKING_URI")]
    assert {where.split("/")[0] for where, _ in uris} == {"dev", "staging", "prod"}
    for where, uri in uris:
        assert uri.startswith(("http://", "https://")), (where, uri)


def test_render_shows_progress_on_a_terminal_and_ends_with_a_summary(tmp_path: Path) -> None:
    """stderr on a terminal: a progress bar once rendering takes over PROGRESS_AFTER; stdout (a
    pipe here) gets exactly one line, the summary. The threshold is zeroed in the child: the
    examples render in under a second on a fast machine, and then no bar is the right output."""
    import os
    import pty
    import re

    master, slave = pty.openpty()
    child = (
        "import sys, maestro.commands.render as r; r.PROGRESS_AFTER = 0.0; "
        "from maestro.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.Popen(
        # --no-cache: a render served from .maestro/cache/ has nothing to show progress for
        [sys.executable, "-c", child, "--root", str(ROOT), "render", "--out", str(tmp_path / "out"), "--no-cache"],
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "100"},
    )
    # Read the terminal while the child runs: once the last slave descriptor closes, Linux may
    # drop what the master has not read yet (reading only after the child exited saw nothing
    # under load). The read ends with EIO when the child's descriptor closes.
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    stdout, _ = proc.communicate(timeout=600)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout)
    assert done.returncode == 0, shown.decode(errors="replace")
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    assert re.fullmatch(
        r"rendered 6 model\(s\) in 3 environment\(s\), \d+ objects into \S+: \d+ file\(s\) changed "
        r"\(\d+ added, 0 changed, 0 removed\) in \d+\.\d s",
        lines[0],
    ), lines[0]
    assert b"rendering" in shown


def _strings(node: object) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def test_every_istio_request_query_names_its_reporter() -> None:
    """Istio records each meshed request twice, once per side (reporter source and destination):
    a query without a reporter counts it twice. Dashboards hold the recording rules' expressions."""
    queries = [(where, s) for where, d in _objects() for s in _strings(d) if "istio_request" in s]
    assert len(queries) > 50
    for where, q in queries:
        for selector in re.findall(r"istio_request[a-z_]*\{([^}]*)\}", q):
            # in a dashboard's JSON the quotes are escaped
            assert re.search(r'reporter=\\?"(source|destination)\\?"', selector), (where, q)


def test_no_autoscaler_needs_a_custom_metrics_adapter() -> None:
    for where, d in _objects():
        if d["kind"] == "HorizontalPodAutoscaler":
            assert {m["type"] for m in d["spec"]["metrics"]} == {"Resource"}, where
