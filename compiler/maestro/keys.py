"""The parts of a render's key that need no parsing: Maestro's code (`code_key`) and the date
waivers are judged on (`today`).

Light on purpose (hashlib and the file system; no YAML parser, no pydantic): a render can
hash its inputs before it loads anything that parses them.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from pathlib import Path

from maestro.cache import Digest

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
