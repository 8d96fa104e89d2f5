"""Resolve: spec + platform config + overlay -> the effective spec of one environment.

Precedence, lowest first (DESIGN.md): platform `spec_defaults`, overlay `defaults`, the
spec, the spec's `environments.<env>`, overlay `enforce`. Maps merge, lists replace,
`null` removes. Positions follow the values, so a value an overlay set is reported at the
overlay's line.

Platform fragments shape the sections a model has; they never add one: an overlay's
`serving` defaults apply to models that serve and do not turn a batch model into a
served one.
"""

from __future__ import annotations

from maestro.frontend.loader import Located, escape
from maestro.resolve.merge import get, merge_located, set_at


def _without_environments(located: Located) -> Located:
    data = located.data
    spec = data.get("spec") if isinstance(data, dict) else None
    if isinstance(spec, dict) and "environments" in spec:
        data = {**data, "spec": {k: v for k, v in spec.items() if k != "environments"}}
    return Located(file=located.file, data=data, values=located.values, keys=located.keys)


def _sections(doc: Located, root: str, sections: set[str]) -> Located | None:
    """`doc` with the fragment at `root` cut down to the given top-level sections."""
    fragment = get(doc.data, root)
    if not isinstance(fragment, dict):
        return None
    kept = {k: v for k, v in fragment.items() if k in sections}
    if not kept:
        return None
    return Located(file=doc.file, data=set_at(doc.data, root, kept), values=doc.values, keys=doc.keys)


def effective(spec: Located, env: str, *, platform: Located | None = None, overlay: Located | None = None) -> Located:
    """The merged spec document for `env`, positions from whichever file set each value."""
    env_ptr = f"/spec/environments/{escape(env)}"
    base = get(spec.data, "/spec")
    override = get(spec.data, env_ptr)
    sections = {k for k, v in (base if isinstance(base, dict) else {}).items() if v is not None}
    sections -= {"environments"}
    if isinstance(override, dict):
        sections |= {k for k, v in override.items() if v is not None}
        sections -= {k for k, v in override.items() if v is None}
    out = Located(file=spec.file, data={})
    for doc, root in ((platform, "/spec_defaults"), (overlay, "/defaults")):
        part = _sections(doc, root, sections) if doc is not None else None
        if part is not None:
            out = merge_located(out, part, over_root=root, into="/spec")
    out = merge_located(out, _without_environments(spec))
    if isinstance(override, dict):
        out = merge_located(out, spec, over_root=env_ptr, into="/spec")
    part = _sections(overlay, "/enforce", sections) if overlay is not None else None
    if part is not None:
        out = merge_located(out, part, over_root="/enforce", into="/spec", keep_base_keys=True)
    return out
