package maestro.spec

import rego.v1

# Log levels, least to most severe (spec.monitoring.logs.level).
log_rank := {"debug": 0, "info": 1, "warning": 2, "error": 3}

# MPS030 logs at the environment's minimum level or above
#
# What: when governance.min_log_level is set (prod: info), spec.monitoring.logs.level is
#   that level or a more severe one.
# Why: debug logs multiply what Loki ingests and stores for every replica, and are where
#   request payloads end up; an environment that pays for them and must not leak them says so.
# Comply: monitoring: {logs: {level: info}}
# Waive: metadata.waivers: [{rule: MPS030, reason: "...", until: YYYY-MM-DD}]
# PASS: governance.min_log_level info, monitoring: {logs: {level: warning}}
# FAIL: governance.min_log_level info, monitoring: {logs: {level: debug}}
#   -> MPS030 /spec/monitoring/logs/level "fraud-detector logs at debug: prod allows info or above ..."
deny_log_level contains result("MPS030", "/spec/monitoring/logs/level", msg, hint) if {
	minimum := governance.min_log_level
	is_string(minimum)
	level := body.monitoring.logs.level
	log_rank[level] < log_rank[minimum]
	msg := sprintf("%s logs at %s: %s allows %s or above (governance.min_log_level)", [input.model, level, env, minimum])
	hint := sprintf("set monitoring.logs.level to %s, or raise it in environments.<dev env> only", [minimum])
}

# MPS031 trace sampling within the environment's maximum
#
# What: when governance.max_trace_sample_ratio is set (prod: 0.2), spec.monitoring.tracing.sampleRatio
#   is at most that.
# Why: every sampled trace is exported, stored by Jaeger and paid for; at production traffic
#   a ratio near 1 costs more than the model serving it, and a few percent already show
#   every slow path.
# Comply: monitoring: {tracing: {sampleRatio: 0.1}}
# Waive: metadata.waivers: [{rule: MPS031, reason: "...", until: YYYY-MM-DD}]
# PASS: governance.max_trace_sample_ratio 0.2, monitoring: {tracing: {sampleRatio: 0.1}}
# FAIL: governance.max_trace_sample_ratio 0.2, monitoring: {tracing: {sampleRatio: 1}}
#   -> MPS031 /spec/monitoring/tracing/sampleRatio "fraud-detector samples 1 of its traces: prod allows at most 0.2 ..."
deny_trace_sampling contains result("MPS031", "/spec/monitoring/tracing/sampleRatio", msg, hint) if {
	maximum := governance.max_trace_sample_ratio
	is_number(maximum)
	ratio := body.monitoring.tracing.sampleRatio
	ratio > maximum
	msg := sprintf("%s samples %v of its traces: %s allows at most %v (governance.max_trace_sample_ratio)", [input.model, ratio, env, maximum])
	hint := sprintf("set monitoring.tracing.sampleRatio to %v or less", [maximum])
}
