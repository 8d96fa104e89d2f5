"""render/secrets.py: Vault policy (HCL), auth role, secret sync, and the no-secret-values check."""

from __future__ import annotations

import copy
import dataclasses
import random
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from conftest import MODELS, ROOT, example, example_workspace
from maestro import pipeline
from maestro.cli import main
from maestro.frontend.loader import loads
from maestro.frontend.semantics import to_diagnostics
from maestro.frontend.spec import Secret, Spec
from maestro.output.emit import Tree, folder
from maestro.output.secret_values import inline_secret_findings
from maestro.output.verify import Verifier
from maestro.pipeline import check_located
from maestro.render import Context, secrets
from maestro.render.secrets import UnsafeSecretReference, policy_hcl, render, secret_env
from maestro.serialize import dump

ENVS = ["dev", "staging", "prod"]
# model -> {secret name: vaultPath}, as the example specs have them
SPEC_SECRETS = {
    "demand-forecaster": {"warehouse": "secret/data/supply-chain/bigquery-writer"},
    "fraud-detector": {"feature-db": "secret/data/payments-risk/fraud/feature-db"},
    "image-classifier": {"object-store": "secret/data/vision/s3-training"},
}
TEAMS = {
    "churn-predictor": "growth",
    "demand-forecaster": "supply-chain",
    "fraud-detector": "payments-risk",
    "image-classifier": "vision",
}
# Models that tune and declare no `tuning-db`: config.tuning.storage_secret implies one.
TUNING = {"churn-predictor", "fraud-detector", "image-classifier"}
WITH_SECRETS = sorted(set(SPEC_SECRETS) | TUNING)


def vault_paths(model: str, env: str) -> dict[str, str]:
    """secret name -> vaultPath the model syncs in `env`."""
    out = dict(SPEC_SECRETS.get(model, {}))
    if model in TUNING:
        out["tuning-db"] = f"secret/data/ml-platform/optuna/{env}/{TEAMS[model]}"  # config/platform.yaml
    return out


HCL_OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)


def _workspace() -> Any:
    return example_workspace()


def effective(model: str, env: str = "prod") -> tuple[Spec, Context]:
    return example(model, env)  # type: ignore[no-any-return]


def with_secrets(spec: Spec, *entries: Secret) -> Spec:
    """The spec with other secrets, bypassing validation (model_copy does not validate)."""
    return spec.model_copy(update={"spec": spec.spec.model_copy(update={"secrets": list(entries)})})


def secret(name: str, vault_path: str, env: dict[str, str]) -> Secret:
    return Secret.model_validate({"name": name, "vaultPath": vault_path, "env": env})


