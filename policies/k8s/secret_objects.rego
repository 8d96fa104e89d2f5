# This file keeps the older (v0) Rego syntax on purpose: conftest bundles written before
# OPA 1.0 still load next to the v1 files (the engine picks the syntax per file).
package main

# MPK009 no Secret objects in Git
#
# What: no rendered object is a core/v1 Secret.
# Why: a Secret in Git is a credential in Git (base64 is not encryption). Secrets reach
#   pods only through Vault: spec.secrets declares the Vault path, and the platform's
#   operator syncs it into the namespace.
# Comply: delete the Secret manifest; declare spec.secrets: [{name, vaultPath, env}] instead.
# Waive: not waivable.
# PASS: kind: VaultStaticSecret (a reference to Vault)
# FAIL: kind: Secret
#   -> MPK009 /kind "Secret db-credentials is a Kubernetes Secret in the rendered tree ..."
deny_secret_object[result("MPK009", "/kind", msg, hint)] {
	input.kind == "Secret"
	startswith(object.get(input, "apiVersion", "v1"), "v1")
	msg := sprintf("%s is a Kubernetes Secret in the rendered tree; secrets come only from Vault", [display])
	hint := "remove the Secret and declare it in spec.secrets (a Vault path and the env variables it fills)"
}
