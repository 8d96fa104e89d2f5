# Maestro spec-scope policies: shared helpers (no rules that report anything live here).
#
# Input (one evaluation per model per environment):
#   input.env, input.model, input.team, input.tier
#   input.spec        the resolved spec for that environment (camelCase keys, defaults filled,
#                     absent optional sections are null, `environments` removed)
#   input.argocd.sync "automated" | "manual" (from the platform config and the overlay)
#   input.estimates.tuning  null | {trials, trialHours, cpuHours, gpuHours, cost, currency}
# Data: data.maestro.config = {env, governance, team, registries, costs} for that env/team.
#
# Every result is {"msg", "code", "path", "hint"}: `path` is a JSON pointer into input.spec,
# `hint` says how to comply. Thresholds come from data.maestro.config, never from literals.
package maestro.spec

import rego.v1

config := data.maestro.config

governance := data.maestro.config.governance

team_settings := data.maestro.config.team

body := input.spec.spec

meta := input.spec.metadata

env := input.env

# A result object, as the Maestro integration and conftest expect it.
result(code, path, msg, hint) := {"msg": msg, "code": code, "path": path, "hint": hint}

# x if it is an array, else [] (null, missing).
as_list(x) := x if is_array(x)

else := []

# Numbers in messages: at most two decimals, no trailing ".0".
num(x) := sprintf("%v", [round(x * 100) / 100])

# The model serves online (a `serving` section is present).
serves if is_object(body.serving)

critical if meta.tier == "critical"

# ---------------------------------------------------------------- images

# `registry/repo:tag@sha256:...` -> "sha256:..."
image_digest(img) := d if {
	parts := split(img, "@")
	count(parts) == 2
	d := parts[1]
	d != ""
}

# The tag of an image reference (undefined when it has none). The registry's port is not
# a tag: only the last path segment is looked at.
image_tag(img) := t if {
	repo := split(img, "@")[0]
	segs := split(repo, "/")
	parts := split(segs[count(segs) - 1], ":")
	count(parts) == 2
	t := parts[1]
}

# A tag that names a release: 1.4.2, v2, 2.0.1-cuda12.1, 2026.01.15 (never `latest`,
# branch names or bare commit hashes; use a digest for those).
semver_ish(tag) if regex.match(`^v?[0-9]+(\.[0-9]+){0,3}([-+_.][0-9A-Za-z][0-9A-Za-z._+-]*)?$`, tag)

# The image resolves to `latest`: tagged latest, or no tag and no digest.
uses_latest(img) if {
	not image_digest(img)
	image_tag(img) == "latest"
}

uses_latest(img) if {
	not image_digest(img)
	not image_tag(img)
}

pinned(img) if image_digest(img)

pinned(img) if {
	tag := image_tag(img)
	tag != "latest"
	semver_ish(tag)
}

# Registry prefixes match on whole path segments: "ghcr.io/acme-ml" allows
# "ghcr.io/acme-ml/x:1" but not "ghcr.io/acme-mlx/x:1".
allowed_registry(img) if {
	some prefix in as_list(config.registries)
	startswith(img, concat("", [trim_right(prefix, "/"), "/"]))
}

# ---------------------------------------------------------------- codes and waivers

# Every spec-scope code and the name of its rule (deny_<name> or warn_<name>).
rule_names := {
	"MPS000": "platform_config",
	"MPS001": "ownership",
	"MPS002": "min_replicas",
	"MPS003": "pdb",
	"MPS004": "critical_rollout",
	"MPS005": "promotion_gates",
	"MPS006": "manual_sync",
	"MPS007": "tuning_team_budget",
	"MPS008": "tuning_spec_budget",
	"MPS009": "max_replicas",
	"MPS010": "gpus_per_pod",
	"MPS011": "max_trials",
	"MPS012": "drift_monitoring",
	"MPS013": "slo",
	"MPS014": "training_image_pinned",
	"MPS015": "training_image_registry",
	"MPS016": "waivers",
	"MPS017": "unlocked",
	"MPS030": "log_level",
	"MPS031": "trace_sampling",
}

# Resource-scope codes (policies/k8s) a spec may also name in a waiver (for the objects
# rendered from it).
k8s_codes := {
	"MPK000", "MPK001", "MPK002", "MPK003", "MPK004", "MPK005", "MPK006", "MPK007",
	"MPK008", "MPK009", "MPK010", "MPK011", "MPK012", "MPK013", "MPK014",
}

# Codes no waiver can switch off: the policy machinery itself, committed Secret objects
# and credentials written into manifests.
not_waivable := {"MPS000", "MPS016", "MPK000", "MPK009", "MPK010"}

known_code(code) if rule_names[code]

known_code(code) if code in k8s_codes

# The problem with one waiver's rule code, as [pointer suffix, message, hint]; undefined
# when the code is one a waiver may name. Dates (expiry, governance.max_waiver_days) are
# checked by Maestro itself (governance.py: M406, M407), which also applies the waivers.
waiver_problem(w) := ["/rule", sprintf("waiver names rule %q, which is not a Maestro policy code", [w.rule]), "name a code from policies/README.md, e.g. MPS002"] if {
	not known_code(w.rule)
} else := ["/rule", sprintf("waiver names rule %s, which cannot be waived", [w.rule]), "fix the finding instead; this rule has no waivers"] if {
	w.rule in not_waivable
}
