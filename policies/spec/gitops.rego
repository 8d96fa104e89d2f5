package maestro.spec

import rego.v1

# MPS006 critical models sync manually in production
#
# What: in production, a model of tier critical is deployed by an Argo CD Application
#   whose sync is manual (input.argocd.sync == "manual"): a person presses Sync after
#   review. "Production" is governance.require_manual_sync_for_critical when the platform
#   config has that key; without it, the environment named prod.
#   The sync mode is not a spec field: it comes from the environment's `sync` in
#   config/platform.yaml and the overlay's `argocd.manualForTiers`, so the finding points
#   at /metadata/tier, the spec field that makes it apply.
# Why: automated sync would ship every merged change to a critical model's production
#   traffic with no approval step.
# Comply: keep critical tiers in overlays/prod/overlay.yaml `argocd.manualForTiers` (the
#   platform team's file), or lower metadata.tier if the model is not critical.
# Waive: metadata.waivers: [{rule: MPS006, reason: "...", until: YYYY-MM-DD}]
# PASS: prod, tier critical, argocd.sync manual
# FAIL: prod, tier critical, argocd.sync automated
#   -> MPS006 /metadata/tier "fraud-detector is tier critical, so its prod Argo CD sync must be manual; it is automated ..."
deny_manual_sync contains result("MPS006", "/metadata/tier", msg, hint) if {
	manual_sync_required
	critical
	sync := object.get(object.get(input, "argocd", {}), "sync", null)
	sync != "manual"
	msg := sprintf("%s is tier critical, so its %s Argo CD sync must be manual (an approval step); it is %v, as configured by the platform config's environment sync and the %s overlay's argocd.manualForTiers, not by the spec", [input.model, env, sync, env])
	hint := sprintf("add critical to argocd.manualForTiers in overlays/%s/overlay.yaml (platform team), or lower metadata.tier", [env])
}

manual_sync_required if governance.require_manual_sync_for_critical == true

manual_sync_required if {
	not "require_manual_sync_for_critical" in object.keys(governance)
	env == "prod"
}
