package maestro.spec_test

import rego.v1

# ---------------------------------------------------------------- the fixtures are clean

test_base_prod_input_has_no_findings if {
	findings(base_input, prod_config) == {}
}

test_base_dev_input_has_no_findings if {
	findings(dev_input, dev_config) == {}
}

# ---------------------------------------------------------------- MPS000

test_mps000_missing_config_fails_closed if {
	r := data.maestro.spec.deny_platform_config with input as base_input with data.maestro.config as {}
	count(r) == 3
	every x in r {
		x.code == "MPS000"
		x.path == "/metadata/name"
	}
	some x in r
	x.msg == "platform config missing for model fraud-detector: data.maestro.config.governance is not set (expected an object); governance rules cannot be evaluated"
}

test_mps000_no_data_at_all if {
	count(data.maestro.spec.deny_platform_config) == 3 with input as base_input
}

test_mps000_complete_config_passes if {
	count(data.maestro.spec.deny_platform_config) == 0 with input as base_input with data.maestro.config as prod_config
}

# ---------------------------------------------------------------- MPS001

test_mps001_missing_cost_center if {
	inp := with_metadata({"costCenter": null})
	r := data.maestro.spec.deny_ownership with input as inp with data.maestro.config as prod_config
	r == {{
		"code": "MPS001",
		"path": "/metadata/costCenter",
		"msg": "model fraud-detector has no metadata.costCenter: every model is charged to a cost center (found null)",
		"hint": "set metadata.costCenter to the cost center charged for the model, e.g. cc-4411",
	}}
}

test_mps001_empty_owners if {
	inp := with_metadata({"owners": []})
	r := data.maestro.spec.deny_ownership with input as inp with data.maestro.config as prod_config
	[x.path | some x in r] == ["/metadata/owners"]
}

test_mps001_blank_cost_center if {
	inp := with_metadata({"costCenter": "  "})
	count(data.maestro.spec.deny_ownership) == 1 with input as inp with data.maestro.config as prod_config
}

test_mps001_passes if {
	count(data.maestro.spec.deny_ownership) == 0 with input as base_input with data.maestro.config as prod_config
}

# ---------------------------------------------------------------- MPS002

test_mps002_below_floor if {
	inp := with_body({"serving": {"replicas": {"min": 1}}})
	r := data.maestro.spec.deny_min_replicas with input as inp with data.maestro.config as prod_config
	some x in r
	x.code == "MPS002"
	x.path == "/spec/serving/replicas/min"
	x.msg == "serving.replicas.min is 1 in prod; the platform requires at least 2 replicas there (governance.min_replicas)"
	count(r) == 1
}

test_mps002_at_floor_passes if {
	inp := with_body({"serving": {"replicas": {"min": 2}}})
	count(data.maestro.spec.deny_min_replicas) == 0 with input as inp with data.maestro.config as prod_config
}

test_mps002_dev_floor_zero_allows_scale_to_zero if {
	inp := object.union(dev_input, {"spec": {"spec": {"serving": {"replicas": {"min": 0}}}}})
	count(data.maestro.spec.deny_min_replicas) == 0 with input as inp with data.maestro.config as dev_config
}

test_mps002_batch_model_is_not_checked if {
	inp := with_body({"serving": null})
	count(data.maestro.spec.deny_min_replicas) == 0 with input as inp with data.maestro.config as prod_config
}

# ---------------------------------------------------------------- MPS003

test_mps003_single_replica_has_no_pdb if {
	inp := with_body({"serving": {"replicas": {"min": 1}}})
	r := data.maestro.spec.deny_pdb with input as inp with data.maestro.config as prod_config
	r == {{
		"code": "MPS003",
		"path": "/spec/serving/replicas/min",
		"msg": "prod requires a PodDisruptionBudget for serving (governance.require_pdb), which needs serving.replicas.min >= 2; it is 1",
		"hint": "set serving.replicas.min to 2 or more (spec.environments.prod.serving.replicas.min for this environment only)",
	}}
}

test_mps003_not_required_without_flag if {
	inp := with_body({"serving": {"replicas": {"min": 1}}})
	cfg := object.union(prod_config, {"governance": {"require_pdb": false}})
	count(data.maestro.spec.deny_pdb) == 0 with input as inp with data.maestro.config as cfg
}

