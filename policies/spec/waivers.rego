package maestro.spec

import rego.v1

# MPS016 waivers name a waivable rule
#
# What: every entry of metadata.waivers names a known policy code (MPS### or MPK###) that
#   can be waived. Maestro applies the waivers (the named rule's findings become `info`,
#   marked waived) and checks their dates itself: an expired waiver is M406, one that ends
#   more than governance.max_waiver_days from today is M407.
# Why: a waiver for a code that does not exist (a typo, a renamed rule) silently waives
#   nothing, and the finding it was meant for keeps failing or, worse, gets fixed by hand
#   elsewhere; some rules have no waivers at all.
# Comply: use the code printed with the finding (see policies/README.md), or remove the
#   waiver and fix the finding.
# Waive: not waivable.
# PASS: waivers: [{rule: MPS002, reason: "traffic migration, OPS-123", until: 2026-12-20}]
# FAIL: waivers: [{rule: MPS02, reason: "traffic migration, OPS-123", until: 2026-12-20}]
#   -> MPS016 /metadata/waivers/0/rule "waiver names rule \"MPS02\", which is not a Maestro policy code"
deny_waivers contains result("MPS016", path, problem[1], problem[2]) if {
	some i, w in as_list(meta.waivers)
	problem := waiver_problem(w)
	path := sprintf("/metadata/waivers/%d%s", [i, problem[0]])
}
