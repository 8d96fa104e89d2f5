package main

import data.lib

deny[msg] {
	input.replicas > data.lib.max_replicas
	msg := sprintf("v0: %d replicas is more than %d", [input.replicas, data.lib.max_replicas])
}

warn[msg] {
	lib.too_small(input.replicas)
	msg := "v0: uses a v1 helper"
}
