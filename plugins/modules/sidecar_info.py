#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: sidecar_info
short_description: Prove that Istio took hold of each pod - sidecar, init step, labels, readiness
version_added: 0.2.0
author:
  - istio_demo.mesh developers (@istio-demo-mesh)
description:
  - Reads pods and reports, for each one, whether Istio's injector gave it a sidecar (a classic C(istio-proxy)
    container or a native sidecar - an init container with C(restartPolicy=Always), which Istio injects by
    default on Kubernetes 1.33 and newer), the proxy
    image and version, the traffic-redirection init step (C(istio-init), or C(istio-validation) with Istio CNI)
    with its C(istio-iptables) arguments parsed into fields, the Istio labels, readiness and restarts.
  - "Pods that miss a required property get violations in words a person can act on, such as
    C(pod my-app-v2-abc in my-app has no istio-proxy: namespace label istio-injection is missing)."
  - "Judges ambient-mode pods too (O(require=ambient)) - by what ambient sets on them, with violations such as
    C(pod my-app-v1-abc in my-app is not in the ambient mesh: no ready ztunnel on its node ip-10-0-1-23)."
  - Makes one LIST of pods per namespace whatever the number of pods, one LIST of namespaces (for their injection
    labels) and one LIST of mutating webhook configurations (to tell whether the injector is installed).
options:
  namespace:
    description:
      - Namespace or namespaces to inspect. All namespaces when empty.
    type: list
    elements: str
    default: []
  label_selector:
    description: Only pods matching this label selector, such as C(app in (my-app-v1,my-app-v2)).
    type: str
  field_selector:
    description: Only pods matching this field selector, such as C(status.phase=Running).
    type: str
  require:
    description:
      - What each pod must show to count as in the mesh.
      - C(injected) - it has an istio-proxy sidecar. C(ready) - its Ready condition is true. C(labels) - it carries
        C(security.istio.io/tlsMode), C(service.istio.io/canonical-name) and C(service.istio.io/canonical-revision).
        C(init) - it has the istio-init (or istio-validation) init container.
      - C(ambient) - it is in the mesh through ambient mode, without a sidecar - its namespace (or the pod) is
        labelled C(istio.io/dataplane-mode=ambient), the pod does not opt out (C(istio.io/dataplane-mode=none)),
        Istio's CNI node agent enrolled it (annotation C(ambient.istio.io/redirection=enabled)) and a ready
        ztunnel runs on its node. A gateway or a waypoint Istio deployed (its istio-proxy runs as C(router) or
        C(waypoint)) passes - it is in the mesh through its own proxy, and Istio's templates opt it out of
        ztunnel. It excludes C(injected), C(labels) and C(init); it costs one more LIST (the ztunnel pods, by label
        C(app=ztunnel)).
    type: list
    elements: str
    choices: [injected, ready, labels, init, ambient]
    default: [injected]
  fail_on_violation:
    description: Fail, listing every violation, when any pod misses a requirement or a namespace does not exist.
    type: bool
    default: false
  pods_reported:
    description:
      - Which pods RV(pods) lists. C(violating) - only the pods with a violation, so that a proof that passes
        returns RV(summary) and no per-pod reports. C(all) - every pod read, about 1 KiB a pod, for a caller that
        reads the pods' facts (their proxy versions and revisions, a report of every pod).
      - Either way RV(summary) and RV(violations) count and judge every pod and the same requests are made; only
        the result Ansible has to handle (mask, serialise, register) differs - at 5000 pods, 5 MiB with C(all).
      - The default was C(all) before 0.4.0.
    type: str
    choices: [all, violating]
    default: violating
    version_added: 0.3.0
extends_documentation_fragment:
  - istio_demo.mesh.k8s
  - kubernetes.core.k8s_auth_options
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
  - module: istio_demo.mesh.istioctl
  - module: kubernetes.core.k8s_info
"""

EXAMPLES = r"""
- name: Prove every demo pod is injected, labelled and ready
  istio_demo.mesh.sidecar_info:
    namespace: my-app
    require: [injected, init, labels, ready]
    fail_on_violation: true

- name: Look at every gateway and app pod without failing
  istio_demo.mesh.sidecar_info:
    namespace: [my-app, istio-system]
    label_selector: app in (my-app-v1,my-app-v2,istio-ingressgateway)
    pods_reported: all
  register: mesh

- name: Show each pod's proxy version
  ansible.builtin.debug:
    msg: "{{ mesh.pods | map(attribute='name') | zip(mesh.pods | map(attribute='proxy_version')) | list }}"

- name: Show the violations
  ansible.builtin.debug:
    var: mesh.violations

- name: Judge every pod of a large cluster - the counts, and only the pods that need attention
  istio_demo.mesh.sidecar_info:
    require: [injected, ready]
  register: fleet_pods
