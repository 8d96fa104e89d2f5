package maestro.spec

import rego.v1

loop(x) := y if {
	y := loop(x)
}

deny contains "never" if loop(input.model)
