package main

import rego.v1

# MPK003 containers request CPU and memory and limit memory
#
# What: every container and init container has resources.requests.cpu,
#   resources.requests.memory and resources.limits.memory. KServe model containers count.
# Why: requests drive scheduling and cost attribution; a memory limit keeps one leaking pod
#   from taking down its node's neighbours. (A CPU limit is not required: it only throttles.)
# Comply: Maestro derives these from spec.serving.resources / spec.training.resources; for
#   hand-written objects set all three.
# Waive: annotation maestro.ml/waivers: "MPK003" on the object.
# PASS: resources: {requests: {cpu: "1", memory: 2Gi}, limits: {memory: 2Gi}}
# FAIL: resources: {requests: {cpu: "1"}}
#   -> MPK003 /spec/template/spec/containers/0/resources "container \"app\" of Deployment web does not set resources.requests.memory, resources.limits.memory"
deny_resources contains result("MPK003", path, msg, hint) if {
	some c in containers
	missing := [concat(".", array.concat(["resources"], f)) |
		some f in required_resources
		object.get(c.container, array.concat(["resources"], f), null) == null
	]
	count(missing) > 0
	path := at(c, resources_at(c.container))
	msg := sprintf("%s does not set %s", [label(c), concat(", ", missing)])
	hint := "set resources.requests.cpu, resources.requests.memory and resources.limits.memory"
}

required_resources := [["requests", "cpu"], ["requests", "memory"], ["limits", "memory"]]

resources_at(ct) := ["resources"] if is_object(ct.resources)

else := []
