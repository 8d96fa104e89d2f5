"""Policies loaded and evaluated in a worker process, with CPU-time and memory bounds.

Measured with regorus 0.13.0 (gordon-to-regorus), which the Python binding exposes with no
time, memory or instruction limit:
* a recursive function overflows the native stack: SIGSEGV, the whole process
  (`policy/recursion.py` refuses the ones it can see; isolation catches the rest);
* `some i in numbers.range(1, 40000); some j in numbers.range(1, 40000)` runs unbounded, and
  a comprehension over `numbers.range(1, 1e8)` asks for 2.4 GB;
* the parser is exponential in the nesting depth of array literals: `[[[...1...]]]` 15 deep
  parses in 5 s, 20 deep in more than a minute. Loading a policy must be bounded too.

So the whole `PolicySet` (load, analyze, check, tests) lives in a forked worker:
* CPU time: before every engine call (parsing one file, evaluating the rules of a package for
  one input: all at once, then, if that call exceeds a bound, one at a time) the worker
  re-arms `setitimer(ITIMER_PROF, timeout)`; SIGPROF keeps its default action, so the kernel
  ends the worker even while Rust code runs (no Python handler could: the GIL is held);
* memory: RLIMIT_AS = the worker's size + the budget; a Rust allocation failure aborts
  (SIGABRT, "memory allocation of N bytes failed" on stderr, which goes to a memfd);
* before each engine call the worker writes the step (rule, file, line) into a page shared
  with the parent: a death is reported at the rule that caused it, naming the input.
Forking (not spawning) costs no import and no second parse; the worker loads its policies
while the parent goes on reading specs. POSIX record locks are not inherited, so a worker
never holds the render lock; the worker ignores SIGINT (^C is the parent's) and dies with
its parent (PR_SET_PDEATHSIG).

A process forked from the owner (`render --jobs`) inherits the pipes to the owner's worker;
requests from several processes on one pipe would interleave. So a worker belongs to the
process that started it: a forked copy of an `IsolatedPolicySet` starts its own worker on
first use and never signals, waits for or closes the owner's.

A bound exceeded or a crash fails the policy set: that is one diagnostic (an error, so the
command fails and writes nothing); later `check` calls raise `PolicyError` of kind
"skipped", which callers drop instead of repeating the error for every object.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import pickle
import re
import resource
import select
import signal
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maestro.policy import rego
from maestro.policy.policyset import PolicySet, TestResult
from maestro.policy.rego import PolicyError, RuleInfo

__all__ = ["IsolatedPolicySet", "Limits"]

_HEADER = struct.Struct("!Q")
_STEP_BYTES = 4096
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass(frozen=True)
class Limits:
    """Bounds of one engine call: parsing one policy file, evaluating one rule for one input
    (every rule of a package is first evaluated in one call with the same bounds; exceeding
    them there only means they are evaluated again one by one, each with its own)."""

    timeout_seconds: float = 5.0  # CPU seconds
    memory_mb: int = 1024  # address space above the loaded worker

    @property
    def wall_seconds(self) -> float:
        """How long the parent waits for one answer before it gives up on a stuck worker (a
        worker blocked, not computing, uses no CPU time: only this catches it)."""
        return max(120.0, 60 * self.timeout_seconds)


# ------------------------------------------------------------------ framing: length-prefixed pickles


def _send(fd: int, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes | None:
    chunks, left = [], size
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _recv(fd: int, deadline: float | None = None) -> Any:
    head = _read_exact(fd, _HEADER.size, deadline)
    body = None if head is None else _read_exact(fd, _HEADER.unpack(head)[0], deadline)
    return None if body is None else pickle.loads(body)


# ------------------------------------------------------------------ the worker (the forked child)


def _vm_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _bound_memory(memory_mb: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _vm_bytes() + memory_mb * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _close_fds_except(keep: set[int]) -> None:
    top = max(os.sysconf("SC_OPEN_MAX"), *keep) + 1
    low = 3
    for fd in sorted(keep | {top}):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1


class _Worker:
    def __init__(self, rfd: int, wfd: int, step: mmap.mmap, limits: Limits) -> None:
        self.rfd, self.wfd, self.step, self.limits = rfd, wfd, step, limits

    def guard(self, what: str, file: str, line: int, col: int) -> None:
        text = "\t".join((what, file, str(line), str(col))).encode("utf-8", "replace")[: _STEP_BYTES - 1]
        self.step[: len(text) + 1] = text + b"\0"
        signal.setitimer(signal.ITIMER_PROF, self.limits.timeout_seconds)

    def serve(self, policy_dir: str, display: str, within: Path | None) -> None:
        rego.set_call_guard(self.guard)
        try:
            policy = PolicySet.load(policy_dir, display=display, within=within)
        except PolicyError as exc:
            _send(self.wfd, ("error", exc))
            return
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        _bound_memory(self.limits.memory_mb)  # the budget counts from the loaded policies
        _send(self.wfd, ("ok", _meta(policy)))
        while (request := _recv(self.rfd)) is not None:
            verb, args = request
            answer: tuple[str, Any]
            try:
                if verb == "check":
                    input, namespace, data, all_namespaces, combined = args
                    findings = policy.check(input, namespace, data, all_namespaces=all_namespaces, combined=combined)
                    answer = ("ok", (findings, policy.last_prints))
                elif verb == "test":
                    answer = ("ok", policy.run_tests(*args))
                else:
                    raise ValueError(f"unknown request {verb!r}")
            except PolicyError as exc:
                answer = ("error", exc)
            except MemoryError:  # Python's side of the same budget (pickling a huge result)
                answer = (
                    "error",
                    PolicyError(f"exceeded the memory limit of {self.limits.memory_mb} MB", kind="limit"),
                )
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
            _send(self.wfd, answer)


def _meta(policy: PolicySet) -> dict[str, Any]:
    return {
        "packages": policy.packages(),
        "namespaces": policy.namespaces(),
        "rules": {ns: policy.rules(ns) for ns in policy.namespaces()},
        # in the order `run_tests` reports them: by where each test is first defined
        "tests": list(
            dict.fromkeys(
                f"data.{r.package}.{r.name}"
                for r in sorted(policy.engine.rules(), key=lambda r: (r.file, r.line, r.col))
                if r.name.startswith(("test_", "todo_test_"))
            )
        ),
    }


def _child(
    fds: tuple[int, int, int], step: mmap.mmap, limits: Limits, policy_dir: str, display: str, within: Path | None
) -> None:
    """The forked worker; never returns."""
    code = 70
    rfd, wfd, err = fds
    try:
        try:  # die with the parent, whatever it dies of
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGPROF, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash is a diagnostic, not a core file
        os.dup2(err, 1)
        os.dup2(err, 2)
        _close_fds_except({rfd, wfd, err})
        _bound_memory(limits.memory_mb)  # loading is bounded too
        _Worker(rfd, wfd, step, limits).serve(policy_dir, display, within)
        code = 0
    finally:
        os._exit(code)


# ------------------------------------------------------------------ the parent's side


class IsolatedPolicySet:
    """`PolicySet`'s interface (load, namespaces, check, run_tests); the policies live and run
    in a bounded worker process. Call `close()` when done (or let it be collected)."""

    def __init__(
        self, policy_dir: Path, display: str, limits: Limits, within: Path | None = None, *, start: bool = True
    ) -> None:
        self.policy_dir, self.source, self.limits, self.within = policy_dir, display, limits, within
        self.last_prints: list[str] = []
        self._pid = 0
        self._fds: tuple[int, ...] = ()
        self._owner = os.getpid()  # the process whose worker `_pid` is
        self._failed: PolicyError | None = None
        self._meta: dict[str, Any] = self._start() if start else {}

    @classmethod
    def load(
        cls,
        policy_dir: Path | str,
        *,
        display: str | None = None,
        limits: Limits | None = None,
        within: Path | None = None,
    ) -> IsolatedPolicySet:
        """Load (parse, analyze) the policies in a new worker. Raises PolicyError. With
        `within`, a file that resolves outside that folder is refused unread."""
        shown = display if display is not None else str(policy_dir)
        return cls(Path(policy_dir), shown, limits or Limits(), within)

    @classmethod
    def load_all(
        cls, folders: list[tuple[Path, str]], limits: Limits, within: Path | None = None
    ) -> list[IsolatedPolicySet | PolicyError]:
        """`load` of several sets (folder, display) at once: every worker is started before any
        answer is awaited, so the sets parse and analyze their policies side by side (one
        set's load is most of a cold `maestro validate`)."""
        return cls.start_all(folders, limits, within)()

    @classmethod
    def start_all(cls, folders: list[tuple[Path, str]], limits: Limits, within: Path | None = None) -> Starting:
        """`load_all` in two halves: the workers start now; calling the result awaits them."""
        sets = [cls(Path(folder), shown, limits, within, start=False) for folder, shown in folders]
        for one in sets:
            one._spawn()
        return Starting(sets)

    # -- the worker process

    def _start(self) -> dict[str, Any]:
        self._spawn()
        return self._loaded()

    def _spawn(self) -> None:
        to_child_r, to_child_w = os.pipe()
        to_parent_r, to_parent_w = os.pipe()
        err = os.memfd_create("maestro-policy-worker-stderr", os.MFD_CLOEXEC)
        self._step = mmap.mmap(-1, _STEP_BYTES)
        pid = os.fork()
        if pid == 0:
            os.set_inheritable(err, True)
            _child(
                (to_child_r, to_parent_w, err), self._step, self.limits, str(self.policy_dir), self.source, self.within
            )
        os.close(to_child_r)
        os.close(to_parent_w)
        self._pid, self._fds, self._owner = pid, (to_child_w, to_parent_r, err), os.getpid()

    def _loaded(self) -> dict[str, Any]:
        """The started worker's answer to loading its policies."""
        try:
            return self._answer("loading the policies")
        except PolicyError:
            self.close()  # the worker said why it could not load (or died): it is done either way
            raise

    def _forget_inherited(self) -> None:
        """In a process forked from the owner: drop this process's copies of the owner's
        pipes (the owner's worker goes on serving the owner) so that a worker of its own starts."""
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass  # closed by whoever forked this process (e.g. its fd cleanup)
        self._pid, self._fds, self._owner = 0, (), os.getpid()

    def close(self) -> None:
        """End the worker (it also ends by itself when the parent exits)."""
        if self._owner != os.getpid():
            self._forget_inherited()
            return
        for fd in self._fds:
            os.close(fd)
        self._fds = ()
        if self._pid:
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self._pid, 0)
            self._pid = 0

    def __del__(self) -> None:
        if self._pid or self._fds:
            self.close()

    def _answer(self, doing: str) -> Any:
        try:
            answer = _recv(self._fds[1], time.monotonic() + self.limits.wall_seconds)
        except TimeoutError:
            raise self._death(doing, stuck=True) from None
        if answer is None:
            raise self._death(doing, stuck=False)
        if answer[0] == "error":
            raise answer[1]
        return answer[1]

    @property
    def failed(self) -> bool:
        """Whether this set failed (a bound exceeded, a crash) in this process: its later checks
        are skipped until `run_tests` or a new load."""
        return self._failed is not None

    def _request(self, verb: str, args: tuple[Any, ...], doing: str) -> Any:
        if self._failed is not None:
            f = self._failed
            raise PolicyError(f"not evaluated: {f.message}", f.file, f.line, f.col, kind="skipped", rule=f.rule)
        if self._owner != os.getpid():
            self._forget_inherited()
        if not self._pid:
            self._meta = self._start()
        try:
            _send(self._fds[0], (verb, args))
        except BrokenPipeError:
            raise self._death(doing, stuck=False) from None
        return self._answer(doing)

    def _death(self, doing: str, stuck: bool) -> PolicyError:
        """The worker died (or is stuck): what killed it, at the rule it was evaluating."""
        if stuck:
            os.kill(self._pid, signal.SIGKILL)
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        raw = self._step[:].split(b"\0", 1)[0].decode("utf-8", "replace").split("\t")
        what, file, line, col = (raw + ["", "", "0", "0"])[:4] if len(raw) >= 4 else ("", "", "0", "0")
        os.lseek(self._fds[2], 0, os.SEEK_SET)
        stderr = os.read(self._fds[2], 1 << 16).decode("utf-8", "replace")
        for fd in self._fds:
            os.close(fd)
        self._fds = ()
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
        activity = what if what.startswith("parsing ") else f"evaluating {what}" if what else "working"
        kind = "limit"
        if stuck:
            message = f"the policy engine gave no answer for {self.limits.wall_seconds:g} s {activity} while {doing}"
        elif sig == signal.SIGPROF:
            message = f"{activity} exceeded the CPU time limit of {self.limits.timeout_seconds:g} s while {doing}"
        elif re.search(r"memory allocation of \d+ bytes failed", stderr) or sig == signal.SIGKILL:
            message = f"{activity} exceeded the memory limit of {self.limits.memory_mb} MB while {doing}"
        else:
            how = signal.Signals(sig).name if sig else f"exit status {os.waitstatus_to_exitcode(status)}"
            message = f"the policy engine crashed ({how}) {activity} while {doing}"
            kind = "crash"
        self._failed = PolicyError(message, file, int(line or 0), int(col or 0), kind=kind, rule=what)
        return self._failed

    # -- PolicySet's interface

    def packages(self) -> list[str]:
        return list(self._meta["packages"])

    def namespaces(self) -> list[str]:
        return list(self._meta["namespaces"])

    def rules(self, namespace: str) -> list[RuleInfo]:
        return list(self._meta["rules"].get(namespace, []))

    def check(
        self,
        input: Any,
        namespace: str | Sequence[str] = "main",
        data: Mapping[str, Any] | None = None,
        *,
        all_namespaces: bool = False,
        about: str = "an input",
    ) -> list[Any]:
        """Findings for one input, as `PolicySet.check`; `about` names the input in errors.
        A bound exceeded or a crash while every rule was evaluated at once is found again in a
        new worker, one rule at a time, to report the rule it is in (or nothing: a package
        whose rules together exceed a bound that none does alone)."""
        doing = f"checking {about} against {self.source}"
        try:
            answer = self._request("check", (input, namespace, data, all_namespaces, True), doing)
        except PolicyError as exc:
            if exc.kind not in ("limit", "crash") or not exc.rule.startswith(rego.EVERY_RULE):
                raise
            self._failed = None
            answer = self._request("check", (input, namespace, data, all_namespaces, False), doing)
        findings, self.last_prints = answer
        return list(findings)

    def run_tests(self, match: str | None = None) -> list[TestResult]:
        """Every test, one request each: a test that crashes the engine or exceeds a bound is an
        error result, and the tests after it run in a new worker."""
        pattern = re.compile(match) if match else None
        out: list[TestResult] = []
        for name in self._meta["tests"]:
            if pattern and not pattern.search(name):
                continue
            self._failed = None
            try:
                out += self._request("test", (f"^{re.escape(name)}$",), f"running {name}")
            except PolicyError as exc:
                if exc.kind not in ("limit", "crash"):
                    raise
                package, _, rule = name[len("data.") :].rpartition(".")
                out.append(TestResult(package, rule, "error", exc.file, exc.line, exc.col, exc.message))
        self._failed = None
        return out


class Starting:
    """Policy workers started and loading (`IsolatedPolicySet.start_all`). Calling it awaits
    them: each set, or the PolicyError it failed to load with."""

    def __init__(self, sets: list[IsolatedPolicySet]) -> None:
        self._sets = sets

    def made_as(self, folders: list[tuple[Path, str]], limits: Limits, within: Path | None) -> bool:
        """Whether these workers are what `start_all(folders, limits, within)` would start."""
        mine = [(one.policy_dir, one.source) for one in self._sets]
        return mine == [(Path(f), shown) for f, shown in folders] and all(
            one.limits == limits and one.within == within for one in self._sets
        )

    def close(self) -> None:
        for one in self._sets:
            one.close()

    def __call__(self) -> list[IsolatedPolicySet | PolicyError]:
        out: list[IsolatedPolicySet | PolicyError] = []
        for one in self._sets:
            try:
                one._meta = one._loaded()
                out.append(one)
            except PolicyError as exc:
                out.append(exc)
        return out
