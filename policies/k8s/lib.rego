# Maestro resource-scope policies: shared helpers. They live in package main, beside the
# rules, on purpose: regorus 0.13 evaluates EVERY rule of a package that a rule reaches
# through `import data.pkg` + `pkg.x` (measured: 0.02 ms -> 67 ms with one costly helper),
# so a separate helper package would recompute all container walks for every rule.
#
# Input: one rendered Kubernetes object, exactly as `conftest test rendered/<env>/<model>/*.yaml`
# feeds it. Data: data.maestro.config = {env, governance, team, registries, costs} for the
# object's environment and team.
#
# Every result is {"msg", "code", "path", "hint"}; `path` is a JSON pointer into the object.
package main

import rego.v1

config := data.maestro.config

governance := data.maestro.config.governance

env := e if {
	e := data.maestro.config.env
	is_string(e)
} else := "this environment"

result(code, path, msg, hint) := {"msg": msg, "code": code, "path": path, "hint": hint}

as_list(x) := x if is_array(x)

else := []

as_object(x) := x if is_object(x)

else := {}

kind := object.get(input, "kind", "")

labels := as_object(object.get(input, ["metadata", "labels"], {}))

annotations := as_object(object.get(input, ["metadata", "annotations"], {}))

# The container's / pod's securityContext ({} when absent or null).
container_sc(c) := as_object(object.get(c.container, "securityContext", {}))

pod_sc(c) := as_object(object.get(c.pod, "securityContext", {}))

# `Kind name` of an object (generateName when it has no name yet).
display_of(o) := sprintf("%s %s", [object.get(o, "kind", "?"), n]) if {
	meta := as_object(object.get(o, "metadata", {}))
	n := object.get(meta, "name", object.get(meta, "generateName", "?"))
}

display := display_of(input)

# kustomization.yaml files sit beside the objects; they are not cluster objects.
kustomization if startswith(object.get(input, "apiVersion", ""), "kustomize.config.k8s.io/")

# ---------------------------------------------------------------- JSON pointers

pointer(segs) := concat("", [sprintf("/%s", [escape(s)]) | some s in segs])

escape(s) := replace(replace(s, "~", "~0"), "/", "~1") if is_string(s)

else := sprintf("%v", [s])

# ---------------------------------------------------------------- pod specs and containers
#
# Cost matters here: Maestro (like conftest) queries every rule separately, and each rule
# that looks at containers walks the object again (regorus keeps no values between queries).
# So the walk does the least work it can, and messages (`label`, pointers) are built only
# for results.

# Paths (arrays of keys) to every pod spec of an object, whatever its shape:
#   Pod (spec), PodTemplate (template.spec), Deployment/StatefulSet/DaemonSet/ReplicaSet/
#   Job/Argo Rollout/Knative Service (spec.template.spec), CronJob
#   (spec.jobTemplate.spec.template.spec), Kubeflow jobs (spec.<x>ReplicaSpecs.<role>.template.spec:
#   PyTorchJob, TFJob, XGBoostJob, MPIJob, ...), KEDA ScaledJob (spec.jobTargetRef.template.spec),
#   Argo AnalysisTemplate job metrics, and KServe InferenceService components (predictor,
#   transformer, explainer: each is a pod spec itself).
pod_paths(o) := paths if {
	is_object(o.spec)
	paths := ((_pod(o) | _templates(o.spec)) | _replica_specs(o.spec)) | _by_kind(o)
} else := {["template", "spec"] |
	o.kind == "PodTemplate"
	is_object(o.template.spec)
}

_pod(o) := {["spec"] | o.kind == "Pod"}

_templates(spec) := {p |
	some key, value in spec
	p := _template_path(key, value)
}

_template_path("template", t) := ["spec", "template", "spec"] if is_object(t.spec)

_template_path("jobTemplate", t) := ["spec", "jobTemplate", "spec", "template", "spec"] if is_object(t.spec.template.spec)

_template_path("jobTargetRef", t) := ["spec", "jobTargetRef", "template", "spec"] if is_object(t.template.spec)

_replica_specs(spec) := {["spec", field, role, "template", "spec"] |
	some field, roles in spec
	endswith(field, "ReplicaSpecs")
	some role, replica in as_object(roles)
	is_object(replica.template.spec)
}

_by_kind(o) := {["spec", c] |
	o.kind == "InferenceService"
	some c in kserve_components
	is_object(o.spec[c])
} if {
	o.kind == "InferenceService"
} else := {["spec", "metrics", i, "provider", "job", "spec", "template", "spec"] |
	some i, m in as_list(o.spec.metrics)
	is_object(m.provider.job.spec.template.spec)
} if {
	o.kind in {"AnalysisTemplate", "ClusterAnalysisTemplate"}
} else := {p.segs | some p in trainjob_pods(o)} if {
	trainjob(o)
} else := set()

