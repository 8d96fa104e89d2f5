"""`maestro init`: a first spec that validates, with the `$schema` modeline for editors."""

from __future__ import annotations

import json

from maestro.names import DNS1123_LABEL, max_name_length
from maestro.resolve.config import Platform

_TEMPLATE = """\
# yaml-language-server: $schema=../../schemas/maestro.schema.json
apiVersion: maestro.ml/v1alpha1
kind: Model
metadata:
  name: {name}
  team: {team}
  owners: [{owner}]
  tier: experimental                # critical | standard | experimental
  costCenter: TODO                  # the cost center charged for {name}
  description: TODO one line on what {name} predicts
spec:
  framework: {framework}
  registry:                         # MLflow: serving resolves this alias
    serve: champion
{gates}  training:
    image: {image}  # TODO your training image
    # command: ["python", "-m", "{module}.train"]   # default: the image's entrypoint
    resources: {{cpu: "2", memory: 4Gi}}
  serving:
    runtime: kserve
    replicas: {{min: 1, max: 3}}
    resources: {{cpu: "1", memory: 2Gi}}
    autoscaling: {{cpu: 70}}
  monitoring:
    dashboard: true
  environments:
{environments}"""


def _gates(platforms: dict[str, Platform]) -> str:
    """The promotion gates every environment's `governance.min_gates` asks for (MPS005), at
    the strictest threshold any environment sets."""
    floor: dict[str, float] = {}
    for platform in platforms.values():
        for env in platform.environments.values():
            for metric, value in env.governance.min_gates.items():
                floor[metric] = max(value, floor.get(metric, value))
    if not floor:
        return ""
    lines = "".join(
        f'      - {{metric: {metric}, op: ">=", value: {json.dumps(value)}}}\n'
        for metric, value in sorted(floor.items())
    )
    return "    gates:                          # the platform's minimums; raise them to your model's bar\n" + lines


def _environments(platforms: dict[str, Platform], model: str) -> str:
    """Per-environment replicas that meet each environment's floor (MPS002) and leave room for
    a PodDisruptionBudget where the platform requires one (MPS003). Where only locked versions
    may serve (governance.require_lock, MPS017), a new model does not serve yet: nothing is
    locked for it, and `maestro promote` is how a version gets there."""
    lines = []
    for name in sorted(platforms):
        governance = platforms[name].environments[name].governance
        low = max(governance.min_replicas, 2 if governance.require_pdb else 1, 1)
        replicas = f"{{serving: {{replicas: {{min: {low}, max: {max(low, 3)}}}}}}}"
        if governance.require_lock:
            lines.append(
                f"    {name}: {{serving: null}}            # to serve here: replace with {replicas}, then\n"
                f"    #   maestro promote {model} --from <env> --to {name}   (writes the version lock, MPS017)"
            )
        elif name == "dev" and low <= 1:
            lines.append("    dev: {serving: {replicas: {min: 1, max: 1}}}")
        elif low > 1:
            lines.append(f"    {name}: {replicas}")
    if not lines:
        return "    {}\n"
    return "\n".join(lines) + "\n"


def scaffold(name: str, team: str, framework: str, platforms: dict[str, Platform]) -> tuple[str, str | None]:
    """The spec text, or a usage problem with the arguments. `platforms` is each environment's
    platform config: the spec meets every environment's governance as written."""
    if not DNS1123_LABEL.match(name) or len(name) > max_name_length():
        return "", (
            f"NAME '{name}' must be a DNS-1123 label (lower-case letters, digits, '-') of at most "
            f"{max_name_length()} characters"
        )
    if not DNS1123_LABEL.match(team) or len(team) > 40:
        return "", f"--team '{team}' must be a DNS-1123 label of at most 40 characters"
    any_platform = next(iter(platforms.values()))
    registry = any_platform.registries[0].rstrip("/") if any_platform.registries else "registry.example.com"
    text = _TEMPLATE.format(
        name=name,
        team=team,
        framework=framework,
        owner=json.dumps(f"@{team}"),
        image=f"{registry}/{team}/{name}-train:0.1.0",
        module=name.replace("-", "_"),
        gates=_gates(platforms),
        environments=_environments(platforms, name),
    )
    return text, None
