# Shared fixtures of the resource-scope unit tests: rendered objects as Maestro writes them
# for prod, and the prod platform config. Each test changes only what it is about.
package main_test

import rego.v1

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
	},
	"team": prod_config.team,
	"registries": prod_config.registries,
	"costs": prod_config.costs,
}

labels(component) := {
	"app.kubernetes.io/component": component,
	"app.kubernetes.io/instance": "fraud-detector-prod",
	"app.kubernetes.io/managed-by": "maestro",
	"app.kubernetes.io/name": "fraud-detector",
	"app.kubernetes.io/part-of": "payments-risk",
}

restricted := {
	"allowPrivilegeEscalation": false,
	"capabilities": {"drop": ["ALL"]},
	"readOnlyRootFilesystem": true,
	"runAsNonRoot": true,
}

pod_security := {"fsGroup": 10001, "runAsGroup": 10001, "runAsNonRoot": true, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}}

probes := {
	"readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": 8080}},
	"livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": 8080}},
}

container(name, image) := {
	"name": name,
	"image": image,
	"resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}},
	"securityContext": restricted,
	"env": [
		{"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow.mlflow.svc:5000"},
		{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "feature-db-fraud-detector", "key": "password"}}},
	],
	"volumeMounts": [{"mountPath": "/tmp", "name": "tmp"}],
}

pod(containers) := {
	"containers": containers,
	"securityContext": pod_security,
	"serviceAccountName": "fraud-detector",
	"volumes": [{"name": "tmp", "emptyDir": {}}],
}

# A serving Deployment (the plain-Deployment runtime).
deployment := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "churn-predictor", "namespace": "growth-prod", "labels": labels("serving")},
	"spec": {
		"replicas": 2,
		"selector": {"matchLabels": {"app.kubernetes.io/name": "churn-predictor"}},
		"template": {
			"metadata": {"labels": labels("serving")},
			"spec": pod([object.union(container("mlserver", "registry.example.com/platform/mlserver-mlflow:1.6.1"), probes)]),
		},
	},
}

# deployment with `patch` deep-merged into its first container.
with_container(patch) := json.patch(deployment, [{"op": "replace", "path": "/spec/template/spec/containers/0", "value": object.union(deployment.spec.template.spec.containers[0], patch)}])

# deployment with `patch` deep-merged into its pod spec.
with_pod(patch) := json.patch(deployment, [{"op": "replace", "path": "/spec/template/spec", "value": object.union(deployment.spec.template.spec, patch)}])

inference_service := {
	"apiVersion": "serving.kserve.io/v1beta1",
	"kind": "InferenceService",
	"metadata": {"name": "fraud-detector", "namespace": "payments-risk-prod", "labels": labels("serving")},
	"spec": {"predictor": object.union(
		{"minReplicas": 3, "maxReplicas": 12, "model": object.union(
			{
				"modelFormat": {"name": "xgboost"},
				"protocolVersion": "v2",
				"storageUri": "models:/fraud-detector@champion",
				"resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}},
				"securityContext": restricted,
			},
			probes,
		)},
		{"securityContext": pod_security, "serviceAccountName": "fraud-detector", "volumes": [{"name": "tmp", "emptyDir": {}}]},
	)},
}

cron_job := {
	"apiVersion": "batch/v1",
	"kind": "CronJob",
	"metadata": {"name": "fraud-detector-train", "labels": labels("training")},
	"spec": {
		"schedule": "0 3 * * 0",
		"jobTemplate": {"spec": {"template": {"spec": object.union(pod([container("launcher", "registry.example.com/platform/kubectl:1.32.4")]), {"restartPolicy": "Never"})}}},
	},
}

pytorch_job := {
	"apiVersion": "kubeflow.org/v1",
	"kind": "PyTorchJob",
	"metadata": {"name": "image-classifier-train", "labels": labels("training")},
	"spec": {"pytorchReplicaSpecs": {
		"Master": {"replicas": 1, "template": {"spec": pod([container("pytorch", "ghcr.io/acme-ml/vision/vit-train:2.0.1")])}},
		"Worker": {"replicas": 3, "template": {"spec": pod([container("pytorch", "ghcr.io/acme-ml/vision/vit-train:2.0.1")])}},
	}},
}

