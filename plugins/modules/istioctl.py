#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: istioctl
short_description: Install, upgrade and remove Istio with istioctl, idempotently
version_added: 0.2.0
author:
  - istio_demo.mesh developers (@istio-demo-mesh)
description:
  - Runs C(istioctl install) and C(istioctl uninstall) and supplies what the tool itself lacks - idempotence,
    check mode, diffs and errors that name their cause.
  - After a successful install the module records the desired spec (istioctl version, profile, revision, values and
    a hash of the overlay files) and the control-plane Deployments it produced in a ConfigMap in O(istio_namespace),
    the way Istio's installed-state record used to. A run whose spec matches that record and whose recorded
    components are all ready changes nothing and does not call C(istioctl install).
  - A different spec, or a recorded component that is missing or not ready, runs C(istioctl install) again (an
    in-place upgrade or repair).
  - O(state=absent) on a cluster without Istio changes nothing. Removing a revision whose injector webhook is
    already gone (C(istioctl uninstall) then refuses with "could not find target revision") removes what is left
    of that revision's objects instead, with a warning naming them.
  - A move of the running control plane by more than one minor release (e.g. 1.28 to 1.30) is refused before
    any change, as Istio supports in-place upgrades one minor release at a time; install the new release as a
    revision beside the old one instead.
options:
  state:
    description: Whether Istio should be installed.
    type: str
    choices: [present, absent]
    default: present
  profile:
    description:
      - Istio configuration profile.
    type: str
    choices: [ambient, default, demo, empty, minimal, openshift, openshift-ambient, preview, remote, stable]
    default: demo
  revision:
    description:
      - Control-plane revision (C(istioctl install --revision)). Leave unset for the default revision.
    type: str
  set_values:
    description:
      - Istio values passed as C(--set key=value). Nested mappings are flattened to dotted keys, lists to
        C(key[0]) entries, booleans to C(true)/C(false).
      - Values whose last key looks like a secret (password, token, key, ...) are masked in RV(command).
    type: dict
    default: {}
  overlay_files:
    description: IstioOperator overlay files passed as C(-f), in order. Their content is part of the recorded spec.
    type: list
    elements: path
    default: []
  overlays:
    description:
      - IstioOperator overlays given as data (each a mapping whose C(apiVersion) is C(install.istio.io/v1alpha1)
        and whose C(kind) is C(IstioOperator)), passed to istioctl as C(-f) after O(overlay_files), in order.
      - The module writes each to a private file (mode 0600) for the one istioctl run and removes it afterwards,
        so a playbook needs no task of its own to write and remove an overlay. Their content is part of the
        recorded spec.
    type: list
    elements: dict
    default: []
    version_added: 0.3.0
  version:
    description:
      - The istioctl version expected, such as C(1.30.3). A binary of another version is an error, so that a
        playbook never installs a release it did not ask for.
    type: str
  istioctl_path:
    description: Path of the istioctl binary. By default the first C(istioctl) on the PATH.
    type: path
  precheck:
    description:
      - Run C(istioctl x precheck) before installing and fail with its error findings (colours or not); warnings
        are returned in RV(precheck_warnings) and as task warnings, and the install goes on.
    type: bool
    default: true
  purge:
    description: With O(state=absent), remove every Istio resource including the CRDs (C(istioctl uninstall --purge)).
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for each component to become ready (C(istioctl --readiness-timeout)).
      - C(istioctl install) waits component by component, each with this timeout, so the process is allowed that
        long per component of the profile (4 for demo), plus two minutes.
    type: int
    default: 300
  istio_namespace:
    description:
      - Namespace of the control plane. It is passed to istioctl (C(--istioNamespace), and to C(istioctl install)
        as C(values.global.istioNamespace)) and the spec record is kept there.
      - Do not also set C(values.global.istioNamespace) in O(set_values) to something else.
    type: str
    default: istio-system
extends_documentation_fragment:
  - istio_demo.mesh.k8s
  - kubernetes.core.k8s_auth_options
attributes:
  check_mode:
    support: full
    description: Compares the desired spec with the record and reports what it would do; runs nothing that writes.
  diff_mode:
    support: full
    description: Shows the recorded spec before and the desired spec after.
requirements:
  - python >= 3.9
  - kubernetes >= 24.2.0
  - istioctl on the controller (the M(istio_demo.mesh.istioctl) module does not download it)
