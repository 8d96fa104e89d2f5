"""The `maestro` command line: parse arguments, run one verb, map outcomes to exit codes.

Exit codes (DESIGN.md): 0 ok, 1 findings (invalid spec, policy denial, --check drift),
2 usage or environment error. Problems in user input are diagnostics, never tracebacks;
an unexpected exception is reported as a bug in one line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from maestro import __version__

OK, FINDINGS, USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments or an unusable environment (exit 2)."""


# ------------------------------------------------------------------ helpers


def _root(args: argparse.Namespace) -> Path:
    from maestro.resolve.config import CONFIG_DIR, CONFIG_FILE, find_root

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


def _display(path: Path) -> str:
    """How to name a file in messages: relative to the working directory when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _emit(diags: list, fmt: str) -> None:
    from maestro.diagnostics import sort_diagnostics
    from maestro.output.reporters import FORMATTERS, format_sarif

    ordered = sort_diagnostics(diags)
    text = format_sarif(ordered, __version__) if fmt == "sarif" else FORMATTERS[fmt](ordered)
    sys.stdout.write(text)


class Unusable(Exception):
    """The repository's config or overlays are invalid: nothing can be checked (exit 2)."""

    def __init__(self, diags: list, fmt: str) -> None:  # type: ignore[type-arg]
        self.diags, self.fmt = diags, fmt


def _workspace(root: Path, fmt: str = "text"):  # type: ignore[no-untyped-def]
    from maestro.diagnostics import has_errors
    from maestro.resolve.workspace import open_workspace

    ws, diags = open_workspace(root)
    if ws is None or has_errors(diags):
        raise Unusable(diags, fmt)
    return ws, diags


def _spec_paths(root: Path, specs: Sequence[str]) -> list[Path]:
    from maestro.check import SPEC_FILE, discover

    if not specs:
        return discover(root)
    paths = []
    for s in specs:
        p = Path(s)
        if p.is_dir():
            p = p / SPEC_FILE
        paths.append(p)
    return paths


# ------------------------------------------------------------------ verbs


def cmd_validate(args: argparse.Namespace) -> int:
    from maestro.check import check_file, duplicate_models
    from maestro.diagnostics import has_errors
    from maestro.policy.governance import govern_spec

    root = _root(args)
    ws, diags = _workspace(root, args.format)
    envs = ws.environments
    if args.env is not None and args.env not in envs:
        raise UsageError(f"unknown environment '{args.env}' (configured: {', '.join(envs)})")
    selected = [args.env] if args.env else envs
    gov = _governance(root, args)
    checked = [check_file(p, _display(p), ws.inputs, selected, root) for p in _spec_paths(root, args.specs)]
    for c in checked:
        diags += c.diagnostics
        if not has_errors(c.diagnostics):
            diags += govern_spec(c, ws, selected, gov)
    diags += duplicate_models(checked)
    _emit(diags, args.format)
    if args.format == "text" and not has_errors(diags) and not (args.strict and diags):
        print(f"{len(checked)} spec(s) valid in {', '.join(selected)}")
    return _exit(diags, args.strict)


def _exit(diags: list, strict: bool) -> int:  # type: ignore[type-arg]
    from maestro.diagnostics import Severity, has_errors

    if has_errors(diags) or (strict and any(d.severity is Severity.WARNING for d in diags)):
        return FINDINGS
    return OK


