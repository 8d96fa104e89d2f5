package main

import rego.v1

# MPK010 no literal credentials in env
#
# What: no container sets a literal `value` for an environment variable whose name looks
#   like a credential: a name segment (split on "_") of PASSWORD, PASSWD, SECRET, TOKEN,
#   APIKEY, CREDENTIAL(S), or the pairs API_KEY, PRIVATE_KEY, ACCESS_KEY. `valueFrom`
#   (secretKeyRef from the Vault-synced Secret) is how such variables are filled.
#   TOKENIZERS_PARALLELISM and the like are not credentials and pass.
# Why: a literal value in a manifest is a credential in Git and in every `kubectl get`.
# Comply: declare the secret in spec.secrets (Vault path + env mapping); Maestro renders
#   valueFrom.secretKeyRef for it.
# Waive: not waivable.
# PASS: env: [{name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: feature-db, key: password}}}]
# FAIL: env: [{name: DB_PASSWORD, value: hunter2}]
#   -> MPK010 /spec/template/spec/containers/0/env/0/value "container \"app\" of Deployment web sets DB_PASSWORD to a literal value ..."
deny_literal_credentials contains result("MPK010", at(c, ["env", i, "value"]), msg, hint) if {
	some c in containers
	some i, e in as_list(c.container.env)
	is_string(e.name)
	credential_name(e.name)
	is_string(e.value)
	e.value != ""
	msg := sprintf("%s sets %s to a literal value; credentials must come from Vault through valueFrom.secretKeyRef (the value is not shown here)", [label(c), e.name])
	hint := "declare the secret in spec.secrets (vaultPath and env mapping) so the variable is filled from the Vault-synced Secret"
}

credential_name(name) if regex.match(`(^|_)(PASSWORD|PASSWD|SECRET|TOKEN|APIKEY|CREDENTIALS?|API_KEY|PRIVATE_KEY|ACCESS_KEY)(_|$)`, upper(name))
