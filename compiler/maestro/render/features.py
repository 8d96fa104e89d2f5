"""features: the model's Feast feature repository, and the Job that applies it.

Only for a spec with `features`:

- ConfigMap `<model>-feast-repo`, annotated `maestro.ml/artifact-dir: feast` so that its
  two files also land in `rendered/<env>/<model>/feast/` for review:
  - `feature_store.yaml`: project, provider, registry, online and offline store from the
    environment's `endpoints.feast`, `entity_key_serialization_version: 3`. Written as
    data with the emitter's dumper, which quotes every string a YAML 1.1 reader (Feast
    uses PyYAML) would take for another type.
  - `features.py`: the definitions, from `templates/feast_definitions.py.j2`. One
    `Entity` per join key, each with its `value_type`, so that Feast neither warns nor
    has to read the source to find the entity columns (Feast's `Entity` takes exactly one
    join key and raises for more: a spec entity with several keys, a composite key,
    becomes one Feast entity per key, `<entity>.<key>`, and its views list them all); one
    source per spec source (`SOURCE_CLASSES`); one `FeatureView` per view (schema, ttl,
    online); a `FeatureService` named after the model listing every view.

  Feast names are the spec's: entities, sources, views and fields are snake_case in the
  spec (the spec contract, as Feast's own examples name them), so serving code asks Feast
  for exactly the names the spec shows. The project is the model name (a DNS label) with
  '-' turned into '_' (`feast_name`): the SQLite online store writes project and view names
  into table names unquoted (`sqlite3.OperationalError: near "-"`). `feast_name` is applied
  to every name still, an identity on snake_case.
- Job `<model>-feast-apply`: an Argo CD **Sync** hook in sync wave -1 that runs
  `feast apply` on a copy of the repo. Sync, not PostSync: PostSync runs only after every
  workload is healthy, so new serving code would go live against a registry without the
  views it reads, a failed apply would leave it live, and a workload that is slow or
  unhealthy for unrelated reasons (a paused canary, a failing training run) would hold
  the definitions back. In wave -1 the ConfigMap (wave -2) and the model's
  ServiceAccount (-4) exist, and the workloads (wave 0) start only after the Job
  succeeded; a failed apply fails the sync before anything reads the new definitions.
  `BeforeHookCreation` deletes the previous run's Job (kept until then for its logs) when
  the next sync creates the new one; `feast apply` is idempotent, so a sync that changed
  nothing in Feast costs a pod start and changes nothing.

The definitions module is generated code, and spec values are data: the template runs in
jinja2's immutable sandbox with StrictUndefined and no autoescaping, receives plain dicts
and lists (no spec objects), and every interpolation passes a filter that writes either a
Python literal (`repr` of a type-checked str, int or bool, or of lists and dicts of them)
or code from a fixed table; `finalize` rejects any value that did not pass one. Variables
are positional (`entity_0`, `source_0`, `view_0`), never derived from names. The result
is then compiled, and its calls checked against the names the template may call, so a bug
here fails the render instead of shipping a module that does something else.

The compiler never imports Feast (an optional extra, `maestro[feast]`, seconds to
import); jinja2 is imported on first use, not when the CLI starts.
"""

from __future__ import annotations

import copy
import functools
import re
import shlex
from collections.abc import Iterator
from typing import Any

from maestro.frontend.semantics import Violation
from maestro.frontend.spec import Resources, Source, Spec, View
from maestro.names import ARTIFACT_DIR
from maestro.render import (
    SYNC_WAVE,
    Context,
    Resource,
    name_of,
    obj,
    pod_labels,
    service_account_name,
    text_template,
)
from maestro.render.argocd import HOOK
from maestro.render.materialize import (
    REFRESHES_PER_TTL,
    materialize_name,
    materialize_schedule,
    online_views,
)
from maestro.render.pod import (
    NO_SIDECAR,
    TMP_MOUNT,
    TMP_VOLUME,
    container_security_context,
    pod_security_context,
    resource_requirements,
)
from maestro.render.pycode import (
    Code,
    GeneratedCodeError,
    check_calls,
    finalizer,
    identifier_filter,
    literal_filter,
)
from maestro.render.queries import parse_duration
from maestro.resolve.config import Platform
from maestro.serialize import dump