def named(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


def parse_hcl(text: str) -> dict[str, Any]:
    return hcl2.loads(text, serialization_options=HCL_OPTIONS)


def grants(text: str) -> dict[str, list[str]]:
    """path -> capabilities, from the HCL as python-hcl2 parses it."""
    out: dict[str, list[str]] = {}
    for block in parse_hcl(text)["path"]:
        [(path, body)] = block.items()
        assert set(body) == {"capabilities"}, body
        assert path not in out
        out[path] = body["capabilities"]
    return out


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier(_workspace().platform.kubernetes_version)


# ------------------------------------------------------------------ what is rendered per example


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("model", MODELS)
def test_kinds_and_names(model: str, env: str) -> None:
    out = render(*effective(model, env))
    if model not in WITH_SECRETS:
        assert out == []
        return
    assert [(r["kind"], r["metadata"]["name"]) for r in out] == [
        ("ConfigMap", f"{model}-vault-policy"),
        ("Policy", model),
        ("KubernetesAuthEngineRole", model),
        ("ServiceAccount", f"{model}-vault-admin"),
        ("VaultAuth", model),
        *[("VaultStaticSecret", f"{model}-{name}") for name in sorted(vault_paths(model, env))],
    ]
    assert not [r for r in out if r["kind"] == "Secret"]


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("model", WITH_SECRETS)
def test_policy_grants_read_on_exactly_the_spec_paths(model: str, env: str) -> None:
    out = render(*effective(model, env))
    hcl = named(out, "ConfigMap", f"{model}-vault-policy")["data"]["policy.hcl"]
    assert grants(hcl) == {path: ["read"] for path in vault_paths(model, env).values()}
    policy = named(out, "Policy", model)["spec"]
    assert policy["policy"] == hcl
    assert policy["name"] == f"{TEAMS[model]}-{model}-{env}"
    assert policy["type"] == "acl"


def test_fraud_detector_prod_objects_exactly() -> None:
    out = render(*effective("fraud-detector", "prod"))
    admin = {"path": "kubernetes-prod", "role": "vault-admin", "serviceAccount": {"name": "fraud-detector-vault-admin"}}
    configmap = named(out, "ConfigMap", "fraud-detector-vault-policy")
    assert configmap["metadata"]["annotations"] == {"maestro.ml/artifact-dir": "vault"}
    assert configmap["data"]["policy.hcl"] == (
        "# Vault policy payments-risk-fraud-detector-prod: read-only access to the KV v2 secrets of one model.\n"
        "# Rendered by maestro from spec.secrets; edit the spec, not this file.\n"
        "\n"
        'path "secret/data/ml-platform/optuna/prod/payments-risk" {\n'
        '  capabilities = ["read"]\n'
        "}\n"
        "\n"
        'path "secret/data/payments-risk/fraud/feature-db" {\n'
        '  capabilities = ["read"]\n'
        "}\n"
    )
    assert named(out, "KubernetesAuthEngineRole", "fraud-detector")["spec"] == {
        "authentication": admin,
        "path": "kubernetes-prod",
        "name": "payments-risk-fraud-detector-prod",
        "policies": ["payments-risk-fraud-detector-prod"],
        "targetServiceAccounts": ["fraud-detector"],
        "targetNamespaces": {"targetNamespaces": ["payments-risk-prod"]},
        "tokenTTL": 3600,
        "tokenMaxTTL": 86400,
        "audience": "vault",
    }
    assert named(out, "VaultAuth", "fraud-detector")["spec"] == {
        "method": "kubernetes",
        "mount": "kubernetes-prod",
        "kubernetes": {
            "role": "payments-risk-fraud-detector-prod",
            "serviceAccount": "fraud-detector",
            "audiences": ["vault"],
        },
    }
    assert named(out, "VaultStaticSecret", "fraud-detector-feature-db")["spec"] == {
        "type": "kv-v2",
        "mount": "secret",
        "path": "payments-risk/fraud/feature-db",  # relative to the mount: VSO adds data/
        "refreshAfter": "1h",
        "vaultAuthRef": "fraud-detector",
        "destination": {
            "name": "fraud-detector-feature-db",
            "create": True,
            "transformation": {"excludeRaw": True, "includes": ["^password$", "^username$"]},
        },
    }


def test_vault_admin_is_a_dedicated_identity_no_pod_runs_as() -> None:
    from maestro.pipeline import render_model

    spec, _ = effective("fraud-detector", "prod")
    objects, diags = render_model(_workspace(), "prod", spec, "specs/fraud-detector/maestro.yaml")
    assert diags == []
    account = named(objects, "ServiceAccount", "fraud-detector-vault-admin")
    assert account["automountServiceAccountToken"] is False
    for kind in ("Policy", "KubernetesAuthEngineRole"):
        authentication = named(objects, kind, "fraud-detector")["spec"]["authentication"]
        assert authentication["serviceAccount"] == {"name": "fraud-detector-vault-admin"}
    # nothing binds it to Kubernetes permissions and no pod template names it; no pod runs as `default`
    others = [o for o in objects if o["kind"] not in ("ServiceAccount", "Policy", "KubernetesAuthEngineRole")]
    text = "\n".join(dump(o) for o in others)
    assert "fraud-detector-vault-admin" not in text
    assert "serviceAccountName: default" not in text


@pytest.mark.parametrize("value", ["default", "vault-admin", "{model}", "{model}-{team}-x", "Admin-{model}"])
def test_config_refuses_a_shared_or_default_vault_admin_account(value: str, tmp_path: Path) -> None:
    from maestro.resolve.config import load_config

    config = (ROOT / "config" / "platform.yaml").read_text(encoding="utf-8")
    (tmp_path / "config").mkdir()
    pinned = 'admin_service_account: "{model}-vault-admin"'
    (tmp_path / "config" / "platform.yaml").write_text(
        config.replace(pinned, f'admin_service_account: "{value}"', 1), encoding="utf-8"
    )
    _, diags = load_config(tmp_path)
    [d] = diags
    line = next(i for i, text in enumerate(config.splitlines(), 1) if pinned in text)  # the first environment's
    assert (d.code, d.file, d.line) == ("M301", "config/platform.yaml", line), d
    assert "one account per model" in d.message


@pytest.mark.parametrize("env", ENVS)
def test_the_tuning_job_secret_is_synced_from_the_configured_vault_path(env: str) -> None:
    """Issue 13: `<model>-tuning-db` was referenced by the tuning Job and provided by nothing.
    It is a VaultStaticSecret of the model's own Vault identity, holding exactly the key the Job reads."""
    from maestro.render import tuning

    for model in sorted(TUNING):
        spec, ctx = effective(model, env)
        vss = named(render(spec, ctx), "VaultStaticSecret", f"{model}-tuning-db")["spec"]
        assert (vss["mount"], vss["path"]) == ("secret", f"ml-platform/optuna/{env}/{TEAMS[model]}")
        assert vss["vaultAuthRef"] == model and vss["destination"]["create"] is True
        job = named(tuning.render(spec, ctx), "Job", f"{model}-tuning")
        [storage] = [
            e for e in job["spec"]["template"]["spec"]["containers"][0]["env"] if e["name"] == "OPTUNA_STORAGE"
        ]
        ref = storage["valueFrom"]["secretKeyRef"]
        assert ref["name"] == vss["destination"]["name"] and ref.get("optional") is not True
        assert vss["destination"]["transformation"]["includes"] == [f"^{ref['key']}$"]
        # Only the tuning Job reads it: the model server never sees the study's database.
        assert "OPTUNA_STORAGE" not in {e["name"] for e in secret_env(spec)}


def test_a_spec_tuning_db_secret_wins_over_the_config() -> None:
    spec, ctx = effective("churn-predictor")
    own = secret("tuning-db", "secret/data/growth/optuna", {"OPTUNA_STORAGE": "dsn"})
    vss = named(render(with_secrets(spec, own), ctx), "VaultStaticSecret", "churn-predictor-tuning-db")["spec"]
    assert vss["path"] == "growth/optuna" and vss["destination"]["transformation"]["includes"] == ["^dsn$"]


def test_without_the_config_the_cluster_provides_the_tuning_secret() -> None:
    spec, ctx = effective("churn-predictor")
    bare = dataclasses.replace(
        ctx,
        platform=ctx.platform.model_copy(
            update={"tuning": ctx.platform.tuning.model_copy(update={"storage_secret": None})}
        ),
    )
    assert render(spec, bare) == []


def test_auth_mount_and_namespace_follow_the_environment() -> None:
    spec, ctx = effective("image-classifier", "dev")
    out = render(spec, ctx)
    role = named(out, "KubernetesAuthEngineRole", "image-classifier")["spec"]
    assert role["path"] == "kubernetes-dev" and role["authentication"]["path"] == "kubernetes-dev"
    assert role["targetNamespaces"] == {"targetNamespaces": [ctx.namespace]} and ctx.namespace == "vision-dev"
    assert named(out, "VaultAuth", "image-classifier")["spec"]["mount"] == "kubernetes-dev"


def test_secret_env_for_fraud_detector() -> None:
    spec, _ = effective("fraud-detector")
    synced = "fraud-detector-feature-db"
    assert secret_env(spec) == [
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": synced, "key": "password"}}},
        {"name": "DB_USER", "valueFrom": {"secretKeyRef": {"name": synced, "key": "username"}}},
    ]
    destinations = {
        r["spec"]["destination"]["name"]
        for r in render(*effective("fraud-detector"))
        if r["kind"] == "VaultStaticSecret"
    }
    # Every spec secret is synced; the tuning study's is synced for the tuning Job only.
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in secret_env(spec)} == destinations - {
        "fraud-detector-tuning-db"
    }
    assert secret_env(effective("churn-predictor")[0]) == []


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("model", MODELS)
def test_every_object_passes_its_schema(model: str, env: str, verifier: Verifier) -> None:
    spec, ctx = effective(model, env)
    for res in pipeline.stamp(render(spec, ctx), spec, ctx, secrets.COMPONENT):
        assert verifier.verify(res) == [], res


