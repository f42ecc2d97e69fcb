#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gateway_routes_info
short_description: Read the HTTP routes an Istio gateway's proxies hold, and wait until they route as a route object says
version_added: 0.4.0
author:
  - istio_demo.mesh developers (@istio-demo-mesh)
description:
  - Reads the route configuration that the Envoy proxy of each ready pod of a Gateway holds now, with
    C(istioctl proxy-config routes POD.NAMESPACE -o json), and returns each route with its match, the VirtualService
    it came from and its destinations with their weights.
  - A change to a VirtualService or an HTTPRoute takes effect only when istiod has pushed it to the proxies, which
    it does after a short quiet period (its debounce). With O(expect), the module waits until every pod of the
    gateway routes the path of the route object with the given weights - the moment to start measuring a traffic
    shift - and fails naming what each pod holds when O(wait_timeout) passes first.
  - The pods of an Istio Gateway (C(networking.istio.io)) are those its selector picks, in any namespace; the pods of
    a Gateway API Gateway are those Istio deployed for it, in its namespace.
options:
  gateway:
    description: Name of the Gateway whose pods are read.
    type: str
    required: true
  namespace:
    description: Namespace of the Gateway.
    type: str
    required: true
  api:
    description:
      - The Gateway's API. C(istio) for a C(networking.istio.io/v1) Gateway with VirtualServices bound to it,
        C(gateway-api) for a C(gateway.networking.k8s.io/v1) Gateway with HTTPRoutes.
    type: str
    choices: [istio, gateway-api]
    default: istio
  expect:
    description:
      - The routing to wait for. Without it the module reads the routes once.
    type: dict
    suboptions:
      kind:
        description: Kind of the route object.
        type: str
        choices: [VirtualService, HTTPRoute]
        default: VirtualService
      namespace:
        description: Namespace of the route object; by default O(namespace).
        type: str
      name:
        description: Name of the route object.
        type: str
        required: true
      path:
        description: The path prefix (or exact path) of the route's match.
        type: str
        required: true
      weights:
        description:
          - Weight of each destination, keyed by subset (O(expect.by=subset)) or by Service name
            (O(expect.by=service)). Compared as shares - C({v1 90, v2 10}) equals C({v1 9, v2 1}) - and a weight of
            0 means the destination takes no traffic (istiod leaves it out of the proxy's route).
        type: dict
        required: true
      by:
        description: Whether O(expect.weights) names DestinationRule subsets or Services.
        type: str
        choices: [subset, service]
        default: subset
  wait_timeout:
    description:
      - With O(expect), seconds to wait until every pod holds the expected routing; C(0) reads once.
    type: int
    default: 60
  istioctl_path:
    description: Path of the istioctl binary. By default the first C(istioctl) on the PATH.
    type: path
extends_documentation_fragment:
  - istio_demo.mesh.k8s
  - kubernetes.core.k8s_auth_options
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing.
requirements:
  - python >= 3.9
  - kubernetes >= 24.2.0
  - istioctl on the controller
notes:
  - C(istioctl proxy-config) reaches each pod's Envoy admin port through a port-forward, so the identity needs
    C(get) and C(list) on pods and C(create) on C(pods/portforward) in the gateway's namespace, and C(get) on the
    Gateway.
seealso:
  - name: Debugging Envoy and istiod
    description: Istio's guide to C(istioctl proxy-config).
    link: https://istio.io/latest/docs/ops/diagnostic-tools/proxy-cmd/
  - module: istio_demo.mesh.traffic_probe
"""

EXAMPLES = r"""
- name: Wait until the ingress gateway routes /app of VirtualService my-app-shift 90/10 between subsets v1 and v2
  istio_demo.mesh.gateway_routes_info:
    gateway: my-app-gateway
    namespace: my-app
    expect:
      name: my-app-shift
      path: /app
      weights: {v1: 90, v2: 10}
    wait_timeout: 60

- name: Wait for the weights of an HTTPRoute on a Gateway API gateway (weights by Service)
  istio_demo.mesh.gateway_routes_info:
    gateway: my-app-gateway
    namespace: my-app
    api: gateway-api
    expect:
      kind: HTTPRoute
      name: my-app-shift
      path: /app
      by: service
      weights: {my-app-v1-svc: 50, my-app-v2-svc: 50}

- name: Read what the gateway's proxies route
  istio_demo.mesh.gateway_routes_info:
    gateway: my-app-gateway
    namespace: my-app
  register: routes
"""

RETURN = r"""
proxies:
  description: Each ready pod of the gateway with the routes its proxy holds.
  returned: always
  type: list
  elements: dict
  contains:
    pod:
      description: The pod, as C(NAME.NAMESPACE).
      type: str
    holds:
      description: Whether the pod routes as O(expect) says (only with O(expect)).
      type: bool
    routes:
      description: One entry per route of the proxy.
      type: list
      elements: dict
      contains:
        route_config:
          description: Name of the route configuration, such as C(http.8080).
          type: str
        virtual_host:
          description: Name of the virtual host, such as C(*:80).
          type: str
        domains:
          description: The virtual host's domains.
          type: list
          elements: str
        match:
          description: The route's match as Envoy holds it, such as C({prefix /app, caseSensitive true}).
          type: dict
        config:
          description:
            - The VirtualService the route came from, C(NAMESPACE/NAME); for an HTTPRoute the VirtualService istiod
              generates from it (C(NAME-0-istio-autogenerated-k8s-gateway)). Null for routes of no config.
          type: str
        destinations:
          description: The route's clusters, with the weight of each (100 for a route of one cluster).
          type: list
          elements: dict
  sample:
    - pod: istio-ingressgateway-5d9f7c9b8-x2x9q.istio-system
      holds: true
      routes:
        - route_config: http.8080
          virtual_host: "*:80"
          domains: ["*"]
          match: {prefix: /app, caseSensitive: true}
          config: my-app/my-app-shift
          destinations:
            - {cluster: "outbound|80|v1|my-app.my-app.svc.cluster.local", direction: outbound, port: 80,
               subset: v1, host: my-app.my-app.svc.cluster.local, weight: 90}
            - {cluster: "outbound|80|v2|my-app.my-app.svc.cluster.local", direction: outbound, port: 80,
               subset: v2, host: my-app.my-app.svc.cluster.local, weight: 10}
in_effect:
  description: With O(expect), whether every pod holds the expected routing (the module fails when not); else null.
  returned: always
  type: bool
waited_s:
  description: Seconds waited until the routing was in effect.
  returned: always
  type: float
api_retries:
  description:
    - Kubernetes API requests that were retried, each with method, path and reason (HTTP status or connection
      error). Empty when none was.
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.istio_demo.mesh.plugins.module_utils import gateway_routes
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_module import run_k8s_module


def argument_spec():
    """The module's own options (k8s_module adds the connection and retry options)."""
    return dict(
        gateway=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        api=dict(type="str", choices=["istio", "gateway-api"], default="istio"),
        expect=dict(type="dict", options=dict(
            kind=dict(type="str", choices=["VirtualService", "HTTPRoute"], default="VirtualService"),
            namespace=dict(type="str"),
            name=dict(type="str", required=True),
            path=dict(type="str", required=True),
            weights=dict(type="dict", required=True),
            by=dict(type="str", choices=["subset", "service"], default="subset"),
        )),
        wait_timeout=dict(type="int", default=60),
        istioctl_path=dict(type="path"),
    )


def main():
    run_k8s_module(argument_spec(), gateway_routes.run_module)


if __name__ == "__main__":
    main()
