package main

import rego.v1

# MPK013 recommended labels (warning)
#
# What: every object carries app.kubernetes.io/managed-by and app.kubernetes.io/part-of
#   (the owning team); objects with pod specs also carry app.kubernetes.io/name and
#   app.kubernetes.io/component. kustomization.yaml files are not objects and are skipped.
# Why: dashboards, cost reports and `kubectl get -l` find a model's objects by these labels.
# Comply: Maestro stamps them on everything it renders; add them to hand-written objects.
# Waive: annotation maestro.ml/waivers: "MPK013" on the object.
# PASS: labels: {app.kubernetes.io/managed-by: maestro, app.kubernetes.io/part-of: payments-risk, ...}
# FAIL (warning): a Deployment with labels {app: web}
#   -> MPK013 /metadata "Deployment web lacks the recommended labels app.kubernetes.io/managed-by, ..."
warn_recommended_labels contains result("MPK013", path, msg, hint) if {
	is_object(input)
	not kustomization
	kind != ""
	missing := [l | some l in wanted_labels; not is_string(labels[l])]
	count(missing) > 0
	path := labels_path
	msg := sprintf("%s lacks the recommended labels %s", [display, concat(", ", missing)])
	hint := "add the app.kubernetes.io/* labels (Maestro stamps them on rendered objects)"
}

wanted_labels := ["app.kubernetes.io/managed-by", "app.kubernetes.io/part-of"] if {
	count(pod_paths(input)) == 0
} else := [
	"app.kubernetes.io/managed-by", "app.kubernetes.io/part-of",
	"app.kubernetes.io/name", "app.kubernetes.io/component",
]

labels_path := "/metadata/labels" if {
	is_object(input.metadata.labels)
} else := "/metadata" if {
	is_object(input.metadata)
} else := ""

# MPK014 serving containers have probes (warning)
#
# What: the main containers of serving workloads (label app.kubernetes.io/component
#   starting with "serving" on the object) have a readinessProbe and a livenessProbe.
# Why: without readiness, traffic reaches a replica before the model is loaded; without
#   liveness, a wedged server keeps its share of traffic forever.
# Comply: Maestro renders the runtimes' health endpoints; for custom containers add
#   readinessProbe and livenessProbe (e.g. httpGet /v2/health/ready and /v2/health/live).
# Waive: annotation maestro.ml/waivers: "MPK014" on the object.
# PASS: readinessProbe and livenessProbe set
# FAIL (warning): neither set
#   -> MPK014 /spec/template/spec/containers/0 "container \"app\" of Deployment web serves traffic without readinessProbe, livenessProbe"
warn_probes contains result("MPK014", at(c, []), msg, hint) if {
	serving_object
	some c in containers
	c.main
	count(c.base) == 0
	missing := [p | some p in ["readinessProbe", "livenessProbe"]; not is_object(c.container[p])]
	count(missing) > 0
	msg := sprintf("%s serves traffic without %s", [label(c), concat(", ", missing)])
	hint := "add readinessProbe and livenessProbe (e.g. httpGet on the runtime's /v2/health/ready and /v2/health/live)"
}

serving_object if startswith(labels["app.kubernetes.io/component"], "serving")