def test_policy_is_written_as_a_file_beside_the_objects() -> None:
    out = render(*effective("fraud-detector"))
    tree = Tree()
    folder(tree, "prod/fraud-detector", out)
    assert tree.diagnostics == []
    hcl = named(out, "Policy", "fraud-detector")["spec"]["policy"]
    assert tree.files["prod/fraud-detector/vault/policy.hcl"] == hcl.encode()
    assert sorted(tree.files) == [
        "prod/fraud-detector/configmap-fraud-detector-vault-policy.yaml",
        "prod/fraud-detector/kubernetesauthenginerole-fraud-detector.yaml",
        "prod/fraud-detector/kustomization.yaml",
        "prod/fraud-detector/policy-fraud-detector.yaml",
        "prod/fraud-detector/serviceaccount-fraud-detector-vault-admin.yaml",
        "prod/fraud-detector/vault/policy.hcl",
        "prod/fraud-detector/vaultauth-fraud-detector.yaml",
        "prod/fraud-detector/vaultstaticsecret-fraud-detector-feature-db.yaml",
        "prod/fraud-detector/vaultstaticsecret-fraud-detector-tuning-db.yaml",
    ]


# ------------------------------------------------------------------ the policy text


def test_policy_paths_are_sorted_and_deduplicated() -> None:
    spec, ctx = effective("fraud-detector")
    spec = with_secrets(
        spec,
        secret("b", "secret/data/payments-risk/z/b", env={"B": "k"}),
        secret("a", "secret/data/payments-risk/a.v2/a", env={"A": "k.1"}),
        secret("c", "secret/data/payments-risk/z/b", env={"C": "k"}),  # same path, another Secret
    )
    out = render(spec, ctx)
    hcl = named(out, "Policy", "fraud-detector")["spec"]["policy"]
    # (the tuning study's secret, implied by the config, is the platform's path)
    assert list(grants(hcl)) == [
        "secret/data/ml-platform/optuna/prod/payments-risk",
        "secret/data/payments-risk/a.v2/a",
        "secret/data/payments-risk/z/b",
    ]
    assert [r["metadata"]["name"] for r in out if r["kind"] == "VaultStaticSecret"] == [
        "fraud-detector-a",
        "fraud-detector-b",
        "fraud-detector-c",
        "fraud-detector-tuning-db",
    ]
    assert named(out, "VaultStaticSecret", "fraud-detector-a")["spec"]["destination"]["transformation"] == {
        "excludeRaw": True,
        "includes": ["^k\\.1$"],
    }


