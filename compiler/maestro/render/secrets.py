"""secrets: Vault access for `spec.secrets`, and the check that no secret value is rendered.

For a model with secrets, in each environment (nothing at all without secrets):

- ConfigMap `<model>-vault-policy`, data `policy.hcl`: the Vault ACL policy
  `<team>-<model>-<env>`, granting `read` and nothing else on exactly the spec's paths
  (sorted, de-duplicated). `emit` also writes it to `rendered/<env>/<model>/vault/policy.hcl`.
- ServiceAccount `<model>-vault-admin` (config `endpoints.vault.admin_service_account`): the
  identity vault-config-operator logs in to Vault as (`admin_role`) to write the two objects
  below. It exists for that alone: no token is mounted, nothing binds it to a Role, no pod runs
  as it; the operator requests its tokens itself (TokenRequest). vault-config-operator reads the
  account in the CR's namespace and defaults to `default`, i.e. to every pod that has no account
  of its own, which could then write Vault policies. One per model, not per namespace: the
  models of a team share a namespace, and Argo CD refuses an object two Applications render
  (`FailOnSharedResource`). The Vault role binds the names with a glob (`*-vault-admin`;
  vault-plugin-auth-kubernetes matches names with `StrListContainsGlob` since v0.5.2).
- vault-config-operator `Policy` `<model>`: the same HCL, written to `sys/policies/acl/<policy>`.
- vault-config-operator `KubernetesAuthEngineRole` `<model>`: role `<team>-<model>-<env>` on
  the environment's Kubernetes auth mount, for the model's service account in the model's
  namespace only, with that one policy.
- Vault Secrets Operator `VaultAuth` `<model>`: logs in with that role as that account.
- Vault Secrets Operator `VaultStaticSecret` `<model>-<secret>` per secret: syncs the Vault
  secret into the Kubernetes Secret `<model>-<secret>`, holding only the keys `env` maps
  (and not VSO's `_raw` copy of the whole response). Pods read it through `secret_env`.

The tuning study's storage (issue 13): a model with `tuning` whose spec declares no
`tuning-db` secret gets one implied by `config.tuning.storage_secret` (`vault_secrets`):
Vault path from the config's pattern ({team} {model} {env}), its key mapped to
OPTUNA_STORAGE. It goes through everything above like a spec secret (policy, role, auth,
VaultStaticSecret `<model>-tuning-db`), so the Secret the tuning Job reads is synced by the
model's own identity, and nothing else of the model sees it (`secret_env` lists the spec's
secrets only). Without the config key the cluster must provide `<model>-tuning-db`
(`provided.secrets`), or the link stage reports the Job.

The rendered tree never holds a secret value: Kubernetes Secrets are created in the cluster
by the operator, never rendered. `output.secret_values` checks every rendered object for
it, whatever put the value there (a spec, an overlay patch, the platform config).

Path convention. `vaultPath` is the *API path* of a KV v2 secret: `<kv_mount>/data/<path>`,
what `vault kv get -mount=<kv_mount> <path>` reads and what a policy must name. The policy
uses it as written; VaultStaticSecret gets `mount: <kv_mount>` and `path: <path>` (VSO adds
`data/` itself). The mount is the environment's `endpoints.vault.kv_mount`, so whether a
path lies under it is known only per environment: `check` reports it (M211, at the path),
and `render` refuses a path that is not. A spec's path must also lie in its team's Vault
paths (`config.vault_paths`, by default `{kv_mount}/data/{team}/...`) or in one the platform
shares (`scope_findings`, M218): otherwise any team could have Maestro grant it read on any
other team's secrets. The implied tuning storage secret is the platform's own path.

    PASS: secret/data/payments-risk/fraud/feature-db   (kv_mount: secret)
    FAIL: payments/fraud/feature-db               (no mount: which engine?)
    FAIL: secret/metadata/payments/fraud          (metadata is not the secret)
    FAIL: secret/data/payments-risk/*             (M211 at validation: never a glob)
    FAIL: secret/data/growth/churn/db             (M218 for team payments-risk: another team's)

Defense in depth: the spec's grammar (`spec.VAULT_PATH`, DNS-label names) already rejects
anything that could widen a policy (globs, `..`, quotes, braces, newlines, `${`). The
renderer checks every value again before use and raises `UnsafeSecretReference` (a bug:
validation let it through); the template's filters check once more, and its `finalize`
refuses any value that no filter checked.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from maestro.frontend.semantics import Violation
from maestro.frontend.spec import ENV_NAME, VAULT_PATH, Spec
from maestro.frontend.spec import Secret as SpecSecret
from maestro.names import ARTIFACT_DIR, DNS1123_LABEL
from maestro.render import Context, Resource, name_of, obj, service_account_name, text_template
from maestro.resolve.config import Platform, VaultEndpoint, fill

COMPONENT = "secrets"

POLICY_TEMPLATE = "vault_policy.hcl.j2"
POLICY_KEY = "policy.hcl"
POLICY_DIR = "vault"  # rendered/<env>/<model>/vault/policy.hcl
CAPABILITIES = ("read",)  # the template grants exactly these; `_check_policy` holds it to that
KV_TYPE = "kv-v2"
VCO_API = "redhatcop.redhat.io/v1alpha1"  # vault-config-operator
VSO_API = "secrets.hashicorp.com/v1beta1"  # Vault Secrets Operator

_VAULT_PATH = re.compile(VAULT_PATH)
_PATH_CHARS = re.compile(r"[A-Za-z0-9_./-]+")  # a second, independent look at the same paths
_PATH_MAX = 512
_SECRET_KEY = re.compile(r"[A-Za-z0-9_.-]+")  # spec.SecretKey
_ENV_NAME = re.compile(ENV_NAME)


class UnsafeSecretReference(ValueError):
    """A secret reference validation should have refused reached the renderer (a bug)."""


class SecretRef(NamedTuple):
    """One `spec.secrets` entry, re-checked and resolved against the environment."""

    name: str  # the spec's name
    secret: str  # Kubernetes Secret (and VaultStaticSecret) name: <model>-<name>
    api_path: str  # <kv_mount>/data/<path>, as the policy names it
    path: str  # <path>, relative to the mount, as VSO names it
    keys: tuple[str, ...]  # the Vault keys the pods use, sorted


# ------------------------------------------------------------------ names and paths


def policy_name(spec: Spec, ctx: Context) -> str:
    """The Vault policy, and the Kubernetes auth role: `<team>-<model>-<env>`."""
    return _label(f"{spec.metadata.team}-{spec.metadata.name}-{ctx.env}", "policy name")


def secret_name(spec: Spec, name: str) -> str:
    """The synced Kubernetes Secret of `spec.secrets[].name`."""
    return f"{_label(spec.metadata.name, 'model name')}-{_label(name, 'secret name')}"


def kv_path(api_path: str, kv_mount: str) -> str | None:
    """`<kv_mount>/data/<path>` -> `<path>`; None when `api_path` is not under that mount."""
    prefix = f"{kv_mount.strip('/')}/data/"
    if not api_path.startswith(prefix) or len(api_path) == len(prefix):
        return None
    return api_path[len(prefix) :]


def check(spec: Spec, vault: VaultEndpoint) -> Iterator[Violation]:
    """Each vaultPath must lie under the environment's KV v2 mount (M211, at the path).

    Run per environment on the effective spec; `render` refuses what this reports."""
    mount = vault.kv_mount.strip("/")
    for i, s in enumerate(spec.spec.secrets):
        if kv_path(s.vault_path, mount) is None:
            yield Violation(
                f"/spec/secrets/{i}/vaultPath",
                "M211",
                f"'{s.vault_path}' is not a secret under the KV v2 mount '{mount}'",
                f"write the KV v2 API path: '{mount}/data/<path of the secret>'",
            )


def scope_findings(spec: Spec, platform: Platform, env: str) -> Iterator[Violation]:
    """Each spec secret must lie in the team's Vault paths (`config.vault_paths`: by default
    `{kv_mount}/data/{team}/...`) or a path the platform shares (M218, at the path): no team
    reads another's secrets through the policy Maestro renders for it. Run per environment
    on the effective spec (the mount is per environment); `render` refuses it again."""
    vault = platform.environments[env].endpoints.vault
    team, model = spec.metadata.team, spec.metadata.name
    for i, s in enumerate(spec.spec.secrets):
        if kv_path(s.vault_path, vault.kv_mount) is None:
            continue  # M211 says it
        if not platform.vault_paths.allows(s.vault_path, kv_mount=vault.kv_mount, team=team, model=model, env=env):
            scope = platform.vault_paths.scope(kv_mount=vault.kv_mount, team=team, model=model, env=env)
            yield Violation(
                f"/spec/secrets/{i}/vaultPath",
                "M218",
                f"'{s.vault_path}' is outside the Vault paths of team {team} ({scope})",
                f"keep the team's secrets under {scope.removesuffix('...')}; a secret several teams share must "
                "be listed in vault_paths.shared of config/platform.yaml by the platform team",
            )


def _label(value: str, what: str) -> str:
    if not isinstance(value, str) or not DNS1123_LABEL.fullmatch(value):
        raise UnsafeSecretReference(f"{what} {value!r} is not a DNS-1123 label")
    return value


def _safe_path(value: object) -> str:
    """A vaultPath, re-checked against the spec's grammar and independently of it."""
    if (
        not isinstance(value, str)
        or len(value) > _PATH_MAX
        or not _VAULT_PATH.fullmatch(value)
        or not _PATH_CHARS.fullmatch(value)
        or any(seg in ("", ".", "..") for seg in value.split("/"))
    ):
        raise UnsafeSecretReference(f"vaultPath {value!r} is not a safe Vault path; it never reaches a policy")
    return value


