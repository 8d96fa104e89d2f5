"""Fault tests: renders of one output folder at the same time, and edits between renders.

Two renders at once lost files and exited 0 (issue 14): the second deleted the first's
staging folder, the first recreated it with the files it had left to write and swapped in a
partial tree. Here each render is the real CLI in a forked process on real files. The first
is paused in the middle of writing its staging tree (a delay injected into its own process
only: its `Path.write_bytes`), the inputs change, a second render starts and is let run until
it exits or waits for the output lock (as the kernel reports it in /proc/locks), then the
first resumes. Whatever the interleaving, the final tree must equal a clean render of the
final inputs, and no staging folder may stay behind.
"""

from __future__ import annotations

import os
import random
import re
import select
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from conftest import ROOT
from maestro.cli import main
from maestro.output.emit import read_tree

ITERATIONS = 12
MODELS = ("churn-predictor", "fraud-detector")  # two models are enough to lose files

pytestmark = pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc/locks")


def make_repo(folder: Path) -> Path:
    for sub in ("config", "overlays", "schemas", "policies"):
        shutil.copytree(ROOT / sub, folder / sub)
    for model in MODELS:
        shutil.copytree(ROOT / "specs" / model, folder / "specs" / model)
    return folder


def render(root: Path, *extra: str) -> int:
    return main(["--root", str(root), "render", "--env", "dev", *extra])


def fork_render(root: Path, pause: tuple[int, int, int] | None = None) -> int:
    """A render in a child process. With `pause` (after, ready_fd, go_fd) it stops after
    writing that many files, says so on ready_fd and waits for a byte on go_fd."""
    pid = os.fork()
    if pid:
        if pause is not None:
            # the child's end only: a render that ends before pausing closes the pipe, and the
            # parent's select returns at once instead of at its timeout
            os.close(pause[1])
        return pid
    code = 99
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        if pause is not None:
            after, ready, go = pause
            original = Path.write_bytes
            written = [0]

            def write_bytes(self: Path, data: bytes) -> int:  # type: ignore[override]
                written[0] += 1
                if written[0] == after:
                    os.write(ready, b"w")
                    os.read(go, 1)
                return original(self, data)

            Path.write_bytes = write_bytes  # type: ignore[method-assign]
        code = render(root)
    finally:
        os._exit(code)


