package maestro.spec

import rego.v1

# MPS001 ownership: owners and cost center
#
# What: metadata.owners lists at least one owner and metadata.costCenter is set.
# Why: alerts page the owners and the model's spend is charged to the cost center; a model
#   nobody owns or pays for cannot be operated.
# Comply: set `metadata.owners: ["@org/team"]` and `metadata.costCenter: cc-1234`.
# Waive: metadata.waivers: [{rule: MPS001, reason: "...", until: YYYY-MM-DD}]
# PASS: metadata: {owners: ["@payments-risk/ml"], costCenter: cc-4411}
# FAIL: metadata: {owners: ["@payments-risk/ml"]}            (no costCenter)
#   -> MPS001 /metadata/costCenter "model fraud-detector has no metadata.costCenter: ..."
deny_ownership contains result("MPS001", "/metadata/owners", msg, hint) if {
	is_object(meta)
	count(as_list(object.get(meta, "owners", []))) == 0
	msg := sprintf("model %s has no owners: metadata.owners must list at least one owner to page (found %v)", [object.get(meta, "name", "?"), object.get(meta, "owners", null)])
	hint := "list code owners ('@org/team' or an e-mail address) in metadata.owners"
}

deny_ownership contains result("MPS001", "/metadata/costCenter", msg, hint) if {
	is_object(meta)
	not has_cost_center
	msg := sprintf("model %s has no metadata.costCenter: every model is charged to a cost center (found %v)", [object.get(meta, "name", "?"), object.get(meta, "costCenter", null)])
	hint := "set metadata.costCenter to the cost center charged for the model, e.g. cc-4411"
}

has_cost_center if {
	is_string(meta.costCenter)
	trim_space(meta.costCenter) != ""
}
