"""Where users meet Maestro outside its own CLI: pre-commit hooks, the Argo CD plugin,
editor support (the JSON Schema), and the GitHub Actions workflow. Every check runs the
real tool (pre-commit, check-jsonschema, maestro, sh) as a subprocess.

The pre-commit hook test runs `pre-commit try-repo` against a temporary clone of this
working tree. The published hooks are `language: python`: pre-commit then builds a
virtualenv and pip-installs Maestro with all its dependencies, which takes 2-5 minutes
here, and does so again on every `try-repo` run (try-repo keeps no cache). The default
test therefore switches the clone's manifest to `language: system`, which runs the
`maestro` of the test's own virtualenv, and changes nothing else. The manifest exactly as
published runs in `test_published_hooks_install_maestro_themselves`, when
MAESTRO_TEST_PRECOMMIT_INSTALL=1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from conftest import ROOT, require_tool, skip_unless_opted_in
from maestro.output.verify import Verifier

VENV_BIN = Path(sys.executable).parent
HOOKS_MANIFEST = ROOT / ".pre-commit-hooks.yaml"
PRECOMMIT_CONFIG = ROOT / ".pre-commit-config.yaml"
CMP_DIR = ROOT / "deploy" / "argocd-cmp"
WORKFLOW = ROOT / "examples" / "github-workflow.yaml"
SCHEMA = ROOT / "schemas" / "maestro.schema.json"
MAESTRO_HOOKS = (
    "maestro-validate",
    "maestro-fmt",
    "maestro-render-check",
    "maestro-schema-check",
    "maestro-codeowners-check",
)
REPO_INPUTS = ("config", "specs", "overlays", "policies", "schemas")

BAD_SPEC = """\
apiVersion: maestro.ml/v1alpha1
kind: Model
metadata:
  name: typo-model
  team: payments-risk
  owners: ["@payments-risk/ml"]
spec:
  framework: xgboost
  trainig:
    image: registry.example.com/payments/fraud-train:1.4.2
"""


def _load(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def _load_all(text: str) -> list[Any]:
    return [d for d in YAML(typ="safe", pure=True).load_all(text) if d is not None]


def _tool(name: str) -> str:
    """A console script of the test's virtualenv (installed with the `test` extra)."""
    local = VENV_BIN / name
    return str(local) if local.exists() else require_tool(name)


def _env(**extra: str) -> dict[str, str]:
    """The environment for tools: this virtualenv's scripts first on PATH, no colour."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAESTRO_", "ARGOCD_ENV_", "GIT_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        NO_COLOR="1",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
    )
    env.update(extra)
    return env


def _run(cmd: list[str], cwd: Path, timeout: float = 180, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=timeout)


def _git_commit_all(repo: Path) -> None:
    git = require_tool("git")
    for cmd in (["init", "-q"], ["add", "-A"], ["-c", "commit.gpgsign=false", "commit", "-q", "-m", "snapshot"]):
        done = _run([git, *cmd], repo)
        assert done.returncode == 0, done.stderr


def _working_tree_files() -> list[str]:
    """Tracked and untracked (not ignored) files of this working tree: uncommitted work too."""
    git = require_tool("git")
    done = _run([git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT)
    assert done.returncode == 0, done.stderr
    return sorted({f for f in done.stdout.split("\0") if f and (ROOT / f).is_file()})


def _hook_repo(dest: Path, language: str) -> Path:
    """A git repository holding this working tree, its manifest's hooks set to `language`."""
    for rel in _working_tree_files():
        if rel.startswith("rendered/"):
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest / rel)
    manifest = dest / ".pre-commit-hooks.yaml"
    text, n = re.subn(r"(?m)^(\s+)language: python$", rf"\1language: {language}", manifest.read_text(encoding="utf-8"))
    assert n == len(MAESTRO_HOOKS)
    manifest.write_text(text, encoding="utf-8")
    _git_commit_all(dest)
    return dest


