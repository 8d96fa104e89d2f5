package main

import rego.v1

deny contains "slow" if {
	input.kind == "CronJob"
	some i in numbers.range(1, 40000)
	some j in numbers.range(1, 40000)
	i + j == 0
}
