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


def _rs_row(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [obj["metadata"]["name"], spec.get("replicas", 0), status.get("replicas", 0),
            status.get("readyReplicas", 0), _age(obj)]


def _sts_row(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [obj["metadata"]["name"], "%d/%d" % (status.get("readyReplicas", 0), spec.get("replicas", 0)), _age(obj)]


def _ds_row(obj):
    status = obj.get("status") or {}
    selector = ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get("nodeSelector") or {}
    return [obj["metadata"]["name"], status.get("desiredNumberScheduled", 0), status.get("currentNumberScheduled", 0),
            status.get("numberReady", 0), status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0),
            ",".join("%s=%s" % item for item in sorted(selector.items())) or "<none>", _age(obj)]


def _seconds(stamp):
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def _job_row(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    conditions = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
    state = "Complete" if "Complete" in conditions else "Failed" if "Failed" in conditions else \
        "Suspended" if spec.get("suspend") else "Running"
    duration = ""
    if status.get("startTime"):
        end = _seconds(status["completionTime"]) if status.get("completionTime") else \
            datetime.datetime.now(datetime.timezone.utc)
        duration = "%ds" % max(0, int((end - _seconds(status["startTime"])).total_seconds()))
    return [obj["metadata"]["name"], state, "%d/%d" % (status.get("succeeded", 0), spec.get("completions", 1)),
            duration, _age(obj)]


def _data_row(obj):
    return [obj["metadata"]["name"], len(obj.get("data") or {}) + len(obj.get("binaryData") or {}), _age(obj)]


def _secret_row(obj):
    return [obj["metadata"]["name"], obj.get("type", "Opaque"), len(obj.get("data") or {}), _age(obj)]


def _sa_row(obj):
    return [obj["metadata"]["name"], len(obj.get("secrets") or []), _age(obj)]


def _pvc_row(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [obj["metadata"]["name"], status.get("phase", "Pending"), spec.get("volumeName", ""),
            (status.get("capacity") or {}).get("storage", ""),
            ",".join({"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
                      "ReadWriteOncePod": "RWOP"}.get(m, m) for m in status.get("accessModes") or []),
            spec.get("storageClassName") or "", spec.get("volumeAttributesClassName") or "<unset>", _age(obj)]


def _event_row(obj):
    involved = obj.get("involvedObject") or {}
    last = obj.get("lastTimestamp") or obj["metadata"].get("creationTimestamp")
    return [_age({"metadata": {"creationTimestamp": last}}), obj.get("type", ""), obj.get("reason", ""),
            "%s/%s" % ((involved.get("kind") or "").lower(), involved.get("name", "")), obj.get("message", "")]


def _revision_row(obj):
    # printControllerRevision: the controller as formatResourceName prints a GroupKind with its name
    # ("daemonset.apps/NAME"), "<none>" for a revision no controller owns
    ref = next((r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
    controller = "<none>"
    if ref is not None:
        group = ref.get("apiVersion", "").rpartition("/")[0]
        controller = "%s/%s" % ((ref.get("kind", "") + ("." + group if group else "")).lower(), ref.get("name", ""))
    return [obj["metadata"]["name"], controller, obj.get("revision", 0), _age(obj)]


def _webhooks_row(obj):
    return [obj["metadata"]["name"], len(obj.get("webhooks") or []), _age(obj)]


# the columns kube-apiserver's printers give each kind (pkg/printers/internalversion/printers.go, AddHandlers);
# "integer" marks the columns typed so there
INTEGER = "integer"
COLUMNS = {
    "Pod": (["Name", "Ready", "Status", ("Restarts", INTEGER), "Age"], _pod_row),
    "Deployment": (["Name", "Ready", ("Up-to-date", INTEGER), ("Available", INTEGER), "Age"], _deploy_row),
    "ReplicaSet": (["Name", ("Desired", INTEGER), ("Current", INTEGER), ("Ready", INTEGER), "Age"], _rs_row),
    "StatefulSet": (["Name", "Ready", "Age"], _sts_row),
    "DaemonSet": (["Name", ("Desired", INTEGER), ("Current", INTEGER), ("Ready", INTEGER), ("Up-to-date", INTEGER),
                   ("Available", INTEGER), "Node Selector", "Age"], _ds_row),
    "Job": (["Name", "Status", "Completions", "Duration", "Age"], _job_row),
    "Service": (["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"], _svc_row),
    "Namespace": (["Name", "Status", "Age"], _ns_row),
    "ConfigMap": (["Name", ("Data", INTEGER), "Age"], _data_row),
    "Secret": (["Name", "Type", ("Data", INTEGER), "Age"], _secret_row),
    "ServiceAccount": (["Name", ("Secrets", INTEGER), "Age"], _sa_row),
    "PersistentVolumeClaim": (["Name", "Status", "Volume", "Capacity", "Access Modes", "StorageClass",
                               "VolumeAttributesClass", "Age"], _pvc_row),
    "ControllerRevision": (["Name", "Controller", ("Revision", INTEGER), "Age"], _revision_row),
    "Event": (["Last Seen", "Type", "Reason", "Object", "Message"], _event_row),
    # mutatingWebhookColumnDefinitions / validatingWebhookColumnDefinitions: "Webhooks indicates the number of
    # webhooks registered in this configuration"
    "MutatingWebhookConfiguration": (["Name", ("Webhooks", INTEGER), "Age"], _webhooks_row),
    "ValidatingWebhookConfiguration": (["Name", ("Webhooks", INTEGER), "Age"], _webhooks_row),
}


def table(kind, items, meta, headers=True):
    """A Table of items; without headers (the events of a watch after its first) the column definitions are
    left out, as the apiserver's watch encoder leaves them out (apiserver/pkg/endpoints/handlers/watch.go)."""
    names, row = COLUMNS.get(kind.kind, (["Name", "Age"], lambda o: [o["metadata"]["name"], _age(o)]))
    columns = []
    for column in names:
        name, kind_of = column if isinstance(column, tuple) else (column, "string")
        columns.append({"name": name, "type": kind_of, "format": "name" if name == "Name" else "",
                        "description": name, "priority": 0})
    rows = [{"cells": row(item), "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                            "metadata": item["metadata"]}} for item in items]
    out = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "rows": rows}
    if headers:
        out["columnDefinitions"] = columns
    return out
