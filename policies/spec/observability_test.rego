package maestro.spec_test

import rego.v1

observability_config := object.union(prod_config, {"governance": {"min_log_level": "info", "max_trace_sample_ratio": 0.2}})

test_mps030_debug_logs_in_prod_are_denied if {
	inp := with_body({"monitoring": {"logs": {"level": "debug"}}})
	r := data.maestro.spec.deny_log_level with input as inp with data.maestro.config as observability_config
	[x.path | some x in r] == ["/spec/monitoring/logs/level"]
	some x in r
	x.msg == "fraud-detector logs at debug: prod allows info or above (governance.min_log_level)"
}

test_mps030_info_and_above_pass if {
	every level in ["info", "warning", "error"] {
		inp := with_body({"monitoring": {"logs": {"level": level}}})
		count(data.maestro.spec.deny_log_level) == 0 with input as inp with data.maestro.config as observability_config
	}
}

test_mps030_without_a_minimum_anything_goes if {
	inp := with_body({"monitoring": {"logs": {"level": "debug"}}})
	count(data.maestro.spec.deny_log_level) == 0 with input as inp with data.maestro.config as prod_config
}

test_mps031_sampling_above_the_maximum_is_denied if {
	inp := with_body({"monitoring": {"tracing": {"sampleRatio": 1}}})
	r := data.maestro.spec.deny_trace_sampling with input as inp with data.maestro.config as observability_config
	[x.path | some x in r] == ["/spec/monitoring/tracing/sampleRatio"]
}

test_mps031_within_the_maximum_passes if {
	inp := with_body({"monitoring": {"tracing": {"sampleRatio": 0.2}}})
	count(data.maestro.spec.deny_trace_sampling) == 0 with input as inp with data.maestro.config as observability_config
}
