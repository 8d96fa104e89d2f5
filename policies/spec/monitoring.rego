package maestro.spec

import rego.v1

# MPS012 critical models with features watch for drift
#
# What: when governance.require_drift_for_critical is set (prod), a model of tier critical
#   that declares Feast features (spec.features) has spec.monitoring.drift.
# Why: a critical model silently degrades when its input distribution moves; drift alerts
#   are the early warning. Models without declared features have nothing to watch.
# Comply: monitoring: {drift: {method: psi, threshold: 0.2, features: [<feature names>]}}
# Waive: metadata.waivers: [{rule: MPS012, reason: "...", until: YYYY-MM-DD}]
# PASS: tier critical, features declared, monitoring: {drift: {features: [amount_avg_7d]}}
# FAIL: tier critical, features declared, monitoring: {drift: null}
#   -> MPS012 /spec/monitoring/drift "fraud-detector is tier critical and declares features: prod requires drift monitoring ..."
deny_drift_monitoring contains result("MPS012", "/spec/monitoring/drift", msg, hint) if {
	governance.require_drift_for_critical == true
	critical
	is_object(body.features)
	not is_object(body.monitoring.drift)
	msg := sprintf("%s is tier critical and declares features: %s requires drift monitoring (governance.require_drift_for_critical); spec.monitoring.drift is not set", [input.model, env])
	hint := "add monitoring.drift, e.g. {method: psi, threshold: 0.2, features: [<the features the model relies on most>]}"
}

# MPS013 critical serving models have an SLO
#
# What: when governance.require_drift_for_critical is set (prod), a serving model of tier
#   critical has spec.monitoring.slo.
# Why: the SLO drives the burn-rate alerts and the rollout analysis baseline; a critical
#   endpoint without one has no definition of "down".
# Comply: monitoring: {slo: {availability: 99.9, latencyP99Ms: 100, window: 30d}}
# Waive: metadata.waivers: [{rule: MPS013, reason: "...", until: YYYY-MM-DD}]
# PASS: tier critical, serving, monitoring: {slo: {availability: 99.9}}
# FAIL: tier critical, serving, monitoring: null
#   -> MPS013 /spec/monitoring/slo "fraud-detector is tier critical and serves: prod requires an SLO ..."
deny_slo contains result("MPS013", "/spec/monitoring/slo", msg, hint) if {
	governance.require_drift_for_critical == true
	critical
	serves
	not is_object(body.monitoring.slo)
	msg := sprintf("%s is tier critical and serves: %s requires an SLO for its burn-rate alerts (governance.require_drift_for_critical); spec.monitoring.slo is not set", [input.model, env])
	hint := "add monitoring.slo, e.g. {availability: 99.9, latencyP99Ms: 100, window: 30d}"
}
