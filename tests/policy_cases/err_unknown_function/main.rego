package main

import rego.v1

deny contains msg if {
	input.kind == "Deployment"
	msg := sprintf("%v", [strings.no_such_function(input.metadata.name)])
}
