"""Controllers that make the emulated API server behave like a cluster:
Deployments roll out ReplicaSets and Pods, StatefulSets their ordinal Pods
and volume claims, claims are bound by a CSI provisioner when one runs, a
kubelet stand-in starts Pods (not before their claims are bound),
Services get endpoints and load balancers, namespaces terminate, CRDs are
established."""

import calendar
import copy
import functools
import fnmatch
import hashlib
import heapq
import itertools
import json
import random
import sys
import threading
import time
import traceback
import urllib.parse

from . import ambient, containers, execstream, gatewayapi, images, scheduling, shell
from .api import ApiError, now
from .selection import label_matches, selector_from_match

# the component each workload controller records its events as (kube-controller-manager's controller names)
CONTROLLER_COMPONENTS = {"ReplicaSet": "replicaset-controller", "StatefulSet": "statefulset-controller",
                         "DaemonSet": "daemonset-controller", "Job": "job-controller",
                         "Deployment": "deployment-controller"}

SAFE = "bcdfghjklmnpqrstvwxz2456789"


def short_hash(value, length=10):
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()
    return "".join(SAFE[b % len(SAFE)] for b in digest[:length])


class Settings(object):
    """Delays that give the sandbox a cluster's rhythm, in seconds."""

    def __init__(self, pod_start=0.3, load_balancer=1.0, namespace_termination=0.5, crd_established=0.2):
        self.pod_start = pod_start
        self.load_balancer = load_balancer
        self.namespace_termination = namespace_termination
        self.crd_established = crd_established


