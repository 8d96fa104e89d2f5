"""Mesh: the Istio route of a served model.

Callers call one host, the Service of the main model (`servers.host`). Its VirtualService
`<model>` has one route, without a port (a multi-port host keeps the port it was called on;
a fixed port 80 sent gRPC on 8081 to the HTTP port):
- `primary` when Argo Rollouts routes the rollout's traffic (`servers.traffic_routed`): the
  DestinationRule `<model>`'s subsets `stable` (weight 100) and `canary` (0), both selecting the
  main model's pods; Argo Rollouts adds each subset's `rollouts-pod-template-hash` and moves the
  weights (and, for blue-green, adds and removes a mirror route). The Argo CD Application
  ignores those fields (argocd.py), as Argo Rollouts' "Integrating with GitOps" asks.
- `ab-test` for an A/B test: the main host keeps 100 minus the variants' weights, each variant's
  Service its weight. A canary of the main model is then replica-based (serving.py explains).
Every host routed to gets a DestinationRule that makes the mesh's mutual TLS explicit.
"""

from __future__ import annotations

import copy
from typing import Any

from maestro.frontend.spec import Spec
from maestro.render import Context, Resource, obj, selector_labels
from maestro.render.servers import (
    AB_ROUTE,
    CANARY_SUBSET,
    PRIMARY_ROUTE,
    STABLE_SUBSET,
    host,
    servers,
    traffic_routed,
)
from maestro.render.servers import COMPONENT as SERVING

COMPONENT = "mesh"
API = "networking.istio.io/v1"
MUTUAL_TLS = {"tls": {"mode": "ISTIO_MUTUAL"}}


def render(spec: Spec, ctx: Context) -> list[Resource]:
    serving = spec.spec.serving
    if serving is None:
        return []
    name = spec.metadata.name
    main = host(spec, ctx, name)
    if traffic_routed(spec):
        pods = selector_labels(spec, SERVING)
        routes = [
            {"destination": {"host": main, "subset": STABLE_SUBSET}, "weight": 100},
            {"destination": {"host": main, "subset": CANARY_SUBSET}, "weight": 0},
        ]
        subsets = [{"name": STABLE_SUBSET, "labels": dict(pods)}, {"name": CANARY_SUBSET, "labels": dict(pods)}]
        vs = {"hosts": [main], "http": [{"name": PRIMARY_ROUTE, "route": routes}]}
        dr = {"host": main, "trafficPolicy": copy.deepcopy(MUTUAL_TLS), "subsets": subsets}
        return [obj(API, "VirtualService", name, vs), obj(API, "DestinationRule", name, dr)]
    if serving.ab_test is None:
        return []
    variants = [
        (s.name, s.variant.weight, host(spec, ctx, s.name)) for s in servers(spec, ctx) if s.variant is not None
    ]
    ab: list[dict[str, Any]] = [{"destination": {"host": main}, "weight": 100 - sum(w for _, w, _ in variants)}]
    ab += [{"destination": {"host": h}, "weight": w} for _, w, h in variants]
    out = [obj(API, "VirtualService", name, {"hosts": [main], "http": [{"name": AB_ROUTE, "route": ab}]})]
    for dr_name, dr_host in [(name, main)] + [(n, h) for n, _, h in variants]:
        out.append(obj(API, "DestinationRule", dr_name, {"host": dr_host, "trafficPolicy": copy.deepcopy(MUTUAL_TLS)}))
    return out
