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
      - C(absent) deletes every object that exists.
    type: str
    choices: [present, absent]
    default: present
  namespace:
    description: Namespace for namespaced objects whose definition does not name one.
    type: str
extends_documentation_fragment:
  - istio_demo.mesh.k8s
  - kubernetes.core.k8s_auth_options
  - kubernetes.core.k8s_wait_options
attributes:
  check_mode:
    support: full
    description: Objects are sent with C(dryRun=All), so the API server validates and predicts the change.
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

- name: Remove a namespace and everything in it
  istio_demo.mesh.manifest:
    state: absent
    definition:
      apiVersion: v1
      kind: Namespace
      metadata:
        name: my-app
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
          description: C(apply) or C(delete).
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
from functools import partial

from ansible.module_utils.common.dict_transformations import dict_merge
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_connection import connect
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_module import run_k8s_module
from ansible_collections.kubernetes.core.plugins.module_utils.apply import annotate
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import WAIT_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import ResourceTimeout
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.runner import perform_action
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.service import K8sService
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.waiter import RESOURCE_PREDICATES, custom_condition, exists

try:
    from kubernetes.dynamic.resource import ResourceInstance
except ImportError:  # AnsibleK8SModule reports the missing kubernetes library
    ResourceInstance = None

try:
    import yaml
except ImportError:
    yaml = None


def argument_spec():
    """The module's own options (k8s_module adds the connection and retry options)."""
    spec = copy.deepcopy(WAIT_ARG_SPEC)
    spec.update(
        definition=dict(type="raw", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        namespace=dict(type="str"),
    )
    return spec


class ManifestError(MeshError):
    """The definition cannot be used; nothing was sent."""


def objects_of(definition):
    """The definition as a list of object mappings; raises ManifestError."""
    if isinstance(definition, str):
        if yaml is None:
            raise ManifestError("definition is YAML text, which needs PyYAML")
        try:
            definition = list(yaml.safe_load_all(definition))
        except yaml.YAMLError as exc:
            raise ManifestError("definition is not valid YAML: %s" % exc)
    if isinstance(definition, dict):
        definition = [definition]
    if not isinstance(definition, list):
        raise ManifestError("definition=%r is invalid: expected a list of objects, an object or YAML text" % (definition,))
    objects = []
    for index, item in enumerate(definition):
        if item is None:
            continue
        if isinstance(item, dict) and item.get("kind") == "List" or isinstance(item, list):
            nested = item.get("items") if isinstance(item, dict) else item
            objects.extend(objects_of(nested or []))
            continue
        if not isinstance(item, dict) or not item.get("kind") or not item.get("apiVersion") \
                or not (item.get("metadata") or {}).get("name"):
            raise ManifestError("definition[%d]=%s is invalid: expected an object with apiVersion, kind and metadata.name"
                                % (index, _short(item)))
        objects.append(copy.deepcopy(item))
    return objects


def with_namespace(obj, namespace, namespaced):
    """``obj`` in ``namespace`` when its kind is namespaced and it names none."""
    if namespace and namespaced and not obj["metadata"].get("namespace"):
        obj = copy.deepcopy(obj)
        obj["metadata"]["namespace"] = namespace
    return obj


def _short(value):
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def label(obj):
    meta = obj.get("metadata") or {}
    return "%s/%s/%s" % (obj.get("kind"), meta.get("namespace") or "", meta.get("name"))


def contains(actual, wanted):
    """Whether every field of ``wanted`` is in ``actual`` with the same value (lists item by item)."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(k in actual and contains(actual[k], v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(actual, list) and len(actual) == len(wanted) and all(
            contains(a, w) for a, w in zip(actual, wanted))
    return actual == wanted


def unchanged(service, resource, obj, params):
    """The result for an object that is already as applied, or None.

    kubernetes.core's client-side apply sends a PATCH for every object that
    holds a list, even when nothing differs. An object whose live state holds
    every field of the definition, and whose last-applied annotation is this
    very definition, needs no request at all: it is read once and reported
    unchanged.
    """
    if params["state"] != "present":
        return None
    desired = copy.deepcopy(obj)
    desired["kind"] = resource.kind
    desired["apiVersion"] = resource.group_version
    existing = service.retrieve(resource, desired)
    if not existing:
        return None
    live = existing.to_dict()
    if not contains(live, dict_merge(desired, annotate(desired))):
        return None
    result = {"changed": False, "method": "apply", "result": live}
    if service.module._diff:
        result["diff"] = {"before": live, "after": live}
    return result


def wait_for(service, resource, obj, result, state, condition):
    """Wait for one object as kubernetes.core would; raises ResourceTimeout.

    An object the API server already returned in the awaited state (a
    Service, a ConfigMap, a Deployment that was ready) is not read again.
    """
    known = result.get("result")
    if state == "present" and isinstance(known, dict) and known.get("kind") and ResourceInstance is not None:
        predicate = partial(custom_condition, condition) if condition else RESOURCE_PREDICATES.get(resource.kind, exists)
        if predicate(ResourceInstance(service.client, known)):
            result["duration"] = 0
            return
    success, instance, duration = service.wait(resource, obj)
    result["duration"] = duration
    if state == "present" and instance:
        result["result"] = instance
    if not success:
        raise ResourceTimeout('"{0}" "{1}": Timed out waiting on resource'.format(
            resource.kind, obj["metadata"]["name"]), result=result)


def run(module):
    """The result; raises ManifestError (with the result so far when an object failed)."""
    params = module.params
    if params["wait_timeout"] <= 0 or params["wait_sleep"] <= 0:
        raise ManifestError("wait_timeout=%s, wait_sleep=%s are invalid: expected seconds > 0"
                            % (params["wait_timeout"], params["wait_sleep"]))
    objects = objects_of(params["definition"])
    client = connect(module)
    service = K8sService(client, module)
    # every object is sent first and waited for afterwards, so that Deployments roll out side by side
    action = dict(state=params["state"], apply=params["state"] == "present", wait=False)
    results, error, done = [], None, []  # done: (resource, object) of each object sent
    for obj in objects:
        try:
            resource = service.find_resource(obj["kind"], obj["apiVersion"], fail=True)
            obj = with_namespace(obj, params.get("namespace"), resource.namespaced)
            done.append((resource, obj))
            results.append(unchanged(service, resource, obj, params) or
                           perform_action(service, copy.deepcopy(obj), action))
        except Exception as exc:  # kubernetes.core raises CoreException and the client's ApiException
            error = "%s %s failed: %s" % ("applying" if params["state"] == "present" else "deleting",
                                          label(obj), to_native(exc))
            break
    if params["wait"] and not module.check_mode and error is None:
        condition = params["wait_condition"] if (params["wait_condition"] or {}).get("type") else None
        for (resource, obj), outcome in zip(done, results):
            try:
                wait_for(service, resource, obj, outcome, params["state"], condition)
            except Exception as exc:  # as above
                error = "waiting for %s failed: %s" % (label(obj), to_native(exc))
                break
    result = dict(
        changed=any(r.get("changed") for r in results),
        result=dict(results=results),
        objects=[label(obj) for _resource, obj in done] + [label(obj) for obj in objects[len(done):]],
    )
    if error:
        raise ManifestError(error, **result)
    return result


def main():
    run_k8s_module(argument_spec(), run)


if __name__ == "__main__":
    main()