COMPONENT = "features"
MATERIALIZE_COMPONENT = "materialization"
HISTORY_LIMIT = 3
STARTING_DEADLINE = 300  # a run missed by more than 5 minutes (controller down) waits for the next one
MIN_DEADLINE = 600
REPO_CONFIG = "feature_store.yaml"
# Feast imports every .py of the repo as a top-level module (repo folder appended to
# sys.path), so this name must not be one the Feast image can import from elsewhere.
DEFINITIONS = "features.py"
REPO_FILES = (REPO_CONFIG, DEFINITIONS)
ARTIFACT_FOLDER = "feast"
TEMPLATE = "feast_definitions.py.j2"
ENTITY_KEY_SERIALIZATION_VERSION = 3  # Feast's current; below 3 it warns

HOOK_DELETE_POLICY = "argocd.argoproj.io/hook-delete-policy"
HOOK_PHASE = "Sync"
HOOK_WAVE = "-1"  # after the ConfigMap (-2), before the workloads (0); see argocd.py
REPO_DIR = "/feast-repo"  # the ConfigMap, read-only
WORK_DIR = "/work"  # the copy feast runs in: it writes relative registry/online-store paths there
BACKOFF_LIMIT = 2  # a registry or store briefly unreachable gets a retry; a bad repo does not get ten
APPLY_DEADLINE = 900  # importing Feast takes seconds and an apply a minute; longer is stuck
# `feast plan`/`apply` of the examples peak at ~250 MB resident (Feast imports pandas,
# pyarrow and dask); twice that leaves room for the remote stores' clients.
APPLY_RESOURCES = Resources(cpu="250m", memory="512Mi")
COPY_RESOURCES = Resources(cpu="50m", memory="64Mi")

# Spec dtype -> the feast.types name the template writes.
FEAST_TYPES = {
    "int32": "Int32",
    "int64": "Int64",
    "float32": "Float32",
    "float64": "Float64",
    "string": "String",
    "bytes": "Bytes",
    "bool": "Bool",
    "unix_timestamp": "UnixTimestamp",
}
# Spec join-key type -> ValueType member.
VALUE_TYPES = {"int32": "INT32", "int64": "INT64", "string": "STRING", "bytes": "BYTES"}
# Spec source type -> (Feast class, its import).
SOURCE_CLASSES = {
    "file": ("FileSource", "from feast import FileSource"),
    "bigquery": ("BigQuerySource", "from feast import BigQuerySource"),
    "snowflake": ("SnowflakeSource", "from feast import SnowflakeSource"),
    "redshift": ("RedshiftSource", "from feast import RedshiftSource"),
    "spark": (
        "SparkSource",
        "from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource",
    ),
}
TTL_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
SPARK_FORMATS = ("parquet", "avro", "csv", "json")  # what SparkSource accepts as file_format
# What the generated module may call: anything else in it is a bug of this module.
CALLABLE = frozenset(
    {"Entity", "FeatureService", "FeatureView", "Field", "timedelta", *(cls for cls, _ in SOURCE_CLASSES.values())}
)

_QUERY = re.compile(r"\s*(select|with)\s", re.IGNORECASE)
_DURATION = re.compile(r"([1-9][0-9]*)([smhdw])")


# ------------------------------------------------------------------ API


def render(spec: Spec, ctx: Context) -> list[Resource]:
    if spec.spec.features is None:
        return []
    configmap = obj("v1", "ConfigMap", repo_configmap_name(spec), data=repo_files(spec, ctx))
    configmap["metadata"]["annotations"] = {ARTIFACT_DIR: ARTIFACT_FOLDER}
    return [configmap, _apply_job(spec, ctx), *_materialize_cronjobs(spec, ctx)]


