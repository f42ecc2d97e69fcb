"""meta.k8s.io Table answers, so that `kubectl get` prints what it prints on a cluster."""

import datetime


def _age(obj):
    stamp = obj["metadata"].get("creationTimestamp")
    if not stamp:
        return "<unknown>"
    created = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    seconds = int((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds())
    if seconds < 120:
        return "%ds" % max(seconds, 0)
    if seconds < 7200:
        return "%dm" % (seconds // 60)
    return "%dh" % (seconds // 3600)


def _pod_row(pod):
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    containers = (pod.get("spec") or {}).get("containers") or []
    natives = [c for c in (pod.get("spec") or {}).get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    init_statuses = (pod.get("status") or {}).get("initContainerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready")) + sum(
        1 for s in init_statuses if s.get("ready") and any(n["name"] == s.get("name") for n in natives))
    restarts = sum(s.get("restartCount", 0) for s in statuses + init_statuses)
    phase = (pod.get("status") or {}).get("phase", "Pending")
    # the pod printer (pkg/printers/internalversion/printers.go, printPod): the reason of a terminated container
    # (Completed) or of a waiting one stands for the phase
    for status in statuses:
        state = status.get("state") or {}
        reason = (state.get("terminated") or state.get("waiting") or {}).get("reason")
        if reason:
            phase = reason
    if pod["metadata"].get("deletionTimestamp"):
        phase = "Terminating"
    return [pod["metadata"]["name"], "%d/%d" % (ready, len(containers) + len(natives)), phase, restarts, _age(pod)]


def _deploy_row(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [obj["metadata"]["name"], "%d/%d" % (status.get("readyReplicas", 0), spec.get("replicas", 0)),
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0), _age(obj)]


def _svc_row(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ingress = (status.get("loadBalancer") or {}).get("ingress") or []
    external = ",".join(i.get("hostname") or i.get("ip", "") for i in ingress) or (
        "<pending>" if spec.get("type") == "LoadBalancer" else "<none>")
    ports = ",".join("%s%s/%s" % (p.get("port"), ":%s" % p["nodePort"] if p.get("nodePort") else "",
                                  p.get("protocol", "TCP")) for p in spec.get("ports") or [])
    return [obj["metadata"]["name"], spec.get("type"), spec.get("clusterIP"), external, ports or "<none>", _age(obj)]


def _ns_row(obj):
    return [obj["metadata"]["name"], (obj.get("status") or {}).get("phase", "Active"), _age(obj)]


COLUMNS = {
    "Pod": (["Name", "Ready", "Status", "Restarts", "Age"], _pod_row),
    "Deployment": (["Name", "Ready", "Up-to-date", "Available", "Age"], _deploy_row),
    "Service": (["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"], _svc_row),
    "Namespace": (["Name", "Status", "Age"], _ns_row),
}


def table(kind, items, meta):
    names, row = COLUMNS.get(kind.kind, (["Name", "Age"], lambda o: [o["metadata"]["name"], _age(o)]))
    columns = [{"name": n, "type": "integer" if n == "Restarts" else "string", "format": "name" if n == "Name" else "",
                "description": n, "priority": 0} for n in names]
    rows = [{"cells": row(item), "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                            "metadata": item["metadata"]}} for item in items]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": columns,
            "rows": rows}