def _governance(root: Path, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The policies, loaded once; a broken or missing (when named) policy set is exit 2."""
    from maestro.policy.governance import Governance

    policy_dir = Path(args.policy) if getattr(args, "policy", None) else None
    if policy_dir is not None and not policy_dir.is_dir():
        raise UsageError(f"--policy {args.policy}: no such folder")
    gov, problems = Governance.load(root, policy_dir)
    if problems:
        raise Unusable(problems, getattr(args, "format", "text"))
    return gov


def cmd_render(args: argparse.Namespace) -> int:
    if getattr(args, "stdout", False):
        return _render_stdout(args)
    from maestro.check import check_file, duplicate_models
    from maestro.diagnostics import has_errors
    from maestro.output.emit import check_output_root, compare, write_tree
    from maestro.policy.governance import govern_spec

    root = _root(args)
    ws, diags = _workspace(root)
    envs = ws.environments
    if args.env is not None and args.env not in envs:
        raise UsageError(f"unknown environment '{args.env}' (configured: {', '.join(envs)})")
    selected = [args.env] if args.env else envs
    crd = ws.platform.crd_schema_dir
    if crd and not (root / crd).is_dir():
        raise UsageError(
            f"crd_schema_dir '{crd}' (config/platform.yaml) is not a folder; it names extra CRD "
            "schemas on top of the ones Maestro ships: create it, or remove the key"
        )
    out_root = Path(args.out) if args.out else root / "rendered"
    bad_root = check_output_root(out_root, root) if args.out else None
    if bad_root is not None:
        _emit([bad_root], "text")
        return USAGE
    gov = _governance(root, args)
    paths = _spec_paths(root, [])
    checked = [check_file(p, _display(p), ws.inputs, selected, root) for p in paths]
    if args.model is not None:
        # By name, or by folder for a spec too broken to have one: its diagnostics must show.
        checked = [c for c in checked if (c.spec.metadata.name if c.spec else c.path.parent.name) == args.model]
        if not checked:
            raise UsageError(f"no spec named '{args.model}' under specs/")
    for c in checked:
        diags += c.diagnostics
        if not has_errors(c.diagnostics):
            diags += govern_spec(c, ws, selected, gov)
    diags += duplicate_models(checked)
    if has_errors(diags):
        _emit(diags, "text")
        print("nothing written: fix the errors above", file=sys.stderr)
        return FINDINGS
    result = _render_with_progress(ws, checked, selected, gov)
    diags += result.diagnostics
    if _exit(diags, args.strict):
        _emit(diags, "text")
        print("nothing written: fix the errors above", file=sys.stderr)
        return FINDINGS
    if args.model is not None:
        scopes = [f"{env}/{args.model}" for env in selected]
        files = {k: v for k, v in result.tree.files.items() if any(k.startswith(s + "/") for s in scopes)}
    else:
        scopes = selected if args.env else [""]
        files = result.tree.files
    _emit(diags, "text")  # warnings, if any
    if getattr(args, "stream", None) is not None:  # --stdout
        args.stream.write(_model_documents(files, f"{args.env}/{args.model}"))
        return OK
    shown = out_root.relative_to(root).as_posix() if out_root.is_relative_to(root) else _display(out_root)
    if args.check:
        changes = compare(out_root, scopes, files)
        for label, paths_ in (("added", changes.added), ("changed", changes.changed), ("removed", changes.removed)):
            for rel in paths_:
                print(f"{label}: {shown}/{rel}")
        if changes:
            print(f"{shown} is out of date: run maestro render", file=sys.stderr)
            return FINDINGS
        print(f"{shown} is current ({len(result.models)} model(s), {result.objects} objects)")
        return OK
    changes = compare(out_root, scopes, files)
    if changes:
        write_tree(out_root, scopes, files)
    print(
        f"rendered {len(result.models)} model(s), {result.objects} objects into {shown} "
        f"({len(changes.added)} added, {len(changes.changed)} changed, {len(changes.removed)} removed)"
    )
    return OK


def _render_stdout(args: argparse.Namespace) -> int:
    """`render --stdout --env E --model M`: one model's objects as multi-document YAML on
    stdout (what an Argo CD Config Management Plugin's `generate` prints); diagnostics go
    to stderr and nothing is written."""
    import contextlib

    if args.env is None or args.model is None:
        raise UsageError("render --stdout needs --env E and --model M (it prints one model's objects)")
    if args.out or args.check:
        raise UsageError("render --stdout writes no files: it does not combine with --out or --check")
    inner = argparse.Namespace(**{**vars(args), "stdout": False, "stream": sys.stdout})
    with contextlib.redirect_stdout(sys.stderr):
        return cmd_render(inner)


def _model_documents(files: dict[str, bytes], prefix: str) -> str:
    """The objects of one rendered model folder, in its kustomization's order."""
    from ruamel.yaml import YAML

    from maestro.output.emit import dump_all

    yaml = YAML(typ="safe", pure=True)
    listed = yaml.load(files[f"{prefix}/kustomization.yaml"].decode("utf-8"))["resources"]
    return dump_all(yaml.load(files[f"{prefix}/{name}"].decode("utf-8")) for name in listed)


def _render_with_progress(ws, checked, envs, gov):  # type: ignore[no-untyped-def]
    """A progress bar on a terminal when there is enough to render to be worth one."""
    from maestro.pipeline import render, verifier_for

    verifier = verifier_for(ws)
    total = sum(1 for c in checked for env in envs if env in c.effective)
    if not sys.stderr.isatty() or total < 50:
        return render(ws, checked, envs, verifier, gov=gov)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("rendering", total=total)
        return render(ws, checked, envs, verifier, progress=lambda: bar.advance(task), gov=gov)


def cmd_policy(args: argparse.Namespace) -> int:
    from maestro.diagnostics import has_errors
    from maestro.policy.policyset import PolicySet, check_files, format_test_results, policy_error_diagnostic
    from maestro.policy.rego import PolicyError

    if args.policy_verb == "test":
        if args.policy:
            folders = [Path(args.policy)]
        else:
            folders = [p for p in sorted((_root(args) / "policies").glob("*")) if p.is_dir()]
        if not folders or not all(f.is_dir() for f in folders):
            raise UsageError(f"no policy folder at {args.policy or 'policies/'}")
        results = []
        for folder in folders:
            try:
                results += PolicySet.load(folder, display=_display(folder)).run_tests()
            except PolicyError as exc:
                _emit([policy_error_diagnostic(exc)], "text")
                return USAGE
        sys.stdout.write(format_test_results(results, verbose=args.verbose))
        if any(r.status == "error" for r in results):
            return USAGE
        return FINDINGS if any(r.status == "fail" for r in results) or not results else OK
    policy_dir = Path(args.policy) if args.policy else _root(args) / "policies" / "k8s"
    if not policy_dir.is_dir():
        raise UsageError(f"no policy folder at {policy_dir}")
    data = _policy_data(args)
    diags, summary = check_files(
        [Path(f) for f in args.files], policy_dir, args.namespace, all_namespaces=args.all_namespaces, data=data
    )
    _emit(diags, args.format)
    if any(d.code in ("M403", "M404") for d in diags):
        return USAGE
    if args.format == "text":
        print(
            f"{summary.documents} document(s) in {summary.files} file(s): {summary.failures} failure(s), "
            f"{summary.warnings} warning(s), {summary.exceptions} exception(s)"
        )
    return _exit(diags, args.strict) if not has_errors(diags) else FINDINGS


def cmd_registry(args: argparse.Namespace) -> int:
    from maestro.commands import registry

    if args.registry_action == "sync" and args.state:
        return registry.run(args, None)  # the sync Job: a state file, no repository
    if not args.env:
        raise UsageError("registry sync needs --env (or --state FILE)")
    ws, _ = _workspace(_root(args))
    if args.env not in ws.environments:
        raise UsageError(f"unknown environment '{args.env}' (configured: {', '.join(ws.environments)})")
    return registry.run(args, ws)


def _policy_data(args: argparse.Namespace) -> dict | None:  # type: ignore[type-arg]
    """`data` for `policy check`: files given with --data (conftest's flag), and/or the
    platform config of --env (and --team) as `data.maestro.config`, as maestro render uses."""
    import json

    from maestro.frontend.loader import load
    from maestro.resolve.merge import deep_merge

    data: dict = {}  # type: ignore[type-arg]
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

        ws, _ = _workspace(_root(args))
        if args.env not in ws.environments:
            raise UsageError(f"unknown environment '{args.env}' (configured: {', '.join(ws.environments)})")
        data = deep_merge(config_data(ws.platforms[args.env], args.env, args.team or ""), data)
    return data or None


def cmd_diff(args: argparse.Namespace) -> int:
    from maestro.commands import diff

    return diff.run(args, _root(args))


def cmd_schema(args: argparse.Namespace) -> int:
    from maestro.frontend.schema import SCHEMA_PATH, render

    root = _root(args)
    target = root / SCHEMA_PATH
    text = render()
    current = target.read_text(encoding="utf-8") if target.exists() else None
    if args.check:
        if current != text:
            print(f"{SCHEMA_PATH} is out of date with the spec models; run: maestro schema", file=sys.stderr)
            return FINDINGS
        print(f"{SCHEMA_PATH} is current")
        return OK
    if current != text:
        _atomic_write(target, text)
        print(f"wrote {SCHEMA_PATH}")
    return OK


def cmd_explain(args: argparse.Namespace) -> int:
    import difflib

    from maestro.frontend.schema import explain, lookup

    text = explain(args.field)
    if text is None:
        _, allowed = lookup(args.field)
        last = args.field.rsplit(".", 1)[-1]
        guess = difflib.get_close_matches(last, allowed, n=1)
        hint = (
            f"; did you mean '{args.field.rsplit('.', 1)[0] + '.' if '.' in args.field else ''}{guess[0]}'?"
            if guess
            else (f"; fields here: {', '.join(allowed)}" if allowed else "")
        )
        raise UsageError(f"no field '{args.field}' in maestro.yaml{hint}")
    sys.stdout.write(text)
    return OK


def cmd_init(args: argparse.Namespace) -> int:
    from maestro.check import SPEC_FILE, SPECS_DIR
    from maestro.frontend.scaffold import scaffold

    root = _root(args)
    ws, _ = _workspace(root)
    text, problem = scaffold(args.name, args.team, args.framework, ws.platform)
    if problem:
        raise UsageError(problem)
    target = root / SPECS_DIR / args.name / SPEC_FILE
    if target.exists() and not args.force:
        raise UsageError(f"{_display(target)} already exists (use --force to overwrite)")
    _atomic_write(target, text)
    print(f"wrote {_display(target)}")
    return OK


def cmd_fmt(args: argparse.Namespace) -> int:
    from maestro.diagnostics import has_errors
    from maestro.frontend.fmt import format_text
    from maestro.frontend.loader import load

    root = _root(args)
    diags = []
    changed = []
    for path in _spec_paths(root, args.specs):
        located, problems = load(path, _display(path))
        if located is None:
            diags += problems
            continue
        original = path.read_text(encoding="utf-8-sig")
        formatted = format_text(original)
        if formatted != original:
            changed.append(path)
            if not args.check:
                _atomic_write(path, formatted)
    _emit(diags, "text")
    verb = "would reformat" if args.check else "reformatted"
    for path in changed:
        print(f"{verb} {_display(path)}")
    if has_errors(diags):
        return FINDINGS
    return FINDINGS if args.check and changed else OK


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ------------------------------------------------------------------ parser


FORMATS = ("text", "json", "github", "sarif")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maestro", description="Compile and validate ML-platform GitOps specs.")
    parser.add_argument("--version", action="version", version=f"maestro {__version__}")
    parser.add_argument(
        "--root", metavar="DIR", help="repository root (default: nearest folder with config/platform.yaml)"
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True

    p = sub.add_parser("validate", help="schema, semantic and policy checks; writes nothing")
    p.add_argument("specs", nargs="*", metavar="SPEC", help="spec files or folders (default: specs/*/maestro.yaml)")
    p.add_argument("--env", help="check one environment (default: every environment)")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.add_argument("--policy", metavar="DIR", help="policy folder with spec/ and k8s/ (default: policies/)")
    p.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    p.set_defaults(func=cmd_validate)

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
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("policy", help="Rego policies: run their unit tests, or check any YAML like conftest")
    psub = p.add_subparsers(dest="policy_verb", metavar="test|check")
    psub.required = True
    t = psub.add_parser("test", help="run every test_* rule (like opa test / conftest verify)")
    t.add_argument("--policy", metavar="DIR", help="policy folder (default: every folder under policies/)")
    t.add_argument("--verbose", "-v", action="store_true", help="list passing tests too")
    t.set_defaults(func=cmd_policy)
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
    c.set_defaults(func=cmd_policy)

    # Mirrors maestro.commands.diff.add_arguments, spelled out so building the parser does not import diff.
    p = sub.add_parser("diff", help="what a change does to the rendered tree, with monthly cost, per env and model")
    p.add_argument("--base", required=True, metavar="GITREF", help="the ref to compare against, e.g. origin/main")
    p.add_argument("--head", metavar="GITREF", help="the ref to compare (default: the working tree as it is)")
    p.add_argument("--env", help="one environment (default: every environment)")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.set_defaults(func=cmd_diff)

    # Arguments mirror maestro.commands.registry.configure_parser; spelled out here so that building
    # the parser does not import the registry module (and the spec models) on every command.
    p = sub.add_parser("registry", help="apply (sync) or verify (check) MLflow registry state")
    rsub = p.add_subparsers(dest="registry_action", metavar="sync|check")
    rsub.required = True
    r = rsub.add_parser("sync", help="create or correct the experiment, registered model, description and tags")
    r.add_argument("--env", help="environment whose config and tracking server to use (required without --state)")
    r.add_argument("--model", help="sync one model")
    r.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    r.add_argument("--state", metavar="FILE", help="sync exactly this state file (the sync Job); no repository needed")
    r.set_defaults(func=cmd_registry)
    r = rsub.add_parser("check", help="evaluate the gates on the served version; exit 1 when one fails")
    r.add_argument("--env", required=True, help="environment to check")
    r.add_argument("--model", help="check one model")
    r.set_defaults(func=cmd_registry)

    p = sub.add_parser("schema", help="write (or --check) schemas/maestro.schema.json")
    p.add_argument("--check", action="store_true", help="exit 1 if the committed schema is out of date")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("explain", help="document a spec field, e.g. spec.serving.rollout.steps")
    p.add_argument("field", metavar="FIELD")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("init", help="scaffold specs/NAME/maestro.yaml")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--team", required=True)
    p.add_argument(
        "--framework",
        required=True,
        choices=("sklearn", "xgboost", "lightgbm", "pytorch", "tensorflow", "huggingface", "custom"),
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing spec")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("fmt", help="canonical key order and indentation, comments kept")
    p.add_argument("specs", nargs="*", metavar="SPEC")
    p.add_argument("--check", action="store_true", help="exit 1 listing files that would change")
    p.set_defaults(func=cmd_fmt)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version exit 0, bad usage exits 2
        return int(exc.code or 0)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except UsageError as exc:
        print(f"maestro: {exc}", file=sys.stderr)
        return USAGE
    except Unusable as exc:
        _emit(exc.diags, exc.fmt)
        return USAGE
    except KeyboardInterrupt:
        print("maestro: interrupted", file=sys.stderr)
        return USAGE
    except BrokenPipeError:
        return OK
    except Exception as exc:
        if os.environ.get("MAESTRO_DEBUG"):
            raise
        print(
            f"maestro: internal error ({type(exc).__name__}: {exc}). This is a bug in maestro; please report it "
            "with the command and the input (MAESTRO_DEBUG=1 shows the traceback).",
            file=sys.stderr,
        )
        return USAGE
