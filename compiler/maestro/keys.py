"""The parts of a render's key that need no parsing: Maestro's code (`code_key`), the date
waivers are judged on (`today`), the variables that override config (`environ`), and the
quick key a no-op render is decided by (`quick_key`).

Light on purpose (hashlib and the file system; no YAML parser, no pydantic): a no-op render
(output/manifest.py) compares the quick key with the one the last render recorded before it
loads the workspace, which with its imports was half of a no-op at N=1,000.

The quick key covers everything `pipeline.RunKeys.digest` covers, from the bytes alone:
the code, the date, config/ and the MAESTRO_* variables (which give the environments, the
settings and the extra CRD schema folder), the overlays, the policies, every spec folder
and how it is named, and the selection. Where the run key hashes what config selects (the
overlays of the selected environments), the quick key hashes more (every overlay): more
bytes only make it miss more often, never match where the run key would not. The extra CRD
schema folder is named by config: `with_crd` adds the folder a render used, which a render
with the same config bytes and variables uses too.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Sequence
from pathlib import Path

from maestro.cache import Digest
from maestro.layout import CONFIG_DIR, OVERLAYS_DIR

# What, besides Maestro's own code, can change a rendered byte: the YAML emitter, the schemas,
# the Rego engine, Optuna's distribution JSON, the models that parse specs and config.
OUTPUT_DEPENDENCIES = (
    "PyYAML",
    "kubernetes-validate",
    "gordon-to-regorus",
    "optuna",
    "pydantic",
    "pydantic-settings",
    "ruamel.yaml",
    "jsonschema",
    "jsonschema-rs",
    "Jinja2",  # templates of generated files (issue 17's Airflow DAGs)
)


@functools.cache
def code_key() -> str:
    """Maestro's code and data (every file of the package, not only its version: a checkout
    between releases changes output too), the dependencies that shape output, and Python."""
    import importlib.metadata
    import sys

    import maestro

    d = Digest("maestro", maestro.__version__, sys.version).add_tree(Path(maestro.__file__).parent, "package")
    for dist in OUTPUT_DEPENDENCIES:
        try:
            d.add(dist, importlib.metadata.version(dist))
        except importlib.metadata.PackageNotFoundError:
            d.add(dist, "absent")
    return d.hexdigest()


def today() -> dt.date:
    """The date waivers are judged on; MAESTRO_TODAY (YYYY-MM-DD) pins it for reproducible runs."""
    pinned = os.environ.get("MAESTRO_TODAY")
    return dt.date.fromisoformat(pinned) if pinned else dt.date.today()


def environ() -> list[tuple[str, str]]:
    """The variables that can override config: MAESTRO_*, in any case (resolve/config.py reads
    them with pydantic-settings, case_sensitive=False: `maestro_gitops__target_revision` counts)."""
    return sorted((k, v) for k, v in os.environ.items() if k.upper().startswith("MAESTRO_"))


def folder_key(path: Path, shown: str) -> str:
    """The digest of a spec as the pipeline reads it: how it is named and every file of its folder."""
    return Digest("spec", shown, path.as_posix()).add_tree(path.parent, "folder").hexdigest()


def quick_key(
    root: Path,
    policy_dir: Path,
    specs: Sequence[tuple[Path, str]],
    selection: Sequence[str],
    folders: dict[tuple[Path, str], str] | None = None,
) -> str:
    """The key of rendering `specs` (path, name shown) of repository `root` with the policies
    of `policy_dir` for `selection` (`commands/render._selection`: the output folder, --env
    as given, --model, the working directory), but for the extra CRD schemas (`with_crd`).
    Hash it before the render reads anything: an input edited while the render runs then
    leaves a recorded key of the bytes before the edit, which the next render misses.
    `folders` gets each spec's `folder_key`, for the render's own keys (`pipeline.run_keys`):
    every spec folder is read once (at N=1,000, reading them twice took 0.09 s)."""
    d = Digest("quick", code_key(), "today", today().isoformat(), "root", os.fspath(root), "selection", *selection)
    d.add_tree(root / CONFIG_DIR, "config")
    for name, value in environ():
        d.add("environ", name, value)
    d.add_tree(root / OVERLAYS_DIR, "overlays")
    d.add("policies", os.fspath(policy_dir))
    d.add_tree(policy_dir / "spec", "policies spec").add_tree(policy_dir / "k8s", "policies k8s")
    d.add("specs")
    for path, shown in specs:
        folder = folder_key(path, shown)
        if folders is not None:
            folders[(path, shown)] = folder
        d.add(folder)
    return d.hexdigest()


def with_crd(quick: str, root: Path, crd: str | None) -> str:
    """`quick` with the extra CRD schema folder `crd` (config's crd_schema_dir; None: none)."""
    return Digest(quick, "crd", crd or "").add_tree(root / crd if crd else Path("/nonexistent"), "crd").hexdigest()