TUNING_DB = "tuning-db"  # the spec secret (or the implied one) with the study's RDB URL
TUNING_STORAGE_ENV = "OPTUNA_STORAGE"


def implied_tuning_secret(spec: Spec, platform: Platform, env: str) -> SpecSecret | None:
    """The `tuning-db` secret `config.tuning.storage_secret` implies for a tuning model whose spec
    declares none (module docstring); None when the spec declares it or the config does not."""
    storage = platform.tuning.storage_secret
    if storage is None or spec.spec.tuning is None or spec.spec.training is None:
        return None
    if any(s.name == TUNING_DB for s in spec.spec.secrets):
        return None
    path = fill(storage.vault_path, model=spec.metadata.name, team=spec.metadata.team, env=env)
    return SpecSecret.model_validate({"name": TUNING_DB, "vaultPath": path, "env": {TUNING_STORAGE_ENV: storage.key}})


def vault_secrets(spec: Spec, ctx: Context) -> list[SpecSecret]:
    """The Vault secrets the model syncs: its spec's, and the implied tuning storage secret."""
    implied = implied_tuning_secret(spec, ctx.platform, ctx.env)
    return [*spec.spec.secrets, *([implied] if implied is not None else [])]


def _refs(spec: Spec, secrets: list[SpecSecret], vault: VaultEndpoint) -> list[SecretRef]:
    mount = vault.kv_mount.strip("/")
    _safe_path(mount)
    out = []
    for s in secrets:
        api_path = _safe_path(s.vault_path)
        rel = kv_path(api_path, mount)
        if rel is None:
            raise UnsafeSecretReference(
                f"vaultPath {api_path!r} of secret {s.name!r} is not under the KV v2 mount '{mount}/data/'"
            )
        for var, key in s.env.items():
            if not (isinstance(var, str) and _ENV_NAME.fullmatch(var)) or not (
                isinstance(key, str) and _SECRET_KEY.fullmatch(key)
            ):
                raise UnsafeSecretReference(
                    f"secret {s.name!r}: env {var!r} -> {key!r} is not a variable name and a Vault key"
                )
        out.append(
            SecretRef(
                name=s.name,
                secret=secret_name(spec, s.name),
                api_path=api_path,
                path=rel,
                keys=tuple(sorted(set(s.env.values()))),
            )
        )
    return sorted(out, key=lambda r: r.name)