# ---------------------------------------------------------------- Kubeflow Trainer v2 TrainJob
#
# A TrainJob (trainer.kubeflow.org) has no pod template of its own: the runtime it
# references holds one, `spec.trainer` sets the trainer container's image, command, env and
# resources (`resourcesPerNode`), and `spec.runtimePatches[].trainingRuntimeSpec.template
# .spec.replicatedJobs[].template.spec.template.spec` patch the pods (service account,
# security context, volumes, scheduling; containers by name, without image or resources).
# So its pod specs are those patches (hostPath, host namespaces, pod security context), and
# its one checked container is the trainer: `spec.trainer` joined with the patch of the
# `node` container of the `node` replicated job (the name every Trainer v2 runtime uses).
# Without such a patch the runtime's own settings apply, which the policies cannot see: the
# trainer then counts as having no security context.
trainjob(o) if {
	o.kind == "TrainJob"
	startswith(object.get(o, "apiVersion", ""), "trainer.kubeflow.org/")
}

trainjob_pods(o) := [{"segs": segs, "job": rj.name} |
	some i, patch in as_list(object.get(o, ["spec", "runtimePatches"], []))
	some j, rj in as_list(object.get(patch, ["trainingRuntimeSpec", "template", "spec", "replicatedJobs"], []))
	segs := array.concat(
		["spec", "runtimePatches", i, "trainingRuntimeSpec", "template", "spec", "replicatedJobs", j],
		["template", "spec", "template", "spec"],
	)
	is_object(object.get(o, segs, null))
]

trainjob_node := "node"

# The trainer as a container record (see `containers`); `fields` maps its fields to where
# they are in the TrainJob, for `at`.
trainjob_trainer(o) := {"container": ct, "pod": pod, "segs": ["spec", "trainer"], "pod_segs": pod_segs, "fields": fields} if {
	trainer := as_object(object.get(o, ["spec", "trainer"], {}))
	nodes := [p | some p in trainjob_pods(o); p.job == trainjob_node]
	pod_segs := _first_or(nodes, {"segs": ["spec", "trainer"]}).segs
	pod := as_object(object.get(o, pod_segs, {}))
	patches := [[k, c] | some k, c in as_list(pod.containers); object.get(c, "name", "") == trainjob_node]
	patch := _first_or(patches, [-1, {}])
	fields := object.union({"resources": ["spec", "trainer", "resourcesPerNode"]}, _patch_fields(pod_segs, patch[0]))
	ct := object.union(
		object.filter(trainer, ["image", "command", "args", "env"]),
		object.union(
			{"name": trainjob_node, "resources": object.get(trainer, "resourcesPerNode", null)},
			object.filter(as_object(patch[1]), ["securityContext", "volumeMounts"]),
		),
	)
}

_patch_fields(pod_segs, k) := {"securityContext": array.concat(pod_segs, ["containers", k, "securityContext"])} if {
	k >= 0
} else := {}

_first_or(xs, fallback) := xs[0] if count(xs) > 0

else := fallback

kserve_components := ["predictor", "transformer", "explainer"]

# Container-shaped objects of a KServe component: `model` (the runtime comes from a
# ServingRuntime, so it usually has no image) and the older per-framework keys.
kserve_container_keys := {
	"model", "sklearn", "xgboost", "lightgbm", "tensorflow", "pytorch", "triton", "onnx",
	"huggingface", "paddle", "pmml",
}

# The objects to inspect: the input itself, and workload manifests embedded in a
# ConfigMap (a CronJob that launches a Kubeflow job keeps the job in a ConfigMap).
# {"obj", "paths", "base"}: `base` is [] for the input, ["data", key] for an embedded
# object, whose findings point at its ConfigMap key (the message says where inside).
workloads contains {"obj": input, "paths": paths, "base": []} if {
	paths := pod_paths(input)
	count(paths) > 0
}

workloads contains {"obj": input, "paths": set(), "base": []} if {
	trainjob(input)
	count(pod_paths(input)) == 0
}

workloads contains {"obj": obj, "paths": paths, "base": ["data", key]} if {
	input.kind == "ConfigMap"
	some key, text in as_object(input.data)
	is_string(text)
	yaml_key(key)
	_workload_text(text)
	yaml.is_valid(text)
	obj := yaml.unmarshal(text)
	is_object(obj)
	paths := pod_paths(obj)
	_inspected(obj, paths)
}

_inspected(_, paths) if count(paths) > 0

_inspected(obj, _) if trainjob(obj)

# Cheap pre-filter before parsing: a pod spec, or a TrainJob's trainer.
_workload_text(text) if contains(text, "containers:")

_workload_text(text) if contains(text, "kind: TrainJob")