def test_template_environment_is_sandboxed_strict_and_refuses_unchecked_values() -> None:
    from jinja2 import StrictUndefined
    from jinja2.exceptions import UndefinedError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = secrets._policy_template().environment
    assert isinstance(env, ImmutableSandboxedEnvironment)
    assert env.undefined is StrictUndefined and env.autoescape is False
    # A value that went through no hcl_* filter never reaches the output.
    with pytest.raises(UnsafeSecretReference, match="unchecked"):
        env.from_string('path "{{ p }}" {}').render(p="secret/data/x")
    assert env.from_string('path "{{ p | hcl_path }}" {}').render(p="secret/data/x") == 'path "secret/data/x" {}'
    with pytest.raises(UnsafeSecretReference):
        env.from_string('path "{{ p | hcl_path }}" {}').render(p='x" {} path "sys/*')
    with pytest.raises(UndefinedError):
        env.from_string("{{ missing | hcl_name }}").render()


# ------------------------------------------------------------------ hostile input


HOSTILE_PATHS = [
    'secret/data/a"b',  # quote: closes the string
    "secret/data/a}b{",  # braces: closes the block
    "secret/data/a\nb",  # newline: a new statement
    "secret/data/*",  # glob
    "secret/data/a+",  # segment glob
    "secret/data/../../sys/policies",  # climbs out
    "/secret/data/a",  # leading '/'
    "secret/data/${env}",  # HCL interpolation
    "secret/data/%{if x}",  # HCL template directive
    "secret/data/a b",  # space
    "secret/data/a/",  # empty segment
    "secret/data/a\\b",  # backslash: an escape
]
HOSTILE_NAMES = ['a"b', "a{b}", "a\nb", "*", "${x}", "..", "A", "a/b"]


