"""`maestro lineage`: the path from data to endpoint, from the specs alone.

    source dataset -> feature view -> training job -> registered model (version) -> endpoint

per environment, for one model or all. A feature view is derived from its source by the
view's materialization (render/features.py); the training job reads every view of its
model; it registers the model in the environment's MLflow (the version is the lock's,
`specs/<model>/maestro.lock.yaml`, when there is one, else the alias the spec serves); the
endpoint serves that model and reads the online views.

Names are OpenLineage's (openlineage.io/docs/spec/naming): a dataset is (namespace, name),
`s3://bucket` + key for object stores, `file` + path for local files, the warehouse for
tables; a job is (namespace, name) with the namespace from `lineage.namespace` (config) and
names `<model>.train`, `<model>.tune`, `<model>.materialize.<view>`, `<model>.serve`. The
training and tuning pods carry the same names in OPENLINEAGE_NAMESPACE and
OPENLINEAGE_JOB_NAME (render/decorate.py), so what runtime integrations report lands on
the nodes drawn here. Feature views are datasets of the model's OpenLineage namespace named
`<feast project>.<view>`; model versions are datasets of the MLflow tracking URI.

`build` is pure: specs, the environments' configs and the locked versions in, a `Graph`
out; the formats are pure functions of the graph. The `openlineage` format builds static
`JobEvent`s and `DatasetEvent`s with openlineage-python's own types (imported only there).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from maestro.frontend.spec import Source, Spec
from maestro.resolve.config import Platform

KINDS = ("dataset", "feature_view", "training", "model", "endpoint")


@dataclass(frozen=True)
class Node:
    id: str  # unique in the graph: "<env>:<kind>:<namespace>/<name>"
    kind: str  # one of KINDS
    label: str
    namespace: str  # OpenLineage namespace
    name: str  # OpenLineage name
    env: str
    models: tuple[str, ...]  # the models whose lineage passes through the node
    facts: tuple[tuple[str, str], ...] = ()  # what a format may show: path, ttl, version, ...


@dataclass
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)

    def add(self, node: Node) -> str:
        old = self.nodes.get(node.id)
        if old is not None:  # a source two models read: one node, both models
            node = Node(**{**asdict(old), "models": tuple(sorted(set(old.models) | set(node.models)))})
        self.nodes[node.id] = node
        return node.id

    def link(self, a: str, b: str) -> None:
        self.edges.add((a, b))


def ol_namespace(spec: Spec, platform: Platform, env: str) -> str:
    return platform.lineage.namespace.format(team=spec.metadata.team, env=env, model=spec.metadata.name)


def job_name(spec: Spec, job: str) -> str:
    """`<model>.<job>`: train, tune, serve, materialize.<view>."""
    return f"{spec.metadata.name}.{job}"


def source_identity(source: Source, namespace: str, project: str) -> tuple[str, str]:
    """(namespace, name) of a source dataset, after OpenLineage's naming conventions."""
    path = source.path
    m = re.match(r"^([a-z][a-z0-9+.-]*)://([^/]*)/?(.*)$", path)
    if m:
        return f"{m[1]}://{m[2]}", m[3]
    if source.type == "file":
        return "file", path
    if re.match(r"\s*(select|with)\s", path, re.IGNORECASE):  # a query is no dataset name: Feast's source name
        return namespace, f"{project}.{str(source.name).replace('-', '_')}"
    return source.type, path


def _node_id(env: str, kind: str, namespace: str, name: str) -> str:
    return f"{env}:{kind}:{namespace}/{name}"


