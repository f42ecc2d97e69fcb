#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: manifest
short_description: Apply or remove a whole Kubernetes manifest, riding out a flaky API server
version_added: 0.2.0
author:
  - istio_demo.mesh developers (@istio-demo-mesh)
description:
  - Applies (C(state=present)) or deletes (C(state=absent)) every object of a manifest in one task and optionally
    waits for them, with the apply, diff, check-mode and wait behaviour of M(kubernetes.core.k8s) with C(apply=true),
    whose engine it uses.
  - Unlike M(kubernetes.core.k8s), every API request is retried when the API server answers 429, 500, 502, 503 or
    504 or the connection drops, with exponential backoff that honours C(Retry-After). Each retry is reported in
    RV(api_retries) and in a warning, so a run that rode out trouble says so.
  - Answers that are not transient (401, 403, 404, 409, 422) fail at once with the API server's message and the
    object that was refused.
options:
  definition:
    description:
      - The objects, as a list of mappings, one mapping, or YAML text with one or more documents.
      - Empty documents are skipped.
    type: raw
    required: true
  state:
    description:
      - C(present) applies every object (client-side apply, as C(kubectl apply) does).
      - C(absent) deletes every object that exists. An object whose kind the cluster does not serve (its
        CustomResourceDefinition is gone) is absent already.
      - C(patched) patches every object that exists with its definition (see O(merge_type)) and creates none; an
        object that does not exist is left so, with a warning. A field set to V(null) is removed, as in a merge
        patch. Nothing is recorded in the last-applied annotation, so a later C(present) still prunes as before.
    type: str
    choices: [present, absent, patched]
    default: present
  merge_type:
    description:
      - With O(state=patched), the patch types tried in order until the API server takes one (a custom
        resource takes no strategic merge patch). Default V(strategic-merge), then V(merge), as
        M(kubernetes.core.k8s) tries them.
    type: list
    elements: str
    choices: [merge, strategic-merge]
  namespace:
    description: Namespace for namespaced objects whose definition does not name one.
    type: str
  server_side_apply:
    description:
      - With O(state=present), apply in the API server (C(kubectl apply --server-side)) instead of in the client,
        as M(kubernetes.core.k8s) does with the same option. The object's fields are then owned by
        O(server_side_apply.field_manager) in C(metadata.managedFields), and no last-applied annotation is
        written - so an object larger than that annotation's 256 KiB (a big CustomResourceDefinition) can be
        applied.
      - Refused with O(state=absent) or O(state=patched), which apply nothing.
    type: dict
    version_added: 0.4.0
    suboptions:
      field_manager:
        description: The name the API server records as the owner of the fields applied.
        type: str
        required: true
      force_conflicts:
        description:
          - Take over fields another manager owns. Without it, a field another manager set to another value fails
            the task with the API server's conflict, naming the manager.
        type: bool
        default: false
  prove:
    description:
      - Once every object is applied and has rolled out (O(state=present), O(wait=true)), judge the pods these
        options select as M(istio_demo.mesh.sidecar_info) does, in the same module run - so that applying an app
        and proving its pods joined the mesh costs one module process, not two. The judgement is RV(proof).
      - Not in check mode, where nothing rolled out. Refused with another O(state) or without O(wait).
    type: dict
    version_added: 0.5.0
    suboptions:
      namespace:
        description: Namespace or namespaces of the pods. All namespaces when empty.
        type: list
        elements: str
        default: []
      label_selector:
        description: Only pods matching this label selector.
        type: str
      require:
        description: What each pod must show, as M(istio_demo.mesh.sidecar_info)'s O(istio_demo.mesh.sidecar_info#module:require).
        type: list
        elements: str
        choices: [injected, ready, labels, init, ambient]
        default: [injected]
      pods_reported:
        description: Which pods RV(proof.pods) lists - C(violating) or C(all).
        type: str
        choices: [all, violating]
        default: violating
      fail_on_violation:
        description:
          - Fail, listing every violation, when a pod misses a requirement or a namespace does not exist; the
            failed result still holds RV(proof) and what was applied.
        type: bool
        default: true
extends_documentation_fragment:
  - istio_demo.mesh.k8s
  - kubernetes.core.k8s_auth_options
  - kubernetes.core.k8s_wait_options
attributes:
  check_mode:
    support: full
    description:
      - Objects are sent with C(dryRun=All), so the API server validates and predicts the change.
      - An object the API server cannot dry-run yet - its kind is not served (an earlier task installs its
        CustomResourceDefinition) or its namespace does not exist (an earlier task, or a Namespace earlier in the
        definition, creates it) - is reported as would be created (C(method=create)), with the reason in
        RV(predicted) and RV(msg), so check mode on a fresh cluster says what a run would do. A kind mistyped
        in the definition is reported the same way in check mode, and fails a real run.
  diff_mode:
    support: full
    description: Returns each object's diff in C(result.results[].diff).
requirements:
  - python >= 3.9
  - kubernetes >= 24.2.0
  - urllib3
notes:
  - Retries are per request, inside the task; the task itself is not repeated, so a wait keeps its C(wait_timeout).
seealso:
  - module: kubernetes.core.k8s
"""

EXAMPLES = r"""
- name: Apply the demo apps and wait until they are ready
  istio_demo.mesh.manifest:
    definition: "{{ lookup('ansible.builtin.template', 'apps.yml.j2') }}"
    wait: true
    wait_timeout: 300

