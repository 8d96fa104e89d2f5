# Vault policy payments-risk-fraud-detector-staging: read-only access to the KV v2 secrets of one model.
# Rendered by maestro from spec.secrets; edit the spec, not this file.

path "secret/data/ml-platform/optuna/staging/payments-risk" {
  capabilities = ["read"]
}

path "secret/data/payments-risk/fraud/feature-db" {
  capabilities = ["read"]
}
