"""Istio's ambient data plane as the cluster sees it: the istio-cni node agent enrols pods.

What real Istio does (istio/istio 1.30, cni/pkg/nodeagent and cni/pkg/util/podutil.go):

- A pod is for ambient when its namespace, or the pod itself, carries ``istio.io/dataplane-mode=ambient``; a pod
  label ``istio.io/dataplane-mode=none`` opts it out; a pod with a sidecar (annotation ``sidecar.istio.io/status``)
  is left to its sidecar; ztunnel's own pods and host-network pods are never enrolled.
- The node agent on the pod's node (a pod of the ``istio-cni-node`` DaemonSet) sets up the redirection and hands the
  pod to the ztunnel on that node; it then patches the pod's annotation ``ambient.istio.io/redirection`` to
  ``enabled`` (``pending`` while the redirection is set but no ztunnel took the pod) through ``pods/status``, and
  removes it when the pod leaves ambient.
- On a pod's update it acts on the pod as it is now, not as the event showed it (cni/pkg/nodeagent/informers.go,
  reconcilePod: "The pod data in the event may be stale"): an enrolled pod that ended (phase Succeeded or Failed, a
  Job's pod) is taken out of the mesh and its annotation removed; a pod that should be in ambient but has no IP yet
  is left until it has one (never un-enrolled for it); an enrolled pod that should stay is left alone, and a
  ``pending`` one is taken again. Only the agent on the pod's own node acts: without one, nothing changes.

The sandbox's controllers call ``reconcile`` for a pod, a namespace, or every namespace (a ztunnel or node agent pod
came or went)."""

from . import meshconfig

REDIRECTION = "ambient.istio.io/redirection"
DATAPLANE_MODE = "istio.io/dataplane-mode"
SIDECAR_STATUS = "sidecar.istio.io/status"


def is_mesh_node_pod(labels):
    """A ztunnel or an istio-cni node agent pod: one that coming or going changes its node's ambient pods."""
    return (labels or {}).get("app") == "ztunnel" or (labels or {}).get("k8s-app") == "istio-cni-node"


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
    if labels.get("app") == "ztunnel":  # ztunnel itself, in the control plane's namespace
        return False
    return labels.get(DATAPLANE_MODE) == "ambient" or (namespace_labels or {}).get(DATAPLANE_MODE) == "ambient"


class NodeAgent(object):
    """The istio-cni node agents of every node, with the ztunnels they hand pods to."""

    def __init__(self, api, kind):
        self.api = api
        self.kind = kind

    def _system_pods(self, app_label, value):
        pods, dummy = self.api.list(self.kind("", "v1", "pods"), meshconfig.control_plane_namespace(self.api))
        return [p for p in pods if (p["metadata"].get("labels") or {}).get(app_label) == value and _ready(p)
                and not p["metadata"].get("deletionTimestamp")]

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
        """One pod that was created, started or changed (``pod`` as an event showed it: it is read again)."""
        labels = pod["metadata"].get("labels") or {}
        if is_mesh_node_pod(labels):
            self.reconcile()  # a ztunnel or node agent came, went or became ready: every pod of its node may change
            return
        pod = self.api.find(self.kind("", "v1", "pods"), pod["metadata"]["namespace"], pod["metadata"]["name"])
        if pod is None:
            return  # gone since: its deletion is no update
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
        if node not in agents or not pod_ip:
            return None  # no node agent on that node: nothing sets the redirection up
        return "enabled" if node in ztunnels else "pending"

    @staticmethod
    def _update_for(pod, ns_labels, agents, ztunnels):
        """What the node agent does on an update of ``pod``: (True, annotation value or None to remove it), or
        (False, None) when it changes nothing (informers.go, reconcilePod, EventUpdate)."""
        node = (pod.get("spec") or {}).get("nodeName")
        if pod["metadata"].get("deletionTimestamp") or node not in agents:
            return False, None  # a pod being deleted is let go on its deletion; no agent on the node, no action
        current = (pod["metadata"].get("annotations") or {}).get(REDIRECTION)
        enrolled, partly = current == "enabled", current == "pending"
        wanted = wants_ambient(pod, ns_labels)
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return (True, None) if enrolled or partly else (False, None)  # an ended pod leaves the mesh
        if enrolled == wanted and not partly:
            return False, None  # an enrolled pod stays while its node's ztunnel restarts (snapshot on reconnect)
        if not wanted:
            return True, None
        if not (pod.get("status") or {}).get("podIP"):
            return False, None  # no IP yet: taken once it has one
        value = "enabled" if node in ztunnels else "pending"
        return value != current, value

    def _enrol(self, pod, ns_labels, agents, ztunnels):
        act, wanted = self._update_for(pod, ns_labels, agents, ztunnels)
        if not act:
            return
        # a merge patch of pods/status, as the node agent sends it (AnnotateEnrolledPod, AnnotateUnenrollPod)
        patch = '{"metadata":{"annotations":{"%s":%s}}}' % (REDIRECTION, '"%s"' % wanted if wanted else "null")
        self.api.patch(self.kind("", "v1", "pods"), pod["metadata"]["namespace"], pod["metadata"]["name"],
                       "application/merge-patch+json", patch.encode(), subresource="status")
