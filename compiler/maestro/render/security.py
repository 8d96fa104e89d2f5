"""security: who the model's pods are, and who may reach them.

- ServiceAccount `<model>` without an automounted token: no pod of the model talks to the
  Kubernetes API (the training launcher, which does, has its own account; see training.py).
- Role + RoleBinding only for ConfigMaps the pods read through the API, by name.
- NetworkPolicy `<model>-default-deny`: no ingress to any pod of the model unless another
  policy allows it; `<model>-train-peers` lets distributed training pods reach each other.
- For a served model: NetworkPolicy `<model>-egress` (what its model servers may connect to,
  below), `<model>-allow` (L3/L4) and Istio PeerAuthentication
  (STRICT mTLS) + AuthorizationPolicy (L7 identities) for the callers `network.allowFrom`
  names, the model's own namespace and the ingress gateway. Prometheus reaches only the
  sidecar's plaintext metrics ports (15020, where Istio merges the app's metrics, and Envoy's
  15090), which are outside the sidecar's inbound capture, so STRICT mTLS and the
  AuthorizationPolicy do not apply to them and no rule opens an application port to the
  monitoring namespace (8080 is the inference port of most KServe runtimes and their metrics'
  too).

Egress of the model servers (`<model>-egress`; training pods keep open egress, they reach
whatever data their code reads). A NetworkPolicy cannot name hosts, so each endpoint the pods
are given becomes what it can express: DNS (config `network.dns`), istiod when sidecars are
injected (`network.istiod`: xDS and certificates on 15012), the MLflow tracking server, the OTLP
endpoint when traces are on, the store of each served model URI (`models:/` and `runs:/` come
through MLflow, which proxies artifacts by default since MLflow 2.0; `s3://`, `gs://`, `hf://`
and other remote schemes from an object store on 443), and `network.serving_egress`. An
in-cluster host (`<svc>.<ns>.svc[.cluster.local]`) opens its namespace on every port: the policy
sees the connection after the Service's translation (and after the sidecar's, which dials the
endpoint pod), i.e. on the target port the URL does not show. Any other host opens its port to
every address. Peers in other namespaces select pods by `matchExpressions`: a Kustomize
`commonLabels` adds its labels to every `podSelector.matchLabels` of a NetworkPolicy, which in
another namespace would then select nothing. No model pod talks to Vault (the operators do).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from maestro.frontend.spec import Spec
from maestro.render import Context, Resource, name_of, obj, selector_labels, service_account_name
from maestro.render.pod import GRPC as GRPC_PORT  # the ports the model server opens
from maestro.render.pod import HTTP as HTTP_PORT
from maestro.render.pod import otlp_endpoint
from maestro.render.servers import metrics_endpoint, servers, sidecars
from maestro.resolve.config import EgressPeer

COMPONENT = "security"
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
NAMESPACE_LABEL = "kubernetes.io/metadata.name"  # set by Kubernetes on every namespace (1.22+)
# Scraped from the sidecar, in plaintext: the agent's endpoint with the app's metrics merged in
# (monitoring.py) and Envoy's stats port (the platform's mesh-wide scrape of Istio's metrics).
SIDECAR_METRICS_PORTS = (15020, 15090)
TRUST_DOMAIN = "cluster.local"  # Istio's default; principals are <trust domain>/ns/<ns>/sa/<sa>


def render(spec: Spec, ctx: Context) -> list[Resource]:
    out = [obj("v1", "ServiceAccount", service_account_name(spec), automountServiceAccountToken=False)]
    out += reader_rbac(spec, ctx, _configmaps_read_via_api(spec))
    out.append(_network_policy(f"{name_of(spec)}-default-deny", _model_pods(spec), []))
    training = spec.spec.training
    if training is not None and training.workers > 1:
        out.append(_train_peers(spec))
    if spec.spec.serving is not None:
        out += [_egress(spec, ctx), _allow(spec, ctx), _peer_authentication(spec), _authorization_policy(spec, ctx)]
    return out


def _model_pods(spec: Spec) -> dict[str, str]:
    """Every pod of the model, by the one label they all carry whatever their component:
    KServe's and our serving pods, A/B variants (`serving-<variant>`), training."""
    return {NAME_LABEL: selector_labels(spec, "serving")[NAME_LABEL]}


