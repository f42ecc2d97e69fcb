"""Istio's Kubernetes Gateway API controller, as istiod runs it, and the routing of HTTPRoutes.

What real istiod (istio/istio 1.30) does, read from its sources and the golden of ``istioctl manifest generate``
(../shared/upstream/istio/1.30.3/manifest-generate/all_on.golden-show-in-gh-pull-request.yaml, the kube-gateway
injection template):

- GatewayClasses (pilot/pkg/config/kube/gatewaycommon/classinfo.go, gatewayclass.go): once the Gateway API CRDs
  exist istiod creates the built-in classes it lacks: ``istio`` (controller ``istio.io/gateway-controller``,
  "The default Istio GatewayClass"), ``istio-remote`` (``istio.io/unmanaged-gateway``) and, with ambient enabled
  (PILOT_ENABLE_AMBIENT), ``istio-waypoint`` (``istio.io/mesh-controller``); each Accepted "Handled by Istio
  controller".
- A Gateway of a managed class (deploymentcontroller.go, the kube-gateway template) gets a ServiceAccount, a
  Deployment and a Service named ``NAME-CLASS`` (``gateway.istio.io/name-override`` overrides it; the waypoint
  class has no suffix), owned by the Gateway, labelled ``gateway.networking.k8s.io/gateway-name`` and
  ``gateway.networking.k8s.io/gateway-class-name`` (the Deployment also ``gateway.istio.io/managed``), with the
  Gateway's ``spec.infrastructure`` labels and annotations; the Service is of type LoadBalancer for ``istio``
  (ClusterIP for waypoints; annotation ``networking.istio.io/service-type`` overrides), its ports
  ``status-port`` 15021 and one per listener port named after the listener.
- Customisation (deploymentcontroller.go ``applyOverlay``, Istio 1.26 and later): a ConfigMap in istiod's namespace
  labelled ``gateway.istio.io/defaults-for-class: CLASS`` (the oldest), then the one the Gateway names in
  ``spec.infrastructure.parametersRef`` (group "" kind ConfigMap, in the Gateway's namespace), each patch the
  generated objects with the YAML under their keys ``deployment``, ``service``, ``serviceAccount`` as a strategic
  merge patch. A parametersRef of another kind, or to a ConfigMap that does not exist, deploys nothing (the
  controller returns "parametersRef targeting configmap ..., but configmap does not exist" and retries).
- The Gateway's status (conversion.go reportGatewayStatus, gatewaycommon/context.go ResolveGatewayInstances):
  Accepted "Resource accepted"; Programmed False with reason AddressNotAssigned until the Service has endpoints
  and, for a LoadBalancer, an external address; then Programmed True "Resource programmed, assigned to service(s)
  HOST:PORT" and the load balancer's address (type Hostname, or IPAddress) in ``status.addresses``. Each listener
  reports attachedRoutes and Accepted/Programmed/ResolvedRefs True, Conflicted False, "No errors found".
- An HTTPRoute's status names each parent Gateway with ``controllerName`` and Accepted "Route was valid",
  ResolvedRefs "All references resolved" (False, BackendNotFound, "backend(HOST) not found" when a Service is
  missing) (conditions.go)."""

import copy
import re

from . import yamlio as yaml

from . import meshconfig
from .api import now
from .patch import strategic_merge

GROUP = "gateway.networking.k8s.io"
MANAGED = "istio.io/gateway-controller"
WAYPOINT = "istio.io/mesh-controller"
UNMANAGED = "istio.io/unmanaged-gateway"
NAME_LABEL = GROUP + "/gateway-name"
CLASS_LABEL = GROUP + "/gateway-class-name"
OMITTED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "gateway.istio.io/name-override",
                       "gateway.istio.io/service-account", "gateway.istio.io/controller-version")
DEFAULTS_FOR_CLASS = "gateway.istio.io/defaults-for-class"
OVERLAY_KEYS = {"Deployment": "deployment", "Service": "service", "ServiceAccount": "serviceAccount"}
ROUTE_KINDS = [{"group": GROUP, "kind": "HTTPRoute"}, {"group": GROUP, "kind": "GRPCRoute"}]


