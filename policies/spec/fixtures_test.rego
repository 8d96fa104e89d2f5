# Shared fixtures of the spec-scope unit tests: a resolved prod spec modelled on
# specs/fraud-detector (tier critical, features, training, tuning, canary serving) and the
# prod platform config for its team. Each test changes only what it is about.
package maestro.spec_test

import rego.v1

base_spec := {
	"apiVersion": "maestro.ml/v1alpha1",
	"kind": "Model",
	"metadata": {
		"name": "fraud-detector",
		"team": "payments-risk",
		"owners": ["@payments-risk/ml"],
		"tier": "critical",
		"costCenter": "cc-4411",
		"description": "Card-not-present fraud scoring",
		"waivers": [],
	},
	"spec": {
		"framework": "xgboost",
		"registry": {
			"model": "fraud-detector",
			"experiment": "fraud-detector",
			"serve": "champion",
			"gates": [
				{"metric": "val_auc", "op": ">=", "value": 0.92},
				{"metric": "val_logloss", "op": "<=", "value": 0.25},
			],
		},
		"features": {
			"entities": [{"name": "card", "joinKeys": ["card_id"], "valueType": "string", "description": null}],
			"sources": [{"name": "card-txn", "type": "file", "path": "s3://lake/card_txn.parquet", "timestampField": "event_ts", "createdTimestampField": null}],
			"views": [{"name": "card-txn-7d", "entities": ["card"], "source": "card-txn", "ttl": "7d", "online": true, "fields": [{"name": "amount_avg_7d", "dtype": "float32"}]}],
		},
		"training": {
			"image": "registry.example.com/payments/fraud-train:1.4.2",
			"command": ["python", "-m", "fraud.train"],
			"args": [],
			"workers": 2,
			"resources": {"cpu": "4", "memory": "16Gi", "gpu": 0},
			"schedule": "0 3 * * 0",
			"timeoutMinutes": 720,
		},
		"tuning": {
			"metric": "val_auc",
			"direction": "maximize",
			"trials": 60,
			"parallelism": 4,
			"sampler": "tpe",
			"pruner": "median",
			"budget": {"gpuHours": 0, "cpuHours": 400},
			"trialMinutes": null,
			"searchSpace": {"max_depth": {"type": "int", "low": 3, "high": 12, "log": false, "step": 1}},
		},
		"serving": {
			"runtime": "kserve",
			"replicas": {"min": 3, "max": 12},
			"resources": {"cpu": "1", "memory": "2Gi", "gpu": 0},
			"autoscaling": {"cpu": 70, "memory": null, "rps": 200, "latencyP99Ms": 60},
			"rollout": {
				"strategy": "canary",
				"steps": [10, 25, 50, 100],
				"pauseMinutes": 10,
				"analysis": {"maxErrorRate": 0.01, "maxLatencyP99Ms": 80},
			},
			"abTest": null,
		},
		"monitoring": {
			"slo": {"availability": 99.9, "latencyP99Ms": 60, "window": "30d"},
			"drift": {"method": "psi", "threshold": 0.2, "schedule": "0 * * * *", "features": ["amount_avg_7d"]},
			"dashboard": true,
			"tracing": {"sampleRatio": 0.1},
		},
		"secrets": [],
		"network": {"allowFrom": [{"namespace": "payments-api", "serviceAccount": null}]},
	},
}

base_input := {
	"env": "prod",
	"model": "fraud-detector",
	"team": "payments-risk",
	"tier": "critical",
	"spec": base_spec,
	"argocd": {"sync": "manual"},
	"estimates": {"tuning": {"trials": 60, "trialHours": 0.5, "cpuHours": 120.0, "gpuHours": 0.0, "cost": 6.24, "currency": "USD"}},
	"lock": base_lock,
}

# The prod entry of specs/fraud-detector/maestro.lock.yaml, as maestro feeds it.
base_lock := {
	"registeredModel": "fraud-detector",
	"serve": {
		"alias": "champion",
		"version": 14,
		"runId": "0f3c5a9e2b7d4c1a8e6f0b3d5c7a9e1f",
		"source": "s3://acme-mlflow-prod/fraud-detector/0f3c5a9e2b7d4c1a8e6f0b3d5c7a9e1f/artifacts/model",
		"metrics": {"val_auc": 0.944, "val_logloss": 0.21},
		"promotedFrom": null,
	},
	"variants": {},
}

prod_config := {
	"env": "prod",
	"governance": {
		"min_replicas": 2,
		"require_pinned_images": true,
		"allow_latest": false,
		"min_gates": {"val_auc": 0.85},
		"require_canary_for_critical": true,
		"require_pdb": true,
		"require_mtls": true,
		"require_drift_for_critical": true,
		"max_waiver_days": 30,
		"require_lock": true,
	},
	"team": {
		"budget": {"monthly": 15000, "cpu_hours": 1000, "gpu_hours": 0},
		"limits": {"max_replicas": 30, "max_gpus_per_pod": 0, "max_trials": 100},
	},
	"registries": ["registry.example.com", "ghcr.io/acme-ml"],
	"costs": {"currency": "USD", "cpu_hour": 0.034, "memory_gib_hour": 0.0045, "gpu_hour": 2.48},
}

dev_config := {
	"env": "dev",
	"governance": {
		"min_replicas": 0,
		"require_pinned_images": false,
		"allow_latest": true,
		"min_gates": {},
		"require_canary_for_critical": false,
		"require_pdb": false,
		"require_mtls": false,
		"require_drift_for_critical": false,
		"max_waiver_days": 180,
		"require_lock": false,
	},
	"team": prod_config.team,
	"registries": prod_config.registries,
	"costs": prod_config.costs,
}

dev_input := object.union(base_input, {"env": "dev", "argocd": {"sync": "automated"}})

# base_input with `patch` deep-merged into input.spec.spec (objects merge, other values replace).
with_body(patch) := object.union(base_input, {"spec": {"spec": patch}})

with_metadata(patch) := object.union(base_input, {"spec": {"metadata": patch}})

# Every finding of every spec-scope rule for an input, as {code: [path, ...]}. The rules are
# named one by one: reading the package as a whole (`data.maestro.spec[name]`, or through
# `import data.maestro.spec`) under `with` is where regorus 0.13 goes wrong (see README).
findings(inp, cfg) := {code: paths |
	all := all_results with input as inp with data.maestro.config as cfg
	some code in {r.code | some r in all}
	paths := sort([r.path | some r in all; r.code == code])
}

all_results := {r |
	some rules in [
		data.maestro.spec.deny_platform_config,
		data.maestro.spec.deny_ownership,
		data.maestro.spec.deny_min_replicas,
		data.maestro.spec.deny_pdb,
		data.maestro.spec.deny_critical_rollout,
		data.maestro.spec.deny_promotion_gates,
		data.maestro.spec.deny_manual_sync,
		data.maestro.spec.deny_tuning_team_budget,
		data.maestro.spec.warn_tuning_spec_budget,
		data.maestro.spec.deny_max_replicas,
		data.maestro.spec.deny_gpus_per_pod,
		data.maestro.spec.deny_max_trials,
		data.maestro.spec.deny_drift_monitoring,
		data.maestro.spec.deny_slo,
		data.maestro.spec.deny_training_image_pinned,
		data.maestro.spec.deny_training_image_registry,
		data.maestro.spec.deny_waivers,
		data.maestro.spec.deny_unlocked,
	]
	some r in rules
}