def _model_repo(dest: Path) -> Path:
    """A repository laid out for Maestro with one valid model and a bad spec outside specs/."""
    for name in REPO_INPUTS:
        shutil.copytree(ROOT / name, dest / name)
    for spec in (dest / "specs").iterdir():
        if spec.name != "fraud-detector":
            shutil.rmtree(spec)
    (dest / "drafts" / "typo-model").mkdir(parents=True)
    (dest / "drafts" / "typo-model" / "maestro.yaml").write_text(BAD_SPEC, encoding="utf-8")
    for verb in ("render", "codeowners"):
        done = _run([_tool("maestro"), verb], dest)
        assert done.returncode == 0, done.stdout + done.stderr
    _git_commit_all(dest)
    return dest


def _try_repo(
    hooks: Path, repo: Path, hook: str, *files: str, home: Path, timeout: float = 180, **env: str
) -> subprocess.CompletedProcess[str]:
    return _run(
        [
            sys.executable,
            "-m",
            "pre_commit",
            "try-repo",
            str(hooks),
            hook,
            "--color",
            "never",
            "--verbose",
            "--files",
            *files,
        ],
        repo,
        timeout=timeout,
        PRE_COMMIT_HOME=str(home),
        **env,
    )


# ------------------------------------------------------------------ pre-commit


def test_hook_files_are_valid_for_pre_commit():
    for verb, path in (("validate-manifest", HOOKS_MANIFEST), ("validate-config", PRECOMMIT_CONFIG)):
        done = _run([sys.executable, "-m", "pre_commit", verb, str(path)], ROOT)
        assert done.returncode == 0, done.stdout + done.stderr


def test_published_hooks():
    hooks = {h["id"]: h for h in _load(HOOKS_MANIFEST)}
    assert tuple(hooks) == MAESTRO_HOOKS
    assert {h["language"] for h in hooks.values()} == {"python"}  # installs this package and its deps
    assert not any("additional_dependencies" in h for h in hooks.values())
    assert hooks["maestro-validate"]["entry"] == "maestro validate"
    assert hooks["maestro-fmt"]["entry"] == "maestro fmt"
    assert hooks["maestro-render-check"]["entry"] == "maestro render --check"
    assert hooks["maestro-schema-check"]["entry"] == "maestro schema --check"
    assert hooks["maestro-render-check"]["pass_filenames"] is False
    assert hooks["maestro-schema-check"]["pass_filenames"] is False
    assert hooks["maestro-codeowners-check"]["entry"] == "maestro codeowners --check"
    assert hooks["maestro-codeowners-check"]["pass_filenames"] is False

    def matches(hook: str, path: str) -> bool:
        return re.search(hooks[hook]["files"], path) is not None

    for hook in ("maestro-validate", "maestro-fmt"):
        assert matches(hook, "specs/fraud-detector/maestro.yaml") and matches(hook, "maestro.yaml")
        assert not matches(hook, "specs/fraud-detector/notmaestro.yaml")
        assert not matches(hook, "specs/fraud-detector/maestro.yaml.bak")
    for path in (
        "specs/a/maestro.yaml",
        "overlays/prod/overlay.yaml",
        "config/platform.yaml",
        "policies/spec/replicas.rego",
        "rendered/prod/a/kustomization.yaml",
    ):
        assert matches("maestro-render-check", path), path
    assert not matches("maestro-render-check", "README.md")
    assert matches("maestro-schema-check", "schemas/maestro.schema.json")
    for path in ("specs/a/maestro.yaml", "config/platform.yaml", "CODEOWNERS", ".github/CODEOWNERS", "docs/CODEOWNERS"):
        assert matches("maestro-codeowners-check", path), path
    assert not matches("maestro-codeowners-check", "specs/a/maestro.lock.yaml")


