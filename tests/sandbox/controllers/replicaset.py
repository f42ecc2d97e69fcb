"""The ReplicaSet controller: as many pods as the ReplicaSet asks, and its status."""

from ..api import ApiError
from .common import ControllerBase, SAFE, pod_ready


class ReplicaSetController(ControllerBase):
    def on_replicaset(self, etype, obj):
        if etype != "DELETED":
            self.reconcile_replicaset(obj["metadata"]["namespace"], obj["metadata"]["name"])
        self._owner_deployment(obj)

    def reconcile_replicaset(self, namespace, name):
        replicasets = self.kind("apps", "v1", "replicasets")
        pods = self.kind("", "v1", "pods")
        rs = self.api.find(replicasets, namespace, name)
        if rs is None:
            return
        desired = (rs.get("spec") or {}).get("replicas", 1)
        owned = self._owned_live(pods, namespace, rs["metadata"]["uid"])
        if rs["metadata"].get("deletionTimestamp"):
            # a ReplicaSet being deleted is left to the garbage collector (pkg/controller/replicaset skips
            # manageReplicas): no pod made, none deleted
            desired = len(owned)
        template = (rs.get("spec") or {}).get("template") or {}
        for dummy in range(desired - len(owned)):
            pod_name = "%s-%s" % (name, "".join(self.rng.choice(SAFE) for dummy_char in range(5)))
            try:
                self._create_pod(rs, template, {"name": pod_name, "generateName": name + "-"})
            except ApiError as exc:
                if exc.code in (404, 409):
                    raise
                # a rejected pod (an admission webhook that fails closed): the ReplicaSet controller records
                # FailedCreate and tries again with backoff (pkg/controller/replicaset: "Error creating: ...")
                self.record(rs, "FailedCreate", "Error creating: %s" % exc.message, "replicaset-controller",
                            "Warning")
                self.later(1.0, self.reconcile_replicaset, namespace, name)
                break
        if len(owned) > desired:
            for pod in sorted(owned, key=lambda p: p["metadata"]["creationTimestamp"], reverse=True)[
                    :len(owned) - desired]:
                self.api.delete(pods, namespace, pod["metadata"]["name"])
                self.record(rs, "SuccessfulDelete", "Deleted pod: %s" % pod["metadata"]["name"],
                            "replicaset-controller")
        owned = self._owned(pods, namespace, rs["metadata"]["uid"])
        ready = sum(1 for p in owned if pod_ready(p))
        status = {"replicas": len(owned), "fullyLabeledReplicas": len(owned), "readyReplicas": ready,
                  "availableReplicas": ready, "observedGeneration": rs["metadata"].get("generation", 1)}
        self._set_status(replicasets, rs, status, ("readyReplicas", "availableReplicas", "fullyLabeledReplicas",
                                                   "replicas"))
