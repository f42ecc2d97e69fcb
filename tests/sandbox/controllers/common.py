"""What every controller here shares: the owner reference, events as kube-controller-manager records them, the pod a
workload's template makes, status writes, and the DaemonSet's and StatefulSet's ControllerRevision history."""

import copy
import hashlib
import json
import time

from .. import shell
from ..api import ApiError, now


# the component each workload controller records its events as (kube-controller-manager's controller names)
CONTROLLER_COMPONENTS = {"ReplicaSet": "replicaset-controller", "StatefulSet": "statefulset-controller",
                         "DaemonSet": "daemonset-controller", "Job": "job-controller",
                         "Deployment": "deployment-controller"}

SAFE = "bcdfghjklmnpqrstvwxz2456789"


def short_hash(value, length=10):
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()
    return "".join(SAFE[b % len(SAFE)] for b in digest[:length])


class ControllerBase(object):
    def on_controllerrevision(self, etype, obj):
        # both controllers watch their histories: a revision deleted by hand is made again if it is current
        if etype != "DELETED":
            return
        meta = obj["metadata"]
        for ref in meta.get("ownerReferences") or []:
            if ref.get("kind") == "DaemonSet":
                self.reconcile_daemonset(meta["namespace"], ref["name"])
            elif ref.get("kind") == "StatefulSet":
                self.reconcile_statefulset(meta["namespace"], ref["name"])

    def _set_status(self, kind, obj, status, omitted_when_zero):
        """Write ``status`` when it differs; counts that are zero are omitted, as the API serves them."""
        for key in omitted_when_zero:
            if not status[key]:
                del status[key]
        if status != (obj.get("status") or {}):
            meta = obj["metadata"]
            self.api.replace(kind, meta.get("namespace"), meta["name"], dict(obj, status=status), subresource="status")

    def _create_pod(self, owner, template, meta, spec=None):
        """A pod from a workload's template, owned by it: ``meta`` and ``spec`` add to the template's."""
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": dict(copy.deepcopy(template.get("metadata") or {}), namespace=owner["metadata"]["namespace"],
                                 ownerReferences=[owner_ref(owner)], **meta),
                "spec": dict(copy.deepcopy(template.get("spec") or {}), **(spec or {}))}
        body["metadata"].pop("creationTimestamp", None)
        try:
            pod = self.api.create(self.kind("", "v1", "pods"), owner["metadata"]["namespace"], body)
        except ApiError as exc:
            if exc.code in (404, 409) or owner["kind"] == "ReplicaSet":
                raise  # (the ReplicaSet controller records and retries itself)
            # a refused pod (admission: a missing service account, a webhook failing closed): the controller
            # records FailedCreate and tries again with backoff, as kube-controller-manager's do
            self.record(owner, "FailedCreate", "Error creating: %s" % exc.message, CONTROLLER_COMPONENTS[owner["kind"]],
                        "Warning")
            retry = {"StatefulSet": self.reconcile_statefulset, "DaemonSet": self.reconcile_daemonset,
                     "Job": self.reconcile_job}.get(owner["kind"])
            if retry is not None:
                self.later(1.0, retry, owner["metadata"]["namespace"], owner["metadata"]["name"])
            return None
        if owner["kind"] == "StatefulSet":
            message = "create Pod %s in StatefulSet %s successful" % (pod["metadata"]["name"], owner["metadata"]["name"])
        else:
            message = "Created pod: %s" % pod["metadata"]["name"]
        self.record(owner, "SuccessfulCreate", message, CONTROLLER_COMPONENTS[owner["kind"]])
        return pod

    def record(self, obj, reason, message, component, event_type="Normal"):
        """A core/v1 Event about obj, as controllers and the kubelet record them for `kubectl describe` and
        `kubectl get events` (kubernetes.io/docs/reference/kubernetes-api/cluster-resources/event-v1/: involvedObject,
        reason, message, source, first/lastTimestamp, count; named <object>.<unique suffix>)."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        stamp = now()
        body = {"apiVersion": "v1", "kind": "Event",
                "metadata": {"name": "%s.%x" % (meta["name"], time.time_ns() + next(self.event_serial)),
                             "namespace": namespace},
                "involvedObject": {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": meta["name"],
                                   "namespace": meta.get("namespace"), "uid": meta.get("uid"),
                                   "resourceVersion": meta.get("resourceVersion")},
                "reason": reason, "message": message, "type": event_type, "source": {"component": component},
                "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1, "reportingComponent": component,
                "reportingInstance": ""}
        try:
            self.api.create(self.kind("", "v1", "events"), namespace, body)
        except ApiError:
            pass  # a namespace being deleted takes no new events; the real recorder drops them the same way

    def _live(self, kind, namespace, name):
        """The object, or None when it is gone or being deleted (its controller then leaves it alone)."""
        obj = self.api.find(kind, namespace, name)
        return None if obj is None or obj["metadata"].get("deletionTimestamp") else obj

    def _owned_live(self, kind, namespace, uid):
        return [o for o in self._owned(kind, namespace, uid) if not o["metadata"].get("deletionTimestamp")]

    def _owned(self, kind, namespace, uid):
        items, dummy = self.api.list(kind, namespace)
        return [i for i in items if any(r.get("uid") == uid for r in i["metadata"].get("ownerReferences") or [])]

    def _history(self, owner, hash_value, hash_label, pods, pod_hash_of, live=()):
        """A DaemonSet's or StatefulSet's rollout history, as their controllers keep it in ControllerRevisions
        (pkg/controller/daemon/update.go constructHistory, snapshot, cleanupHistory; the StatefulSet's
        pkg/controller/history and stateful_set_utils.go newRevision): the current template is stored as the
        strategic merge patch that restores it ({"spec": {"template": {..., "$patch": "replace"}}}) in a revision
        named <owner>-<hash>, labelled with the template's labels and the hash, carrying the owner's annotations
        (the DaemonSet's deprecated.daemonset.template.generation among them) and a controller reference; a
        template seen before (a rollback: `kubectl rollout undo`, kubernetes.core's k8s_rollback) takes its old
        revision again, renumbered to the highest; old revisions beyond spec.revisionHistoryLimit that no pod runs
        are deleted, oldest first. ``pod_hash_of`` gives the value a pod of that revision carries in its
        controller-revision-hash label (the DaemonSet's pods carry the hash, the StatefulSet's the name)."""
        revisions = self.kind("apps", "v1", "controllerrevisions")
        meta = owner["metadata"]
        spec = owner.get("spec") or {}
        data = {"spec": {"template": dict(copy.deepcopy(spec.get("template") or {}), **{"$patch": "replace"})}}
        histories = [h for h in self._owned(revisions, meta["namespace"], meta["uid"])
                     if any(r.get("uid") == meta["uid"] and r.get("controller")
                            for r in h["metadata"].get("ownerReferences") or [])]
        current = sorted((h for h in histories if h.get("data") == data), key=lambda h: h.get("revision", 0))
        old = [h for h in histories if h.get("data") != data]
        next_revision = max([h.get("revision", 0) for h in old] or [0]) + 1
        if not current:
            labels = dict(((spec.get("template") or {}).get("metadata") or {}).get("labels") or {})
            labels[hash_label] = hash_value
            body = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                    "metadata": {"name": "%s-%s" % (meta["name"], hash_value), "namespace": meta["namespace"],
                                 "labels": labels, "ownerReferences": [owner_ref(owner)]},
                    "data": data, "revision": next_revision}
            if meta.get("annotations"):
                body["metadata"]["annotations"] = dict(meta["annotations"])
            self.api.create(revisions, meta["namespace"], body)
        elif current[-1].get("revision", 0) < next_revision:
            # (duplicates of one template only arise from races the sandbox's single controller loop cannot have)
            self.api.patch(revisions, meta["namespace"], current[-1]["metadata"]["name"],
                           "application/merge-patch+json", json.dumps({"revision": next_revision}))
        excess = len(old) - spec.get("revisionHistoryLimit", 10)
        if excess <= 0:
            return
        running = set((p["metadata"].get("labels") or {}).get("controller-revision-hash")
                      for p in self._owned(pods, meta["namespace"], meta["uid"])) | set(live)
        for history in sorted(old, key=lambda h: h.get("revision", 0)):
            if excess <= 0:
                break
            if pod_hash_of(history) not in running:
                self.api.delete(revisions, meta["namespace"], history["metadata"]["name"])
                excess -= 1


def owner_ref(obj):
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def node_ready(node):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def node_schedulable(node):
    return node_ready(node) and not (node.get("spec") or {}).get("unschedulable")


def pod_ready(pod):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def new_container_status(container, ready, stamp):
    image = container.get("image", "")
    digest = hashlib.sha256(image.encode()).hexdigest()
    return {"name": container["name"], "image": image, "imageID": "%s@sha256:%s" % (image.split(":")[0], digest),
            "containerID": "containerd://" + hashlib.sha256((container["name"] + stamp + image).encode()).hexdigest(),
            "ready": ready, "started": True, "restartCount": 0, "state": {"running": {"startedAt": stamp}}}


def back_off(entry, terminated, pod):
    """A container that ended, to be restarted by the kubelet: its status ``entry`` gets the run as lastState and
    the next restart's wait (the first at once, then 10 s doubled each time, at most 300 s:
    kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-restarts); returns the wait."""
    restarts = entry.get("restartCount", 0) + 1
    delay = 0 if restarts == 1 else min(10 * 2 ** (restarts - 2), 300)
    meta = pod["metadata"]
    entry.update(restartCount=restarts, ready=False, started=False, lastState={"terminated": terminated},
                 state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off %ds restarting failed "
                                    "container=%s pod=%s_%s(%s)" % (delay, entry["name"], meta["name"],
                                                                    meta["namespace"], meta["uid"])}}
                 if delay else {"terminated": terminated})
    return delay


def init_scripts(spec):
    """Whether any of the pod's regular init containers has a command the shell subset runs."""
    for container in spec.get("initContainers") or []:
        script = shell.script_of(container)
        if container.get("restartPolicy") != "Always" and script is not None and shell.supported(script):
            return True
    return False


def qos_class(spec):
    containers = spec.get("containers") or []
    if any((c.get("resources") or {}).get("requests") or (c.get("resources") or {}).get("limits") for c in containers):
        return "Burstable"
    return "BestEffort"


def target_port(service_port, pods):
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    for pod in pods:
        for container in (pod.get("spec") or {}).get("containers") or []:
            for port in container.get("ports") or []:
                if port.get("name") == target:
                    return port.get("containerPort")
    return service_port.get("port")
