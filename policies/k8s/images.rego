package main

import rego.v1

# MPK001 images come from an allowed registry
#
# What: every container image (containers and initContainers of every pod spec: Deployment,
#   Job, CronJob, Rollout, Kubeflow jobs, KServe components, jobs embedded in ConfigMaps)
#   starts with one of data.maestro.config.registries, matched on whole path segments.
#   KServe model containers without an image (the runtime comes from the platform's
#   ServingRuntime) have nothing to check.
# Why: only these registries are scanned, mirrored and reachable from the clusters.
# Comply: reference the image from an allowed registry (training.image in the spec; platform
#   images come from config/platform.yaml `images`).
# Waive: annotation maestro.ml/waivers: "MPK001" on the object.
# PASS: image: registry.example.com/payments/fraud-train:1.4.2
# FAIL: image: docker.io/library/python:3.12
#   -> MPK001 /spec/template/spec/containers/0/image "container \"app\" of Deployment web uses image docker.io/library/python:3.12, which is not from an allowed registry ..."
deny_image_registry contains result("MPK001", at(c, ["image"]), msg, hint) if {
	is_array(config.registries)
	some c in containers
	img := c.container.image
	is_string(img)
	not allowed_registry(img)
	msg := sprintf("%s uses image %s, which is not from an allowed registry (%s)", [label(c), img, concat(", ", config.registries)])
	hint := "pull the image from an allowed registry (config/platform.yaml `registries`)"
}

# MPK002 images are pinned
#
# What: where governance.require_pinned_images is set (staging, prod), every container
#   image has a tag other than `latest`, or a digest (@sha256:...). Where only
#   governance.allow_latest is false, no image resolves to `latest` (explicit, or no tag).
# Why: a moving tag changes what runs without a change in Git; Argo CD cannot tell, and a
#   rollback does not roll the image back.
# Comply: pin the image: registry.example.com/team/app:1.4.2 or ...@sha256:<digest>.
# Waive: annotation maestro.ml/waivers: "MPK002" on the object.
# PASS: image: registry.example.com/payments/fraud-train:1.4.2
# FAIL: prod, image: registry.example.com/payments/fraud-train:latest
#   -> MPK002 /spec/template/spec/containers/0/image "container \"app\" of Deployment web uses image ...:latest, which is not pinned ..."
deny_image_unpinned contains result("MPK002", at(c, ["image"]), msg, pin_hint) if {
	governance.require_pinned_images == true
	some c in containers
	img := c.container.image
	is_string(img)
	not pinned(img)
	msg := sprintf("%s uses image %s, which is not pinned: %s requires a tag other than latest or a digest (governance.require_pinned_images)", [label(c), img, env])
}

deny_image_unpinned contains result("MPK002", at(c, ["image"]), msg, pin_hint) if {
	governance.allow_latest == false
	not governance.require_pinned_images == true
	some c in containers
	img := c.container.image
	is_string(img)
	uses_latest(img)
	msg := sprintf("%s uses image %s, which resolves to latest; %s does not allow latest (governance.allow_latest: false)", [label(c), img, env])
}

pin_hint := "pin the image with a release tag (e.g. :1.4.2) or a digest (@sha256:...)"
