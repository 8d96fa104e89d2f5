package lib

import rego.v1

max_replicas := 10

too_small(n) if n < 2
