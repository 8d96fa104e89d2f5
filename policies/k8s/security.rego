package main

import rego.v1

# MPK004 containers run as non-root
#
# What: every container runs with runAsNonRoot: true, set on the container's
#   securityContext or inherited from the pod's securityContext (a container-level value
#   wins), and with no runAsUser: 0 (container-level, else pod-level).
# Why: root in a container is one kernel bug away from root on the node.
# Comply: pod securityContext {runAsNonRoot: true, runAsUser: 10001} (Maestro renders this);
#   build images that run as a numeric non-root USER.
# Waive: annotation maestro.ml/waivers: "MPK004" on the object.
# PASS: spec.template.spec.securityContext: {runAsNonRoot: true}
# FAIL: no runAsNonRoot anywhere
#   -> MPK004 /spec/template/spec/containers/0 "container \"app\" of Deployment web may run as root: runAsNonRoot is not set ..."
deny_run_as_root contains result("MPK004", path, msg, root_hint) if {
	some c in containers
	value := security_setting(c, "runAsNonRoot")
	value.value != true
	path := setting_path(c, value, "runAsNonRoot")
	msg := sprintf("%s may run as root: runAsNonRoot is %s (it must be true on the container or the pod securityContext)", [label(c), describe(value)])
}

deny_run_as_root contains result("MPK004", path, msg, root_hint) if {
	some c in containers
	value := security_setting(c, "runAsUser")
	value.value == 0
	path := setting_path(c, value, "runAsUser")
	msg := sprintf("%s runs as root: runAsUser is 0 (%s)", [label(c), value.where])
}

root_hint := "set securityContext.runAsNonRoot: true (pod or container) with a non-zero runAsUser, and build the image with a numeric non-root USER"

# A security setting as it applies to a container: {"value", "where"}; the container's own
# securityContext wins over the pod's. Value null when neither sets it.
security_setting(c, key) := {"value": c.container.securityContext[key], "where": "container securityContext"} if {
	key in object.keys(container_sc(c))
} else := {"value": c.pod.securityContext[key], "where": "pod securityContext"} if {
	key in object.keys(pod_sc(c))
} else := {"value": null, "where": "unset"}

describe(setting) := "not set" if setting.value == null

else := sprintf("%v (%s)", [setting.value, setting.where])

# Where to point for a setting: the value itself when set, else the container's
# securityContext, else the container.
setting_path(c, setting, key) := at(c, ["securityContext", key]) if {
	setting.where == "container securityContext"
} else := pointer(array.concat(c.pod_segs, ["securityContext", key])) if {
	setting.where == "pod securityContext"
	count(c.base) == 0
} else := at(c, ["securityContext"]) if {
	is_object(c.container.securityContext)
} else := at(c, [])

# MPK005 no privilege escalation
#
# What: every container sets securityContext.allowPrivilegeEscalation: false and is not
#   privileged.
# Why: setuid binaries and privileged mode turn a compromised process into node root.
# Comply: container securityContext {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}.
# Waive: annotation maestro.ml/waivers: "MPK005" on the object.
# PASS: securityContext: {allowPrivilegeEscalation: false}
# FAIL: securityContext: {}
#   -> MPK005 /spec/template/spec/containers/0/securityContext "container \"app\" of Deployment web allows privilege escalation: allowPrivilegeEscalation is not set ..."
deny_privilege_escalation contains result("MPK005", path, msg, hint) if {
	some c in containers
	value := object.get(container_sc(c), "allowPrivilegeEscalation", null)
	value != false
	path := container_setting_path(c, "allowPrivilegeEscalation")
	msg := sprintf("%s allows privilege escalation: allowPrivilegeEscalation is %s (it must be false)", [label(c), shown(value)])
	hint := "set securityContext.allowPrivilegeEscalation: false on the container"
}