- name: Apply CRDs and wait until they are served
  istio_demo.mesh.manifest:
    definition: "{{ crds }}"
    wait: true
    wait_condition:
      type: Established
      status: "True"

- name: Apply big CRDs server-side (beyond the last-applied annotation's size) and wait until they are served
  istio_demo.mesh.manifest:
    definition: "{{ lookup('ansible.builtin.file', 'standard-install.yaml') }}"
    server_side_apply:
      field_manager: istio_demo.mesh
    wait: true
    wait_condition:
      type: Established
      status: "True"

- name: Apply the demo apps, wait for them, and prove every pod joined the mesh - one module run
  istio_demo.mesh.manifest:
    definition: "{{ lookup('ansible.builtin.template', 'apps.yml.j2') }}"
    wait: true
    prove:
      namespace: [my-app]
      label_selector: app in (my-app-v1,my-app-v2)
      require: [injected, init, labels, ready]
  register: apps

- name: Remove a namespace and everything in it
  istio_demo.mesh.manifest:
    state: absent
    definition:
      apiVersion: v1
      kind: Namespace
      metadata:
        name: my-app
    wait: true

- name: Restart a Deployment (kubectl rollout restart's annotation) and wait for its rollout
  istio_demo.mesh.manifest:
    state: patched
    definition:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: web
        namespace: my-app
      spec:
        template:
          metadata:
            annotations:
              kubectl.kubernetes.io/restartedAt: "{{ now(utc=true).strftime('%Y-%m-%dT%H:%M:%SZ') }}"
    wait: true
"""

RETURN = r"""
result:
  description: What happened to each object, in the order of the definition.
  returned: always
  type: dict
  contains:
    results:
      description: One entry per object.
      type: list
      elements: dict
      contains:
        changed:
          description: Whether this object was created, changed or deleted.
          type: bool
        method:
          description: C(apply), C(update) (a patch) or C(delete); C(create) for an object check mode could not dry-run.
          type: str
        msg:
          description: Why an object was not sent (check mode could not dry-run it, or its kind is not served).
          type: str
        result:
          description: The object as the API server returned it.
          type: dict
        diff:
          description: Before and after, in diff mode.
          type: dict
        duration:
          description: Seconds spent waiting, when I(wait) is set.
          type: int
  sample:
    results:
      - changed: true
        method: apply
        result: {kind: Namespace, metadata: {name: my-app}}
predicted:
  description:
    - In check mode, the objects the API server could not dry-run and that would be created, each with the reason.
  returned: always
  type: list
  elements: str
  version_added: 0.3.0
  sample: ["Deployment/my-app/my-app-v1: namespace my-app does not exist yet"]
msg:
  description: In check mode, what would be created without a dry run, and why.
  returned: when check mode could not dry-run an object
  type: str
  version_added: 0.3.0
proof:
  description:
    - The judgement of the pods O(prove) selects - what M(istio_demo.mesh.sidecar_info) returns (RV(proof.pods),
      RV(proof.summary), RV(proof.violations), RV(proof.missing_namespaces), RV(proof.injector_present)).
  returned: when O(prove) is set, not in check mode, and the objects rolled out
  type: dict
  version_added: 0.5.0
  contains:
    pods:
      description: One report per pod (with O(prove.pods_reported=violating), only those with a violation).
      type: list
      elements: dict
    summary:
      description: Counts over the pods.
      type: dict
    violations:
      description: Every violation of every pod, and namespaces that do not exist.
      type: list
      elements: str
    missing_namespaces:
      description: Requested namespaces that do not exist.
      type: list
      elements: str
    injector_present:
      description: Whether an Istio sidecar-injector webhook configuration exists.
      type: bool
  sample:
    pods: []
    summary: {total: 4, injected: 4, ambient: 0, in_mesh: 4, ready: 4, violating_pods: 0, violations: 0}
    violations: []
    missing_namespaces: []
    injector_present: true
objects:
  description: C(Kind/namespace/name) of every object, in order.
  returned: always
  type: list
  elements: str
  sample: [Namespace//my-app, Deployment/my-app/my-app-v1]
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
  sample: [{method: PATCH, path: /apis/apps/v1/namespaces/my-app/deployments/my-app-v1, reason: HTTP 503}]
"""

import copy

from ansible_collections.istio_demo.mesh.plugins.module_utils import inspection, manifest
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_module import run_k8s_module
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import WAIT_ARG_SPEC


def argument_spec():
    """The module's own options (k8s_module adds the connection and retry options)."""
    spec = copy.deepcopy(WAIT_ARG_SPEC)
    spec.update(
        definition=dict(type="raw", required=True),
        state=dict(type="str", choices=["present", "absent", "patched"], default="present"),
        namespace=dict(type="str"),
        merge_type=dict(type="list", elements="str", choices=["merge", "strategic-merge"]),
        server_side_apply=dict(type="dict", options=dict(
            field_manager=dict(type="str", required=True),
            force_conflicts=dict(type="bool", default=False),
        )),
        # sidecar_info's options, but a rollout's proof fails by default
        prove=dict(type="dict", options=inspection.judge_spec(fail_on_violation=True)),
    )
    return spec


def main():
    run_k8s_module(argument_spec(), manifest.run_module)


if __name__ == "__main__":
    main()
