package helpers

import rego.v1

is_set(x) if x