test_mps003_two_replicas_pass if {
	inp := with_body({"serving": {"replicas": {"min": 2}}})
	count(data.maestro.spec.deny_pdb) == 0 with input as inp with data.maestro.config as prod_config
}

# ---------------------------------------------------------------- MPS004

test_mps004_rolling_critical_denied if {
	inp := with_body({"serving": {"rollout": {"strategy": "rolling", "steps": [], "analysis": null}}})
	r := data.maestro.spec.deny_critical_rollout with input as inp with data.maestro.config as prod_config
	[x.path | some x in r] == ["/spec/serving/rollout/strategy"]
	some x in r
	x.msg == "fraud-detector is tier critical: prod requires a canary or blueGreen rollout with analysis (governance.require_canary_for_critical); strategy is rolling"
}

test_mps004_canary_without_analysis_denied if {
	inp := with_body({"serving": {"rollout": {"analysis": null}}})
	r := data.maestro.spec.deny_critical_rollout with input as inp with data.maestro.config as prod_config
	[x.path | some x in r] == ["/spec/serving/rollout/analysis"]
}

test_mps004_blue_green_with_analysis_passes if {
	inp := with_body({"serving": {"rollout": {"strategy": "blueGreen", "steps": []}}})
	count(data.maestro.spec.deny_critical_rollout) == 0 with input as inp with data.maestro.config as prod_config
}

test_mps004_standard_tier_not_checked if {
	inp := object.union(with_metadata({"tier": "standard"}), {"spec": {"spec": {"serving": {"rollout": {"strategy": "rolling"}}}}})
	count(data.maestro.spec.deny_critical_rollout) == 0 with input as inp with data.maestro.config as prod_config
}

# ---------------------------------------------------------------- MPS005

test_mps005_weak_gate if {
	inp := with_body({"registry": {"gates": [{"metric": "val_auc", "op": ">=", "value": 0.8}]}})
	r := data.maestro.spec.deny_promotion_gates with input as inp with data.maestro.config as prod_config
	r == {{
		"code": "MPS005",
		"path": "/spec/registry/gates/0/value",
		"msg": "gate val_auc >= 0.8 is below the platform minimum in prod: val_auc >= 0.85 (governance.min_gates)",
		"hint": "use {metric: val_auc, op: \">=\", value: 0.85} or stricter",
	}}
}

test_mps005_missing_gate if {
	inp := with_body({"registry": {"gates": [{"metric": "val_f1", "op": ">=", "value": 0.9}]}})
	r := data.maestro.spec.deny_promotion_gates with input as inp with data.maestro.config as prod_config
	[x.path | some x in r] == ["/spec/registry/gates"]
	some x in r
	x.msg == "prod requires a promotion gate val_auc >= 0.85 (governance.min_gates); registry.gates has none on val_auc"
}

test_mps005_wrong_direction_gate if {
	inp := with_body({"registry": {"gates": [{"metric": "val_auc", "op": "<=", "value": 0.99}]}})
	r := data.maestro.spec.deny_promotion_gates with input as inp with data.maestro.config as prod_config
	[x.path | some x in r] == ["/spec/registry/gates/0/op"]
}

test_mps005_one_strong_gate_among_weak_ones_passes if {
	gates := [
		{"metric": "val_auc", "op": ">=", "value": 0.5},
		{"metric": "val_auc", "op": ">", "value": 0.85},
	]
	inp := with_body({"registry": {"gates": gates}})
	count(data.maestro.spec.deny_promotion_gates) == 0 with input as inp with data.maestro.config as prod_config
}

test_mps005_serving_without_registry_section if {
	inp := with_body({"registry": null})
	r := data.maestro.spec.deny_promotion_gates with input as inp with data.maestro.config as prod_config
	[x.path | some x in r] == ["/spec/registry"]
}

test_mps005_training_only_model_not_checked if {
	inp := with_body({"registry": null, "serving": null})
	count(data.maestro.spec.deny_promotion_gates) == 0 with input as inp with data.maestro.config as prod_config
}

