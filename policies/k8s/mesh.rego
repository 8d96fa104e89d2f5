package main

import rego.v1

# MPK011 Istio PeerAuthentication is STRICT
#
# What: where governance.require_mtls is set (staging, prod), every PeerAuthentication sets
#   spec.mtls.mode: STRICT, and every port-level override (spec.portLevelMtls) is STRICT.
#   An absent mode (UNSET, inherit) does not count: the object must say STRICT itself.
# Why: PERMISSIVE or DISABLE accept plaintext, so any pod in the cluster could call the
#   model without an identity, bypassing AuthorizationPolicy.
# Comply: spec: {mtls: {mode: STRICT}} (Maestro renders this).
# Waive: annotation maestro.ml/waivers: "MPK011" on the object.
# PASS: spec: {mtls: {mode: STRICT}}
# FAIL: spec: {mtls: {mode: PERMISSIVE}}
#   -> MPK011 /spec/mtls/mode "PeerAuthentication fraud-detector sets mTLS mode PERMISSIVE; prod requires STRICT ..."
deny_peer_authentication contains result("MPK011", path, msg, mtls_hint) if {
	governance.require_mtls == true
	kind == "PeerAuthentication"
	mode := object.get(input, ["spec", "mtls", "mode"], null)
	mode != "STRICT"
	path := mtls_path
	msg := sprintf("%s sets mTLS mode %s; %s requires STRICT (governance.require_mtls)", [display, mode_text(mode), env])
}

deny_peer_authentication contains result("MPK011", path, msg, mtls_hint) if {
	governance.require_mtls == true
	kind == "PeerAuthentication"
	some port, setting in as_object(input.spec.portLevelMtls)
	mode := object.get(as_object(setting), "mode", null)
	mode != "STRICT"
	path := pointer(["spec", "portLevelMtls", port])
	msg := sprintf("%s sets mTLS mode %s for port %v; %s requires STRICT (governance.require_mtls)", [display, mode_text(mode), port, env])
}

mtls_hint := "set spec.mtls.mode: STRICT (and STRICT for every spec.portLevelMtls entry)"

mode_text(mode) := "UNSET (not given)" if mode == null

else := mode

mtls_path := "/spec/mtls/mode" if {
	is_string(input.spec.mtls.mode)
} else := "/spec/mtls" if {
	is_object(input.spec.mtls)
} else := "/spec" if {
	is_object(input.spec)
} else := ""

# MPK012 DestinationRule keeps TLS on
#
# What: where governance.require_mtls is set, no DestinationRule traffic policy (top level,
#   per port, per subset, per subset port) sets tls.mode: DISABLE.
# Why: DISABLE makes the client sidecar send plaintext, which a STRICT server rejects or,
#   worse, a permissive one accepts without identity.
# Comply: tls: {mode: ISTIO_MUTUAL} (Maestro renders this) or leave tls out.
# Waive: annotation maestro.ml/waivers: "MPK012" on the object.
# PASS: trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
# FAIL: trafficPolicy: {tls: {mode: DISABLE}}
#   -> MPK012 /spec/trafficPolicy/tls/mode "DestinationRule fraud-detector disables TLS at spec.trafficPolicy; prod requires mTLS ..."
deny_destination_rule_tls contains result("MPK012", pointer(array.concat(segs, ["tls", "mode"])), msg, hint) if {
	governance.require_mtls == true
	kind == "DestinationRule"
	some segs in traffic_policies
	object.get(input, array.concat(segs, ["tls", "mode"]), null) == "DISABLE"
	msg := sprintf("%s disables TLS at %s (tls.mode: DISABLE); %s requires mTLS between workloads (governance.require_mtls)", [display, concat(".", [sprintf("%v", [s]) | some s in segs]), env])
	hint := "use tls.mode: ISTIO_MUTUAL, or remove the tls setting"
}

# Paths of every traffic policy and port-level setting of a DestinationRule.
traffic_policies contains ["spec", "trafficPolicy"] if is_object(input.spec.trafficPolicy)

traffic_policies contains ["spec", "trafficPolicy", "portLevelSettings", i] if {
	some i, _ in as_list(input.spec.trafficPolicy.portLevelSettings)
}

traffic_policies contains ["spec", "subsets", i, "trafficPolicy"] if {
	some i, s in as_list(input.spec.subsets)
	is_object(s.trafficPolicy)
}

traffic_policies contains ["spec", "subsets", i, "trafficPolicy", "portLevelSettings", j] if {
	some i, s in as_list(input.spec.subsets)
	some j, _ in as_list(s.trafficPolicy.portLevelSettings)
}