def check(spec: Spec, platform: Platform, env: str) -> Iterator[Violation]:
    """Feast reads every source of a repo through the one offline store the environment
    configures: a source of another type would fail `feast apply` in the cluster."""
    if spec.spec.features is None:
        return
    store = str(platform.environments[env].endpoints.feast.offline_store.get("type", "file"))
    for i, source in enumerate(spec.spec.features.sources):
        if source.type != store and not (source.type == "spark" and store.endswith("spark")):
            yield Violation(
                f"/spec/features/sources/{i}/type",
                "M216",
                f"source '{source.name}' is a {source.type} source but environment {env}'s Feast "
                f"offline store is '{store}'",
                f"use a {store} source, or ask the platform team for a {source.type} offline store",
            )


def repo_configmap_name(spec: Spec) -> str:
    return f"{name_of(spec)}-feast-repo"


def apply_job_name(spec: Spec) -> str:
    return f"{name_of(spec)}-feast-apply"


def feast_name(label: str) -> str:
    """The Feast name of a model name (a DNS label): "-" -> "_"; feature object names are snake_case already."""
    return label.replace("-", "_")


def project_name(spec: Spec) -> str:
    return feast_name(name_of(spec))


def feature_service_name(spec: Spec) -> str:
    """What serving code passes to `FeatureStore.get_feature_service`."""
    return feast_name(name_of(spec))


def repo_files(spec: Spec, ctx: Context) -> dict[str, str]:
    """The feature repo: {file name: text}."""
    return {REPO_CONFIG: feature_store_yaml(spec, ctx), DEFINITIONS: definitions(spec)}


def feature_store_yaml(spec: Spec, ctx: Context) -> str:
    feast = ctx.environment.endpoints.feast
    config = {
        "project": project_name(spec),
        "provider": feast.provider,
        "registry": feast.registry,
        "online_store": copy.deepcopy(feast.online_store),
        "offline_store": copy.deepcopy(feast.offline_store),
        "entity_key_serialization_version": ENTITY_KEY_SERIALIZATION_VERSION,
    }
    return (
        f"# Rendered by maestro from the platform config (endpoints.feast): edit that, not this file.\n{dump(config)}"
    )


def definitions(spec: Spec) -> str:
    """The definitions module, compiled and checked (GeneratedCodeError if it is not right)."""
    text: str = _template().render(**_template_data(spec))
    check_generated(text)
    return text


# ------------------------------------------------------------------ template data


def _template_data(spec: Spec) -> dict[str, Any]:
    features = spec.spec.features
    assert features is not None
    tags = {"maestro.ml/model": spec.metadata.name, "maestro.ml/team": spec.metadata.team}

    entities: list[dict[str, Any]] = []
    entity_vars: dict[str, list[str]] = {}  # spec entity -> its Feast entities' variables
    for entity in features.entities:
        keys = entity.join_keys
        for key in keys:
            var = f"entity_{len(entities)}"
            entity_vars.setdefault(entity.name, []).append(var)
            entities.append(
                {
                    "var": var,
                    # '.' is in no Feast name of a label, so no two of these names are the same
                    "name": feast_name(entity.name) if len(keys) == 1 else f"{feast_name(entity.name)}.{key}",
                    "join_keys": [key],
                    "value_type": entity.value_type,
                    "description": entity.description,
                }
            )

    sources = []
    source_vars = {}
    for i, source in enumerate(features.sources):
        source_vars[source.name] = f"source_{i}"
        sources.append({"var": f"source_{i}", "cls": source.type, "kwargs": _source_kwargs(source)})

    views = []
    for i, view in enumerate(features.views):
        views.append(
            {
                "var": f"view_{i}",
                "name": feast_name(view.name),
                # semantics.py has checked that every reference resolves
                "entities": [var for name in view.entities for var in entity_vars[name]],
                "source": source_vars[view.source],
                "ttl": view.ttl,
                "online": view.online,
                "fields": [{"name": f.name, "dtype": f.dtype} for f in view.fields],
            }
        )

    return {
        "source_classes": sorted({s.type for s in features.sources}),
        "entities": entities,
        "sources": sources,
        "views": views,
        "service": {
            "var": "feature_service",
            "name": feature_service_name(spec),
            "views": [v["var"] for v in views],
            "description": spec.metadata.description,
        },
        "tags": tags,
    }


