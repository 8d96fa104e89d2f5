"""Resolve: spec + platform config + overlay -> the effective spec of one environment.

Precedence, lowest first (DESIGN.md): platform `spec_defaults`, overlay `defaults`, the
spec, the spec's `environments.<env>`, overlay `enforce`. Maps merge, lists replace,
`null` removes. Positions follow the values, so a value an overlay set is reported at the
overlay's line.
"""
from __future__ import annotations

from .loader import Located, escape
from .merge import get, merge_located


def _without_environments(located: Located) -> Located:
    data = located.data
    spec = data.get("spec") if isinstance(data, dict) else None
    if isinstance(spec, dict) and "environments" in spec:
        data = {**data, "spec": {k: v for k, v in spec.items() if k != "environments"}}
    return Located(file=located.file, data=data, values=located.values, keys=located.keys)


def effective(spec: Located, env: str, *, platform: Located | None = None,
              overlay: Located | None = None) -> Located:
    """The merged spec document for `env`, positions from whichever file set each value."""
    out = Located(file=spec.file, data={})
    if platform is not None and isinstance(get(platform.data, "/spec_defaults"), dict):
        out = merge_located(out, platform, over_root="/spec_defaults", into="/spec")
    if overlay is not None and isinstance(get(overlay.data, "/defaults"), dict):
        out = merge_located(out, overlay, over_root="/defaults", into="/spec")
    out = merge_located(out, _without_environments(spec))
    env_ptr = f"/spec/environments/{escape(env)}"
    if isinstance(get(spec.data, env_ptr), dict):
        out = merge_located(out, spec, over_root=env_ptr, into="/spec")
    if overlay is not None and isinstance(get(overlay.data, "/enforce"), dict):
        out = merge_located(out, overlay, over_root="/enforce", into="/spec")
    return out
