"""The DaemonSet controller: a pod per schedulable node, bound to it, and the status."""

from .. import scheduling
from .common import ControllerBase, node_ready, pod_ready, short_hash


class DaemonSetController(ControllerBase):
    def on_daemonset(self, etype, obj):
        if etype != "DELETED":
            self.reconcile_daemonset(obj["metadata"]["namespace"], obj["metadata"]["name"])

    def reconcile_daemonset(self, namespace, name):
        """A pod per schedulable Node, bound to it; the status fields `kubectl rollout status` reads
        (desiredNumberScheduled, updatedNumberScheduled, numberAvailable, observedGeneration)
        (kubernetes.io/docs/concepts/workloads/controllers/daemonset/)."""
        daemonsets = self.kind("apps", "v1", "daemonsets")
        pods = self.kind("", "v1", "pods")
        ds = self._live(daemonsets, namespace, name)
        if ds is None:
            return
        spec = ds.get("spec") or {}
        template = spec.get("template") or {}
        revision = short_hash(template)
        self._history(ds, revision, "controller-revision-hash", pods,
                      lambda history: (history["metadata"].get("labels") or {}).get("controller-revision-hash"))
        # (the DaemonSet controller runs a pod on each Ready node its template fits: nodeSelector, node affinity,
        # taints its pods do not tolerate; a cordoned node keeps its daemon pods, as the controller gives them the
        # toleration node.kubernetes.io/unschedulable:NoSchedule)
        nodes = sorted(n["metadata"]["name"] for n in self.api.list(self.kind("", "v1", "nodes"))[0]
                       if node_ready(n) and scheduling.fits(template.get("spec") or {}, n) is None)
        owned = self._owned_live(pods, namespace, ds["metadata"]["uid"])
        # a node whose old pod is still stopping gets its new one once that pod is gone (RollingUpdate with
        # maxSurge 0, the default: kubernetes.io/docs/tasks/manage-daemon/update-daemon-set/)
        stopping = set(p["spec"].get("nodeName") for p in self._owned(pods, namespace, ds["metadata"]["uid"])
                       if p["metadata"].get("deletionTimestamp"))
        on_node = {}
        for pod in owned:
            stale = (pod["metadata"].get("labels") or {}).get("controller-revision-hash") != revision
            if pod["spec"].get("nodeName") not in nodes or stale:
                self.api.delete(pods, namespace, pod["metadata"]["name"])  # a rolling update, one pod per node
                if self.api.find(pods, namespace, pod["metadata"]["name"]) is not None:
                    stopping.add(pod["spec"].get("nodeName"))  # stopping gracefully
            else:
                on_node[pod["spec"]["nodeName"]] = pod
        for node in nodes:
            if node not in on_node and node not in stopping:
                labels = dict((template.get("metadata") or {}).get("labels") or {}, **{
                    "controller-revision-hash": revision,
                    "pod-template-generation": str(ds["metadata"].get("generation", 1))})
                self._create_pod(ds, template, {"generateName": name + "-", "labels": labels}, {"nodeName": node})
        current = self._owned_live(pods, namespace, ds["metadata"]["uid"])
        updated = [p for p in current if (p["metadata"].get("labels") or {}).get("controller-revision-hash")
                   == revision]
        ready = sum(1 for p in current if pod_ready(p))
        status = {"observedGeneration": ds["metadata"].get("generation", 1), "desiredNumberScheduled": len(nodes),
                  "currentNumberScheduled": len(current), "numberMisscheduled": 0, "numberReady": ready,
                  "updatedNumberScheduled": len(updated), "numberAvailable": ready,
                  "numberUnavailable": max(0, len(nodes) - ready)}
        self._set_status(daemonsets, ds, status, ("numberAvailable", "numberUnavailable", "updatedNumberScheduled"))