def test_own_config_is_offline():
    """Only hooks that need nothing fetched; the Maestro five match the published ones."""
    config = _load(PRECOMMIT_CONFIG)
    assert {r["repo"] for r in config["repos"]} <= {"local", "meta"}
    local = {h["id"]: h for r in config["repos"] if r["repo"] == "local" for h in r["hooks"]}
    published = {h["id"]: h for h in _load(HOOKS_MANIFEST)}
    for hook in MAESTRO_HOOKS:
        assert local[hook]["entry"] == published[hook]["entry"]
        assert local[hook].get("pass_filenames", True) == published[hook].get("pass_filenames", True)
    assert {"trailing-whitespace", "end-of-file", "check-merge-conflict", "check-yaml"} <= set(local)
    assert "github.com/pre-commit/pre-commit-hooks" in PRECOMMIT_CONFIG.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def hooks_and_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("precommit")
    (base / "hooks").mkdir()
    (base / "repo").mkdir()
    return _hook_repo(base / "hooks", "system"), _model_repo(base / "repo"), base / "home"


def test_validate_hook_fails_on_a_bad_spec_and_passes_a_good_one(hooks_and_repo):
    hooks, repo, home = hooks_and_repo
    bad = _try_repo(hooks, repo, "maestro-validate", "drafts/typo-model/maestro.yaml", home=home)
    out = bad.stdout + bad.stderr
    assert bad.returncode == 1, out
    assert re.search(r"maestro validate\.+Failed", out), out
    assert "drafts/typo-model/maestro.yaml:9:3: M101 unknown field 'trainig'" in out
    assert "did you mean 'training'?" in out

    good = _try_repo(hooks, repo, "maestro-validate", "specs/fraud-detector/maestro.yaml", home=home)
    out = good.stdout + good.stderr
    assert good.returncode == 0, out
    assert re.search(r"maestro validate\.+Passed", out), out


def test_fmt_hook_rewrites_a_spec_and_fails(hooks_and_repo):
    hooks, repo, home = hooks_and_repo
    spec = repo / "specs" / "fraud-detector" / "maestro.yaml"
    original = spec.read_text(encoding="utf-8")
    try:
        good = _try_repo(hooks, repo, "maestro-fmt", "specs/fraud-detector/maestro.yaml", home=home)
        assert good.returncode == 0, good.stdout + good.stderr
        # same spec, keys out of canonical order: kind before apiVersion
        lines = original.splitlines(keepends=True)
        api = next(i for i, line in enumerate(lines) if line.startswith("apiVersion:"))
        kind = next(i for i, line in enumerate(lines) if line.startswith("kind:"))
        lines[api], lines[kind] = lines[kind], lines[api]
        spec.write_text("".join(lines), encoding="utf-8")
        bad = _try_repo(hooks, repo, "maestro-fmt", "specs/fraud-detector/maestro.yaml", home=home)
        out = bad.stdout + bad.stderr
        assert bad.returncode == 1, out
        assert "files were modified by this hook" in out
        assert spec.read_text(encoding="utf-8") == original
    finally:
        spec.write_text(original, encoding="utf-8")


def test_render_check_hook_catches_a_hand_edit(hooks_and_repo):
    hooks, repo, home = hooks_and_repo
    target = repo / "rendered" / "prod" / "fraud-detector" / "kustomization.yaml"
    original = target.read_text(encoding="utf-8")
    try:
        good = _try_repo(hooks, repo, "maestro-render-check", "specs/fraud-detector/maestro.yaml", home=home)
        assert good.returncode == 0, good.stdout + good.stderr
        target.write_text(original + "# edited by hand\n", encoding="utf-8")
        bad = _try_repo(
            hooks, repo, "maestro-render-check", "rendered/prod/fraud-detector/kustomization.yaml", home=home
        )
        out = bad.stdout + bad.stderr
        assert bad.returncode == 1, out
        assert "changed: rendered/prod/fraud-detector/kustomization.yaml" in out
    finally:
        target.write_text(original, encoding="utf-8")


