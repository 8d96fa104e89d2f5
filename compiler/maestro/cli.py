"""The `maestro` command line: parse arguments and run one verb (`commands/<verb>.py`).

Argument parsing only: what a verb does is in its module, and how its outcome (an exit code,
or an exception) becomes the process's exit code is in `errors.exit_code_for`.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import NoReturn

from maestro import __version__
from maestro.errors import exit_code_for

FORMATS = ("text", "json", "github", "sarif")


ROOT_HELP = "repository root (default: nearest folder with config/platform.yaml)"


def _leaf(p: argparse.ArgumentParser, command: str) -> None:
    """A verb's own parser: which command runs it, and `--root` accepted after the verb too
    (`maestro validate --root R`); SUPPRESS keeps a `--root` given before the verb."""
    p.add_argument("--root", metavar="DIR", default=argparse.SUPPRESS, help=ROOT_HELP)
    p.set_defaults(command=command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maestro", description="Compile and validate ML-platform GitOps specs.")
    parser.add_argument("--version", action="version", version=f"maestro {__version__}")
    parser.add_argument("--root", metavar="DIR", help=ROOT_HELP)
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True

    p = sub.add_parser("validate", help="schema, semantic and policy checks; writes nothing")
    p.add_argument("specs", nargs="*", metavar="SPEC", help="spec files or folders (default: specs/*/maestro.yaml)")
    p.add_argument("--env", help="check one environment (default: every environment)")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.add_argument("--policy", metavar="DIR", help="policy folder with spec/ and k8s/ (default: policies/)")
    p.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    p.add_argument(
        "--no-cache", action="store_true", help="check everything again; neither read nor write .maestro/cache/"
    )
    _leaf(p, "validate")

    p = sub.add_parser("render", help="compile specs/ into rendered/ (or --out DIR)")
    p.add_argument("--env", help="render one environment (default: every environment)")
    p.add_argument("--model", help="render one model")
    p.add_argument("--out", metavar="DIR", help="output folder (default: rendered/ in the repository)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 listing files that would change")
    p.add_argument(
        "--stdout",
        action="store_true",
        help="with --env and --model: print that model's objects as multi-document YAML, write nothing",
    )
    p.add_argument("--policy", metavar="DIR", help="policy folder with spec/ and k8s/ (default: policies/)")
    p.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    p.add_argument(
        "--jobs", "-j", type=_positive, metavar="N", help="render in N processes (default: the number of CPUs)"
    )
    p.add_argument(
        "--no-cache", action="store_true", help="render everything again; neither read nor write .maestro/cache/"
    )
    p.add_argument(
        "--shard",
        type=_shard,
        metavar="I/N",
        help="render (or --check) slice I of N, by model, for a CI matrix; shard 1 also has each "
        "environment's platform/ and argocd/ folders",
    )
    _leaf(p, "render")

    p = sub.add_parser("policy", help="Rego policies: run their unit tests, or check any YAML like conftest")
    psub = p.add_subparsers(dest="policy_verb", metavar="test|check")
    psub.required = True
    t = psub.add_parser("test", help="run every test_* rule (like opa test / conftest verify)")
    t.add_argument("--policy", metavar="DIR", help="policy folder (default: every folder under policies/)")
    t.add_argument("--verbose", "-v", action="store_true", help="list passing tests too")
    _leaf(t, "policy")
    c = psub.add_parser("check", help="conftest-style check of YAML files (multi-document aware)")
    c.add_argument("files", nargs="+", metavar="FILE")
    c.add_argument("--policy", metavar="DIR", help="policy folder (default: policies/k8s)")
    c.add_argument("--namespace", default="main", help="Rego package to evaluate (default: main)")
    c.add_argument("--all-namespaces", action="store_true", help="evaluate every package")
    c.add_argument("--data", action="append", metavar="FILE", help="JSON/YAML data documents (like conftest)")
    c.add_argument("--env", help="give the policies this environment's platform config (data.maestro.config)")
    c.add_argument("--team", help="with --env: whose budgets and limits apply (default: the defaults)")
    c.add_argument("--format", choices=FORMATS, default="text")
    c.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    _leaf(c, "policy")

    p = sub.add_parser("diff", help="what a change does to the rendered tree, with monthly cost, per env and model")
    p.add_argument("--base", required=True, metavar="GITREF", help="the ref to compare against, e.g. origin/main")
    p.add_argument("--head", metavar="GITREF", help="the ref to compare (default: the working tree as it is)")
    p.add_argument("--env", help="one environment (default: every environment)")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    _leaf(p, "diff")

    p = sub.add_parser("registry", help="apply (sync), verify (check) or pin (lock) MLflow registry state")
    rsub = p.add_subparsers(dest="registry_action", metavar="sync|check|lock")
    rsub.required = True
    r = rsub.add_parser("sync", help="create or correct the experiment, registered model, description and tags")
    r.add_argument("--env", help="environment whose config and tracking server to use (required without --state)")
    r.add_argument("--model", help="sync one model")
    r.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    r.add_argument("--state", metavar="FILE", help="sync exactly this state file (the sync Job); no repository needed")
    r.add_argument(
        "--promote",
        metavar="ALIAS",
        help="with --state: move the serve alias to this candidate alias's "
        "version when every gate holds on it (the pipeline's promote step)",
    )
    _leaf(r, "registry")
    r = rsub.add_parser("check", help="evaluate the gates on the served version; exit 1 when one fails")
    r.add_argument("--env", help="environment to check (required without --state)")
    r.add_argument("--model", help="check one model")
    r.add_argument("--state", metavar="FILE", help="check this state file; no repository needed")
    r.add_argument(
        "--alias",
        metavar="ALIAS",
        help="with --state: evaluate the gates on this alias's version (the pipeline's evaluate step)",
    )
    _leaf(r, "registry")
    r = rsub.add_parser("lock", help="pin the versions each environment serves into specs/<model>/maestro.lock.yaml")
    r.add_argument("--env", help="lock one environment (default: every environment)")
    r.add_argument("--model", help="lock one model")
    r.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 listing locked versions whose alias has moved"
    )
    _leaf(r, "lock")

    p = sub.add_parser("promote", help="copy one environment's locked version into another's lock, gates checked")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--from", dest="source", required=True, metavar="ENV", help="the environment to promote from")
    p.add_argument("--to", dest="target", required=True, metavar="ENV", help="the environment to promote into")
    p.add_argument("--dry-run", action="store_true", help="check the gates and print the change; write nothing")
    p.add_argument("--format", choices=("text", "markdown"), default="text", help="markdown: a pull request body")
    _leaf(p, "promote")

    p = sub.add_parser("lineage", help="dataset -> features -> training -> model version -> endpoint")
    p.add_argument("--env", help="one environment (default: all)")
    p.add_argument("--model", help="one model (default: all)")
    p.add_argument("--format", choices=("mermaid", "dot", "json", "openlineage"), default="mermaid")
    _leaf(p, "lineage")

    p = sub.add_parser("cost", help="monthly estimate per model and team against budgets, with savings")
    p.add_argument("--env", help="one environment (default: all)")
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    _leaf(p, "cost")

    p = sub.add_parser(
        "codeowners",
        help="write (or --check) the CODEOWNERS block: model owners approve their specs and rendered folders",
    )
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 showing what would change")
    _leaf(p, "codeowners")

    p = sub.add_parser(
        "schema", help="write (or --check) schemas/maestro.schema.json and the spec reference docs/spec-reference.md"
    )
    p.add_argument("--check", action="store_true", help="exit 1 if the committed schema or reference is out of date")
    _leaf(p, "schema")

    p = sub.add_parser("explain", help="document a spec field, e.g. spec.serving.rollout.steps")
    p.add_argument("field", metavar="FIELD")
    _leaf(p, "explain")

    p = sub.add_parser(
        "why",
        help="where a field of a rendered object came from: spec, overlay, config, lock or renderer",
        description="Where a field of a rendered object came from: the line that set it, what it overrode "
        "along the precedence chain, and the renderer that placed it. Limits: a number computed in a helper and "
        "placed by its caller is the caller's; a value an overlay transform sets to what the renderer already set "
        "shows as the renderer's; the platform layer's and Argo CD folders are not traced.",
    )
    p.add_argument("file", metavar="FILE", help="rendered/<env>/<model>/<kind>-<name>.yaml")
    p.add_argument("field", metavar="FIELD", help='e.g. spec.strategy.canary.steps[1] or metadata.labels["app"]')
    p.add_argument("--format", choices=("text", "json"), default="text")
    _leaf(p, "why")

    p = sub.add_parser("init", help="scaffold specs/NAME/maestro.yaml")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--team", required=True)
    p.add_argument(
        "--framework",
        required=True,
        choices=("sklearn", "xgboost", "lightgbm", "pytorch", "tensorflow", "huggingface", "custom"),
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing spec")
    _leaf(p, "init")

    p = sub.add_parser("fmt", help="canonical key order and indentation, comments kept")
    p.add_argument("specs", nargs="*", metavar="SPEC")
    p.add_argument("--check", action="store_true", help="exit 1 listing files that would change")
    _leaf(p, "fmt")
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise argparse.ArgumentTypeError(f"expected I/N with 1 <= I <= N (shard I of N), got {text!r}")
    return int(index), int(count)


# A render allocates millions of small dicts and lists that live until it ends (every object
# of an environment, for the link stage): with CPython's default thresholds (700, 10, 10) the
# collector scans them again and again. Measured at N=1,000 models: a one-spec-change render
# 10.3 -> 8.4 s (a full one ~5% less) at the same peak memory; cycles are still collected
# (switching the collector off grew that render from 407 to 605 MB).
GC_THRESHOLDS = (100_000, 50, 100)


def main(argv: Sequence[str] | None = None) -> int:
    gc.set_threshold(*GC_THRESHOLDS)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version exit 0, bad usage exits 2
        return int(exc.code or 0)
    try:
        # The verb's module is imported only now: `maestro --help` pays for none of them.
        module = importlib.import_module(f"maestro.commands.{args.command}")
        run: Callable[[argparse.Namespace], int] = module.command
        return run(args)
    except (Exception, KeyboardInterrupt) as exc:  # the one place an outcome becomes an exit code
        return exit_code_for(exc)


def run() -> NoReturn:
    """The `maestro` program: `main`, then exit without tearing the interpreter down. Freeing
    every object a render held, one by one, took 0.12-0.14 s after a one-spec render at
    N=1,000 (mypy exits the same way). The exit handlers still run (a pool's, a temporary
    folder's). It exits normally with another thread alive (a normal exit waits for it), and
    under a profiler or a tracer (`python -m cProfile -m maestro` writes its profile after
    the program returns)."""
    code = main()
    if threading.active_count() > 1 or sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader gone (`maestro ... | head`), a closed stream
            pass
    os._exit(code)