test_mps005_batch_model_with_registry_not_checked if {
	# a batch forecaster promotes through the registry too, but on its own metrics
	inp := with_body({"serving": null, "registry": {"serve": 7, "gates": [{"metric": "val_wape", "op": "<=", "value": 0.18}]}})
	count(data.maestro.spec.deny_promotion_gates) == 0 with input as inp with data.maestro.config as prod_config
}

test_mps005_dev_has_no_minimums if {
	inp := object.union(dev_input, {"spec": {"spec": {"registry": {"gates": []}}}})
	count(data.maestro.spec.deny_promotion_gates) == 0 with input as inp with data.maestro.config as dev_config
}

# ---------------------------------------------------------------- MPS017

test_mps017_unlocked_prod_model if {
	inp := object.union(base_input, {"lock": null})
	r := data.maestro.spec.deny_unlocked with input as inp with data.maestro.config as prod_config
	r == {{
		"code": "MPS017",
		"path": "/spec/registry/serve",
		"msg": "fraud-detector serves in prod without a locked model version: serving would resolve alias champion when a pod starts (governance.require_lock)",
		"hint": "promote a version (maestro promote fraud-detector --from <env> --to prod) or lock it (maestro registry lock --env prod --model fraud-detector), and commit specs/fraud-detector/maestro.lock.yaml",
	}}
}

test_mps017_locked_prod_model_passes if {
	count(data.maestro.spec.deny_unlocked) == 0 with input as base_input with data.maestro.config as prod_config
}

test_mps017_pinned_version_without_registry_section if {
	pinned := object.union(with_body({"registry": {"serve": 7}}), {"lock": null})
	r := data.maestro.spec.deny_unlocked with input as pinned with data.maestro.config as prod_config
	[x.path | some x in r] == ["/spec/registry/serve"]
	some y in r
	contains(y.msg, "would resolve version 7 when a pod starts")
	bare := object.union(with_body({"registry": null}), {"lock": null})
	r2 := data.maestro.spec.deny_unlocked with input as bare with data.maestro.config as prod_config
	[z.path | some z in r2] == ["/spec/serving"]
}

test_mps017_batch_model_not_checked if {
	inp := object.union(with_body({"serving": null}), {"lock": null})
	count(data.maestro.spec.deny_unlocked) == 0 with input as inp with data.maestro.config as prod_config
}

test_mps017_dev_does_not_require_a_lock if {
	inp := object.union(dev_input, {"lock": null})
	count(data.maestro.spec.deny_unlocked) == 0 with input as inp with data.maestro.config as dev_config
}

test_mps017_without_the_setting_nothing_is_required if {
	inp := object.union(base_input, {"lock": null})
	cfg := json.remove(prod_config, ["governance/require_lock"])
	count(data.maestro.spec.deny_unlocked) == 0 with input as inp with data.maestro.config as cfg
}

# ---------------------------------------------------------------- MPS006

test_mps006_automated_prod_sync_for_critical if {
	inp := object.union(base_input, {"argocd": {"sync": "automated"}})
	r := data.maestro.spec.deny_manual_sync with input as inp with data.maestro.config as prod_config
	some x in r
	x.code == "MPS006"
	x.path == "/metadata/tier"
	x.msg == "fraud-detector is tier critical, so its prod Argo CD sync must be manual (an approval step); it is automated, as configured by the platform config's environment sync and the prod overlay's argocd.manualForTiers, not by the spec"
}

test_mps006_manual_passes if {
	count(data.maestro.spec.deny_manual_sync) == 0 with input as base_input with data.maestro.config as prod_config
}

test_mps006_staging_not_checked if {
	inp := object.union(base_input, {"env": "staging", "argocd": {"sync": "automated"}})
	cfg := object.union(prod_config, {"env": "staging"})
	count(data.maestro.spec.deny_manual_sync) == 0 with input as inp with data.maestro.config as cfg
}

