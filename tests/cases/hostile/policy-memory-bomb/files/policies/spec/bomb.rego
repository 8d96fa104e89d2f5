package maestro.spec

import rego.v1

deny contains x if {
	input.env == "dev"
	x := concat("", [s | some i in numbers.range(1, 100000000); s := "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
}
