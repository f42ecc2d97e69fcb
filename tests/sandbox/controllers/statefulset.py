"""The StatefulSet controller: ordinal pods, their volume claims, rolling updates, the status."""

import copy

from .common import ControllerBase, owner_ref, pod_ready, short_hash


class StatefulSetController(ControllerBase):
    def on_statefulset(self, etype, obj):
        if etype != "DELETED":
            self.reconcile_statefulset(obj["metadata"]["namespace"], obj["metadata"]["name"])

    def reconcile_statefulset(self, namespace, name):
        """Pods NAME-0..N-1 with the labels the StatefulSet controller sets, one volume claim per template and
        ordinal (TEMPLATE-NAME-ORDINAL); OrderedReady creates ordinal i+1 only once i is Ready, Parallel all at
        once; a claim is owned by the set (and collected with it) when persistentVolumeClaimRetentionPolicy
        whenDeleted is Delete (kubernetes.io/docs/concepts/workloads/controllers/statefulset/)."""
        statefulsets = self.kind("apps", "v1", "statefulsets")
        pods = self.kind("", "v1", "pods")
        claims = self.kind("", "v1", "persistentvolumeclaims")
        sts = self._live(statefulsets, namespace, name)
        if sts is None:
            return
        spec = sts.get("spec") or {}
        replicas = spec.get("replicas", 1)
        template = spec.get("template") or {}
        revision = "%s-%s" % (name, short_hash(template))
        self._history(sts, short_hash(template), "controller.kubernetes.io/hash", pods,
                      lambda history: history["metadata"]["name"],
                      [(sts.get("status") or {}).get("currentRevision")])
        owned = {p["metadata"]["name"]: p for p in self._owned(pods, namespace, sts["metadata"]["uid"])}
        parallel = spec.get("podManagementPolicy") == "Parallel"
        retention = (spec.get("persistentVolumeClaimRetentionPolicy") or {}).get("whenDeleted", "Retain")
        for ordinal in range(replicas):
            pod_name = "%s-%d" % (name, ordinal)
            if pod_name in owned:
                if not parallel and not pod_ready(owned[pod_name]):
                    break
                continue
            volumes = list(copy.deepcopy((template.get("spec") or {}).get("volumes") or []))
            for claim in spec.get("volumeClaimTemplates") or []:
                claim_name = "%s-%s" % (claim["metadata"]["name"], pod_name)
                if self.api.find(claims, namespace, claim_name) is None:
                    body = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                            "metadata": {"name": claim_name, "namespace": namespace,
                                         "labels": dict((spec.get("selector") or {}).get("matchLabels") or {})},
                            "spec": copy.deepcopy(claim.get("spec") or {})}
                    if retention == "Delete":
                        body["metadata"]["ownerReferences"] = [dict(owner_ref(sts), controller=False)]
                    self.api.create(claims, namespace, body)
                volumes.append({"name": claim["metadata"]["name"],
                                "persistentVolumeClaim": {"claimName": claim_name}})
            labels = dict((template.get("metadata") or {}).get("labels") or {}, **{
                "controller-revision-hash": revision, "statefulset.kubernetes.io/pod-name": pod_name,
                "apps.kubernetes.io/pod-index": str(ordinal)})
            self._create_pod(sts, template, {"name": pod_name, "labels": labels},
                             {"volumes": volumes, "hostname": pod_name, "subdomain": spec.get("serviceName", "")})
            if not parallel:
                break
        for pod_name, pod in owned.items():
            if int(pod_name.rsplit("-", 1)[-1]) >= replicas and not pod["metadata"].get("deletionTimestamp"):
                self.api.delete(pods, namespace, pod_name)
        self._roll_statefulset(sts, revision, owned, replicas)
        current = self._owned_live(pods, namespace, sts["metadata"]["uid"])
        ready = sum(1 for p in current if pod_ready(p))
        updated = sum(1 for p in current if (p["metadata"].get("labels") or {}).get("controller-revision-hash")
                      == revision)
        # currentRevision stays the old one until every pod runs the new (kubernetes.io/docs/tutorials/
        # stateful-application/basic-stateful-set/#rolling-update)
        old_revision = (sts.get("status") or {}).get("currentRevision") or revision
        current_revision = revision if updated == len(current) == replicas else old_revision
        status = {"observedGeneration": sts["metadata"].get("generation", 1), "replicas": len(current),
                  "readyReplicas": ready, "availableReplicas": ready,
                  "currentReplicas": updated if current_revision == revision else len(current) - updated,
                  "updatedReplicas": updated, "currentRevision": current_revision, "updateRevision": revision,
                  "collisionCount": 0}
        self._set_status(statefulsets, sts, status, ("readyReplicas", "availableReplicas", "currentReplicas",
                                                     "updatedReplicas"))

    def _roll_statefulset(self, sts, revision, owned, replicas):
        """updateStrategy RollingUpdate (the default): once every pod is Running and Ready, the pod with the
        highest ordinal (at or above partition) that runs an old revision is deleted, and made again from the new
        template when it is gone; OnDelete replaces nothing (kubernetes.io/docs/concepts/workloads/controllers/
        statefulset/#update-strategies)."""
        strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        partition = (strategy.get("rollingUpdate") or {}).get("partition") or 0
        live = [p for p in owned.values() if int(p["metadata"]["name"].rsplit("-", 1)[-1]) < replicas]
        if len(live) < replicas or any(p["metadata"].get("deletionTimestamp") or not pod_ready(p) for p in live):
            return
        stale = sorted((int(p["metadata"]["name"].rsplit("-", 1)[-1]), p["metadata"]["name"]) for p in live
                       if (p["metadata"].get("labels") or {}).get("controller-revision-hash") != revision)
        stale = [entry for entry in stale if entry[0] >= partition]
        if stale:
            self.api.delete(self.kind("", "v1", "pods"), sts["metadata"]["namespace"], stale[-1][1])
