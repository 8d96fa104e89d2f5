"""The model servers of a served model, and the names other objects find them by.

`serving.py` builds them; `mesh.py` routes to them, `monitoring.py` scrapes and alerts on them,
`security.py` opens their ports, `argocd.py` knows what Argo Rollouts changes in them. What
those families must agree on lives here, so that none imports another:

- the servers: the main model `<model>` and each A/B variant `<model>-<variant>` (`Server`), with
  replica bounds (a variant's scaled by its weight);
- the Service callers call (`<name>-predictor`, made by KServe, or our `<name>`) and its
  cluster-local host;
- the labels Istio reads on their pods (injection, canonical service) and the metrics endpoint
  each runtime serves (`prometheus.io/*`, which Istio's injector merges into the sidecar's);
- the route and subset names Argo Rollouts manages when it routes a rollout's traffic;
- the PromQL matchers of what callers sent a server.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from maestro.frontend.spec import Spec, Variant
from maestro.render import Context, served
from maestro.render.offhours import server_scales_down
from maestro.render.pod import METRICS
from maestro.render.queries import service_matcher

COMPONENT = "serving"
CLUSTER_DOMAIN = "cluster.local"
METRICS_PATH = "/metrics"

# Pod labels Istio reads: injection (the pod's label wins over the namespace's) and the
# canonical service its telemetry names the pods by.
INJECT_LABEL = "sidecar.istio.io/inject"
CANONICAL_NAME_LABEL = "service.istio.io/canonical-name"

# What Argo Rollouts manages when it routes a rollout's traffic (serving.py, mesh.py, argocd.py).
PRIMARY_ROUTE = "primary"  # the VirtualService route whose weights it moves
MIRROR_ROUTE = "preview-mirror"  # the route it adds while a blue-green analysis runs
AB_ROUTE = "ab-test"  # an A/B test's route: Maestro's alone
STABLE_SUBSET, CANARY_SUBSET = "stable", "canary"  # DestinationRule subsets it pins to ReplicaSet hashes


@dataclass(frozen=True)
class Server:
    """One model server: the main model or an A/B variant."""

    name: str  # the InferenceService or Deployment: <model> or <model>-<variant>
    component: str  # its pods' app.kubernetes.io/component: serving or serving-<variant>
    uri: str  # the model URI it serves: the locked artifact, else the registry reference
    min: int
    max: int
    variant: Variant | None = None
    version: tuple[tuple[str, str], ...] = ()  # annotations naming the locked version and run
    off_hours: bool = False  # scaled down outside working hours (offhours.py): KEDA owns its replicas

    @property
    def version_annotations(self) -> dict[str, str]:
        return dict(self.version)

    @property
    def autoscaled(self) -> bool:
        """An autoscaler owns its replicas (else they stay at `min`)."""
        return self.max > self.min or self.min == 0 or self.off_hours


def sidecars(ctx: Context) -> bool:
    """Pods join the mesh with an injected sidecar (`mesh.mode`), whose merged metrics endpoint
    Prometheus scrapes; under ambient or no mesh they are scraped on their own port."""
    return ctx.platform.mesh.mode == "sidecar"


def servers(spec: Spec, ctx: Context) -> list[Server]:
    """The main model first, then the A/B variants in spec order."""
    serving = spec.spec.serving
    if serving is None:
        return []
    name, r = spec.metadata.name, serving.replicas
    off = ctx.environment.off_hours
    uri, version = served(spec, ctx)
    out = [
        Server(
            name,
            COMPONENT,
            uri,
            r.min,
            r.max,
            version=tuple(sorted(version.items())),
            off_hours=server_scales_down(r.min, off),
        )
    ]
    for v in serving.ab_test.variants if serving.ab_test else []:
        # `weight` percent of the traffic: bounds to match, at least one pod unless the main
        # model scales to zero.
        lo = 0 if r.min == 0 else max(1, math.ceil(r.min * v.weight / 100))
        hi = max(lo, 1, math.ceil(r.max * v.weight / 100))
        uri, version = served(spec, ctx, v)
        component = f"{COMPONENT}-{v.name}"
        pinned = tuple(sorted(version.items()))
        out.append(Server(f"{name}-{v.name}", component, uri, lo, hi, v, pinned, server_scales_down(lo, off)))
    return out


def progressive(spec: Spec) -> bool:
    """A new version reaches traffic through an Argo Rollout."""
    serving = spec.spec.serving
    return serving is not None and serving.rollout.strategy in ("canary", "blueGreen")


def traffic_routed(spec: Spec) -> bool:
    """Argo Rollouts owns the model's route: a progressive rollout and no A/B test holding it."""
    serving = spec.spec.serving
    return progressive(spec) and serving is not None and serving.ab_test is None


def service_name(spec: Spec, name: str) -> str:
    """The Service callers call for server `name` (KServe appends -predictor)."""
    serving = spec.spec.serving
    return f"{name}-predictor" if serving is not None and serving.runtime == "kserve" else name


def host(spec: Spec, ctx: Context, name: str) -> str:
    """The cluster-local FQDN of server `name`'s Service."""
    return f"{service_name(spec, name)}.{ctx.namespace}.svc.{CLUSTER_DOMAIN}"


def callers_see(spec: Spec, ctx: Context, name: str) -> str:
    """PromQL matchers of the requests callers sent to server `name`."""
    m = ctx.platform.monitoring.metrics
    return service_matcher(m, ctx.namespace, service_name(spec, name), host(spec, ctx, name))


def model_format(spec: Spec, ctx: Context) -> str:
    """The KServe modelFormat the framework maps to."""
    return ctx.platform.images.serving.kserve_runtimes.get(spec.spec.framework, "mlflow")


def metrics_endpoint(spec: Spec, ctx: Context) -> tuple[int, str]:
    """(port, path) of the model server's own metrics: its ServingRuntime's for KServe (config
    `serving.kserve_metrics`), MLServer's for the deployment runtime."""
    serving = spec.spec.serving
    if serving is not None and serving.runtime == "kserve":
        fmt = model_format(spec, ctx)
        endpoint = ctx.platform.serving.kserve_metrics.get(fmt)
        if endpoint is None:  # config validation requires one for every format in kserve_runtimes
            raise ValueError(f"serving.kserve_metrics has no entry for modelFormat {fmt!r}")
        return endpoint.port, endpoint.path
    return METRICS, METRICS_PATH