"""

RETURN = r"""
pods:
  description: One entry per pod with a violation (with O(pods_reported=all), per pod read), sorted by namespace
    and name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Pod name.
      type: str
    namespace:
      description: Pod namespace.
      type: str
    phase:
      description: Pod phase.
      type: str
    injected:
      description: Whether the pod has an istio-proxy sidecar.
      type: bool
    sidecar_mode:
      description: C(container) (classic sidecar), C(native) (init container with restartPolicy Always) or C(none).
      type: str
    proxy_image:
      description: Image of istio-proxy.
      type: str
    proxy_version:
      description: Tag of the proxy image.
      type: str
    revision:
      description:
        - The control-plane revision whose injector made the proxy (the pod's C(istio.io/rev) annotation); null
          for a pod without one.
      type: str
      version_added: 0.3.0
    proxy_role:
      description:
        - How the pod's istio-proxy runs - C(sidecar), C(router) (a gateway) or C(waypoint), the argument after
          C(proxy) in its args as Istio's injection and gateway templates write them; null without a proxy.
      type: str
      version_added: 0.3.0
    proxy_ready:
      description: Whether istio-proxy is ready.
      type: bool
    proxy_restarts:
      description: Restarts of istio-proxy.
      type: int
    init:
      description:
        - The redirection init container (name, image) with its istio-iptables arguments as fields - outbound_port
          (-p), inbound_port (-z), proxy_uid (-u), proxy_gid (-g), mode (-m), include_ip_ranges (-i),
          exclude_ip_ranges (-x), include_inbound_ports (-b), exclude_inbound_ports (-d), exclude_outbound_ports
          (-o), include_outbound_ports (-q), run_validation, skip_rule_apply. Null when there is none.
      type: dict
    istio_labels:
      description: The values of the three Istio labels (null when missing).
      type: dict
    ready:
      description: Whether the pod's Ready condition is true.
      type: bool
    restarts:
      description: Restarts of all its containers.
      type: int
    containers:
      description: Names of the containers.
      type: list
      elements: str
    init_containers:
      description: Names of the init containers.
      type: list
      elements: str
    ambient:
      description:
        - What ambient mode shows on the pod - C(mode), the C(istio.io/dataplane-mode) that applies (the pod's
          label, else its namespace's; null when neither has one) and C(mode_from) (C(pod) or C(namespace)),
          C(redirection), the CNI node agent's C(ambient.istio.io/redirection) annotation (C(enabled), C(pending)
          or null), C(node), and C(ztunnel_ready), whether a ready ztunnel runs on that node (null unless
          O(require) holds C(ambient)).
      type: dict
      version_added: 0.3.0
    in_mesh:
      description: Whether the pod's traffic goes through the mesh - an istio-proxy sidecar, or enrolled in ambient.
      type: bool
      version_added: 0.3.0
    violations:
      description: What the pod misses of O(require).
      type: list
      elements: str
  sample:
    - name: my-app-v1-7d9f8c6b5-x2x4z
      namespace: my-app
      phase: Running
      injected: true
      sidecar_mode: container
      proxy_image: docker.io/istio/proxyv2:1.14.1
      proxy_version: 1.14.1
      revision: default
      proxy_role: sidecar
      proxy_ready: true
      proxy_restarts: 0
      init:
        name: istio-init
        image: docker.io/istio/proxyv2:1.14.1
        iptables: {outbound_port: 15001, inbound_port: 15006, proxy_uid: "1337", mode: REDIRECT,
                   include_ip_ranges: ["*"], exclude_ip_ranges: [], include_inbound_ports: ["*"],
                   exclude_inbound_ports: ["15090", "15021", "15020"]}
      istio_labels: {"security.istio.io/tlsMode": istio, "service.istio.io/canonical-name": my-app-v1,
                     "service.istio.io/canonical-revision": latest}
      ready: true
      restarts: 0
      containers: [hello, istio-proxy]
      init_containers: [istio-init]
      ambient: {mode: null, mode_from: null, redirection: null, node: ip-10-0-1-23.ec2.internal,
                ztunnel_ready: null}
      in_mesh: true
      violations: []
summary:
  description: Counts over the pods - C(ambient) counts the pods enrolled in ambient, C(in_mesh) those in the
    mesh either way.
  returned: always
  type: dict
  sample: {total: 4, injected: 4, ambient: 0, in_mesh: 4, ready: 4, violating_pods: 0, violations: 0}
violations:
  description: Every violation of every pod, and namespaces that do not exist.
  returned: always
  type: list
  elements: str
  sample: ["pod my-app-v2-abc in my-app has no istio-proxy: namespace label istio-injection is missing"]
missing_namespaces:
  description: Requested namespaces that do not exist.
  returned: always
  type: list
  elements: str
injector_present:
  description: Whether an Istio sidecar-injector webhook configuration exists.
  returned: always
  type: bool
api_retries:
  description: Every Kubernetes API request that was retried after a transient failure, with the reason.
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
  sample: []
"""

from ansible_collections.istio_demo.mesh.plugins.module_utils import inspection
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_module import run_k8s_module


def argument_spec():
    """The module's own options (k8s_module adds the connection and retry options)."""
    spec = inspection.judge_spec(fail_on_violation=False)
    spec.update(field_selector=dict(type="str"))
    return spec


def main():
    run_k8s_module(argument_spec(), inspection.inspect_cluster)


if __name__ == "__main__":
    main()
