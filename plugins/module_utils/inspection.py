# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Judge whether Istio took hold of a pod: pure functions over pod objects."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError
from ansible_collections.istio_demo.mesh.plugins.module_utils.names import dns_label, image_tag
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_connection import (
    K8sConnectionError, connect, read_json)

ISTIO_LABELS = ("security.istio.io/tlsMode", "service.istio.io/canonical-name", "service.istio.io/canonical-revision")
REQUIREMENTS = ("injected", "ready", "labels", "init", "ambient")


def judge_spec(fail_on_violation):
    """The options that say which pods to judge and how, as sidecar_info and manifest's prove take them (each with
    its own default for fail_on_violation)."""
    return dict(
        namespace=dict(type="list", elements="str", default=[]),
        label_selector=dict(type="str"),
        require=dict(type="list", elements="str", choices=list(REQUIREMENTS), default=["injected"]),
        pods_reported=dict(type="str", choices=["all", "violating"], default="violating"),
        fail_on_violation=dict(type="bool", default=fail_on_violation),
    )


# ambient mode (istio.io/latest/docs/ambient/): the namespace (or pod) label that enrols pods, and the annotation
# Istio's CNI node agent sets once it redirected a pod to its node's ztunnel (istio cni/pkg/util/podutil.go)
DATAPLANE_MODE = "istio.io/dataplane-mode"
REDIRECTION = "ambient.istio.io/redirection"
# the label of the ztunnel DaemonSet's pods (the ztunnel chart: manifest-generate's ztunnel golden)
ZTUNNEL_SELECTOR = "app=ztunnel"
INIT_NAMES = ("istio-init", "istio-validation")
INJECT_FLAG = "sidecar.istio.io/inject"
POD_FIELDS = ("metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
              "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName")
LABEL_KEY = r"([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
LABEL_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
SELECTOR_TERM = re.compile(r"^\s*(!?\s*%s|%s\s*(=|==|!=)\s*%s|%s\s+(in|notin)\s*\(\s*%s(\s*,\s*%s)*\s*\))\s*$" % (
    LABEL_KEY, LABEL_KEY, LABEL_VALUE, LABEL_KEY, LABEL_VALUE, LABEL_VALUE))

# istio-iptables flags, short and long, and the field each one fills
IPTABLES_FLAGS = {
    "-p": "outbound_port", "--envoy-port": "outbound_port",
    "-z": "inbound_port", "--inbound-capture-port": "inbound_port",
    "-u": "proxy_uid", "--proxy-uid": "proxy_uid",
    "-g": "proxy_gid", "--proxy-gid": "proxy_gid",
    "-m": "mode", "--istio-inbound-interception-mode": "mode", "--inbound-interception-mode": "mode",
    "-i": "include_ip_ranges", "--istio-service-cidr": "include_ip_ranges",
    "--outbound-ip-ranges-include": "include_ip_ranges",
    "-x": "exclude_ip_ranges", "--istio-service-exclude-cidr": "exclude_ip_ranges",
    "--outbound-ip-ranges-exclude": "exclude_ip_ranges",
    "-b": "include_inbound_ports", "--istio-inbound-ports": "include_inbound_ports",
    "--inbound-ports-include": "include_inbound_ports",
    "-d": "exclude_inbound_ports", "--istio-local-exclude-ports": "exclude_inbound_ports",
    "--inbound-ports-exclude": "exclude_inbound_ports",
    "-o": "exclude_outbound_ports", "--outbound-ports-exclude": "exclude_outbound_ports",
    "-q": "include_outbound_ports", "--outbound-ports-include": "include_outbound_ports",
}
LIST_FIELDS = ("include_ip_ranges", "exclude_ip_ranges", "include_inbound_ports", "exclude_inbound_ports",
               "exclude_outbound_ports", "include_outbound_ports")
INT_FIELDS = ("outbound_port", "inbound_port")


class InspectionInputError(MeshError, ValueError):
    pass