def _source_kwargs(source: Source) -> list[tuple[str, str]]:
    """Keyword arguments of the source's Feast class, in the order written.

    `path` is a file path or URI for `file`; a SQL query (starting with SELECT or WITH) or a
    table for the warehouses, `[database.][schema.]table` split for Snowflake and Redshift,
    whose classes quote each part; for `spark` a path (with '/' or a URI scheme; format
    from the extension, parquet otherwise), a query or a table.
    """
    path = source.path
    kwargs: list[tuple[str, str]] = [("name", feast_name(source.name))]
    if source.type == "file":
        kwargs.append(("path", path))
    elif _QUERY.match(path):
        kwargs.append(("query", path))
    elif source.type == "spark" and ("/" in path or "://" in path):
        base = path.rstrip("/").rsplit("/", 1)[-1]
        ext = base.rsplit(".", 1)[-1].lower() if "." in base else ""
        kwargs += [("path", path), ("file_format", ext if ext in SPARK_FORMATS else "parquet")]
    elif source.type in ("snowflake", "redshift"):
        parts = path.split(".")
        if len(parts) in (2, 3) and all(parts):
            names = ("database", "schema", "table")[3 - len(parts) :]
            kwargs += list(zip(names, parts))
        else:
            kwargs.append(("table", path))
    else:
        kwargs.append(("table", path))
    kwargs.append(("timestamp_field", source.timestamp_field))
    if source.created_timestamp_field is not None:
        kwargs.append(("created_timestamp_column", source.created_timestamp_field))
    return kwargs


# ------------------------------------------------------------------ template and filters


WHAT = "the Feast definitions"
_Code = Code
_py = literal_filter(WHAT)
_ident = identifier_filter(CALLABLE, WHAT)
_finalize = finalizer(WHAT)


def _from_table(table: dict[str, str], what: str) -> Any:
    def pick(value: object) -> _Code:
        if not isinstance(value, str) or value not in table:
            raise GeneratedCodeError(f"{value!r} is not a known {what}")
        return _Code(table[value])

    return pick


def _ttl(value: object) -> _Code:
    m = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise GeneratedCodeError(f"{value!r} is not a duration such as 7d")
    return _Code(f"timedelta({TTL_UNITS[m[2]]}={int(m[1])})")


@functools.cache
def _template() -> Any:
    return text_template(
        TEMPLATE,
        {
            "py": _py,
            "ident": _ident,
            "feast_type": _from_table(FEAST_TYPES, "Feast type"),
            "value_type": _from_table({k: f"ValueType.{v}" for k, v in VALUE_TYPES.items()}, "join key type"),
            "source_class": _from_table({k: cls for k, (cls, _) in SOURCE_CLASSES.items()}, "source type"),
            "source_import": _from_table({k: imp for k, (_, imp) in SOURCE_CLASSES.items()}, "source type"),
            "ttl": _ttl,
        },
        _finalize,
    )


def check_generated(text: str) -> None:
    """The module compiles, and calls nothing but the Feast constructors and timedelta."""
    check_calls(text, DEFINITIONS, CALLABLE, f"the generated {WHAT.removeprefix('the ')}")


# ------------------------------------------------------------------ the apply Job


def _apply_job(spec: Spec, ctx: Context) -> Resource:
    """`feast apply` in a writable copy of the repo, as the model's service account."""
    pod = _feast_pod(spec, ctx, "feast-apply", ["feast", "--chdir", WORK_DIR, "apply", "--no-progress"])
    job = obj(
        "batch/v1",
        "Job",
        apply_job_name(spec),
        {
            "backoffLimit": BACKOFF_LIMIT,
            "activeDeadlineSeconds": APPLY_DEADLINE,
            # No ttlSecondsAfterFinished: the hook delete policy removes the Job at the next sync;
            # a TTL could delete it before Argo CD has seen it complete.
            "template": {"metadata": {"labels": {**pod_labels(spec, ctx, COMPONENT), **NO_SIDECAR}}, "spec": pod},
        },
    )
    job["metadata"]["annotations"] = {HOOK: HOOK_PHASE, HOOK_DELETE_POLICY: "BeforeHookCreation", SYNC_WAVE: HOOK_WAVE}
    return job


