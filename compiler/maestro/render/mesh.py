"""Mesh: Istio routing for A/B tests.

The VirtualService binds the main model's host and splits its traffic by weight between
the main model (100 minus the variants' weights) and each variant's own service. The
DestinationRules make the mesh's mutual TLS explicit for every host we route to.
"""

from __future__ import annotations

from typing import Any

from maestro.frontend.spec import Spec
from maestro.render import Context, Resource, obj

COMPONENT = "mesh"
API = "networking.istio.io/v1"


def host(spec: Spec, ctx: Context, name: str) -> str:
    """The cluster-local host of a model server's Service (KServe appends -predictor)."""
    serving = spec.spec.serving
    service = f"{name}-predictor" if serving is not None and serving.runtime == "kserve" else name
    return f"{service}.{ctx.namespace}.svc.cluster.local"


def render(spec: Spec, ctx: Context) -> list[Resource]:
    serving = spec.spec.serving
    if serving is None or serving.ab_test is None:
        return []
    name = spec.metadata.name
    main = host(spec, ctx, name)
    variants = [(v, host(spec, ctx, f"{name}-{v.name}")) for v in serving.ab_test.variants]
    routes: list[dict[str, Any]] = [
        {"destination": {"host": main, "port": {"number": 80}}, "weight": 100 - sum(v.weight for v, _ in variants)}
    ]
    routes += [{"destination": {"host": h, "port": {"number": 80}}, "weight": v.weight} for v, h in variants]
    out = [obj(API, "VirtualService", name, {"hosts": [main], "http": [{"name": "ab-test", "route": routes}]})]
    for dr_name, dr_host in [(name, main)] + [(f"{name}-{v.name}", h) for v, h in variants]:
        out.append(
            obj(API, "DestinationRule", dr_name, {"host": dr_host, "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}})
        )
    return out
