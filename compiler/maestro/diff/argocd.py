"""rendered/<env>/argocd on each side: computed from the affected models' specs and the other
models' metadata, read with a fast YAML scan.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from maestro.diff.side import Side

if TYPE_CHECKING:  # imported where used: `maestro --help` should not pay for the pipeline
    from maestro.frontend.spec import Metadata
    from maestro.render.argocd import ModelRef


# ------------------------------------------------------------------ Argo CD folder


def scan_metadata(path: Path) -> Metadata | None:
    """A spec's `metadata` (name, team, tier, owners) without validating the rest: a fast
    YAML 1.2 reading when every value is a plain string, the full loader otherwise.
    None when the spec has no valid metadata."""
    from pydantic import ValidationError

    from maestro.frontend.spec import Metadata

    data = _fast_metadata(path)
    if data is None:
        from maestro.frontend.loader import load

        located, _ = load(path, str(path))
        top = located.data if located is not None else None
        meta = top.get("metadata") if isinstance(top, dict) else None
        if not isinstance(meta, dict):
            return None
        data = {k: meta[k] for k in ("name", "team", "tier", "owners") if k in meta}
    try:
        return Metadata.model_validate(data)
    except ValidationError:
        return None


def _fast_metadata(path: Path) -> dict[str, Any] | None:
    try:
        import yaml  # libyaml: ~30x faster than the pure-Python loader
        from ruamel.yaml.nodes import ScalarNode as RuamelScalar
        from ruamel.yaml.resolver import VersionedResolver

        loader = yaml.CSafeLoader
    except (ImportError, AttributeError):
        return None
    try:
        if path.stat().st_size > 1_000_000:
            return None
        root = yaml.compose(path.read_text("utf-8-sig"), Loader=loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    resolver = VersionedResolver(version=(1, 2))

    def string(node: Any) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            return None
        if node.style is None and resolver.resolve(RuamelScalar, node.value, (True, False)) != "tag:yaml.org,2002:str":
            return None  # a number, bool or null under YAML 1.2: let the real loader decide
        return str(node.value)

    def mapping(node: Any) -> dict[str, Any] | None:
        if not isinstance(node, yaml.MappingNode):
            return None
        out: dict[str, Any] = {}
        for k, v in node.value:
            key = string(k)
            if key is None or key in out or key == "<<":
                return None
            out[key] = v
        return out

    top = mapping(root)
    meta = mapping(top.get("metadata")) if top is not None else None
    if meta is None:
        return None
    data: dict[str, Any] = {}
    for key in ("name", "team", "tier"):
        if key in meta:
            value = string(meta[key])
            if value is None:
                return None
            data[key] = value
    if "owners" in meta:
        if not isinstance(meta["owners"], yaml.SequenceNode):
            return None
        owners = [string(n) for n in meta["owners"].value]
        if any(o is None for o in owners):
            return None
        data["owners"] = owners
    return data


def scanned_ref(side: Side, env: str, model: str) -> ModelRef | None:
    """The Argo CD view of a model that was not rendered (None if its metadata is invalid)."""
    from maestro.frontend.spec import Spec
    from maestro.pipeline import model_ref

    source = f"specs/{model}/maestro.yaml"
    if side.ws is None or side.snap.root is None:
        return None
    if model not in side.scanned:  # metadata is the same in every environment: read it once
        side.scanned[model] = scan_metadata(side.snap.root / source)
    meta = side.scanned[model]
    if meta is None or meta.name != model:
        return None
    return model_ref(side.ws, env, Spec.model_construct(metadata=meta), source)


def argocd_objects(side: Side, env: str, refs: list[ModelRef]) -> dict[str, dict[str, Any]]:
    from maestro.output.emit import file_name
    from maestro.render.argocd import render_env

    if side.ws is None or env not in side.ws.platforms:
        return {}
    apps = render_env(env, side.ws.platforms[env], side.ws.overlays.get(env), sorted(refs, key=lambda r: r.name))
    return {file_name(res): res for res in apps}
