"""link: the references between the objects of one environment, checked as a linker would.

Schema checks (`verify`) look at one object at a time; a cluster sees the whole folder. This
stage runs after every model of an environment and its platform layer are rendered and
transformed, and before anything is written. It resolves every name, selector and port one
object uses to find another, against the model's own objects, the other models sharing its
namespace, the platform layer (`rendered/<env>/platform/`) and what `config/platform.yaml`
`provided` says the cluster already has. What does not resolve is a `Finding`: the rendered
file, a JSON pointer into the object, the name that did not resolve, and, where known, the
spec section that caused it. The pipeline turns findings into error diagnostics positioned at
the overlay patch or spec line that caused them (the rendered file and pointer ride along in
`extra`), and `render` then writes nothing (exit 1).

What KServe makes (RawDeployment, KServe 0.15: `components/predictor.go` buildObjectMeta,
`reconcilers/deployment`, `reconcilers/service`) is modelled, not rendered: an
InferenceService `<isvc>` yields the Deployment and Service `<isvc>-predictor` and pods
labelled with the InferenceService's own labels, `predictor.labels`,
`serving.kserve.io/inferenceservice: <isvc>`, `component: predictor` and
`app: isvc.<isvc>-predictor`; the Service exposes the first container port as 80 and the
others under their own numbers. With `serving.kserve.io/autoscalerClass: external` KServe
leaves the Deployment's replicas to someone else (and ignores them on update); with `none` it
sets them to minReplicas; otherwise it renders an HPA of its own.

A run a hook Job or a CronJob creates from a manifest in a ConfigMap reaches this stage as an
ordinary object carrying `maestro.ml/launched-by: <Kind>/<name>` (issue 13C).

Checks, one function each, by name in `CHECKS` (`DISABLED` lists the ones waiting for a fix
elsewhere, and who owns it):

    M830 references    the namespace of every object; every ServiceAccount, PriorityClass,
                       Secret (and, when the sync pins them, its key), ConfigMap and image
                       pull secret a pod template uses; Rollout services, analysis templates,
                       workloadRef, Istio routing; RoleBinding roles and subjects; Vault
                       Secrets Operator auth; TrainJob runtimes
    M831 selectors     every Service, PodDisruptionBudget, NetworkPolicy, PodMonitor,
                       ServiceMonitor, Istio policy and DestinationRule subset selects a
                       rendered pod template (or Service)
    M832 scrape ports  every PodMonitor/ServiceMonitor endpoint names a port the pods have
    M833 mesh          behind STRICT mTLS an application port refuses the plain-text scrape
                       of a Prometheus outside the mesh (only the sidecar's 15020/15090 are
                       outside mTLS); an Istio policy on serving pods without a sidecar does
                       nothing
    M834 storage       every InferenceService storage URI has a handler: KServe's own
                       schemes, or a ClusterStorageContainer rendered or provided (KServe
                       takes any other URI for a local path and the init container fails)
    M835 autoscalers   every HPA / ScaledObject target exists (KServe's Deployment included)
    M836 replicas      exactly one controller owns a workload's replicas: not two
                       autoscalers, not an autoscaler and a `spec.replicas` that Argo CD
                       self-heals back, not an autoscaler on a Deployment a Rollout adopts or
                       KServe scales; and an InferenceService whose autoscaler class is
                       external has an autoscaler (else it runs one replica)
    M837 one-shot jobs every Job and Kubeflow job is an Argo CD sync hook, a CronJob's, or
                       launched by a hook, a CronJob or a pipeline's DAG (the ConfigMap
                       carrying it): a plain synced Job is created again when its TTL
                       deletes it, and a change to its immutable template fails the sync
    M838 routes        every VirtualService destination host is a Service (a mesh host too)
                       and every subset is defined by a DestinationRule of that host
    M839 admission     NetworkPolicies admit Prometheus (`monitoring.namespace`) to the
                       scrape ports, and the ingress gateway and the spec's `allowFrom`
                       namespaces to the ports the model's Services expose

Labels, selectors and ports are compared as Kubernetes does (metav1.LabelSelector,
named or numbered container ports); NetworkPolicy peers with a pod selector in another
namespace, and ipBlocks, are taken to admit (the callers' pods are not rendered here).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from maestro.diagnostics import CODES

Resource = dict[str, Any]

CODES.update(
    {
        "M830": "reference to an object that does not exist",
        "M831": "selector selects nothing that is rendered",
        "M832": "scrape port not on the selected pods",
        "M833": "port or policy that does not work under the mesh mode in force",
        "M834": "storage URI without a handler",
        "M835": "autoscaler target does not exist",
        "M836": "replicas owned by more than one controller, or by none",
        "M837": "one-shot job neither a sync hook nor launched by one",
        "M838": "route to an undefined host or subset",
        "M839": "NetworkPolicy does not admit a required caller",
    }
)

HOOK = "argocd.argoproj.io/hook"
LAUNCHED_BY = "maestro.ml/launched-by"
# A ConfigMap carrying an Airflow DAG (render/airflow.py): its tasks launch runs too.
PIPELINE_ARTIFACT = ("maestro.ml/artifact-dir", "airflow")
ISVC_LABEL = "serving.kserve.io/inferenceservice"
AUTOSCALER_CLASS = "serving.kserve.io/autoscalerClass"
INJECT = "sidecar.istio.io/inject"
DATAPLANE = "istio.io/dataplane-mode"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by Kubernetes on every namespace (1.22+)
# Ports an Istio sidecar serves outside mTLS: merged/agent metrics, health, Envoy's own
# metrics (istio.io/latest/docs/tasks/observability/metrics/secure-metrics).
SIDECAR_PLAIN_PORTS = frozenset({15020, 15021, 15090})
# The one port the injected istio-proxy container declares (Envoy's own metrics).
SIDECAR_PORT = ("http-envoy-prom", 15090)
# With metrics merging (Istio's default) injection rewrites a pod's prometheus.io/port to the
# agent's merged endpoint, keeping the application's in ISTIO_PROMETHEUS_ANNOTATIONS
# (istio.io/latest/docs/ops/integrations/prometheus, option 1).
MERGED_METRICS_PORT = 15020
PORT_ANNOTATION = "prometheus.io/port"
PORT_ANNOTATION_LABEL = "__meta_kubernetes_pod_annotation_prometheus_io_port"
# What every namespace has without anyone rendering it.
BUILTIN_CONFIGMAPS = frozenset({"kube-root-ca.crt"})
MESH_CONFIGMAPS = frozenset({"istio-ca-root-cert"})
BUILTIN_SERVICE_ACCOUNTS = frozenset({"default"})
BUILTIN_PRIORITY_CLASSES = frozenset({"system-cluster-critical", "system-node-critical"})
# KServe 0.15's own storage initializer: the chart's `default` ClusterStorageContainer
# (gs, s3, hdfs, webhdfs, hf, Azure, http(s)) and the injector's pvc:// and oci:// cases.
KSERVE_URI_PREFIXES = ("gs://", "s3://", "hdfs://", "webhdfs://", "hf://", "http://", "https://", "pvc://", "oci://")
ONE_SHOT_KINDS = frozenset(
    {
        ("batch", "Job"),
        ("kubeflow.org", "PyTorchJob"),
        ("kubeflow.org", "TFJob"),
        ("kubeflow.org", "XGBoostJob"),
        ("kubeflow.org", "MPIJob"),
        ("kubeflow.org", "PaddleJob"),
        ("kubeflow.org", "JAXJob"),
        ("trainer.kubeflow.org", "TrainJob"),
    }
)
LAUNCHERS = frozenset({("batch", "Job"), ("batch", "CronJob")})
# Spec section behind the objects of each renderer's component label.
_CAUSE_BY_COMPONENT = {
    "serving": "/spec/serving",
    "mesh": "/spec/serving/abTest",
    "training": "/spec/training",
    "training-launcher": "/spec/training",
    "tuning": "/spec/tuning",
    "registry": "/spec/registry",
    "features": "/spec/features",
    "monitoring": "/spec/monitoring",
    "secrets": "/spec/secrets",
    "security": "/spec/network",
}


# ------------------------------------------------------------------ inputs and findings


@dataclass(frozen=True)
class Placed:
    """A rendered object and the file it is written to (`rendered/<env>/<folder>/<file>`)."""

    obj: Resource
    path: str
    model: str | None = None  # None: the platform layer


@dataclass(frozen=True)
class Provided:
    """What `config/platform.yaml` `provided` says the cluster has (placeholders resolved)."""

    namespaces: tuple[str, ...] = ()  # fnmatch patterns
    priority_classes: frozenset[str] = frozenset()
    secrets: frozenset[tuple[str, str]] = frozenset()  # (namespace, name)
    config_maps: frozenset[tuple[str, str]] = frozenset()
    service_accounts: frozenset[tuple[str, str]] = frozenset()
    storage_uri_prefixes: tuple[str, ...] = ()
    cluster_training_runtimes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Callers:
    """Who must reach a model's serving pods: its spec's `allowFrom` and the ingress gateway."""

    namespaces: tuple[str, ...] = ()
    ingress_namespace: str | None = None


@dataclass(frozen=True)
class LinkInput:
    env: str
    objects: tuple[Placed, ...]
    provided: Provided = Provided()
    mesh_mode: str = "sidecar"  # of the provided namespaces (the rendered ones carry their labels)
    monitoring_namespace: str = "monitoring"
    callers: Mapping[str, Callers] = field(default_factory=dict)  # model -> callers


@dataclass(frozen=True)
class Finding:
    code: str
    path: str  # the rendered file
    pointer: str  # JSON pointer in that object
    message: str
    hint: str
    model: str | None = None
    cause: str | None = None  # spec pointer of what caused it ("/spec/serving"), when known
    subject: str | None = None  # the name that did not resolve, when there is one
    namespace: str = ""  # of the object the finding is on ("": cluster-scoped)


# ------------------------------------------------------------------ the index


def group_of(res: Resource) -> str:
    api = str(res.get("apiVersion") or "")
    return api.rpartition("/")[0]


def _meta(res: Resource) -> dict[str, Any]:
    meta = res.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _name(res: Resource) -> str:
    return str(_meta(res).get("name", ""))


def _ns(res: Resource) -> str:
    return str(_meta(res).get("namespace") or "")


def _labels(res: Resource) -> dict[str, str]:
    return dict(_meta(res).get("labels") or {})


def _annotations(res: Resource) -> dict[str, str]:
    return dict(_meta(res).get("annotations") or {})


def _spec(res: Resource) -> dict[str, Any]:
    spec = res.get("spec")
    return spec if isinstance(spec, dict) else {}


def _escape(key: object) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


@dataclass
class Pods:
    """A pod template: rendered, or the one KServe derives from an InferenceService."""

    owner: Placed
    pointer: str  # of the pod spec in the owner
    namespace: str
    labels: dict[str, str]
    annotations: dict[str, str]
    spec: dict[str, Any]
    containers: list[tuple[str, dict[str, Any]]]  # (pointer from the pod spec, container)

    def ports(self) -> list[tuple[str | None, int]]:
        return [
            (p.get("name"), int(p["containerPort"]))
            for _, c in self.containers
            for p in c.get("ports") or []
            if isinstance(p, dict) and isinstance(p.get("containerPort"), int)
        ]

    def describe(self) -> str:
        return f"{self.owner.obj.get('kind')} '{_name(self.owner.obj)}'"


@dataclass
class Synth:
    """An object a controller creates from a rendered one (KServe's predictor Deployment/Service)."""

    owner: Placed
    body: dict[str, Any]


@dataclass
class Index:
    inp: LinkInput
    by_key: dict[tuple[str, str, str, str], Placed] = field(default_factory=dict)  # (group, kind, ns, name)
    pods: list[Pods] = field(default_factory=list)
    synth: dict[tuple[str, str, str, str], Synth] = field(default_factory=dict)
    namespaces: dict[str, Resource] = field(default_factory=dict)  # rendered Namespaces
    secrets: dict[tuple[str, str], frozenset[str] | None] = field(default_factory=dict)  # -> keys (None: unknown)
    config_maps: set[tuple[str, str]] = field(default_factory=set)
    service_accounts: set[tuple[str, str]] = field(default_factory=set)
    priority_classes: set[str] = field(default_factory=set)
    uri_formats: list[tuple[str, str]] = field(default_factory=list)  # ("prefix" | "regex", value)
    # Lookups the checks repeat, built once (an environment may hold tens of thousands of objects).
    kinds: dict[tuple[str, str], list[Placed]] = field(default_factory=dict)
    by_namespace: dict[tuple[str, str, str], list[Placed]] = field(default_factory=dict)  # (group, kind, ns)
    pods_in: dict[str, list[Pods]] = field(default_factory=dict)
    pods_labelled: dict[tuple[str, str, Any], list[Pods]] = field(default_factory=dict)  # (ns, key, value)
    ingress_cache: dict[str, dict[int, list[dict[str, Any]]]] = field(default_factory=dict)  # see _ingress_policies
    services: dict[tuple[str, str], tuple[dict[str, Any], Placed | None]] = field(default_factory=dict)
    scrape_cache: list[Scrape] | None = None

    def of_kind(self, group: str, kind: str) -> list[Placed]:
        return self.kinds.get((group, kind), [])

    def in_namespace(self, group: str, kind: str, ns: str) -> list[Placed]:
        return self.by_namespace.get((group, kind, ns), [])

    def scrapes(self) -> list[Scrape]:
        if self.scrape_cache is None:
            self.scrape_cache = list(_scrapes(self))
        return self.scrape_cache

    def get(self, group: str, kind: str, ns: str, name: str) -> Placed | None:
        return self.by_key.get((group, kind, ns, name))

    def namespace_exists(self, ns: str) -> bool:
        # The monitoring stack's namespace (config `monitoring.namespace`) is the cluster's: the
        # platform layer only puts its kube-state-metrics config there.
        return (
            ns in self.namespaces
            or ns == self.inp.monitoring_namespace
            or any(fnmatch.fnmatchcase(ns, p) for p in self.inp.provided.namespaces)
        )

    def meshed(self, pods: Pods) -> bool:
        return self.mesh_of(pods) != "none"

    def mesh_of(self, pods: Pods) -> str:
        """How the pods are in the mesh: "sidecar" (their label or annotation first, then the
        namespace's injection label), "ambient" (the namespace's dataplane mode) or "none"."""
        ns = self.namespaces.get(pods.namespace)
        labels = _labels(ns) if ns is not None else {}
        if ns is None:
            mode = self.inp.mesh_mode
        elif labels.get(DATAPLANE) == "ambient":
            mode = "ambient"
        elif labels.get("istio-injection") == "enabled" or "istio.io/rev" in labels:
            mode = "sidecar"
        else:
            mode = "none"
        if mode == "ambient":
            return "none" if pods.labels.get(DATAPLANE) == "none" else "ambient"
        own = pods.labels.get(INJECT, pods.annotations.get(INJECT))
        if own is not None:
            return "sidecar" if str(own).lower() == "true" else "none"
        return mode

    def ports(self, pods: Pods) -> list[tuple[str | None, int]]:
        """The pods' container ports, with the one Istio's injected istio-proxy declares."""
        return pods.ports() + ([SIDECAR_PORT] if self.mesh_of(pods) == "sidecar" else [])

    def resolve_port(self, pods: Pods, port: Any) -> int | None:
        """A container port of these pods by name or number; None if they declare no such port."""
        number = _as_int(port)
        for name, value in self.ports(pods):
            if (number is not None and number == value) or (number is None and port == name):
                return value
        return None


def build_index(inp: LinkInput) -> Index:
    ix = Index(inp)
    for placed in sorted(inp.objects, key=lambda p: p.path):
        res = placed.obj
        ix.by_key[(group_of(res), str(res.get("kind")), _ns(res), _name(res))] = placed
    pv = inp.provided
    ix.secrets.update(dict.fromkeys(pv.secrets))
    ix.config_maps |= set(pv.config_maps)
    ix.service_accounts |= set(pv.service_accounts)
    ix.priority_classes |= set(pv.priority_classes) | BUILTIN_PRIORITY_CLASSES
    ix.uri_formats += [("prefix", p) for p in (*KSERVE_URI_PREFIXES, *pv.storage_uri_prefixes)]
    for placed in ix.by_key.values():
        res = placed.obj
        g, k, ns, name, spec = group_of(res), res.get("kind"), _ns(res), _name(res), _spec(res)
        if (g, k) == ("", "Namespace"):
            ix.namespaces[name] = res
        elif (g, k) == ("", "ConfigMap"):
            ix.config_maps.add((ns, name))
        elif (g, k) == ("", "ServiceAccount"):
            ix.service_accounts.add((ns, name))
        elif (g, k) == ("scheduling.k8s.io", "PriorityClass"):
            ix.priority_classes.add(name)
        elif (g, k) == ("serving.kserve.io", "ClusterStorageContainer") and not res.get("disabled"):
            if (spec.get("workloadType") or "initContainer") == "initContainer":
                for fmt in spec.get("supportedUriFormats") or []:
                    if fmt.get("prefix"):
                        ix.uri_formats.append(("prefix", fmt["prefix"]))
                    elif fmt.get("regex"):
                        ix.uri_formats.append(("regex", fmt["regex"]))
        elif g == "secrets.hashicorp.com" and k in ("VaultStaticSecret", "VaultDynamicSecret", "VaultPKISecret"):
            dest = spec.get("destination") or {}
            if dest.get("name"):
                ix.secrets[(ns, dest["name"])] = _vso_keys(dest)
        elif (g, k) == ("external-secrets.io", "ExternalSecret"):
            ix.secrets[(ns, (spec.get("target") or {}).get("name") or name)] = None
        elif (g, k) == ("serving.kserve.io", "InferenceService"):
            _kserve(ix, placed)
        ix.pods += _pod_templates(placed)
    for ns in [*ix.namespaces, *{_ns(p.obj) for p in inp.objects if _ns(p.obj)}]:
        ix.config_maps |= {(ns, cm) for cm in BUILTIN_CONFIGMAPS}
        ix.service_accounts |= {(ns, sa) for sa in BUILTIN_SERVICE_ACCOUNTS}
    for (g, k, ns, _), placed in ix.by_key.items():
        ix.kinds.setdefault((g, k), []).append(placed)
        ix.by_namespace.setdefault((g, k, ns), []).append(placed)
    for pods in ix.pods:
        ix.pods_in.setdefault(pods.namespace, []).append(pods)
        for k, v in pods.labels.items():
            try:
                ix.pods_labelled.setdefault((pods.namespace, k, v), []).append(pods)
            except TypeError:  # a value that is not a string (unhashable): only `_candidates`' fallback sees it
                pass
    for placed in ix.of_kind("", "Service"):
        ix.services[(_ns(placed.obj), _name(placed.obj))] = (_spec(placed.obj), placed)
    for (g, k, ns, name), synth in ix.synth.items():
        if (g, k) == ("", "Service"):
            ix.services.setdefault((ns, name), (synth.body, None))
    return ix


def _vso_keys(dest: dict[str, Any]) -> frozenset[str] | None:
    """The keys a Vault Secrets Operator Secret holds, when its transformation pins them:
    `excludeRaw` with `includes` that are exact keys (`^key$`, as render/secrets.py writes)."""
    tr = dest.get("transformation") or {}
    includes = tr.get("includes")
    if not includes or not tr.get("excludeRaw") or tr.get("templates"):
        return None
    keys = set()
    for pattern in includes:
        m = re.fullmatch(r"\^((?:[A-Za-z0-9_-]|\\\.)+)\$", str(pattern))
        if m is None:
            return None  # a real pattern: any key may match
        keys.add(m.group(1).replace("\\.", "."))
    return frozenset(keys)


def _pod_templates(placed: Placed) -> list[Pods]:
    """Pod templates anywhere in a rendered object (Deployment, Job, CronJob, Rollout, the
    replica specs of Kubeflow jobs, a TrainJob's runtime patches)."""
    out: list[Pods] = []
    ns = _ns(placed.obj)

    def walk(node: Any, pointer: str) -> None:
        if isinstance(node, dict):
            tpl = node.get("template")
            pod_template = isinstance(tpl, dict) and isinstance(tpl.get("spec"), dict) and "containers" in tpl["spec"]
            if pod_template:
                assert isinstance(tpl, dict)
                meta = tpl.get("metadata") or {}
                spec = tpl["spec"]
                containers = [
                    (f"{field_name}/{i}", c)
                    for field_name in ("containers", "initContainers")
                    for i, c in enumerate(spec.get(field_name) or [])
                    if isinstance(c, dict)
                ]
                out.append(
                    Pods(
                        placed,
                        f"{pointer}/template/spec",
                        ns,
                        dict(meta.get("labels") or {}),
                        dict(meta.get("annotations") or {}),
                        spec,
                        containers,
                    )
                )
            for key, value in node.items():
                # A template that is not a pod's (a TrainJob's replicated job holds a Job
                # template, whose spec holds the pod template) is walked into. Leaves hold
                # no template: not visited (most of an object's nodes).
                if isinstance(value, (dict, list)) and (key != "template" or not pod_template):
                    walk(value, f"{pointer}/{_escape(key)}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                if isinstance(value, (dict, list)):
                    walk(value, f"{pointer}/{i}")

    walk(placed.obj.get("spec"), "/spec")
    return out


# Fields of a KServe component that are not pod spec fields.
_COMPONENT_FIELDS = frozenset(
    {
        "minReplicas",
        "maxReplicas",
        "scaleTarget",
        "scaleMetric",
        "scaleMetricType",
        "containerConcurrency",
        "timeout",
        "canaryTrafficPercent",
        "batcher",
        "logger",
        "labels",
        "annotations",
        "deploymentStrategy",
        "autoScaling",
        "workerSpec",
        "model",
    }
)


def _kserve(ix: Index, placed: Placed) -> None:
    """What KServe's RawDeployment reconciler makes of an InferenceService's predictor."""
    isvc = placed.obj
    name, ns = _name(isvc), _ns(isvc)
    predictor = _spec(isvc).get("predictor") or {}
    app = f"{name}-predictor"
    containers: list[tuple[str, dict[str, Any]]] = []
    if isinstance(predictor.get("model"), dict):
        containers.append(("model", predictor["model"]))
    for field_name in ("containers", "initContainers"):
        containers += [(f"{field_name}/{i}", c) for i, c in enumerate(predictor.get(field_name) or [])]
    labels = {
        **_labels(isvc),
        **(predictor.get("labels") or {}),
        ISVC_LABEL: name,
        "component": "predictor",
        "app": f"isvc.{app}",
    }
    annotations = {**_annotations(isvc), **(predictor.get("annotations") or {})}
    spec = {k: v for k, v in predictor.items() if k not in _COMPONENT_FIELDS}
    ix.pods.append(Pods(placed, "/spec/predictor", ns, labels, annotations, spec, containers))
    ports = [p for _, c in containers[:1] for p in c.get("ports") or [] if isinstance(p, dict)]
    svc_ports = [
        {"name": p.get("name"), "port": 80 if i == 0 else p.get("containerPort"), "targetPort": p.get("containerPort")}
        for i, p in enumerate(ports)
    ] or [{"name": "http", "port": 80, "targetPort": 8080}]
    ix.synth[("", "Service", ns, app)] = Synth(placed, {"selector": {"app": f"isvc.{app}"}, "ports": svc_ports})
    ix.synth[("apps", "Deployment", ns, app)] = Synth(placed, {"selector": {"matchLabels": {"app": f"isvc.{app}"}}})


# ------------------------------------------------------------------ selectors and lookups


def matches(selector: dict[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels + matchExpressions); empty selects everything."""
    selector = selector or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and present and labels[key] in values)
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return True


def _map_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A plain map selector (Service, Istio `matchLabels`); an empty one selects nothing here."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _selected(ix: Index, ns: str, selector: Mapping[str, str]) -> list[Pods]:
    if not selector:
        return []
    return [p for p in _candidates(ix, ns, selector) if _map_matches(selector, p.labels)]


def _candidates(ix: Index, ns: str, match_labels: Any) -> list[Pods]:
    """The pods of `ns` that can match a selector requiring the labels `match_labels`, in
    their order in `ix.pods_in`: those carrying its first label, when it has one (a
    selector scanned against every pod of a namespace made the link stage quadratic: 27 s
    per environment at N=1,000 models sharing a few team namespaces); else every pod."""
    if isinstance(match_labels, dict) and match_labels:
        k, v = next(iter(match_labels.items()))
        if v is not None:  # `labels.get(k) == None` also holds for a pod without the label
            try:
                return ix.pods_labelled.get((ns, k, v), [])
            except TypeError:  # unhashable: no label value equals it
                pass
    return ix.pods_in.get(ns, [])


def _match_labels(selector: Any) -> Any:
    return selector.get("matchLabels") if isinstance(selector, dict) else None


def _services(ix: Index) -> Iterator[tuple[str, str, dict[str, Any], Placed | None]]:
    """(namespace, name, spec, the rendered object or None for KServe's) of every Service."""
    for (ns, name), (spec, placed) in ix.services.items():
        yield ns, name, spec, placed


def _service(ix: Index, ns: str, name: str) -> dict[str, Any] | None:
    found = ix.services.get((ns, name))
    return found[0] if found is not None else None


def _show(selector: Any) -> str:
    if not selector:
        return "{}"
    if isinstance(selector, dict) and ("matchLabels" in selector or "matchExpressions" in selector):
        parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
        parts += [
            f"{e.get('key')} {e.get('operator')} ({', '.join(map(str, e.get('values') or []))})"
            for e in selector.get("matchExpressions") or []
        ]
        return ", ".join(parts)
    return ", ".join(f"{k}={v}" for k, v in sorted(selector.items()))


def _as_int(port: Any) -> int | None:
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    return None


def _pod_port(pods: Pods, name: Any) -> int | None:
    """A port the pods' own containers declare under this name (a Service's or NetworkPolicy's
    named port resolves against the pod's containers)."""
    return next((value for port, value in pods.ports() if port == name), None)


def _kind_name(placed: Placed) -> str:
    return f"{placed.obj.get('kind')} '{_name(placed.obj)}'"


def _cause(placed: Placed) -> str | None:
    component = _labels(placed.obj).get("app.kubernetes.io/component")
    if component is None:
        return None
    return _CAUSE_BY_COMPONENT.get("serving" if component.startswith("serving-") else component)


def _finding(
    code: str, placed: Placed, pointer: str, message: str, hint: str, cause: str | None = None, subject: str = ""
) -> Finding:
    return Finding(code, placed.path, pointer, message, hint, placed.model, cause, subject or None, _ns(placed.obj))


# ------------------------------------------------------------------ M830 references

Check = Callable[[Index], Iterator[Finding]]


def check_namespaces(ix: Index) -> Iterator[Finding]:
    for placed in ix.inp.objects:
        ns = _ns(placed.obj)
        if ns and not ix.namespace_exists(ns):
            yield _finding(
                "M830",
                placed,
                "/metadata/namespace",
                f"namespace '{ns}' is neither rendered in the platform layer nor provided",
                "list it in `provided.namespaces` in config/platform.yaml, or let the platform layer render it",
                _cause(placed),
                ns,
            )


def check_pod_references(ix: Index) -> Iterator[Finding]:
    for pods in ix.pods:
        yield from _pod_references(ix, pods)


def _pod_references(ix: Index, pods: Pods) -> Iterator[Finding]:
    ns, spec, at, cause = pods.namespace, pods.spec, pods.pointer, _cause(pods.owner)
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if sa and (ns, sa) not in ix.service_accounts:
        yield _finding(
            "M830",
            pods.owner,
            f"{at}/serviceAccountName",
            f"ServiceAccount '{sa}' does not exist in namespace '{ns}'",
            "render it with the model, or list it in `provided.service_accounts`",
            cause,
            sa,
        )
    pc = spec.get("priorityClassName")
    if pc and pc not in ix.priority_classes:
        yield _finding(
            "M830",
            pods.owner,
            f"{at}/priorityClassName",
            f"PriorityClass '{pc}' is neither rendered in the platform layer nor provided",
            "define it under `priority_classes` in config/platform.yaml (the platform layer renders it), or list "
            "it in `provided.priority_classes`",
            cause,
            pc,
        )
    for i, ref in enumerate(spec.get("imagePullSecrets") or []):
        yield from _secret_ref(ix, pods, f"{at}/imagePullSecrets/{i}/name", ref.get("name"), None, cause)
    for i, vol in enumerate(spec.get("volumes") or []):
        vptr = f"{at}/volumes/{i}"
        if isinstance(vol.get("secret"), dict) and not vol["secret"].get("optional"):
            yield from _secret_ref(ix, pods, f"{vptr}/secret/secretName", vol["secret"].get("secretName"), None, cause)
        if isinstance(vol.get("configMap"), dict) and not vol["configMap"].get("optional"):
            yield from _config_map_ref(ix, pods, f"{vptr}/configMap/name", vol["configMap"].get("name"), cause)
        for j, src in enumerate((vol.get("projected") or {}).get("sources") or []):
            sptr = f"{vptr}/projected/sources/{j}"
            if isinstance(src.get("secret"), dict) and not src["secret"].get("optional"):
                yield from _secret_ref(ix, pods, f"{sptr}/secret/name", src["secret"].get("name"), None, cause)
            if isinstance(src.get("configMap"), dict) and not src["configMap"].get("optional"):
                yield from _config_map_ref(ix, pods, f"{sptr}/configMap/name", src["configMap"].get("name"), cause)
    for cptr, c in pods.containers:
        yield from _env_references(ix, pods, f"{at}/{cptr}", c, cause)


def _env_references(ix: Index, pods: Pods, at: str, container: dict[str, Any], cause: str | None) -> Iterator[Finding]:
    for i, env in enumerate(container.get("env") or []):
        source = env.get("valueFrom") or {}
        ref = source.get("secretKeyRef")
        if isinstance(ref, dict) and not ref.get("optional"):
            yield from _secret_ref(
                ix, pods, f"{at}/env/{i}/valueFrom/secretKeyRef", ref.get("name"), ref.get("key"), cause
            )
        ref = source.get("configMapKeyRef")
        if isinstance(ref, dict) and not ref.get("optional"):
            yield from _config_map_ref(ix, pods, f"{at}/env/{i}/valueFrom/configMapKeyRef/name", ref.get("name"), cause)
    for i, env in enumerate(container.get("envFrom") or []):
        if isinstance(env.get("secretRef"), dict) and not env["secretRef"].get("optional"):
            yield from _secret_ref(
                ix, pods, f"{at}/envFrom/{i}/secretRef/name", env["secretRef"].get("name"), None, cause
            )
        if isinstance(env.get("configMapRef"), dict) and not env["configMapRef"].get("optional"):
            yield from _config_map_ref(
                ix, pods, f"{at}/envFrom/{i}/configMapRef/name", env["configMapRef"].get("name"), cause
            )


def _secret_ref(
    ix: Index, pods: Pods, pointer: str, name: str | None, key: str | None, cause: str | None
) -> Iterator[Finding]:
    """`pointer` is the reference (a secretKeyRef object, or the name field itself)."""
    if not name:
        return
    name_ptr = f"{pointer}/name" if pointer.endswith("secretKeyRef") else pointer
    if (pods.namespace, name) not in ix.secrets:
        yield _finding(
            "M830",
            pods.owner,
            name_ptr,
            f"Secret '{name}' is provided by nothing in namespace '{pods.namespace}' (no Vault or External Secrets "
            "sync renders it, and it is not provided)",
            "sync it from Vault (spec `secrets`; the tuning database: config `tuning.storage_secret`), or list it "
            "in `provided.secrets` in config/platform.yaml",
            cause,
            name,
        )
        return
    keys = ix.secrets[(pods.namespace, name)]
    if key is not None and keys is not None and key not in keys:
        yield _finding(
            "M830",
            pods.owner,
            f"{pointer}/key",
            f"Secret '{name}' has no key '{key}' (it is synced with the keys {', '.join(sorted(keys))})",
            "map the key in the spec's `secrets[].env`",
            cause,
            key,
        )


def _config_map_ref(ix: Index, pods: Pods, pointer: str, name: str | None, cause: str | None) -> Iterator[Finding]:
    if not name or (pods.namespace, name) in ix.config_maps:
        return
    if name in MESH_CONFIGMAPS and ix.meshed(pods):
        return
    yield _finding(
        "M830",
        pods.owner,
        pointer,
        f"ConfigMap '{name}' does not exist in namespace '{pods.namespace}'",
        "render it with the model, or list it in `provided.config_maps`",
        cause,
        name,
    )


def check_rollout_references(ix: Index) -> Iterator[Finding]:
    for placed in ix.of_kind("argoproj.io", "Rollout"):
        ns, spec, cause = _ns(placed.obj), _spec(placed.obj), _cause(placed)
        ref = spec.get("workloadRef")
        if isinstance(ref, dict) and _target(ix, ns, ref) is None:
            yield _finding(
                "M830",
                placed,
                "/spec/workloadRef",
                f"workloadRef {ref.get('kind')} '{ref.get('name')}' does not exist",
                "reference the Deployment the Rollout adopts (KServe's: `<isvc>-predictor`)",
                cause,
                str(ref.get("name")),
            )
        for sname, body in (spec.get("strategy") or {}).items():
            if not isinstance(body, dict):
                continue
            base = f"/spec/strategy/{sname}"
            for key in ("activeService", "previewService", "canaryService", "stableService"):
                if body.get(key) and _service(ix, ns, body[key]) is None:
                    yield _finding(
                        "M830",
                        placed,
                        f"{base}/{key}",
                        f"Service '{body[key]}' does not exist",
                        "render the Service the Rollout switches",
                        cause,
                        body[key],
                    )
            for where, analysis in _analyses(base, body):
                for i, t in enumerate(analysis.get("templates") or []):
                    tname = t.get("templateName")
                    if (
                        tname
                        and not t.get("clusterScope")
                        and ix.get("argoproj.io", "AnalysisTemplate", ns, tname) is None
                    ):
                        yield _finding(
                            "M830",
                            placed,
                            f"{where}/templates/{i}/templateName",
                            f"AnalysisTemplate '{tname}' does not exist",
                            "render the template",
                            cause,
                            tname,
                        )
            istio = ((body.get("trafficRouting") or {}).get("istio")) or {}
            yield from _rollout_istio(ix, placed, ns, f"{base}/trafficRouting/istio", istio, cause)


def _analyses(base: str, body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for key in ("analysis", "prePromotionAnalysis", "postPromotionAnalysis"):
        if isinstance(body.get(key), dict):
            yield f"{base}/{key}", body[key]
    for i, step in enumerate(body.get("steps") or []):
        if isinstance(step, dict) and isinstance(step.get("analysis"), dict):
            yield f"{base}/steps/{i}/analysis", step["analysis"]


def _rollout_istio(
    ix: Index, placed: Placed, ns: str, at: str, istio: dict[str, Any], cause: str | None
) -> Iterator[Finding]:
    vss = [(f"{at}/virtualServices/{i}", vs) for i, vs in enumerate(istio.get("virtualServices") or [])]
    if isinstance(istio.get("virtualService"), dict):
        vss.append((f"{at}/virtualService", istio["virtualService"]))
    for where, vs in vss:
        name = vs.get("name", "")
        target = ix.get("networking.istio.io", "VirtualService", ns, name)
        if target is None:
            yield _finding(
                "M830",
                placed,
                f"{where}/name",
                f"VirtualService '{name}' does not exist",
                "render the VirtualService the Rollout shifts weights in",
                cause,
                name,
            )
            continue
        routes = {r.get("name") for r in _spec(target.obj).get("http") or []}
        for j, route in enumerate(vs.get("routes") or []):
            if route not in routes:
                yield _finding(
                    "M830",
                    placed,
                    f"{where}/routes/{j}",
                    f"VirtualService '{name}' has no HTTP route named '{route}'",
                    "name the route in the VirtualService",
                    cause,
                    route,
                )
    dr = istio.get("destinationRule")
    if isinstance(dr, dict):
        target = ix.get("networking.istio.io", "DestinationRule", ns, dr.get("name", ""))
        if target is None:
            yield _finding(
                "M830",
                placed,
                f"{at}/destinationRule/name",
                f"DestinationRule '{dr.get('name')}' does not exist",
                "render the DestinationRule with the canary and stable subsets",
                cause,
                str(dr.get("name")),
            )
            return
        subsets = {s.get("name") for s in _spec(target.obj).get("subsets") or []}
        for key in ("canarySubsetName", "stableSubsetName"):
            if dr.get(key) and dr[key] not in subsets:
                yield _finding(
                    "M830",
                    placed,
                    f"{at}/destinationRule/{key}",
                    f"DestinationRule '{dr.get('name')}' has no subset '{dr[key]}'",
                    "define the subset",
                    cause,
                    dr[key],
                )


def check_rbac_references(ix: Index) -> Iterator[Finding]:
    for placed in ix.of_kind("rbac.authorization.k8s.io", "RoleBinding"):
        ns, res = _ns(placed.obj), placed.obj
        role = res.get("roleRef") or {}
        if role.get("kind") == "Role" and ix.get("rbac.authorization.k8s.io", "Role", ns, role.get("name", "")) is None:
            yield _finding(
                "M830",
                placed,
                "/roleRef/name",
                f"Role '{role.get('name')}' does not exist",
                "render the Role",
                _cause(placed),
                str(role.get("name")),
            )
        for i, subject in enumerate(res.get("subjects") or []):
            key = (subject.get("namespace") or ns, subject.get("name", ""))
            if (
                subject.get("kind") == "ServiceAccount"
                and ix.namespace_exists(key[0])
                and key not in ix.service_accounts
            ):
                yield _finding(
                    "M830",
                    placed,
                    f"/subjects/{i}/name",
                    f"ServiceAccount '{key[1]}' does not exist in namespace '{key[0]}'",
                    "render the ServiceAccount",
                    _cause(placed),
                    key[1],
                )


def check_vault_references(ix: Index) -> Iterator[Finding]:
    for placed in ix.inp.objects:
        res = placed.obj
        if group_of(res) != "secrets.hashicorp.com":
            continue
        ns, spec = _ns(res), _spec(res)
        ref = spec.get("vaultAuthRef")
        if ref and "/" not in ref and ix.get("secrets.hashicorp.com", "VaultAuth", ns, ref) is None:
            yield _finding(
                "M830",
                placed,
                "/spec/vaultAuthRef",
                f"VaultAuth '{ref}' does not exist",
                "render the VaultAuth",
                _cause(placed),
                ref,
            )
        sa = (spec.get("kubernetes") or {}).get("serviceAccount")
        if res.get("kind") == "VaultAuth" and sa and (ns, sa) not in ix.service_accounts:
            yield _finding(
                "M830",
                placed,
                "/spec/kubernetes/serviceAccount",
                f"ServiceAccount '{sa}' does not exist in namespace '{ns}'",
                "render the ServiceAccount",
                _cause(placed),
                sa,
            )


def check_trainer_references(ix: Index) -> Iterator[Finding]:
    """A TrainJob's runtime (Kubeflow Trainer v2) and the secrets its trainer env reads."""
    for placed in ix.of_kind("trainer.kubeflow.org", "TrainJob"):
        ns, spec, cause = _ns(placed.obj), _spec(placed.obj), _cause(placed)
        ref = spec.get("runtimeRef") or {}
        kind, name = ref.get("kind", "ClusterTrainingRuntime"), ref.get("name", "")
        exists = (
            name in ix.inp.provided.cluster_training_runtimes
            or ix.get("trainer.kubeflow.org", kind, "" if kind == "ClusterTrainingRuntime" else ns, name) is not None
        )
        if not exists:
            yield _finding(
                "M830",
                placed,
                "/spec/runtimeRef/name",
                f"{kind} '{name}' is neither rendered nor provided",
                "list the runtime in `provided.cluster_training_runtimes` (Kubeflow Trainer installs its own)",
                cause,
                name,
            )
        trainer = spec.get("trainer")
        if isinstance(trainer, dict):
            pods = Pods(placed, "/spec", ns, {}, {}, {}, [("trainer", trainer)])
            yield from _env_references(ix, pods, "/spec/trainer", trainer, cause)


# ------------------------------------------------------------------ M831 selectors


def check_service_selectors(ix: Index) -> Iterator[Finding]:
    for placed in ix.of_kind("", "Service"):
        sel = _spec(placed.obj).get("selector")
        if sel and not _selected(ix, _ns(placed.obj), sel):
            yield _finding(
                "M831",
                placed,
                "/spec/selector",
                f"Service '{_name(placed.obj)}' selects no rendered pod template ({_show(sel)})",
                "select the labels of the pods it fronts (KServe's: serving.kserve.io/inferenceservice)",
                _cause(placed),
            )


def check_pdb_selectors(ix: Index) -> Iterator[Finding]:
    for placed in ix.of_kind("policy", "PodDisruptionBudget"):
        sel = _spec(placed.obj).get("selector") or {}
        if not [p for p in _candidates(ix, _ns(placed.obj), _match_labels(sel)) if sel and matches(sel, p.labels)]:
            yield _finding(
                "M831",
                placed,
                "/spec/selector",
                f"PodDisruptionBudget '{_name(placed.obj)}' selects no rendered pod template ({_show(sel)})",
                "select the labels of the pods it protects",
                _cause(placed),
            )


def check_network_policy_selectors(ix: Index) -> Iterator[Finding]:
    for placed in ix.of_kind("networking.k8s.io", "NetworkPolicy"):
        sel = _spec(placed.obj).get("podSelector") or {}
        if sel and not [p for p in _candidates(ix, _ns(placed.obj), _match_labels(sel)) if matches(sel, p.labels)]:
            yield _finding(
                "M831",
                placed,
                "/spec/podSelector",
                f"NetworkPolicy '{_name(placed.obj)}' selects no rendered pod template ({_show(sel)})",
                "select the labels of the pods it protects",
                _cause(placed),
            )


def check_istio_policy_selectors(ix: Index) -> Iterator[Finding]:
    for kind in ("PeerAuthentication", "AuthorizationPolicy"):
        for placed in ix.of_kind("security.istio.io", kind):
            sel = (_spec(placed.obj).get("selector") or {}).get("matchLabels")
            if sel and not _selected(ix, _ns(placed.obj), sel):
                yield _finding(
                    "M831",
                    placed,
                    "/spec/selector/matchLabels",
                    f"{kind} '{_name(placed.obj)}' selects no rendered pod template ({_show(sel)})",
                    "select the labels of the pods it protects",
                    _cause(placed),
                )


def _monitor_namespaces(placed: Placed) -> tuple[str, ...] | None:
    """The namespaces a Prometheus Operator monitor looks in (its own by default); None = any."""
    sel = _spec(placed.obj).get("namespaceSelector") or {}
    if sel.get("any"):
        return None
    return tuple(sel.get("matchNames") or [_ns(placed.obj)])


def _monitor_pods(ix: Index, placed: Placed) -> list[Pods]:
    spaces, sel = _monitor_namespaces(placed), _spec(placed.obj).get("selector") or {}
    wanted = _match_labels(sel)
    candidates = ix.pods if spaces is None else [p for ns in spaces for p in _candidates(ix, ns, wanted)]
    return [p for p in candidates if matches(sel, p.labels)]


def _monitor_services(ix: Index, placed: Placed) -> list[tuple[str, str, dict[str, Any]]]:
    spaces, sel = _monitor_namespaces(placed), _spec(placed.obj).get("selector") or {}
    return [
        (ns, name, spec)
        for ns, name, spec, svc in _services(ix)
        if svc is not None and (spaces is None or ns in spaces) and matches(sel, _labels(svc.obj))
    ]


def check_monitor_selectors(ix: Index) -> Iterator[Finding]:
    for kind, found, what in (
        ("PodMonitor", _monitor_pods, "rendered pod template"),
        ("ServiceMonitor", _monitor_services, "Service"),
    ):
        for placed in ix.of_kind("monitoring.coreos.com", kind):
            if not found(ix, placed):
                yield _finding(
                    "M831",
                    placed,
                    "/spec/selector",
                    f"{kind} '{_name(placed.obj)}' selects no {what} ({_show(_spec(placed.obj).get('selector'))})",
                    f"select the labels of the {what}s to scrape",
                    _cause(placed),
                )


def check_subset_selectors(ix: Index) -> Iterator[Finding]:
    for placed in ix.of_kind("networking.istio.io", "DestinationRule"):
        ns, spec = _ns(placed.obj), _spec(placed.obj)
        host = str(spec.get("host", ""))
        svc = _host_service(ix, ns, host)
        if svc is None:
            if _local_host(host):
                yield _finding(
                    "M838",
                    placed,
                    "/spec/host",
                    f"DestinationRule host '{host}' is not a Service",
                    "name the Service the subsets belong to (KServe's: `<isvc>-predictor`)",
                    _cause(placed),
                    host,
                )
            continue
        base = _selected(ix, ns, svc.get("selector") or {})
        for i, subset in enumerate(spec.get("subsets") or []):
            labels = subset.get("labels") or {}
            if labels and not [p for p in base if all(p.labels.get(k) == v for k, v in labels.items())]:
                yield _finding(
                    "M831",
                    placed,
                    f"/spec/subsets/{i}/labels",
                    f"subset '{subset.get('name')}' selects no pod of Service '{host}' ({_show(labels)})",
                    "use labels the Service's pods carry",
                    _cause(placed),
                )


# ------------------------------------------------------------------ M832, M833 scraping and the mesh


@dataclass(frozen=True)
class Scrape:
    monitor: Placed
    pointer: str  # of the endpoint in the monitor
    pods: Pods
    port: Any  # as the endpoint names it on the pods (name or number); None: no such Service port
    endpoint: dict[str, Any]
    target: int | None  # the port Prometheus finally connects to, after the endpoint's relabelings


def _scrapes(ix: Index) -> Iterator[Scrape]:
    for placed in ix.of_kind("monitoring.coreos.com", "PodMonitor"):
        for i, ep in enumerate(_spec(placed.obj).get("podMetricsEndpoints") or []):
            port = ep.get("port", ep.get("portNumber", ep.get("targetPort")))
            for pods in _monitor_pods(ix, placed):
                yield Scrape(placed, f"/spec/podMetricsEndpoints/{i}", pods, port, ep, _target_port(ix, pods, port, ep))
    for placed in ix.of_kind("monitoring.coreos.com", "ServiceMonitor"):
        for i, ep in enumerate(_spec(placed.obj).get("endpoints") or []):
            for ns, _, svc in _monitor_services(ix, placed):
                port = ep.get("targetPort")
                if ep.get("port") is not None:
                    named = [p for p in svc.get("ports") or [] if p.get("name") == ep["port"]]
                    port = named[0].get("targetPort", named[0].get("port")) if named else None
                for pods in _selected(ix, ns, svc.get("selector") or {}):
                    yield Scrape(placed, f"/spec/endpoints/{i}", pods, port, ep, _target_port(ix, pods, port, ep))


def _target_port(ix: Index, pods: Pods, port: Any, ep: dict[str, Any]) -> int | None:
    """The port scraped in the end: the endpoint's, unless a relabeling moves `__address__` to
    the pod's prometheus.io/port, which a sidecar's injection points at the merged metrics."""
    for rule in ep.get("relabelings") or []:
        if rule.get("targetLabel") == "__address__" and PORT_ANNOTATION_LABEL in (rule.get("sourceLabels") or []):
            if ix.mesh_of(pods) == "sidecar":
                return MERGED_METRICS_PORT
            annotated = _as_int(pods.annotations.get(PORT_ANNOTATION))
            if annotated is not None:
                return annotated
    if port is None:
        return None
    resolved = ix.resolve_port(pods, port)
    return resolved if resolved is not None else _as_int(port)


def check_scrape_ports(ix: Index) -> Iterator[Finding]:
    for s in ix.scrapes():
        if s.port is None:
            yield _finding(
                "M832",
                s.monitor,
                f"{s.pointer}/port",
                f"endpoint port '{s.endpoint.get('port')}' is not a port of the selected Service",
                "name a port of the Service",
                "/spec/monitoring",
                str(s.endpoint.get("port")),
            )
        elif ix.resolve_port(s.pods, s.port) is None and not (
            ix.mesh_of(s.pods) == "sidecar" and _as_int(s.port) in SIDECAR_PLAIN_PORTS
        ):
            yield _finding(
                "M832",
                s.monitor,
                s.pointer,
                f"port {s.port!r} is not a container port of the pods of {s.pods.describe()}",
                "scrape a port the model server declares and serves (KServe runtimes: their "
                "`prometheus.kserve.io/port`)",
                "/spec/monitoring",
                str(s.port),
            )


def _mtls_mode(ix: Index, pods: Pods, port: int) -> str:
    """The PeerAuthentication mode for a port of these pods: a workload policy over the
    namespace's, a port-level mode over the workload's (Istio's precedence; the mesh-wide
    default in the root namespace is taken as PERMISSIVE, Istio's default)."""
    mode, workload = "PERMISSIVE", None
    for placed in ix.in_namespace("security.istio.io", "PeerAuthentication", pods.namespace):
        spec = _spec(placed.obj)
        sel = (spec.get("selector") or {}).get("matchLabels")
        if not sel:
            mode = (spec.get("mtls") or {}).get("mode") or mode
        elif _map_matches(sel, pods.labels):
            workload = spec
    if workload is not None:
        mode = (workload.get("mtls") or {}).get("mode") or mode
        levels = workload.get("portLevelMtls") or {}
        level = next((v for k, v in levels.items() if str(k) == str(port)), None)  # YAML keys: int or str
        if isinstance(level, dict) and level.get("mode"):
            mode = level["mode"]
    return str(mode)


def _istio_tls(ep: dict[str, Any]) -> bool:
    """A scrape with Istio's workload certificates (Istio's secure-metrics setup)."""
    tls = ep.get("tlsConfig") or {}
    return ep.get("scheme") == "https" and bool(tls.get("certFile") or tls.get("cert"))


def check_scrape_mtls(ix: Index) -> Iterator[Finding]:
    for s in ix.scrapes():
        number = s.target
        if number is None or number in SIDECAR_PLAIN_PORTS or not ix.meshed(s.pods) or _istio_tls(s.endpoint):
            continue
        if _mtls_mode(ix, s.pods, number) == "STRICT":
            yield _finding(
                "M833",
                s.monitor,
                s.pointer,
                f"port {number} of the pods of {s.pods.describe()} is behind STRICT mTLS, which refuses the "
                f"plain-text scrape of a Prometheus outside the mesh",
                "scrape the sidecar's merged metrics (port 15020, path /stats/prometheus, with the app's port in "
                "prometheus.io/port), open the port with portLevelMtls PERMISSIVE, or scrape with Istio's "
                "workload certificates (scheme https + tlsConfig)",
                "/spec/monitoring",
                str(number),
            )


def check_policies_without_sidecar(ix: Index) -> Iterator[Finding]:
    served = {id(p) for ns, _, svc, _ in _services(ix) for p in _selected(ix, ns, svc.get("selector") or {})}
    for kind in ("PeerAuthentication", "AuthorizationPolicy"):
        for placed in ix.of_kind("security.istio.io", kind):
            sel = (_spec(placed.obj).get("selector") or {}).get("matchLabels") or {}
            pods_ = _selected(ix, _ns(placed.obj), sel) if sel else ix.pods_in.get(_ns(placed.obj), [])
            for pods in pods_:
                if id(pods) in served and not ix.meshed(pods):
                    yield _finding(
                        "M833",
                        placed,
                        "/spec/selector",
                        f"{kind} '{_name(placed.obj)}' applies to the pods of {pods.describe()}, which are not in "
                        "the mesh: it has no effect on them",
                        "label the namespace for injection (config `mesh`), or keep the pods' sidecar",
                        _cause(placed),
                    )


# ------------------------------------------------------------------ M834 storage


def _handled(ix: Index, uri: str) -> bool:
    for how, value in ix.uri_formats:
        if (how == "prefix" and uri.startswith(value)) or (how == "regex" and re.search(value, uri)):
            return True
    return False


def check_storage(ix: Index) -> Iterator[Finding]:
    for placed in ix.of_kind("serving.kserve.io", "InferenceService"):
        spec = _spec(placed.obj)
        for component in ("predictor", "transformer", "explainer"):
            body = spec.get(component) or {}
            uris = [(f"/spec/{component}/storageUri", body.get("storageUri"))]
            uris += [
                (f"/spec/{component}/{_escape(k)}/storageUri", v.get("storageUri"))
                for k, v in body.items()
                if isinstance(v, dict)
            ]
            for pointer, uri in uris:
                if isinstance(uri, str) and uri and not _handled(ix, uri):
                    yield _finding(
                        "M834",
                        placed,
                        pointer,
                        f"no storage initializer handles '{uri}': KServe takes it for a local path and the init "
                        "container fails ('Cannot recognize storage type')",
                        "let the platform layer render its ClusterStorageContainer (it does for models:/), or list "
                        "the prefix in `provided.storage_uri_prefixes`",
                        "/spec/registry",
                        uri,
                    )


# ------------------------------------------------------------------ M835, M836 autoscaling


def _target(ix: Index, ns: str, ref: dict[str, Any]) -> Placed | Synth | None:
    api = str(ref.get("apiVersion", "apps/v1"))
    key = (api.rpartition("/")[0], str(ref.get("kind", "Deployment")), ns, str(ref.get("name", "")))
    return ix.by_key.get(key) or ix.synth.get(key)


def _autoscalers(ix: Index) -> Iterator[tuple[Placed, dict[str, Any]]]:
    for group, kind in (("autoscaling", "HorizontalPodAutoscaler"), ("keda.sh", "ScaledObject")):
        for placed in ix.of_kind(group, kind):
            yield placed, _spec(placed.obj).get("scaleTargetRef") or {}


def _key(ns: str, ref: dict[str, Any]) -> tuple[str, str, str, str]:
    api = str(ref.get("apiVersion", "apps/v1"))
    return api.rpartition("/")[0], str(ref.get("kind", "Deployment")), ns, str(ref.get("name", ""))


def check_autoscalers(ix: Index) -> Iterator[Finding]:
    for placed, ref in _autoscalers(ix):
        if _target(ix, _ns(placed.obj), ref) is None:
            yield _finding(
                "M835",
                placed,
                "/spec/scaleTargetRef",
                f"{ref.get('kind', 'Deployment')} '{ref.get('name')}' does not exist",
                "target the workload that serves the model (KServe's: `<isvc>-predictor`)",
                "/spec/serving",
                str(ref.get("name")),
            )


def check_replicas(ix: Index) -> Iterator[Finding]:
    owners: dict[tuple[str, str, str, str], list[Placed]] = {}
    for placed, ref in _autoscalers(ix):
        owners.setdefault(_key(_ns(placed.obj), ref), []).append(placed)
    adopted: dict[tuple[str, str, str, str], Placed] = {}  # Deployment -> the Rollout adopting it (workloadRef)
    for rollout in ix.of_kind("argoproj.io", "Rollout"):
        adopter = _spec(rollout.obj).get("workloadRef")
        if isinstance(adopter, dict):
            adopted[_key(_ns(rollout.obj), adopter)] = rollout
    for key, scalers in sorted(owners.items()):
        first, label = scalers[0], f"{key[1]} '{key[3]}'"
        if len(scalers) > 1:
            for other in scalers[1:]:
                yield _finding(
                    "M836",
                    other,
                    "/spec/scaleTargetRef",
                    f"{label} is scaled by {' and '.join(_kind_name(s) for s in scalers)}: they fight over its replicas",
                    "keep one autoscaler per workload",
                    "/spec/serving",
                )
        target = ix.by_key.get(key) or ix.synth.get(key)
        if isinstance(target, Placed) and "replicas" in _spec(target.obj):
            yield _finding(
                "M836",
                first,
                "/spec/scaleTargetRef",
                f"{label} sets spec.replicas ({_spec(target.obj)['replicas']}) and {_kind_name(first)} scales it: with "
                "self-heal Argo CD sets every scale back to the manifest",
                f"leave spec.replicas out of {target.path.rsplit('/', 1)[-1]}: the autoscaler's minimum is the floor",
                "/spec/serving/replicas/min",
            )
        if key in adopted:
            yield _finding(
                "M836",
                first,
                "/spec/scaleTargetRef",
                f"{label} is adopted by Rollout '{_name(adopted[key].obj)}' (workloadRef), which sets its replicas; "
                f"{_kind_name(first)} scales it too",
                "scale the Rollout instead",
                "/spec/serving",
            )
        if isinstance(target, Synth):
            cls = _annotations(target.owner.obj).get(AUTOSCALER_CLASS, "hpa")
            if cls != "external":
                yield _finding(
                    "M836",
                    first,
                    "/spec/scaleTargetRef",
                    f"{label} is scaled by KServe (autoscalerClass '{cls}') and by {_kind_name(first)}",
                    "set the InferenceService's serving.kserve.io/autoscalerClass: external",
                    "/spec/serving",
                )
    for placed in ix.of_kind("serving.kserve.io", "InferenceService"):
        if _annotations(placed.obj).get(AUTOSCALER_CLASS) != "external":
            continue
        ns, deployment = _ns(placed.obj), f"{_name(placed.obj)}-predictor"
        key = ("apps", "Deployment", ns, deployment)
        by = adopted.get(key)
        if key not in owners and (by is None or ("argoproj.io", "Rollout", ns, _name(by.obj)) not in owners):
            yield _finding(
                "M836",
                placed,
                f"/metadata/annotations/{_escape(AUTOSCALER_CLASS)}",
                f"InferenceService '{_name(placed.obj)}' leaves its replicas to an external autoscaler and nothing "
                f"scales Deployment '{deployment}': it runs one replica, whatever minReplicas says",
                "render an HPA or KEDA ScaledObject for it",
                "/spec/serving/abTest"
                if _labels(placed.obj).get("app.kubernetes.io/component", "").startswith("serving-")
                else "/spec/serving",
            )


# ------------------------------------------------------------------ M837 one-shot jobs


def check_one_shot(ix: Index) -> Iterator[Finding]:
    for placed in ix.inp.objects:
        res = placed.obj
        if (group_of(res), res.get("kind")) not in ONE_SHOT_KINDS:
            continue
        annotations = _annotations(res)
        if HOOK in annotations:
            continue
        launcher = annotations.get(LAUNCHED_BY)
        if launcher is not None:
            kind, _, name = launcher.partition("/")
            if kind == "ConfigMap":
                dag = ix.get("", kind, _ns(res), name)
                key, folder = PIPELINE_ARTIFACT
                if dag is not None and _annotations(dag.obj).get(key) == folder:
                    continue
            else:
                by = ix.get("batch", kind, _ns(res), name)
                if by is not None and (kind == "CronJob" or HOOK in _annotations(by.obj)):
                    continue
            message = (
                f"{res.get('kind')} '{_name(res)}' is launched by {launcher}, which is neither a rendered hook Job, "
                "a CronJob nor a pipeline's DAG"
            )
        else:
            message = (
                f"{res.get('kind')} '{_name(res)}' is a plain synced object: once its TTL deletes it Argo CD creates "
                "it again (running it again), and a change to its immutable pod template fails the sync"
            )
        yield _finding(
            "M837",
            placed,
            "/metadata/annotations",
            message,
            "make it an Argo CD hook (argocd.argoproj.io/hook, hook-delete-policy BeforeHookCreation) or launch it "
            "from one, or from a CronJob",
            _cause(placed),
        )


# ------------------------------------------------------------------ M838 routes


def _local_host(host: str) -> bool:
    """A host that names a Service of the cluster (short, <svc>.<ns>, or ...svc[.cluster.local])."""
    return bool(host) and (host.count(".") <= 1 or host.endswith((".svc", ".svc.cluster.local")))


def _host_service(ix: Index, ns: str, host: str) -> dict[str, Any] | None:
    if not _local_host(host):
        return None
    parts = host.split(".")
    return _service(ix, parts[1] if len(parts) > 1 else ns, parts[0])


def _subsets(ix: Index, ns: str, host: str) -> set[str]:
    svc = host.split(".")[0]
    return {
        str(s.get("name"))
        for placed in ix.in_namespace("networking.istio.io", "DestinationRule", ns)
        if str(_spec(placed.obj).get("host", "")).split(".")[0] == svc
        for s in _spec(placed.obj).get("subsets") or []
    }


def check_routes(ix: Index) -> Iterator[Finding]:
    for placed in ix.of_kind("networking.istio.io", "VirtualService"):
        ns, spec = _ns(placed.obj), _spec(placed.obj)
        if "mesh" in (spec.get("gateways") or ["mesh"]):
            for i, host in enumerate(spec.get("hosts") or []):
                if _local_host(host) and _host_service(ix, ns, host) is None:
                    yield _finding(
                        "M838",
                        placed,
                        f"/spec/hosts/{i}",
                        f"host '{host}' is not a Service: no client in the mesh ever routes through this VirtualService",
                        "use the Service the clients call",
                        "/spec/serving",
                        host,
                    )
        for proto in ("http", "tcp", "tls"):
            for i, route in enumerate(spec.get(proto) or []):
                for j, dest in enumerate(route.get("route") or []):
                    d = dest.get("destination") or {}
                    host, subset, at = (
                        str(d.get("host", "")),
                        d.get("subset"),
                        f"/spec/{proto}/{i}/route/{j}/destination",
                    )
                    if not _local_host(host):
                        continue
                    if _host_service(ix, ns, host) is None:
                        yield _finding(
                            "M838",
                            placed,
                            f"{at}/host",
                            f"destination host '{host}' is not a Service",
                            "route to a rendered Service (KServe's: `<isvc>-predictor`)",
                            "/spec/serving",
                            host,
                        )
                    elif subset and subset not in _subsets(ix, ns, host):
                        yield _finding(
                            "M838",
                            placed,
                            f"{at}/subset",
                            f"no DestinationRule of host '{host}' defines subset '{subset}'",
                            "define the subset in the host's DestinationRule",
                            "/spec/serving",
                            subset,
                        )


# ------------------------------------------------------------------ M839 NetworkPolicy admission


def _port_in(ports: list[dict[str, Any]] | None, pods: Pods, port: int) -> bool:
    if not ports:
        return True
    for p in ports:
        value = p.get("port")
        if value is None:
            return True
        number = _as_int(value) if _as_int(value) is not None else _pod_port(pods, value)
        end = p.get("endPort")
        if number == port or (number is not None and isinstance(end, int) and number <= port <= end):
            return True
    return False


def _ingress_policies(ix: Index, pods: Pods) -> list[dict[str, Any]]:
    """The specs of the ingress NetworkPolicies selecting `pods`, in their order; computed for
    every pod template of the namespace at once (per pod template, it made `_admits` scan
    every policy of the namespace for every pod: quadratic in a shared namespace)."""
    ns = pods.namespace
    if ns not in ix.ingress_cache:
        of: dict[int, list[dict[str, Any]]] = {id(p): [] for p in ix.pods_in.get(ns, [])}
        for placed in ix.in_namespace("networking.k8s.io", "NetworkPolicy", ns):
            spec = _spec(placed.obj)
            if "Ingress" in (spec.get("policyTypes") or ["Ingress"]):
                sel = spec.get("podSelector")
                for p in _candidates(ix, ns, _match_labels(sel)):
                    if matches(sel, p.labels):
                        of[id(p)].append(spec)
        ix.ingress_cache[ns] = of
    found = ix.ingress_cache[ns].get(id(pods))  # the index holds its pods alive: their ids are theirs
    if found is not None:
        return found
    return [  # a pod template not in the index
        spec
        for placed in ix.in_namespace("networking.k8s.io", "NetworkPolicy", ns)
        if "Ingress" in ((spec := _spec(placed.obj)).get("policyTypes") or ["Ingress"])
        and matches(spec.get("podSelector"), pods.labels)
    ]


def _admits(ix: Index, pods: Pods, peer_ns: str, port: int) -> bool:
    """Whether the ingress NetworkPolicies of the pods let a pod of `peer_ns` reach `port`."""
    policies = _ingress_policies(ix, pods)
    if not policies:
        return True  # no policy selects the pods: everything is admitted
    ns_obj = ix.namespaces.get(peer_ns)
    ns_labels = {NAMESPACE_NAME_LABEL: peer_ns, **(_labels(ns_obj) if ns_obj is not None else {})}
    for spec in policies:
        for rule in spec.get("ingress") or []:
            if not _port_in(rule.get("ports"), pods, port):
                continue
            peers = rule.get("from")
            if not peers:
                return True
            for peer in peers:
                if "ipBlock" in peer:
                    return True
                if "namespaceSelector" in peer and matches(peer["namespaceSelector"], ns_labels):
                    return True  # any pod selector beside it is about pods this stage cannot see
                if "namespaceSelector" not in peer and peer_ns == pods.namespace and not peer.get("podSelector"):
                    return True
    return False


def check_ingress(ix: Index) -> Iterator[Finding]:
    monitoring = ix.inp.monitoring_namespace
    seen: set[tuple[int, int, str]] = set()
    for s in ix.scrapes():
        number = s.target
        if number is None or (id(s.pods), number, monitoring) in seen:
            continue
        seen.add((id(s.pods), number, monitoring))
        if not _admits(ix, s.pods, monitoring, number):
            yield _finding(
                "M839",
                s.pods.owner,
                s.pods.pointer,
                f"no NetworkPolicy admits Prometheus (namespace '{monitoring}') to port {number} of the pods of "
                f"{s.pods.describe()}, which {_kind_name(s.monitor)} scrapes",
                "allow the monitoring namespace on the scrape port",
                "/spec/monitoring",
                monitoring,
            )
    scraped = {(id(s.pods), s.target) for s in ix.scrapes()}
    for ns, name, svc, svc_placed in _services(ix):
        for pods in _selected(ix, ns, svc.get("selector") or {}):
            model = pods.owner.model if svc_placed is None else svc_placed.model
            callers = ix.inp.callers.get(model or "", Callers())
            need = sorted({*callers.namespaces, *([callers.ingress_namespace] if callers.ingress_namespace else [])})
            for port in svc.get("ports") or []:
                target = port.get("targetPort", port.get("port"))
                number = _as_int(target) if _as_int(target) is not None else _pod_port(pods, target)
                if number is None or (id(pods), number) in scraped or str(port.get("name", "")).startswith("metrics"):
                    continue  # a metrics port (scraped, or named so): for Prometheus only
                for caller in need:
                    if (id(pods), number, caller) in seen:
                        continue
                    seen.add((id(pods), number, caller))
                    if not _admits(ix, pods, caller, number):
                        yield _finding(
                            "M839",
                            pods.owner,
                            pods.pointer,
                            f"no NetworkPolicy admits namespace '{caller}' to port {number} of the pods of "
                            f"{pods.describe()} (Service '{name}')",
                            "allow the caller in the model's NetworkPolicy (spec `network.allowFrom`)",
                            "/spec/network",
                            caller,
                        )


# ------------------------------------------------------------------ the stage

# name -> check. A name in DISABLED is skipped: a check that cannot pass on the shipped
# examples until another engineer's fix lands (issue 13), with who fixes what.
CHECKS: dict[str, Check] = {
    "namespaces": check_namespaces,
    "pod-references": check_pod_references,
    "rollout-references": check_rollout_references,
    "rbac-references": check_rbac_references,
    "vault-references": check_vault_references,
    "trainer-references": check_trainer_references,
    "service-selectors": check_service_selectors,
    "disruption-budget-selectors": check_pdb_selectors,
    "network-policy-selectors": check_network_policy_selectors,
    "istio-policy-selectors": check_istio_policy_selectors,
    "monitor-selectors": check_monitor_selectors,
    "subset-selectors": check_subset_selectors,
    "scrape-ports": check_scrape_ports,
    "scrape-mtls": check_scrape_mtls,
    "istio-policies-without-sidecar": check_policies_without_sidecar,
    "storage-uris": check_storage,
    "autoscaler-targets": check_autoscalers,
    "replica-owners": check_replicas,
    "one-shot-jobs": check_one_shot,
    "routes": check_routes,
    "network-admission": check_ingress,
}
DISABLED: dict[str, str] = {}


def link(inp: LinkInput, checks: Iterable[str] | None = None, only: Iterable[str] | None = None) -> list[Finding]:
    """The findings of the enabled checks (or of exactly `checks`), in a stable order; with
    `only`, those on the objects of these namespaces (`inp` then needs no more than the
    objects of `needed(only, ...)`)."""
    ix = build_index(inp)
    out: set[Finding] = set()
    for name in checks if checks is not None else [c for c in CHECKS if c not in DISABLED]:
        out.update(CHECKS[name](ix))
    if only is not None:
        spaces = frozenset(only)
        out = {f for f in out if f.namespace in spaces}
    return ordered(out)


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(set(findings), key=lambda f: (f.path, f.pointer, f.code, f.message))


# ------------------------------------------------------------------ what depends on what
#
# The findings on the objects of a namespace depend on the objects of that namespace, on the
# cluster-scoped ones (Namespaces, PriorityClasses, ClusterStorageContainers, runtimes) and on
# no other namespace's, except through the references below. So a change inside one team's
# namespace is linked again from that namespace's objects alone (pipeline.py keeps the other
# namespaces' findings); test_link.py links every world it builds both ways.


def reads(res: Resource) -> Iterator[tuple[str, str]]:
    """(A, B): the findings on the objects of namespace A depend on those of namespace B,
    because of `res` ("*": every namespace). One case per check that looks into another
    namespace than its subject's; a value of the wrong shape reads nothing more (the schema
    check reports it)."""
    g, kind, ns, spec = group_of(res), res.get("kind"), _ns(res), _spec(res)
    if (g, kind) == ("rbac.authorization.k8s.io", "RoleBinding"):  # check_rbac_references
        for subject in _items(res.get("subjects")):
            if subject.get("namespace"):
                yield ns, str(subject["namespace"])
    elif g == "monitoring.coreos.com" and kind in ("PodMonitor", "ServiceMonitor"):
        # Its selector and scrapes read the pods and Services it watches (check_monitor_selectors,
        # check_scrape_*), and whether their NetworkPolicies admit it is a finding on those pods
        # (check_ingress).
        selector = spec.get("namespaceSelector") or {}
        names = selector.get("matchNames") if isinstance(selector, dict) else None
        if isinstance(selector, dict) and selector.get("any"):
            spaces: list[str] = ["*"]
        elif isinstance(names, list) and names:
            spaces = [str(n) for n in names]
        else:
            spaces = [ns] if isinstance(selector, dict) and not names else ["*"]  # a shape the check may misread
        for other in spaces:
            yield ns, other
            yield other, ns
    elif g == "networking.istio.io" and kind in ("DestinationRule", "VirtualService"):  # _host_service
        hosts = [spec.get("host"), *_list(spec.get("hosts"))]
        for proto in ("http", "tcp", "tls"):
            for route in _items(spec.get(proto)):
                hosts += [
                    dest.get("host")
                    for d in _items(route.get("route"))
                    if isinstance(dest := d.get("destination"), dict)
                ]
        for host in hosts:
            parts = str(host).split(".")
            if isinstance(host, str) and _local_host(host) and len(parts) > 1:
                yield ns, parts[1]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _items(value: Any) -> list[dict[str, Any]]:
    return [v for v in _list(value) if isinstance(v, dict)]


def needed(spaces: Iterable[str], edges: Iterable[tuple[str, str]]) -> frozenset[str] | None:
    """The namespaces whose objects the findings on the objects of `spaces` depend on, given
    every `reads` edge of the environment ("" is the cluster scope); None: every one."""
    wanted = frozenset(spaces)
    out = {"", *wanted}
    for a, b in edges:
        if a == "*" or a in wanted:
            if b == "*":
                return None
            out.add(b)
    return frozenset(out)