yaml_key(key) if endswith(key, ".yaml")

yaml_key(key) if endswith(key, ".yml")

# Every container: {"container", "pod", "main", "segs", "pod_segs", "base", "obj"}; `main`
# is false for init containers. Messages use label(c), pointers at(c, [...]).
containers contains {"container": ct, "pod": pod, "main": field == "containers", "segs": array.concat(segs, [field, i]), "pod_segs": segs, "base": w.base, "obj": w.obj} if {
	some w in workloads
	not trainjob(w.obj)
	some segs in w.paths
	pod := object.get(w.obj, segs, {})
	some field in ["initContainers", "containers"]
	some i, ct in as_list(pod[field])
	is_object(ct)
}

containers contains {"container": ct, "pod": pod, "main": true, "segs": ["spec", comp, key], "pod_segs": ["spec", comp], "base": w.base, "obj": w.obj} if {
	some w in workloads
	w.obj.kind == "InferenceService"
	some comp in kserve_components
	pod := w.obj.spec[comp]
	some key, ct in pod
	key in kserve_container_keys
	is_object(ct)
}

containers contains object.union(t, {"main": true, "base": w.base, "obj": w.obj}) if {
	some w in workloads
	trainjob(w.obj)
	t := trainjob_trainer(w.obj)
}

# Every pod spec: {"pod", "segs", "base", "obj"}.
pods contains {"pod": object.get(w.obj, segs, {}), "segs": segs, "base": w.base, "obj": w.obj} if {
	some w in workloads
	some segs in w.paths
}

# `container "app" of Deployment web`; for an embedded object
# `container "x" of XGBoostJob train- (embedded in ConfigMap train-job, data["job.yaml"]) at /spec/...`.
label(c) := sprintf("container %q of %s", [container_name(c), where(c)]) if count(c.base) == 0

else := sprintf("container %q of %s at %s", [container_name(c), where(c), pointer(c.segs)])

pod_label(p) := sprintf("pod spec of %s", [where(p)]) if count(p.base) == 0

else := sprintf("pod spec of %s at %s", [where(p), pointer(p.segs)])

container_name(c) := n if {
	n := c.container.name
	is_string(n)
} else := sprintf("%v", [c.segs[count(c.segs) - 1]])

where(x) := display if count(x.base) == 0

else := sprintf("%s (embedded in %s, data[%q])", [display_of(x.obj), display, x.base[1]])

# Pointer to `rest` below a container or pod; for an embedded object, its ConfigMap key.
at(c, rest) := pointer(array.concat(c.fields[rest[0]], array.slice(rest, 1, count(rest)))) if {
	count(c.base) == 0
	count(rest) > 0
	is_array(c.fields[rest[0]])
} else := pointer(array.concat(c.segs, rest)) if count(c.base) == 0

else := pointer(c.base)

# ---------------------------------------------------------------- images

image_digest(img) := d if {
	parts := split(img, "@")
	count(parts) == 2
	d := parts[1]
	d != ""
}

image_tag(img) := t if {
	repo := split(img, "@")[0]
	segs := split(repo, "/")
	parts := split(segs[count(segs) - 1], ":")
	count(parts) == 2
	t := parts[1]
}

uses_latest(img) if {
	not image_digest(img)
	image_tag(img) == "latest"
}

uses_latest(img) if {
	not image_digest(img)
	not image_tag(img)
}

# Pinned: a digest, or a tag other than latest.
pinned(img) if image_digest(img)

pinned(img) if {
	tag := image_tag(img)
	tag != ""
	tag != "latest"
}

allowed_registry(img) if {
	some prefix in as_list(config.registries)
	startswith(img, concat("", [trim_right(prefix, "/"), "/"]))
}

# ---------------------------------------------------------------- codes and waivers

rule_names := {
	"MPK000": "platform_config",
	"MPK001": "image_registry",
	"MPK002": "image_unpinned",
	"MPK003": "resources",
	"MPK004": "run_as_root",
	"MPK005": "privilege_escalation",
	"MPK006": "writable_root_fs",
	"MPK007": "host_path",
	"MPK008": "host_namespaces",
	"MPK009": "secret_object",
	"MPK010": "literal_credentials",
	"MPK011": "peer_authentication",
	"MPK012": "destination_rule_tls",
	"MPK013": "recommended_labels",
	"MPK014": "probes",
}

not_waivable := {"MPK000", "MPK009", "MPK010"}

waiver_annotation := "maestro.ml/waivers"

# Codes listed in the object's maestro.ml/waivers annotation ("MPK004, MPK006").
waived_codes contains code if {
	text := annotations[waiver_annotation]
	is_string(text)
	some part in split(text, ",")
	code := trim_space(part)
	rule_names[code]
	not code in not_waivable
}