def validate_inputs(namespaces, label_selector, field_selector):
    """Refuse malformed namespaces and selectors before any request."""
    for ns in namespaces:
        if not dns_label(ns):
            raise InspectionInputError("namespace=%r is invalid: expected Kubernetes namespace names (lower-case "
                                       "letters, digits and '-', at most 63 characters)" % (ns,))
    if label_selector:
        for term in split_terms(label_selector):
            if not SELECTOR_TERM.match(term):
                raise InspectionInputError("label_selector=%r is invalid: cannot parse %r; expected terms such as "
                                           "app=my-app, tier!=db, env in (a,b), !canary" % (label_selector, term))
    if field_selector:
        for term in split_terms(field_selector):
            match = re.match(r"^\s*([A-Za-z.]+)\s*(=|==|!=)\s*([^,]*)$", term)
            if not match:
                raise InspectionInputError("field_selector=%r is invalid: cannot parse %r; expected terms such as "
                                           "status.phase=Running" % (field_selector, term))
            if match.group(1) not in POD_FIELDS:
                raise InspectionInputError("field_selector=%r uses %r, which pods cannot be selected by: expected "
                                           "one of %s" % (field_selector, match.group(1), ", ".join(POD_FIELDS)))


def split_terms(selector):
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return terms


def parse_iptables(args, seen=None):
    """The istio-iptables arguments of an init container, as fields. ``seen``: a dict the caller keeps for one
    inspection, so each distinct argument list is parsed once - the pods of one workload (and usually of a whole
    mesh) share their injector's arguments, so a large cluster has a handful of lists, not one per pod. The fields
    are then shared between pods' reports, which are read, never changed."""
    items = tuple(str(a) for a in args or ())
    if seen is None:
        return _parse_iptables(items)
    fields = seen.get(items)
    if fields is None:
        fields = seen[items] = _parse_iptables(items)
    return fields


def _parse_iptables(items):
    fields = {"outbound_port": None, "inbound_port": None, "proxy_uid": None, "proxy_gid": None, "mode": None}
    for name in LIST_FIELDS:
        fields[name] = []
    fields["run_validation"] = False
    fields["skip_rule_apply"] = False
    index = 0
    while index < len(items):
        arg = items[index]
        name, has_value, inline = arg.partition("=")
        if name in IPTABLES_FLAGS:
            if has_value:
                value = inline
            else:
                value = items[index + 1] if index + 1 < len(items) else ""
                index += 1
            field = IPTABLES_FLAGS[name]
            value = str(value).strip('"').strip("'")
            if field in LIST_FIELDS:
                fields[field] = [v.strip() for v in value.split(",") if v.strip()]
            elif field in INT_FIELDS:
                fields[field] = int(value) if value.isdigit() else value
            else:
                fields[field] = value
        elif name == "--run-validation":
            fields["run_validation"] = True
        elif name == "--skip-rule-apply":
            fields["skip_rule_apply"] = True
        index += 1
    return fields


def _statuses(pod):
    status = pod.get("status") or {}
    return {s.get("name"): s for s in (status.get("containerStatuses") or []) + (
        status.get("initContainerStatuses") or [])}


def _waiting(status):
    state = (status or {}).get("state") or {}
    if "waiting" in state:
        return state["waiting"].get("reason") or "Waiting"
    if "terminated" in state and (status or {}).get("restartCount"):
        return state["terminated"].get("reason") or "Terminated"
    return None


