"""`maestro diff` on a real git history (no mocks).

One module-scoped repository copies the shipped config, specs, overlays, policies and
schemas, then commits one kind of change at a time (tags in brackets):

    [empty]    README only: no maestro repository yet
    [c0]       the shipped repository
    [spec]     fraud-detector: prod serving.replicas.min 3 -> 4
    [overlay]  staging overlay: one more common label
    [config]   costs.cpu_hour 0.034 -> 0.04
    [delete]   churn-predictor deleted
    [add]      tiny-model added
    [compiler] compiler/maestro/__init__.py: __version__ 0.1.0 -> 0.2.0
    [lock]     fraud-detector's lock only: prod serves version 3 (run, source, metrics), a promotion

Renders cost ~0.1-0.5 s per model and environment: reports are computed
once per (base, head, env) and tests that only need one environment say so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import MODELS, ROOT
from maestro.cli import build_parser
from maestro.commands import diff as diff_command
from maestro.diff.argocd import scan_metadata
from maestro.diff.format import MARKDOWN_LIMIT, format_markdown, format_text
from maestro.diff.git import open_repo
from maestro.diff.git import resolve as resolve_ref
from maestro.diff.plan import plan as plan_models
from maestro.diff.report import Entry, Report, compute
from maestro.diff.side import place
from maestro.diff.snapshot import materialize, snapshot_commit
from maestro.errors import UsageError

GOLDEN = Path(__file__).parent / "diff_golden"
ENVS = ["dev", "staging", "prod"]
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
}
TINY = """\
apiVersion: maestro.ml/v1alpha1
kind: Model
metadata:
  name: tiny-model
  team: growth
  owners: ["@acme/growth-analytics"]
  tier: experimental
  costCenter: cc-1000
spec:
  framework: sklearn
  serving:
    replicas: {min: 2, max: 3}
    resources: {cpu: 500m, memory: 1Gi}