# ------------------------------------------------------------------ RBAC


def _configmaps_read_via_api(spec: Spec) -> list[str]:
    """ConfigMaps the model's pods `get` from the API server.

    None today: every ConfigMap Maestro renders reaches its pods as a volume, which the
    kubelet reads with its own credentials, so the model's account needs no RBAC at all. A
    renderer whose pods read a ConfigMap through the API names it here.
    """
    return []


def reader_rbac(spec: Spec, ctx: Context, configmaps: list[str]) -> list[Resource]:
    """Role + RoleBinding to `get` exactly these ConfigMaps; nothing when there are none
    (an empty Role grants nothing and only adds noise). No list/watch: those cannot be
    limited by resourceNames and would expose every ConfigMap of the namespace."""
    if not configmaps:
        return []
    name = service_account_name(spec)
    role = obj(
        "rbac.authorization.k8s.io/v1",
        "Role",
        name,
        rules=[
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": sorted(set(configmaps)),
                "verbs": ["get"],
            },
        ],
    )
    binding = obj(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        name,
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        subjects=[{"kind": "ServiceAccount", "name": name, "namespace": ctx.namespace}],
    )
    return [role, binding]


# ------------------------------------------------------------------ NetworkPolicy


def _network_policy(name: str, pods: dict[str, str], ingress: list[dict[str, Any]]) -> Resource:
    # Ingress only: egress stays open, since training and serving reach MLflow, Feast, Vault
    # and object stores whose addresses the platform does not pin down.
    body: dict[str, Any] = {"podSelector": {"matchLabels": pods}, "policyTypes": ["Ingress"]}
    if ingress:
        body["ingress"] = ingress
    return obj("networking.k8s.io/v1", "NetworkPolicy", name, body)


def _namespace_peer(namespace: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: namespace}}}


def _tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": p} for p in ports]


def _caller_namespaces(spec: Spec, ctx: Context) -> list[str]:
    """Namespaces with some caller: allowFrom (with or without a service account), the
    ingress gateway's; the model's own is allowed separately."""
    network = spec.spec.network
    names = {peer.namespace for peer in network.allow_from} if network else set()
    if ctx.platform.istio_ingress_namespace:
        names.add(ctx.platform.istio_ingress_namespace)
    names.discard(ctx.namespace)
    return sorted(names)


def _allow(spec: Spec, ctx: Context) -> Resource:
    # A NetworkPolicy cannot select a caller's service account: a peer with
    # `serviceAccount` opens its whole namespace here, and the AuthorizationPolicy below
    # narrows it to that account (by its mTLS identity).
    callers = [_namespace_peer(ns) for ns in _caller_namespaces(spec, ctx)] + [{"podSelector": {}}]
    ingress = [
        {"from": callers, "ports": _tcp(HTTP_PORT, GRPC_PORT)},
        {"from": [_namespace_peer(ctx.platform.monitoring.namespace)], "ports": _tcp(*_scraped_ports(spec, ctx))},
    ]
    return _network_policy(f"{name_of(spec)}-allow", _model_pods(spec), ingress)


def _scraped_ports(spec: Spec, ctx: Context) -> tuple[int, ...]:
    """The ports Prometheus scrapes: the sidecar's, or without one the model server's own."""
    return SIDECAR_METRICS_PORTS if sidecars(ctx) else (metrics_endpoint(spec, ctx)[0],)


REGISTRY_SCHEMES = ("models", "runs")  # MLflow URIs: downloaded through the tracking server
LOCAL_SCHEMES = ("pvc", "file")  # nothing to reach over the network
DEFAULT_PORTS = {"http": 80, "https": 443}
OBJECT_STORE_PORT = 443  # s3, gs, hf, azure, oci: HTTPS APIs


