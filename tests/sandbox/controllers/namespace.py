"""The namespace controller: a new namespace's defaults, a terminating one emptied and removed."""

from ..api import ApiError, now
from .common import ControllerBase


class NamespaceController(ControllerBase):
    def on_namespace(self, etype, obj):
        name = obj["metadata"]["name"]
        terminating = (obj.get("status") or {}).get("phase") == "Terminating"
        if etype == "MODIFIED" and not terminating:
            self.node_agent.reconcile(name)  # istio.io/dataplane-mode set or taken off
        if etype == "ADDED":
            self.populate_namespace(name)
        elif terminating:
            # the namespace controller gets to it a moment later, as on a cluster
            self.later(self.settings.namespace_termination, self.empty_namespace, name)

    def populate_namespace(self, namespace):
        accounts = self.kind("", "v1", "serviceaccounts")
        configmaps = self.kind("", "v1", "configmaps")
        for kind, body in (
                (accounts, {"metadata": {"name": "default", "namespace": namespace}}),
                (configmaps, {"metadata": {"name": "kube-root-ca.crt", "namespace": namespace,
                                           "annotations": {"kubernetes.io/description": "Contains a CA bundle that "
                                                           "can be used to verify the kube-apiserver when using "
                                                           "internal endpoints such as the internal service IP or "
                                                           "kubernetes.default.svc. No other usage is guaranteed "
                                                           "across distributions of Kubernetes clusters."}},
                              "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nsandbox\n-----END CERTIFICATE-----\n"}})):
            if self.api.find(kind, namespace, body["metadata"]["name"]) is None:
                try:
                    self.api.create(kind, namespace, body)
                except ApiError:
                    pass

    def empty_namespace(self, namespace):
        # the namespace controller DELETEs each object: one holding finalizers stays (and holds the namespace in
        # Terminating) until its controller releases it (Kubernetes docs, "Namespaces" and "Finalizers")
        try:
            for kind, obj in self.api.all_objects():
                if kind.namespaced and obj["metadata"].get("namespace") == namespace:
                    try:
                        # as a user's DELETE: finalizers hold the object, a pod stops gracefully
                        self.api.delete(kind, namespace, obj["metadata"]["name"])
                    except ApiError as exc:
                        if exc.code != 404:  # gone already: collected with its owner
                            raise
        finally:
            self.later(self.settings.namespace_termination, self.finalize_namespace, namespace)

    def finalize_namespace(self, namespace):
        namespaces = self.kind("", "v1", "namespaces")
        ns = self.api.find(namespaces, None, namespace)
        if ns is None:
            return
        leftovers = [o for k, o in self.api.all_objects() if k.namespaced and o["metadata"].get("namespace") == namespace]
        if leftovers:
            held = sorted(set(f for o in leftovers for f in o["metadata"].get("finalizers") or []))
            if held:
                self._namespace_condition(ns, held)
            self.empty_namespace(namespace)
            return
        self.api.remove(namespaces, ns)

    def _namespace_condition(self, ns, finalizers):
        """The condition kube-controller-manager's namespace controller sets when finalizers hold content."""
        namespaces = self.kind("", "v1", "namespaces")
        message = "Some content in the namespace has finalizers remaining: %s" % ", ".join(
            "%s in 1 resource instances" % f for f in finalizers)
        conditions = [c for c in (ns.get("status") or {}).get("conditions") or []
                      if c.get("type") != "NamespaceFinalizersRemaining"]
        if any(c.get("message") == message for c in (ns.get("status") or {}).get("conditions") or []):
            return
        conditions.append({"type": "NamespaceFinalizersRemaining", "status": "True", "reason": "SomeFinalizersRemain",
                           "message": message, "lastTransitionTime": now()})
        status = dict(ns.get("status") or {}, conditions=conditions)
        self.api.replace(namespaces, None, ns["metadata"]["name"], dict(ns, status=status), subresource="status")