"""


NEW_RUN = "0f3c5e1a9b7d4c2e8f6a1b3c5d7e9f01"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True, text=True).stdout


def commit(repo: Path, tag: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", tag)
    git(repo, "tag", tag)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("diff") / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "README.md").write_text("models\n")
    commit(root, "empty")
    for sub in ("config", "specs", "overlays", "policies", "schemas"):
        shutil.copytree(ROOT / sub, root / sub)
    (root / "compiler" / "maestro").mkdir(parents=True)
    (root / "compiler" / "maestro" / "__init__.py").write_text('__version__ = "0.1.0"\n')
    commit(root, "c0")
    edit(
        root / "specs/fraud-detector/maestro.yaml",
        "prod: {serving: {replicas: {min: 3}}}",
        "prod: {serving: {replicas: {min: 4}}}",
    )
    commit(root, "spec")
    edit(
        root / "overlays/staging/overlay.yaml",
        "  maestro.ml/env: staging\n",
        "  maestro.ml/env: staging\n  maestro.ml/stage: preprod\n",
    )
    commit(root, "overlay")
    edit(root / "config/platform.yaml", "cpu_hour: 0.034", "cpu_hour: 0.04")
    commit(root, "config")
    shutil.rmtree(root / "specs/churn-predictor")
    commit(root, "delete")
    (root / "specs/tiny-model").mkdir()
    (root / "specs/tiny-model/maestro.yaml").write_text(TINY)
    commit(root, "add")
    edit(root / "compiler/maestro/__init__.py", "0.1.0", "0.2.0")
    commit(root, "compiler")
    lock = root / "specs/fraud-detector/maestro.lock.yaml"
    text = lock.read_text()
    for old, new in (
        ("val_auc: 0.925", "val_auc: 0.944"),
        ("cacfc84c357d4b73b2ca551a8cd6af65", NEW_RUN),
        ("      version: 1\n", "      version: 3\n"),
        ("    serve:\n      alias: champion\n", "    serve:\n      alias: champion\n      promotedFrom: staging\n"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    lock.write_text(text)
    commit(root, "lock")
    return root


@pytest.fixture(scope="module")
def report(repo: Path) -> Callable[..., Report]:
    cache: dict[tuple[str, str | None, str | None], Report] = {}

    def get(base: str, head: str | None, env: str | None = None) -> Report:
        if (base, head, env) not in cache:
            cache[(base, head, env)] = compute(repo, base, head, env)
        return cache[(base, head, env)]

    return get


def entry(r: Report, env: str, model: str) -> Entry:
    return next(e for e in r.entries if e.env == env and e.model == model)


def files(e: Entry, change: str) -> list[str]:
    return [c.path.split("/", 2)[2] for c in e.changes if c.change == change]


def cli(root: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = diff_command.run(build_parser().parse_args(["diff", *argv]), root)
    return code, capsys.readouterr().out


def normalize(text: str) -> str:
    """Commit ids change whenever the copied examples do; the goldens are about the rest."""
    return re.sub(r"\b[0-9a-f]{12}\b", "<commit>", text)


def check_golden(name: str, text: str, update: bool) -> None:
    path = GOLDEN / name
    if update:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run pytest --update-goldens and review it"
    assert text == path.read_text(encoding="utf-8")


# ------------------------------------------------------------------ one spec


def test_spec_change_renders_only_that_model(report: Callable[..., Report]) -> None:
    r = report("c0", "spec")
    assert r.reasons == ["specs: fraud-detector (changed)"]
    assert {(e.env, e.model) for e in r.skipped} == {(env, m) for env in ENVS for m in MODELS if m != "fraud-detector"}
    assert r.skip_line() == "5 models unchanged, not rendered"
    prod = entry(r, "prod", "fraud-detector")
    assert prod.status == "changed"
    assert "scaledobject-fraud-detector.yaml" in files(prod, "changed")
    assert "inferenceservice-fraud-detector.yaml" in files(prod, "changed")
    assert files(prod, "added") == files(prod, "removed") == []
    hpa = next(c for c in prod.changes if c.path.endswith("scaledobject-fraud-detector.yaml"))
    assert hpa.diff.startswith(
        "--- a/rendered/prod/fraud-detector/scaledobject-fraud-detector.yaml\n"
        "+++ b/rendered/prod/fraud-detector/scaledobject-fraud-detector.yaml\n"
    )
    assert "-  minReplicaCount: 3\n+  minReplicaCount: 4\n" in hpa.diff
    # One more 1-CPU/2Gi replica for 730 hours at platform.yaml's rates.
    assert prod.cost_delta == round((0.034 + 2 * 0.0045) * 730, 2)
    assert prod.cost_head == round(prod.cost_base + prod.cost_delta, 2)  # type: ignore[operator]
    for env in ("dev", "staging"):
        assert entry(r, env, "fraud-detector").status == "unchanged"
        assert entry(r, env, "fraud-detector").cost_delta == 0.0
    assert all(entry(r, env, "argocd").status == "unchanged" for env in ENVS)
    assert r.findings == [] and r.changed


def test_spec_change_json(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli(repo, capsys, "--base", "c0", "--head", "spec", "--format", "json", "--env", "prod")
    assert code == 1
    doc = json.loads(out)
    assert set(doc) == {"base", "head", "reasons", "envs", "skipped", "summary"}
    assert doc["base"]["ref"] == "c0" and len(doc["base"]["commit"]) == 40
    assert list(doc["envs"]) == ["prod"]
    model = doc["envs"]["prod"]["models"]["fraud-detector"]
    assert set(model) == {"status", "objects", "cost", "versions", "findings", "resolved", "notes"}
    assert model["versions"] == []  # the spec changed, not what prod serves
    assert model["status"] == "changed"
    assert set(model["objects"]) == {"added", "removed", "changed"}
    assert "scaledobject-fraud-detector.yaml" in model["objects"]["changed"]
    # base: on demand 151.77 less 11.98 for training on spot nodes (docs/cost.md)
    assert model["cost"] == {"base": 139.79, "head": 171.18, "delta": 31.39, "currency": "USD"}
    assert doc["envs"]["prod"]["models"]["churn-predictor"]["status"] == "skipped"
    assert doc["envs"]["prod"]["models"]["churn-predictor"]["cost"]["delta"] == 0.0
    assert sorted(doc["skipped"]) == sorted(f"prod/{m}" for m in MODELS if m != "fraud-detector")
    assert doc["summary"]["changed"] is True and doc["summary"]["rendered"] == 1
    assert doc["summary"]["cost"] == {"delta": 31.39, "currency": "USD"}


def test_markdown_spec_change_golden(report: Callable[..., Report], update_goldens: bool) -> None:
    text = format_markdown(report("c0", "spec"))
    assert text.startswith("### maestro diff: `c0 (")
    assert "| prod | fraud-detector | changed | +0 −0 ~" in text
    assert "<details><summary><code>rendered/prod/fraud-detector/scaledobject-fraud-detector.yaml" in text
    check_golden("spec_change.md", normalize(text), update_goldens)


def test_markdown_is_size_capped(report: Callable[..., Report]) -> None:
    r = report("c0", "spec")
    text = format_markdown(r, limit=1200)
    assert len(text) <= 1200
    assert "**Truncated**" in text and "file diffs not shown" in text
    assert "| prod | fraud-detector |" in text  # the summary comes first and survives
    assert len(format_markdown(r)) < MARKDOWN_LIMIT


def test_text_format(report: Callable[..., Report]) -> None:
    out = format_text(report("c0", "spec"))
    assert out.startswith("base: c0 (")
    assert "5 models unchanged, not rendered\n" in out
    assert "prod/fraud-detector: changed  +0 -0 ~" in out
    assert "  ~ scaledobject-fraud-detector.yaml\n" in out
    assert "+++ b/rendered/prod/fraud-detector/scaledobject-fraud-detector.yaml\n" in out


# ------------------------------------------------------------------ overlay, config, compiler


def test_overlay_change_renders_every_model_of_that_env(report: Callable[..., Report]) -> None:
    r = report("spec", "overlay")
    assert r.reasons == ["overlays/staging/ changed: every model in staging rendered"]
    assert {(e.env, e.model) for e in r.skipped} == {(env, m) for env in ("dev", "prod") for m in MODELS}
    assert r.skip_line() == "not rendered (inputs unchanged): 6 in dev, 6 in prod"
    for m in MODELS:
        e = entry(r, "staging", m)
        assert e.status == "changed" and e.cost_delta == 0.0
        assert files(e, "added") == files(e, "removed") == []
        assert all(
            "+    maestro.ml/stage: preprod\n" in c.diff
            for c in e.changes
            if c.path.endswith(".yaml") and not c.path.endswith("kustomization.yaml")
        )


def test_config_change_renders_everything_and_moves_costs(report: Callable[..., Report]) -> None:
    r = report("overlay", "config", "dev")
    assert r.reasons == ["config/ changed: every model rendered"]
    assert r.skipped == [] and r.envs == ["dev"]
    # Rates reach objects only through the tuning study's cost annotation...
    for m in MODELS:
        for change in entry(r, "dev", m).changes:
            assert change.change == "changed" and "tuning" in change.path
            edits = [line for line in change.diff.splitlines()[2:] if line[:1] in "+-"]
            assert len(edits) == 2 and all("maestro.ml/estimated-cost:" in line for line in edits)
    assert entry(r, "dev", "fraud-detector").status == "changed"
    assert entry(r, "dev", "demand-forecaster").status == "unchanged"  # no tuning section
    # ...and into every estimate.
    fraud = entry(r, "dev", "fraud-detector")
    assert fraud.cost_base is not None and fraud.cost_head is not None
    assert fraud.cost_head > fraud.cost_base
    assert entry(r, "dev", "demand-forecaster").cost_delta
    assert r.cost_delta == round(sum(entry(r, "dev", m).cost_delta or 0 for m in MODELS), 2) > 0
    assert r.changed  # a cost change is a change: exit 1


def test_compiler_change_affects_everything(repo: Path, tmp_path: Path) -> None:
    # The plan alone (rendering would show nothing: the installed compiler renders both sides).
    git_repo = open_repo(repo)
    base, head = (
        materialize(git_repo, snapshot_commit(git_repo, resolve_ref(git_repo, ref, "--base"), ref), tmp_path / ref)
        for ref in ("add", "compiler")
    )
    p = plan_models(base, head, ENVS, ENVS, None)
    assert p.reasons == ["the compiler (compiler/maestro/) 0.1.0 -> 0.2.0 changed: every model rendered"]
    assert p.affected == {env: set(MODELS) - {"churn-predictor"} | {"tiny-model"} for env in ENVS}
    # The snapshot holds the inputs and the compiler's __init__.py, never rendered/.
    assert sorted(p.name for p in (tmp_path / "add").iterdir()) == [
        "compiler",
        "config",
        "overlays",
        "policies",
        "specs",
    ]


# ------------------------------------------------------------------ delete, add, empty base


def test_deleted_model_removes_everything(report: Callable[..., Report]) -> None:
    r = report("config", "delete")
    assert r.reasons == ["specs: churn-predictor (deleted)"]
    for env in ENVS:
        e = entry(r, env, "churn-predictor")
        assert e.status == "removed"
        assert "kustomization.yaml" in files(e, "removed") and files(e, "added") == files(e, "changed") == []
        assert all(c.diff.splitlines()[1] == "+++ /dev/null" for c in e.changes)
        assert e.cost_base is not None and e.cost_head == 0.0 and e.cost_delta == -e.cost_base
        argocd = entry(r, env, "argocd")
        assert f"application-churn-predictor-{env}.yaml" in files(argocd, "removed")
        assert f"appproject-growth-{env}.yaml" in files(argocd, "removed")  # its team's only model
        assert files(argocd, "changed") == ["kustomization.yaml"]
        assert {x.model for x in r.skipped if x.env == env} == set(MODELS) - {"churn-predictor"}


def test_added_model(report: Callable[..., Report], update_goldens: bool) -> None:
    r = report("delete", "add", "staging")
    e = entry(r, "staging", "tiny-model")
    assert e.status == "added" and files(e, "removed") == files(e, "changed") == []
    assert "inferenceservice-tiny-model.yaml" in files(e, "added")
    assert e.cost_base == 0.0 and e.cost_head is not None and e.cost_head > 0
    argocd = entry(r, "staging", "argocd")
    assert files(argocd, "added") == ["application-tiny-model-staging.yaml", "appproject-growth-staging.yaml"]
    check_golden("add_model_staging.md", normalize(format_markdown(r)), update_goldens)


def test_base_without_maestro_adds_everything(report: Callable[..., Report]) -> None:
    r = report("empty", "c0", "dev")
    assert r.reasons == [
        "config/ changed: every model rendered",
        "policies/ changed: every model rendered",
        "the compiler (compiler/maestro/) none -> 0.1.0 changed: every model rendered",
    ]
    assert [e.status for e in r.entries] == ["added"] * 7  # six models and the argocd folder


def test_nothing_changed(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli(repo, capsys, "--base", "spec", "--head", "spec", "--format", "markdown")
    assert code == 0
    assert "- 6 models unchanged, not rendered" in out
    assert "No changes to the rendered tree, costs or findings." in out


# ------------------------------------------------------------------ the working tree


@pytest.fixture
def clone(repo: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(dest))
    return dest


def test_head_defaults_to_the_working_tree_untouched(clone: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(
        clone / "specs/fraud-detector/maestro.yaml",
        "prod: {serving: {replicas: {min: 4}}}",
        "prod: {serving: {replicas: {min: 5}}}",
    )
    (clone / "specs/tiny-model/maestro.yaml").unlink()  # uncommitted deletion
    before = git(clone, "status", "--porcelain", "--ignored")
    code, out = cli(clone, capsys, "--base", "HEAD", "--env", "prod", "--format", "json")
    doc = json.loads(out)
    assert code == 1
    assert doc["head"] == {"ref": "working tree", "commit": None}
    models = doc["envs"]["prod"]["models"]
    assert models["fraud-detector"]["status"] == "changed"
    assert models["fraud-detector"]["cost"]["delta"] == round((0.04 + 2 * 0.0045) * 730, 2)  # [config] rates
    assert models["tiny-model"]["status"] == "removed"
    assert git(clone, "status", "--porcelain", "--ignored") == before
    assert not (clone / "rendered").exists()


def test_invalid_spec_in_head_is_a_finding(clone: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(clone / "specs/tiny-model/maestro.yaml", "  serving:\n", "  servin: {}\n  serving:\n")
    code, out = cli(clone, capsys, "--base", "HEAD", "--env", "dev", "--format", "json")
    assert code == 1
    doc = json.loads(out)
    model = doc["envs"]["dev"]["models"]["tiny-model"]
    assert model["status"] == "invalid"
    assert model["cost"]["head"] is None and model["cost"]["delta"] is None
    [finding] = model["findings"]
    assert (finding["code"], finding["severity"], finding["file"]) == ("M101", "error", "specs/tiny-model/maestro.yaml")
    assert doc["summary"]["invalid"] == ["tiny-model"]


def test_new_policy_finding_is_reported_once(clone: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(clone / "specs/tiny-model/maestro.yaml", "  costCenter: cc-1000\n", "")
    code, out = cli(clone, capsys, "--base", "HEAD", "--env", "staging")
    assert code == 1
    assert "staging/tiny-model: " in out
    new = out.split("new findings:\n", 1)[1].split("summary:", 1)[0]
    assert "MPS001 error" in new and "costCenter" in new
    assert "resolved findings" not in out
    # ...and the other way round, it is resolved.
    git(clone, "commit", "-qam", "no cost center")
    (clone / "specs/tiny-model/maestro.yaml").write_text(TINY)
    code, out = cli(clone, capsys, "--base", "HEAD", "--env", "staging")
    assert code == 1 and "resolved findings:\n" in out and "new findings" not in out


def test_maestro_root_below_the_git_top(repo: Path, tmp_path: Path) -> None:
    top = tmp_path / "mono"
    shutil.copytree(repo, top / "platform", ignore=shutil.ignore_patterns(".git"), symlinks=True)
    git(top, "init", "-q")
    commit(top, "base")
    edit(top / "platform/specs/fraud-detector/maestro.yaml", "{min: 4}", "{min: 5}")
    r = compute(top / "platform", "base", None, "prod")
    assert r.reasons == ["specs: fraud-detector (changed)"]
    assert entry(r, "prod", "fraud-detector").status == "changed"
    assert {e.model for e in r.skipped} == set(MODELS) - {"churn-predictor", "fraud-detector"} | {"tiny-model"}


# ------------------------------------------------------------------ errors


def test_bad_ref_is_a_usage_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError, match="--base no-such-ref: no such commit"):
        cli(repo, capsys, "--base", "no-such-ref")
    with pytest.raises(UsageError, match="--head nope: no such commit"):
        cli(repo, capsys, "--base", "c0", "--head", "nope")
    with pytest.raises(UsageError, match="not a git revision"):
        cli(repo, capsys, "--base=--output=x")


def test_unknown_env_is_a_usage_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError, match="unknown environment 'qa'"):
        cli(repo, capsys, "--base", "c0", "--head", "spec", "--env", "qa")


def test_outside_git_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for sub in ("config", "overlays"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    with pytest.raises(UsageError, match="not inside a git repository"):
        cli(tmp_path, capsys, "--base", "HEAD")


def test_cli_wiring_exit_codes(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from maestro.cli import main

    verbs = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    if "diff" not in verbs:
        pytest.skip("maestro diff is not wired into cli.py yet")
    assert main(["--root", str(repo), "diff", "--base", "spec", "--head", "spec"]) == 0
    assert main(["--root", str(repo), "diff", "--base", "nope"]) == 2
    assert "no such commit" in capsys.readouterr().err


# ------------------------------------------------------------------ pieces


def test_scan_metadata_reads_yaml_1_2(tmp_path: Path) -> None:
    spec = tmp_path / "maestro.yaml"
    spec.write_text(TINY.replace("team: growth", "team: no"))  # YAML 1.1 would make it false
    meta = scan_metadata(spec)
    assert (meta.name, meta.team, meta.tier, meta.owners) == (
        "tiny-model",
        "no",
        "experimental",
        ["@acme/growth-analytics"],
    )
    spec.write_text(TINY.replace("team: growth", "team: 12"))  # an int under 1.2: the full loader decides
    assert scan_metadata(spec).team == "12"  # as the spec models coerce it
    spec.write_text(TINY.replace("team: growth", "team: [growth]"))
    assert scan_metadata(spec) is None
    for shipped in sorted((ROOT / "specs").glob("*/maestro.yaml")):
        from maestro.frontend.loader import load

        located, _ = load(shipped, str(shipped))
        assert located is not None
        scanned = scan_metadata(shipped)
        assert scanned.name == located.data["metadata"]["name"]
        assert scanned.team == located.data["metadata"]["team"]


def test_place_attributes_diagnostics() -> None:
    from maestro.diagnostics import error

    envs = ["dev", "prod"]
    assert place(error("X", "m", file="rendered/prod/fraud/deployment-fraud.yaml"), envs) == ("prod", "fraud")
    assert place(error("X", "m", file="dev/fraud/x.yaml"), envs) == ("dev", "fraud")
    assert place(error("X", "bad", file="specs/fraud/maestro.yaml", env="prod"), envs) == ("prod", "fraud")
    assert place(error("X", "bad", file="specs/fraud/maestro.yaml"), envs) == ("", "fraud")
    assert place(error("X", "bad", file="overlays/dev/overlay.yaml"), envs, "fraud") == ("dev", "fraud")


# ------------------------------------------------------------------ a version lock change


def test_lock_change_is_a_first_class_line(report: Callable[..., Report], update_goldens: bool) -> None:
    """A promotion changes only the lock: the model is rendered, and what it serves now is
    one line above the objects, in every format."""
    r = report("compiler", "lock")
    assert r.reasons == ["specs: fraud-detector (version lock changed)"]
    prod = entry(r, "prod", "fraud-detector")
    assert files(prod, "changed") == ["inferenceservice-fraud-detector.yaml"]
    [change] = prod.versions
    assert change.variant is None and change.base is not None and change.head is not None
    assert (change.base.version, change.head.version) == (1, 3)
    line = f"prod/fraud-detector: model version 1 -> 3, run cacfc84c -> {NEW_RUN[:8]}, val_auc 0.925 -> 0.944"
    assert change.text == line
    for env in ("dev", "staging"):
        assert entry(r, env, "fraud-detector").versions == []  # no entry there on either side

    text = format_text(r)
    assert f"\nmodel versions:\n  {line}\n\nprod/fraud-detector: changed" in text
    assert text.index(line) < text.index("--- a/rendered/prod/fraud-detector/")
    check_golden("lock_change.md", normalize(format_markdown(r)), update_goldens)


def test_lock_change_json(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli(repo, capsys, "--base", "compiler", "--head", "lock", "--env", "prod", "--format", "json")
    assert code == 1
    doc = json.loads(out)
    [version] = doc["envs"]["prod"]["models"]["fraud-detector"]["versions"]
    assert version["variant"] is None
    assert version["base"]["version"] == 1 and version["head"]["version"] == 3
    assert version["head"]["runId"] == NEW_RUN and version["head"]["promotedFrom"] == "staging"
    assert version["head"]["metrics"] == {"val_auc": 0.944, "val_logloss": 0.245}
    assert version["head"]["source"].endswith(f"/{NEW_RUN}/artifacts/model")
    assert version["text"].startswith("prod/fraud-detector: model version 1 -> 3")
    assert doc["summary"]["versions"] == 1
