package main

import rego.v1

f(x) := f(x)

test_f if f(1)