notes:
  - The connection options reach istioctl as C(--kubeconfig) and C(--context). When the cluster is given by
    O(host) and credentials instead of a kubeconfig, the module writes a temporary kubeconfig (mode 0600) for
    istioctl and removes it afterwards. O(impersonate_user) and O(impersonate_groups) reach it as C(--as) and
    C(--as-group), so istioctl acts as the same identity as the module's own requests; O(proxy) and O(no_proxy)
    reach it as C(HTTPS_PROXY) and C(NO_PROXY) (O(proxy_headers) only with C(proxy_basic_auth), which goes into
    the proxy URL).
  - Changes made to Istio outside this module (for example C(istioctl install) by hand) are seen as a missing
    record and lead to one re-install that records the spec.
seealso:
  - name: istioctl install reference
    description: The command this module wraps.
    link: https://istio.io/latest/docs/reference/commands/istioctl/#istioctl-install
"""

EXAMPLES = r"""
- name: Install Istio with the demo profile
  istio_demo.mesh.istioctl:
    profile: demo
    version: 1.30.3

- name: Install a canary revision with a value and an overlay
  istio_demo.mesh.istioctl:
    profile: default
    revision: canary
    set_values:
      meshConfig:
        accessLogFile: /dev/stdout
    overlay_files:
      - files/ingress-overlay.yaml
    kubeconfig: ~/.kube/eks-demo
    context: demo

- name: Install with the ingress gateway's Service shaped by an overlay given inline
  istio_demo.mesh.istioctl:
    profile: demo
    overlays:
      - apiVersion: install.istio.io/v1alpha1
        kind: IstioOperator
        spec:
          components:
            ingressGateways:
              - name: istio-ingressgateway
                enabled: true
                k8s:
                  service:
                    loadBalancerSourceRanges: [203.0.113.0/24]
    kubeconfig: ~/.kube/eks-demo
    context: demo

- name: Remove Istio and its CRDs
  istio_demo.mesh.istioctl:
    state: absent
    purge: true
"""

RETURN = r"""
client_version:
  description: Version of the istioctl binary that was used.
  returned: always
  type: str
  sample: 1.30.3
control_plane:
  description: The control plane after the run.
  returned: always
  type: dict
  contains:
    version:
      description: Version of istiod (from its image), null when it does not run.
      type: str
    revision:
      description: Revision the module manages.
      type: str
    components:
      description:
        - Control-plane Deployments with their ready and desired replicas and the revision that runs them (a
          gateway is not revisioned - the revision installed last takes it over).
      type: list
      elements: dict
  sample:
    version: 1.30.3
    revision: default
    components:
      - {name: istiod, component: Pilot, ready: 1, desired: 1, healthy: true, revision: default}
      - {name: istio-ingressgateway, component: IngressGateways, ready: 1, desired: 1, healthy: true, revision: default}
operation:
  description: What the run decided for O(state=present) - C(none), C(install) or C(upgrade).
  returned: when state is present
  type: str
  sample: none
reasons:
  description: Why it decided so.
  returned: when state is present
  type: list
  elements: str
  sample: ["profile changed from 'default' to 'demo'"]
command:
  description: The istioctl command as run, secret-looking values masked; empty when nothing ran.
  returned: always
  type: list
  elements: str
  sample: [istioctl, install, -y, --set, profile=demo, --readiness-timeout, 300s]
precheck_warnings:
  description: Warnings C(istioctl x precheck) found before an install that went on.
  returned: when the precheck found only warnings
  type: list
  elements: str
  sample: ["Warning [IST0165] (Cluster) ..."]
removed_leftovers:
  description: Objects of a revision whose injector webhook was gone, removed by the module (kind/name).
  returned: when state is absent and istioctl could not find the revision
  type: list
  elements: str
  sample: [Deployment/istiod-canary, ConfigMap/istio-canary]
stdout_lines:
  description: What istioctl printed on standard output.
  returned: always
  type: list
  elements: str
stderr_lines:
  description: What istioctl printed on standard error.
  returned: always
  type: list
  elements: str
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

from ansible_collections.istio_demo.mesh.plugins.module_utils import istioctl as ic
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_module import run_k8s_module


def argument_spec():
    """The module's own options (k8s_module adds the connection and retry options)."""
    spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        profile=dict(type="str", default="demo", choices=list(ic.PROFILES)),
        revision=dict(type="str"),
        set_values=dict(type="dict", default={}),
        overlay_files=dict(type="list", elements="path", default=[]),
        overlays=dict(type="list", elements="dict", default=[]),
        version=dict(type="str"),
        istioctl_path=dict(type="path"),
        precheck=dict(type="bool", default=True),
        purge=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=300),
        istio_namespace=dict(type="str", default="istio-system"),
    )
    return spec


def main():
    run_k8s_module(argument_spec(), ic.run_module)


if __name__ == "__main__":
    main()