def inspect_pod(pod, namespace_labels=None, injector_present=True, require=("injected",), ztunnels=None,
                iptables_seen=None):
    """One pod's injection facts and violations, in words a person can act on. ``ztunnels``: {node: whether a
    ready ztunnel runs there}, read when ambient is required."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    name, namespace = meta.get("name"), meta.get("namespace")
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    containers = spec.get("containers") or []
    inits = spec.get("initContainers") or []
    proxy = next((c for c in containers if c.get("name") == "istio-proxy"), None)
    mode = "container" if proxy else "none"
    native = next((c for c in inits if c.get("name") == "istio-proxy" and c.get("restartPolicy") == "Always"), None)
    if native is not None:
        proxy, mode = native, "native"
    init = next((c for c in inits if c.get("name") in INIT_NAMES), None)
    statuses = _statuses(pod)
    conditions = (pod.get("status") or {}).get("conditions") or []
    ready_condition = next((c for c in conditions if c.get("type") == "Ready"), {})
    ready = ready_condition.get("status") == "True"
    proxy_status = statuses.get("istio-proxy") if proxy else None
    restarts = sum((s or {}).get("restartCount", 0) for s in statuses.values())
    info = {
        "name": name, "namespace": namespace, "phase": (pod.get("status") or {}).get("phase"),
        "injected": proxy is not None, "sidecar_mode": mode,
        "proxy_image": proxy.get("image") if proxy else None,
        "proxy_version": image_tag(proxy.get("image")) if proxy else None,
        # the control-plane revision whose injector made the proxy (the injector's istio.io/rev annotation)
        "revision": (annotations.get("istio.io/rev") or "default") if proxy else None,
        "proxy_role": _proxy_role(proxy),
        "proxy_ready": bool((proxy_status or {}).get("ready")) if proxy else None,
        "proxy_restarts": (proxy_status or {}).get("restartCount", 0) if proxy else None,
        "init": None,
        "istio_labels": dict((key, labels.get(key)) for key in ISTIO_LABELS),
        "ready": ready, "restarts": restarts,
        "containers": [c.get("name") for c in containers],
        "init_containers": [c.get("name") for c in inits],
        "ambient": _ambient_facts(pod, namespace_labels, ztunnels),
        "violations": [],
    }
    info["in_mesh"] = info["injected"] or info["ambient"]["redirection"] == "enabled"
    if init is not None:
        info["init"] = {"name": init.get("name"), "image": init.get("image"),
                        "iptables": parse_iptables(init.get("args") or init.get("command"), iptables_seen)}
    who = "pod %s in %s" % (name, namespace)
    violations = info["violations"]
    if "injected" in require and proxy is None:
        violations.append("%s has no istio-proxy: %s" % (who, _why_not_injected(
            labels, annotations, namespace, namespace_labels, injector_present)))
    judge_details = proxy is not None or "injected" not in require
    if "labels" in require and judge_details:
        missing = [key for key in ISTIO_LABELS if not labels.get(key)]
        if missing:
            violations.append("%s lacks the Istio label%s %s: the injector sets them, so the pod was not injected "
                              "by Istio's webhook" % (who, "s" if len(missing) > 1 else "", ", ".join(missing)))
    if "init" in require and judge_details and init is None:
        violations.append("%s has no istio-init init container (nor istio-validation, with Istio CNI): its traffic "
                          "is not redirected through the proxy" % who)
    # a gateway or a waypoint is in the mesh through its own proxy, and Istio's templates opt it out of ztunnel
    if "ambient" in require and info["proxy_role"] not in ("router", "waypoint"):
        why = _why_not_ambient(info["ambient"], proxy is not None, namespace, namespace_labels)
        if why:
            violations.append("%s is not in the ambient mesh: %s" % (who, why))
    if "ready" in require and not ready:
        violations.append("%s is not ready: %s" % (who, _why_not_ready(pod, proxy_status, ready_condition)))
    return info


def _proxy_role(proxy):
    """How the pod's istio-proxy runs - sidecar, router (a gateway) or waypoint: the argument after ``proxy`` in
    its args, as Istio's injection and gateway templates write them; None without a proxy."""
    if proxy is None:
        return None
    args = [str(a) for a in proxy.get("args") or []]
    if "proxy" in args and args.index("proxy") + 1 < len(args):
        return args[args.index("proxy") + 1]
    return "sidecar"