# ------------------------------------------------------------------ the policy (HCL)


class _Checked(str):
    """A value a template filter has checked for the place it goes in the HCL."""


def _hcl_path(value: object) -> _Checked:
    # Only characters that mean the same unescaped in every HCL dialect get here, so no
    # escaping is needed: Vault parses policies as HCL 1, where `$${` is not an escape.
    return _Checked(_safe_path(value))


def _hcl_name(value: object) -> _Checked:
    return _Checked(_label(str(value), "policy name"))


def _finalize(value: object) -> object:
    if isinstance(value, _Checked):
        return value
    raise UnsafeSecretReference(
        f"template value {value!r} went into the policy unchecked: pass it through an hcl_* filter"
    )


@functools.cache
def _policy_template() -> Any:
    return text_template(POLICY_TEMPLATE, {"hcl_path": _hcl_path, "hcl_name": _hcl_name}, _finalize)


def policy_hcl(name: str, paths: list[str]) -> str:
    """The ACL policy: `read` on each path (sorted, de-duplicated), nothing else."""
    unique = sorted({_safe_path(p) for p in paths})
    text: str = _policy_template().render(name=name, paths=unique)
    _check_policy(text, unique)
    return text


def _check_policy(text: str, paths: list[str]) -> None:
    """The rendered policy says exactly what we mean, or rendering stops (a bug)."""
    caps = ", ".join(f'"{c}"' for c in CAPABILITIES)
    expected = [line for p in paths for line in (f'path "{p}" {{', f"  capabilities = [{caps}]", "}")]
    body = [line for line in text.split("\n") if line.strip() and not line.startswith("#")]
    if body != expected:
        raise UnsafeSecretReference(f"the rendered Vault policy grants something else than read on {paths}:\n{text}")


