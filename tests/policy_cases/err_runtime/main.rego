package main

import rego.v1

deny contains msg if {
	ratio := input.requests / input.limit
	ratio > 1
	msg := sprintf("requests exceed the limit by %v", [ratio])
}
