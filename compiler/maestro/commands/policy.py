"""`maestro policy test|check`: Rego unit tests, and conftest-style checks of any YAML."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from maestro.commands.common import display, exit_code, load_workspace, repo_root
from maestro.errors import FINDINGS, OK, USAGE, Unusable, UsageError
from maestro.output.reporters import print_diagnostics
from maestro.policy.sandbox import Limits


def command(args: argparse.Namespace) -> int:
    from maestro.diagnostics import has_errors
    from maestro.policy.policyset import check_files, format_test_results, policy_error_diagnostic
    from maestro.policy.rego import PolicyError
    from maestro.policy.sandbox import IsolatedPolicySet

    if args.policy_verb == "test":
        if args.policy:
            folders = [Path(args.policy)]
        else:
            folders = [p for p in sorted((repo_root(args) / "policies").glob("*")) if p.is_dir()]
        if not folders or not all(f.is_dir() for f in folders):
            raise UsageError(f"no policy folder at {args.policy or 'policies/'}")
        results = []
        limits = _limits(args)
        for folder in folders:
            try:
                policies = IsolatedPolicySet.load(folder, display=display(folder), limits=limits)
            except PolicyError as exc:
                print_diagnostics([policy_error_diagnostic(exc)], "text")
                return USAGE
            try:
                results += policies.run_tests()
            finally:
                policies.close()
        sys.stdout.write(format_test_results(results, verbose=args.verbose))
        if any(r.status == "error" for r in results):
            return USAGE
        return FINDINGS if any(r.status == "fail" for r in results) or not results else OK
    policy_dir = Path(args.policy) if args.policy else repo_root(args) / "policies" / "k8s"
    if not policy_dir.is_dir():
        raise UsageError(f"no policy folder at {policy_dir}")
    data = _policy_data(args)
    try:
        policies = IsolatedPolicySet.load(policy_dir, limits=_limits(args))
    except PolicyError as exc:
        print_diagnostics([policy_error_diagnostic(exc)], args.format)
        return USAGE
    try:
        diags, summary = check_files(
            [Path(f) for f in args.files],
            namespace=args.namespace,
            all_namespaces=args.all_namespaces,
            data=data,
            policy=policies,
        )
    finally:
        policies.close()
    print_diagnostics(diags, args.format)
    if any(d.code in ("M403", "M404") for d in diags):
        return USAGE
    if args.format == "text":
        print(
            f"{summary.documents} document(s) in {summary.files} file(s): {summary.failures} failure(s), "
            f"{summary.warnings} warning(s), {summary.exceptions} exception(s)"
        )
    return exit_code(diags, args.strict) if not has_errors(diags) else FINDINGS


def _limits(args: argparse.Namespace) -> Limits:
    """The engine's bounds from the repository's config (policies.*), or the defaults when the
    command runs outside a repository or its config cannot be read."""
    from maestro.errors import MaestroError
    from maestro.resolve.config import load_config

    try:
        platform, _ = load_config(repo_root(args))
    except MaestroError:
        platform = None
    settings = platform.policies if platform is not None else None
    if settings is None:
        return Limits()
    return Limits(timeout_seconds=settings.timeout_seconds, memory_mb=settings.memory_mb)


def _policy_data(args: argparse.Namespace) -> dict[str, Any] | None:
    """`data` for `policy check`: files given with --data (conftest's flag), and/or the
    platform config of --env (and --team) as `data.maestro.config`, as maestro render uses."""
    import json

    from maestro.frontend.loader import load
    from maestro.resolve.merge import deep_merge

    data: dict[str, Any] = {}
    for name in args.data or []:
        path = Path(name)
        if path.suffix == ".json":
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise UsageError(f"--data {name}: {exc}") from None
        else:
            located, problems = load(path, name)
            if located is None:
                raise Unusable(problems, "text")
            doc = located.data
        data = deep_merge(data, doc)
    if args.env:
        from maestro.policy.governance import config_data

        ws, _ = load_workspace(repo_root(args))
        ws.selected(args.env)  # UnknownEnvironment unless configured
        data = deep_merge(config_data(ws.platforms[args.env], args.env, args.team or ""), data)
    return data or None
