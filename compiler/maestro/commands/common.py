"""What the verbs share: the repository root, how files are named in messages, printing diagnostics,
the workspace and policies a command needs, and atomic writes.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from maestro.diagnostics import Diagnostic
from maestro.errors import FINDINGS, OK, Unusable, UsageError

if TYPE_CHECKING:  # imported where used: the verbs that need them pay for them
    from maestro.policy.governance import Governance
    from maestro.policy.sandbox import Starting
    from maestro.resolve.workspace import Workspace


def repo_root(args: argparse.Namespace) -> Path:
    from maestro.layout import CONFIG_DIR, CONFIG_FILE, find_root

    if args.root:
        root = Path(args.root).resolve()
        if not (root / CONFIG_DIR / CONFIG_FILE).is_file():
            raise UsageError(f"--root {args.root}: no {CONFIG_DIR}/{CONFIG_FILE} there")
        return root
    found = find_root(Path.cwd().resolve())
    if found is None:
        raise UsageError(
            f"not inside a maestro repository: no {CONFIG_DIR}/{CONFIG_FILE} in "
            f"{Path.cwd()} or its parents (use --root DIR)"
        )
    return found


def display(path: Path) -> str:
    """How to name a file in messages: relative to the working directory when below it, as
    written (a symbolic link is named, not where it leads)."""
    cwd, real_cwd = _cwd()
    here = os.path.abspath(path)
    if here == cwd or here.startswith(cwd.rstrip(os.sep) + os.sep):  # the common case: no file system call
        return str(Path(here).relative_to(cwd))
    try:
        return str(path.resolve().relative_to(real_cwd))
    except ValueError:
        return str(path)


def _cwd() -> tuple[str, Path]:
    """The working directory as written and resolved, resolved once per directory (a render
    names every spec: resolving it again for each was a tenth of a no-op render at N=1,000)."""
    cwd = os.path.abspath(os.getcwd())
    if _CWD.get("at") != cwd:
        _CWD.update(at=cwd, real=Path(cwd).resolve())
    return cwd, _CWD["real"]


_CWD: dict[str, Any] = {}


def load_workspace(root: Path, fmt: str = "text") -> tuple[Workspace, list[Diagnostic]]:
    from maestro.diagnostics import has_errors
    from maestro.resolve.workspace import open_workspace

    ws, diags = open_workspace(root)
    if ws is None or has_errors(diags):
        raise Unusable(diags, fmt)
    return ws, diags


def spec_paths(root: Path, specs: Sequence[str]) -> list[Path]:
    from maestro.layout import SPEC_FILE, discover

    if not specs:
        return discover(root)
    paths = []
    for s in specs:
        p = Path(s)
        if p.is_dir():
            p = p / SPEC_FILE
        paths.append(p)
    return paths


def exit_code(diags: list[Diagnostic], strict: bool) -> int:
    from maestro.diagnostics import Severity, has_errors

    if has_errors(diags) or (strict and any(d.severity is Severity.WARNING for d in diags)):
        return FINDINGS
    return OK


def start_policies(root: Path, args: argparse.Namespace) -> Starting | None:
    """The policy workers of every scope, started before the workspace loads, with the
    engine's default bounds (config, not read yet, may set others: `load_governance` then
    starts them again). A cold `validate` reads config and imports its checks for 0.3-0.4 s;
    the policies load on the other core meanwhile. None when a folder is missing (whether
    that is an error is config's to say) or --policy names none."""
    from maestro.layout import policy_folders
    from maestro.policy.sandbox import IsolatedPolicySet, Limits

    policy_dir = Path(args.policy) if getattr(args, "policy", None) else None
    folders = [(folder, shown) for _, folder, shown in policy_folders(root, policy_dir)]
    if not all(folder.is_dir() for folder, _ in folders):
        return None
    return IsolatedPolicySet.start_all(folders, Limits(), None if policy_dir else root)


def load_governance(
    root: Path,
    args: argparse.Namespace,
    ws: Workspace,
    *,
    lazy: bool = False,
    early: bool = False,
    started: Starting | None = None,
) -> Governance:
    """The policies, loaded once; a broken or missing policy set is exit 2. With `lazy`,
    loaded on first use (`_LazyGovernance`). With `early`, the policy workers start loading
    now and are awaited on first use: the caller imports and parses meanwhile. `started`:
    the workers `start_policies` started, taken if config's bounds are the defaults."""
    from maestro.policy.governance import Governance

    policy_dir = Path(args.policy) if getattr(args, "policy", None) else None
    if policy_dir is not None and not policy_dir.is_dir():
        raise UsageError(f"--policy {args.policy}: no such folder")

    def load(finish: Callable[[], tuple[Governance, list[Diagnostic]]] | None = None) -> Governance:
        gov, problems = (finish or Governance.start(root, policy_dir, ws.platform.policies))()
        if problems:
            gov.close()  # the sets that did load: their workers end now, not when collected
            raise Unusable(problems, getattr(args, "format", "text"))
        return gov

    if early:
        finish = Governance.start(root, policy_dir, ws.platform.policies, started)
        return cast("Governance", _LazyGovernance(lambda: load(finish)))
    return cast("Governance", _LazyGovernance(load)) if lazy else load()


class _LazyGovernance:
    """Governance that loads the policies when first used. A render whose every result is in
    the cache uses none (loading them is most of a no-op render); the policies' bytes are in
    the cache keys, so a changed or broken policy is a miss, which loads them and fails there
    (before anything is written)."""

    def __init__(self, load: Callable[[], Governance]) -> None:
        self._load: Callable[[], Governance] | None = load
        self._gov: Governance | None = None

    def __getattr__(self, name: str) -> Any:
        if self._gov is None and self._load is not None:
            load, self._load = self._load, None
            self._gov = load()
        return getattr(self._gov, name)


def policy_folder(root: Path, args: argparse.Namespace) -> Path:
    """The folder `load_governance` reads policies from (its spec/ and k8s/)."""
    from maestro.layout import POLICIES_DIR

    return Path(args.policy) if getattr(args, "policy", None) else root / POLICIES_DIR


def quick_key_of(
    args: argparse.Namespace,
    root: Path,
    specs: list[tuple[Path, str]],
    selection: list[str],
    folders: dict[tuple[Path, str], str] | None = None,
) -> str:
    """keys.quick_key of these inputs (`folders`: as there), or "" when one cannot be hashed
    here: a --policy folder that is not there, a MAESTRO_TODAY that is not a date (the full
    path reports them: load_governance, keys.today)."""
    from maestro.keys import quick_key

    policies = policy_folder(root, args)
    if getattr(args, "policy", None) and not policies.is_dir():
        return ""
    try:
        return quick_key(root, policies, specs, selection, folders)
    except ValueError:
        return ""


@dataclass(frozen=True)
class _Recalled:
    """What a command printed for the inputs of a quick key, kept in the cache."""

    crd: str | None  # config's crd_schema_dir, as the command read it
    key: str  # the quick key with those CRD schemas (keys.with_crd)
    value: Any


def recall(root: Path, kind: str, quick: str) -> Any:
    """What a command of `kind` printed for the inputs of quick key `quick` (`remember`), or
    None: decided from the inputs' bytes, before a YAML parser or pydantic is imported."""
    from maestro.cache import Cache, Digest
    from maestro.keys import with_crd

    got = Cache(root).get(Digest(kind, quick).hexdigest())
    if isinstance(got, _Recalled) and with_crd(quick, root, got.crd) == got.key:
        return got.value
    return None


def remember(root: Path, kind: str, quick: str, crd: str | None, value: Any) -> None:
    """Keep `value` for `recall`; `crd`: the extra CRD schema folder the command read."""
    from maestro.cache import Cache, Digest
    from maestro.keys import with_crd

    Cache(root).put(Digest(kind, quick).hexdigest(), _Recalled(crd, with_crd(quick, root, crd), value))


def cpu_count() -> int:
    """The CPUs this process may run on (a container's or taskset's limit, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
