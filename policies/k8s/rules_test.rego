package main_test

import rego.v1

# ---------------------------------------------------------------- fixtures are clean

test_fixtures_are_clean_in_prod if {
	every obj in fixtures {
		findings(obj, prod_config) == {}
	}
}

test_fixtures_are_clean_in_dev if {
	every obj in fixtures {
		findings(obj, dev_config) == {}
	}
}

test_walk_finds_every_container_shape if {
	count(data.main.containers) == 1 with input as deployment
	count(data.main.containers) == 1 with input as inference_service
	count(data.main.containers) == 1 with input as cron_job
	count(data.main.containers) == 2 with input as pytorch_job
	count(data.main.containers) == 1 with input as job_config_map("registry.example.com/x:1")
	count(data.main.containers) == 0 with input as service_account
	count(data.main.containers) == 0 with input as kustomization
}

test_walk_other_shapes if {
	p := {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"initContainers": [{"name": "init"}], "containers": [{"name": "a"}]}}
	{[c.segs, c.main] | some c in data.main.containers} == {[["spec", "initContainers", 0], false], [["spec", "containers", 0], true]} with input as p
	sj := {"kind": "ScaledJob", "metadata": {"name": "s"}, "spec": {"jobTargetRef": {"template": {"spec": {"containers": [{"name": "a"}]}}}}}
	count(data.main.containers) == 1 with input as sj
	at := {"kind": "AnalysisTemplate", "metadata": {"name": "t"}, "spec": {"metrics": [{"name": "m", "provider": {"job": {"spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}}}}]}}
	count(data.main.containers) == 1 with input as at
	tf := {"kind": "TFJob", "metadata": {"name": "t"}, "spec": {"tfReplicaSpecs": {"PS": {"template": {"spec": {"containers": [{"name": "tf"}]}}}, "Worker": {"template": {"spec": {"containers": [{"name": "tf"}]}}}}}}
	count(data.main.containers) == 2 with input as tf
	isvc := {"kind": "InferenceService", "metadata": {"name": "i"}, "spec": {"predictor": {"sklearn": {"storageUri": "s3://x"}, "containers": [{"name": "kserve-container", "image": "x:1"}]}, "transformer": {"containers": [{"name": "t", "image": "y:1"}]}}}
	{c.segs | some c in data.main.containers} == {["spec", "predictor", "sklearn"], ["spec", "predictor", "containers", 0], ["spec", "transformer", "containers", 0]} with input as isvc
}

# ---------------------------------------------------------------- MPK000

test_mpk000_missing_config if {
	r := data.main.deny_platform_config with input as deployment with data.maestro.config as {"env": "prod"}
	{x.msg | some x in r} == {
		"platform config missing while checking Deployment churn-predictor: data.maestro.config.governance is not set (expected an object); the rules that need it cannot be evaluated",
		"platform config missing while checking Deployment churn-predictor: data.maestro.config.registries is not set (expected a list); the rules that need it cannot be evaluated",
	}
	every x in r {
		x.code == "MPK000"
		x.path == ""
	}
}

test_mpk000_kustomization_and_full_config_pass if {
	count(data.main.deny_platform_config) == 0 with input as kustomization
	count(data.main.deny_platform_config) == 0 with input as deployment with data.maestro.config as prod_config
}

# ---------------------------------------------------------------- MPK001

test_mpk001_foreign_registry if {
	obj := with_container({"image": "docker.io/library/python:3.12"})
	r := data.main.deny_image_registry with input as obj with data.maestro.config as prod_config
	r == {{
		"code": "MPK001",
		"path": "/spec/template/spec/containers/0/image",
		"msg": "container \"mlserver\" of Deployment churn-predictor uses image docker.io/library/python:3.12, which is not from an allowed registry (registry.example.com, ghcr.io/acme-ml)",
		"hint": "pull the image from an allowed registry (config/platform.yaml `registries`)",
	}}
}

test_mpk001_lookalike_registry if {
	obj := with_container({"image": "registry.example.com.evil.io/x:1"})
	count(data.main.deny_image_registry) == 1 with input as obj with data.maestro.config as prod_config
}

test_mpk001_embedded_job_points_at_configmap_key if {
	obj := job_config_map("docker.io/library/python:3.12")
	r := data.main.deny_image_registry with input as obj with data.maestro.config as prod_config
	[x.path | some x in r] == ["/data/job.yaml"]
	some x in r
	x.msg == "container \"xgboost\" of XGBoostJob fraud-detector-train- (embedded in ConfigMap fraud-detector-train-job, data[\"job.yaml\"]) at /spec/xgbReplicaSpecs/Master/template/spec/containers/0 uses image docker.io/library/python:3.12, which is not from an allowed registry (registry.example.com, ghcr.io/acme-ml)"
}

test_mpk001_kserve_model_without_image_passes if {
	count(data.main.deny_image_registry) == 0 with input as inference_service with data.maestro.config as prod_config
}

# ---------------------------------------------------------------- MPK002

test_mpk002_latest_in_prod if {
	obj := with_container({"image": "registry.example.com/platform/mlserver-mlflow:latest"})
	r := data.main.deny_image_unpinned with input as obj with data.maestro.config as prod_config
	r == {{
		"code": "MPK002",
		"path": "/spec/template/spec/containers/0/image",
		"msg": "container \"mlserver\" of Deployment churn-predictor uses image registry.example.com/platform/mlserver-mlflow:latest, which is not pinned: prod requires a tag other than latest or a digest (governance.require_pinned_images)",
		"hint": "pin the image with a release tag (e.g. :1.4.2) or a digest (@sha256:...)",
	}}
}

test_mpk002_untagged_in_prod_and_init_container if {
	obj := with_pod({"initContainers": [object.union(container("init", "registry.example.com/platform/kubectl"), {})]})
	r := data.main.deny_image_unpinned with input as obj with data.maestro.config as prod_config
	[x.path | some x in r] == ["/spec/template/spec/initContainers/0/image"]
}

test_mpk002_digest_and_port_pass if {
	every img in [
		"registry.example.com/platform/mlserver-mlflow@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"registry.example.com:5000/platform/mlserver-mlflow:1.6.1",
		"registry.example.com/platform/mlserver-mlflow:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	] {
		count(data.main.deny_image_unpinned) == 0 with input as with_container({"image": img}) with data.maestro.config as prod_config
	}
	count(data.main.deny_image_unpinned) == 1 with input as with_container({"image": "registry.example.com:5000/platform/mlserver"}) with data.maestro.config as prod_config
}

test_mpk002_dev_allows_latest if {
	obj := with_container({"image": "registry.example.com/platform/mlserver-mlflow:latest"})
	count(data.main.deny_image_unpinned) == 0 with input as obj with data.maestro.config as dev_config
}

test_mpk002_allow_latest_false_alone if {
	cfg := json.patch(dev_config, [{"op": "replace", "path": "/governance/allow_latest", "value": false}])
	r := data.main.deny_image_unpinned with input as with_container({"image": "registry.example.com/platform/mlserver-mlflow"}) with data.maestro.config as cfg
	[x.msg | some x in r] == ["container \"mlserver\" of Deployment churn-predictor uses image registry.example.com/platform/mlserver-mlflow, which resolves to latest; dev does not allow latest (governance.allow_latest: false)"]
}

# ---------------------------------------------------------------- MPK003

test_mpk003_missing_requests_and_limit if {
	obj := json.patch(deployment, [{"op": "replace", "path": "/spec/template/spec/containers/0/resources", "value": {"requests": {"cpu": "1"}}}])
	r := data.main.deny_resources with input as obj with data.maestro.config as prod_config
	r == {{
		"code": "MPK003",
		"path": "/spec/template/spec/containers/0/resources",
		"msg": "container \"mlserver\" of Deployment churn-predictor does not set resources.requests.memory, resources.limits.memory",
		"hint": "set resources.requests.cpu, resources.requests.memory and resources.limits.memory",
	}}
}

test_mpk003_no_resources_kserve_model if {
	obj := json.patch(inference_service, [{"op": "remove", "path": "/spec/predictor/model/resources"}])
	r := data.main.deny_resources with input as obj with data.maestro.config as prod_config
	[x.path | some x in r] == ["/spec/predictor/model"]
}

test_mpk003_complete_resources_pass if {
	count(data.main.deny_resources) == 0 with input as pytorch_job with data.maestro.config as prod_config
}

# ---------------------------------------------------------------- MPK004

test_mpk004_no_run_as_non_root_anywhere if {
	obj := json.patch(deployment, [
		{"op": "remove", "path": "/spec/template/spec/securityContext/runAsNonRoot"},
		{"op": "remove", "path": "/spec/template/spec/containers/0/securityContext/runAsNonRoot"},
	])
	r := data.main.deny_run_as_root with input as obj with data.maestro.config as prod_config
	r == {{
		"code": "MPK004",
		"path": "/spec/template/spec/containers/0/securityContext",
		"msg": "container \"mlserver\" of Deployment churn-predictor may run as root: runAsNonRoot is not set (it must be true on the container or the pod securityContext)",
		"hint": "set securityContext.runAsNonRoot: true (pod or container) with a non-zero runAsUser, and build the image with a numeric non-root USER",
	}}
}

test_mpk004_pod_level_is_inherited if {
	obj := json.patch(deployment, [{"op": "remove", "path": "/spec/template/spec/containers/0/securityContext/runAsNonRoot"}])
	count(data.main.deny_run_as_root) == 0 with input as obj with data.maestro.config as prod_config
}

test_mpk004_container_false_overrides_pod_true if {
	obj := json.patch(deployment, [{"op": "replace", "path": "/spec/template/spec/containers/0/securityContext/runAsNonRoot", "value": false}])
	r := data.main.deny_run_as_root with input as obj with data.maestro.config as prod_config
	[[x.path, x.msg] | some x in r] == [[
		"/spec/template/spec/containers/0/securityContext/runAsNonRoot",
		"container \"mlserver\" of Deployment churn-predictor may run as root: runAsNonRoot is false (container securityContext) (it must be true on the container or the pod securityContext)",
	]]
}

test_mpk004_pod_level_false if {
	obj := json.patch(deployment, [
		{"op": "replace", "path": "/spec/template/spec/securityContext/runAsNonRoot", "value": false},
		{"op": "remove", "path": "/spec/template/spec/containers/0/securityContext/runAsNonRoot"},
	])
	r := data.main.deny_run_as_root with input as obj with data.maestro.config as prod_config
	[x.path | some x in r] == ["/spec/template/spec/securityContext/runAsNonRoot"]
}

test_mpk004_run_as_user_zero if {
	obj := json.patch(deployment, [{"op": "replace", "path": "/spec/template/spec/securityContext/runAsUser", "value": 0}])
	r := data.main.deny_run_as_root with input as obj with data.maestro.config as prod_config
	[[x.path, x.msg] | some x in r] == [[
		"/spec/template/spec/securityContext/runAsUser",
		"container \"mlserver\" of Deployment churn-predictor runs as root: runAsUser is 0 (pod securityContext)",
	]]
}

test_mpk004_kserve_predictor_pod_level if {
	obj := json.patch(inference_service, [{"op": "remove", "path": "/spec/predictor/securityContext/runAsNonRoot"}])
	count(data.main.deny_run_as_root) == 0 with input as obj with data.maestro.config as prod_config
	obj2 := json.patch(obj, [{"op": "remove", "path": "/spec/predictor/model/securityContext/runAsNonRoot"}])
	r := data.main.deny_run_as_root with input as obj2 with data.maestro.config as prod_config
	[x.path | some x in r] == ["/spec/predictor/model/securityContext"]
}

# ---------------------------------------------------------------- MPK005

test_mpk005_escalation_not_set if {
	obj := json.patch(deployment, [{"op": "remove", "path": "/spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation"}])
	r := data.main.deny_privilege_escalation with input as obj with data.maestro.config as prod_config
	r == {{
		"code": "MPK005",
		"path": "/spec/template/spec/containers/0/securityContext",
		"msg": "container \"mlserver\" of Deployment churn-predictor allows privilege escalation: allowPrivilegeEscalation is not set (it must be false)",
		"hint": "set securityContext.allowPrivilegeEscalation: false on the container",
	}}
}

test_mpk005_privileged if {
	obj := json.patch(deployment, [{"op": "add", "path": "/spec/template/spec/containers/0/securityContext/privileged", "value": true}])
	r := data.main.deny_privilege_escalation with input as obj with data.maestro.config as prod_config
	[x.path | some x in r] == ["/spec/template/spec/containers/0/securityContext/privileged"]
}

test_mpk005_no_security_context_at_all if {
	obj := json.patch(deployment, [{"op": "remove", "path": "/spec/template/spec/containers/0/securityContext"}])
	r := data.main.deny_privilege_escalation with input as obj with data.maestro.config as prod_config
	[x.path | some x in r] == ["/spec/template/spec/containers/0"]
}

test_mpk005_false_passes if {
	count(data.main.deny_privilege_escalation) == 0 with input as cron_job with data.maestro.config as prod_config
}

# ---------------------------------------------------------------- MPK006

test_mpk006_writable_root if {
	obj := json.patch(deployment, [{"op": "replace", "path": "/spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem", "value": false}])
	r := data.main.deny_writable_root_fs with input as obj with data.maestro.config as prod_config
	r == {{
		"code": "MPK006",
		"path": "/spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem",
		"msg": "container \"mlserver\" of Deployment churn-predictor has a writable root filesystem: readOnlyRootFilesystem is false (it must be true)",
		"hint": "set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where the program writes (e.g. /tmp)",
	}}
}

test_mpk006_read_only_passes if {
	count(data.main.deny_writable_root_fs) == 0 with input as inference_service with data.maestro.config as prod_config
}

# ---------------------------------------------------------------- MPK007 / MPK008

test_mpk007_host_path if {
	obj := with_pod({"volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}]})
	r := data.main.deny_host_path with input as obj with data.maestro.config as prod_config
	r == {{
		"code": "MPK007",
		"path": "/spec/template/spec/volumes/1/hostPath",
		"msg": "pod spec of Deployment churn-predictor mounts hostPath /var/run/docker.sock (volume \"docker\"); pods must not use the node's filesystem",
		"hint": "use an emptyDir, ConfigMap or PersistentVolumeClaim volume instead",
	}}
}

test_mpk007_emptydir_passes if {
	count(data.main.deny_host_path) == 0 with input as deployment with data.maestro.config as prod_config
}

test_mpk008_host_network_and_pid if {
	obj := json.patch(cron_job, [
		{"op": "add", "path": "/spec/jobTemplate/spec/template/spec/hostNetwork", "value": true},
		{"op": "add", "path": "/spec/jobTemplate/spec/template/spec/hostPID", "value": true},
		{"op": "add", "path": "/spec/jobTemplate/spec/template/spec/hostIPC", "value": false},
	])
	r := data.main.deny_host_namespaces with input as obj with data.maestro.config as prod_config
	{x.path | some x in r} == {"/spec/jobTemplate/spec/template/spec/hostNetwork", "/spec/jobTemplate/spec/template/spec/hostPID"}
	some x in r
	x.msg == "pod spec of CronJob fraud-detector-train sets hostNetwork: true; pods must not share the node's namespaces"
}

test_mpk008_kserve_component_is_a_pod_spec if {
	obj := json.patch(inference_service, [{"op": "add", "path": "/spec/predictor/hostNetwork", "value": true}])
	r := data.main.deny_host_namespaces with input as obj with data.maestro.config as prod_config
	[x.path | some x in r] == ["/spec/predictor/hostNetwork"]
}

test_mpk008_default_passes if {
	count(data.main.deny_host_namespaces) == 0 with input as pytorch_job with data.maestro.config as prod_config
}

# ---------------------------------------------------------------- MPK009

test_mpk009_secret_object if {
	secret := {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-credentials"}, "stringData": {"password": "hunter2"}}
	r := data.main.deny_secret_object with input as secret with data.maestro.config as prod_config
	r == {{
		"code": "MPK009",
		"path": "/kind",
		"msg": "Secret db-credentials is a Kubernetes Secret in the rendered tree; secrets come only from Vault",
		"hint": "remove the Secret and declare it in spec.secrets (a Vault path and the env variables it fills)",
	}}
}

test_mpk009_vault_reference_passes if {
	vss := {"apiVersion": "secrets.hashicorp.com/v1beta1", "kind": "VaultStaticSecret", "metadata": {"name": "feature-db"}, "spec": {"path": "payments/fraud/feature-db"}}
	count(data.main.deny_secret_object) == 0 with input as vss with data.maestro.config as prod_config
	sealed := {"apiVersion": "bitnami.com/v1alpha1", "kind": "Secret", "metadata": {"name": "x"}}
	count(data.main.deny_secret_object) == 0 with input as sealed with data.maestro.config as prod_config
}

# ---------------------------------------------------------------- MPK010

test_mpk010_literal_password if {
	obj := json.patch(deployment, [{"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": {"name": "HF_TOKEN", "value": "hf_abc"}}])
	r := data.main.deny_literal_credentials with input as obj with data.maestro.config as prod_config
	r == {{
		"code": "MPK010",
		"path": "/spec/template/spec/containers/0/env/2/value",
		"msg": "container \"mlserver\" of Deployment churn-predictor sets HF_TOKEN to a literal value; credentials must come from Vault through valueFrom.secretKeyRef (the value is not shown here)",
		"hint": "declare the secret in spec.secrets (vaultPath and env mapping) so the variable is filled from the Vault-synced Secret",
	}}
}

test_mpk010_credential_names if {
	every name in ["DB_PASSWORD", "db_password", "AWS_SECRET_ACCESS_KEY", "OPENAI_API_KEY", "APIKEY", "GOOGLE_APPLICATION_CREDENTIALS_JSON", "SSH_PRIVATE_KEY", "MLFLOW_TRACKING_TOKEN"] {
		data.main.credential_name(name)
	}
	every name in ["TOKENIZERS_PARALLELISM", "MLFLOW_TRACKING_URI", "KEY_PATH", "SECRETARY", "PASSWORDLESS"] {
		not data.main.credential_name(name)
	}
}

test_mpk010_value_from_and_empty_pass if {
	obj := json.patch(deployment, [{"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": {"name": "API_TOKEN", "value": ""}}])
	count(data.main.deny_literal_credentials) == 0 with input as obj with data.maestro.config as prod_config
}

# ---------------------------------------------------------------- MPK011 / MPK012

test_mpk011_permissive if {
	obj := json.patch(peer_authentication, [{"op": "replace", "path": "/spec/mtls/mode", "value": "PERMISSIVE"}])
	r := data.main.deny_peer_authentication with input as obj with data.maestro.config as prod_config
	r == {{
		"code": "MPK011",
		"path": "/spec/mtls/mode",
		"msg": "PeerAuthentication fraud-detector sets mTLS mode PERMISSIVE; prod requires STRICT (governance.require_mtls)",
		"hint": "set spec.mtls.mode: STRICT (and STRICT for every spec.portLevelMtls entry)",
	}}
}

test_mpk011_unset_mode_and_port_override if {
	obj := json.patch(peer_authentication, [
		{"op": "remove", "path": "/spec/mtls"},
		{"op": "add", "path": "/spec/portLevelMtls", "value": {"8080": {"mode": "DISABLE"}}},
	])
	r := data.main.deny_peer_authentication with input as obj with data.maestro.config as prod_config
	{[x.path, x.msg] | some x in r} == {
		["/spec", "PeerAuthentication fraud-detector sets mTLS mode UNSET (not given); prod requires STRICT (governance.require_mtls)"],
		["/spec/portLevelMtls/8080", "PeerAuthentication fraud-detector sets mTLS mode DISABLE for port 8080; prod requires STRICT (governance.require_mtls)"],
	}
}

test_mpk011_dev_does_not_require_mtls if {
	obj := json.patch(peer_authentication, [{"op": "replace", "path": "/spec/mtls/mode", "value": "PERMISSIVE"}])
	count(data.main.deny_peer_authentication) == 0 with input as obj with data.maestro.config as dev_config
}

test_mpk012_tls_disabled_everywhere if {
	obj := json.patch(destination_rule, [
		{"op": "replace", "path": "/spec/trafficPolicy/tls/mode", "value": "DISABLE"},
		{"op": "add", "path": "/spec/subsets", "value": [{"name": "challenger", "trafficPolicy": {"portLevelSettings": [{"port": {"number": 8080}, "tls": {"mode": "DISABLE"}}]}}]},
	])
	r := data.main.deny_destination_rule_tls with input as obj with data.maestro.config as prod_config
	{x.path | some x in r} == {"/spec/trafficPolicy/tls/mode", "/spec/subsets/0/trafficPolicy/portLevelSettings/0/tls/mode"}
	some x in r
	x.msg == "DestinationRule fraud-detector disables TLS at spec.trafficPolicy (tls.mode: DISABLE); prod requires mTLS between workloads (governance.require_mtls)"
}

test_mpk012_istio_mutual_passes if {
	count(data.main.deny_destination_rule_tls) == 0 with input as destination_rule with data.maestro.config as prod_config
}

# ---------------------------------------------------------------- MPK013 / MPK014

test_mpk013_missing_labels_on_workload if {
	obj := json.patch(deployment, [{"op": "replace", "path": "/metadata/labels", "value": {"app": "web"}}])
	r := data.main.warn_recommended_labels with input as obj with data.maestro.config as prod_config
	r == {{
		"code": "MPK013",
		"path": "/metadata/labels",
		"msg": "Deployment churn-predictor lacks the recommended labels app.kubernetes.io/managed-by, app.kubernetes.io/part-of, app.kubernetes.io/name, app.kubernetes.io/component",
		"hint": "add the app.kubernetes.io/* labels (Maestro stamps them on rendered objects)",
	}}
}

test_mpk013_non_workloads_need_ownership_labels_only if {
	sa := {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x", "labels": {"app.kubernetes.io/managed-by": "maestro", "app.kubernetes.io/part-of": "vision"}}}
	count(data.main.warn_recommended_labels) == 0 with input as sa with data.maestro.config as prod_config
	bare := {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x"}}
	r := data.main.warn_recommended_labels with input as bare with data.maestro.config as prod_config
	[x.path | some x in r] == ["/metadata"]
}

test_mpk014_serving_container_without_probes if {
	obj := json.patch(deployment, [
		{"op": "remove", "path": "/spec/template/spec/containers/0/readinessProbe"},
		{"op": "remove", "path": "/spec/template/spec/containers/0/livenessProbe"},
	])
	r := data.main.warn_probes with input as obj with data.maestro.config as prod_config
	r == {{
		"code": "MPK014",
		"path": "/spec/template/spec/containers/0",
		"msg": "container \"mlserver\" of Deployment churn-predictor serves traffic without readinessProbe, livenessProbe",
		"hint": "add readinessProbe and livenessProbe (e.g. httpGet on the runtime's /v2/health/ready and /v2/health/live)",
	}}
}

test_mpk014_training_needs_no_probes if {
	count(data.main.warn_probes) == 0 with input as pytorch_job with data.maestro.config as prod_config
}

# ---------------------------------------------------------------- waivers (exception)

test_waiver_annotation_skips_named_rules if {
	obj := json.patch(deployment, [
		{"op": "add", "path": "/metadata/annotations", "value": {"maestro.ml/waivers": "MPK006, MPK014,MPK010, nonsense"}},
		{"op": "replace", "path": "/spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem", "value": false},
	])
	data.main.exception == {["writable_root_fs"], ["probes"]} with input as obj with data.maestro.config as prod_config
}

test_no_annotation_no_exception if {
	count(data.main.exception) == 0 with input as deployment with data.maestro.config as prod_config
}

# ---------------------------------------------------------------- the helper itself

test_findings_helper_sees_every_rule if {
	bad := json.patch(deployment, [
		{"op": "replace", "path": "/metadata/labels", "value": {}},
		{"op": "replace", "path": "/spec/template/spec/containers/0", "value": {"name": "app", "image": "docker.io/app", "env": [{"name": "DB_PASSWORD", "value": "x"}]}},
		{"op": "replace", "path": "/spec/template/spec/securityContext", "value": {}},
		{"op": "add", "path": "/spec/template/spec/hostNetwork", "value": true},
		{"op": "add", "path": "/spec/template/spec/volumes/-", "value": {"name": "h", "hostPath": {"path": "/"}}},
	])
	findings(bad, prod_config) == {
		"MPK001": ["/spec/template/spec/containers/0/image"],
		"MPK002": ["/spec/template/spec/containers/0/image"],
		"MPK003": ["/spec/template/spec/containers/0"],
		"MPK004": ["/spec/template/spec/containers/0"],
		"MPK005": ["/spec/template/spec/containers/0"],
		"MPK006": ["/spec/template/spec/containers/0"],
		"MPK007": ["/spec/template/spec/volumes/1/hostPath"],
		"MPK008": ["/spec/template/spec/hostNetwork"],
		"MPK010": ["/spec/template/spec/containers/0/env/0/value"],
		"MPK013": ["/metadata/labels"],
	}

	# probes are only asked of serving workloads (label app.kubernetes.io/component)
	serving := json.patch(bad, [{"op": "replace", "path": "/metadata/labels", "value": {"app.kubernetes.io/component": "serving"}}])
	findings(serving, prod_config).MPK014 == ["/spec/template/spec/containers/0"]
	findings({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}, {}) == {
		"MPK000": ["", ""],
		"MPK009": ["/kind"],
		"MPK013": ["/metadata"],
	}
	pa := json.patch(peer_authentication, [{"op": "replace", "path": "/spec/mtls/mode", "value": "DISABLE"}])
	findings(pa, prod_config) == {"MPK011": ["/spec/mtls/mode"]}
	dr := json.patch(destination_rule, [{"op": "replace", "path": "/spec/trafficPolicy/tls/mode", "value": "DISABLE"}])
	findings(dr, prod_config) == {"MPK012": ["/spec/trafficPolicy/tls/mode"]}
}

# ---------------------------------------------------------------- TrainJob (Kubeflow Trainer v2)

patched_node(tj, pod_changes) := json.patch(tj, [{
	"op": "replace",
	"path": "/spec/runtimePatches/0/trainingRuntimeSpec/template/spec/replicatedJobs/0/template/spec/template/spec",
	"value": object.union(tj.spec.runtimePatches[0].trainingRuntimeSpec.template.spec.replicatedJobs[0].template.spec.template.spec, pod_changes),
}])

node_pod := "/spec/runtimePatches/0/trainingRuntimeSpec/template/spec/replicatedJobs/0/template/spec/template/spec"

test_trainjob_trainer_image_and_resources_are_checked_where_they_are if {
	bad := json.patch(train_job, [
		{"op": "replace", "path": "/spec/trainer/image", "value": "docker.io/pytorch/pytorch:latest"},
		{"op": "remove", "path": "/spec/trainer/resourcesPerNode/requests/cpu"},
	])
	findings(bad, prod_config) == {
		"MPK001": ["/spec/trainer/image"],
		"MPK002": ["/spec/trainer/image"],
		"MPK003": ["/spec/trainer/resourcesPerNode"],
	}
	some r in data.main.deny_image_registry with input as bad with data.maestro.config as prod_config
	r.msg == "container \"node\" of TrainJob image-classifier-train uses image docker.io/pytorch/pytorch:latest, which is not from an allowed registry (registry.example.com, ghcr.io/acme-ml)"
}

test_trainjob_security_context_comes_from_the_node_patch if {
	bad := patched_node(train_job, {
		"containers": [{"name": "node", "securityContext": {"runAsNonRoot": false}}],
		"volumes": [{"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}],
	})
	findings(bad, prod_config) == {
		"MPK004": [concat("", [node_pod, "/containers/0/securityContext/runAsNonRoot"])],
		"MPK005": [concat("", [node_pod, "/containers/0/securityContext"])],
		"MPK006": [concat("", [node_pod, "/containers/0/securityContext"])],
		"MPK007": [concat("", [node_pod, "/volumes/0/hostPath"])],
	}
}

test_trainjob_without_patches_is_not_assumed_safe if {
	bare := json.patch(train_job, [{"op": "remove", "path": "/spec/runtimePatches"}])
	findings(bare, prod_config) == {"MPK004": ["/spec/trainer"], "MPK005": ["/spec/trainer"], "MPK006": ["/spec/trainer"]}
}

test_trainjob_literal_credentials if {
	bad := json.patch(train_job, [{"op": "add", "path": "/spec/trainer/env/-", "value": {"name": "HF_TOKEN", "value": "hf_x"}}])
	findings(bad, prod_config) == {"MPK010": ["/spec/trainer/env/1/value"]}
}

test_trainjob_embedded_in_a_config_map if {
	cm := {
		"apiVersion": "v1",
		"kind": "ConfigMap",
		"metadata": {"name": "image-classifier-train-job", "labels": labels("training")},
		"data": {"job.yaml": yaml.marshal(json.patch(train_job, [{"op": "replace", "path": "/spec/trainer/image", "value": "docker.io/x:1"}]))},
	}
	findings(cm, prod_config) == {"MPK001": ["/data/job.yaml"]}
}
