# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The engines of the manifest and k8s_info modules, on kubernetes.core's: every object of a manifest sent through
its apply or delete (skipped when already as applied), then awaited, the first failure ending the run with what was
done so far; reads through its find. Both through the collection's client (k8s_connection), so every request is
retried and reported."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
from functools import partial

from ansible.module_utils.common.dict_transformations import dict_merge
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.istio_demo.mesh.plugins.module_utils import inspection
from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_connection import connect
from ansible_collections.kubernetes.core.plugins.module_utils.apply import annotate
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import ResourceTimeout
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.service import K8sService
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.waiter import (
    RESOURCE_PREDICATES,
    Waiter,
    custom_condition,
    exists,
    resource_absent,
)

try:
    from kubernetes.dynamic.resource import ResourceInstance
except ImportError:  # AnsibleK8SModule reports the missing kubernetes library
    ResourceInstance = None

try:
    import yaml
except ImportError:
    yaml = None


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
    """Whether every field of ``wanted`` is in ``actual`` with the same value (lists item by item). A field that
    ``wanted`` sets to null is met by its absence: the API server drops a null field while it decodes an object
    (Istio's Prometheus addon has ``strategy.rollingUpdate: null``), so the live object never holds it."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(
            contains(actual[k], v) if k in actual else v is None for k, v in wanted.items())
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
    if params["state"] != "present" or params.get("server_side_apply"):
        return None  # (a server-side apply keeps no last-applied annotation to compare; the server answers it)
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
    if state != "absent" and instance:
        result["result"] = instance
    if not success:
        raise ResourceTimeout('"{0}" "{1}": Timed out waiting on resource'.format(
            resource.kind, obj["metadata"]["name"]), result=result)


class Prediction(object):
    """What check mode can say of an object the API server cannot dry-run yet: its kind is not served (its
    CustomResourceDefinition comes from an earlier task) or its namespace does not exist (an earlier task, or the
    Namespace earlier in this definition, creates it). Such an object would be created; the result says why it was
    not dry-run. Namespaces are looked up once each."""

    def __init__(self, service):
        self.service = service
        self.namespaces = {}
        self.reasons = []

    def _namespace_exists(self, name):
        if name not in self.namespaces:
            namespaces = self.service.find_resource("Namespace", "v1", fail=True)
            self.namespaces[name] = bool(self.service.retrieve(namespaces, {"metadata": {"name": name}}))
        return self.namespaces[name]

    def reason(self, resource, obj):
        """Why ``obj`` cannot be dry-run (``resource`` None: its kind is not served), or None."""
        if resource is None:
            return "its kind %s (%s) is not served yet" % (obj["kind"], obj["apiVersion"])
        namespace = obj["metadata"].get("namespace")
        if resource.namespaced and namespace and not self._namespace_exists(namespace):
            return "namespace %s does not exist yet" % namespace
        return None

    def summary(self):
        """One line: the objects that would be created without a dry run, grouped by why."""
        by_reason = {}
        for text in self.reasons:
            name, why = text.split(": ", 1)
            by_reason.setdefault(why, []).append(name)
        return "check mode: would create %d object(s) the API server cannot dry-run yet - %s" % (
            len(self.reasons), "; ".join("%s: %s" % (why, ", ".join(names)) for why, names in by_reason.items()))

    def would_create(self, module, obj, why):
        self.reasons.append("%s: %s" % (label(obj), why))
        result = {"changed": True, "method": "create", "result": obj,
                  "msg": "would create %s: the API server cannot dry-run it, %s" % (label(obj), why)}
        if module._diff:
            result["diff"] = {"before": {}, "after": obj}
        return result


def not_served(obj):
    """The result of deleting an object whose kind the cluster does not serve: there is nothing to delete."""
    return {"changed": False, "method": "delete", "result": {},
            "msg": "%s is absent: its kind %s (%s) is not served" % (label(obj), obj["kind"], obj["apiVersion"])}


def _send(module, service, prediction, obj, params, action):
    """(resource, object as sent, result) for one object."""
    resource = service.find_resource(obj["kind"], obj["apiVersion"], fail=False)
    if resource is None and params["state"] == "absent":
        return None, obj, not_served(obj)
    if resource is None and not module.check_mode:
        service.find_resource(obj["kind"], obj["apiVersion"], fail=True)  # raises kubernetes.core's own words
    if resource is not None:
        obj = with_namespace(obj, params.get("namespace"), resource.namespaced)
    why = prediction.reason(resource, obj) if module.check_mode and params["state"] == "present" else None
    if why:
        return None, obj, prediction.would_create(module, obj, why)
    return resource, obj, (unchanged(service, resource, obj, params) or
                           _perform_action(service, copy.deepcopy(obj), action))


def _perform_action(service, obj, action):
    """kubernetes.core's create / apply / delete of one object. Imported here, not with the module: its runner
    brings ansible's URL helpers and cryptography's x509 along (~0.1 s of every start of k8s_info, which reads)."""
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.runner import perform_action
    return perform_action(service, obj, action)


def check_wait(params):
    """kubernetes.core's wait options, which its argument spec types but does not bound."""
    if params["wait_timeout"] <= 0 or params["wait_sleep"] <= 0:
        raise ManifestError("wait_timeout=%s, wait_sleep=%s are invalid: expected seconds > 0"
                            % (params["wait_timeout"], params["wait_sleep"]))


