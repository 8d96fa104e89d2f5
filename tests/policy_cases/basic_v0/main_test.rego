package main

test_root_denied {
	deny["web: containers must not run as root"] with input as {"kind": "Deployment", "metadata": {"name": "web"}, "spec": {}}
}

test_exception_skips_latest_tag_only_for_legacy {
	exception[_][_] == "latest_tag" with input as {"metadata": {"name": "legacy-batch"}}
	count(exception) == 0 with input as {"metadata": {"name": "web"}}
}

test_this_one_fails {
	count(warn) == 1 with input as {"spec": {"replicas": 5}}
}

todo_test_later {
	false
}
