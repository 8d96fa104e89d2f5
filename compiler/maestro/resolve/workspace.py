"""A repository as the compiler sees it: root, platform config per environment, overlays.

Loaded once per command; everything after this is pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maestro.diagnostics import Diagnostic, error
from maestro.errors import UnknownEnvironment
from maestro.frontend.loader import Located
from maestro.layout import SPEC_FILE as SPEC_FILE  # re-exported: where the commands look for them
from maestro.layout import SPECS_DIR as SPECS_DIR
from maestro.layout import discover as discover
from maestro.resolve.config import Platform, load_config_source
from maestro.resolve.overlay import OVERLAY_FILE, OVERLAYS_DIR, Overlay, load_overlay


@dataclass(frozen=True)
class Inputs:
    """What every spec is resolved against."""

    environments: list[str]
    platforms: dict[str, Located] = field(default_factory=dict)  # env -> platform config document
    overlays: dict[str, Located] = field(default_factory=dict)  # env -> valid overlay document
    settings: dict[str, Any] = field(default_factory=dict)  # env -> Platform (checks that need the config)


@dataclass
class Workspace:
    root: Path
    platform: Platform  # platform.yaml alone
    platforms: dict[str, Platform] = field(default_factory=dict)  # env -> with platform.<env>.yaml
    overlays: dict[str, Overlay] = field(default_factory=dict)
    inputs: Inputs = field(default_factory=lambda: Inputs([]))

    @property
    def environments(self) -> list[str]:
        return list(self.platform.environments)

    def selected(self, env: str | None) -> list[str]:
        """`[env]` (UnknownEnvironment unless it is configured), or every environment."""
        if env is None:
            return self.environments
        if env not in self.platform.environments:
            raise UnknownEnvironment(env, self.environments)
        return [env]


def open_workspace(root: Path) -> tuple[Workspace | None, list[Diagnostic]]:
    """Config and overlays of every environment; (None, diagnostics) when unusable."""
    platform, base, diags = load_config_source(root)
    if platform is None:
        return None, diags
    ws = Workspace(root=root, platform=platform)
    platform_docs, overlay_docs = {}, {}
    for env in platform.environments:
        env_platform, env_doc, more = load_config_source(root, env, base)
        diags += more
        if env_platform is None or env_doc is None:
            return None, diags
        ws.platforms[env], platform_docs[env] = env_platform, env_doc
        overlay, overlay_doc, more = load_overlay(root, env)
        diags += more
        if overlay is not None and overlay_doc is not None:
            ws.overlays[env], overlay_docs[env] = overlay, overlay_doc
        elif not more and env_platform.environments[env].overlay_required:
            # Fail closed: without its overlay an environment silently loses the enforce block,
            # patches and labels the platform put there (prod's Applications would even flip
            # to automated sync).
            diags.append(
                error(
                    "M304",
                    f"environment {env} has no {OVERLAYS_DIR}/{env}/{OVERLAY_FILE}: its defaults, enforce block, "
                    "patches and labels would silently not apply",
                    hint=f"restore the overlay, or set environments.{env}.overlay_required: false in "
                    "config/platform.yaml if the environment has none",
                    **env_doc.where(f"/environments/{env}", key=True),
                )
            )
    ws.inputs = Inputs(
        environments=list(platform.environments),
        platforms=platform_docs,
        overlays=overlay_docs,
        settings=dict(ws.platforms),
    )
    return ws, diags
