package maestro.spec

import rego.v1

# MPS000 platform config present
#
# What: the platform configuration the rules read (data.maestro.config with `governance`,
#   `team` and `registries`) is present.
# Why: every threshold comes from config/platform.yaml; without it the other rules would
#   have nothing to compare against and pass silently. This rule makes that fail instead.
# Comply: nothing to do in a spec. When running the policies by hand, pass the config as
#   data (conftest --data config.json, or `maestro validate`, which does it for you).
# Waive: not waivable.
# PASS: data.maestro.config = {"governance": {...}, "team": {...}, "registries": [...]}
# FAIL: no data.maestro.config
#   -> MPS000 /metadata/name "platform config missing for model fraud-detector: data.maestro.config.governance is not set ..."
deny_platform_config contains result("MPS000", "/metadata/name", msg, hint) if {
	is_object(input.spec)
	some key, want in {"governance": "an object", "team": "an object", "registries": "a list"}
	not config_has(key)
	msg := sprintf("platform config missing for model %s: data.maestro.config.%s is not set (expected %s); governance rules cannot be evaluated", [object.get(input, "model", "?"), key, want])
	hint := "run the policies through maestro, or pass the platform config as data (conftest --data)"
}

config_has("governance") if is_object(data.maestro.config.governance)

config_has("team") if is_object(data.maestro.config.team)

config_has("registries") if is_array(data.maestro.config.registries)