# A Kubeflow Trainer v2 TrainJob as the training renderer writes it: the trainer container
# in spec.trainer, the rest of the pod in a runtime patch of the runtime's `node` job.
# Built from named layers: regorus's parser takes time exponential in how deeply object
# literals nest (a literal 12 levels deep parsed in 0.2 s, most of a cold `maestro validate`).
train_node_pod := {
	"serviceAccountName": "image-classifier",
	"securityContext": pod_security,
	"containers": [{"name": "node", "securityContext": restricted, "volumeMounts": [{"mountPath": "/tmp", "name": "tmp"}]}],
	"volumes": [{"name": "tmp", "emptyDir": {}}],
}

train_node_job := {"name": "node", "template": {"spec": {"template": {"spec": train_node_pod}}}}

train_job := {
	"apiVersion": "trainer.kubeflow.org/v1alpha1",
	"kind": "TrainJob",
	"metadata": {"name": "image-classifier-train", "labels": labels("training")},
	"spec": {
		"runtimeRef": {"apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime", "name": "torch-distributed"},
		"trainer": {
			"image": "ghcr.io/acme-ml/vision/vit-train:2.0.1",
			"command": ["torchrun", "-m", "vit.train"],
			"env": [{"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow.mlflow.svc:5000"}],
			"numNodes": 4,
			"resourcesPerNode": {"requests": {"cpu": "8", "memory": "48Gi", "nvidia.com/gpu": "1"}, "limits": {"memory": "48Gi", "nvidia.com/gpu": "1"}},
		},
		"runtimePatches": [{
			"manager": "maestro.ml/renderer",
			"trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [train_node_job]}}},
		}],
	},
}

# A ConfigMap holding the XGBoostJob a CronJob launches (as the renderer writes it).
job_config_map(image) := {
	"apiVersion": "v1",
	"kind": "ConfigMap",
	"metadata": {"name": "fraud-detector-train-job", "labels": labels("training")},
	"data": {"job.yaml": yaml.marshal({
		"apiVersion": "kubeflow.org/v1",
		"kind": "XGBoostJob",
		"metadata": {"generateName": "fraud-detector-train-"},
		"spec": {"xgbReplicaSpecs": {"Master": {"replicas": 1, "template": {"spec": pod([container("xgboost", image)])}}}},
	})},
}

peer_authentication := {
	"apiVersion": "security.istio.io/v1",
	"kind": "PeerAuthentication",
	"metadata": {"name": "fraud-detector", "labels": labels("security")},
	"spec": {"mtls": {"mode": "STRICT"}, "selector": {"matchLabels": {"app.kubernetes.io/name": "fraud-detector"}}},
}

destination_rule := {
	"apiVersion": "networking.istio.io/v1",
	"kind": "DestinationRule",
	"metadata": {"name": "fraud-detector", "labels": labels("mesh")},
	"spec": {
		"host": "fraud-detector-predictor.payments-risk-prod.svc.cluster.local",
		"trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
	},
}

service_account := {
	"apiVersion": "v1",
	"kind": "ServiceAccount",
	"metadata": {"name": "fraud-detector", "labels": labels("security")},
}

kustomization := {
	"apiVersion": "kustomize.config.k8s.io/v1beta1",
	"kind": "Kustomization",
	"resources": ["deployment-churn-predictor.yaml"],
}

fixtures := [
	deployment, inference_service, cron_job, pytorch_job, train_job,
	job_config_map("registry.example.com/payments/fraud-train:1.4.2"),
	peer_authentication, destination_rule, service_account, kustomization,
]

# Every finding of every resource-scope rule for an object, as {code: [path, ...]}. Rules are
# named one by one (reading data.main as a whole under `with` is unreliable in regorus 0.13).
findings(obj, cfg) := {code: paths |
	all := all_results with input as obj with data.maestro.config as cfg
	some code in {r.code | some r in all}
	paths := sort([r.path | some r in all; r.code == code])
}

all_results := {r |
	some rules in [
		data.main.deny_platform_config,
		data.main.deny_image_registry,
		data.main.deny_image_unpinned,
		data.main.deny_resources,
		data.main.deny_run_as_root,
		data.main.deny_privilege_escalation,
		data.main.deny_writable_root_fs,
		data.main.deny_host_path,
		data.main.deny_host_namespaces,
		data.main.deny_secret_object,
		data.main.deny_literal_credentials,
		data.main.deny_peer_authentication,
		data.main.deny_destination_rule_tls,
		data.main.warn_recommended_labels,
		data.main.warn_probes,
	]
	some r in rules
}