def _why_not_injected(labels, annotations, namespace, namespace_labels, injector_present):
    flag = str(labels.get(INJECT_FLAG) or annotations.get(INJECT_FLAG) or "").lower()
    if flag == "false":
        return "injection is turned off on the pod by %s=false" % INJECT_FLAG
    if namespace_labels is None:
        return "the labels of namespace %s could not be read" % namespace
    if namespace_labels.get("istio-injection") == "disabled":
        return "namespace %s is labelled istio-injection=disabled" % namespace
    enabled = namespace_labels.get("istio-injection") == "enabled" or namespace_labels.get("istio.io/rev")
    if not enabled:
        return ("namespace label istio-injection is missing (kubectl label namespace %s istio-injection=enabled, "
                "then restart the pod)" % namespace)
    if not injector_present:
        return ("namespace %s asks for injection but no Istio sidecar injector webhook is installed - is Istio "
                "installed?" % namespace)
    return ("namespace %s asks for injection, but the pod was not injected: it was probably created before istiod "
            "was running - restart it (kubectl rollout restart)" % namespace)


def pod_ready(pod):
    """Whether the pod's Ready condition is True."""
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def ztunnel_nodes(pods):
    """{node: whether a ready ztunnel runs there} from the ztunnel DaemonSet's pods."""
    nodes = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        nodes[node] = nodes.get(node, False) or pod_ready(pod)
    return nodes


