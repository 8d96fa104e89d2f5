# Vault policy vision-image-classifier-prod: read-only access to the KV v2 secrets of one model.
# Rendered by maestro from spec.secrets; edit the spec, not this file.

path "secret/data/ml-platform/optuna/prod/vision" {
  capabilities = ["read"]
}

path "secret/data/vision/s3-training" {
  capabilities = ["read"]
}
