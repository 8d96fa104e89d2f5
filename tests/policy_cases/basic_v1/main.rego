# conftest-style policy in Rego v1 syntax.
package main

import rego.v1

# plain `deny`: string messages
deny contains msg if {
	input.kind == "Deployment"
	not input.spec.template.spec.securityContext.runAsNonRoot
	msg := sprintf("%s: containers must not run as root", [input.metadata.name])
}

# `deny_<suffix>`: objects with msg, code, path and any other keys
deny_latest_tag contains result if {
	some i, c in input.spec.template.spec.containers
	endswith(c.image, ":latest")
	result := {
		"msg": sprintf("container %s uses the latest tag", [c.name]),
		"code": "MLP001",
		"path": ["spec", "template", "spec", "containers", i, "image"],
		"severity": "high",
	}
}

# `violation_<suffix>`: a failure too; the path is a JSON pointer
violation_team_label contains {"msg": "metadata.labels.team is required", "code": "MLP002", "path": "/metadata"} if {
	not input.metadata.labels.team
}

violation_known_team contains msg if {
	team := input.metadata.labels.team
	not team in data.catalog.known_teams
	msg := sprintf("team %q is not in the catalog", [team])
}

# `warn` and `warn_<suffix>`: warnings, using data from data.yaml
warn contains msg if {
	input.spec.replicas < data.limits.min_replicas
	msg := sprintf("%d replicas is fewer than %d", [input.spec.replicas, data.limits.min_replicas])
}

warn_no_memory_limit contains msg if {
	some c in input.spec.template.spec.containers
	not c.resources.limits.memory
	msg := sprintf("container %s has no memory limit", [c.name])
}

# Names that do not match conftest's patterns are ordinary rules: never reported.
warning contains "not a conftest rule" if true

denylist contains "not a conftest rule either" if true

# Exceptions: `exception contains rules if {...}` where rules names rules without prefix.
exception contains rules if {
	input.metadata.name == "legacy-batch"
	rules := ["latest_tag", "team_label"]
}

# "" names the plain `deny` (and `violation`, `warn`) rule
exception contains [""] if {
	input.metadata.annotations["maestro.ml/allow-root"] == "true"
}
