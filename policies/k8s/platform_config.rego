package main

import rego.v1

# MPK000 platform config present
#
# What: the platform configuration the rules read (data.maestro.config with `governance`
#   and `registries`) is present.
# Why: registries and governance switches come from config/platform.yaml; without them the
#   image and mesh rules would have nothing to compare against and pass silently.
# Comply: run through maestro, or `conftest test ... --data config.json` where config.json
#   is {"maestro": {"config": {...}}}.
# Waive: not waivable.
# PASS: data.maestro.config = {"governance": {...}, "registries": [...]}
# FAIL: no data.maestro.config
#   -> MPK000 "" "platform config missing while checking Deployment web: data.maestro.config.registries is not set ..."
deny_platform_config contains result("MPK000", "", msg, hint) if {
	is_object(input)
	not kustomization
	some key, want in {"governance": "an object", "registries": "a list"}
	not config_has(key)
	msg := sprintf("platform config missing while checking %s: data.maestro.config.%s is not set (expected %s); the rules that need it cannot be evaluated", [display, key, want])
	hint := "pass the platform config as data: conftest test --data config.json, with {\"maestro\": {\"config\": ...}}"
}

config_has("governance") if is_object(data.maestro.config.governance)

config_has("registries") if is_array(data.maestro.config.registries)

# Waivers: the object's `maestro.ml/waivers` annotation lists codes whose rules are skipped
# for this object (conftest `exception` semantics: the findings are reported as suppressed).
# The annotation is set by the platform in an overlay patch, or by the renderer from a
# spec's validated metadata.waivers. MPK000, MPK009 and MPK010 cannot be waived.
exception contains [rule_names[code]] if {
	some code in waived_codes
}
