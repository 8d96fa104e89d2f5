"""`maestro init`: a first spec that validates, with the `$schema` modeline for editors."""

from __future__ import annotations

import json

from maestro.names import DNS1123_LABEL, max_name_length
from maestro.resolve.config import Platform

# Serving runtimes most teams start with, by framework (KServe picks the model server).
_TEMPLATE = """\
# yaml-language-server: $schema=../../schemas/maestro.schema.json
apiVersion: maestro.ml/v1alpha1
kind: Model
metadata:
  name: {name}
  team: {team}
  owners: [{owner}]
  tier: experimental                # critical | standard | experimental
  description: TODO one line on what {name} predicts
spec:
  framework: {framework}
  registry:                         # MLflow: serving resolves this alias
    serve: champion
  training:
    image: {image}
    command: ["python", "-m", "{module}.train"]
    resources: {{cpu: "2", memory: 4Gi}}
  serving:
    runtime: kserve
    replicas: {{min: 1, max: 3}}
    resources: {{cpu: "1", memory: 2Gi}}
    autoscaling: {{cpu: 70}}
  monitoring:
    dashboard: true
  environments:
    dev: {{serving: {{replicas: {{min: 1, max: 1}}}}}}
"""


def scaffold(name: str, team: str, framework: str, platform: Platform) -> tuple[str, str | None]:
    """The spec text, or a usage problem with the arguments."""
    if not DNS1123_LABEL.match(name) or len(name) > max_name_length():
        return "", (
            f"NAME '{name}' must be a DNS-1123 label (lower-case letters, digits, '-') of at most "
            f"{max_name_length()} characters"
        )
    if not DNS1123_LABEL.match(team) or len(team) > 40:
        return "", f"--team '{team}' must be a DNS-1123 label of at most 40 characters"
    registry = platform.registries[0].rstrip("/") if platform.registries else "registry.example.com"
    text = _TEMPLATE.format(
        name=name,
        team=team,
        framework=framework,
        owner=json.dumps(f"@{team}"),
        image=f"{registry}/{team}/{name}-train:0.1.0",
        module=name.replace("-", "_"),
    )
    return text, None