def test_schema_check_hook(hooks_and_repo):
    hooks, repo, home = hooks_and_repo
    done = _try_repo(hooks, repo, "maestro-schema-check", "schemas/maestro.schema.json", home=home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "schemas/maestro.schema.json is current" in done.stdout


def test_codeowners_check_hook_catches_an_owner_change(hooks_and_repo):
    hooks, repo, home = hooks_and_repo
    spec = repo / "specs" / "fraud-detector" / "maestro.yaml"
    original = spec.read_text(encoding="utf-8")
    try:
        good = _try_repo(hooks, repo, "maestro-codeowners-check", "specs/fraud-detector/maestro.yaml", home=home)
        assert good.returncode == 0, good.stdout + good.stderr
        assert "CODEOWNERS is current" in good.stdout
        spec.write_text(original.replace('"@payments-risk/ml"', '"@payments-risk/ml", "@acme/risk-leads"'))
        bad = _try_repo(hooks, repo, "maestro-codeowners-check", "specs/fraud-detector/maestro.yaml", home=home)
        out = bad.stdout + bad.stderr
        assert bad.returncode == 1, out
        assert "+/specs/fraud-detector/ @payments-risk/ml @acme/risk-leads" in out
    finally:
        spec.write_text(original, encoding="utf-8")


def test_offline_hygiene_hooks(tmp_path):
    """The local stand-ins for pre-commit-hooks find what they are for, and only that."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy2(PRECOMMIT_CONFIG, repo / ".pre-commit-config.yaml")
    files = {
        "good.yaml": "a: 1\nb: [x, y]\n---\nc: no\n",
        "good.md": "# title\n\ntext\n",
        "trailing.md": "text \nmore\n",
        "no-eol.md": "text",
        "blank-end.md": "text\n\n",
        "conflict.md": "<<<<<<< HEAD\na\n=======\nb\n>>>>>>> topic\n",
        "dup.yaml": "a: 1\na: 2\n",
        "broken.yaml": "a: [1, 2\n",
    }
    for name, text in files.items():
        (repo / name).write_text(text, encoding="utf-8")
    _git_commit_all(repo)
    expected = {
        "trailing-whitespace": {"trailing.md"},
        "end-of-file": {"no-eol.md", "blank-end.md"},
        "check-merge-conflict": {"conflict.md"},
        "check-yaml": {"dup.yaml", "broken.yaml"},
    }
    for hook, bad in expected.items():
        done = _run(
            [sys.executable, "-m", "pre_commit", "run", hook, "--color", "never", "--files", *files],
            repo,
            PRE_COMMIT_HOME=str(tmp_path / "home"),
        )
        out = done.stdout + done.stderr
        assert done.returncode == 1, (hook, out)
        flagged = {name for name in files if re.search(rf"(^|\s){re.escape(name)}:", out, re.M)}
        assert flagged == bad, (hook, out)


@pytest.mark.slow
def test_published_hooks_install_maestro_themselves(tmp_path):
    """The manifest as published (`language: python`): pre-commit builds its own virtualenv,
    pip-installs this repository with its dependencies, and runs that `maestro`, which is
    not on PATH here. 2-5 minutes (a full install from the package index), so opt-in."""
    skip_unless_opted_in("MAESTRO_TEST_PRECOMMIT_INSTALL", "installs Maestro into a fresh virtualenv (2-5 min)")
    (tmp_path / "hooks").mkdir()
    (tmp_path / "repo").mkdir()
    hooks = _hook_repo(tmp_path / "hooks", "python")
    repo = _model_repo(tmp_path / "repo")
    path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if p and not Path(p, "maestro").exists()
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pre_commit",
            "try-repo",
            str(hooks),
            "maestro-validate",
            "--color",
            "never",
            "--files",
            "drafts/typo-model/maestro.yaml",
        ],
        cwd=repo,
        env={**_env(PRE_COMMIT_HOME=str(tmp_path / "home")), "PATH": path},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "M101 unknown field 'trainig'" in out


# ------------------------------------------------------------------ Argo CD plugin


def _plugin() -> dict[str, Any]:
    plugin = _load(CMP_DIR / "plugin.yaml")
    assert plugin["apiVersion"] == "argoproj.io/v1alpha1" and plugin["kind"] == "ConfigManagementPlugin"
    return plugin


def _rendered_objects(folder: Path) -> tuple[list[Any], str]:
    """The objects of a rendered model folder in its kustomization's order, and their text."""
    listed = _load(folder / "kustomization.yaml")["resources"]
    on_disk = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != "kustomization.yaml")
    assert sorted(listed) == on_disk  # artifact sub-folders are not objects
    texts = [(folder / name).read_text(encoding="utf-8") for name in listed]
    return [_load(folder / name) for name in listed], "".join(f"---\n{t}" for t in texts)


