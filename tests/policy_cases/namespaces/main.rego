package main

import rego.v1

deny contains "main: x is set" if input.x
