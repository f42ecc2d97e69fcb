# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The sidecar_info module's reads: one LIST of pods per namespace, whatever
the number of pods, plus one LIST of namespaces and one of webhooks."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.istio_demo.mesh.plugins.module_utils import inspection
from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_connection import K8sConnectionError, connect

INJECTOR_PREFIX = "istio-sidecar-injector"


def argument_spec():
    """The module's own options (k8s_module adds the connection and retry options)."""
    spec = dict(
        namespace=dict(type="list", elements="str", default=[]),
        label_selector=dict(type="str"),
        field_selector=dict(type="str"),
        require=dict(type="list", elements="str", choices=list(inspection.REQUIREMENTS), default=["injected"]),
        fail_on_violation=dict(type="bool", default=False),
    )
    return spec


def _items(client, resource, **params):
    return client.get(resource, **params).to_dict().get("items") or []


def run(module):
    """The result; raises InspectionInputError or K8sConnectionError, or MeshError with the result when pods violate
    the requirements and fail_on_violation is set."""
    params = module.params
    namespaces = list(dict.fromkeys(params["namespace"] or []))
    inspection.validate_inputs(namespaces, params.get("label_selector"), params.get("field_selector"))
    client = connect(module)
    selectors = {}
    if params.get("label_selector"):
        selectors["label_selector"] = params["label_selector"]
    if params.get("field_selector"):
        selectors["field_selector"] = params["field_selector"]
    try:
        pods_api = client.resource("Pod", "v1")
        ns_labels = dict((n["metadata"]["name"], n["metadata"].get("labels") or {})
                         for n in _items(client, client.resource("Namespace", "v1")))
        hooks = _items(client, client.resource("MutatingWebhookConfiguration", "admissionregistration.k8s.io/v1"))
        injector = any(h["metadata"]["name"].startswith(INJECTOR_PREFIX) for h in hooks)
        missing = [ns for ns in namespaces if ns not in ns_labels]
        pods = []
        if namespaces:
            for ns in namespaces:
                if ns not in missing:
                    pods.extend(_items(client, pods_api, namespace=ns, **selectors))
        else:
            pods = _items(client, pods_api, **selectors)
    except K8sConnectionError:
        raise
    except Exception as exc:  # the API's own error (403, 401, unreachable) in its words
        raise K8sConnectionError("cannot list pods: %s" % getattr(exc, "summary", lambda: exc)())
    require = params["require"] or ["injected"]
    reports = [inspection.inspect_pod(p, ns_labels.get(p["metadata"].get("namespace")), injector, require)
               for p in sorted(pods, key=lambda p: (p["metadata"].get("namespace"), p["metadata"]["name"]))]
    summary, violations = inspection.summarize(reports, missing)
    result = {"changed": False, "pods": reports, "summary": summary, "violations": violations,
              "missing_namespaces": missing, "injector_present": injector}
    if violations and params["fail_on_violation"]:
        raise MeshError("%d of %d pods violate the mesh requirements (%s): %s" % (
            summary["violating_pods"], summary["total"], ", ".join(require), "; ".join(violations)), **result)
    return result
