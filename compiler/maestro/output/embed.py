"""embed: launched runs go into the ConfigMaps their launchers read (see render/launch.py).

    embed(objects) -> objects

A renderer returns a launched run (a training or tuning Job, a TrainJob, a Kubeflow v1 job)
as an ordinary object annotated `maestro.ml/manifest-in: ConfigMap/<name>`, so that the
overlay transforms, the schemas, the policies and the link stage treat it like any other
object. This last step before emit takes each such run out of the list and writes its final
manifest, `job.yaml`, into that ConfigMap:

- without Maestro's launch annotations, the Argo CD sync wave and the
  `app.kubernetes.io/instance` label (Argo CD never applies the run; under label tracking
  that label would get it pruned);
- launched by a hook Job (one-shot): labelled `maestro.ml/definition: <hash>`, the hash also
  under the ConfigMap's `definition` key, which the launcher compares with the live run's;
- launched by a CronJob or a pipeline's task (scheduled): `metadata.generateName: <name>-`
  instead of a name, so that every tick creates a new run.

The hash is the first 12 hex digits of the SHA-256 of the manifest's apiVersion, kind and
spec as canonical JSON: the same run, the same hash, on every machine; a change of metadata
only (labels, a new cost estimate) is applied in place by the launcher's server-side apply. Pure: the input list and
its objects are not changed.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from maestro.render import SYNC_WAVE
from maestro.render.launch import DEFINITION_KEY, DEFINITION_LABEL, JOB_FILE, LAUNCHED_BY, MANIFEST_IN
from maestro.serialize import dump

Resource = dict[str, Any]
INSTANCE_LABEL = "app.kubernetes.io/instance"
HASH_LENGTH = 12


def is_launched(res: Resource) -> bool:
    return MANIFEST_IN in ((res.get("metadata") or {}).get("annotations") or {})


def manifest_config_map(res: Resource) -> str:
    """The name of the ConfigMap a launched run goes into."""
    return str(res["metadata"]["annotations"][MANIFEST_IN]).partition("/")[2]


def definition(manifest: Resource) -> str:
    """Hash of what the run does: its kind and spec. Metadata is left out: a changed label or
    annotation (a new cost estimate) is applied to the run in place, not by replacing it."""
    what = {k: manifest.get(k) for k in ("apiVersion", "kind", "spec")}
    text = json.dumps(what, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def launched_manifest(run: Resource) -> tuple[Resource, str | None]:
    """(the manifest the launcher creates, its definition hash or None for a scheduled run)."""
    manifest = copy.deepcopy(run)
    meta = manifest["metadata"]
    annotations = dict(meta.get("annotations") or {})
    launched_by = str(annotations.pop(LAUNCHED_BY, ""))
    for key in (MANIFEST_IN, SYNC_WAVE):
        annotations.pop(key, None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != INSTANCE_LABEL}
    if labels:
        meta["labels"] = labels
    else:
        meta.pop("labels", None)
    if not launched_by.startswith("Job/"):  # a CronJob, or a pipeline's task: a new run each time
        meta["generateName"] = f"{meta.pop('name')}-"
        return manifest, None
    digest = definition(manifest)
    meta["labels"] = {**meta.get("labels", {}), DEFINITION_LABEL: digest}
    return manifest, digest


def embed(objects: list[Resource]) -> list[Resource]:
    """The objects with every launched run moved into its ConfigMap (module docstring)."""
    runs = [o for o in objects if is_launched(o)]
    if not runs:
        return objects
    out = [o for o in objects if not is_launched(o)]
    for run in runs:
        target = manifest_config_map(run)
        namespace = (run.get("metadata") or {}).get("namespace")
        matches = [
            i
            for i, o in enumerate(out)
            if o.get("kind") == "ConfigMap"
            and o.get("apiVersion") == "v1"
            and o["metadata"].get("name") == target
            and o["metadata"].get("namespace") == namespace
        ]
        if len(matches) != 1:
            raise ValueError(
                f"{run['kind']}/{run['metadata'].get('name')}: its ConfigMap {target!r} "
                f"is not rendered exactly once (found {len(matches)})"
            )
        manifest, digest = launched_manifest(run)
        cm = copy.deepcopy(out[matches[0]])
        cm["data"] = {**cm.get("data", {}), JOB_FILE: dump(manifest)}
        if digest is not None:
            cm["data"][DEFINITION_KEY] = digest
        out[matches[0]] = cm
    return out
