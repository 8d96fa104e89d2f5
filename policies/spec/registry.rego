package maestro.spec

import rego.v1

# MPS005 promotion gates meet the platform minimums
#
# What: for every metric in governance.min_gates of the environment (prod: val_auc >= 0.85
#   at the time of writing), a model that serves has a gate on that metric with op ">="
#   (or ">") and a value at least the platform minimum. Batch-only models are gated on
#   their own metrics (a forecaster has no AUC); the minimums guard online traffic.
#   min_gates are lower bounds: only ">=" and ">" gates can satisfy them, so metrics where
#   lower is better (loss, error rates) must not be listed there as they are. A gate
#   with "<=", "<" or "==" on a listed metric does not count.
# Why: the registry only promotes a version whose run metrics pass the gates; the platform
#   sets the quality floor for what may reach production traffic.
# Comply: add or tighten the gate, e.g. registry.gates: [{metric: val_auc, op: ">=", value: 0.9}].
#   If the metric does not exist for your kind of model, ask for a waiver.
# Waive: metadata.waivers: [{rule: MPS005, reason: "...", until: YYYY-MM-DD}]
# PASS: prod, gates: [{metric: val_auc, op: ">=", value: 0.92}]
# FAIL: prod, gates: [{metric: val_auc, op: ">=", value: 0.80}]
#   -> MPS005 /spec/registry/gates/0/value "gate val_auc >= 0.8 is below the platform minimum in prod: val_auc >= 0.85 ..."
# FAIL: prod, gates: []
#   -> MPS005 /spec/registry/gates "prod requires a promotion gate val_auc >= 0.85 ...; registry.gates has none on val_auc"
deny_promotion_gates contains result("MPS005", path, msg, hint) if {
	promotes
	some metric, minimum in governance.min_gates
	count([g | some g in gates; g.metric == metric]) == 0
	path := gates_path
	msg := sprintf("%s requires a promotion gate %s >= %v (governance.min_gates); registry.gates has none on %s", [env, metric, minimum, metric])
	hint := sprintf("add {metric: %s, op: \">=\", value: %v} (or stricter) to spec.registry.gates", [metric, minimum])
}

deny_promotion_gates contains result("MPS005", path, msg, hint) if {
	promotes
	some metric, minimum in governance.min_gates
	not gate_satisfied(metric, minimum)
	some i, g in gates
	g.metric == metric
	[path, msg] := weak_gate(i, g, minimum)
	hint := sprintf("use {metric: %s, op: \">=\", value: %v} or stricter", [metric, minimum])
}

# A version reaches online traffic through the registry: the model serves (serving
# resolves the served version from the registry).
promotes if serves

gates := g if {
	g := body.registry.gates
	is_array(g)
} else := []

gates_path := "/spec/registry/gates" if is_object(body.registry) else := "/spec/registry"

lower_bound_ops := {">=", ">"}

gate_satisfied(metric, minimum) if {
	some g in gates
	g.metric == metric
	g.op in lower_bound_ops
	g.value >= minimum
}

weak_gate(i, g, minimum) := [sprintf("/spec/registry/gates/%d/op", [i]), msg] if {
	not g.op in lower_bound_ops
	msg := sprintf("gate %s %s %v does not set a lower bound; %s requires %s >= %v (governance.min_gates), and only >= or > gates count", [g.metric, g.op, g.value, env, g.metric, minimum])
}

weak_gate(i, g, minimum) := [sprintf("/spec/registry/gates/%d/value", [i]), msg] if {
	g.op in lower_bound_ops
	g.value < minimum
	msg := sprintf("gate %s %s %v is below the platform minimum in %s: %s >= %v (governance.min_gates)", [g.metric, g.op, g.value, env, g.metric, minimum])
}

# MPS017 served versions are locked in git
#
# What: where governance.require_lock is set (prod), a model that serves has an entry for
#   the environment in specs/<model>/maestro.lock.yaml (input.lock): the registered version,
#   run and artifact URI the model servers download, written by `maestro registry lock` or
#   `maestro promote` and committed. Maestro itself refuses a lock entry that no longer
#   matches the spec (M812), so an entry here is a current one.
# Why: an alias (`serve: champion`) is resolved when a pod starts, so whoever last moved it in
#   MLflow decides what production serves, outside review, and a restart can change the model.
#   With a lock the commit says what runs, and a promotion is a reviewed pull request.
# Comply: `maestro promote <model> --from staging --to prod` (gates checked), or
#   `maestro registry lock --env prod --model <model>`; commit specs/<model>/maestro.lock.yaml.
# Waive: metadata.waivers: [{rule: MPS017, reason: "...", until: YYYY-MM-DD}]
# PASS: prod, serving set, lock: {registeredModel: fraud-detector, serve: {alias: champion, version: 14, ...}}
# FAIL: prod, serving set, lock: null
#   -> MPS017 /spec/registry/serve "fraud-detector serves in prod without a locked model version ..."
deny_unlocked contains result("MPS017", path, msg, hint) if {
	governance.require_lock == true
	serves
	not is_object(input.lock)
	path := serve_path
	msg := sprintf("%s serves in %s without a locked model version: serving would resolve %s when a pod starts (governance.require_lock)", [input.model, env, serve_text])
	hint := sprintf("promote a version (maestro promote %s --from <env> --to %s) or lock it (maestro registry lock --env %s --model %s), and commit specs/%s/maestro.lock.yaml", [input.model, env, env, input.model, input.model])
}

serve_path := "/spec/registry/serve" if is_object(body.registry) else := "/spec/serving"

serve_text := sprintf("version %v", [body.registry.serve]) if is_number(body.registry.serve)

else := sprintf("alias %v", [body.registry.serve]) if is_string(body.registry.serve)

else := "alias champion"