def _yaml_string(value: str) -> str:
    """A YAML double-quoted scalar holding exactly `value`, on one line."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _hostile_spec(entries: list[tuple[str, str]]) -> str:
    head = (
        'apiVersion: maestro.ml/v1alpha1\nkind: Model\nmetadata:\n  name: m1\n  team: t1\n  owners: ["@t1"]\n'
        "spec:\n  framework: xgboost\n  secrets:\n"
    )
    return head + "".join(
        f"    - {{name: {_yaml_string(name)}, vaultPath: {_yaml_string(path)}, env: {{A{i}: k}}}}\n"
        for i, (name, path) in enumerate(entries)
    )


def _positions(text: str, entries: list[tuple[str, str]], which: int) -> list[tuple[int, int]]:
    """(line, col) of each entry's name (which=0) or vaultPath (which=1) in `text`."""
    lines = text.split("\n")
    out = []
    for i, entry in enumerate(entries):
        [line_no] = [n for n, line in enumerate(lines, 1) if f"env: {{A{i}: k}}" in line]
        line = lines[line_no - 1]
        key = "name: " if which == 0 else "vaultPath: "
        out.append((line_no, line.index(key + _yaml_string(entry[which])) + len(key) + 1))
    return out


def test_hostile_vault_paths_are_rejected_at_validation_with_positions() -> None:
    entries = [(f"s{i}", path) for i, path in enumerate(HOSTILE_PATHS)]
    text = _hostile_spec(entries)
    located, diags = loads(text, "maestro.yaml")
    assert located is not None and diags == []
    checked = check_located(located, _workspace().inputs)
    assert checked.spec is None  # never reaches a renderer
    found = sorted((d.line, d.col) for d in checked.diagnostics if d.code == "M211")
    assert found == _positions(text, entries, 1)
    assert {d.code for d in checked.diagnostics} == {"M211"}


def test_hostile_secret_names_are_rejected_at_validation_with_positions() -> None:
    entries = [(name, f"secret/data/ok/s{i}") for i, name in enumerate(HOSTILE_NAMES)]
    text = _hostile_spec(entries)
    located, _ = loads(text, "maestro.yaml")
    assert located is not None
    checked = check_located(located, _workspace().inputs)
    assert checked.spec is None
    assert sorted((d.line, d.col) for d in checked.diagnostics if d.code == "M201") == _positions(text, entries, 0)
    assert {d.code for d in checked.diagnostics} == {"M201"}


