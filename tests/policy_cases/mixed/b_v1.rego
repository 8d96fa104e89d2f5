package main

import rego.v1

deny contains msg if {
	input.replicas < 0
	msg := "v1: negative replicas"
}

deny contains msg if {
	some n in input.names
	not regex.match(`^[a-z0-9-]+$`, n)
	msg := sprintf("v1: bad name %q", [n])
}
