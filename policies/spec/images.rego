package maestro.spec

import rego.v1

# MPS014 training image pinned
#
# What: where governance.require_pinned_images is set (staging, prod), spec.training.image
#   is pinned: a digest (@sha256:...) or a release tag such as 1.4.2, v2 or 2.0.1-cuda12
#   (never `latest`, a branch name or no tag). Where only governance.allow_latest is false,
#   the image must not resolve to `latest` (an explicit :latest or no tag at all).
# Why: a moving tag makes a retraining run unreproducible and lets an unreviewed image
#   reach production through a registry push instead of a pull request.
# Comply: training.image: registry.example.com/team/train:1.4.2 (or ...@sha256:<digest>).
# Waive: metadata.waivers: [{rule: MPS014, reason: "...", until: YYYY-MM-DD}]
# PASS: prod, training.image registry.example.com/payments/fraud-train:1.4.2
# FAIL: prod, training.image registry.example.com/payments/fraud-train:latest
#   -> MPS014 /spec/training/image "training.image registry.example.com/payments/fraud-train:latest is not pinned; prod requires a release tag or a digest ..."
deny_training_image_pinned contains result("MPS014", "/spec/training/image", msg, pin_hint) if {
	governance.require_pinned_images == true
	img := body.training.image
	is_string(img)
	not pinned(img)
	msg := sprintf("training.image %s is not pinned; %s requires a release tag (e.g. :1.4.2) or a digest (@sha256:...), never latest, a branch name or no tag (governance.require_pinned_images)", [img, env])
}

deny_training_image_pinned contains result("MPS014", "/spec/training/image", msg, pin_hint) if {
	governance.allow_latest == false
	not governance.require_pinned_images == true
	img := body.training.image
	is_string(img)
	uses_latest(img)
	msg := sprintf("training.image %s resolves to the latest tag, which %s does not allow (governance.allow_latest: false)", [img, env])
}

pin_hint := "tag the training image with its release version (e.g. :1.4.2) or reference it by digest (@sha256:...)"

# MPS015 training image from an allowed registry
#
# What: spec.training.image starts with one of the platform's registries
#   (config/platform.yaml `registries`), matched on whole path segments.
# Why: only these registries are scanned, mirrored and reachable from the clusters.
# Comply: push the image to an allowed registry and reference it from there.
# Waive: metadata.waivers: [{rule: MPS015, reason: "...", until: YYYY-MM-DD}]
# PASS: training.image registry.example.com/payments/fraud-train:1.4.2
# FAIL: training.image docker.io/library/python:3.12
#   -> MPS015 /spec/training/image "training.image docker.io/library/python:3.12 is not from an allowed registry (registry.example.com, ghcr.io/acme-ml)"
deny_training_image_registry contains result("MPS015", "/spec/training/image", msg, hint) if {
	is_array(config.registries)
	img := body.training.image
	is_string(img)
	not allowed_registry(img)
	msg := sprintf("training.image %s is not from an allowed registry (%s)", [img, concat(", ", config.registries)])
	hint := "push the image to one of the allowed registries (config/platform.yaml `registries`) and reference it there"
}
