# Vault policy vision-image-classifier-dev: read-only access to the KV v2 secrets of one model.
# Rendered by maestro from spec.secrets; edit the spec, not this file.

path "secret/data/ml-platform/optuna/dev/vision" {
  capabilities = ["read"]
}

path "secret/data/vision/s3-training" {
  capabilities = ["read"]
}