class Controllers(object):
    def __init__(self, api, faults, settings=None, dataplane=None):
        self.api = api
        self.faults = faults
        self.settings = settings or Settings()
        self.dataplane = dataplane
        self.runtime = containers.Runtime(self.later)
        self.completions = {}  # pod uid -> what its containers that run to completion have ended with
        self.initialized = set()  # uids of pods whose init containers have all ended, their app containers to start
        self.timers = []
        self.stopping_pods = {}  # uid -> grace period (seconds) the kubelet was last told to stop the pod in
        api.stops_late = self._outlasts_sigterm
        self.counter = itertools.count()
        self.event_serial = itertools.count()
        self.last_rv = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="controllers", daemon=True)
        self.rng = random.Random()
        self.kinds = {}
        self.cloud = None  # sandbox/cloud.py, when the sandbox runs with AWS
        self.refusals = {}  # Service uid -> the (controller, cause) its load balancer was last refused for
        self.csi_drivers = set()  # provisioners that run (the EBS CSI driver add-on: ebs.csi.aws.com)
        self.node_agent = ambient.NodeAgent(api, self.kind)
        self.gateway_api = gatewayapi.GatewayController(api, self.kind)

    def cloud_reconcile(self, namespace, name):
        services = self.kind("", "v1", "services")
        refused = self.cloud.reconcile(services, namespace, name, self.dataplane)
        svc = self.api.find(services, namespace, name)
        if not refused or svc is None or self.refusals.get(svc["metadata"]["uid"]) == refused:
            return
        # the Warning `kubectl describe service` shows: the service controller's SyncLoadBalancerFailed
        # (k8s.io/cloud-provider controllers/service/controller.go), the AWS Load Balancer Controller's
        # FailedBuildModel (its service reconciler, recorder "service"); once per cause, as the recorder aggregates
        self.refusals[svc["metadata"]["uid"]] = refused
        controller, why = refused
        if controller == "in-tree":
            self.record(svc, "SyncLoadBalancerFailed", "Error syncing load balancer: failed to ensure load balancer: "
                        + why, "service-controller", "Warning")
        else:
            self.record(svc, "FailedBuildModel", "Failed build model due to " + why, "service", "Warning")

    def refresh_load_balancers(self):
        """Look at every Service again (after a fault knob changed what the controllers would do)."""
        if self.cloud is None:
            return
        services, dummy = self.api.list(self.kind("", "v1", "services"))
        for svc in services:
            if (svc.get("spec") or {}).get("type") == "LoadBalancer" or svc["metadata"].get("finalizers"):
                self.later(0, self.cloud_reconcile, svc["metadata"]["namespace"], svc["metadata"]["name"])

    def kind(self, group, version, plural):
        key = (group, version, plural)
        if self.kinds.get(key) is None:  # a kind a CRD serves may come later: not found is not remembered
            self.kinds[key] = self.api.registry.find(group, version, plural)
        return self.kinds[key]

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping = True
        with self.api.lock:
            self.api.changed.notify_all()

    def later(self, delay, func, *args):
        with self.api.lock:
            heapq.heappush(self.timers, (time.time() + delay, next(self.counter), func, args))
            self.api.changed.notify_all()

    # ------------------------------------------------------------ loop

    def _run(self):
        while not self.stopping:
            with self.api.lock:
                events = [e for e in self.api.events if e.rv > self.last_rv]
                due = []
                while self.timers and self.timers[0][0] <= time.time():
                    due.append(heapq.heappop(self.timers))
                if not events and not due:
                    wait = 0.5
                    if self.timers:
                        wait = max(0.0, min(wait, self.timers[0][0] - time.time()))
                    self.api.changed.wait(wait)
                    continue
                if events:
                    self.last_rv = events[-1].rv
            for event in events:
                self._safe(self.handle, event)
            for dummy_time, dummy_n, func, args in due:
                self._safe(func, *args)

    @staticmethod
    def _safe(func, *args):
        try:
            func(*args)
        except ApiError as exc:
            if exc.code not in (404, 409):
                sys.stderr.write("controller %s%r: %s\n" % (getattr(func, "__name__", func), args, exc))
        except Exception:  # pylint: disable=broad-except
            traceback.print_exc()  # keep the controllers running; the error is in the cluster log

    def handle(self, event):
        key, obj, etype = event.key, event.obj, event.type
        meta = obj["metadata"]
        if key == ("apps", "deployments") and etype != "DELETED":
            self.reconcile_deployment(meta["namespace"], meta["name"])
        elif key == ("apps", "replicasets"):
            if etype != "DELETED":
                self.reconcile_replicaset(meta["namespace"], meta["name"])
            self._owner_deployment(obj)
        elif key == ("apps", "statefulsets") and etype != "DELETED":
            self.reconcile_statefulset(meta["namespace"], meta["name"])
        elif key == ("apps", "daemonsets") and etype != "DELETED":
            self.reconcile_daemonset(meta["namespace"], meta["name"])
        elif key == ("apps", "controllerrevisions") and etype == "DELETED":
            # both controllers watch their histories: a revision deleted by hand is made again if it is current
            for ref in meta.get("ownerReferences") or []:
                if ref.get("kind") == "DaemonSet":
                    self.reconcile_daemonset(meta["namespace"], ref["name"])
                elif ref.get("kind") == "StatefulSet":
                    self.reconcile_statefulset(meta["namespace"], ref["name"])
        elif key == ("batch", "jobs") and etype != "DELETED":
            self.reconcile_job(meta["namespace"], meta["name"])
        elif key == ("", "nodes") and etype == "MODIFIED":
            self.node_changed(obj)
        elif key == ("", "persistentvolumeclaims"):
            if etype == "ADDED":
                self.later(self.settings.pod_start, self.provision_claim, meta["namespace"], meta["name"])
            elif etype == "DELETED" and (obj.get("spec") or {}).get("volumeName"):
                # reclaimPolicy Delete: the provisioner deletes the volume once its claim is gone
                volumes = self.kind("", "v1", "persistentvolumes")
                volume = self.api.find(volumes, None, obj["spec"]["volumeName"])
                if volume is not None and volume["spec"].get("persistentVolumeReclaimPolicy") == "Delete":
                    self.api.delete(volumes, None, obj["spec"]["volumeName"])
        elif key == ("", "pods"):
            if etype == "ADDED":
                self.later(self.settings.pod_start, self.start_pod, meta["namespace"], meta["name"])
            elif etype == "MODIFIED" and meta.get("deletionGracePeriodSeconds") and \
                    meta["deletionGracePeriodSeconds"] < self.stopping_pods.get(meta["uid"], float("inf")):
                # the kubelet kills what outlasts SIGTERM when the grace period ends (a later delete with a shorter
                # one ends it sooner)
                self.stopping_pods[meta["uid"]] = meta["deletionGracePeriodSeconds"]
                self.later(meta["deletionGracePeriodSeconds"], self.stop_pod, meta["namespace"], meta["name"],
                           meta["uid"])
            if etype == "DELETED":
                self.runtime.forget(meta["uid"])
                self.completions.pop(meta["uid"], None)
            if etype != "DELETED" or ambient.is_mesh_node_pod(meta.get("labels")):
                # Istio's CNI node agent enrols an ambient pod; a ztunnel that comes or goes changes its node's pods
                self.node_agent.reconcile_pod(obj)
            for ref in meta.get("ownerReferences") or []:
                if ref.get("kind") == "ReplicaSet":
                    self.reconcile_replicaset(meta["namespace"], ref["name"])
                elif ref.get("kind") == "StatefulSet":
                    self.reconcile_statefulset(meta["namespace"], ref["name"])
                elif ref.get("kind") == "DaemonSet":
                    self.reconcile_daemonset(meta["namespace"], ref["name"])
                elif ref.get("kind") == "Job":
                    self.reconcile_job(meta["namespace"], ref["name"])
            self.reconcile_endpoints_in(meta["namespace"])
        elif key == ("", "services"):
            if etype == "DELETED":
                self._delete_endpoints(meta["namespace"], meta["name"])
                if self.dataplane is not None:
                    self.dataplane.remove_load_balancer(meta["namespace"], meta["name"])
            else:
                # each controller on its own, as in kube-controller-manager: the endpoints controller failing (no new
                # content in a Terminating namespace) does not keep the service controller from the Service
                if not meta.get("deletionTimestamp"):
                    self._safe(self.reconcile_endpoints, meta["namespace"], meta["name"])
                if self.cloud is not None:
                    if obj.get("spec", {}).get("type") == "LoadBalancer" or meta.get("finalizers"):
                        first = not (obj.get("status") or {}).get("loadBalancer", {}).get("ingress")
                        self.later(self.settings.load_balancer if first else 0, self.cloud_reconcile,
                                   meta["namespace"], meta["name"])
                elif obj.get("spec", {}).get("type") == "LoadBalancer":
                    if not (obj.get("status") or {}).get("loadBalancer", {}).get("ingress"):
                        self.later(self.settings.load_balancer, self.provision_load_balancer,
                                   meta["namespace"], meta["name"])
                    elif self.dataplane is not None:
                        self.dataplane.ensure_load_balancer(obj)
        elif key == ("", "namespaces"):
            if etype == "MODIFIED" and (obj.get("status") or {}).get("phase") != "Terminating":
                self.node_agent.reconcile(meta["name"])  # istio.io/dataplane-mode set or taken off
            if etype == "ADDED":
                self.populate_namespace(meta["name"])
            elif (obj.get("status") or {}).get("phase") == "Terminating":
                # the namespace controller gets to it a moment later, as on a cluster
                self.later(self.settings.namespace_termination, self.empty_namespace, meta["name"])
        elif key == ("elbv2.k8s.aws", "targetgroupbindings") and etype != "DELETED" and self.cloud is not None:
            self.cloud.release_binding(self.kind("elbv2.k8s.aws", "v1beta1", "targetgroupbindings"),
                                       meta["namespace"], meta["name"])
        elif key == ("apiextensions.k8s.io", "customresourcedefinitions") and etype != "DELETED":
            conditions = (obj.get("status") or {}).get("conditions") or []
            if not any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                self.later(self.settings.crd_established, self.establish_crd, meta["name"])

        if self._gateway_api_event(key, obj):
            self.gateway_api.reconcile()

    @staticmethod
    def _gateway_api_event(key, obj):
        """Whether istiod's Gateway API controllers look again: a Gateway API object, a CRD of its group, istiod
        itself, or the Service and endpoints of a gateway it deployed (whose addresses go into the status)."""
        meta = obj["metadata"]
        if key[0] == gatewayapi.GROUP:
            return True
        if key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            return meta["name"].endswith("." + gatewayapi.GROUP)
        if key == ("apps", "deployments"):
            return (meta.get("labels") or {}).get("app") == "istiod"  # in whichever namespace istioctl put it
        if key in (("", "services"), ("", "endpoints")):
            return gatewayapi.NAME_LABEL in (meta.get("labels") or {})
        if key == ("", "configmaps"):
            # the deployment controller watches ConfigMaps: a Gateway's parametersRef, a class's defaults
            return meta.get("namespace") != "kube-system"
        return False

    # ------------------------------------------------------------ workloads

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
                                 "ownerReferences": [_owner(dep)]},
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
        ready = sum(1 for p in owned if _pod_ready(p))
        status = {"replicas": len(owned), "fullyLabeledReplicas": len(owned), "readyReplicas": ready,
                  "availableReplicas": ready, "observedGeneration": rs["metadata"].get("generation", 1)}
        self._set_status(replicasets, rs, status, ("readyReplicas", "availableReplicas", "fullyLabeledReplicas",
                                                   "replicas"))

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
                if not parallel and not _pod_ready(owned[pod_name]):
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
                        body["metadata"]["ownerReferences"] = [dict(_owner(sts), controller=False)]
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
        ready = sum(1 for p in current if _pod_ready(p))
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
                                 "labels": labels, "ownerReferences": [_owner(owner)]},
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
        if len(live) < replicas or any(p["metadata"].get("deletionTimestamp") or not _pod_ready(p) for p in live):
            return
        stale = sorted((int(p["metadata"]["name"].rsplit("-", 1)[-1]), p["metadata"]["name"]) for p in live
                       if (p["metadata"].get("labels") or {}).get("controller-revision-hash") != revision)
        stale = [entry for entry in stale if entry[0] >= partition]
        if stale:
            self.api.delete(self.kind("", "v1", "pods"), sts["metadata"]["namespace"], stale[-1][1])

    def provision_claim(self, namespace, name):
        """The external provisioner: a claim of a class whose CSI driver runs is bound to a new volume; one
        without a class (and no default class) or of a class whose driver does not run stays Pending, as it
        does on EKS without the EBS CSI driver add-on (REAL_EKS.md)."""
        claims = self.kind("", "v1", "persistentvolumeclaims")
        volumes = self.kind("", "v1", "persistentvolumes")
        classes = self.kind("storage.k8s.io", "v1", "storageclasses")
        claim = self.api.find(claims, namespace, name)
        if claim is None or (claim.get("status") or {}).get("phase") == "Bound":
            return
        class_name = (claim.get("spec") or {}).get("storageClassName")
        storage_class = self.api.find(classes, None, class_name) if class_name else None
        if storage_class is None or storage_class.get("provisioner") not in self.csi_drivers:
            if (claim.get("status") or {}).get("phase") != "Pending":
                self.api.replace(claims, namespace, name, dict(claim, status={"phase": "Pending"}),
                                 subresource="status")
            return
        volume_name = "pvc-" + claim["metadata"]["uid"]
        request = (((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        if self.api.find(volumes, None, volume_name) is None:
            self.api.create(volumes, None, {
                "apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": volume_name,
                             "annotations": {"pv.kubernetes.io/provisioned-by": storage_class["provisioner"]}},
                "spec": {"capacity": {"storage": request}, "accessModes": claim["spec"].get("accessModes") or [],
                         "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy", "Delete"),
                         "storageClassName": class_name,
                         "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": namespace,
                                      "name": name, "uid": claim["metadata"]["uid"]},
                         "csi": {"driver": storage_class["provisioner"], "volumeHandle": "vol-" + short_hash(
                             claim["metadata"]["uid"], 17)}}})
        claim = self.api.get(claims, namespace, name)
        claim["spec"]["volumeName"] = volume_name
        self.api.replace(claims, namespace, name, claim)
        claim = self.api.get(claims, namespace, name)
        self.api.replace(claims, namespace, name, dict(claim, status={
            "phase": "Bound", "accessModes": claim["spec"].get("accessModes") or [],
            "capacity": {"storage": request}}), subresource="status")
        for pod in self.api.list(self.kind("", "v1", "pods"), namespace)[0]:
            if (pod.get("status") or {}).get("phase") in (None, "Pending"):
                self.later(0, self.start_pod, namespace, pod["metadata"]["name"])

    def _unbound_claims(self, namespace, spec):
        claims = self.kind("", "v1", "persistentvolumeclaims")
        unbound = []
        for volume in spec.get("volumes") or []:
            claim_name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim_name:
                claim = self.api.find(claims, namespace, claim_name)
                if claim is None or (claim.get("status") or {}).get("phase") != "Bound":
                    unbound.append(claim_name)
        return unbound

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
                                 ownerReferences=[_owner(owner)], **meta),
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

    def _owner_deployment(self, rs):
        for ref in rs["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "Deployment":
                self.reconcile_deployment(rs["metadata"]["namespace"], ref["name"])

    def _owned(self, kind, namespace, uid):
        items, dummy = self.api.list(kind, namespace)
        return [i for i in items if any(r.get("uid") == uid for r in i["metadata"].get("ownerReferences") or [])]

    def refresh_readiness(self):
        """Readiness probes keep running: when the never_ready knob changes, pods follow it."""
        pods = self.kind("", "v1", "pods")
        items, dummy = self.api.list(pods)
        for pod in items:
            if (pod.get("status") or {}).get("phase") != "Running":
                continue
            meta = pod["metadata"]
            stuck = any(fnmatch.fnmatch(meta["name"], p) or fnmatch.fnmatch("%s/%s" % (meta["namespace"], meta["name"]), p)
                        for p in self.faults.never_ready or [])
            if _pod_ready(pod) == stuck:
                self.start_pod(meta["namespace"], meta["name"])

    def node_changed(self, node):
        """A node's taints or schedulability changed: the taint manager evicts the pods on it that do not tolerate
        a NoExecute taint (kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/#taint-based-
        evictions), pods no node could take are scheduled again, and DaemonSets follow."""
        pods = self.kind("", "v1", "pods")
        name = node["metadata"]["name"]
        for pod in self.api.list(pods)[0]:
            spec = pod.get("spec") or {}
            meta = pod["metadata"]
            if spec.get("nodeName") == name and not meta.get("deletionTimestamp") and \
                    scheduling.untolerated(node, spec.get("tolerations"), ("NoExecute",)):
                self.record(pod, "TaintManagerEviction", "Marking for deletion Pod %s/%s" % (
                    meta["namespace"], meta["name"]), "taint-eviction-controller")
                try:
                    self.api.delete(pods, meta["namespace"], meta["name"])
                except ApiError as exc:
                    if exc.code != 404:
                        raise
            elif not spec.get("nodeName") and any(c.get("reason") == "Unschedulable" for c in
                                                  (pod.get("status") or {}).get("conditions") or []):
                self.start_pod(meta["namespace"], meta["name"])
        for ds in self.api.list(self.kind("apps", "v1", "daemonsets"))[0]:
            self.reconcile_daemonset(ds["metadata"]["namespace"], ds["metadata"]["name"])

    def start_pod(self, namespace, name):
        """The kubelet: schedule, start the containers, report readiness."""
        pods = self.kind("", "v1", "pods")
        pod = self.api.find(pods, namespace, name)
        if pod is None:
            return
        stamp = now()
        spec = pod.get("spec") or {}
        if (pod.get("status") or {}).get("phase") != "Running" and self._unbound_claims(namespace, spec):
            # the scheduler's verdict on a pod whose claims are not bound: it stays Pending
            if not (pod.get("status") or {}).get("conditions"):
                self.api.replace(pods, namespace, name, dict(pod, status={
                    "phase": "Pending", "qosClass": _qos(spec), "conditions": [{
                        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                        "lastTransitionTime": stamp,
                        "message": "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. "
                                   "preemption: 0/2 nodes are available: 2 Preemption is not helpful for "
                                   "scheduling."}]}), subresource="status")
            return
        resuming = pod["metadata"]["uid"] in self.initialized  # its init containers have just ended
        self.initialized.discard(pod["metadata"]["uid"])
        if not resuming and spec.get("restartPolicy") in ("Never", "OnFailure") and \
                (pod.get("status") or {}).get("containerStatuses"):
            return  # its containers ran already: a kubelet does not run them again
        never_ready = any(fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch("%s/%s" % (namespace, name), pattern)
                          for pattern in self.faults.never_ready or [])
        index = int(hashlib.sha256(pod["metadata"]["uid"].encode()).hexdigest(), 16)
        node, host_ip = self._schedule(spec.get("nodeName"), index, spec)
        if node is None:
            # no node fits: Pending, PodScheduled False (kube-scheduler's FailedScheduling); tried again when a
            # node changes
            if (pod.get("status") or {}).get("phase") != "Running":
                self.api.replace(pods, namespace, name, dict(pod, status={
                    "phase": "Pending", "qosClass": _qos(spec), "conditions": [{
                        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                        "lastTransitionTime": stamp, "message": host_ip}]}), subresource="status")
                self.record(pod, "FailedScheduling", host_ip, "default-scheduler", "Warning")
            return
        pod_ip = "192.168.%d.%d" % (64 + (index >> 8) % 64, 2 + index % 250)
        if not resuming and not (pod.get("status") or {}).get("containerStatuses") and _init_scripts(spec):
            self._initialize(pod, node, host_ip, pod_ip, stamp)
            return
        container_statuses = []
        unready = []
        for container in spec.get("containers") or []:
            ready = not never_ready
            if not ready:
                unready.append(container["name"])
            container_statuses.append(_container_status(container, ready, stamp))
        init_statuses = []
        for container in spec.get("initContainers") or []:
            if container.get("restartPolicy") == "Always":
                init_statuses.append(_container_status(container, not never_ready, stamp))
            else:
                status = _container_status(container, False, stamp)
                status["state"] = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": stamp,
                                                  "finishedAt": stamp, "containerID": status["containerID"]}}
                status["started"] = False
                init_statuses.append(status)
        # the kubelet pulls each image first: one the registries do not hold leaves its container waiting
        # (sandbox/images.py) and the pod Pending
        unpulled = {}
        for entry, container in zip(container_statuses + init_statuses,
                                    (spec.get("containers") or []) + (spec.get("initContainers") or [])):
            failure = images.pull(container.get("image"))
            if failure is not None:
                unpulled[container["name"]] = failure
                entry.update(ready=False, started=False, imageID="", state={"waiting": {
                    "reason": failure[0], "message": failure[1]}})
                entry.pop("containerID", None)
                if container["name"] not in unready:
                    unready.append(container["name"])
        all_ready = not unready
        conditions = [
            {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": stamp},
            {"type": "Initialized", "status": "True", "lastTransitionTime": stamp},
            {"type": "Ready", "status": "True" if all_ready else "False", "lastTransitionTime": stamp},
            {"type": "ContainersReady", "status": "True" if all_ready else "False", "lastTransitionTime": stamp},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp},
        ]
        if unready:
            for condition in conditions[2:4]:
                condition["reason"] = "ContainersNotReady"
                condition["message"] = "containers with unready status: [%s]" % " ".join(unready)
        status = {"phase": "Running", "conditions": conditions, "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
                  "podIP": pod_ip, "podIPs": [{"ip": pod_ip}], "startTime": stamp,
                  "containerStatuses": container_statuses, "qosClass": _qos(spec)}
        if init_statuses:
            status["initContainerStatuses"] = init_statuses
        # the CNI plugin runs as the pod's network is set up, before its containers: an ambient pod is enrolled (and
        # its own requests redirected to the node's ztunnel) from its first instruction
        redirection = self.node_agent.state_at_start(pod, node, pod_ip)
        if redirection:
            pod = copy.deepcopy(pod)
            pod["metadata"].setdefault("annotations", {})[ambient.REDIRECTION] = redirection
        if unpulled:
            status["phase"] = "Pending"
        elif spec.get("restartPolicy") in ("Never", "OnFailure"):
            self._run_to_completion(pod, status, stamp)
        body = dict(pod, status=status)
        body["spec"] = dict(spec, nodeName=node)
        first_start = not spec.get("nodeName") or (pod.get("status") or {}).get("phase") != "Running"
        self.api.replace(pods, namespace, name, body)
        fresh = self.api.get(pods, namespace, name)
        self.api.replace(pods, namespace, name, dict(fresh, status=status), subresource="status")
        if first_start and unpulled:
            self.record(fresh, "Scheduled", "Successfully assigned %s/%s to %s" % (namespace, name, node),
                        "default-scheduler")
            for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
                if container["name"] in unpulled:
                    self.record(fresh, "Pulling", 'Pulling image "%s"' % container.get("image"), "kubelet")
                    self.record(fresh, "Failed", 'Failed to pull image "%s": %s' % (
                        container.get("image"), unpulled[container["name"]][1]), "kubelet", "Warning")
                    self.record(fresh, "Failed", "Error: %s" % unpulled[container["name"]][0], "kubelet", "Warning")
            self.later(1.0, self._pull_backoff, namespace, name, fresh["metadata"]["uid"])
            return
        if first_start:
            self.later(0, self._launch, namespace, name, fresh["metadata"]["uid"],
                       spec.get("restartPolicy") in ("Never", "OnFailure"))
            self.record(fresh, "Scheduled", "Successfully assigned %s/%s to %s" % (namespace, name, node),
                        "default-scheduler")
            for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
                self.record(fresh, "Pulled", 'Container image "%s" already present on machine' % container.get(
                    "image"), "kubelet")
                self.record(fresh, "Created", "Created container: %s" % container["name"], "kubelet")
                self.record(fresh, "Started", "Started container %s" % container["name"], "kubelet")

    @staticmethod
    def _outlasts_sigterm(pod):
        """Whether a running pod's container ignores the SIGTERM its kubelet sends on deletion: a `sleep` (or a
        shell script that sleeps) running as the container's PID 1 has no handler for it, and the kernel ignores
        a signal PID 1 does not handle, so it is killed only when the grace period ends
        (kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination). Servers and an image's own
        entrypoint are taken to stop at once."""
        if (pod.get("status") or {}).get("phase") != "Running":
            return False
        for container in (pod.get("spec") or {}).get("containers") or []:
            script = shell.script_of(container)
            if script is not None and shell.supported(script) and shell.sleeps(script):
                return True
        return False

    def http_from(self, pod):
        """How a running container of ``pod`` sends an HTTP request (shell.run's ``http``): through the data plane,
        as the pod (its sidecar, if it has one, already listening)."""
        return functools.partial(self.dataplane.request_from, pod)

    def stop_pod(self, namespace, name, uid):
        """The grace period of a pod being deleted has ended: the kubelet kills its containers and deletes the pod
        for good (grace period 0)."""
        self.stopping_pods.pop(uid, None)
        pods = self.kind("", "v1", "pods")
        pod = self.api.find(pods, namespace, name)
        if pod is not None and pod["metadata"]["uid"] == uid:
            try:
                self.api.delete(pods, namespace, name, grace=0)
            except ApiError as exc:
                if exc.code != 404:
                    raise

    def _run_to_completion(self, pod, status, stamp):
        """A pod that runs to completion (a Job's, or a bare pod with restartPolicy Never/OnFailure): an app
        container without a command (the image's entrypoint) is taken to end at once with 0; the others run their
        commands (``_launch``) and the pod ends when they all have. A classic istio-proxy container keeps running -
        the pod stays Running, not Ready - until the app asks the pilot-agent to quit (POST
        localhost:15020/quitquitquit), as Istio's docs for Jobs say; a native sidecar ends with the app. Exit codes
        decide the phase: Succeeded when all are 0, else Failed (OnFailure: the container waits in
        CrashLoopBackOff and the pod stays Running). A container whose terminationMessagePolicy is
        FallbackToLogsOnError and that failed carries its output's tail as the message
        (kubernetes.io/docs/tasks/debug/debug-application/determine-reason-pod-failure/)."""
        spec = pod.get("spec") or {}
        codes = {}
        waiting = set()
        for container in spec.get("containers") or []:
            if container.get("name") == "istio-proxy":
                continue
            if container.get("command") or container.get("args"):
                waiting.add(container["name"])
            else:
                codes[container["name"]] = (0, "", container.get("terminationMessagePolicy"))
        self.completions[pod["metadata"]["uid"]] = {"codes": codes, "waiting": waiting, "quit_asked": []}
        if not waiting:
            self._terminate(spec, status, codes, self._sidecar_running(spec, []), stamp)

    def _pull_backoff(self, namespace, name, uid):
        """The kubelet retries a failed pull with a back-off; the registries still do not hold the image, so the
        container waits in ImagePullBackOff (kubernetes.io/docs/concepts/containers/images/#imagepullbackoff)."""
        pods = self.kind("", "v1", "pods")
        pod = self.api.find(pods, namespace, name)
        if pod is None or pod["metadata"]["uid"] != uid or pod["metadata"].get("deletionTimestamp"):
            return
        status = copy.deepcopy(pod.get("status") or {})
        changed = False
        for entry in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
            if ((entry.get("state") or {}).get("waiting") or {}).get("reason") == "ErrImagePull":
                entry["state"] = {"waiting": {"reason": "ImagePullBackOff",
                                              "message": 'Back-off pulling image "%s"' % entry["image"]}}
                self.record(pod, "BackOff", 'Back-off pulling image "%s"' % entry["image"], "kubelet")
                self.record(pod, "Failed", "Error: ImagePullBackOff", "kubelet", "Warning")
                changed = True
        if changed:
            self.api.replace(pods, namespace, name, dict(pod, status=status), subresource="status")

    def _initialize(self, pod, node, host_ip, pod_ip, stamp):
        """The kubelet runs a pod's init containers one after the other before its app containers
        (kubernetes.io/docs/concepts/workloads/pods/init-containers/): the pod is Pending, Initialized False, its
        app containers waiting (PodInitializing) until each init container has ended with 0. An init container
        whose command the shell subset runs runs it (``_next_init``); any other is taken to end at once with 0."""
        spec = pod.get("spec") or {}
        meta = pod["metadata"]
        names = [c["name"] for c in spec.get("initContainers") or [] if c.get("restartPolicy") != "Always"]
        waiting = {"waiting": {"reason": "PodInitializing"}}
        init_statuses = [dict(_container_status(c, False, stamp), started=False, state=waiting)
                         for c in spec.get("initContainers") or []]
        status = {"phase": "Pending", "hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "podIP": pod_ip,
                  "podIPs": [{"ip": pod_ip}], "startTime": stamp, "qosClass": _qos(spec),
                  "initContainerStatuses": init_statuses,
                  "containerStatuses": [dict(_container_status(c, False, stamp), started=False, state=waiting)
                                        for c in spec.get("containers") or []],
                  "conditions": [
                      {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": stamp},
                      {"type": "Initialized", "status": "False", "lastTransitionTime": stamp,
                       "reason": "ContainersNotInitialized",
                       "message": "containers with incomplete status: [%s]" % " ".join(names)},
                      {"type": "Ready", "status": "False", "lastTransitionTime": stamp, "reason": "ContainersNotReady",
                       "message": "containers with unready status: [%s]" % " ".join(
                           c["name"] for c in spec.get("containers") or [])},
                      {"type": "ContainersReady", "status": "False", "lastTransitionTime": stamp,
                       "reason": "ContainersNotReady"},
                      {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp}]}
        pods = self.kind("", "v1", "pods")
        self.api.replace(pods, meta["namespace"], meta["name"], dict(pod, spec=dict(spec, nodeName=node)))
        fresh = self.api.get(pods, meta["namespace"], meta["name"])
        self.api.replace(pods, meta["namespace"], meta["name"], dict(fresh, status=status), subresource="status")
        self.record(fresh, "Scheduled", "Successfully assigned %s/%s to %s" % (meta["namespace"], meta["name"], node),
                    "default-scheduler")
        self.later(0, self._next_init, meta["namespace"], meta["name"], meta["uid"])

    def _next_init(self, namespace, name, uid):
        """Start the next init container that has not ended with 0 (those the subset cannot run end at once);
        when none is left, the app containers start."""
        pods = self.kind("", "v1", "pods")
        pod = self.api.find(pods, namespace, name)
        if pod is None or pod["metadata"]["uid"] != uid or pod["metadata"].get("deletionTimestamp"):
            return
        spec = pod.get("spec") or {}
        status = copy.deepcopy(pod.get("status") or {})
        stamp = now()
        by_name = {c["name"]: c for c in status.get("initContainerStatuses") or []}
        for container in spec.get("initContainers") or []:
            entry = by_name[container["name"]]
            state = entry.get("state") or {}
            if (state.get("terminated") or {}).get("exitCode") == 0 and "waiting" not in state:
                continue
            if "running" in state:
                if container.get("restartPolicy") == "Always":
                    continue  # a native sidecar keeps running beside what comes next
                return  # still running
            entry.update(started=True, state={"running": {"startedAt": stamp}},
                         ready=container.get("restartPolicy") == "Always")
            script = shell.script_of(container)
            if container.get("restartPolicy") == "Always" or script is None or not shell.supported(script):
                if container.get("restartPolicy") != "Always":
                    entry.update(started=False, state={"terminated": {
                        "exitCode": 0, "reason": "Completed", "startedAt": stamp, "finishedAt": stamp,
                        "containerID": entry["containerID"]}})
                continue
            self.api.replace(pods, namespace, name, dict(pod, status=status), subresource="status")
            self.record(pod, "Started", "Started container %s" % container["name"], "kubelet")
            self.runtime.start(pod, container["name"], script, self.http_from(pod), execstream.files(pod),
                               functools.partial(self._init_exited, namespace, name, uid, container["name"]))
            return
        self.initialized.add(uid)
        self.api.replace(pods, namespace, name, dict(pod, status=status), subresource="status")
        self.start_pod(namespace, name)

    def _init_exited(self, namespace, name, uid, container, code, output):
        """An init container's process has ended: with 0 the next one starts; otherwise the pod fails
        (restartPolicy Never) or the kubelet restarts it with its back-off (Init:CrashLoopBackOff)."""
        pods = self.kind("", "v1", "pods")
        pod = self.api.find(pods, namespace, name)
        if pod is None or pod["metadata"]["uid"] != uid or pod["metadata"].get("deletionTimestamp"):
            return
        status = copy.deepcopy(pod.get("status") or {})
        stamp = now()
        entry = next(c for c in status["initContainerStatuses"] if c["name"] == container)
        started = (entry.get("state") or {}).get("running", {}).get("startedAt", stamp)
        terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error", "startedAt": started,
                      "finishedAt": stamp, "containerID": entry["containerID"]}
        if code != 0 and (pod.get("spec") or {}).get("restartPolicy") == "Never":
            terminated["message"] = output[-2048:] if output else None
            terminated = {k: v for k, v in terminated.items() if v is not None}
            entry.update(started=False, ready=False, state={"terminated": terminated})
            status["phase"] = "Failed"
        elif code != 0:
            self.later(_back_off(entry, terminated, pod), self._next_init, namespace, name, uid)
        else:
            entry.update(started=False, ready=False, state={"terminated": terminated})
            self.later(0, self._next_init, namespace, name, uid)
        self.api.replace(pods, namespace, name, dict(pod, status=status), subresource="status")

    @staticmethod
    def _sidecar_running(spec, quit_asked):
        return any(c.get("name") == "istio-proxy" for c in spec.get("containers") or []) and not quit_asked

    def _launch(self, namespace, name, uid, to_completion):
        """The kubelet starts each app container's command: those sandbox/shell.py can run run as processes
        (sandbox/containers.py), their requests sent through the data plane as this pod. A command beyond it runs
        until the pod is deleted, as a server process would - never taken to have ended."""
        pod = self.api.find(self.kind("", "v1", "pods"), namespace, name)
        if pod is None or pod["metadata"]["uid"] != uid:
            return
        spec = pod.get("spec") or {}
        meta = pod["metadata"]
        quit_asked = (self.completions.get(meta["uid"]) or {}).get("quit_asked", [])
        # A classic sidecar starts beside the app, not before it: without holdApplicationUntilProxyStarts (its
        # postStart pilot-agent wait) the app's first outbound connection is redirected to an Envoy that is not
        # listening yet and is refused (curl exit 7; istio.io's holdApplicationUntilProxyStarts in ProxyConfig). The
        # race is taken as lost once per pod; by the next connection Envoy listens.
        proxy = [c for c in spec.get("containers") or [] if c.get("name") == "istio-proxy"]
        envoy_listening = [not proxy or "postStart" in (proxy[0].get("lifecycle") or {})]

        def http(method, url, headers, body, timeout):
            target = urllib.parse.urlsplit(url if "://" in url else "http://" + url)
            if not envoy_listening[0] and target.hostname not in ("localhost", "127.0.0.1"):
                envoy_listening[0] = True
                raise shell.CurlError(7, "Failed to connect to %s port %d after 0 ms: Couldn't connect to server" % (
                    target.hostname, target.port or (443 if target.scheme == "https" else 80)))
            answer = self.dataplane.request_from(pod, method, url, headers, body, timeout)
            if "15020/quitquitquit" in url:
                quit_asked.append(True)
            return answer
        for container in spec.get("containers") or []:
            script = shell.script_of(container)
            if container.get("name") == "istio-proxy" or script is None or not shell.supported(script):
                continue
            self.runtime.start(pod, container["name"], script, http, execstream.files(pod), functools.partial(
                self._exited, meta["namespace"], meta["name"], meta["uid"], container["name"], to_completion))

    def _exited(self, namespace, name, uid, container, to_completion, code, output):
        """A container's process has ended: the pod's end when it runs to completion, else the kubelet restarts
        the container with a back-off (10 s, doubled each time, at most 300 s; the first restart at once:
        kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-restarts)."""
        pods = self.kind("", "v1", "pods")
        pod = self.api.find(pods, namespace, name)
        if pod is None or pod["metadata"]["uid"] != uid or pod["metadata"].get("deletionTimestamp"):
            return
        spec = pod.get("spec") or {}
        status = copy.deepcopy(pod.get("status") or {})
        stamp = now()
        policy = next((c.get("terminationMessagePolicy") for c in spec.get("containers") or []
                       if c["name"] == container), None)
        if to_completion:
            done = self.completions.setdefault(uid, {"codes": {}, "waiting": set(), "quit_asked": []})
            done["codes"][container] = (code, output, policy)
            done["waiting"].discard(container)
            self._terminate(spec, status, {container: done["codes"][container]} if done["waiting"] else done["codes"],
                            self._sidecar_running(spec, done["quit_asked"]), stamp)
            self.api.replace(pods, namespace, name, dict(pod, status=status), subresource="status")
            return
        entry = next(c for c in status["containerStatuses"] if c["name"] == container)
        started = (entry.get("state") or {}).get("running", {}).get("startedAt", stamp)
        delay = _back_off(entry, {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                  "startedAt": started, "finishedAt": stamp, "containerID": entry["containerID"]},
                          pod)
        self._readiness(status, stamp)
        self.api.replace(pods, namespace, name, dict(pod, status=status), subresource="status")
        if delay:
            self.record(pod, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)" % (
                container, name, namespace, uid), "kubelet", "Warning")
        self.later(delay, self._restart, namespace, name, uid, container)

    def _restart(self, namespace, name, uid, container):
        pods = self.kind("", "v1", "pods")
        pod = self.api.find(pods, namespace, name)
        if pod is None or pod["metadata"]["uid"] != uid or pod["metadata"].get("deletionTimestamp"):
            return
        status = copy.deepcopy(pod.get("status") or {})
        stamp = now()
        entry = next(c for c in status["containerStatuses"] if c["name"] == container)
        entry.update(ready=True, started=True, state={"running": {"startedAt": stamp}})
        self._readiness(status, stamp)
        self.api.replace(pods, namespace, name, dict(pod, status=status), subresource="status")
        self.record(pod, "Started", "Started container %s" % container, "kubelet")
        spec = pod.get("spec") or {}
        script = shell.script_of(next(c for c in spec["containers"] if c["name"] == container))
        self.runtime.start(pod, container, script, self.http_from(pod), execstream.files(pod), functools.partial(
            self._exited, namespace, name, uid, container, False))

    @staticmethod
    def _readiness(status, stamp):
        """The pod's Ready and ContainersReady conditions from its containers' readiness."""
        unready = [c["name"] for c in status.get("containerStatuses") or [] if not c.get("ready")]
        for condition in status.get("conditions") or []:
            if condition["type"] in ("Ready", "ContainersReady"):
                value = "False" if unready else "True"
                if condition["status"] != value:
                    condition["lastTransitionTime"] = stamp
                condition["status"] = value
                if unready:
                    condition.update(reason="ContainersNotReady",
                                     message="containers with unready status: [%s]" % " ".join(unready))
                else:
                    condition.pop("reason", None)
                    condition.pop("message", None)

    @staticmethod
    def _terminate(spec, status, codes, sidecar_running, stamp):
        """Each app container terminated with its exit code, and the pod's phase and conditions that follow."""
        conditions = [c for c in status.get("conditions") or [] if c.get("type") in ("Ready", "ContainersReady")]
        failed = any(code != 0 for code, dummy, dummy_policy in codes.values())
        for container_status in status["containerStatuses"]:
            name = container_status["name"]
            if name == "istio-proxy" and sidecar_running:
                continue
            if name not in codes and name != "istio-proxy":
                continue  # still running
            code, output, policy = codes.get(name, (0, "", None))
            if spec.get("restartPolicy") == "OnFailure" and code != 0:
                container_status.update(ready=False, started=False, restartCount=1, state={"waiting": {
                    "reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container=%s" % name}})
                continue
            terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error", "startedAt": stamp,
                          "finishedAt": stamp, "containerID": container_status["containerID"]}
            if code != 0 and policy == "FallbackToLogsOnError" and output:
                terminated["message"] = output[-2048:]
            container_status.update(ready=False, started=False, state={"terminated": terminated})
        for init_status in status.get("initContainerStatuses") or []:
            if "running" in init_status["state"]:  # a native sidecar ends once the app containers have
                init_status.update(ready=False, started=False, state={"terminated": {
                    "exitCode": 0, "reason": "Completed", "startedAt": stamp, "finishedAt": stamp,
                    "containerID": init_status["containerID"]}})
        done = all("terminated" in c["state"] for c in status["containerStatuses"])
        if done:
            status["phase"] = "Failed" if failed else "Succeeded"
        for condition in conditions:
            condition.update(status="False", reason="PodCompleted" if done else "ContainersNotReady",
                             lastTransitionTime=stamp)

    def _schedule(self, wanted, index, spec=None):
        """The scheduler: the pod's own nodeName (a DaemonSet's), else one of the cluster's Ready Nodes the pod
        fits (sandbox/scheduling.py), by the pod's uid; returns (node name, its InternalIP), or (None, why not)
        when no node fits."""
        every = self.api.list(self.kind("", "v1", "nodes"))[0]
        nodes = [n for n in every if (_node_schedulable(n) and scheduling.fits(spec or {}, n) is None) or
                 n["metadata"]["name"] == wanted]
        node = next((n for n in nodes if n["metadata"]["name"] == wanted), None) if wanted else None
        if node is None and nodes:
            node = sorted(nodes, key=lambda n: n["metadata"]["name"])[index % len(nodes)]
        if node is None and not wanted and every:
            reasons = {}
            for candidate in every:
                why = ("node(s) were unschedulable" if not _node_schedulable(candidate)
                       else scheduling.fits(spec or {}, candidate))
                reasons[why] = reasons.get(why, 0) + 1
            return None, "0/%d nodes are available: %s." % (len(every), ", ".join(
                "%d %s" % (count, why) for why, count in sorted(reasons.items())))
        if node is None:
            return wanted or "", ""
        address = next((a["address"] for a in (node.get("status") or {}).get("addresses") or []
                        if a.get("type") == "InternalIP"), "")
        return node["metadata"]["name"], address

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
                       if _node_ready(n) and scheduling.fits(template.get("spec") or {}, n) is None)
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
        ready = sum(1 for p in current if _pod_ready(p))
        status = {"observedGeneration": ds["metadata"].get("generation", 1), "desiredNumberScheduled": len(nodes),
                  "currentNumberScheduled": len(current), "numberMisscheduled": 0, "numberReady": ready,
                  "updatedNumberScheduled": len(updated), "numberAvailable": ready,
                  "numberUnavailable": max(0, len(nodes) - ready)}
        self._set_status(daemonsets, ds, status, ("numberAvailable", "numberUnavailable", "updatedNumberScheduled"))

    def reconcile_job(self, namespace, name):
        """Pods until `completions` have succeeded, `parallelism` at a time; then the conditions SuccessCriteriaMet
        and Complete and completionTime, as the Job controller of Kubernetes 1.31+ sets them
        (kubernetes.io/docs/concepts/workloads/controllers/job/#job-termination-and-cleanup)."""
        jobs = self.kind("batch", "v1", "jobs")
        pods = self.kind("", "v1", "pods")
        job = self._live(jobs, namespace, name)
        if job is None:
            return
        spec = job.get("spec") or {}
        old = job.get("status") or {}
        owned = self._owned_live(pods, namespace, job["metadata"]["uid"])
        succeeded = sum(1 for p in owned if (p.get("status") or {}).get("phase") == "Succeeded")
        failed = sum(1 for p in owned if (p.get("status") or {}).get("phase") == "Failed")
        active = [p for p in owned if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        completions = spec.get("completions", 1)
        stamp = now()
        if any(c.get("type") in ("Complete", "Failed") for c in old.get("conditions") or []):
            return
        # activeDeadlineSeconds: once the Job has been active that long, its running pods are deleted and it fails
        # with DeadlineExceeded, whatever its backoffLimit (kubernetes.io/docs/concepts/workloads/controllers/job/
        # #job-termination-and-cleanup)
        deadline = spec.get("activeDeadlineSeconds")
        if isinstance(deadline, int) and old.get("startTime"):
            left = deadline - (time.time() - calendar.timegm(time.strptime(old["startTime"], "%Y-%m-%dT%H:%M:%SZ")))
            if left <= 0:
                for pod in active:
                    self.api.delete(pods, namespace, pod["metadata"]["name"])
                message = "Job was active longer than specified deadline"
                status = {"startTime": old["startTime"], "failed": failed + len(active), "succeeded": succeeded,
                          "active": 0, "terminating": 0, "uncountedTerminatedPods": {}, "conditions": [
                              {"type": "FailureTarget", "status": "True", "reason": "DeadlineExceeded",
                               "message": message, "lastProbeTime": stamp, "lastTransitionTime": stamp},
                              {"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": message,
                               "lastProbeTime": stamp, "lastTransitionTime": stamp}]}
                self._set_status(jobs, job, status, ("failed", "succeeded", "active"))
                self.record(job, "DeadlineExceeded", message, "job-controller", "Warning")
                return
            self.later(left, self.reconcile_job, namespace, name)
        # a failed pod is replaced until backoffLimit (default 6) failures have been exceeded; then the Job fails
        # (kubernetes.io/docs/concepts/workloads/controllers/job/#pod-backoff-failure-policy)
        if failed > spec.get("backoffLimit", 6):
            status = {"startTime": old.get("startTime") or stamp, "failed": failed, "succeeded": succeeded,
                      "terminating": 0, "uncountedTerminatedPods": {}, "conditions": [
                          {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
                           "message": "Job has reached the specified backoff limit", "lastProbeTime": stamp,
                           "lastTransitionTime": stamp},
                          {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                           "message": "Job has reached the specified backoff limit", "lastProbeTime": stamp,
                           "lastTransitionTime": stamp}]}
            self._set_status(jobs, job, status, ("failed", "succeeded"))
            self.record(job, "BackoffLimitExceeded", "Job has reached the specified backoff limit",
                        "job-controller", "Warning")
            return
        if succeeded < completions and not spec.get("suspend"):
            template = spec.get("template") or {}
            for dummy in range(min(spec.get("parallelism", 1), completions - succeeded) - len(active)):
                self._create_pod(job, template, {"generateName": name + "-"})
            active = [p for p in self._owned(pods, namespace, job["metadata"]["uid"])
                      if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        status = {"startTime": old.get("startTime") or stamp, "active": len(active), "succeeded": succeeded,
                  "failed": failed, "ready": sum(1 for p in active if _pod_ready(p)), "terminating": 0,
                  "uncountedTerminatedPods": {}}
        if succeeded >= completions:
            status["completionTime"] = stamp
            status["conditions"] = [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods", "lastProbeTime": stamp,
                 "lastTransitionTime": stamp},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods", "lastProbeTime": stamp,
                 "lastTransitionTime": stamp}]
        self._set_status(jobs, job, status, ("active", "succeeded", "failed"))
        if succeeded >= completions:
            self.record(job, "Completed", "Job completed", "job-controller")

    # ------------------------------------------------------------ services

    def reconcile_endpoints_in(self, namespace):
        services = self.kind("", "v1", "services")
        items, dummy = self.api.list(services, namespace)
        for svc in items:
            self.reconcile_endpoints(namespace, svc["metadata"]["name"])

    def reconcile_endpoints(self, namespace, name):
        services = self.kind("", "v1", "services")
        pods = self.kind("", "v1", "pods")
        endpoints = self.kind("", "v1", "endpoints")
        slices = self.kind("discovery.k8s.io", "v1", "endpointslices")
        svc = self.api.find(services, namespace, name)
        if svc is None or not (svc.get("spec") or {}).get("selector"):
            return
        reqs = selector_from_match({"matchLabels": svc["spec"]["selector"]})
        items, dummy = self.api.list(pods, namespace)
        members = [p for p in items if label_matches(reqs, p["metadata"].get("labels"))
                   and (p.get("status") or {}).get("podIP") and not p["metadata"].get("deletionTimestamp")]
        ready = [p for p in members if _pod_ready(p)]
        not_ready = [p for p in members if not _pod_ready(p)]
        ports = [{"name": p.get("name"), "port": _target_port(p, members), "protocol": p.get("protocol", "TCP")}
                 for p in svc["spec"].get("ports") or []]
        for port in ports:
            if port["name"] is None:
                del port["name"]

        def address(pod):
            return {"ip": pod["status"]["podIP"], "nodeName": pod["spec"].get("nodeName"),
                    "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod["metadata"]["name"],
                                  "uid": pod["metadata"]["uid"]}}

        subset = {"ports": ports}
        if ready:
            subset["addresses"] = [address(p) for p in ready]
        if not_ready:
            subset["notReadyAddresses"] = [address(p) for p in not_ready]
        body = {"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": name, "namespace": namespace, "labels": dict(svc["metadata"].get("labels") or {})},
                "subsets": [subset] if members else []}
        if not body["subsets"]:
            del body["subsets"]
        self._ensure(endpoints, namespace, name, body, ("subsets", "metadata.labels"))
        slice_body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                      "metadata": {"name": name + "-" + short_hash(name, 5), "namespace": namespace,
                                   "labels": dict(svc["metadata"].get("labels") or {},
                                                  **{"kubernetes.io/service-name": name,
                                                     "endpointslice.kubernetes.io/managed-by":
                                                         "endpointslice-controller.k8s.io"}),
                                   "ownerReferences": [_owner(svc)]},
                      "addressType": "IPv4",
                      "endpoints": [{"addresses": [p["status"]["podIP"]],
                                     "conditions": {"ready": _pod_ready(p), "serving": _pod_ready(p),
                                                    "terminating": False},
                                     "nodeName": p["spec"].get("nodeName"),
                                     "targetRef": {"kind": "Pod", "namespace": namespace,
                                                   "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}}
                                    for p in members],
                      "ports": ports}
        self._ensure(slices, namespace, slice_body["metadata"]["name"], slice_body, ("endpoints", "ports"))

    def _ensure(self, kind, namespace, name, body, fields):
        current = self.api.find(kind, namespace, name)
        if current is None:
            self.api.create(kind, namespace, body)
            return
        differs = False
        for field in fields:
            path = field.split(".")
            a, b = current, body
            for part in path:
                a = (a or {}).get(part)
                b = (b or {}).get(part)
            differs = differs or a != b
        if differs:
            merged = dict(current)
            for key, value in body.items():
                if key != "metadata":
                    merged[key] = value
            if "subsets" not in body:
                merged.pop("subsets", None)
            merged["metadata"] = dict(current["metadata"], labels=body["metadata"].get("labels"))
            self.api.replace(kind, namespace, name, merged)

    def _delete_endpoints(self, namespace, name):
        endpoints = self.kind("", "v1", "endpoints")
        try:
            self.api.delete(endpoints, namespace, name)
        except ApiError:
            pass

    def provision_load_balancer(self, namespace, name):
        services = self.kind("", "v1", "services")
        svc = self.api.find(services, namespace, name)
        if svc is None or svc["spec"].get("type") != "LoadBalancer":
            return
        digest = hashlib.sha256(svc["metadata"]["uid"].encode()).hexdigest()
        hostname = "%s-%d.us-east-1.elb.amazonaws.com" % (digest[:32], int(digest[32:40], 16) % 10 ** 10)
        status = {"loadBalancer": {"ingress": [{"hostname": hostname}]}}
        self.api.replace(services, namespace, name, dict(svc, status=status), subresource="status")

    # ------------------------------------------------------------ namespaces, CRDs

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

    def establish_crd(self, name):
        crds = self.kind("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        crd = self.api.find(crds, None, name)
        if crd is None:
            return
        for new_kind in self.api.registry.crd_kinds(crd):
            self.api.registry.add(new_kind)
        stamp = now()
        names = dict(crd["spec"].get("names") or {})
        names.setdefault("singular", names.get("kind", "").lower())
        names.setdefault("listKind", names.get("kind", "") + "List")
        status = {"conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found",
             "lastTransitionTime": stamp},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": stamp}],
            "acceptedNames": names,
            "storedVersions": [v["name"] for v in crd["spec"].get("versions") or [] if v.get("storage")]}
        self.api.replace(crds, None, name, dict(crd, status=status), subresource="status")


def _owner(obj):
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _node_ready(node):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def _node_schedulable(node):
    return _node_ready(node) and not (node.get("spec") or {}).get("unschedulable")


def _pod_ready(pod):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _container_status(container, ready, stamp):
    image = container.get("image", "")
    digest = hashlib.sha256(image.encode()).hexdigest()
    return {"name": container["name"], "image": image, "imageID": "%s@sha256:%s" % (image.split(":")[0], digest),
            "containerID": "containerd://" + hashlib.sha256((container["name"] + stamp + image).encode()).hexdigest(),
            "ready": ready, "started": True, "restartCount": 0, "state": {"running": {"startedAt": stamp}}}


def _back_off(entry, terminated, pod):
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


def _init_scripts(spec):
    """Whether any of the pod's regular init containers has a command the shell subset runs."""
    for container in spec.get("initContainers") or []:
        script = shell.script_of(container)
        if container.get("restartPolicy") != "Always" and script is not None and shell.supported(script):
            return True
    return False


def _qos(spec):
    containers = spec.get("containers") or []
    if any((c.get("resources") or {}).get("requests") or (c.get("resources") or {}).get("limits") for c in containers):
        return "Burstable"
    return "BestEffort"


def _target_port(service_port, pods):
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    for pod in pods:
        for container in (pod.get("spec") or {}).get("containers") or []:
            for port in container.get("ports") or []:
                if port.get("name") == target:
                    return port.get("containerPort")
    return service_port.get("port")