test_mps006_governance_key_wins_over_env_name if {
	inp := object.union(base_input, {"env": "staging", "argocd": {"sync": "automated"}})
	cfg := object.union(prod_config, {"env": "staging", "governance": {"require_manual_sync_for_critical": true}})
	count(data.maestro.spec.deny_manual_sync) == 1 with input as inp with data.maestro.config as cfg
	count(data.maestro.spec.deny_manual_sync) == 0 with input as object.union(inp, {"env": "prod"}) with data.maestro.config as object.union(cfg, {"governance": {"require_manual_sync_for_critical": false}})
}

# ---------------------------------------------------------------- MPS007 / MPS008

test_mps007_over_team_cpu_budget if {
	inp := object.union(with_body({"tuning": {"trials": 600}}), {"estimates": {"tuning": {"trials": 600, "cpuHours": 1200.0, "cost": 62.4}}})
	r := data.maestro.spec.deny_tuning_team_budget with input as inp with data.maestro.config as prod_config
	r == {{
		"code": "MPS007",
		"path": "/spec/tuning/trials",
		"msg": "tuning estimate of 1200 CPU-hours (600 trials x 0.5 h) exceeds team payments-risk's budget of 1000 CPU-hours per study (teams.payments-risk.budget.cpu_hours)",
		"hint": "lower tuning.trials or tuning.trialMinutes (or the per-trial training.resources), or ask the platform team for a larger budget",
	}}
}

test_mps007_gpu_budget_zero_means_none if {
	inp := object.union(base_input, {"estimates": {"tuning": {"gpuHours": 3.5}}})
	r := data.maestro.spec.deny_tuning_team_budget with input as inp with data.maestro.config as prod_config
	some x in r
	x.msg == "tuning estimate of 3.5 GPU-hours (60 trials x 0.5 h) exceeds team payments-risk's budget of 0 GPU-hours per study (teams.payments-risk.budget.gpu_hours)"
}

test_mps007_within_budget_and_no_tuning_pass if {
	count(data.maestro.spec.deny_tuning_team_budget) == 0 with input as base_input with data.maestro.config as prod_config
	inp := object.union(with_body({"tuning": null}), {"estimates": {"tuning": null}})
	count(data.maestro.spec.deny_tuning_team_budget) == 0 with input as inp with data.maestro.config as prod_config
}

test_mps008_over_spec_budget_warns if {
	inp := with_body({"tuning": {"budget": {"cpuHours": 100}}})
	r := data.maestro.spec.warn_tuning_spec_budget with input as inp with data.maestro.config as prod_config
	r == {{
		"code": "MPS008",
		"path": "/spec/tuning/budget/cpuHours",
		"msg": "tuning estimate of 120 CPU-hours (60 trials x 0.5 h) exceeds the spec's own budget of 100 CPU-hours (tuning.budget.cpuHours)",
		"hint": "raise tuning.budget.cpuHours to at least 120, or lower tuning.trials / tuning.trialMinutes",
	}}
}

test_mps008_zero_spec_budget_means_unset if {
	inp := with_body({"tuning": {"budget": {"cpuHours": 0}}})
	count(data.maestro.spec.warn_tuning_spec_budget) == 0 with input as inp with data.maestro.config as prod_config
}

# ---------------------------------------------------------------- MPS009 / MPS010 / MPS011

test_mps009_max_replicas_over_team_limit if {
	inp := with_body({"serving": {"replicas": {"max": 40}}})
	r := data.maestro.spec.deny_max_replicas with input as inp with data.maestro.config as prod_config
	r == {{
		"code": "MPS009",
		"path": "/spec/serving/replicas/max",
		"msg": "serving.replicas.max is 40; team payments-risk may run at most 30 replicas per model (teams.payments-risk.limits.max_replicas)",
		"hint": "lower serving.replicas.max to 30 or less, or ask the platform team to raise the limit",
	}}
}

test_mps009_at_limit_passes if {
	inp := with_body({"serving": {"replicas": {"max": 30}}})
	count(data.maestro.spec.deny_max_replicas) == 0 with input as inp with data.maestro.config as prod_config
}

test_mps010_gpu_over_limit_in_training_and_serving if {
	inp := with_body({"training": {"resources": {"gpu": 1}}, "serving": {"resources": {"gpu": 2}}})
	r := data.maestro.spec.deny_gpus_per_pod with input as inp with data.maestro.config as prod_config
	[x.path | some x in r] == ["/spec/serving/resources/gpu", "/spec/training/resources/gpu"]
	some x in r
	x.msg == "training.resources.gpu is 1; team payments-risk may use at most 0 GPUs per pod (teams.payments-risk.limits.max_gpus_per_pod)"
}

