package main

import rego.v1

deployment(name, image, replicas) := {
	"kind": "Deployment",
	"metadata": {"name": name, "labels": {"team": "search"}},
	"spec": {
		"replicas": replicas,
		"template": {"spec": {
			"securityContext": {"runAsNonRoot": true},
			"containers": [{"name": "app", "image": image, "resources": {"limits": {"memory": "1Gi"}}}],
		}},
	},
}

test_clean_deployment_passes if {
	d := deployment("web", "nginx:1.27", 3)
	count(deny) == 0 with input as d
	count(deny_latest_tag) == 0 with input as d
	count(warn) == 0 with input as d
}

test_latest_tag_denied if {
	results := deny_latest_tag with input as deployment("web", "nginx:latest", 3)
	some r in results
	r.code == "MLP001"
}

test_min_replicas_from_data if {
	count(warn) == 1 with input as deployment("web", "nginx:1.27", 1)
	count(warn) == 0 with input as deployment("web", "nginx:1.27", 1) with data.limits.min_replicas as 1
}

test_yaml_12_no_is_a_string if {
	data.flags.legacy == "no"
}
