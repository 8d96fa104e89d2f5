"""Resource-level overlay transforms with the exact meaning of Kustomize v5.5.

DESIGN.md ("Precedence", "Overlays and the rendered tree") says the overlay's
`namespace`, `commonLabels`, `commonAnnotations`, `images` and `patches` mean on the
rendered objects what they mean in a kustomization.yaml that lists those objects as
`resources`; a difference from `kubectl kustomize` is a bug. Every rule below was found
by experiment with `kubectl kustomize` (kubectl 1.32, Kustomize v5.5.0), and
tests/test_kustomize.py keeps checking them against it.

    apply_transforms(resources, overlay, context=..., base_dir=...) -> (resources, diagnostics)

runs them all; set_namespace, add_labels, add_annotations, set_images and apply_patch run
one each. All take plain data, never mutate it, and report bad input as diagnostics
(codes M501-M510), never as exceptions. Other overlay keys (defaults, enforce...) are
ignored here.

Order: Kustomize's fixed order for one kustomization, whatever the key order in the file:
  1. patches, entry by entry (a `target` sees the objects as rendered: not yet
     namespaced, labelled or re-imaged)
  2. namespace       3. commonLabels       4. commonAnnotations
  5. images, entry by entry
  6. name references: when the namespace moved objects, RoleBinding subjects and webhook
     services that name them follow; then the reference fields are checked for shape.

Behaviours worth knowing (each one a surprise at some point, each one tested):
- patches: a text that parses as a list is a JSON 6902 patch and needs a `target`;
  otherwise it is one or more strategic-merge documents with `kind` and `metadata.name`.
  With a target, a strategic-merge patch is merged into every selected object whatever
  its own kind/name; without one it must match exactly one object by
  apiVersion/kind/name/namespace. A target that selects nothing is silently ignored.
  Target fields are regular expressions anchored at both ends; an object without a
  namespace is in "default" (cluster-scoped ones in "").
- JSON 6902 is applied as Kustomize's library (evanphx/json-patch v4) reads RFC 6902:
  `replace` of a missing map key adds it, a missing `value` is null, indexes may be
  negative or zero-padded, copying a missing key copies null. Its YAML is YAML 1.1
  (`yes` is true); a text starting with "[" must be strict JSON.
- while patches run, `metadata.annotations` holds Kustomize's bookkeeping
  (internal.config.kubernetes.io/previous{Kinds,Names,Namespaces}), so a JSON patch can
  `add /metadata/annotations/x` to an object that has none. On output, annotations are
  strings (3 -> "3") and an empty annotations map is dropped; labels are left alone.
- strategic merge follows the Kubernetes 1.21 schema Kustomize embeds, for the built-in
  kinds it knows (autoscaling/v2 HorizontalPodAutoscaler is not one). Lists with a merge
  key merge by it, patch elements first, then the rest of the original list; every
  such list in the object is re-merged even when the patch does not name it (repeated
  keys collapse). Other lists, and every list of a custom resource (Rollout,
  InferenceService, PyTorchJob...), are replaced whole, directives and nulls included.
  `$patch: delete|replace` and null work; `$retainKeys` and `$setElementOrder/...` are
  NOT understood and land in the object as plain keys.
- lists keyed by two fields (ports: port+protocol; topologySpreadConstraints) match on
  both: a patch port that leaves out a `protocol` the object states is dropped. Where
  Kustomize handles such a list erratically (a port repeated with and without protocol)
  Maestro refuses it (M505) instead of guessing: the one deliberate difference.
- namespace: set on every object Kustomize does not know to be cluster-scoped (custom
  resources such as ClusterIssuer get one too); a core `Namespace` object is renamed to
  the namespace; role-binding subjects named `default` get it; two objects that end up
  with the same id are an error.
- commonLabels reach selectors and pod templates only through Kustomize's built-in
  field list (Service and ReplicationController selectors are created if missing; Job,
  PodDisruptionBudget and NetworkPolicy selectors only if present). Custom resources get
  `metadata.labels` only, not their pod templates; commonAnnotations likewise.
- images: `name` is a regular expression (its dots match any character) and `*` matches
  every image; images are found in any `containers`/`initContainers` list at any depth
  of any kind except CustomResourceDefinition (not `ephemeralContainers`). Giving
  newTag drops a digest and vice versa; giving both writes `name:tag@digest`.
"""