test_mps010_within_limit_passes if {
	inp := with_body({"training": {"resources": {"gpu": 4}}})
	cfg := object.union(prod_config, {"team": {"limits": {"max_gpus_per_pod": 4}}})
	count(data.maestro.spec.deny_gpus_per_pod) == 0 with input as inp with data.maestro.config as cfg
}

test_mps011_trials_over_limit if {
	inp := with_body({"tuning": {"trials": 500}})
	r := data.maestro.spec.deny_max_trials with input as inp with data.maestro.config as prod_config
	r == {{
		"code": "MPS011",
		"path": "/spec/tuning/trials",
		"msg": "tuning.trials is 500; team payments-risk may run at most 100 trials per study (teams.payments-risk.limits.max_trials)",
		"hint": "set tuning.trials to 100 or less",
	}}
}

test_mps011_within_limit_passes if {
	count(data.maestro.spec.deny_max_trials) == 0 with input as base_input with data.maestro.config as prod_config
}

# ---------------------------------------------------------------- MPS012 / MPS013

test_mps012_critical_with_features_needs_drift if {
	inp := with_body({"monitoring": {"drift": null}})
	r := data.maestro.spec.deny_drift_monitoring with input as inp with data.maestro.config as prod_config
	[x.path | some x in r] == ["/spec/monitoring/drift"]
	some x in r
	x.msg == "fraud-detector is tier critical and declares features: prod requires drift monitoring (governance.require_drift_for_critical); spec.monitoring.drift is not set"
}

test_mps012_no_monitoring_section_at_all if {
	inp := with_body({"monitoring": null})
	count(data.maestro.spec.deny_drift_monitoring) == 1 with input as inp with data.maestro.config as prod_config
}

test_mps012_no_features_no_drift_needed if {
	inp := with_body({"features": null, "monitoring": {"drift": null}})
	count(data.maestro.spec.deny_drift_monitoring) == 0 with input as inp with data.maestro.config as prod_config
}

test_mps013_critical_serving_needs_slo if {
	inp := with_body({"monitoring": {"slo": null}})
	r := data.maestro.spec.deny_slo with input as inp with data.maestro.config as prod_config
	[x.path | some x in r] == ["/spec/monitoring/slo"]
	some x in r
	x.msg == "fraud-detector is tier critical and serves: prod requires an SLO for its burn-rate alerts (governance.require_drift_for_critical); spec.monitoring.slo is not set"
}

test_mps013_batch_model_needs_no_slo if {
	inp := with_body({"serving": null, "monitoring": {"slo": null}})
	count(data.maestro.spec.deny_slo) == 0 with input as inp with data.maestro.config as prod_config
}

# ---------------------------------------------------------------- MPS014 / MPS015

test_mps014_latest_denied_in_prod if {
	inp := with_body({"training": {"image": "registry.example.com/payments/fraud-train:latest"}})
	r := data.maestro.spec.deny_training_image_pinned with input as inp with data.maestro.config as prod_config
	[x.path | some x in r] == ["/spec/training/image"]
	some x in r
	x.msg == "training.image registry.example.com/payments/fraud-train:latest is not pinned; prod requires a release tag (e.g. :1.4.2) or a digest (@sha256:...), never latest, a branch name or no tag (governance.require_pinned_images)"
}

test_mps014_untagged_and_branch_tags_denied if {
	every img in ["registry.example.com/payments/fraud-train", "registry.example.com/payments/fraud-train:main", "registry:5000/fraud-train"] {
		count(data.maestro.spec.deny_training_image_pinned) == 1 with input as with_body({"training": {"image": img}}) with data.maestro.config as prod_config
	}
}

