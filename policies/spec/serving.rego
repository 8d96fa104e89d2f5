package maestro.spec

import rego.v1

# MPS002 serving min replicas meet the environment's floor
#
# What: for a model that serves, spec.serving.replicas.min is at least
#   governance.min_replicas of the environment (config/platform.yaml; 1 in staging, 2 in
#   prod, 0 in dev at the time of writing).
# Why: a single replica means every node drain, eviction or crash is an outage.
# Comply: raise serving.replicas.min (in the spec, or for one environment under
#   spec.environments.<env>.serving.replicas.min).
# Waive: metadata.waivers: [{rule: MPS002, reason: "...", until: YYYY-MM-DD}]
# PASS: prod, serving: {replicas: {min: 2, max: 6}}
# FAIL: prod, serving: {replicas: {min: 1, max: 6}}
#   -> MPS002 /spec/serving/replicas/min "serving.replicas.min is 1 in prod; the platform requires at least 2 ..."
deny_min_replicas contains result("MPS002", "/spec/serving/replicas/min", msg, hint) if {
	serves
	floor_replicas := governance.min_replicas
	have := body.serving.replicas.min
	have < floor_replicas
	msg := sprintf("serving.replicas.min is %v in %s; the platform requires at least %v replicas there (governance.min_replicas)", [have, env, floor_replicas])
	hint := sprintf("set serving.replicas.min to %v or more (for this environment only: spec.environments.%s.serving.replicas.min)", [floor_replicas, env])
}

# MPS003 a PodDisruptionBudget protects serving where the platform requires one
#
# What: when governance.require_pdb is set (prod), a serving model has
#   spec.serving.replicas.min >= 2. The renderer emits a PodDisruptionBudget exactly when
#   min > 1, so this is the spec-side condition for having one.
# Why: without a PDB a node drain may evict every replica at once.
# Comply: set serving.replicas.min to 2 or more in that environment.
# Waive: metadata.waivers: [{rule: MPS003, reason: "...", until: YYYY-MM-DD}]
# PASS: prod, serving: {replicas: {min: 2}}
# FAIL: prod, serving: {replicas: {min: 1}}
#   -> MPS003 /spec/serving/replicas/min "prod requires a PodDisruptionBudget for serving, which needs serving.replicas.min >= 2; it is 1"
deny_pdb contains result("MPS003", "/spec/serving/replicas/min", msg, hint) if {
	governance.require_pdb == true
	serves
	have := body.serving.replicas.min
	have < 2 # structural: the renderer emits a PodDisruptionBudget iff min > 1
	msg := sprintf("%s requires a PodDisruptionBudget for serving (governance.require_pdb), which needs serving.replicas.min >= 2; it is %v", [env, have])
	hint := sprintf("set serving.replicas.min to 2 or more (spec.environments.%s.serving.replicas.min for this environment only)", [env])
}

# MPS004 critical models roll out progressively, with analysis
#
# What: when governance.require_canary_for_critical is set (prod), a serving model of tier
#   critical uses rollout strategy canary or blueGreen AND has rollout.analysis.
# Why: a bad model version of a critical model must be caught on a slice of traffic and
#   rolled back automatically, not discovered by its users.
# Comply: serving.rollout: {strategy: canary, steps: [10, 50, 100], analysis: {maxErrorRate: 0.01}}
#   (or strategy: blueGreen with analysis).
# Waive: metadata.waivers: [{rule: MPS004, reason: "...", until: YYYY-MM-DD}]
# PASS: tier critical, rollout: {strategy: canary, steps: [10, 100], analysis: {maxErrorRate: 0.01}}
# FAIL: tier critical, rollout: {strategy: rolling}
#   -> MPS004 /spec/serving/rollout/strategy "fraud-detector is tier critical: prod requires a canary or blueGreen rollout with analysis; strategy is rolling"
deny_critical_rollout contains result("MPS004", "/spec/serving/rollout/strategy", msg, rollout_hint) if {
	governance.require_canary_for_critical == true
	critical
	serves
	strategy := body.serving.rollout.strategy
	not strategy in progressive_strategies
	msg := sprintf("%s is tier critical: %s requires a canary or blueGreen rollout with analysis (governance.require_canary_for_critical); strategy is %v", [input.model, env, strategy])
}

deny_critical_rollout contains result("MPS004", "/spec/serving/rollout/analysis", msg, rollout_hint) if {
	governance.require_canary_for_critical == true
	critical
	serves
	rollout := body.serving.rollout
	rollout.strategy in progressive_strategies
	not is_object(rollout.analysis)
	msg := sprintf("%s is tier critical: %s requires rollout analysis so a bad version is rolled back automatically (governance.require_canary_for_critical); the %s rollout has no serving.rollout.analysis", [input.model, env, rollout.strategy])
}

progressive_strategies := {"canary", "blueGreen"}

rollout_hint := "set serving.rollout.strategy to canary (with steps) or blueGreen, and serving.rollout.analysis, e.g. {maxErrorRate: 0.01, maxLatencyP99Ms: 200}"
