#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: mesh_report
short_description: Write the mesh report - Markdown, self-contained HTML and a service graph - from what a run measured
version_added: 0.2.0
author:
  - istio_demo.mesh developers (@istio-demo-mesh)
description:
  - Turns results the collection's modules already return into one report a person reads after a run -
    C(mesh-report.md), a self-contained C(mesh-report.html) (inline style, the graph as inline SVG, nothing fetched
    from elsewhere) and the service graph as C(mesh-graph.svg) and C(mesh-graph.png), drawn with Graphviz.
  - The report holds the control plane (version, revision, components and readiness), each namespace's pods
    (injection, sidecar mode, proxy version, init container, violations), the routes with their probe results
    (status histogram, success ratio, p50/p90/p99), the addons with the command that opens each, and the
    security-group rules.
  - The graph goes from each entry point (ingress gateway, NGINX) to the Services and on to their workloads; each
    route's edge is labelled with its request count, success ratio and p99, and unhealthy edges are red.
  - A failing check - a pod without its sidecar, a route that answers 503, a component not ready - is listed at
    the top of both documents. The module itself fails only on bad input or when it cannot write; gate on
    RV(passed).
  - Files are rewritten only when their content changes, so a rerun on the same data reports no change.
options:
  output_dir:
    description: Directory for the four files; created when missing.
    type: path
    required: true
  formats:
    description:
      - Which files to write. C(svg) and C(png) need Graphviz's C(dot) (Debian package C(graphviz)).
      - The HTML page embeds the graph only when C(svg) is written too.
    type: list
    elements: str
    choices: [md, html, svg, png]
    default: [md, html, svg, png]
  title:
    description: Heading of the report.
    type: str
    default: Istio service-mesh demo
  control_plane:
    description: The RV(istio_demo.mesh.istioctl#module:control_plane) the istioctl module returns.
    type: dict
    default: {}
  pods:
    description: The RV(istio_demo.mesh.sidecar_info#module:pods) the sidecar_info module returns.
    type: list
    elements: dict
    default: []
  services:
    description:
      - Service objects (as M(kubernetes.core.k8s_info) returns them, or C(name) and C(selector)); a Service's
        workload is the pods whose C(service.istio.io/canonical-name) equals its selector's C(app).
    type: list
    elements: dict
    default: []
  routes:
    description:
      - One M(istio_demo.mesh.traffic_probe) result per route, with C(entry) (such as C(ingress gateway) or
        C(nginx)), C(path) and C(service); as a loop over routes registers them, C(path) and C(service) may
        instead be in C(item).
    type: list
    elements: dict
    default: []
  addons:
    description:
      - The addons, each with C(name), C(ready), and optionally C(detail) and C(command) (how to open it, such as
        the C(kubectl port-forward) the observability role names).
    type: list
    elements: dict
    default: []
  istiods:
    description:
      - The istiod Deployments (label C(app=istiod)) as M(istio_demo.mesh.k8s_info) returns them in
        RV(istio_demo.mesh.k8s_info#module:resources); each is a control-plane revision (its C(istio.io/rev)
        label) running the release its image names.
      - With them the report has a Revisions section - each revision, its release, the revision tags pointing at
        it and the pods on its proxy (RV(istio_demo.mesh.sidecar_info#module:pods[].revision)) - and a check that
        fails for a pod whose revision has no control plane left, or a tag pointing at such a revision.
    type: list
    elements: dict
    default: []
    version_added: 0.3.0
  revision_tags:
    description:
      - The revision tags' MutatingWebhookConfigurations (label C(istio.io/tag)) as M(istio_demo.mesh.k8s_info)
        returns them; see O(istiods).
    type: list
    elements: dict
    default: []
    version_added: 0.3.0
  traffic_split:
    description:
      - A traffic shift's weights beside the split measured through the ingress - C(weights), the weight of each
        subset the route (VirtualService or HTTPRoute) holds, and C(probe), the M(istio_demo.mesh.traffic_probe)
        result that measured it (with O(istio_demo.mesh.traffic_probe#module:expect_shares), so that it carries
        RV(istio_demo.mesh.traffic_probe#module:share_checks)), as the traffic_shift role's verify entry point
        leaves them (C(traffic_shift_plan.held), C(traffic_shift_probe)).
      - With it the report has a Traffic split section and a check that fails when a share is off its weight.
    type: dict
    default: {}
    version_added: 0.3.0
  mtls:
    description:
      - The mutual TLS mode in force and its proof - C(mode) (C(STRICT) or C(PERMISSIVE)) and C(proof), the
        C(mtls_proof) the istio_demo.mesh.mtls role notes (per client and target - C(client), C(target),
        C(exit_code), C(message), C(answered), C(expected_answer), C(as_expected)).
      - With it the report has a Mutual TLS section and a check that fails when a client got what the mode does
        not promise.
    type: dict
    default: {}
    version_added: 0.3.0
  security_group:
    description: The result of M(istio_demo.mesh.security_group_rules) (its C(groups), C(rules), C(added), C(removed)).
    type: dict
    default: {}
  failures:
    description: Failures of earlier checks to list among the report's failures, such as C(ansible_failed_result.msg).
    type: list
    elements: str
    default: []
  dot_path:
    description: Graphviz's C(dot); found on C(PATH) when not given.
    type: path
attributes:
  check_mode:
    support: full
    description: Nothing is written; C(changed) says whether the report would change.
  diff_mode:
    support: none
    description: No diff is returned.
requirements:
  - python >= 3.9
  - Graphviz (C(dot)) for C(svg) and C(png)
seealso:
  - module: istio_demo.mesh.sidecar_info
  - module: istio_demo.mesh.traffic_probe
  - module: istio_demo.mesh.istioctl
"""

EXAMPLES = r"""
- name: Write the mesh report from what the verify tasks registered
  istio_demo.mesh.mesh_report:
    output_dir: "{{ playbook_dir }}/../reports"
    control_plane: "{{ istio.control_plane }}"
    pods: "{{ mesh_pods.pods }}"
    services: "{{ services.resources }}"
    routes: "{{ ingress_probes.results | map('combine', {'entry': 'ingress gateway'}) }}"
    addons:
      - {name: kiali, ready: true}
  register: report

- name: Fail the play when the mesh is not healthy, after the report is written
  ansible.builtin.fail:
    msg: "{{ report.failures | join('; ') }} (see {{ report.paths.html }})"
  when: not report.passed
"""

RETURN = r"""
passed:
  description: Whether every check passed.
  returned: always
  type: bool
  sample: false
checks:
  description: Every check in report order, one line each for a terminal summary.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: What was checked, such as C(route ingress gateway /v2).
      type: str
    passed:
      description: Whether it passed.
      type: bool
    detail:
      description: The measurement or the failure in words.
      type: str
  sample: [{name: route ingress gateway /v1, passed: true, detail: "10 of 10 answered as expected (200 x10), p99 2.10 ms"}]
failures:
  description: The failed checks, as C(name - detail) lines, also at the top of the report.
  returned: always
  type: list
  elements: str
  sample: ["route nginx /v2: 0 of 10 answered as expected (503 x10), p99 1.20 ms"]
paths:
  description: The files of the report, by format.
  returned: always
  type: dict
  sample: {md: reports/mesh-report.md, html: reports/mesh-report.html, svg: reports/mesh-graph.svg,
           png: reports/mesh-graph.png}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.istio_demo.mesh.plugins.module_utils import report
from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import run_engine


def argument_spec():
    return dict(
        output_dir=dict(type="path", required=True),
        formats=dict(type="list", elements="str", choices=["md", "html", "svg", "png"],
                     default=["md", "html", "svg", "png"]),
        title=dict(type="str", default="Istio service-mesh demo"),
        control_plane=dict(type="dict", default={}),
        pods=dict(type="list", elements="dict", default=[]),
        services=dict(type="list", elements="dict", default=[]),
        routes=dict(type="list", elements="dict", default=[]),
        addons=dict(type="list", elements="dict", default=[]),
        istiods=dict(type="list", elements="dict", default=[]),
        revision_tags=dict(type="list", elements="dict", default=[]),
        traffic_split=dict(type="dict", default={}),
        mtls=dict(type="dict", default={}),
        security_group=dict(type="dict", default={}),
        failures=dict(type="list", elements="str", default=[]),
        dot_path=dict(type="path"),
    )


def main():
    run_engine(AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True), report.run_module)


if __name__ == "__main__":
    main()
