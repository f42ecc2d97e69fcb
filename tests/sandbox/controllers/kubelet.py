"""The kubelet and the scheduler: a pod placed on a node, its init and app containers run, probes, restarts with
back-off, graceful stops; the taint manager's evictions."""

import copy
import functools
import fnmatch
import hashlib
import urllib.parse

from .. import ambient, execstream, images, scheduling, shell
from ..api import ApiError, now
from .common import (
    ControllerBase,
    back_off,
    init_scripts,
    new_container_status,
    node_schedulable,
    pod_ready,
    qos_class,
)


class Kubelet(ControllerBase):
    def on_node(self, etype, obj):
        if etype == "MODIFIED":
            self.node_changed(obj)

    def on_pod(self, etype, obj):
        meta = obj["metadata"]
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
        # the workload controllers and the endpoints controller watch pods too
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

    def _this_pod(self, namespace, name, uid):
        """The pod a scheduled step was for, or None when it is gone, being deleted or made again under its name
        (another uid): a kubelet's work for a pod ends with the pod."""
        pod = self.api.find(self.kind("", "v1", "pods"), namespace, name)
        if pod is None or pod["metadata"]["uid"] != uid or pod["metadata"].get("deletionTimestamp"):
            return None
        return pod

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
            if pod_ready(pod) == stuck:
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
                    "phase": "Pending", "qosClass": qos_class(spec), "conditions": [{
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
                    "phase": "Pending", "qosClass": qos_class(spec), "conditions": [{
                        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                        "lastTransitionTime": stamp, "message": host_ip}]}), subresource="status")
                self.record(pod, "FailedScheduling", host_ip, "default-scheduler", "Warning")
            return
        pod_ip = "192.168.%d.%d" % (64 + (index >> 8) % 64, 2 + index % 250)
        if not resuming and not (pod.get("status") or {}).get("containerStatuses") and init_scripts(spec):
            self._initialize(pod, node, host_ip, pod_ip, stamp)
            return
        container_statuses = []
        unready = []
        for container in spec.get("containers") or []:
            ready = not never_ready
            if not ready:
                unready.append(container["name"])
            container_statuses.append(new_container_status(container, ready, stamp))
        init_statuses = []
        for container in spec.get("initContainers") or []:
            if container.get("restartPolicy") == "Always":
                init_statuses.append(new_container_status(container, not never_ready, stamp))
            else:
                status = new_container_status(container, False, stamp)
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
                  "containerStatuses": container_statuses, "qosClass": qos_class(spec)}
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
        pod = self._this_pod(namespace, name, uid)
        if pod is None:
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
        init_statuses = [dict(new_container_status(c, False, stamp), started=False, state=waiting)
                         for c in spec.get("initContainers") or []]
        status = {"phase": "Pending", "hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "podIP": pod_ip,
                  "podIPs": [{"ip": pod_ip}], "startTime": stamp, "qosClass": qos_class(spec),
                  "initContainerStatuses": init_statuses,
                  "containerStatuses": [dict(new_container_status(c, False, stamp), started=False, state=waiting)
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
        pod = self._this_pod(namespace, name, uid)
        if pod is None:
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
        pod = self._this_pod(namespace, name, uid)
        if pod is None:
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
            self.later(back_off(entry, terminated, pod), self._next_init, namespace, name, uid)
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
        pod = self._this_pod(namespace, name, uid)
        if pod is None:
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
        delay = back_off(entry, {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
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
        pod = self._this_pod(namespace, name, uid)
        if pod is None:
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
        nodes = [n for n in every if (node_schedulable(n) and scheduling.fits(spec or {}, n) is None) or
                 n["metadata"]["name"] == wanted]
        node = next((n for n in nodes if n["metadata"]["name"] == wanted), None) if wanted else None
        if node is None and nodes:
            node = sorted(nodes, key=lambda n: n["metadata"]["name"])[index % len(nodes)]
        if node is None and not wanted and every:
            reasons = {}
            for candidate in every:
                why = ("node(s) were unschedulable" if not node_schedulable(candidate)
                       else scheduling.fits(spec or {}, candidate))
                reasons[why] = reasons.get(why, 0) + 1
            return None, "0/%d nodes are available: %s." % (len(every), ", ".join(
                "%d %s" % (count, why) for why, count in sorted(reasons.items())))
        if node is None:
            return wanted or "", ""
        address = next((a["address"] for a in (node.get("status") or {}).get("addresses") or []
                        if a.get("type") == "InternalIP"), "")
        return node["metadata"]["name"], address