def check_apply(params):
    """server_side_apply applies: it has no meaning where nothing is applied."""
    ssa = params.get("server_side_apply")
    if ssa and params["state"] != "present":
        raise ManifestError("server_side_apply=%r is invalid with state=%s: expected state=present (it says how "
                            "objects are applied; state=%s applies none)" % (ssa, params["state"], params["state"]))
    if ssa and not str(ssa.get("field_manager") or "").strip():
        raise ManifestError("server_side_apply.field_manager=%r is invalid: expected the name the API server records "
                            "as the fields' owner, such as istio_demo.mesh" % (ssa.get("field_manager"),))


def check_prove(params):
    """prove judges what was applied and awaited: it has no meaning where nothing is."""
    prove = params.get("prove")
    if prove is not None and (params["state"] != "present" or not params["wait"]):
        raise ManifestError("prove is invalid with state=%s, wait=%s: expected state=present and wait=true (the pods "
                            "are judged once what was applied has rolled out)" % (params["state"], params["wait"]))


def prove(module, options, result):
    """The pods of ``options`` (the prove option: sidecar_info's options) judged in this same process, once the
    objects rolled out; raises ManifestError with the result and the proof when a pod violates the requirements
    and options.fail_on_violation is set."""
    try:
        return inspection.inspect(module, dict(options, field_selector=None))
    except MeshError as exc:
        if "violations" in exc.details:
            raise ManifestError(exc.message, proof=dict(exc.details, changed=False), **result)
        # a selector sidecar_info refuses, or the API's answer to the pods' LIST
        raise ManifestError("proving the pods (prove) failed after the objects were applied: %s" % exc.message,
                            **result)