def _generate(env: str, model: str) -> subprocess.CompletedProcess[str]:
    """The plugin's `generate` step as the sidecar runs it: in the Application's folder."""
    generate = _plugin()["spec"]["generate"]
    assert generate["command"] == ["sh", "-c"]
    return _run(
        ["sh", "-c", *generate["args"]],
        ROOT / "specs" / model,
        ARGOCD_ENV_MAESTRO_ENV=env,
        ARGOCD_ENV_MAESTRO_MODEL=model,
    )


def test_plugin_generate_runs_render_stdout():
    script = " ".join(_plugin()["spec"]["generate"]["args"])
    assert "maestro render --stdout" in script
    assert "ARGOCD_ENV_MAESTRO_ENV" in script and "ARGOCD_ENV_MAESTRO_MODEL" in script


def test_plugin_generate_prints_what_render_writes(tmp_path):
    """The objects the sidecar hands Argo CD are those `maestro render` writes for that
    model and environment: same objects, same order, same bytes."""
    out = tmp_path / "out"
    done = _run([_tool("maestro"), "render", "--env", "prod", "--model", "fraud-detector", "--out", str(out)], ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    generated = _generate("prod", "fraud-detector")
    assert generated.returncode == 0, generated.stderr
    objects, text = _rendered_objects(out / "prod" / "fraud-detector")
    assert _load_all(generated.stdout) == objects
    assert generated.stdout == text
    assert len(objects) > 5


def test_plugin_generate_prints_the_committed_tree():
    """... and so what the committed rendered/prod/fraud-detector/ holds, which the
    Application for it would otherwise sync."""
    current = _run([_tool("maestro"), "render", "--check", "--env", "prod", "--model", "fraud-detector"], ROOT)
    if current.returncode != 0:
        pytest.fail(
            "rendered/prod/fraud-detector is not current, so it cannot be compared with the plugin's "
            f"output; run `maestro render`:\n{current.stdout}{current.stderr}"
        )
    generated = _generate("prod", "fraud-detector")
    assert generated.returncode == 0, generated.stderr
    objects, text = _rendered_objects(ROOT / "rendered" / "prod" / "fraud-detector")
    assert _load_all(generated.stdout) == objects
    assert generated.stdout == text


def test_plugin_generate_needs_its_variables():
    done = _run(
        ["sh", "-c", *_plugin()["spec"]["generate"]["args"]],
        ROOT / "specs" / "fraud-detector",
        ARGOCD_ENV_MAESTRO_ENV="prod",
    )
    assert done.returncode != 0 and done.stdout == ""
    assert "MAESTRO_MODEL" in done.stderr


def test_plugin_discovers_spec_folders_only():
    find = _plugin()["spec"]["discover"]["find"]["command"]
    for folder, match in (("specs/fraud-detector", True), ("specs", False), ("overlays/prod", False)):
        done = _run(find, ROOT / folder)
        assert done.returncode == 0, done.stderr
        assert bool(done.stdout.strip()) is match, folder


def test_render_stdout_usage_errors():
    maestro = _tool("maestro")
    for args in (
        ["--env", "prod"],
        ["--model", "fraud-detector"],
        ["--env", "prod", "--model", "fraud-detector", "--check"],
    ):
        done = _run([maestro, "render", "--stdout", *args], ROOT)
        assert done.returncode == 2, args
        assert done.stdout == "" and done.stderr.startswith("maestro: render --stdout"), args


@pytest.fixture(scope="module")
def scratch_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("stdout")
    for name in REPO_INPUTS:
        shutil.copytree(ROOT / name, base / "repo" / name)
    return base / "repo"


def test_render_stdout_writes_nothing(scratch_repo):
    done = _run([_tool("maestro"), "render", "--stdout", "--env", "dev", "--model", "fraud-detector"], scratch_repo)
    assert done.returncode == 0, done.stderr
    kinds = {d["kind"] for d in _load_all(done.stdout)}
    assert {"InferenceService", "ServiceAccount"} <= kinds
    assert all(d["metadata"]["labels"]["maestro.ml/env"] == "dev" for d in _load_all(done.stdout))
    assert not (scratch_repo / "rendered").exists()


def test_render_stdout_is_the_committed_folder_in_kustomization_order(scratch_repo):
    """What the plugin gives Argo CD is, byte for byte, the objects of rendered/<env>/<model>/
    (the tree `render --check` keeps current), one document per file, in kustomization order."""
    done = _run([_tool("maestro"), "render", "--stdout", "--env", "prod", "--model", "fraud-detector"], scratch_repo)
    assert done.returncode == 0, done.stderr
    folder = ROOT / "rendered" / "prod" / "fraud-detector"
    listed = YAML(typ="safe").load((folder / "kustomization.yaml").read_text(encoding="utf-8"))["resources"]
    assert len(listed) > 5
    assert done.stdout == "".join("---\n" + (folder / name).read_text(encoding="utf-8") for name in listed)
    assert [d["kind"] for d in _load_all(done.stdout)] == [
        YAML(typ="safe").load((folder / name).read_text(encoding="utf-8"))["kind"] for name in listed
    ]


def test_render_stdout_keeps_diagnostics_off_stdout(scratch_repo):
    """A spec that does not compile: non-zero exit, diagnostics on stderr, and no objects
    at all (Argo CD must fail the sync, not prune what an empty stream leaves out)."""
    spec = scratch_repo / "specs" / "fraud-detector" / "maestro.yaml"
    original = spec.read_text(encoding="utf-8")
    maestro = [_tool("maestro"), "render", "--stdout", "--env", "prod", "--model", "fraud-detector"]
    yaml = YAML()  # round trip
    try:
        data = yaml.load(original)
        envs = data["spec"].setdefault("environments", {})
        envs.setdefault("prod", {}).setdefault("serving", {}).setdefault("replicas", {})["min"] = 1
        with spec.open("w", encoding="utf-8") as f:
            yaml.dump(data, f)
        denied = _run(maestro, scratch_repo)  # a governance denial: prod needs 2 replicas
        assert denied.returncode == 1, denied.stderr
        assert denied.stdout == ""
        assert "MPS002" in denied.stderr

        spec.write_text(original.replace("\nspec:\n", "\nspec:\n  trainig: {}\n", 1), encoding="utf-8")
        broken = _run(maestro, scratch_repo)  # no longer a valid spec
        assert broken.returncode != 0
        assert broken.stdout == ""
    finally:
        spec.write_text(original, encoding="utf-8")


def _instantiate(template: Any, params: dict[str, str]) -> Any:
    """The ApplicationSet controller's Go-template step, for the parameters used here."""
    if isinstance(template, dict):
        return {k: _instantiate(v, params) for k, v in template.items()}
    if isinstance(template, list):
        return [_instantiate(v, params) for v in template]
    if isinstance(template, str):
        out = re.sub(r"\{\{\s*\.([\w.]+)\s*\}\}", lambda m: params[m[1]], template)
        assert "{{" not in out, template
        return out
    return template


def test_applicationset_is_valid_and_uses_the_plugin():
    appset = _load(CMP_DIR / "applicationset.yaml")
    verifier = Verifier("1.32")
    # label values in the template hold {{...}} until the controller fills them in
    problems = [
        d for d in verifier.verify(appset, source="applicationset.yaml") if not (d.code == "M607" and "{{" in d.message)
    ]
    assert problems == []

    spec = appset["spec"]
    assert spec["goTemplate"] is True
    [generator] = spec["generators"]
    assert generator["git"]["directories"] == [{"path": "specs/*"}]
    plugin = _plugin()
    source = spec["template"]["spec"]["source"]
    assert source["plugin"]["name"] == f"{plugin['metadata']['name']}-{plugin['spec']['version']}"
    env = {e["name"]: e["value"] for e in source["plugin"]["env"]}
    assert env == {"MAESTRO_ENV": "prod", "MAESTRO_MODEL": "{{.path.basename}}"}

    # what the controller generates, one Application per spec folder: valid Applications
    # whose names and sources match the committed ones in rendered/prod/argocd/
    for folder in sorted(p for p in (ROOT / "specs").iterdir() if (p / "maestro.yaml").is_file()):
        app = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            **_instantiate(spec["template"], {"path.basename": folder.name, "path.path": f"specs/{folder.name}"}),
        }
        assert verifier.verify(app, source=folder.name) == []
        assert app["spec"]["source"]["plugin"]["env"][1]["value"] == folder.name
        committed = ROOT / "rendered" / "prod" / "argocd" / f"application-{app['metadata']['name']}.yaml"
        assert committed.is_file(), committed
        committed_source = _load(committed)["spec"]["source"]
        assert (app["spec"]["source"]["repoURL"], app["spec"]["source"]["targetRevision"]) == (
            committed_source["repoURL"],
            committed_source["targetRevision"],
        )