deny_privilege_escalation contains result("MPK005", at(c, ["securityContext", "privileged"]), msg, hint) if {
	some c in containers
	container_sc(c).privileged == true
	msg := sprintf("%s is privileged (securityContext.privileged: true), which gives it the node's devices and capabilities", [label(c)])
	hint := "remove securityContext.privileged; request specific capabilities instead if one is really needed"
}

# MPK006 read-only root filesystem
#
# What: every container sets securityContext.readOnlyRootFilesystem: true.
# Why: an immutable root filesystem stops an attacker from dropping tools or changing the
#   code that runs; scratch space belongs in an emptyDir mounted at /tmp.
# Comply: container securityContext {readOnlyRootFilesystem: true} and an emptyDir volume for
#   paths the program writes to (Maestro mounts one at /tmp).
# Waive: annotation maestro.ml/waivers: "MPK006" on the object.
# PASS: securityContext: {readOnlyRootFilesystem: true}
# FAIL: securityContext: {readOnlyRootFilesystem: false}
#   -> MPK006 /spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem "container \"app\" of Deployment web has a writable root filesystem: readOnlyRootFilesystem is false ..."
deny_writable_root_fs contains result("MPK006", path, msg, hint) if {
	some c in containers
	value := object.get(container_sc(c), "readOnlyRootFilesystem", null)
	value != true
	path := container_setting_path(c, "readOnlyRootFilesystem")
	msg := sprintf("%s has a writable root filesystem: readOnlyRootFilesystem is %s (it must be true)", [label(c), shown(value)])
	hint := "set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where the program writes (e.g. /tmp)"
}

shown(value) := "not set" if value == null

else := sprintf("%v", [value])

container_setting_path(c, key) := at(c, ["securityContext", key]) if {
	key in object.keys(container_sc(c))
} else := at(c, ["securityContext"]) if {
	is_object(c.container.securityContext)
} else := at(c, [])

# MPK007 no hostPath volumes
#
# What: no pod spec mounts a hostPath volume.
# Why: a hostPath gives the pod the node's filesystem (kubelet credentials, other pods' data).
# Comply: use an emptyDir, a ConfigMap, or a PersistentVolumeClaim.
# Waive: annotation maestro.ml/waivers: "MPK007" on the object.
# PASS: volumes: [{name: tmp, emptyDir: {}}]
# FAIL: volumes: [{name: docker, hostPath: {path: /var/run/docker.sock}}]
#   -> MPK007 /spec/template/spec/volumes/0/hostPath "pod spec of Deployment web mounts hostPath /var/run/docker.sock (volume \"docker\") ..."
deny_host_path contains result("MPK007", at(p, ["volumes", i, "hostPath"]), msg, hint) if {
	some p in pods
	some i, v in as_list(p.pod.volumes)
	v.hostPath != null
	msg := sprintf("%s mounts hostPath %v (volume %q); pods must not use the node's filesystem", [pod_label(p), object.get(as_object(v.hostPath), "path", "?"), object.get(v, "name", "?")])
	hint := "use an emptyDir, ConfigMap or PersistentVolumeClaim volume instead"
}

# MPK008 no host namespaces
#
# What: no pod spec sets hostNetwork, hostPID or hostIPC to true.
# Why: host namespaces let the pod see and talk to everything on the node, bypassing
#   NetworkPolicy and the mesh.
# Comply: remove the field (false is the default).
# Waive: annotation maestro.ml/waivers: "MPK008" on the object.
# PASS: no hostNetwork/hostPID/hostIPC
# FAIL: hostNetwork: true
#   -> MPK008 /spec/template/spec/hostNetwork "pod spec of Deployment web sets hostNetwork: true ..."
deny_host_namespaces contains result("MPK008", at(p, [field]), msg, hint) if {
	some p in pods
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	p.pod[field] == true
	msg := sprintf("%s sets %s: true; pods must not share the node's namespaces", [pod_label(p), field])
	hint := sprintf("remove %s from the pod spec", [field])
}
