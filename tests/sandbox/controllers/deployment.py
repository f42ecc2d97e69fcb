"""The deployment controller: a ReplicaSet per pod template, rollouts and rollbacks, the Deployment's status."""

import copy
import json

from ..api import now
from .common import ControllerBase, owner_ref, short_hash


class DeploymentController(ControllerBase):
    def on_deployment(self, etype, obj):
        if etype != "DELETED":
            self.reconcile_deployment(obj["metadata"]["namespace"], obj["metadata"]["name"])

    def reconcile_deployment(self, namespace, name):
        deployments = self.kind("apps", "v1", "deployments")
        replicasets = self.kind("apps", "v1", "replicasets")
        dep = self._live(deployments, namespace, name)
        if dep is None:
            return
        spec = dep.get("spec") or {}
        template = copy.deepcopy(spec.get("template") or {})
        template_hash = short_hash(template)
        rs_name = "%s-%s" % (name, template_hash)
        owned = self._owned(replicasets, namespace, dep["metadata"]["uid"])
        current = next((rs for rs in owned if rs["metadata"]["name"] == rs_name), None)
        replicas = spec.get("replicas", 1)
        revisions = {rs["metadata"]["name"]: int((rs["metadata"].get("annotations") or {}).get(
            "deployment.kubernetes.io/revision", "0")) for rs in owned}
        newest = max(list(revisions.values()) + [0])
        revision = str(newest + 1 if current is None or revisions[rs_name] < newest else revisions[rs_name])
        if current is None and spec.get("paused") and owned:
            # a paused Deployment does not roll out a new template (kubectl rollout pause): the controller only
            # reports the pause (pkg/controller/deployment/sync.go, sync and checkPausedConditions)
            self.deployment_status(namespace, name)
            return
        if current is None:
            labels = dict((template.get("metadata") or {}).get("labels") or {}, **{"pod-template-hash": template_hash})
            template.setdefault("metadata", {})["labels"] = labels
            selector = copy.deepcopy(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})["pod-template-hash"] = template_hash
            body = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {"name": rs_name, "namespace": namespace, "labels": labels,
                                 "annotations": {"deployment.kubernetes.io/revision": revision,
                                                 "deployment.kubernetes.io/desired-replicas": str(replicas)},
                                 "ownerReferences": [owner_ref(dep)]},
                    "spec": {"replicas": replicas, "selector": selector, "template": template}}
            current = self.api.create(replicasets, namespace, body)
            self._scaled(dep, current, 0, replicas)
        else:
            if str(revisions[rs_name]) != revision:
                # a rollback to an older template: its ReplicaSet becomes the newest revision
                # (pkg/controller/deployment/sync.go, getNewReplicaSet)
                self.api.patch(replicasets, namespace, rs_name, "application/merge-patch+json", json.dumps(
                    {"metadata": {"annotations": {"deployment.kubernetes.io/revision": revision}}}))
            if current["spec"].get("replicas") != replicas:
                self.api.patch(replicasets, namespace, rs_name, "application/merge-patch+json",
                               json.dumps({"spec": {"replicas": replicas}}))
                self._scaled(dep, current, current["spec"].get("replicas", 0), replicas)
                current = self.api.get(replicasets, namespace, rs_name)
        if (dep["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision") != revision:
            # the controller marks the Deployment with its newest ReplicaSet's revision (`kubectl describe`,
            # `rollout history` read it)
            self.api.patch(deployments, namespace, name, "application/merge-patch+json", json.dumps(
                {"metadata": {"annotations": {"deployment.kubernetes.io/revision": revision}}}))
        new_ready = (current.get("status") or {}).get("availableReplicas", 0) >= replicas
        for rs in owned:
            if rs["metadata"]["name"] != rs_name and rs["spec"].get("replicas") and new_ready:
                self.api.patch(replicasets, namespace, rs["metadata"]["name"], "application/merge-patch+json",
                               json.dumps({"spec": {"replicas": 0}}))
                self._scaled(dep, rs, rs["spec"]["replicas"], 0)
        self.deployment_status(namespace, name)

    def _scaled(self, dep, rs, before, after):
        self.record(dep, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d" % (
            "up" if after > before else "down", rs["metadata"]["name"], before, after), "deployment-controller")

    def deployment_status(self, namespace, name):
        deployments = self.kind("apps", "v1", "deployments")
        replicasets = self.kind("apps", "v1", "replicasets")
        dep = self.api.find(deployments, namespace, name)
        if dep is None:
            return
        spec = dep.get("spec") or {}
        replicas = spec.get("replicas", 1)
        template_hash = short_hash(spec.get("template") or {})
        owned = self._owned(replicasets, namespace, dep["metadata"]["uid"])
        total = ready = available = updated = wanted = 0
        for rs in owned:
            status = rs.get("status") or {}
            wanted += (rs.get("spec") or {}).get("replicas", 0)
            total += status.get("replicas", 0)
            ready += status.get("readyReplicas", 0)
            available += status.get("availableReplicas", 0)
            if rs["metadata"]["name"].endswith("-" + template_hash):
                updated = status.get("replicas", 0)
        old_status = dep.get("status") or {}
        stamp = now()
        complete = updated == replicas and available >= replicas and total == replicas
        conditions = [
            {"type": "Available", "status": "True" if available >= replicas else "False",
             "reason": "MinimumReplicasAvailable" if available >= replicas else "MinimumReplicasUnavailable",
             "message": "Deployment has minimum availability." if available >= replicas
             else "Deployment does not have minimum availability."},
            {"type": "Progressing", "status": "True",
             "reason": "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
             "message": ('ReplicaSet "%s-%s" has successfully progressed.' if complete
                         else 'ReplicaSet "%s-%s" is progressing.') % (name, template_hash)},
        ]
        if spec.get("paused"):
            # a paused Deployment's progress is unknown (DeploymentPaused); resumed, DeploymentResumed until it
            # progresses again (pkg/controller/deployment/util: PausedDeployReason, ResumedDeployReason)
            conditions[1].update(status="Unknown", reason="DeploymentPaused", message="Deployment is paused")
        elif any(c.get("reason") == "DeploymentPaused" for c in old_status.get("conditions") or []) and not complete:
            conditions[1].update(reason="DeploymentResumed", message="Deployment is resumed")
        previous = {c["type"]: c for c in old_status.get("conditions") or []}
        for condition in conditions:
            before = previous.get(condition["type"])
            same = before and all(before.get(k) == condition[k] for k in ("status", "reason", "message"))
            condition["lastUpdateTime"] = before["lastUpdateTime"] if same else stamp
            condition["lastTransitionTime"] = before["lastTransitionTime"] if (
                before and before.get("status") == condition["status"]) else stamp
        status = {"observedGeneration": dep["metadata"].get("generation", 1), "replicas": total,
                  "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": available,
                  "conditions": conditions}
        # unavailable: what the ReplicaSets want minus what is available (pkg/controller/deployment/sync.go
        # calculateStatus) - a new ReplicaSet whose pods cannot be made counts, though it has none
        if wanted - available > 0:
            status["unavailableReplicas"] = wanted - available
        for key in ("readyReplicas", "availableReplicas", "updatedReplicas", "replicas"):
            if not status[key]:
                del status[key]
        if status != old_status:
            self.api.replace(deployments, namespace, name, dict(dep, status=status), subresource="status")

    def _owner_deployment(self, rs):
        for ref in rs["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "Deployment":
                self.reconcile_deployment(rs["metadata"]["namespace"], ref["name"])
