# Vault policy growth-churn-predictor-staging: read-only access to the KV v2 secrets of one model.
# Rendered by maestro from spec.secrets; edit the spec, not this file.

path "secret/data/ml-platform/optuna/staging/growth" {
  capabilities = ["read"]
}