# ------------------------------------------------------------------ editor support


def test_specs_validate_with_check_jsonschema():
    specs = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "specs").glob("*/maestro.yaml"))
    assert specs
    done = _run([_tool("check-jsonschema"), "--schemafile", str(SCHEMA), *specs], ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_bad_spec_fails_check_jsonschema(tmp_path):
    bad = tmp_path / "maestro.yaml"
    bad.write_text(BAD_SPEC.replace("framework: xgboost", "framework: scikit"), encoding="utf-8")
    done = _run([_tool("check-jsonschema"), "--schemafile", str(SCHEMA), str(bad)], tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "trainig" in out and "scikit" in out


def test_schema_carries_what_editors_show():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    defs = schema["$defs"]
    tier = defs["Metadata"]["properties"]["tier"]
    assert tier["enum"] == ["critical", "standard", "experimental"] and tier["default"] == "standard"
    assert tier["description"]
    assert defs["SpecBody"]["properties"]["framework"]["enum"] == [
        "sklearn",
        "xgboost",
        "lightgbm",
        "pytorch",
        "tensorflow",
        "huggingface",
        "custom",
    ]
    assert defs["Rollout"]["properties"]["strategy"]["enum"] == ["rolling", "blueGreen", "canary"]
    assert defs["Tuning"]["properties"]["sampler"]["default"] == "tpe"
    assert defs["Training"]["properties"]["image"]["examples"]
    assert defs["Metadata"]["properties"]["name"]["examples"] == ["fraud-detector"]
    # hovers: every field documents itself (tagged-union discriminators are constants)
    undocumented = [
        f"{name}.{field}"
        for name, d in defs.items()
        for field, p in d.get("properties", {}).items()
        if "description" not in p and "const" not in p
    ]
    assert undocumented == []
    for spec in (ROOT / "specs").glob("*/maestro.yaml"):
        first = spec.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../../schemas/maestro.schema.json", spec


# ------------------------------------------------------------------ GitHub Actions


def _steps(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in job["steps"])


def test_github_workflow_has_the_checks():
    workflow = _load(WORKFLOW)
    assert set(workflow["on"]) == {"pull_request", "push"}  # YAML 1.2: `on` is a string
    jobs = workflow["jobs"]
    check = _steps(jobs["check"])
    assert "maestro validate --format github" in check
    assert "maestro render --check" in check
    assert "maestro schema --check" in check
    assert "maestro codeowners --check" in check

    diff = jobs["diff"]
    assert "pull_request" in diff["if"]
    assert diff["permissions"]["pull-requests"] == "write"
    checkout = next(s for s in diff["steps"] if str(s.get("uses", "")).startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    run = _steps(diff)
    assert re.search(r'maestro diff --base "origin/\$BASE_REF" --format markdown', run)
    step = next(s for s in diff["steps"] if "maestro diff" in str(s.get("run", "")))
    assert step["env"]["BASE_REF"] == "${{ github.base_ref }}"
    assert any(str(s.get("uses", "")).startswith("actions/github-script@") for s in diff["steps"])


def test_github_workflow_matches_the_workflow_schema():
    """check-jsonschema ships a copy of SchemaStore's workflow schema: no network needed."""
    done = _run([_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)], ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