def run_module(module):
    """The result; raises ManifestError (with the result so far when an object failed)."""
    params = module.params
    check_wait(params)
    check_apply(params)
    check_prove(params)
    objects = objects_of(params["definition"])
    client = connect(module)
    service = K8sService(client, module)
    prediction = Prediction(service)
    # every object is sent first and waited for afterwards, so that Deployments roll out side by side
    action = dict(state=params["state"], apply=params["state"] == "present", wait=False)
    results, error, done = [], None, []  # done: (resource, object) of each object sent (resource None: not sent)
    for obj in objects:
        try:
            resource, obj, outcome = _send(module, service, prediction, obj, params, action)
        except Exception as exc:  # kubernetes.core raises CoreException and the client's ApiException
            error = "%s %s failed: %s" % ({"present": "applying", "patched": "patching"}.get(params["state"], "deleting"),
                                          label(obj), to_native(exc))
            break
        done.append((resource, obj))
        results.append(outcome)
    if params["wait"] and not module.check_mode and error is None:
        condition = params["wait_condition"] if (params["wait_condition"] or {}).get("type") else None
        for (resource, obj), outcome in zip(done, results):
            if resource is None:
                continue
            try:
                wait_for(service, resource, obj, outcome, params["state"], condition)
            except Exception as exc:  # as above
                error = "waiting for %s failed: %s" % (label(obj), to_native(exc))
                break
    result = dict(
        changed=any(r.get("changed") for r in results),
        result=dict(results=results),
        objects=[label(obj) for _resource, obj in done] + [label(obj) for obj in objects[len(done):]],
        predicted=prediction.reasons,
    )
    if error:
        raise ManifestError(error, **result)
    if params.get("prove") is not None and not module.check_mode:
        result["proof"] = prove(module, params["prove"], result)
    if prediction.reasons:
        result["msg"] = prediction.summary()
        module.warn(result["msg"])  # a person running --check sees what the API server did not validate
    return result


# ---------------------------------------------------------------- the k8s_info module: kubernetes.core's find

QUERY_KEYS = ("kind", "api_version", "name", "namespace", "label_selectors", "field_selectors")


def read_module(module):
    """The k8s_info module's result: kubernetes.core's find (its wait included) through the retrying client - for
    the one query of the options, or for each of ``queries`` in one process (``results``, in their order)."""
    params = module.params
    if params["wait"]:
        check_wait(params)
    service = K8sService(connect(module), module)
    if not params.get("queries"):
        return dict(_read(service, params), changed=False)
    results = []
    for query in params["queries"]:
        one = dict(params)
        one.update((key, query[key]) for key in QUERY_KEYS)
        results.append(dict(_read(service, one), query=dict((key, query[key]) for key in QUERY_KEYS)))
    return dict(changed=False, results=results)


def _read(service, params):
    if params["wait"] and params.get("wait_for") == "absent":
        return _wait_absent(service, params)
    try:
        return service.find(params["kind"], params["api_version"], name=params["name"],
                            namespace=params["namespace"], label_selectors=params["label_selectors"],
                            field_selectors=params["field_selectors"], wait=params["wait"],
                            wait_sleep=params["wait_sleep"], wait_timeout=params["wait_timeout"],
                            condition=params["wait_condition"])
    except Exception as exc:  # kubernetes.core raises CoreException and the client's ApiException
        raise ManifestError("reading %s %s failed: %s" % (params["api_version"], _what(params), to_native(exc)))


def _wait_absent(service, params):
    """Wait until nothing matches the name or the selectors (kubernetes.core's waiter, its absent predicate); the
    objects still there when the wait ends are the result."""
    try:
        resource = service.find_resource(params["kind"], params["api_version"], fail=False)
        if resource is None:
            return dict(api_found=False, resources=[], duration=0)
        gone, last, duration = Waiter(service.client, resource, resource_absent).wait(
            timeout=params["wait_timeout"], sleep=params["wait_sleep"], name=params["name"],
            namespace=params["namespace"], label_selectors=params["label_selectors"],
            field_selectors=params["field_selectors"])
    except Exception as exc:  # kubernetes.core raises CoreException and the client's ApiException
        raise ManifestError("waiting until %s %s is gone failed: %s" % (
            params["api_version"], _what(params), to_native(exc)))
    remaining = [] if gone or not last else (last.get("items") if last.get("kind", "").endswith("List") else [last])
    return dict(api_found=True, resources=remaining or [], duration=duration)


def _what(params):
    where = " in namespace %s" % params["namespace"] if params["namespace"] else ""
    return "%s/%s%s" % (params["kind"], params["name"], where) if params["name"] else "%s objects%s" % (
        params["kind"], where)
