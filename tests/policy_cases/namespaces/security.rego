package k8s.security

import rego.v1

deny_privileged contains "security: privileged" if input.privileged

exception contains ["privileged"] if input.trusted