def _egress(spec: Spec, ctx: Context) -> Resource:
    components = [server.component for server in servers(spec, ctx)]
    pods = {
        "matchLabels": {NAME_LABEL: name_of(spec)},
        "matchExpressions": [{"key": COMPONENT_LABEL, "operator": "In", "values": components}],
    }
    rules = [_peer_rule(ctx.platform.network.dns)]
    if sidecars(ctx):
        rules.append(_peer_rule(ctx.platform.network.istiod))
    otlp = otlp_endpoint(spec, ctx)  # with auto-instrumentation no container env names it
    urls = [ctx.environment.endpoints.mlflow, *([otlp] if otlp else [])]
    urls += [server.uri for server in servers(spec, ctx)]
    namespaces: set[str] = set()
    ports: set[int] = set()
    for url in urls:
        where = destination(url, ctx.namespace)
        if isinstance(where, str):
            namespaces.add(where)
        elif where is not None:
            ports.add(where)
    for ns in sorted(namespaces):
        peer: dict[str, Any] = {"podSelector": {}} if ns == ctx.namespace else _namespace_peer(ns)
        rules.append({"to": [peer]})
    if ports:
        rules.append({"ports": _tcp(*sorted(ports))})
    rules += [_peer_rule(extra) for extra in ctx.platform.network.serving_egress]
    body = {"podSelector": pods, "policyTypes": ["Egress"], "egress": rules}
    return obj("networking.k8s.io/v1", "NetworkPolicy", f"{name_of(spec)}-egress", body)


def destination(url: str, namespace: str) -> str | int | None:
    """Where a pod given `url` connects: a namespace (in-cluster host), a port on any address,
    or None (nothing to reach, or an MLflow URI whose tracking server is listed anyway)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in REGISTRY_SCHEMES or scheme in LOCAL_SCHEMES or not scheme:
        return None
    host = (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS:
        return OBJECT_STORE_PORT
    labels = host.split(".")
    if len(labels) == 1:
        return namespace  # a Service of the pod's own namespace
    if labels[2:] in (["svc"], ["svc", "cluster", "local"]):
        return labels[1]
    return parts.port or DEFAULT_PORTS[scheme]


def _peer_rule(peer: EgressPeer) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    if peer.namespace is not None:
        to: dict[str, Any] = _namespace_peer(peer.namespace)
        if peer.pods:
            to["podSelector"] = {
                "matchExpressions": [{"key": k, "operator": "In", "values": [v]} for k, v in sorted(peer.pods.items())]
            }
        rule["to"] = [to]
    elif peer.cidr is not None:
        rule["to"] = [{"ipBlock": {"cidr": peer.cidr}}]
    if peer.ports:
        rule["ports"] = [{"protocol": proto, "port": port} for port in peer.ports for proto in peer.protocols]
    return rule


def _train_peers(spec: Spec) -> Resource:
    # Distributed training pods talk to each other (rendezvous, NCCL, gRPC) on ports each
    # framework picks, so all ports, but only between this model's training pods.
    pods = selector_labels(spec, "training")
    ingress = [{"from": [{"podSelector": {"matchLabels": dict(pods)}}]}]
    return _network_policy(f"{name_of(spec)}-train-peers", pods, ingress)


# ------------------------------------------------------------------ Istio


def _peer_authentication(spec: Spec) -> Resource:
    # STRICT: plaintext is refused, so every caller has an identity the
    # AuthorizationPolicy can check (source.namespaces and principals need mTLS).
    body = {"selector": {"matchLabels": _model_pods(spec)}, "mtls": {"mode": "STRICT"}}
    return obj("security.istio.io/v1", "PeerAuthentication", name_of(spec), body)


def _authorization_policy(spec: Spec, ctx: Context) -> Resource:
    network = spec.spec.network
    peers = network.allow_from if network else []
    namespaces = {p.namespace for p in peers if p.service_account is None} | {ctx.namespace}
    if ctx.platform.istio_ingress_namespace:
        namespaces.add(ctx.platform.istio_ingress_namespace)
    principals = sorted(
        {f"{TRUST_DOMAIN}/ns/{p.namespace}/sa/{p.service_account}" for p in peers if p.service_account is not None}
    )
    # Sources in one rule's `from` are alternatives; a rule matches a source AND a port.
    sources: list[dict[str, Any]] = [{"source": {"namespaces": sorted(namespaces)}}]
    if principals:
        sources.append({"source": {"principals": principals}})
    rules = [{"from": sources, "to": [{"operation": {"ports": [str(HTTP_PORT), str(GRPC_PORT)]}}]}]
    # ALLOW with rules: whatever matches no rule is denied, for the selected pods.
    body = {"selector": {"matchLabels": _model_pods(spec)}, "action": "ALLOW", "rules": rules}
    return obj("security.istio.io/v1", "AuthorizationPolicy", name_of(spec), body)
