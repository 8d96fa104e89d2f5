package maestro.spec

import rego.v1

# MPS007 tuning fits the team's compute budget
#
# What: the tuning estimate (input.estimates.tuning: trials x expected trial hours x the
#   per-trial resources of spec.training.resources) stays within the team's per-study
#   budget in config/platform.yaml: cpuHours <= teams.<team>.budget.cpu_hours and
#   gpuHours <= teams.<team>.budget.gpu_hours. A budget of 0 means none may be used.
# Why: a study is launched by a merge; the budget stops a typo in `trials` from burning a
#   month of GPU money.
# Comply: lower tuning.trials or tuning.trialMinutes, or the per-trial training.resources;
#   or ask the platform team to raise the team budget.
# Waive: metadata.waivers: [{rule: MPS007, reason: "...", until: YYYY-MM-DD}]
# PASS: estimate 120 CPU-hours, team budget 1000 CPU-hours
# FAIL: estimate 1200 CPU-hours (600 trials x 0.5 h), team budget 1000 CPU-hours
#   -> MPS007 /spec/tuning/trials "tuning estimate of 1200 CPU-hours (600 trials x 0.5 h) exceeds team payments-risk's budget of 1000 CPU-hours per study ..."
deny_tuning_team_budget contains result("MPS007", "/spec/tuning/trials", msg, hint) if {
	est := input.estimates.tuning
	is_object(est)
	some resource in budget_resources
	used := est[resource.estimate]
	allowed := team_settings.budget[resource.team]
	used > allowed
	msg := sprintf("tuning estimate of %s %s (%v trials x %s h) exceeds team %s's budget of %s %s per study (teams.%s.budget.%s)", [num(used), resource.unit, est.trials, num(est.trialHours), input.team, num(allowed), resource.unit, input.team, resource.team])
	hint := "lower tuning.trials or tuning.trialMinutes (or the per-trial training.resources), or ask the platform team for a larger budget"
}

budget_resources := [
	{"estimate": "cpuHours", "team": "cpu_hours", "spec": "cpuHours", "unit": "CPU-hours"},
	{"estimate": "gpuHours", "team": "gpu_hours", "spec": "gpuHours", "unit": "GPU-hours"},
]

# MPS008 tuning estimate within the spec's own budget (warning)
#
# What: the tuning estimate does not exceed the budget the spec declares in
#   tuning.budget.cpuHours / tuning.budget.gpuHours. A spec budget of 0 (the default) means
#   the spec declares no budget for that resource and is not compared; MPS007 still applies.
# Why: the declared budget is what reviewers read; an estimate above it means the study
#   will cost more than the spec says.
# Comply: raise tuning.budget to the estimate, or lower trials / trialMinutes.
# Waive: metadata.waivers: [{rule: MPS008, reason: "...", until: YYYY-MM-DD}]
# PASS: budget {cpuHours: 400}, estimate 120 CPU-hours
# FAIL (warning): budget {cpuHours: 100}, estimate 120 CPU-hours
#   -> MPS008 /spec/tuning/budget/cpuHours "tuning estimate of 120 CPU-hours (60 trials x 0.5 h) exceeds the spec's own budget of 100 CPU-hours ..."
warn_tuning_spec_budget contains result("MPS008", path, msg, hint) if {
	est := input.estimates.tuning
	is_object(est)
	some resource in budget_resources
	declared := body.tuning.budget[resource.spec]
	declared > 0
	used := est[resource.estimate]
	used > declared
	path := sprintf("/spec/tuning/budget/%s", [resource.spec])
	msg := sprintf("tuning estimate of %s %s (%v trials x %s h) exceeds the spec's own budget of %s %s (tuning.budget.%s)", [num(used), resource.unit, est.trials, num(est.trialHours), num(declared), resource.unit, resource.spec])
	hint := sprintf("raise tuning.budget.%s to at least %s, or lower tuning.trials / tuning.trialMinutes", [resource.spec, num(used)])
}

# MPS009 serving max replicas within the team limit
#
# What: spec.serving.replicas.max <= teams.<team>.limits.max_replicas.
# Why: the autoscaler may really reach max; the limit caps what one model can take from
#   the shared cluster.
# Comply: lower serving.replicas.max, or ask the platform team to raise the team's limit
#   (teams.overrides.<team>.limits.max_replicas in config/platform.yaml).
# Waive: metadata.waivers: [{rule: MPS009, reason: "...", until: YYYY-MM-DD}]
# PASS: team limit 10, serving: {replicas: {max: 8}}
# FAIL: team limit 10, serving: {replicas: {max: 20}}
#   -> MPS009 /spec/serving/replicas/max "serving.replicas.max is 20; team discovery may run at most 10 replicas per model ..."
deny_max_replicas contains result("MPS009", "/spec/serving/replicas/max", msg, hint) if {
	serves
	limit := team_settings.limits.max_replicas
	have := body.serving.replicas.max
	have > limit
	msg := sprintf("serving.replicas.max is %v; team %s may run at most %v replicas per model (teams.%s.limits.max_replicas)", [have, input.team, limit, input.team])
	hint := sprintf("lower serving.replicas.max to %v or less, or ask the platform team to raise the limit", [limit])
}

# MPS010 GPUs per pod within the team limit
#
# What: spec.training.resources.gpu and spec.serving.resources.gpu are each at most
#   teams.<team>.limits.max_gpus_per_pod (0 for teams without GPU access).
# Why: GPU nodes are scarce and shared; the limit is what the team's quota was sized for.
# Comply: request fewer GPUs per pod (use more training.workers instead), or ask the
#   platform team for a higher limit.
# Waive: metadata.waivers: [{rule: MPS010, reason: "...", until: YYYY-MM-DD}]
# PASS: team limit 8, training: {resources: {gpu: 1}}
# FAIL: team limit 0, training: {resources: {gpu: 1}}
#   -> MPS010 /spec/training/resources/gpu "training.resources.gpu is 1; team payments-risk may use at most 0 GPUs per pod ..."
deny_gpus_per_pod contains result("MPS010", path, msg, hint) if {
	limit := team_settings.limits.max_gpus_per_pod
	some section in ["training", "serving"]
	have := body[section].resources.gpu
	have > limit
	path := sprintf("/spec/%s/resources/gpu", [section])
	msg := sprintf("%s.resources.gpu is %v; team %s may use at most %v GPUs per pod (teams.%s.limits.max_gpus_per_pod)", [section, have, input.team, limit, input.team])
	hint := sprintf("request at most %v GPUs per pod in %s.resources.gpu, or ask the platform team to raise the limit", [limit, section])
}

# MPS011 tuning trials within the team limit
#
# What: spec.tuning.trials <= teams.<team>.limits.max_trials.
# Why: caps the size of one study independently of its estimated duration.
# Comply: lower tuning.trials (a pruner and a better sampler usually need fewer trials).
# Waive: metadata.waivers: [{rule: MPS011, reason: "...", until: YYYY-MM-DD}]
# PASS: team limit 100, tuning: {trials: 60}
# FAIL: team limit 100, tuning: {trials: 500}
#   -> MPS011 /spec/tuning/trials "tuning.trials is 500; team payments-risk may run at most 100 trials per study ..."
deny_max_trials contains result("MPS011", "/spec/tuning/trials", msg, hint) if {
	limit := team_settings.limits.max_trials
	have := body.tuning.trials
	have > limit
	msg := sprintf("tuning.trials is %v; team %s may run at most %v trials per study (teams.%s.limits.max_trials)", [have, input.team, limit, input.team])
	hint := sprintf("set tuning.trials to %v or less", [limit])
}