test_mps014_release_tags_and_digests_pass if {
	every img in [
		"registry.example.com/payments/fraud-train:1.4.2",
		"registry.example.com/payments/fraud-train:v2",
		"registry.example.com/payments/fraud-train:2.0.1-cuda12.1",
		"registry:5000/payments/fraud-train:1.0",
		"registry.example.com/payments/fraud-train@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	] {
		count(data.maestro.spec.deny_training_image_pinned) == 0 with input as with_body({"training": {"image": img}}) with data.maestro.config as prod_config
	}
}

test_mps014_allow_latest_false_alone_denies_only_latest if {
	cfg := object.union(dev_config, {"governance": {"allow_latest": false}})
	r := data.maestro.spec.deny_training_image_pinned with input as object.union(dev_input, {"spec": {"spec": {"training": {"image": "registry.example.com/x/train"}}}}) with data.maestro.config as cfg
	[x.msg | some x in r] == ["training.image registry.example.com/x/train resolves to the latest tag, which dev does not allow (governance.allow_latest: false)"]
	count(data.maestro.spec.deny_training_image_pinned) == 0 with input as object.union(dev_input, {"spec": {"spec": {"training": {"image": "registry.example.com/x/train:main"}}}}) with data.maestro.config as cfg
}

test_mps014_dev_allows_latest if {
	inp := object.union(dev_input, {"spec": {"spec": {"training": {"image": "registry.example.com/payments/fraud-train:latest"}}}})
	count(data.maestro.spec.deny_training_image_pinned) == 0 with input as inp with data.maestro.config as dev_config
}

test_mps015_foreign_registry if {
	inp := with_body({"training": {"image": "docker.io/library/python:3.12"}})
	r := data.maestro.spec.deny_training_image_registry with input as inp with data.maestro.config as prod_config
	r == {{
		"code": "MPS015",
		"path": "/spec/training/image",
		"msg": "training.image docker.io/library/python:3.12 is not from an allowed registry (registry.example.com, ghcr.io/acme-ml)",
		"hint": "push the image to one of the allowed registries (config/platform.yaml `registries`) and reference it there",
	}}
}

test_mps015_prefix_matches_whole_segments if {
	inp := with_body({"training": {"image": "ghcr.io/acme-mlx/train:1.0"}})
	count(data.maestro.spec.deny_training_image_registry) == 1 with input as inp with data.maestro.config as prod_config
	ok := with_body({"training": {"image": "ghcr.io/acme-ml/vision/train:1.0"}})
	count(data.maestro.spec.deny_training_image_registry) == 0 with input as ok with data.maestro.config as prod_config
}

# ---------------------------------------------------------------- the helper itself

test_findings_helper_sees_every_rule if {
	inp := object.union(
		with_body({
			"serving": {"replicas": {"min": 1, "max": 40}, "rollout": {"strategy": "rolling", "analysis": null}},
			"training": {"image": "docker.io/library/python:latest", "resources": {"gpu": 1}},
			"tuning": {"trials": 500, "budget": {"cpuHours": 10}},
			"registry": {"gates": []},
			"monitoring": {"slo": null, "drift": null},
		}),
		{
			"argocd": {"sync": "automated"},
			"estimates": {"tuning": {"trials": 500, "cpuHours": 1000.5}},
			"spec": {"metadata": {"costCenter": null, "waivers": [{"rule": "MPS999", "reason": "no such rule at all", "until": "2026-12-01"}]}},
		},
	)
	findings(inp, prod_config) == {
		"MPS001": ["/metadata/costCenter"],
		"MPS002": ["/spec/serving/replicas/min"],
		"MPS003": ["/spec/serving/replicas/min"],
		"MPS004": ["/spec/serving/rollout/strategy"],
		"MPS005": ["/spec/registry/gates"],
		"MPS006": ["/metadata/tier"],
		"MPS007": ["/spec/tuning/trials"],
		"MPS008": ["/spec/tuning/budget/cpuHours"],
		"MPS009": ["/spec/serving/replicas/max"],
		"MPS010": ["/spec/training/resources/gpu"],
		"MPS011": ["/spec/tuning/trials"],
		"MPS012": ["/spec/monitoring/drift"],
		"MPS013": ["/spec/monitoring/slo"],
		"MPS014": ["/spec/training/image"],
		"MPS015": ["/spec/training/image"],
		"MPS016": ["/metadata/waivers/0/rule"],
	}
}