def test_cli_reports_a_hostile_path_at_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [("db", 'secret/data/x" } path "sys/*" { capabilities = ["sudo"] } path "y')]
    text = _hostile_spec(entries)
    (tmp_path / "maestro.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    rc = main(["--root", str(ROOT), "validate", "maestro.yaml"])
    out = capsys.readouterr().out
    [(line, col)] = _positions(text, entries, 1)
    assert rc == 1
    assert out.startswith(f"maestro.yaml:{line}:{col}: M211 spec.secrets[0].vaultPath: ")
    assert "1 error(s)" in out


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_renderer_refuses_a_hostile_path_that_skipped_validation(path: str) -> None:
    spec, ctx = effective("fraud-detector")
    bad = with_secrets(spec, Secret.model_construct(name="db", vault_path=path, env={"DB": "password"}))
    with pytest.raises(UnsafeSecretReference):
        render(bad, ctx)
    with pytest.raises(UnsafeSecretReference):
        policy_hcl("t-m-prod", ["secret/data/ok", path])


PATH_TEXT = st.one_of(
    st.text(alphabet=st.sampled_from(list('ab09_-./*+"{}$%\\ \n\t#=[]~')), min_size=1, max_size=30),
    st.lists(st.text(alphabet="aZ09_-.", min_size=1, max_size=6), min_size=1, max_size=5).map("/".join),
)


@settings(max_examples=200, deadline=None)
@given(PATH_TEXT)
def test_a_policy_grants_read_on_exactly_a_valid_path_and_refuses_the_rest(path: str) -> None:
    try:
        secret("s", path, {"A": "k"})
        valid = True
    except ValidationError:
        valid = False
    try:
        hcl = policy_hcl("t-m-prod", [path])
    except UnsafeSecretReference:
        assert not valid
        return
    assert valid and grants(hcl) == {path: ["read"]}


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_renderer_refuses_a_hostile_secret_name_that_skipped_validation(name: str) -> None:
    spec, ctx = effective("fraud-detector")
    bad = with_secrets(
        spec, Secret.model_construct(name=name, vault_path="secret/data/payments-risk/ok", env={"DB": "password"})
    )
    with pytest.raises(UnsafeSecretReference):
        render(bad, ctx)
    with pytest.raises(UnsafeSecretReference):
        secret_env(bad)


@pytest.mark.parametrize("env", [{"DB": ".*"}, {"DB\nX": "password"}, {"DB": 'a"b'}, {"1DB": "password"}])
def test_renderer_refuses_a_hostile_env_mapping_that_skipped_validation(env: dict[str, str]) -> None:
    spec, ctx = effective("fraud-detector")
    bad = with_secrets(spec, Secret.model_construct(name="db", vault_path="secret/data/payments-risk/ok", env=env))
    with pytest.raises(UnsafeSecretReference):
        render(bad, ctx)


def test_paths_outside_the_kv_mount_are_reported_per_environment_and_refused() -> None:
    text = _hostile_spec(
        [("a", "kv/data/x"), ("b", "secret/metadata/x"), ("c", "secret/data/t1/ok"), ("d", "secret/data")]
    )
    located, _ = loads(text, "maestro.yaml")
    assert located is not None
    checked = check_located(located, _workspace().inputs)
    assert checked.spec is not None  # a valid spec: the mount is known per environment
    spec = checked.effective["prod"]
    vault = _workspace().platforms["prod"].environments["prod"].endpoints.vault
    diags = to_diagnostics(secrets.check(spec, vault), located)
    assert [(d.code, d.line, d.message) for d in diags] == [
        ("M211", 10, "'kv/data/x' is not a secret under the KV v2 mount 'secret'"),
        ("M211", 11, "'secret/metadata/x' is not a secret under the KV v2 mount 'secret'"),
        ("M211", 13, "'secret/data' is not a secret under the KV v2 mount 'secret'"),
    ]
    assert diags[0].hint == "write the KV v2 API path: 'secret/data/<path of the secret>'"
    with pytest.raises(UnsafeSecretReference, match="not under the KV v2 mount"):
        render(spec, pipeline.context_for(_workspace(), "prod", spec, "maestro.yaml"))
    for model in WITH_SECRETS:
        assert list(secrets.check(effective(model)[0], vault)) == []


# ------------------------------------------------------------------ no secret value in the rendered tree


def _configmap(data: dict[str, str], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": data}
    if annotations:
        out["metadata"]["annotations"] = annotations
    return out


PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"


def test_inline_secret_findings_flags_secret_values() -> None:
    objects = [
        _configmap({"run.sh": "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"}),
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "annotations": {"k": PRIVATE_KEY}}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"password": "aHVudGVyMg=="}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "t"}, "stringData": {"password": "x"}},
        _configmap({"ghp_aB3dE6gH9jK2mN5pQ8rS1tU4vW7xY0zA3cD6": "x"}),
    ]
    diags = inline_secret_findings(objects, prefix="prod/m")
    assert {d.code for d in diags} == {"M710"} and all(d.is_error for d in diags)
    assert [(d.file, d.pointer, d.message) for d in diags] == [
        (
            "prod/m/configmap-cm.yaml",
            "/data/ghp_aB3dE6gH9jK2mN5pQ8rS1tU4vW7xY0zA3cD6",
            "ConfigMap/cm: a key of data holds what looks like a GitHub token",
        ),
        (
            "prod/m/configmap-cm.yaml",
            "/data/run.sh",
            'ConfigMap/cm: data["run.sh"] holds what looks like an AWS access key id',
        ),
        (
            "prod/m/deployment-d.yaml",
            "/metadata/annotations/k",
            "Deployment/d: metadata.annotations.k holds what looks like a private key",
        ),
        (
            "prod/m/secret-s.yaml",
            "/data",
            "Secret/s: data: a Secret with inline data; secrets reach the cluster only from Vault (VaultStaticSecret)",
        ),
        (
            "prod/m/secret-t.yaml",
            "/stringData",
            "Secret/t: stringData: a Secret with inline stringData; secrets reach the cluster only from Vault "
            "(VaultStaticSecret)",
        ),
    ]
    # A Secret without values (VSO creates the synced ones in the cluster) is not a finding.
    assert inline_secret_findings([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}]) == []


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("model", MODELS)
def test_inline_secret_findings_passes_every_example(model: str, env: str) -> None:
    ws = _workspace()
    spec, ctx = effective(model, env)
    objects, diags = pipeline.render_model(ws, env, spec, ctx.source)
    assert diags == []
    objects += pipeline.stamp(render(spec, ctx), spec, ctx, secrets.COMPONENT)
    assert inline_secret_findings(objects) == []