def _feast_pod(spec: Spec, ctx: Context, container: str, command: list[str]) -> dict[str, Any]:
    """A pod running `command` in a writable copy of the repo, as the model's service account."""
    image = ctx.platform.images.feast
    files = sorted(REPO_FILES)
    copy_repo = {
        "name": "copy-repo",
        "image": image,
        # cp follows the ConfigMap volume's symlinks for files named on the command line.
        "command": ["cp", *(f"{REPO_DIR}/{f}" for f in files), f"{WORK_DIR}/"],
        "resources": resource_requirements(COPY_RESOURCES, ctx.platform),
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": "repo", "mountPath": REPO_DIR, "readOnly": True},
            {"name": "work", "mountPath": WORK_DIR},
        ],
    }
    main = {
        "name": container,
        "image": image,
        "command": command,
        "workingDir": WORK_DIR,
        # Libraries Feast loads (fsspec, dask) cache under $HOME; the root filesystem is read-only.
        "env": [{"name": "HOME", "value": "/tmp"}],
        "resources": resource_requirements(APPLY_RESOURCES, ctx.platform),
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "work", "mountPath": WORK_DIR}, copy.deepcopy(TMP_MOUNT)],
    }
    return {
        "serviceAccountName": service_account_name(spec),
        "restartPolicy": "Never",
        "securityContext": pod_security_context(),
        "initContainers": [copy_repo],
        "containers": [main],
        "volumes": [
            {"name": "repo", "configMap": {"name": repo_configmap_name(spec)}},
            {"name": "work", "emptyDir": {}},
            copy.deepcopy(TMP_VOLUME),
        ],
    }


# ------------------------------------------------------------------ materialization


def materialize_script(spec: Spec, ctx: Context, view: View) -> str:
    """The shell line the materialize container runs.

    `feast materialize-incremental` reads END_TS with `datetime.fromisoformat` (feast/cli/cli.py),
    so "now" needs a shell. Where the registry is a path rather than a URI (dev's
    `data/registry.db`), it lives in the pod's own emptyDir and starts empty, so the pod
    applies the repo first; with a shared registry (s3://, gs://, a database) the apply
    hook has registered the view already.
    """
    steps = []
    if "://" not in ctx.environment.endpoints.feast.registry:
        steps.append(f"feast --chdir {WORK_DIR} apply --no-progress")
    steps.append(
        f"exec feast --chdir {WORK_DIR} materialize-incremental --views {shlex.quote(feast_name(view.name))} "
        '"$(date -u +%Y-%m-%dT%H:%M:%S)"'
    )
    return " && ".join(steps)


def _materialize_cronjobs(spec: Spec, ctx: Context) -> list[Resource]:
    out = []
    for view in online_views(spec):
        pod = _feast_pod(spec, ctx, "materialize", ["/bin/sh", "-c", materialize_script(spec, ctx, view)])
        labels = {**pod_labels(spec, ctx, MATERIALIZE_COMPONENT), **NO_SIDECAR}
        job_spec = {
            "backoffLimit": BACKOFF_LIMIT,
            "activeDeadlineSeconds": materialize_deadline(view),
            "template": {"metadata": {"labels": labels}, "spec": pod},
        }
        out.append(
            obj(
                "batch/v1",
                "CronJob",
                materialize_name(spec, view),
                {
                    "schedule": materialize_schedule(spec, view),
                    # Two runs of one view at once would write the same rows twice; a run
                    # still going when the next is due simply delays it.
                    "concurrencyPolicy": "Forbid",
                    "startingDeadlineSeconds": STARTING_DEADLINE,
                    "successfulJobsHistoryLimit": HISTORY_LIMIT,
                    "failedJobsHistoryLimit": HISTORY_LIMIT,
                    "jobTemplate": {"metadata": {"labels": dict(labels)}, "spec": job_spec},
                },
            )
        )
    return out


def materialize_deadline(view: View) -> int:
    """A run may take until the next one is due (at least 10 minutes, at most a day)."""
    period = parse_duration(view.ttl) // REFRESHES_PER_TTL
    return max(MIN_DEADLINE, min(period, 86400))
