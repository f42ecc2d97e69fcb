#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: revision_tag
short_description: Point an Istio revision tag at a control-plane revision, idempotently
version_added: 0.3.0
author:
  - istio_demo.mesh developers (@istio-demo-mesh)
description:
  - Creates, moves or removes an Istio revision tag with C(istioctl tag set --overwrite) and C(istioctl tag remove),
    only when the tag does not already point where it should.
  - A revision tag is a stable name for a control-plane revision. Namespaces labelled C(istio.io/rev=TAG) get their
    sidecars from the revision the tag points to; moving the tag moves every such namespace at once, and its pods
    follow when they are made again (a rollout restart). This is how Istio's canary upgrades move workloads.
  - The module reads the tags and revisions from the injector MutatingWebhookConfigurations - a revision's own
    configuration is labelled C(istio.io/rev=REVISION), a tag's C(istio.io/tag=TAG) - so a run that changes nothing
    does not start istioctl.
  - A tag cannot point at a revision that has no control plane; that is refused before any change, naming the
    revisions that are installed.
options:
  tag:
    description:
      - Name of the revision tag; a DNS label. C(default) is Istio's special tag that also takes over namespaces
        labelled C(istio-injection=enabled).
    type: str
    required: true
  revision:
    description:
      - The control-plane revision the tag points to; C(default) for the revision installed without a name.
      - Required with O(state=present).
    type: str
  state:
    description: Whether the tag should exist (pointing at O(revision)) or not.
    type: str
    choices: [present, absent]
    default: present
  istioctl_path:
    description:
      - Path of the istioctl binary. By default the first C(istioctl) on the PATH. Use the istioctl of the release
        you are moving to.
    type: path
  istio_namespace:
    description: Namespace of the control plane (C(istioctl --istioNamespace)).
    type: str
    default: istio-system
extends_documentation_fragment:
  - istio_demo.mesh.k8s
  - kubernetes.core.k8s_auth_options
attributes:
  check_mode:
    support: full
    description: Reads the tag and reports whether it would be created, moved or removed; runs no istioctl.
  diff_mode:
    support: none
    description: The result's RV(previous_revision) and RV(revision) say what moved.
requirements:
  - python >= 3.9
  - kubernetes >= 24.2.0
  - istioctl on the controller
notes:
  - Moving a tag changes no running pod. Restart the workloads of the tagged namespaces to give them the new
    revision's proxy; the M(istio_demo.mesh.sidecar_info) module shows which proxy each pod runs.
  - Removing a tag that namespaces still carry leaves them without injection for new pods; the module warns and
    names them.
  - C(istioctl uninstall), even with C(--purge), leaves the tags set with C(istioctl tag set) in place (Istio makes
    them user-managed). The C(default) tag that C(istioctl install) makes carries the install's labels, so
    the uninstall of the revision it points at removes it; move it (O(tag=default)) before removing that revision.
seealso:
  - name: Istio canary upgrades with revision tags
    description: Istio's guide to the moves this module makes.
    link: https://istio.io/latest/docs/setup/upgrade/canary/
  - name: istioctl tag reference
    description: The commands this module wraps.
    link: https://istio.io/latest/docs/reference/commands/istioctl/#istioctl-tag
"""

EXAMPLES = r"""
- name: Point the prod-stable tag at the 1-30-3 revision
  istio_demo.mesh.revision_tag:
    tag: prod-stable
    revision: 1-30-3
    istioctl_path: ~/.cache/istio_demo_mesh/istio-1.30.3/istioctl
  register: moved

- name: Tag the revision installed without a name
  istio_demo.mesh.revision_tag:
    tag: prod-stable
    revision: default

- name: Remove the tag
  istio_demo.mesh.revision_tag:
    tag: prod-canary
    state: absent
"""

RETURN = r"""
tag:
  description: The tag.
  returned: always
  type: str
  sample: prod-stable
revision:
  description: The revision the tag points to after the run; null when it does not exist.
  returned: always
  type: str
  sample: 1-30-3
previous_revision:
  description: The revision the tag pointed to before the run; null when it did not exist.
  returned: always
  type: str
  sample: default
namespaces:
  description: Namespaces labelled C(istio.io/rev=TAG).
  returned: always
  type: list
  elements: str
  sample: [my-app]
revisions:
  description: The control-plane revisions installed (their own injector webhook configurations).
  returned: always
  type: list
  elements: str
  sample: [1-30-3, default]
command:
  description: The istioctl command run; empty when nothing ran.
  returned: always
  type: list
  elements: str
  sample: [istioctl, tag, set, prod-stable, --revision, 1-30-3, --overwrite, --skip-confirmation]
stdout_lines:
  description: What istioctl printed.
  returned: always
  type: list
  elements: str
stderr_lines:
  description: What istioctl printed on standard error.
  returned: always
  type: list
  elements: str
api_retries:
  description:
    - Kubernetes API requests that were retried, each with method, path and reason (HTTP status or connection
      error). Empty when none was.
  returned: always
  type: list
  elements: dict
  sample: [{method: GET, path: /apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations, reason: HTTP 503}]
"""

from ansible_collections.istio_demo.mesh.plugins.module_utils import revision_tag
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_module import run_k8s_module


def argument_spec():
    """The module's own options (k8s_module adds the connection and retry options)."""
    return dict(
        tag=dict(type="str", required=True),
        revision=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        istioctl_path=dict(type="path"),
        istio_namespace=dict(type="str", default="istio-system"),
    )


def main():
    run_k8s_module(argument_spec(), revision_tag.run_module, required_if=[("state", "present", ["revision"])])


if __name__ == "__main__":
    main()
