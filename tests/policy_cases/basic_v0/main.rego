# The same kind of policy in the older Rego v0 syntax (no `if`, no `contains`).
package main

deny[msg] {
	input.kind == "Deployment"
	not input.spec.template.spec.securityContext.runAsNonRoot
	msg := sprintf("%s: containers must not run as root", [input.metadata.name])
}

deny_latest_tag[{"msg": msg, "code": "MLP001"}] {
	c := input.spec.template.spec.containers[_]
	endswith(c.image, ":latest")
	msg := sprintf("container %s uses the latest tag", [c.name])
}

violation[{"msg": "metadata.labels.team is required", "details": {"field": "team"}}] {
	not input.metadata.labels.team
}

warn[msg] {
	input.spec.replicas < 2
	msg := "fewer than 2 replicas"
}

exception[rules] {
	input.metadata.name == "legacy-batch"
	rules = ["latest_tag"]
}