def build(
    specs: Iterable[tuple[str, Spec]],
    platforms: dict[str, Platform],
    versions: dict[tuple[str, str], int] | None = None,
) -> Graph:
    """`specs`: (environment, effective spec); `versions`: (environment, model) -> locked version."""
    versions = versions or {}
    g = Graph()
    for env, spec in sorted(specs, key=lambda p: (p[0], p[1].metadata.name)):
        platform = platforms[env]
        model, body = spec.metadata.name, spec.spec
        ns = ol_namespace(spec, platform, env)
        project = str(model).replace("-", "_")
        views: list[tuple[str, bool]] = []
        if body.features is not None:
            sources = {s.name: s for s in body.features.sources}
            for view in body.features.views:
                src = sources[view.source]
                sns, sname = source_identity(src, ns, project)
                sid = g.add(
                    Node(
                        _node_id(env, "dataset", sns, sname),
                        "dataset",
                        src.path,
                        sns,
                        sname,
                        env,
                        (model,),
                        (("type", src.type),),
                    )
                )
                vname = f"{project}.{str(view.name).replace('-', '_')}"
                vid = g.add(
                    Node(
                        _node_id(env, "feature_view", ns, vname),
                        "feature_view",
                        view.name,
                        ns,
                        vname,
                        env,
                        (model,),
                        (("ttl", view.ttl), ("online", str(view.online).lower())),
                    )
                )
                g.link(sid, vid)
                views.append((vid, view.online))
        model_id = None
        registry = body.registry
        if body.training is not None or registry is not None:
            reg = (registry.model if registry else None) or model
            tracking = platform.environments[env].endpoints.mlflow
            version = versions.get((env, model))
            serve = registry.serve if registry else "champion"
            name = f"{reg}/{version}" if version is not None else f"{reg}@{serve}"
            label = f"{reg} v{version}" if version is not None else f"{reg} @{serve}"
            model_id = g.add(
                Node(
                    _node_id(env, "model", tracking, name),
                    "model",
                    label,
                    tracking,
                    name,
                    env,
                    (model,),
                    (("version", str(version)),) if version is not None else (("alias", str(serve)),),
                )
            )
        if body.training is not None:
            tname = job_name(spec, "train")
            tid = g.add(
                Node(
                    _node_id(env, "training", ns, tname),
                    "training",
                    f"{model} training",
                    ns,
                    tname,
                    env,
                    (model,),
                    (("image", body.training.image),),
                )
            )
            for vid, _ in views:
                g.link(vid, tid)
            assert model_id is not None
            g.link(tid, model_id)
        if body.serving is not None:
            ename = job_name(spec, "serve")
            eid = g.add(
                Node(
                    _node_id(env, "endpoint", ns, ename),
                    "endpoint",
                    f"{model} endpoint",
                    ns,
                    ename,
                    env,
                    (model,),
                    (("runtime", body.serving.runtime),),
                )
            )
            if model_id is not None:
                g.link(model_id, eid)
            for vid, online in views:
                if online:  # served models read online features at request time
                    g.link(vid, eid)
    return g


# ------------------------------------------------------------------ formats

_MERMAID_SHAPES = {
    "dataset": ("[(", ")]"),
    "feature_view": ("[/", "/]"),
    "training": ("[[", "]]"),
    "model": ("{{", "}}"),
    "endpoint": ("([", "])"),
}
_DOT_SHAPES = {
    "dataset": "cylinder",
    "feature_view": "parallelogram",
    "training": "box",
    "model": "hexagon",
    "endpoint": "ellipse",
}


def _short_ids(g: Graph) -> dict[str, str]:
    return {nid: f"n{i}" for i, nid in enumerate(sorted(g.nodes))}


def _envs(g: Graph) -> list[str]:
    return sorted({n.env for n in g.nodes.values()})


def format_mermaid(g: Graph) -> str:
    ids = _short_ids(g)
    out = ["flowchart LR"]
    for env in _envs(g):
        out.append(f"  subgraph {env}")
        for nid in sorted(n for n in g.nodes if g.nodes[n].env == env):
            node = g.nodes[nid]
            a, b = _MERMAID_SHAPES[node.kind]
            label = node.label.replace('"', "#quot;")
            out.append(f'    {ids[nid]}{a}"{label}"{b}')
        out.append("  end")
    out += [f"  {ids[a]} --> {ids[b]}" for a, b in sorted(g.edges)]
    return "\n".join(out) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_dot(g: Graph) -> str:
    ids = _short_ids(g)
    out = ["digraph lineage {", "  rankdir=LR;"]
    for i, env in enumerate(_envs(g)):
        out += [f"  subgraph cluster_{i} {{", f"    label={_dot_quote(env)};"]
        for nid in sorted(n for n in g.nodes if g.nodes[n].env == env):
            node = g.nodes[nid]
            out.append(f"    {ids[nid]} [label={_dot_quote(node.label)}, shape={_DOT_SHAPES[node.kind]}];")
        out.append("  }")
    out += [f"  {ids[a]} -> {ids[b]};" for a, b in sorted(g.edges)]
    return "\n".join(out) + "\n}\n"


