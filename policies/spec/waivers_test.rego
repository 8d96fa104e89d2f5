package maestro.spec_test

import rego.v1

waiver(code) := {"rule": code, "reason": "moving to two replicas, see OPS-123", "until": "2026-12-20", "ticket": "OPS-123"}

test_waiver_for_known_codes_passes if {
	inp := with_metadata({"waivers": [waiver("MPS002"), waiver("MPK004")]})
	count(data.maestro.spec.deny_waivers) == 0 with input as inp with data.maestro.config as prod_config
}

test_unknown_and_unwaivable_codes if {
	inp := with_metadata({"waivers": [waiver("MPS02"), waiver("MPK009"), waiver("MPS016"), waiver("MPS004")]})
	r := data.maestro.spec.deny_waivers with input as inp with data.maestro.config as prod_config
	r == {
		{
			"code": "MPS016",
			"path": "/metadata/waivers/0/rule",
			"msg": "waiver names rule \"MPS02\", which is not a Maestro policy code",
			"hint": "name a code from policies/README.md, e.g. MPS002",
		},
		{
			"code": "MPS016",
			"path": "/metadata/waivers/1/rule",
			"msg": "waiver names rule MPK009, which cannot be waived",
			"hint": "fix the finding instead; this rule has no waivers",
		},
		{
			"code": "MPS016",
			"path": "/metadata/waivers/2/rule",
			"msg": "waiver names rule MPS016, which cannot be waived",
			"hint": "fix the finding instead; this rule has no waivers",
		},
	}
}

test_waivers_do_not_suppress_in_rego if {
	# Maestro applies waivers to the findings; the policies report them unchanged
	inp := object.union(with_body({"serving": {"replicas": {"min": 1}}}), {"spec": {"metadata": {"waivers": [waiver("MPS002")]}}})
	count(data.maestro.spec.deny_min_replicas) == 1 with input as inp with data.maestro.config as prod_config
}
