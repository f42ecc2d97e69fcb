# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The Istio control plane as the cluster holds it: its components' health and release, the installed-spec record
(a ConfigMap beside the control plane), and the few reads and writes the istioctl module makes of them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

from ansible_collections.istio_demo.mesh.plugins.module_utils.istioctl_run import IstioctlError
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_connection import read_json
from ansible_collections.istio_demo.mesh.plugins.module_utils.releases import deployment_version

try:
    from kubernetes.dynamic.exceptions import NotFoundError
except ImportError:  # reported by connect() through module.requires
    NotFoundError = Exception

RECORD_NAME = "istio-demo-mesh-installed-spec"


RECORD_LABELS = {"app.kubernetes.io/managed-by": "istio_demo.mesh", "istio-demo-mesh/record": "installed-spec"}


COMPONENT_LABEL = "operator.istio.io/component"


REVISION_KINDS = (("apps/v1", "Deployment", True), ("v1", "Service", True), ("v1", "ConfigMap", True),
                  ("v1", "ServiceAccount", True), ("autoscaling/v2", "HorizontalPodAutoscaler", True),
                  ("policy/v1", "PodDisruptionBudget", True),
                  ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", False),
                  ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", False))


def component_health(deployments, revision):
    """[{name, ready, desired, healthy}] of the control-plane Deployments of ``revision``."""
    out = []
    for dep in deployments:
        meta = dep.get("metadata") or {}
        labels = meta.get("labels") or {}
        if COMPONENT_LABEL not in labels:
            continue
        dep_rev = labels.get("istio.io/rev", "default")
        if labels.get(COMPONENT_LABEL) == "Pilot" and dep_rev != (revision or "default"):
            continue
        spec = dep.get("spec") or {}
        status = dep.get("status") or {}
        desired = spec.get("replicas", 1)
        ready = status.get("readyReplicas", 0) or 0
        available = status.get("availableReplicas", 0) or 0
        current = status.get("observedGeneration") == meta.get("generation")
        out.append({"name": meta.get("name"), "component": labels.get(COMPONENT_LABEL), "desired": desired,
                    "ready": ready, "healthy": current and available >= desired and ready >= desired,
                    "revision": dep_rev})
    return sorted(out, key=lambda c: c["name"])


def control_plane_version(deployments, revision):
    name = "istiod" if (revision or "default") == "default" else "istiod-%s" % revision
    for dep in deployments:
        if (dep.get("metadata") or {}).get("name") == name:
            return deployment_version(dep)
    return None


def record_body(namespace, spec, components):
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": record_name(spec.get("revision")), "namespace": namespace, "labels": dict(RECORD_LABELS)},
        "data": {"spec": json.dumps(spec, sort_keys=True), "components": json.dumps(sorted(components))},
    }


def record_name(revision):
    return RECORD_NAME if (revision or "default") == "default" else "%s-%s" % (RECORD_NAME, revision)


def read_record(configmap):
    if not configmap:
        return None, []
    data = configmap.get("data") or {}
    try:
        return json.loads(data.get("spec") or "null"), json.loads(data.get("components") or "[]")
    except ValueError:
        return None, []


WAIT_POLL_SECONDS = 2


class Cluster(object):
    """The few Kubernetes reads and writes the module makes, through kubernetes.core's client."""

    def __init__(self, client, namespace):
        self.client = client
        self.namespace = namespace
        self.deployments = client.resource("Deployment", "apps/v1")
        self.configmaps = client.resource("ConfigMap", "v1")

    def list_deployments(self):
        try:
            return read_json(self.client, self.deployments, namespace=self.namespace).get("items") or []
        except NotFoundError:
            return []

    def get_record(self, revision):
        try:
            return read_json(self.client, self.configmaps, name=record_name(revision), namespace=self.namespace)
        except NotFoundError:
            return None

    def write_record(self, body, existing):
        if existing is None:
            self.client.create(self.configmaps, body, namespace=self.namespace)
        else:
            body["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
            self.client.replace(self.configmaps, body, name=body["metadata"]["name"], namespace=self.namespace)

    def delete_record(self, revision):
        try:
            self.client.delete(self.configmaps, name=record_name(revision), namespace=self.namespace)
        except NotFoundError:
            pass

    def delete_revision_leftovers(self, revision):
        """Delete the objects of ``revision`` that istioctl installed (namespaced in the control-plane namespace,
        and webhook configurations); return their kind/name."""
        selector = "istio.io/rev=%s,%s" % (revision or "default", COMPONENT_LABEL)
        removed = []
        for api_version, kind, namespaced in REVISION_KINDS:
            resource = self.client.resource(kind, api_version)
            listing = read_json(self.client, resource, namespace=self.namespace if namespaced else None,
                                label_selector=selector)
            for item in listing.get("items") or []:
                name = item["metadata"]["name"]
                try:
                    resource.delete(name=name, namespace=self.namespace if namespaced else None)
                except NotFoundError:
                    continue
                removed.append("%s/%s" % (kind, name))
        return removed

    def istio_crds_present(self):
        crds = self.client.resource("CustomResourceDefinition", "apiextensions.k8s.io/v1")
        try:
            read_json(self.client, crds, name="virtualservices.networking.istio.io")
            return True
        except NotFoundError:
            return False


def control_plane_state(deployments, revision):
    health = component_health(deployments, revision)
    return {"version": control_plane_version(deployments, revision), "revision": revision or "default",
            "components": health}


def wait_healthy(cluster, names, revision, timeout):
    """Poll the control plane until every named Deployment is ready (return the last LIST); name the ones that
    are not."""
    deadline = time.time() + timeout
    while True:
        deployments = cluster.list_deployments()
        health = dict((c["name"], c) for c in component_health(deployments, revision))
        pending = [n for n in names if not health.get(n, {}).get("healthy")]
        if not pending:
            return deployments
        if time.time() >= deadline:
            details = ", ".join("%s (%s)" % (n, "missing" if n not in health else "%d/%d ready" % (
                health[n]["ready"], health[n]["desired"])) for n in pending)
            raise IstioctlError("timed out after %d s waiting for the Istio control plane: %s" % (timeout, details))
        time.sleep(WAIT_POLL_SECONDS)  # polling a condition, bounded by wait_timeout
