"""Where a repository keeps what Maestro reads, and how to find it.

Names and path functions only, importing nothing heavier than `pathlib`: a no-op render finds
the repository and its specs, and hashes them, before it loads anything that parses (the
config model pulls pydantic: a quarter of a no-op render at N=1,000).
"""

from __future__ import annotations

from pathlib import Path

CONFIG_DIR = "config"
CONFIG_FILE = "platform.yaml"
SPECS_DIR = "specs"
SPEC_FILE = "maestro.yaml"
OVERLAYS_DIR = "overlays"
POLICIES_DIR = "policies"


def find_root(start: Path) -> Path | None:
    """The nearest ancestor folder holding config/platform.yaml."""
    for folder in (start, *start.parents):
        if (folder / CONFIG_DIR / CONFIG_FILE).is_file():
            return folder
    return None


def discover(root: Path) -> list[Path]:
    """Every specs/*/maestro.yaml, sorted (determinism does not depend on the file system)."""
    return sorted((root / SPECS_DIR).glob(f"*/{SPEC_FILE}"))
