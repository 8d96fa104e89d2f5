package main

import rego.v1

warn contains "fine" if input.x
