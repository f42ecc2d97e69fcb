"""Istio's ambient data plane as the cluster sees it: the istio-cni node agent enrols pods.

What real Istio does (istio/istio 1.30, cni/pkg/nodeagent and cni/pkg/util/podutil.go):

- A pod is for ambient when its namespace, or the pod itself, carries ``istio.io/dataplane-mode=ambient``; a pod
  label ``istio.io/dataplane-mode=none`` opts it out; a pod with a sidecar (annotation ``sidecar.istio.io/status``)
  is left to its sidecar; ztunnel's own pods and host-network pods are never enrolled.
- The node agent on the pod's node (a pod of the ``istio-cni-node`` DaemonSet) sets up the redirection and hands the
  pod to the ztunnel on that node; it then patches the pod's annotation ``ambient.istio.io/redirection`` to
  ``enabled`` (``pending`` while the redirection is set but no ztunnel took the pod) through ``pods/status``, and
  removes it when the pod leaves ambient.

The sandbox's controllers call ``reconcile`` for a pod, a namespace, or every namespace (a ztunnel or node agent pod
came or went)."""

REDIRECTION = "ambient.istio.io/redirection"
DATAPLANE_MODE = "istio.io/dataplane-mode"
SIDECAR_STATUS = "sidecar.istio.io/status"


def _ready(pod):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def wants_ambient(pod, namespace_labels):
    """Whether the pod is for ambient by its and its namespace's labels (the node agent's enablement selectors)."""
    labels = pod["metadata"].get("labels") or {}
    annotations = pod["metadata"].get("annotations") or {}
    if labels.get(DATAPLANE_MODE) == "none" or SIDECAR_STATUS in annotations:
        return False
    if (pod.get("spec") or {}).get("hostNetwork"):
        return False
    if labels.get("app") == "ztunnel" and pod["metadata"].get("namespace") == "istio-system":
        return False
    return labels.get(DATAPLANE_MODE) == "ambient" or (namespace_labels or {}).get(DATAPLANE_MODE) == "ambient"


class NodeAgent(object):
    """The istio-cni node agents of every node, with the ztunnels they hand pods to."""

    def __init__(self, api, kind):
        self.api = api
        self.kind = kind

    def _system_pods(self, app_label, value):
        pods, dummy = self.api.list(self.kind("", "v1", "pods"), "istio-system")
        return [p for p in pods if (p["metadata"].get("labels") or {}).get(app_label) == value and _ready(p)
                and not p["metadata"].get("deletionTimestamp")]

    def state_for(self, pod, namespace_labels, agents, ztunnels):
        """The redirection annotation the pod should carry: "enabled", "pending" or None."""
        if not wants_ambient(pod, namespace_labels) or not (pod.get("status") or {}).get("podIP"):
            return None
        node = (pod.get("spec") or {}).get("nodeName")
        if node not in agents:
            return None  # no node agent on that node: nothing sets the redirection up
        return "enabled" if node in ztunnels else "pending"

    def _nodes(self):
        agents = set(p["spec"].get("nodeName") for p in self._system_pods("k8s-app", "istio-cni-node"))
        ztunnels = set(p["spec"].get("nodeName") for p in self._system_pods("app", "ztunnel"))
        return agents, ztunnels

    def reconcile(self, namespace=None):
        """Every pod of ``namespace`` (None: of every namespace)."""
        namespaces_kind = self.kind("", "v1", "namespaces")
        agents, ztunnels = self._nodes()
        if namespace is None:
            names = [n["metadata"]["name"] for n in self.api.list(namespaces_kind)[0]]
        else:
            names = [namespace]
        for name in names:
            ns = self.api.find(namespaces_kind, None, name)
            ns_labels = (ns or {}).get("metadata", {}).get("labels") or {}
            for pod in self.api.list(self.kind("", "v1", "pods"), name)[0]:
                self._enrol(pod, ns_labels, agents, ztunnels)

    def reconcile_pod(self, pod):
        """One pod that was created, started or changed."""
        labels = pod["metadata"].get("labels") or {}
        if pod["metadata"].get("namespace") == "istio-system" and (
                labels.get("app") == "ztunnel" or labels.get("k8s-app") == "istio-cni-node"):
            self.reconcile()  # a ztunnel or node agent came, went or became ready: every pod of its node may change
            return
        ns = self.api.find(self.kind("", "v1", "namespaces"), None, pod["metadata"]["namespace"])
        ns_labels = (ns or {}).get("metadata", {}).get("labels") or {}
        if not wants_ambient(pod, ns_labels) and REDIRECTION not in (pod["metadata"].get("annotations") or {}):
            return
        agents, ztunnels = self._nodes()
        self._enrol(pod, ns_labels, agents, ztunnels)

    def state_at_start(self, pod, node, pod_ip):
        """The annotation the CNI plugin gives a pod as its network is set up on ``node`` (None: not for ambient)."""
        ns = self.api.find(self.kind("", "v1", "namespaces"), None, pod["metadata"]["namespace"])
        ns_labels = (ns or {}).get("metadata", {}).get("labels") or {}
        if not wants_ambient(pod, ns_labels):
            return None
        agents, ztunnels = self._nodes()
        placed = dict(pod, spec=dict(pod.get("spec") or {}, nodeName=node), status={"podIP": pod_ip})
        return self.state_for(placed, ns_labels, agents, ztunnels)

    def _enrol(self, pod, ns_labels, agents, ztunnels):
        if pod["metadata"].get("deletionTimestamp"):
            return
        wanted = self.state_for(pod, ns_labels, agents, ztunnels)
        current = (pod["metadata"].get("annotations") or {}).get(REDIRECTION)
        if wanted == current or (current == "enabled" and wanted == "pending"):
            # an enrolled pod stays enrolled while its node's ztunnel restarts: the new ztunnel gets it again from
            # the node agent's snapshot
            return
        # a merge patch of pods/status, as the node agent sends it (AnnotateEnrolledPod, AnnotateUnenrollPod)
        patch = '{"metadata":{"annotations":{"%s":%s}}}' % (REDIRECTION, '"%s"' % wanted if wanted else "null")
        self.api.patch(self.kind("", "v1", "pods"), pod["metadata"]["namespace"], pod["metadata"]["name"],
                       "application/merge-patch+json", patch.encode(), subresource="status")
