#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: k8s_info
short_description: Read Kubernetes objects, riding out a flaky API server
version_added: 0.3.0
author:
  - istio_demo.mesh developers (@istio-demo-mesh)
description:
  - Lists or gets objects of one kind with the options and the result of M(kubernetes.core.k8s_info), whose engine
    it uses.
  - Unlike M(kubernetes.core.k8s_info), every API request is retried when the API server answers 429, 500, 502,
    503 or 504 or the connection drops, with exponential backoff that honours C(Retry-After); each retry is
    reported in RV(api_retries) and in a warning. A read therefore needs no C(until) loop to ride out trouble,
    and a failure it reports is one that retrying did not cure.
options:
  kind:
    description:
      - The kind of object, such as C(Service) or C(CustomResourceDefinition).
      - Required unless O(queries) is given.
    type: str
  api_version:
    description: The API group and version of O(kind), such as C(v1) or C(apps/v1).
    type: str
    default: v1
  name:
    description: One object by name; every object of the kind (in O(namespace)) when unset.
    type: str
  namespace:
    description: The namespace of namespaced kinds; all namespaces when unset.
    type: str
  label_selectors:
    description: Only objects matching all these label selectors, such as C(app=my-app).
    type: list
    elements: str
    default: []
  field_selectors:
    description: Only objects matching all these field selectors, such as C(status.phase=Running).
    type: list
    elements: str
    default: []
  queries:
    description:
      - Several reads in one task, in this order, each with the options of one read (O(kind), O(api_version),
        O(name), O(namespace), O(label_selectors), O(field_selectors)); the wait options apply to each.
      - One module run instead of a loop of them (a loop starts one module process an item, about half a second
        each before any request); the result is RV(results), shaped as a loop's registered result.
      - Mutually exclusive with O(kind).
    type: list
    elements: dict
    version_added: 0.4.0
    suboptions:
      kind:
        description: The kind of object.
        type: str
        required: true
      api_version:
        description: Its API group and version.
        type: str
        default: v1
      name:
        description: One object by name; every object of the kind when unset.
        type: str
      namespace:
        description: The namespace of namespaced kinds; all namespaces when unset.
        type: str
      label_selectors:
        description: Only objects matching all these label selectors.
        type: list
        elements: str
        default: []
      field_selectors:
        description: Only objects matching all these field selectors.
        type: list
        elements: str
        default: []
  wait_for:
    description:
      - With O(wait=true), what to wait for. V(present) waits as M(kubernetes.core.k8s_info) does (the objects
        exist, and meet O(wait_condition) when given).
      - V(absent) waits until no object matches (O(name), or the selectors) - an object held by finalizers, or
        removed by the garbage collector after its owner. The task does not fail when objects remain after
        O(wait_timeout); RV(resources) lists them, so a play can say what holds them.
    type: str
    choices: [present, absent]
    default: present
    version_added: 0.4.0
extends_documentation_fragment:
  - istio_demo.mesh.k8s
  - kubernetes.core.k8s_auth_options
  - kubernetes.core.k8s_wait_options
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: Nothing is changed.
requirements:
  - python >= 3.9
  - kubernetes >= 24.2.0
seealso:
  - module: kubernetes.core.k8s_info
  - module: istio_demo.mesh.manifest
"""

EXAMPLES = r"""
- name: Read the ingress gateway's Service
  istio_demo.mesh.k8s_info:
    kind: Service
    namespace: istio-system
    name: istio-ingressgateway
  register: gateway

- name: Wait for a Deployment to be available (retries inside each request, the wait bounded by wait_timeout)
  istio_demo.mesh.k8s_info:
    kind: Deployment
    api_version: apps/v1
    namespace: istio-system
    name: kiali
    wait: true
    wait_timeout: 300

- name: Wait up to 10 minutes until the Services a Gateway owned are gone (their load balancers deleted)
  istio_demo.mesh.k8s_info:
    kind: Service
    namespace: my-app
    label_selectors: [gateway.networking.k8s.io/gateway-name=my-gateway]
    wait: true
    wait_for: absent
    wait_timeout: 600
  register: left
  # left.resources: what was still there after the wait

- name: Read the webhooks and the Auto Mode CRD in one task (one module run, not a loop of two)
  istio_demo.mesh.k8s_info:
    queries:
      - api_version: admissionregistration.k8s.io/v1
        kind: MutatingWebhookConfiguration
      - api_version: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        name: nodeclasses.eks.amazonaws.com
  register: class_givers
  # class_givers.results[1].resources: the CRD, when the cluster has it

- name: Nodes, for the security_group_rules module
  istio_demo.mesh.k8s_info:
    kind: Node
  register: nodes
"""

RETURN = r"""
api_found:
  description: Whether the cluster serves O(kind) at O(api_version).
  returned: without O(queries)
  type: bool
  sample: true
resources:
  description:
    - The objects found, as the API server returned them (empty when none, or when the kind is not served).
    - With O(wait_for=absent), the objects still there when the wait ended (empty when all went).
  returned: without O(queries)
  type: list
  elements: dict
  sample: [{apiVersion: v1, kind: Service, metadata: {name: istio-ingressgateway, namespace: istio-system}}]
results:
  description: With O(queries), one read's result for each query, in their order.
  returned: with O(queries)
  type: list
  elements: dict
  contains:
    query:
      description: The query, its defaults filled in.
      type: dict
    api_found:
      description: Whether the cluster serves the query's kind at its API version.
      type: bool
    resources:
      description: The objects found (the objects still there, with O(wait_for=absent)).
      type: list
      elements: dict
  sample:
    - query: {kind: CustomResourceDefinition, api_version: apiextensions.k8s.io/v1, name: nodeclasses.eks.amazonaws.com,
              namespace: null, label_selectors: [], field_selectors: []}
      api_found: true
      resources: []
api_retries:
  description: Every request that was retried, with the reason.
  returned: always
  type: list
  elements: dict
  contains:
    method:
      description: HTTP method.
      type: str
    path:
      description: Request path.
      type: str
    reason:
      description: C(HTTP 503), C(ProtocolError) (dropped connection) and so on.
      type: str
  sample: [{method: GET, path: /api/v1/namespaces/istio-system/services/istio-ingressgateway, reason: HTTP 503}]
"""

import copy

from ansible_collections.istio_demo.mesh.plugins.module_utils import manifest
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_module import run_k8s_module
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import WAIT_ARG_SPEC


def argument_spec():
    """The module's own options (k8s_module adds the connection and retry options)."""
    spec = copy.deepcopy(WAIT_ARG_SPEC)
    spec.update(
        kind=dict(type="str"),
        api_version=dict(type="str", default="v1"),
        name=dict(type="str"),
        namespace=dict(type="str"),
        label_selectors=dict(type="list", elements="str", default=[]),
        field_selectors=dict(type="list", elements="str", default=[]),
        wait_for=dict(type="str", choices=["present", "absent"], default="present"),
        queries=dict(type="list", elements="dict", options=dict(
            kind=dict(type="str", required=True),
            api_version=dict(type="str", default="v1"),
            name=dict(type="str"),
            namespace=dict(type="str"),
            label_selectors=dict(type="list", elements="str", default=[]),
            field_selectors=dict(type="list", elements="str", default=[]),
        )),
    )
    return spec


def main():
    run_k8s_module(argument_spec(), manifest.read_module, mutually_exclusive=[("kind", "queries")],
                   required_one_of=[("kind", "queries")])


if __name__ == "__main__":
    main()
