package main

import rego.v1

test_both_syntaxes_contribute_to_deny if {
	results := deny with input as {"replicas": 11, "names": ["Bad_Name"]}
	results == {"v0: 11 replicas is more than 10", "v1: bad name \"Bad_Name\""}
}
