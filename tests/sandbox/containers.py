"""The container runtime under the sandbox's kubelet: each container whose command the shell subset can run
(sandbox/shell.py) runs it as a process of its own, in real time, and what it writes is its log.

- A process is a thread that runs the script's steps; its ``sleep`` waits that long (a kill ends the wait at once:
  the kubelet's kill of a container whose grace period is over, or of a pod deleted for good).
- Its standard output and error go to the container's log, a line at a time with the time each was written, as
  the runtime's CRI log file keeps them (kubernetes.io/docs/concepts/cluster-administration/logging/). The log of
  the run before the last restart stays as the ``previous`` log; older runs are dropped, as the kubelet keeps one.
- The files a container sees are the kubelet's (/etc/resolv.conf, /etc/hosts, /etc/hostname:
  sandbox/execstream.py) and those its own processes write; an exec into the container sees the same files.
- When the process ends, ``on_exit(code, output)`` is called on the controllers' thread, which decides what
  follows (a restart, or the pod's end).
"""

import datetime
import threading

from . import images, shell
from .filesystem import Filesystem, raw, text
from .api import ApiError, query_bool


def _stamp():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Runtime(object):
    def __init__(self, later):
        self.later = later  # controllers.later: what a process's end is handed to
        self.lock = threading.Condition()
        self.logs = {}  # (pod uid, container) -> {"current": [(stamp, line)], "previous": [...]}
        self.files = {}  # (pod uid, container) -> filesystem.Filesystem
        self.processes = {}  # (pod uid, container) -> threading.Event set to kill it

    def container_files(self, pod, container, base):
        """The container's file tree, made from its image's directories, its workingDir and ``base`` (the
        kubelet's files) when the container first starts."""
        with self.lock:
            key = (pod["metadata"]["uid"], container)
            if key not in self.files:
                self.files[key] = Filesystem(base, spec_of(pod, container).get("workingDir") or "/")
            return self.files[key]

    def start(self, pod, container, script, http, base_files, on_exit):
        """Run ``script`` as ``container``'s process; its log starts afresh (the last run's becomes previous)."""
        key = (pod["metadata"]["uid"], container)
        killed = threading.Event()
        with self.lock:
            old = self.processes.pop(key, None)
            if old is not None:
                old.set()
            log = self.logs.setdefault(key, {"current": [], "previous": None, "runs": 0})
            if log["runs"]:
                log["previous"], log["current"] = log["current"], []
            log["runs"] += 1
            self.processes[key] = killed
        files = self.container_files(pod, container, base_files)
        hostname = (pod.get("spec") or {}).get("hostname") or pod["metadata"]["name"]
        partial = {1: "", 2: ""}

        def emit(fd, output):
            with self.lock:
                # a log is text: bytes that are not UTF-8 are shown as U+FFFD, as `kubectl logs` shows them
                lines = (partial[fd] + raw(output).decode("utf-8", "replace")).split("\n")
                partial[fd] = lines.pop()
                log["current"].extend((_stamp(), line + "\n") for line in lines)
                self.lock.notify_all()
        output = []

        def keep(fd, written):
            output.append(text(written))
            emit(fd, written)
        process = shell.Process(script, http, keep, files, b"", hostname,
                                images.programs(spec_of(pod, container).get("image"), shell.PROGRAMS))

        def run():
            steps = process.steps()
            code = None
            try:
                while True:
                    seconds = next(steps)
                    if killed.wait(None if seconds == float("inf") else seconds):
                        return
            except StopIteration as done:
                code = done.value
            except Exception as exc:  # pylint: disable=broad-except  # a fault of the shell ends the process
                emit(2, "sh: %s\n" % exc)
                code = 2
            with self.lock:
                for fd in (1, 2):
                    if partial[fd]:
                        log["current"].append((_stamp(), partial[fd]))
                        partial[fd] = ""
                if self.processes.get(key) is not killed:
                    return
                del self.processes[key]
                self.lock.notify_all()
            self.later(0, on_exit, code, "".join(output))
        threading.Thread(target=run, name="container %s/%s" % key, daemon=True).start()

    def kill(self, uid):
        """Kill every process of the pod ``uid`` (its log stays until the pod is forgotten)."""
        with self.lock:
            for key in [k for k in self.processes if k[0] == uid]:
                self.processes.pop(key).set()
            self.lock.notify_all()

    def forget(self, uid):
        """The pod is gone: its processes, logs and files with it."""
        self.kill(uid)
        with self.lock:
            for table in (self.logs, self.files):
                for key in [k for k in table if k[0] == uid]:
                    del table[key]

    def running(self, uid, container):
        with self.lock:
            return (uid, container) in self.processes

    def log(self, uid, container, previous=False):
        """[(stamp, line)] of the container's current (or previous) run; None when there is no such run."""
        with self.lock:
            entry = self.logs.get((uid, container))
            if entry is None:
                return None if previous else []
            return list(entry["previous"]) if previous and entry["previous"] is not None else \
                (None if previous else list(entry["current"]))

    def wait_for_more(self, uid, container, seen, timeout):
        """Block until the current log has more than ``seen`` lines or its process ends (or ``timeout``); returns
        whether the process still runs."""
        key = (uid, container)
        with self.lock:
            self.lock.wait_for(lambda: len((self.logs.get(key) or {"current": []})["current"]) > seen or
                               key not in self.processes, timeout)
            return key in self.processes