def _ambient_facts(pod, namespace_labels, ztunnels):
    """What ambient mode shows on a pod: the label that enrols it (the pod's own, else its namespace's), the node
    agent's redirection annotation, its node and whether that node's ztunnel is ready (None when not read)."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    node = (pod.get("spec") or {}).get("nodeName")
    mode = labels.get(DATAPLANE_MODE) or (namespace_labels or {}).get(DATAPLANE_MODE)
    return {"mode": mode, "mode_from": "pod" if labels.get(DATAPLANE_MODE) else ("namespace" if mode else None),
            "redirection": (meta.get("annotations") or {}).get(REDIRECTION), "node": node,
            "ztunnel_ready": None if ztunnels is None else bool(ztunnels.get(node))}


def _why_not_ambient(facts, has_sidecar, namespace, namespace_labels):
    if facts["mode"] == "none" and facts["mode_from"] == "pod":
        return "it opts out with the label %s=none" % DATAPLANE_MODE
    if has_sidecar:
        return ("it runs an istio-proxy sidecar, and ambient leaves pods with a sidecar to it (take the sidecar "
                "injection label off its namespace, then restart it)")
    if namespace_labels is None and facts["mode_from"] is None:
        return "the labels of namespace %s could not be read" % namespace
    if facts["mode"] != "ambient":
        return ("namespace label %s=ambient is missing (kubectl label namespace %s %s=ambient; ambient takes running "
                "pods without a restart)" % (DATAPLANE_MODE, namespace, DATAPLANE_MODE))
    if facts["ztunnel_ready"] is False:
        return ("no ready ztunnel on its node %s: ambient traffic goes through the node's ztunnel (kubectl -n "
                "istio-system get pods -l app=ztunnel -o wide)" % facts["node"])
    if facts["redirection"] == "pending":
        return ("the Istio CNI node agent redirected it but the ztunnel on node %s has not taken it yet (%s=pending)"
                % (facts["node"], REDIRECTION))
    if facts["redirection"] != "enabled":
        return ("the Istio CNI node agent has not enrolled it (no %s annotation): is istio-cni-node running on node "
                "%s, and was Istio installed with the ambient profile?" % (REDIRECTION, facts["node"]))
    return None


def _why_not_ready(pod, proxy_status, condition):
    reason = _waiting(proxy_status)
    if reason:
        return "container istio-proxy is %s (%d restarts)" % (reason, proxy_status.get("restartCount", 0))
    for name, status in sorted(_statuses(pod).items()):
        waiting = _waiting(status)
        if waiting:
            return "container %s is %s (%d restarts)" % (name, waiting, status.get("restartCount", 0))
    phase = (pod.get("status") or {}).get("phase") or "Unknown"
    if condition:
        detail = condition.get("message") or condition.get("reason") or "Ready is %s" % condition.get("status")
        return "phase %s, %s" % (phase, detail)
    return "phase %s, no Ready condition yet" % phase


def summarize(pods, missing_namespaces=()):
    violations = [v for p in pods for v in p["violations"]]
    violations += ["namespace %s does not exist" % ns for ns in missing_namespaces]
    return {
        "total": len(pods),
        "injected": sum(1 for p in pods if p["injected"]),
        "ambient": sum(1 for p in pods if p["ambient"]["redirection"] == "enabled"),
        "in_mesh": sum(1 for p in pods if p["in_mesh"]),
        "ready": sum(1 for p in pods if p["ready"]),
        "violating_pods": sum(1 for p in pods if p["violations"]),
        "violations": len(violations),
    }, violations


# ---------------------------------------------------------------- the sidecar_info module's reads
# one LIST of pods per namespace, whatever the number of pods, plus one LIST of namespaces and one of webhooks

INJECTOR_PREFIX = "istio-sidecar-injector"


def _items(client, resource, **params):
    return read_json(client, resource, **params).get("items") or []


def inspect_cluster(module):
    """The sidecar_info module's result: inspect() with the module's options."""
    return inspect(module, module.params)


def inspect(module, params):
    """The result of judging the pods ``params`` select (sidecar_info's options) through ``module``'s connection;
    raises InspectionInputError or K8sConnectionError, or MeshError with the result when pods violate the
    requirements and fail_on_violation is set. The manifest module proves what it applied with it too."""
    namespaces = list(dict.fromkeys(params["namespace"] or []))
    validate_inputs(namespaces, params.get("label_selector"), params.get("field_selector"))
    require = params["require"] or ["injected"]
    if "ambient" in require and set(require) & set(("injected", "labels", "init")):
        raise InspectionInputError(
            "require=%s is invalid: ambient (a pod in the mesh through its node's ztunnel) excludes injected, labels "
            "and init (a sidecar's properties); expected [ambient] or [ambient, ready] for an ambient data plane"
            % (require,))
    client = connect(module)
    selectors = {}
    if params.get("label_selector"):
        selectors["label_selector"] = params["label_selector"]
    if params.get("field_selector"):
        selectors["field_selector"] = params["field_selector"]
    try:
        pods_api = client.resource("Pod", "v1")
        ns_labels = dict((n["metadata"]["name"], n["metadata"].get("labels") or {})
                         for n in _items(client, client.resource("Namespace", "v1")))
        hooks = _items(client, client.resource("MutatingWebhookConfiguration", "admissionregistration.k8s.io/v1"))
        injector = any(h["metadata"]["name"].startswith(INJECTOR_PREFIX) for h in hooks)
        ztunnels = None
        if "ambient" in require:
            # one LIST of ztunnel pods, wherever the install put them (istio-system, or kube-system on GKE)
            ztunnels = ztunnel_nodes(_items(client, pods_api, label_selector=ZTUNNEL_SELECTOR))
        missing = [ns for ns in namespaces if ns not in ns_labels]
        pods = []
        if namespaces:
            for ns in namespaces:
                if ns not in missing:
                    pods.extend(_items(client, pods_api, namespace=ns, **selectors))
        else:
            pods = _items(client, pods_api, **selectors)
    except K8sConnectionError:
        raise
    except Exception as exc:  # the API's own error (403, 401, unreachable) in its words
        raise K8sConnectionError("cannot list pods: %s" % getattr(exc, "summary", lambda: exc)())
    seen = {}
    reports = [inspect_pod(p, ns_labels.get(p["metadata"].get("namespace")), injector, require, ztunnels, seen)
               for p in sorted(pods, key=lambda p: (p["metadata"].get("namespace"), p["metadata"]["name"]))]
    summary, violations = summarize(reports, missing)
    if params.get("pods_reported") == "violating":
        reports = [r for r in reports if r["violations"]]
    result = {"changed": False, "pods": reports, "summary": summary, "violations": violations,
              "missing_namespaces": missing, "injector_present": injector}
    if violations and params["fail_on_violation"]:
        raise MeshError("%d of %d pods violate the mesh requirements (%s): %s" % (
            summary["violating_pods"], summary["total"], ", ".join(require), "; ".join(violations)), **result)
    return result