def exit_code(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def waits_for_a_lock(pid: int) -> bool:
    """Whether the kernel lists `pid` as blocked on a file lock ("->" lines of /proc/locks)."""
    for line in Path("/proc/locks").read_text().splitlines():
        parts = line.split()
        if "->" in parts and parts[parts.index("->") + 4 : parts.index("->") + 5] == [str(pid)]:
            return True
    return False


def run_until_exit_or_lock_wait(pid: int, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None or waits_for_a_lock(pid):
            return
        time.sleep(0.01)
    raise AssertionError(f"render {pid} neither finished nor waited for the lock in {seconds} s")


def edit(spec: Path, rng: random.Random) -> None:
    """A change that always changes the rendered tree of every environment: the model's
    description (it titles the Grafana dashboard)."""
    set_description(spec, rng.randrange(1_000_000))


def set_description(spec: Path, n: int) -> None:
    text = spec.read_text()
    new = re.sub(r"(?m)^(  description: [^\n#]*?)(?: v\d+)?$", rf"\g<1> v{n}", text, count=1)
    assert new != text or f" v{n}\n" in text, spec
    spec.write_text(new)


def clean_render(root: Path, out: Path) -> dict[str, bytes]:
    assert render(root, "--out", str(out)) == 0
    tree = read_tree(out, ["dev"])
    shutil.rmtree(out)
    return tree


def test_two_renders_at_once_end_with_a_clean_render_of_the_final_inputs(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    spec = root / "specs" / MODELS[0] / "maestro.yaml"
    rng = random.Random(14)
    assert render(root) == 0
    started, paused = time.monotonic(), 0
    for i in range(ITERATIONS):
        edit(spec, rng)
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        first = fork_render(root, (1, ready_w, go_r))  # a render writes only what changed: its first write
        if select.select([ready_r], [], [], 180)[0]:
            paused += bool(os.read(ready_r, 1))
        edit(spec, rng)
        second = fork_render(root)
        run_until_exit_or_lock_wait(second)
        os.write(go_w, b"g")
        codes = exit_code(first), exit_code(second)
        for fd in (ready_r, go_r, go_w):
            os.close(fd)
        assert codes == (0, 0), f"iteration {i}: exit codes {codes}"
        expected = clean_render(root, tmp_path / "clean")
        assert read_tree(root / "rendered", ["dev"]) == expected, f"iteration {i}: not a clean render of the inputs"
        assert not list(root.glob(".rendered.staging-*")) and not list(root.glob(".rendered.old-*"))
    assert paused == ITERATIONS  # every first render was caught mid-write
    print(f"\n{ITERATIONS} concurrent render pairs in {time.monotonic() - started:.1f} s", file=sys.stderr)


def kill_after_first_file(root: Path) -> None:
    """Run a render in a child process and kill it once it has written its first file."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = fork_render(root, (1, ready_w, go_r))
    assert select.select([ready_r], [], [], 180)[0]
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    for fd in (ready_r, go_r, go_w):
        os.close(fd)


def test_a_render_killed_mid_write_leaves_a_staging_folder_the_next_one_removes(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    spec = root / "specs" / MODELS[0] / "maestro.yaml"
    assert render(root) == 0
    before = read_tree(root / "rendered", [""])
    edit(spec, random.Random(1))
    kill_after_first_file(root)
    assert read_tree(root / "rendered", [""]) == before  # the old tree, untouched
    assert list(root.glob(".rendered.staging-*"))  # what the killed render left
    assert render(root) == 0  # no wait: the lock died with its process
    assert not list(root.glob(".rendered.staging-*"))
    assert read_tree(root / "rendered", ["dev"]) == clean_render(root, tmp_path / "clean")


def test_a_render_killed_while_it_updates_the_spare_tree_leaves_the_old_tree_and_no_trusted_spare(
    tmp_path: Path,
) -> None:
    """The second write goes through the spare tree the first one left (emit._Spare): killed
    after its first file, it leaves the old tree as it was and a spare without its state,
    which the next render does not trust: it builds the tree from a full copy again."""
    root = make_repo(tmp_path / "repo")
    spec = root / "specs" / MODELS[0] / "maestro.yaml"
    assert render(root) == 0
    edit(spec, random.Random(3))
    assert render(root) == 0  # the first write over a tree: its old tree becomes the spare
    state = root / ".rendered.spare" / "state"
    assert state.is_file() and (root / ".rendered.spare" / ".gitignore").read_text().endswith("*\n")
    before = read_tree(root / "rendered", [""])
    edit(spec, random.Random(4))
    kill_after_first_file(root)
    assert read_tree(root / "rendered", [""]) == before  # the old tree, untouched
    assert not list(root.glob(".rendered.staging-*"))  # it wrote in the spare
    assert not state.exists()  # which is not trusted any more
    assert render(root) == 0
    assert state.is_file()
    assert read_tree(root / "rendered", ["dev"]) == clean_render(root, tmp_path / "clean")


def test_a_render_that_changes_nothing_still_removes_what_a_killed_one_left(tmp_path: Path) -> None:
    """A render killed mid-write, then the inputs back as they were: the next render has
    nothing to write, and must still remove the killed render's staging folder (it only
    did so when it wrote, which made test_killed_render_leaves_old_or_new_tree flaky)."""
    root = make_repo(tmp_path / "repo")
    spec = root / "specs" / MODELS[0] / "maestro.yaml"
    assert render(root) == 0
    text = spec.read_text()
    edit(spec, random.Random(2))
    kill_after_first_file(root)
    assert list(root.glob(".rendered.staging-*"))
    spec.write_text(text)
    assert render(root) == 0  # 0 files changed
    assert not list(root.glob(".rendered.staging-*"))


def test_only_the_process_that_took_the_lock_holds_it(tmp_path: Path) -> None:
    """A process forked while the render lock is held (a policy worker, a `render --jobs`
    worker) does not hold it: asking for it there is refused (pretending would let it write
    unlocked; waiting would wait for the parent), and the worker ending leaves the parent's
    lock in place."""
    import errno
    import fcntl

    from maestro.output.lock import lock_path, output_lock

    out = tmp_path / "rendered"
    out.mkdir()

    def locked_by_another_process() -> bool:
        fd = os.open(lock_path(out), os.O_RDWR)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            assert exc.errno in (errno.EACCES, errno.EAGAIN)
            return True
        finally:
            os.close(fd)
        return False

    with output_lock(out):
        with output_lock(out):  # re-entrant in the process that holds it
            pass
        pid = os.fork()
        if pid == 0:
            code = 99
            try:
                code = 1 if locked_by_another_process() else 2
                try:
                    with output_lock(out):
                        code = 3
                except RuntimeError:
                    pass
            finally:
                os._exit(code)
        assert exit_code(pid) == 1  # the child saw the parent's lock and was refused it
        pid = os.fork()
        if pid == 0:
            os._exit(1 if locked_by_another_process() else 2)
        assert exit_code(pid) == 1  # still held after the first child ended
    pid = os.fork()
    if pid == 0:
        os._exit(1 if locked_by_another_process() else 2)
    assert exit_code(pid) == 2


# ------------------------------------------------------------------ edits and renders, interleaved


class EditsAndRenders(RuleBasedStateMachine):
    """Any sequence of spec edits, deletions, restores and renders (in this process, or two at
    once in forked processes with an edit between them) leaves, after every render,
    `rendered/` equal to a render of the current inputs (`render --check` exits 0) and no
    staging folder behind."""

    def __init__(self) -> None:
        super().__init__()
        self.base = Path(tempfile.mkdtemp(prefix="maestro-edits-renders-"))
        self.root = make_repo(self.base / "repo")
        self.rng = random.Random(0)
        self.rendered = False  # the last step rendered: the tree must be current

    @initialize()
    def first_render(self) -> None:
        assert render(self.root) == 0
        self.rendered = True

    @rule(model=st.sampled_from(MODELS), n=st.integers(min_value=0, max_value=9))
    def edit_description(self, model: str, n: int) -> None:
        spec = self.root / "specs" / model / "maestro.yaml"
        if spec.exists():
            set_description(spec, n)
        self.rendered = False

    @rule(model=st.sampled_from(MODELS))
    def delete_spec(self, model: str) -> None:
        shutil.rmtree(self.root / "specs" / model, ignore_errors=True)
        self.rendered = False

    @rule(model=st.sampled_from(MODELS))
    def restore_spec(self, model: str) -> None:
        if not (self.root / "specs" / model).exists():
            shutil.copytree(ROOT / "specs" / model, self.root / "specs" / model)
        self.rendered = False

    @rule()
    def render_now(self) -> None:
        assert render(self.root) == 0
        self.rendered = True

    @rule(after=st.integers(min_value=1, max_value=20), edit_between=st.booleans())
    def render_twice_at_once(self, after: int, edit_between: bool) -> None:
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        first = fork_render(self.root, (after, ready_w, go_r))
        select.select([ready_r], [], [], 180)  # it pauses, or ends if it had less to write
        spec = self.root / "specs" / MODELS[1] / "maestro.yaml"
        if edit_between and spec.exists():
            edit(spec, self.rng)
        second = fork_render(self.root)
        run_until_exit_or_lock_wait(second)
        os.write(go_w, b"g")
        codes = exit_code(first), exit_code(second)
        for fd in (ready_r, go_r, go_w):
            os.close(fd)
        assert codes == (0, 0)
        self.rendered = True

    @invariant()
    def after_a_render_the_tree_is_current(self) -> None:
        if self.rendered:
            assert render(self.root, "--check") == 0
            assert not list(self.root.glob(".rendered.staging-*"))

    def teardown(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


EditsAndRenders.TestCase.settings = settings(
    max_examples=6, stateful_step_count=5, deadline=None, suppress_health_check=list(HealthCheck)
)
test_edits_and_renders_interleaved = EditsAndRenders.TestCase