def container_of(pod, container):
    """The container a pods/log or pods/exec request names (the pod's REST strategy: required when the pod has
    several, and one of the pod's own), or the API server's 400."""
    spec = pod.get("spec") or {}
    name = pod["metadata"]["name"]
    names = [c["name"] for c in spec.get("containers") or []]
    init_names = [c["name"] for c in spec.get("initContainers") or []]
    if not container:
        if len(names) != 1:
            message = "a container name must be specified for pod %s, choose one of: [%s]" % (name, " ".join(names))
            if init_names:
                message += " or one of the init containers: [%s]" % " ".join(init_names)
            raise ApiError(400, "BadRequest", message)
        container = names[0]
    if container not in names + init_names:
        raise ApiError(400, "BadRequest", "container %s is not valid for pod %s" % (container, name))
    return container


def log_target(api, namespace, name, query):
    """(pod, container) a pods/log request reads, or the ApiError the API server answers first (the pod's REST
    LogLocation: the container name is required when the pod has several; then the kubelet: a container that has
    not started is waiting to start)."""
    pod = api.get(api.registry.find("", "v1", "pods"), namespace, name)
    container = container_of(pod, query.get("container") or "")
    statuses = (pod.get("status") or {}).get("containerStatuses", []) + \
        (pod.get("status") or {}).get("initContainerStatuses", [])
    entry = next((s for s in statuses if s.get("name") == container), None)
    if entry is None or ("waiting" in (entry.get("state") or {}) and not entry.get("restartCount")):
        reason = ((entry or {}).get("state") or {}).get("waiting", {}).get("reason", "ContainerCreating")
        raise ApiError(400, "BadRequest", 'container "%s" in pod "%s" is waiting to start: %s' % (
            container, name, reason))
    return pod, container


def render(entries, query, now_seconds):
    """The log text a pods/log request gets from [(stamp, line)]: sinceSeconds/sinceTime, tailLines, timestamps
    (each line prefixed by its RFC 3339 time), limitBytes, as the kubelet applies them."""
    since = None
    if query.get("sinceSeconds"):
        since = datetime.datetime.fromtimestamp(now_seconds - int(query["sinceSeconds"]), datetime.timezone.utc)
    elif query.get("sinceTime"):
        since = datetime.datetime.fromisoformat(query["sinceTime"].replace("Z", "+00:00"))
    if since is not None:
        entries = [e for e in entries if datetime.datetime.fromisoformat(e[0].replace("Z", "+00:00")) >= since]
    if query.get("tailLines") not in (None, ""):
        count = int(query["tailLines"])
        entries = entries[-count:] if count > 0 else []
    text = "".join(("%s %s" % e) if query_bool(query.get("timestamps")) else e[1] for e in entries)
    data = text.encode()
    if query.get("limitBytes"):
        data = data[:int(query["limitBytes"])]
    return data


def spec_of(pod, container):
    """The container's own entry of the pod spec (app or init container); {} when there is none."""
    spec = pod.get("spec") or {}
    return next((c for c in spec.get("containers", []) + spec.get("initContainers", []) if c.get("name") == container),
                {})
