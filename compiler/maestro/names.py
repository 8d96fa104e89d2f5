"""Names the compiler derives from a model name, and the Kubernetes limits they must fit.

One table, so that the spec check (`metadata.name` short enough) and the renderers agree.
"""

from __future__ import annotations

import hashlib
import re

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_LABEL_PATTERN = DNS1123_LABEL.pattern

# Folders of rendered/<env>/ beside the models' own: a model cannot take their names.
ARGOCD_FOLDER = "argocd"  # the environment's AppProjects and Applications
PLATFORM_FOLDER = "platform"  # what the environment's models need from the cluster
RESERVED_MODEL_NAMES = (ARGOCD_FOLDER, PLATFORM_FOLDER)
# ConfigMap annotation: emit also writes the ConfigMap's data as files in this sub-folder
# (Vault HCL, the Feast repo, Grafana JSON: readable in review beside the objects that ship them).
ARTIFACT_DIR = "maestro.ml/artifact-dir"

# suffix -> the limit of the object that carries it. Knative (KServe serverless) names a
# revision `<isvc>-predictor-00001` and requires a 63-char label; a CronJob name must
# leave room for the 11 chars Kubernetes appends to its Jobs (limit 52).
DERIVED: dict[str, int] = {
    "-predictor-00001": 63,
    "-train": 52,  # CronJob
    "-drift": 52,  # CronJob
    "-tuning": 63,
    "-registry-sync": 63,
    "-feast-apply": 63,
    "-canary": 63,
    "-preview": 63,
}


def max_name_length() -> int:
    return min(limit - len(suffix) for suffix, limit in DERIVED.items())


def fit(name: str, limit: int) -> str:
    """`name` when it fits `limit` characters; else cut, and ended by a hash of the whole name
    so that two long names with the same beginning stay distinct (and stable across renders)."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[: limit - len(digest) - 1].rstrip('-')}-{digest}"