# ------------------------------------------------------------------ render


def render(spec: Spec, ctx: Context) -> list[Resource]:
    secrets = vault_secrets(spec, ctx)
    if not secrets:
        return []
    vault = ctx.environment.endpoints.vault
    for finding in scope_findings(spec, ctx.platform, ctx.env):  # validation refused it already
        raise UnsafeSecretReference(f"{finding.message}: it never reaches a Vault policy")
    refs = _refs(spec, secrets, vault)
    model = name_of(spec)
    account = service_account_name(spec)
    name = policy_name(spec, ctx)
    hcl = policy_hcl(name, [r.api_path for r in refs])

    configmap = obj("v1", "ConfigMap", f"{model}-vault-policy", data={POLICY_KEY: hcl})
    configmap["metadata"]["annotations"] = {ARTIFACT_DIR: POLICY_DIR}
    admin = admin_account(spec, vault)
    if admin == account:
        raise UnsafeSecretReference(f"the Vault admin account {admin!r} is the account the model's pods run as")
    admin_sa = obj("v1", "ServiceAccount", admin, automountServiceAccountToken=False)
    policy = obj(
        VCO_API, "Policy", model, {"authentication": _admin(vault, admin), "name": name, "type": "acl", "policy": hcl}
    )
    role_spec: dict[str, Any] = {
        "authentication": _admin(vault, admin),
        "path": vault.auth_mount,
        "name": name,
        "policies": [name],
        "targetServiceAccounts": [account],
        "targetNamespaces": {"targetNamespaces": [ctx.namespace]},
        "tokenTTL": vault.token_ttl,
        "tokenMaxTTL": vault.token_max_ttl,
    }
    login: dict[str, Any] = {"role": name, "serviceAccount": account}
    if vault.audience:
        role_spec["audience"] = vault.audience
        login["audiences"] = [vault.audience]
    role = obj(VCO_API, "KubernetesAuthEngineRole", model, role_spec)
    auth = obj(VSO_API, "VaultAuth", model, {"method": "kubernetes", "mount": vault.auth_mount, "kubernetes": login})
    return [configmap, policy, role, admin_sa, auth, *(_static_secret(r, model, vault) for r in refs)]


def admin_account(spec: Spec, vault: VaultEndpoint) -> str:
    """The model's Vault admin ServiceAccount (config validation keeps it a per-model DNS label)."""
    return _label(vault.admin_service_account.replace("{model}", spec.metadata.name), "Vault admin account")


def _admin(vault: VaultEndpoint, account: str) -> dict[str, Any]:
    """How vault-config-operator logs in to Vault to write the policy and the role."""
    return {"path": vault.auth_mount, "role": vault.admin_role, "serviceAccount": {"name": account}}


def _static_secret(ref: SecretRef, auth: str, vault: VaultEndpoint) -> Resource:
    body = {
        "type": KV_TYPE,
        "mount": vault.kv_mount.strip("/"),
        "path": ref.path,
        "refreshAfter": vault.refresh_after,
        "vaultAuthRef": auth,
        "destination": {
            "name": ref.secret,
            "create": True,
            # Only the keys the pods read, and not VSO's `_raw` copy of the whole response.
            "transformation": {"excludeRaw": True, "includes": [_exactly(key) for key in ref.keys]},
        },
    }
    return obj(VSO_API, "VaultStaticSecret", ref.secret, body)


def _exactly(key: str) -> str:
    """A (Go) regex matching only `key`; a Vault key has letters, digits, '_', '-' and '.'."""
    return "^" + key.replace(".", "\\.") + "$"


def secret_env(spec: Spec) -> list[dict[str, Any]]:
    """Container `env` entries for every `spec.secrets[].env` mapping, sorted by variable:
    each reads its key from the synced Secret `<model>-<secret>`."""
    out = []
    for s in spec.spec.secrets:
        name = secret_name(spec, s.name)
        for var, key in s.env.items():
            out.append({"name": var, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}})
    return sorted(out, key=lambda e: (e["name"], e["valueFrom"]["secretKeyRef"]["name"]))
