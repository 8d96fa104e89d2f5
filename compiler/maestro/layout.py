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
POLICY_SCOPES = ("spec", "k8s")  # policies/spec checks specs, policies/k8s rendered objects


def find_root(start: Path) -> Path | None:
    """The nearest ancestor folder holding config/platform.yaml."""
    for folder in (start, *start.parents):
        if (folder / CONFIG_DIR / CONFIG_FILE).is_file():
            return folder
    return None


def discover(root: Path) -> list[Path]:
    """Every specs/*/maestro.yaml, sorted (determinism does not depend on the file system)."""
    return sorted((root / SPECS_DIR).glob(f"*/{SPEC_FILE}"))


def shown(root: Path, path: Path) -> str:
    """A path as diagnostics name it: relative to the repository when it is inside."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def policy_folders(root: Path, policy_dir: Path | None) -> list[tuple[str, Path, str]]:
    """(scope, folder, name shown) of each policy scope: under policies/, or under --policy."""
    base = policy_dir or root / POLICIES_DIR
    return [(scope, base / scope, shown(root, base / scope)) for scope in POLICY_SCOPES]
