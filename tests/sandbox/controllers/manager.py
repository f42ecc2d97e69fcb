"""Controllers that make the emulated API server behave like a cluster, one file each: Deployments roll out
ReplicaSets and Pods (deployment.py, replicaset.py), StatefulSets their ordinal Pods and volume claims
(statefulset.py), claims are bound by a CSI provisioner when one runs (volumes.py), DaemonSets and Jobs run their
pods (daemonset.py, job.py), a kubelet stand-in schedules and starts Pods (kubelet.py), Services get endpoints and
load balancers (endpoints.py, service.py), namespaces terminate (namespace.py), CRDs are established (crd.py).

This file is the controller manager: one loop that hands each API event to the controllers watching its kind, and
runs what they scheduled for later."""

import heapq
import itertools
import random
import sys
import threading
import time
import traceback

from .. import ambient, containers, gatewayapi
from ..api import ApiError
from .crd import CrdController
from .daemonset import DaemonSetController
from .deployment import DeploymentController
from .endpoints import EndpointsController
from .job import JobController
from .kubelet import Kubelet
from .namespace import NamespaceController
from .replicaset import ReplicaSetController
from .service import ServiceController
from .statefulset import StatefulSetController
from .volumes import VolumeProvisioner


class Settings(object):
    """Delays that give the sandbox a cluster's rhythm, in seconds."""

    def __init__(self, pod_start=0.3, load_balancer=1.0, namespace_termination=0.5, crd_established=0.2):
        self.pod_start = pod_start
        self.load_balancer = load_balancer
        self.namespace_termination = namespace_termination
        self.crd_established = crd_established


class Controllers(DeploymentController, ReplicaSetController, StatefulSetController, VolumeProvisioner,
                  DaemonSetController, JobController, Kubelet, EndpointsController, ServiceController,
                  NamespaceController, CrdController):
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
        # what each controller watches: the kind's events go to its handler (Istio's Gateway API controllers
        # look at several kinds: _gateway_api_event)
        self.watches = {
            ("apps", "deployments"): self.on_deployment,
            ("apps", "replicasets"): self.on_replicaset,
            ("apps", "statefulsets"): self.on_statefulset,
            ("apps", "daemonsets"): self.on_daemonset,
            ("apps", "controllerrevisions"): self.on_controllerrevision,
            ("batch", "jobs"): self.on_job,
            ("", "nodes"): self.on_node,
            ("", "persistentvolumeclaims"): self.on_claim,
            ("", "pods"): self.on_pod,
            ("", "services"): self.on_service,
            ("", "namespaces"): self.on_namespace,
            ("elbv2.k8s.aws", "targetgroupbindings"): self.on_target_group_binding,
            ("apiextensions.k8s.io", "customresourcedefinitions"): self.on_crd,
        }

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
        handler = self.watches.get(event.key)
        if handler is not None:
            handler(event.type, event.obj)
        if self._gateway_api_event(event.key, event.obj):
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