def _ready(pod):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _condition(kind, reason, message, generation, status="True"):
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "observedGeneration": generation, "lastTransitionTime": now()}


def _keep_times(old, new):
    """Conditions whose status did not change keep their lastTransitionTime (kstatus.UpdateConditionIfChanged)."""
    before = dict((c.get("type"), c) for c in old or [])
    for cond in new:
        prev = before.get(cond["type"])
        if prev is not None and prev.get("status") == cond["status"]:
            cond["lastTransitionTime"] = prev.get("lastTransitionTime", cond["lastTransitionTime"])
    return new


class GatewayController(object):
    """istiod's Gateway API controllers: classes, gateway deployments, statuses."""

    def __init__(self, api, kind):
        self.api = api
        self.kind = kind
        self.applied = {}  # (kind, namespace, name) -> the spec fields last applied

    # ------------------------------------------------------------ what istiod sees

    def istiod(self):
        """The running istiod Deployment (any revision), or None: without it nothing here happens."""
        deployments = self.kind("apps", "v1", "deployments")
        if deployments is None:
            return None
        for dep in self.api.list(deployments, meshconfig.control_plane_namespace(self.api))[0]:
            labels = dep["metadata"].get("labels") or {}
            if labels.get("app") == "istiod" and (dep.get("status") or {}).get("readyReplicas"):
                return dep
        return None

    def _kinds(self):
        return (self.kind(GROUP, "v1", "gatewayclasses"), self.kind(GROUP, "v1", "gateways"),
                self.kind(GROUP, "v1", "httproutes"))

    def _ambient(self, istiod):
        containers = (((istiod.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
        return any(e.get("name") == "PILOT_ENABLE_AMBIENT" and str(e.get("value")).lower() == "true"
                   for c in containers for e in c.get("env") or [])

    # ------------------------------------------------------------ reconcile everything (cheap: a handful of objects)

    def reconcile(self):
        classes, gateways, routes = self._kinds()
        istiod = self.istiod()
        if istiod is None or classes is None or gateways is None:
            return
        self._ensure_classes(classes, istiod)
        controllers = dict((c["metadata"]["name"], (c.get("spec") or {}).get("controllerName"))
                           for c in self.api.list(classes)[0])
        route_items = self.api.list(routes)[0] if routes is not None else []
        for gw in self.api.list(gateways)[0]:
            controller = controllers.get((gw.get("spec") or {}).get("gatewayClassName"))
            if controller in (MANAGED, WAYPOINT) and not gw["metadata"].get("deletionTimestamp"):
                self._deploy(gw, controller, istiod)
                self._gateway_status(gateways, gw, controller, route_items)
        for route in route_items:
            self._route_status(routes, route, gateways, controllers)

    def _ensure_classes(self, classes, istiod):
        wanted = {"istio": (MANAGED, "The default Istio GatewayClass"),
                  "istio-remote": (UNMANAGED, "Remote to this cluster. Does not deploy or affect configuration.")}
        if self._ambient(istiod):
            wanted["istio-waypoint"] = (WAYPOINT, "The default Istio waypoint GatewayClass")
        for name, (controller, description) in sorted(wanted.items()):
            current = self.api.find(classes, None, name)
            if current is None:
                current = self.api.create(classes, None, {
                    "apiVersion": GROUP + "/v1", "kind": "GatewayClass", "metadata": {"name": name},
                    "spec": {"controllerName": controller, "description": description}})
            if (current.get("spec") or {}).get("controllerName") in (MANAGED, WAYPOINT, UNMANAGED):
                gen = current["metadata"].get("generation", 1)
                conditions = _keep_times(((current.get("status") or {}).get("conditions")), [_condition(
                    "Accepted", "Accepted", "Handled by Istio controller", gen)])
                status = dict(current.get("status") or {}, conditions=conditions)
                if status != current.get("status"):
                    self.api.replace(classes, None, name, dict(current, status=status), subresource="status")

    # ------------------------------------------------------------ the gateway's Deployment and Service

    @staticmethod
    def deployment_name(gw, controller):
        override = (gw["metadata"].get("annotations") or {}).get("gateway.istio.io/name-override")
        if override:
            return override
        if controller == WAYPOINT:
            return gw["metadata"]["name"]
        return "%s-%s" % (gw["metadata"]["name"], gw["spec"]["gatewayClassName"])

    def _deploy(self, gw, controller, istiod):
        meta = gw["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        spec = gw.get("spec") or {}
        infra = spec.get("infrastructure") or {}
        dep_name = self.deployment_name(gw, controller)
        annotations = dict((k, v) for k, v in (infra.get("annotations") or {}).items() if k not in OMITTED_ANNOTATIONS)
        infra_labels = dict(infra.get("labels") or {})
        if self._ambient(istiod) and controller == MANAGED and "istio.io/dataplane-mode" not in infra_labels and \
                "istio.io/dataplane-mode" not in (meta.get("labels") or {}):
            # with ambient on, a gateway is kept out of ambient unless labelled (setLabelOverrides)
            infra_labels["istio.io/dataplane-mode"] = "none"
        base_labels = dict(infra_labels, **{NAME_LABEL: name, CLASS_LABEL: spec["gatewayClassName"]})
        owner = [{"apiVersion": GROUP + "/v1", "kind": "Gateway", "name": name, "uid": meta["uid"]}]
        image = _proxy_image(istiod)
        revision = (meta.get("labels") or {}).get("istio.io/rev") or (
            istiod["metadata"].get("labels") or {}).get("istio.io/rev") or "default"
        sa_name = (meta.get("annotations") or {}).get("gateway.istio.io/service-account") or dep_name
        pod_labels = dict({"sidecar.istio.io/inject": "false", "service.istio.io/canonical-name": dep_name,
                           "service.istio.io/canonical-revision": "latest"}, **base_labels)
        # the controller's name as a label value (the template's "istio.io-gateway-controller")
        pod_labels["gateway.istio.io/managed"] = controller.replace("/", "-")
        if controller == WAYPOINT:
            pod_labels["istio.io/dataplane-mode"] = "none"
        args = ["proxy", "router" if controller == MANAGED else "waypoint", "--domain",
                "$(POD_NAMESPACE).svc.cluster.local"]
        service_type = (meta.get("annotations") or {}).get("networking.istio.io/service-type") or (
            "LoadBalancer" if controller == MANAGED else "ClusterIP")
        ports = [{"name": "status-port", "port": 15021, "protocol": "TCP", "appProtocol": "tcp"}]
        seen = set()
        for listener in spec.get("listeners") or []:
            if listener.get("port") in seen:
                continue
            seen.add(listener.get("port"))
            ports.append({"name": str(listener.get("name", "")).replace(".", "-")[:63], "port": listener["port"],
                          "protocol": "TCP", "appProtocol": str(listener.get("protocol", "")).lower()})
        if controller == WAYPOINT and not seen:
            ports.append({"name": "mesh", "port": 15008, "protocol": "TCP", "appProtocol": "all"})
        objects = [
            (self.kind("", "v1", "serviceaccounts"), {
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": sa_name, "namespace": namespace, "annotations": annotations,
                             "labels": base_labels, "ownerReferences": owner}}),
            (self.kind("apps", "v1", "deployments"), {
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": dep_name, "namespace": namespace, "annotations": annotations,
                             "labels": dict(base_labels, **{"gateway.istio.io/managed": pod_labels[
                                 "gateway.istio.io/managed"]}), "ownerReferences": owner},
                "spec": {"selector": {"matchLabels": {NAME_LABEL: name}}, "template": {
                    "metadata": {"annotations": dict(annotations, **{
                        "istio.io/rev": revision, "prometheus.io/path": "/stats/prometheus",
                        "prometheus.io/port": "15020", "prometheus.io/scrape": "true"}), "labels": pod_labels},
                    "spec": {"serviceAccountName": sa_name, "containers": [{
                        "name": "istio-proxy", "image": image, "args": args,
                        "ports": [{"containerPort": 15020, "name": "metrics", "protocol": "TCP"},
                                  {"containerPort": 15021, "name": "status-port", "protocol": "TCP"},
                                  {"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
                        "readinessProbe": {"httpGet": {"path": "/healthz/ready", "port": 15021}}}]}}}}),
            (self.kind("", "v1", "services"), {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": dep_name, "namespace": namespace, "annotations": annotations,
                             "labels": base_labels, "ownerReferences": owner},
                "spec": {"ipFamilyPolicy": "PreferDualStack", "ports": ports, "selector": {NAME_LABEL: name},
                         "type": service_type}}),
        ]
        overlays = self._overlays(gw, spec["gatewayClassName"], istiod)
        if overlays is None:
            return
        for kind, body in objects:
            for overlay in overlays:
                patch = overlay.get(OVERLAY_KEYS[body["kind"]])
                if patch:
                    body = strategic_merge(body, yaml.safe_load(patch) or {})
            current = self.api.find(kind, namespace, body["metadata"]["name"])
            # istiod server-side applies these with force (field manager istio.io/gateway-controller): a spec field
            # it applied before and no longer applies (an overlay taken away) goes; fields others set stay
            key = (body["kind"], namespace, body["metadata"]["name"])
            dropped = self.applied.get(key, set()) - set(body.get("spec") or {})
            self.applied[key] = set(body.get("spec") or {})
            if current is None:
                self.api.create(kind, namespace, body)
                continue
            merged = copy.deepcopy(current)
            for field in dropped:
                merged["spec"].pop(field, None)
            merged["metadata"]["labels"] = dict(current["metadata"].get("labels") or {}, **body["metadata"]["labels"])
            merged["metadata"]["annotations"] = dict(current["metadata"].get("annotations") or {},
                                                     **body["metadata"]["annotations"])
            if "spec" in body:
                for key, value in body["spec"].items():
                    merged["spec"][key] = value
            if merged != current:
                self.api.replace(kind, namespace, body["metadata"]["name"], merged)

    def _overlays(self, gw, class_name, istiod):
        """The ConfigMaps' data that patch a Gateway's objects, class defaults first; None when its parametersRef
        cannot be resolved (nothing is deployed then)."""
        configmaps = self.kind("", "v1", "configmaps")
        found = []
        defaults = [c for c in self.api.list(configmaps, istiod["metadata"]["namespace"])[0]
                    if (c["metadata"].get("labels") or {}).get(DEFAULTS_FOR_CLASS) == class_name]
        if defaults:
            found.append(min(defaults, key=lambda c: (c["metadata"].get("creationTimestamp", ""),
                                                      c["metadata"]["name"]))["data"] or {})
        ref = ((gw.get("spec") or {}).get("infrastructure") or {}).get("parametersRef")
        if ref:
            if ref.get("kind") != "ConfigMap" or ref.get("group", "") != "":
                return None  # "unknown infrastructure parameters type"
            params = self.api.find(configmaps, gw["metadata"]["namespace"], ref.get("name"))
            if params is None:
                return None
            found.append(params.get("data") or {})
        return found

    # ------------------------------------------------------------ statuses

    def _gateway_status(self, gateways, gw, controller, routes):
        meta = gw["metadata"]
        namespace, gen = meta["namespace"], meta.get("generation", 1)
        spec = gw.get("spec") or {}
        svc_name = self.deployment_name(gw, controller)
        host = "%s.%s.svc.cluster.local" % (svc_name, namespace)
        svc = self.api.find(self.kind("", "v1", "services"), namespace, svc_name)
        endpoints = self.api.find(self.kind("", "v1", "endpoints"), namespace, svc_name)
        ready = any(s.get("addresses") for s in (endpoints or {}).get("subsets") or [])
        ports = sorted(set(l.get("port") for l in spec.get("listeners") or []))
        external = [i.get("hostname") or i.get("ip") for i in
                    (((svc or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]
        internal = ["%s:%d" % (host, p) for p in ports] if ready else []
        warnings = []
        if svc is None:
            warnings.append('hostname "%s" not found' % host)
        elif not ready:
            warnings.append('no instances found for hostname "%s"' % host)
        elif (svc.get("spec") or {}).get("type") == "LoadBalancer" and not external:
            warnings.append('address pending for hostname "%s"' % host)
        if not warnings:
            programmed = _condition("Programmed", "Programmed", "Resource programmed, assigned to service(s) %s"
                                    % _human_join(internal), gen)
        elif internal:
            programmed = _condition("Programmed", "AddressNotAssigned", "Assigned to service(s) %s, but failed to "
                                    "assign to all requested addresses: %s" % (_human_join(internal),
                                                                               "; ".join(warnings)), gen, "False")
        else:
            programmed = _condition("Programmed", "AddressNotAssigned", "Failed to assign to any requested "
                                    "addresses: %s" % "; ".join(warnings), gen, "False")
        old = gw.get("status") or {}
        status = {"conditions": _keep_times(old.get("conditions"), [
            _condition("Accepted", "Accepted", "Resource accepted", gen), programmed])}
        addresses = list(external)
        if not addresses and controller == WAYPOINT and ready:
            addresses = [host]
        if addresses:
            status["addresses"] = [{"type": "IPAddress" if re.match(r"^[0-9.:]+$", a) else "Hostname", "value": a}
                                   for a in addresses]
        elif old.get("addresses"):
            status["addresses"] = old["addresses"]  # once reported, an address is never taken back
        listeners = []
        old_listeners = dict((l.get("name"), l) for l in old.get("listeners") or [])
        for listener in spec.get("listeners") or []:
            attached = sum(1 for route in routes for ref in (route.get("spec") or {}).get("parentRefs") or []
                           if refers_to(ref, route, gw, listener))
            conditions = [_condition(t, r, "No errors found", gen, s) for t, r, s in (
                ("Accepted", "Accepted", "True"), ("NoConflicts", "NoConflicts", "False"),
                ("Programmed", "Programmed", "True"), ("ResolvedRefs", "ResolvedRefs", "True"))]
            conditions[1]["type"] = "Conflicted"
            listeners.append({"name": listener.get("name"), "attachedRoutes": attached,
                              "supportedKinds": copy.deepcopy(ROUTE_KINDS),
                              "conditions": _keep_times((old_listeners.get(listener.get("name")) or {}).get(
                                  "conditions"), conditions)})
        if listeners:
            status["listeners"] = listeners
        if status != old:
            self.api.replace(gateways, namespace, meta["name"], dict(gw, status=status), subresource="status")

    def _route_status(self, routes, route, gateways, controllers):
        meta = route["metadata"]
        gen = meta.get("generation", 1)
        parents = []
        missing = self.missing_backends(route)
        for ref in (route.get("spec") or {}).get("parentRefs") or []:
            if ref.get("kind", "Gateway") != "Gateway" or ref.get("group", GROUP) != GROUP:
                continue
            gw = self.api.find(gateways, ref.get("namespace") or meta["namespace"], ref.get("name"))
            if gw is None or controllers.get((gw.get("spec") or {}).get("gatewayClassName")) != MANAGED:
                continue
            resolved = _condition("ResolvedRefs", "ResolvedRefs", "All references resolved", gen)
            if missing:
                resolved = _condition("ResolvedRefs", "BackendNotFound", "; ".join(
                    "backend(%s) not found" % h for h in missing), gen, "False")
            accepted = _condition("Accepted", "Accepted", "Route was valid", gen)
            if not any(refers_to(ref, route, gw, l) for l in (gw.get("spec") or {}).get("listeners") or []):
                accepted = _condition("Accepted", "NotAllowedByListeners", "No matching listeners", gen, "False")
            parent_ref = dict({"group": GROUP, "kind": "Gateway"}, **ref)
            old = next((p for p in (route.get("status") or {}).get("parents") or []
                        if p.get("parentRef") == parent_ref), {})
            parents.append({"parentRef": parent_ref, "controllerName": MANAGED,
                            "conditions": _keep_times(old.get("conditions"), [accepted, resolved])})
        status = {"parents": parents}
        if status != (route.get("status") or {}):
            self.api.replace(routes, meta["namespace"], meta["name"], dict(route, status=status),
                             subresource="status")

    def missing_backends(self, route):
        services = self.kind("", "v1", "services")
        missing = []
        for rule in (route.get("spec") or {}).get("rules") or []:
            for backend in rule.get("backendRefs") or []:
                if backend.get("kind", "Service") != "Service" or backend.get("group", "") != "":
                    continue
                namespace = backend.get("namespace") or route["metadata"]["namespace"]
                if self.api.find(services, namespace, backend.get("name")) is None:
                    missing.append("%s.%s.svc.cluster.local" % (backend.get("name"), namespace))
        return missing


def _human_join(items):
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _proxy_image(istiod):
    """The proxy image of istiod's release: the pilot image's hub and tag (values.global.proxy.image proxyv2)."""
    containers = (((istiod.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or [{}]
    image = containers[0].get("image", "docker.io/istio/pilot:latest")
    repo, dummy, tag = image.rpartition(":")
    return "%s/proxyv2:%s" % (repo.rpartition("/")[0], tag)


def refers_to(ref, route, gw, listener):
    """Whether ``ref`` (a parentRef of ``route``) attaches the route to ``listener`` of ``gw``: same Gateway, the
    sectionName and port when given, and the listener's allowedRoutes (default: routes of the Gateway's own
    namespace) (gateway-api: ParentReference, AllowedRoutes)."""
    if ref.get("kind", "Gateway") != "Gateway" or ref.get("group", GROUP) != GROUP:
        return False
    if ref.get("name") != gw["metadata"]["name"] or (
            ref.get("namespace") or route["metadata"]["namespace"]) != gw["metadata"]["namespace"]:
        return False
    if ref.get("sectionName") and ref["sectionName"] != listener.get("name"):
        return False
    if ref.get("port") and ref["port"] != listener.get("port"):
        return False
    if str(listener.get("protocol", "HTTP")).upper() not in ("HTTP", "HTTPS"):
        return False
    allowed = ((listener.get("allowedRoutes") or {}).get("namespaces") or {}).get("from", "Same")
    if allowed == "Same" and route["metadata"]["namespace"] != gw["metadata"]["namespace"]:
        return False
    return allowed in ("Same", "All")  # Selector: not used by the collection; treated as not allowed


# ------------------------------------------------------------ routing (for sandbox/dataplane.py)

def _path_matches(match_path, path):
    """PathPrefix matches whole path elements ("/v1" matches /v1, /v1/ and /v1/x, not /v10); Exact the whole
    path; RegularExpression the whole path (gateway-api HTTPPathMatch)."""
    kind = match_path.get("type", "PathPrefix")
    value = match_path.get("value", "/")
    plain = path.split("?")[0]
    if kind == "Exact":
        return plain == value
    if kind == "RegularExpression":
        return re.fullmatch(value, plain) is not None
    prefix = value.rstrip("/")
    return prefix == "" or plain == prefix or plain.startswith(prefix + "/")


def _headers_match(match, headers):
    lower = dict((k.lower(), v) for k, v in headers.items())
    for header in match.get("headers") or []:
        value = lower.get(str(header.get("name", "")).lower())
        if header.get("type", "Exact") == "Exact" and value != header.get("value"):
            return False
        if header.get("type") == "RegularExpression" and (value is None or not re.fullmatch(header["value"], value)):
            return False
    return True


def _host_allowed(hostnames, host):
    if not hostnames:
        return True
    for name in hostnames:
        if name == host or (name.startswith("*.") and host.endswith(name[1:])):
            return True
    return False


def best_rule(gw, listener_port, routes, method, path, headers):
    """The (route, rule, match) that takes a request on ``listener_port`` of ``gw``, by the Gateway API's
    precedence (HTTPRouteRule): an Exact path first, then the longest path, then a method match, then the most
    header matches, then the oldest route, then the route's namespace/name; None when nothing matches."""
    host = (headers.get("Host") or headers.get("host") or "").split(":")[0]
    listeners = [l for l in (gw.get("spec") or {}).get("listeners") or [] if l.get("port") == listener_port
                 and (not l.get("hostname") or _host_allowed([l["hostname"]], host))]
    candidates = []
    for route in routes:
        if not any(refers_to(ref, route, gw, l) for ref in (route.get("spec") or {}).get("parentRefs") or []
                   for l in listeners):
            continue
        if not _host_allowed((route.get("spec") or {}).get("hostnames"), host):
            continue
        for rule in (route.get("spec") or {}).get("rules") or []:
            for match in rule.get("matches") or [{"path": {"type": "PathPrefix", "value": "/"}}]:
                match_path = match.get("path") or {"type": "PathPrefix", "value": "/"}
                if not _path_matches(match_path, path):
                    continue
                if match.get("method") and match["method"] != method:
                    continue
                if not _headers_match(match, headers):
                    continue
                key = (0 if match_path.get("type") == "Exact" else 1, -len(match_path.get("value", "/")),
                       0 if match.get("method") else 1, -len(match.get("headers") or []),
                       route["metadata"].get("creationTimestamp") or "",
                       "%s/%s" % (route["metadata"]["namespace"], route["metadata"]["name"]))
                candidates.append((key, route, rule, match))
    if not candidates:
        return None
    candidates.sort(key=lambda c: c[0])
    return candidates[0][1:]


def rewritten_path(rule, match, path):
    """The path sent upstream: the URLRewrite filter's ReplacePrefixMatch or ReplaceFullPath, else unchanged."""
    for entry in rule.get("filters") or []:
        if entry.get("type") != "URLRewrite":
            continue
        rewrite = (entry.get("urlRewrite") or {}).get("path") or {}
        query = ("?" + path.split("?", 1)[1]) if "?" in path else ""
        plain = path.split("?")[0]
        if rewrite.get("type") == "ReplaceFullPath":
            return rewrite.get("replaceFullPath", "/") + query
        if rewrite.get("type") == "ReplacePrefixMatch":
            prefix = ((match.get("path") or {}).get("value") or "/").rstrip("/")
            rest = plain[len(prefix):]
            replacement = rewrite.get("replacePrefixMatch", "/")
            joined = replacement.rstrip("/") + rest if rest else replacement
            return (joined or "/") + query
    return path


# ------------------------------------------------------------ older Gateway API bundles
# The CRD bundle a release of the Gateway API publishes, derived from the one ../shared/upstream holds (v1.5.1, the
# bundle Istio 1.30.3 is built on) by what the older bundle lacks, read from the bundle Istio 1.28.10 / 1.29.6 are
# built on and test with (go.mod sigs.k8s.io/gateway-api v1.4.1; tests/integration/pilot/testdata/
# gateway-api-crd.yaml at 1.29.6): every CRD's bundle-version annotation is v1.4.1; ReferenceGrant serves v1beta1
# only (v1 came with v1.5); TLSRoute serves v1alpha2 and v1alpha3 (v1 came with v1.5); ListenerSet and XMesh are not
# there, nor the safe-upgrades ValidatingAdmissionPolicy. Below v1.2 the Gateway's spec.infrastructure is not in
# the standard channel (Gateway API v1.2.0 release notes: "Infrastructure labels and annotations" GA), so a
# standard-channel API server drops it.
BUNDLE_LACKS = {
    "v1.4.1": {"versions": {"referencegrants": ["v1"], "tlsroutes": ["v1"]},
               "kinds": {"listenersets.gateway.networking.k8s.io", "xmeshes.gateway.networking.x-k8s.io"}},
}


def older_bundle(documents, version):
    """The documents of the v1.5.1 bundle made into ``version``'s (a key of BUNDLE_LACKS, or a release before v1.2
    such as v1.1.0, whose Gateway lacks spec.infrastructure)."""
    lacks = BUNDLE_LACKS.get(version, BUNDLE_LACKS["v1.4.1"])
    out = []
    for doc in copy.deepcopy([d for d in documents if d]):
        if doc.get("kind") != "CustomResourceDefinition":
            continue  # the v1.5 safe-upgrades policy
        name = doc["metadata"]["name"]
        if name in lacks["kinds"]:
            continue
        doc["metadata"].setdefault("annotations", {})["gateway.networking.k8s.io/bundle-version"] = version
        dropped = lacks["versions"].get(name.split(".", 1)[0], [])
        versions = [v for v in doc["spec"]["versions"] if v["name"] not in dropped]
        if not any(v.get("storage") for v in versions):
            versions[0]["storage"] = True
        doc["spec"]["versions"] = versions
        if name.startswith("gateways.") and _before(version, (1, 2)):
            for entry in versions:
                spec = entry["schema"]["openAPIV3Schema"]["properties"]["spec"]
                spec.get("properties", {}).pop("infrastructure", None)
        out.append(doc)
    return out


def _before(version, release):
    return tuple(int(p) for p in version.lstrip("v").split(".")[:2]) < release