# ------------------------------------------------------------------ determinism and purity


def test_output_does_not_depend_on_the_order_of_secrets_or_env() -> None:
    spec, ctx = effective("fraud-detector")
    entries = [
        secret(f"s{i}", f"secret/data/payments-risk/s{i % 3}", env={f"V{i}_{j}": f"k{j}" for j in range(4)})
        for i in range(6)
    ]
    expected = render(with_secrets(spec, *entries), ctx)
    expected_env = secret_env(with_secrets(spec, *entries))
    rng = random.Random(1)
    for _ in range(10):
        shuffled = []
        for e in rng.sample(entries, len(entries)):
            keys = list(e.env.items())
            rng.shuffle(keys)
            shuffled.append(secret(e.name, e.vault_path, env=dict(keys)))
        assert render(with_secrets(spec, *shuffled), ctx) == expected
        assert secret_env(with_secrets(spec, *shuffled)) == expected_env


def test_render_is_pure() -> None:
    spec, ctx = effective("image-classifier")
    before = spec.model_dump()
    first = render(spec, ctx)
    snapshot = copy.deepcopy(first)
    first[0]["data"]["policy.hcl"] = "changed"
    first[2]["spec"]["policies"].append("root")
    assert render(spec, ctx) == snapshot  # no shared state between calls
    assert spec.model_dump() == before


# ------------------------------------------------------------------ team-scoped Vault paths (issue 14)


def test_vault_paths_are_scoped_per_team_by_default() -> None:
    paths = _workspace().platform.vault_paths
    ok = dict(kv_mount="secret", team="payments-risk", model="fraud-detector", env="prod")
    assert paths.allows("secret/data/payments-risk/fraud/feature-db", **ok)
    assert paths.allows("secret/data/payments-risk/x", **ok)
    for other in (
        "secret/data/growth/churn/db",  # another team's
        "secret/data/payments/fraud/feature-db",  # a team whose name is a prefix
        "secret/data/payments-risk",  # the folder, not a secret in it
        "secret/data/payments-riskier/x",
        "kv/data/payments-risk/x",  # another mount
    ):
        assert not paths.allows(other, **ok), other


def test_a_pattern_and_shared_paths_from_config() -> None:
    from maestro.resolve.config import VaultPaths, vault_pattern_problem

    paths = VaultPaths(
        pattern="{kv_mount}/data/teams/{team}/{model}/...", shared=["{kv_mount}/data/shared/ca", "x/..."]
    )
    ok = dict(kv_mount="/kv/", team="t", model="m", env="dev")
    assert paths.allows("kv/data/teams/t/m/db", **ok) and not paths.allows("kv/data/teams/t/other/db", **ok)
    assert paths.allows("kv/data/shared/ca", **ok) and not paths.allows("kv/data/shared/ca/more", **ok)
    assert paths.allows("x/anything/below", **ok) and not paths.allows("x", **ok)
    assert paths.scope(**ok) == "kv/data/teams/t/m/..."
    assert vault_pattern_problem("{kv_mount}/data/...", scoped=True) is not None  # no team, no model
    assert vault_pattern_problem("{kv_mount}/data/shared/...", scoped=False) is None
    assert "unknown placeholder" in str(vault_pattern_problem("{kv_mount}/data/{tenant}/...", scoped=True))
    for bad in ("{kv_mount}/data/{team}/*", "{kv_mount}/../{team}", ".../{team}", "{kv_mount}/data/{team}/.../x"):
        assert vault_pattern_problem(bad, scoped=True) is not None, bad