def format_json(g: Graph) -> str:
    data = {
        "nodes": [
            {
                "id": n.id,
                "kind": n.kind,
                "label": n.label,
                "env": n.env,
                "namespace": n.namespace,
                "name": n.name,
                "models": list(n.models),
                **dict(n.facts),
            }
            for n in sorted(g.nodes.values(), key=lambda n: n.id)
        ],
        "edges": [{"from": a, "to": b} for a, b in sorted(g.edges)],
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


PRODUCER = "https://pypi.org/project/maestro-ml/"


def openlineage_events(g: Graph, event_time: str, producer: str = PRODUCER) -> list[Any]:
    """Static OpenLineage events (spec 2-0-2): a DatasetEvent per dataset (sources, views,
    model versions) and a JobEvent per job (materialization, training, serving) with its
    inputs and outputs, built with openlineage-python's types."""
    from openlineage.client.event_v2 import (
        DatasetEvent,
        InputDataset,
        Job,
        JobEvent,
        OutputDataset,
        StaticDataset,
    )
    from openlineage.client.facet_v2 import (
        datasource_dataset,
        documentation_job,
        job_type_job,
    )

    def dataset(node: Node) -> StaticDataset:
        facets: dict[str, Any] = {}
        if node.kind == "dataset":
            facets["dataSource"] = datasource_dataset.DatasourceDatasetFacet(name=node.namespace, uri=node.namespace)
        return StaticDataset(namespace=node.namespace, name=node.name, facets=facets)

    def job(namespace: str, name: str, kind: str, doc: str) -> Job:
        return Job(
            namespace=namespace,
            name=name,
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH" if kind != "endpoint" else "STREAMING",
                    integration="MAESTRO",
                    jobType=kind.upper(),
                ),
                "documentation": documentation_job.DocumentationJobFacet(description=doc),
            },
        )

    events: list[Any] = []
    datasets = [n for n in g.nodes.values() if n.kind in ("dataset", "feature_view", "model")]
    for node in sorted(datasets, key=lambda n: n.id):
        events.append(DatasetEvent(eventTime=event_time, producer=producer, dataset=dataset(node)))
    # feature views are produced by their materialization job; training and serving are jobs themselves
    for node in sorted(g.nodes.values(), key=lambda n: n.id):
        inputs = sorted(a for a, b in g.edges if b == node.id)
        if node.kind == "feature_view":
            model = node.models[0]
            jname = f"{model}.materialize.{node.label}"
            ev = JobEvent(
                eventTime=event_time,
                producer=producer,
                job=job(
                    node.namespace,
                    jname,
                    "materialization",
                    f"Feast materialization of feature view {node.label} ({node.env})",
                ),
                inputs=[InputDataset(namespace=g.nodes[i].namespace, name=g.nodes[i].name) for i in inputs],
                outputs=[OutputDataset(namespace=node.namespace, name=node.name)],
            )
            events.append(ev)
        elif node.kind in ("training", "endpoint"):
            outputs = sorted(b for a, b in g.edges if a == node.id)
            ev = JobEvent(
                eventTime=event_time,
                producer=producer,
                job=job(node.namespace, node.name, node.kind, f"{node.label} ({node.env})"),
                inputs=[InputDataset(namespace=g.nodes[i].namespace, name=g.nodes[i].name) for i in inputs],
                outputs=[OutputDataset(namespace=g.nodes[o].namespace, name=g.nodes[o].name) for o in outputs],
            )
            events.append(ev)
    return events


def format_openlineage(g: Graph, event_time: str) -> str:
    """One event per line (JSON Lines), as OpenLineage's file transport writes them."""
    from openlineage.client.serde import Serde

    return "".join(json.dumps(Serde.to_dict(e), sort_keys=True) + "\n" for e in openlineage_events(g, event_time))


FORMATTERS: dict[str, Callable[[Graph], str]] = {
    "mermaid": format_mermaid,
    "dot": format_dot,
    "json": format_json,
}