def test_another_teams_path_is_reported_per_environment_and_refused_at_render() -> None:
    spec, ctx = effective("fraud-detector")
    bad = with_secrets(spec, secret("db", "secret/data/growth/churn/db", env={"DB": "password"}))
    found = list(secrets.scope_findings(bad, ctx.platform, "prod"))
    assert [(f.pointer, f.code) for f in found] == [("/spec/secrets/0/vaultPath", "M218")]
    assert (
        found[0].message == "'secret/data/growth/churn/db' is outside the Vault paths of team payments-risk "
        "(secret/data/payments-risk/...)"
    )
    with pytest.raises(UnsafeSecretReference, match="outside the Vault paths of team payments-risk"):
        render(bad, ctx)
    for model in WITH_SECRETS:
        assert list(secrets.scope_findings(effective(model)[0], ctx.platform, "prod")) == []


# ------------------------------------------------------------------ secret hygiene (issue 14)


def _containers(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [c for key in ("containers", "initContainers") for c in node.get(key) or [] if isinstance(c, dict)]
        return found + [c for key, value in node.items() for c in _containers(value)]
    if isinstance(node, list):
        return [c for value in node for c in _containers(value)]
    return []


def test_every_variable_a_renderer_sets_is_one_a_secret_may_not_shadow() -> None:
    """The reserved names in frontend/semantics.py cannot drift from what the renderers set:
    every variable of every container of every example in every environment that does not
    come from a Secret is reserved."""
    from conftest import example_specs
    from maestro.frontend.semantics import reserved_env

    ws = example_workspace()
    set_by_platform: set[str] = set()
    for model in sorted(p.parent.name for p in (ROOT / "specs").glob("*/maestro.yaml")):
        for env, spec in example_specs(model).items():
            objects, _ = pipeline.render_model(ws, env, spec, f"specs/{model}/maestro.yaml")
            for container in _containers(objects):
                for entry in container.get("env") or []:
                    if "secretKeyRef" not in (entry.get("valueFrom") or {}):
                        set_by_platform.add(entry["name"])
    assert len(set_by_platform) > 15
    assert sorted(n for n in set_by_platform if reserved_env(n) is None) == []


@pytest.mark.parametrize(
    ("text", "refs"),
    [
        ("--password=$(DB_PASSWORD)", ["DB_PASSWORD"]),
        ("$(A)$(B) and $$(C) and $$$(D)", ["A", "B", "D"]),  # $$ is a literal $, as in Kubernetes
        ("$(unclosed", []),
        ("price: $5 (net)", []),
    ],
)
def test_env_references_read_command_lines_as_the_kubelet_does(text: str, refs: list[str]) -> None:
    from maestro.frontend.semantics import env_references

    assert env_references(text) == refs


def test_an_overlay_patch_that_puts_a_secret_on_a_command_line_is_refused_at_the_patch() -> None:
    from maestro.output.secret_values import command_line_findings

    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "args": ["--user=$(DB_USER)", "--literal=$$(DB_PASSWORD)", "--password=$(DB_PASSWORD)"],
                            "env": [
                                {"name": "DB_USER", "value": "reader"},
                                {
                                    "name": "DB_PASSWORD",
                                    "valueFrom": {"secretKeyRef": {"name": "m-db", "key": "password"}},
                                },
                            ],
                        }
                    ]
                }
            }
        },
    }
    [d] = command_line_findings([job], prefix="prod/m")
    assert (d.code, d.file, d.pointer) == ("M220", "prod/m/job-j.yaml", "/spec/template/spec/containers/0/args/2")
    assert "Secret m-db (DB_PASSWORD)" in d.message
