"""A small data plane: what the demo's workloads would answer.

Requests arrive through the API server's service-proxy subresource or on a
loopback listener per LoadBalancer Service port, and are answered the way
the workload behind them would: the hello app names its version and pod,
Istio's ingress gateway routes by the Gateway and VirtualService objects
that exist, NGINX routes by the location/proxy_pass blocks of its mounted
ConfigMap. No container runs; no Envoy runs."""

import http.server
import itertools
import json
import random
import re
import threading

from . import envoy
from . import gatewayapi
from . import meshconfig
from .pushes import PushedConfig
from .ambient import REDIRECTION as AMBIENT_REDIRECTION
from .selection import label_matches, selector_from_match
from .shell import CurlError

MAX_HOPS = 8
NOT_READY = (503, {"Content-Type": "text/plain"}, b"no healthy upstream")
# a sidecar that requires mutual TLS resets a plaintext connection (status 0: no HTTP answer at all)
RESET = (0, {}, b"connection reset by peer")
# what an Envoy (gateway or sidecar) answers when its upstream reset the connection
UPSTREAM_RESET = (503, {"Content-Type": "text/plain", "server": "istio-envoy"},
                  b"upstream connect error or disconnect/reset before headers. reset reason: connection termination")


def _ready(pod):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _status(code, reason, message):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    return code, {"Content-Type": "application/json"}, json.dumps(body).encode()


class DataPlane(object):
    def __init__(self, api, log=None):
        self.api = api
        self.log = log
        self.counter = itertools.count()
        # Envoy picks one of a route's weighted clusters per request from a random number (envoy
        # route_components.proto, WeightedCluster.random_value_specifier: without it "a random number is generated"),
        # so a 90/10 split is 90/10 only on average - as here
        self.random = random.Random()
        self.lock = threading.Lock()
        self.servers = {}  # (namespace, name, port) -> (server, hostname)
        self.gates = {}  # (namespace, name) -> the cloud's gate for that load balancer, or None
        # what the proxies route by: istiod's last push of the routing kinds (sandbox/pushes.py), not the API's state
        self.config = PushedConfig(api)

    def kind(self, group, version, plural):
        return self.api.registry.find(group, version, plural)

    # ------------------------------------------------------------ entry points

    def proxy(self, kind_name, namespace, name, method, path, headers, body):
        """The API server's .../services/NAME:PORT/proxy/PATH and pods/NAME/proxy."""
        parts = name.split(":")
        if kind_name == "Pod":
            pod = self.api.find(self.kind("", "v1", "pods"), namespace, parts[0])
            if pod is None:
                return _status(404, "NotFound", 'pods "%s" not found' % parts[0])
            port = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
            result = self.workload(pod, port, method, path, headers, body, 0)
            if result[0] == RESET[0]:
                return _status(503, "ServiceUnavailable", "error trying to reach service: read tcp: connection "
                               "reset by peer")
            return result
        if len(parts) == 3:
            parts = parts[1:]
        svc_name, port = parts[0], (parts[1] if len(parts) > 1 else "")
        svc = self.api.find(self.kind("", "v1", "services"), namespace, svc_name)
        if svc is None:
            return _status(404, "NotFound", 'services "%s" not found' % svc_name)
        result = self.service(svc, port, method, path, headers, body, 0)
        if result[0] == RESET[0]:
            # the API server is outside the mesh: a STRICT workload resets its plaintext connection, which the
            # service proxy answers as an error reaching the service (k8s.io/apimachinery/pkg/util/proxy)
            return _status(503, "ServiceUnavailable", "error trying to reach service: read tcp: connection reset by "
                           "peer")
        if result is NOT_READY:
            return _status(503, "ServiceUnavailable", 'no endpoints available for service "%s"' % svc_name)
        return result

    def service(self, svc, port, method, path, headers, body, hops, only=None, caller=None):
        """Route to one ready endpoint of ``svc`` (round robin); ``only``: labels the endpoint must also carry."""
        ports = (svc.get("spec") or {}).get("ports") or []
        chosen = None
        for candidate in ports:
            if str(candidate.get("port")) == str(port) or (port and candidate.get("name") == port) or (
                    not port and len(ports) == 1):
                chosen = candidate
                break
        if chosen is None:
            return _status(503, "ServiceUnavailable", 'no endpoints available for service "%s"'
                           % svc["metadata"]["name"])
        selector = (svc.get("spec") or {}).get("selector")
        if not selector:
            return NOT_READY
        reqs = selector_from_match({"matchLabels": selector})
        items, dummy = self.api.list(self.kind("", "v1", "pods"), svc["metadata"]["namespace"])
        ready = [p for p in items if label_matches(reqs, p["metadata"].get("labels")) and _ready(p)
                 and all((p["metadata"].get("labels") or {}).get(k) == v for k, v in (only or {}).items())]
        if not ready:
            return NOT_READY
        pod = ready[next(self.counter) % len(ready)]
        target = chosen.get("targetPort", chosen.get("port"))
        if not isinstance(target, int):
            target = next((p.get("containerPort") for c in pod["spec"].get("containers") or []
                           for p in c.get("ports") or [] if p.get("name") == target), chosen.get("port"))
        return self.workload(pod, target, method, path, headers, body, hops, caller=caller)

    def by_host(self, host, namespace, port, method, path, headers, body, hops, subset=None, caller=None):
        """In-cluster DNS: name, name.ns, name.ns.svc, name.ns.svc.cluster.local; with ``subset``, only the
        endpoints whose labels match the subset's (Istio builds one cluster per subset: outbound|PORT|SUBSET|HOST).
        A subset no DestinationRule defines has no cluster: Envoy answers 503 with no body (response flag NC,
        istio.io/latest/docs/ops/common-problems/network-issues/: 503s while a subset is not yet defined)."""
        svc = self._resolve(host, namespace)
        if svc is None:
            return 502, {"Content-Type": "text/plain"}, b"upstream host not found: " + host.encode()
        only = None
        if subset:
            only = self.subset_selector(svc, subset, namespace)
            if only is None:
                return 503, {"Content-Type": "text/plain"}, b""
        return self.service(svc, port or 80, method, path, headers, body, hops + 1, only=only, caller=caller)

    def _resolve(self, host, namespace):
        """The Service a cluster DNS name names, as a pod in ``namespace`` resolves it (kubernetes.io/docs/concepts/
        services-networking/dns-pod-service/: NAME, NAME.NS, NAME.NS.svc, NAME.NS.svc.cluster.local); None for a
        name that is no Service."""
        pieces = host.rstrip(".").split(".")
        if len(pieces) > 2 and (pieces[2] != "svc" or (len(pieces) > 3 and ".".join(pieces[3:]) != "cluster.local")):
            return None
        ns = pieces[1] if len(pieces) > 1 else namespace
        return self.api.find(self.kind("", "v1", "services"), ns, pieces[0])

    def forwarded(self, namespace, name, port, path):
        """What a port-forward to ``port`` of a pod reaches (as ``kubectl port-forward`` or istioctl's proxy-config
        open it): Envoy's admin interface on 15000 of a proxy - only /config_dump, of the route configuration
        (sandbox/envoy.py). Envoy binds its admin port to localhost, which a port-forward reaches and the API server's
        pod proxy does not. Returns (status, body as JSON)."""
        pod = self.api.find(self.kind("", "v1", "pods"), namespace, name)
        if pod is None:
            return 404, {"message": 'pods "%s" not found' % name}
        if port != 15000 or not (_meshed(pod) or _is_gateway(pod)) or not _ready(pod):
            return 502, {"message": "error forwarding port %d to pod %s: connection refused" % (port, name)}
        if path.split("?")[0].strip("/") != "config_dump":
            return 404, {"message": "invalid path: /%s" % path}
        if _is_gateway(pod):
            return 200, envoy.config_dump(self, pod)
        return 200, {"configs": [{"@type": envoy.DUMP_TYPE, "dynamic_route_configs": []}]}

    # ------------------------------------------------------------ workloads

    def workload(self, pod, port, method, path, headers, body, hops, caller=None):
        """What ``pod`` answers on ``port``; ``caller`` is the pod the request comes from (None: from outside the
        mesh, such as the API server's service proxy)."""
        if hops > MAX_HOPS:
            return 508, {"Content-Type": "text/plain"}, b"loop detected"
        if not _ready(pod):
            return NOT_READY
        containers = (pod.get("spec") or {}).get("containers") or []
        labels = pod["metadata"].get("labels") or {}
        images = " ".join(c.get("image", "") for c in containers)
        if labels.get("istio") in ("ingressgateway", "egressgateway") or "istio/proxyv2" in images and not any(
                c.get("name") != "istio-proxy" for c in containers):
            return self.gateway(pod, port, method, path, headers, body, hops)
        if self.refuses_plaintext(pod, port, caller):
            return RESET
        app = next((c for c in containers if c.get("name") != "istio-proxy"), containers[0] if containers else {})
        image = app.get("image", "")
        if "nginx" in image:
            return self.nginx(pod, method, path, headers, body, hops)
        if "hello" in image:
            tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else "1.0"
            version = tag if tag.count(".") >= 2 else tag + ".0"
            text = "Hello, world!\nVersion: %s\nHostname: %s\n" % (version, pod["metadata"]["name"])
            return 200, {"Content-Type": "text/plain; charset=utf-8"}, text.encode()
        name = labels.get("app") or pod["metadata"]["name"]
        if path.rstrip("/").endswith(("/-/ready", "/-/healthy", "/healthz", "/ready", "/api/health")):
            return 200, {"Content-Type": "text/plain"}, b"OK"
        return 200, {"Content-Type": "text/html"}, ("<html><title>%s</title><body>%s is running on %s</body></html>"
                                                    % (name, name, pod["metadata"]["name"])).encode()

    # ------------------------------------------------------------ mutual TLS

    def refuses_plaintext(self, pod, port, caller):
        """Whether ``pod``'s proxy resets a request from ``caller``: the pod is in the mesh (a sidecar, or enrolled in
        ambient: the ztunnel of its node enforces the policy) and its PeerAuthentication mode for ``port`` is STRICT,
        and the caller has no proxy to present a mesh certificate (a pod neither injected nor enrolled, or the API
        server). A real mesh tells them apart by the client certificate in the TLS handshake; here the caller's
        injection or enrolment stands for it."""
        if not _in_mesh(pod) or (caller is not None and (_in_mesh(caller) or _is_gateway(caller))):
            return False
        return self.mtls_mode(pod, port) == "STRICT"

    def mtls_mode(self, pod, port):
        """The PeerAuthentication mode that applies to ``pod`` on (container) ``port``, as istio.io/latest/docs/
        reference/config/security/peer_authentication/ orders them: a policy of the pod's namespace whose selector
        matches it (its portLevelMtls for the port first), else the namespace's policy without selector, else the
        root namespace's (meshconfig.root_namespace) without selector, else PERMISSIVE; UNSET inherits from the next one out;
        of two policies at one level the oldest counts."""
        kind = self.kind("security.istio.io", "v1", "peerauthentications") or self.kind(
            "security.istio.io", "v1beta1", "peerauthentications")
        if kind is None:
            return "PERMISSIVE"
        namespace = pod["metadata"]["namespace"]
        labels = pod["metadata"].get("labels") or {}
        own, dummy = self.api.list(kind, namespace)
        root_namespace = meshconfig.root_namespace(self.api)
        root = [] if namespace == root_namespace else self.api.list(kind, root_namespace)[0]

        def oldest(policies):
            return sorted(policies, key=lambda p: (p["metadata"].get("creationTimestamp") or "",
                                                   p["metadata"]["name"]))[:1]
        workload = oldest([p for p in own if ((p.get("spec") or {}).get("selector") or {}).get("matchLabels")
                           and all(labels.get(k) == v for k, v in p["spec"]["selector"]["matchLabels"].items())])
        levels = []
        for policy in workload:
            spec = policy.get("spec") or {}
            port_level = (spec.get("portLevelMtls") or {}).get(str(port)) if port is not None else None
            levels.append(((port_level or {}).get("mode") or "UNSET"))
            levels.append(((spec.get("mtls") or {}).get("mode") or "UNSET"))
        for policies in (own, root):
            for policy in oldest([p for p in policies if not (p.get("spec") or {}).get("selector")]):
                levels.append((((policy.get("spec") or {}).get("mtls") or {}).get("mode") or "UNSET"))
        return next((mode for mode in levels if mode != "UNSET"), "PERMISSIVE")

    # ------------------------------------------------------------ a pod's own requests (curl in it)

    def request_from(self, pod, method, url, headers, body, timeout=None):
        """A request one of ``pod``'s containers sends: to a Service by its cluster DNS name, through the pod's
        sidecar when it has one, else in plaintext from the pod. Returns (status, body); raises shell.CurlError as
        curl fails (curl.se/docs/manpage.html, EXIT CODES)."""
        match = re.match(r"^(https?)://([^/:]+)(?::(\d+))?(/.*)?$", url)
        if not match:
            raise CurlError(3, "URL rejected: Malformed input to a URL function")
        scheme, host, port, path = match.groups()
        port = int(port or (443 if scheme == "https" else 80))
        if host in ("localhost", "127.0.0.1"):
            if _meshed(pod) and port == 15020 and (path or "/").startswith("/quitquitquit") and method == "POST":
                return 200, b""  # the pilot-agent's exit endpoint: the kubelet lets the proxy container end
            raise CurlError(7, "Failed to connect to %s port %d after 0 ms: Couldn't connect to server" % (host, port))
        svc = self._resolve(host, pod["metadata"]["namespace"])
        if svc is None:
            raise CurlError(6, "Could not resolve host: %s" % host)
        if not any(str(p.get("port")) == str(port) for p in (svc.get("spec") or {}).get("ports") or []):
            # nothing listens on that port of the Service's address
            raise CurlError(7, "Failed to connect to %s port %d after 0 ms: Couldn't connect to server" % (host, port))
        result = self.service(svc, port, method, path or "/", dict(headers, Host=host), body, 0, caller=pod)
        status, dummy_headers, payload = result
        if status == RESET[0]:
            raise CurlError(56, "Recv failure: Connection reset by peer")
        if result is NOT_READY and not _meshed(pod):
            # no endpoint behind the ClusterIP: kube-proxy rejects the connection (a sidecar answers 503 instead)
            raise CurlError(7, "Failed to connect to %s port %d after 0 ms: Couldn't connect to server" % (host, port))
        return status, payload

    def nginx(self, pod, method, path, headers, body, hops):
        config = self._nginx_config(pod)
        if config is None:
            if path in ("/", "/index.html"):
                return 200, {"Content-Type": "text/html"}, b"<html><head><title>Welcome to nginx!</title></head></html>"
            return 404, {"Content-Type": "text/html"}, b"<html><center><h1>404 Not Found</h1></center></html>"
        best = None
        for prefix, exact, target in config:
            if (exact and path.split("?")[0] == prefix) or (not exact and path.startswith(prefix)):
                if best is None or (exact and not best[1]) or len(prefix) > len(best[0]):
                    best = (prefix, exact, target)
        if best is None or best[2] is None:
            return 404, {"Content-Type": "text/html"}, b"<html><center><h1>404 Not Found</h1></center></html>"
        prefix, dummy, target = best
        match = re.match(r"^https?://([^/:]+)(?::(\d+))?(/.*)?$", target)
        if not match:
            return 502, {"Content-Type": "text/html"}, b"<html><h1>502 Bad Gateway</h1></html>"
        host, port, uri = match.groups()
        upstream_path = path if uri is None else uri + path[len(prefix):]
        status, out_headers, out_body = self.by_host(host, pod["metadata"]["namespace"], int(port or 80), method,
                                                     upstream_path or "/", headers, body, hops, caller=pod)
        if (status == 503 and out_body == NOT_READY[2]) or status == RESET[0]:
            return 502, {"Content-Type": "text/html"}, b"<html><h1>502 Bad Gateway</h1></html>"
        return status, out_headers, out_body

    def _nginx_config(self, pod):
        """[(prefix, exact, proxy_pass target)] from the pod's mounted ConfigMaps."""
        configmaps = self.kind("", "v1", "configmaps")
        texts = []
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            ref = volume.get("configMap")
            if not ref:
                continue
            cm = self.api.find(configmaps, pod["metadata"]["namespace"], ref.get("name"))
            if cm is None:
                continue
            texts.extend(v for k, v in (cm.get("data") or {}).items() if k.endswith(".conf") or "server" in v)
        if not texts:
            return None
        routes = []
        for text in texts:
            for match in re.finditer(r"location\s+(=\s*)?(\S+)\s*\{([^}]*)\}", text):
                exact, prefix, block = match.groups()
                target = re.search(r"proxy_pass\s+([^;\s]+)\s*;", block)
                routes.append((prefix, bool(exact), target.group(1) if target else None))
        return routes

    def gateway(self, pod, port, method, path, headers, body, hops):
        """Envoy in an Istio gateway: Gateway servers -> VirtualService http routes (for a gateway Istio deployed
        for a Gateway API Gateway: its listeners -> HTTPRoutes)."""
        if gatewayapi.NAME_LABEL in (pod["metadata"].get("labels") or {}):
            return self.gateway_api(pod, port, method, path, headers, body, hops)
        gateways_kind = self.kind("networking.istio.io", "v1", "gateways") or self.kind(
            "networking.istio.io", "v1beta1", "gateways") or self.kind("networking.istio.io", "v1alpha3", "gateways")
        vs_kind = self.kind("networking.istio.io", "v1", "virtualservices") or self.kind(
            "networking.istio.io", "v1beta1", "virtualservices") or self.kind(
            "networking.istio.io", "v1alpha3", "virtualservices")
        not_found = (404, {"Content-Type": "text/plain", "server": "istio-envoy"}, b"")
        if gateways_kind is None or vs_kind is None:
            return not_found
        labels = pod["metadata"].get("labels") or {}
        host = (headers.get("Host") or headers.get("host") or "").split(":")[0]
        gateways = self.config.list(gateways_kind)
        bound = []
        for gw in gateways:
            selector = (gw.get("spec") or {}).get("selector") or {}
            if not all(labels.get(k) == v for k, v in selector.items()):
                continue
            for server in (gw.get("spec") or {}).get("servers") or []:
                server_port = (server.get("port") or {}).get("number")
                if port is not None and server_port not in (port, _gateway_service_port(port)):
                    continue
                if envoy.host_matches(server.get("hosts") or [], host):
                    bound.append(gw)
                    break
        if not bound:
            return not_found
        for vs in self.config.list(vs_kind):
            spec = vs.get("spec") or {}
            ns = vs["metadata"]["namespace"]
            refs = set()
            for ref in spec.get("gateways") or []:
                refs.add(ref if "/" in ref else "%s/%s" % (ns, ref))
            if not any("%s/%s" % (g["metadata"]["namespace"], g["metadata"]["name"]) in refs for g in bound):
                continue
            if not envoy.host_matches(spec.get("hosts") or [], host):
                continue
            for route in spec.get("http") or []:
                rewritten = _match_route(route, path, headers)
                if rewritten is None:
                    continue
                dest = self.choose_destination(route.get("route") or [])
                if dest is None:
                    return not_found
                dest_host = dest.get("host", "")
                dest_port = (dest.get("port") or {}).get("number")
                status, out_headers, out_body = self.by_host(dest_host, ns, dest_port, method, rewritten, headers,
                                                             body, hops, subset=dest.get("subset"), caller=pod)
                if status == RESET[0]:
                    return UPSTREAM_RESET
                out_headers = dict(out_headers, server="istio-envoy")
                return status, out_headers, out_body
        return not_found

    def gateway_api(self, pod, port, method, path, headers, body, hops):
        """A gateway of a Gateway API Gateway: the HTTPRoute rule the Gateway API's precedence picks
        (sandbox/gatewayapi.py best_rule), one of its backendRefs by weight (default 1; weight 0 takes nothing);
        no rule: 404; a backend that is missing, or in another namespace without a ReferenceGrant, answers 500 for
        its share of the requests (gateway-api HTTPBackendRef: "requests that would have been sent to that backend
        MUST receive a 500")."""
        not_found = (404, {"Content-Type": "text/plain", "server": "istio-envoy"}, b"")
        invalid = (500, {"Content-Type": "text/plain", "server": "istio-envoy"}, b"")
        gateways_kind = self.kind(gatewayapi.GROUP, "v1", "gateways")
        routes_kind = self.kind(gatewayapi.GROUP, "v1", "httproutes")
        if gateways_kind is None or routes_kind is None:
            return not_found
        namespace = pod["metadata"]["namespace"]
        gw = self.config.find(gateways_kind, namespace, pod["metadata"]["labels"][gatewayapi.NAME_LABEL])
        if gw is None:
            return not_found
        found = gatewayapi.best_rule(gw, port, self.config.list(routes_kind), method, path, headers)
        if found is None:
            return not_found
        route, rule, match = found
        weighted = [(b, int(b.get("weight", 1))) for b in rule.get("backendRefs") or []]
        weighted = [(b, w) for b, w in weighted if w > 0]
        if not weighted:
            return invalid
        with self.lock:
            point = self.random.randrange(sum(w for dummy, w in weighted))
        backend = weighted[-1][0]
        for candidate, weight in weighted:
            if point < weight:
                backend = candidate
                break
            point -= weight
        route_ns = route["metadata"]["namespace"]
        backend_ns = backend.get("namespace") or route_ns
        svc = self.api.find(self.kind("", "v1", "services"), backend_ns, backend.get("name"))
        if svc is None or backend.get("kind", "Service") != "Service" or (
                backend_ns != route_ns and not self._reference_granted(route_ns, backend_ns, backend.get("name"))):
            return invalid
        upstream = gatewayapi.rewritten_path(rule, match, path)
        status, out_headers, out_body = self.service(svc, backend.get("port"), method, upstream, headers, body,
                                                     hops + 1, caller=pod)
        if status == RESET[0]:
            return UPSTREAM_RESET
        return status, dict(out_headers, server="istio-envoy"), out_body

    def _reference_granted(self, from_namespace, to_namespace, service):
        """A ReferenceGrant in ``to_namespace`` lets HTTPRoutes of ``from_namespace`` refer to the Service."""
        kind = self.kind(gatewayapi.GROUP, "v1beta1", "referencegrants") or self.kind(
            gatewayapi.GROUP, "v1", "referencegrants")
        if kind is None:
            return False
        for grant in self.config.list(kind, to_namespace):
            spec = grant.get("spec") or {}
            if any(f.get("group") == gatewayapi.GROUP and f.get("kind") == "HTTPRoute"
                   and f.get("namespace") == from_namespace for f in spec.get("from") or []) and any(
                       t.get("group", "") == "" and t.get("kind") == "Service" and t.get("name") in (None, service)
                       for t in spec.get("to") or []):
                return True
        return False

    def choose_destination(self, destinations):
        """The destination of one request among a route's HTTPRouteDestinations, as istiod and Envoy choose it.

        istiod (pilot/pkg/networking/core/route/route.go, translateRoute): one destination takes all traffic
        whatever its weight; with several, a destination of weight 0 (or none given) is left out and the others
        become Envoy weighted clusters, one picked per request with a probability of its weight over their sum."""
        if len(destinations) == 1:
            return destinations[0].get("destination") or {}
        weighted = [(d.get("destination") or {}, int(d.get("weight") or 0)) for d in destinations]
        weighted = [(d, w) for d, w in weighted if w > 0]
        if not weighted:
            return None
        with self.lock:
            point = self.random.randrange(sum(w for _d, w in weighted))
        for dest, weight in weighted:
            if point < weight:
                return dest
            point -= weight
        return weighted[-1][0]

    def subset_selector(self, svc, subset, from_namespace):
        """The labels of ``subset`` of Service ``svc`` from the DestinationRules that apply, or None when no rule
        defines it. A DestinationRule applies from the Service's namespace, the caller's or the root namespace
        (meshconfig.root_namespace); a short host is read in the rule's own namespace (istio.io/latest/docs/reference/config/
        networking/destination-rule/: "interpreted based on the namespace of the rule")."""
        kind = self.kind("networking.istio.io", "v1", "destinationrules") or self.kind(
            "networking.istio.io", "v1beta1", "destinationrules")
        if kind is None:
            return None
        name, namespace = svc["metadata"]["name"], svc["metadata"]["namespace"]
        wanted = {"%s.%s.svc.cluster.local" % (name, namespace)}
        for candidate in (namespace, from_namespace, meshconfig.root_namespace(self.api)):
            for rule in self.config.list(kind, candidate):
                if envoy.fqdn((rule.get("spec") or {}).get("host", ""), rule["metadata"]["namespace"]) not in wanted:
                    continue
                for entry in (rule.get("spec") or {}).get("subsets") or []:
                    if entry.get("name") == subset:
                        return entry.get("labels") or {}
        return None

    # ------------------------------------------------------------ load balancers

    def ensure_load_balancer(self, svc, gate=None):
        """A listener per port of a LoadBalancer Service; ``gate(client_ip)`` (from sandbox/cloud.py) says
        whether the load balancer lets a client through yet: None, "drop" or "unhealthy"."""
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if not ingress:
            return
        hostname = ingress[0].get("hostname") or ingress[0].get("ip")
        namespace, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        self.gates[(namespace, name)] = gate
        wanted = set(p.get("port") for p in (svc.get("spec") or {}).get("ports") or [])
        with self.lock:
            for key in [k for k in self.servers if k[:2] == (namespace, name) and k[2] not in wanted]:
                server, dummy = self.servers.pop(key)
                server.shutdown()
                server.server_close()
            for port in wanted:
                if (namespace, name, port) not in self.servers:
                    server = _listener(self, namespace, name, port)
                    self.servers[(namespace, name, port)] = (server, hostname)

    def remove_load_balancer(self, namespace, name):
        with self.lock:
            for key in [k for k in self.servers if k[:2] == (namespace, name)]:
                server, dummy = self.servers.pop(key)
                server.shutdown()
                server.server_close()

    def listeners(self):
        with self.lock:
            out = {}
            for (namespace, name, port), (server, hostname) in self.servers.items():
                entry = out.setdefault(hostname, {"namespace": namespace, "service": name, "ports": {}})
                entry["ports"][str(port)] = "127.0.0.1:%d" % server.server_address[1]
            return out

    def stop(self):
        with self.lock:
            for server, dummy in self.servers.values():
                server.shutdown()
                server.server_close()
            self.servers.clear()


def _meshed(pod):
    """Whether the pod runs an Istio sidecar: istio-proxy as a container, or as a native sidecar."""
    spec = pod.get("spec") or {}
    return any(c.get("name") == "istio-proxy" for c in spec.get("containers") or []) or any(
        c.get("name") == "istio-proxy" and c.get("restartPolicy") == "Always" for c in spec.get("initContainers") or [])


def _in_mesh(pod):
    """Whether the pod's traffic goes through the mesh: a sidecar, or ambient redirection to its node's ztunnel (the
    annotation Istio's CNI node agent sets once the ztunnel took the pod: sandbox/ambient.py)."""
    return _meshed(pod) or (pod["metadata"].get("annotations") or {}).get(AMBIENT_REDIRECTION) == "enabled"


def _is_gateway(pod):
    """An Istio gateway: the istio-ingressgateway/egressgateway of an install, or one Istio deployed for a Gateway
    API Gateway (labelled with the Gateway's name)."""
    labels = pod["metadata"].get("labels") or {}
    return labels.get("istio") in ("ingressgateway", "egressgateway") or (
        "gateway.networking.k8s.io/gateway-name" in labels and any(
            c.get("name") == "istio-proxy" for c in (pod.get("spec") or {}).get("containers") or []))


def _gateway_service_port(target_port):
    """Istio's gateway Service maps 80->8080 and 443->8443; Gateway servers name the Service port."""
    return {8080: 80, 8443: 443}.get(target_port, target_port)


def _match_route(route, path, headers):
    """The path to send upstream when ``route`` matches, else None."""
    matches = route.get("match") or [{}]
    for match in matches:
        uri = match.get("uri")
        ok = True
        prefix = None
        if uri:
            plain = path.split("?")[0]
            if "prefix" in uri:
                ok = plain.startswith(uri["prefix"])
                prefix = uri["prefix"]
            elif "exact" in uri:
                ok = plain == uri["exact"]
                prefix = uri["exact"]
            elif "regex" in uri:
                ok = re.fullmatch(uri["regex"], plain) is not None
        for name, rule in (match.get("headers") or {}).items():
            value = headers.get(name) or headers.get(name.title())
            if "exact" in rule and value != rule["exact"]:
                ok = False
        if ok:
            rewrite = (route.get("rewrite") or {}).get("uri")
            if rewrite is not None and prefix is not None:
                rest = path[len(prefix):]
                return (rewrite + rest) if rewrite else ("/" + rest.lstrip("/"))
            return path
    return None


def _listener(plane, namespace, name, port):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "istio-envoy"
        sys_version = ""
        disable_nagle_algorithm = True  # headers and body leave without a 40 ms Nagle wait

        def log_message(self, *args):
            pass

        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            gate = plane.gates.get((namespace, name))
            verdict = gate(self.client_address[0]) if gate is not None else None
            if verdict == "drop":
                # a name that does not resolve yet, or a security group that does not let this client in: the
                # client gets no answer (here the connection is closed rather than left to time out)
                self.close_connection = True
                self.connection.shutdown(2)
                return
            svc = plane.api.find(plane.kind("", "v1", "services"), namespace, name)
            if verdict == "unhealthy":
                # targets not yet healthy: the load balancer answers 503 itself, not the gateway behind it (so not
                # as istio-envoy; AWS's load balancers sign their own answers awselb)
                self.server_version = "awselb/2.0"
                svc = None
            if svc is None:
                status, headers, data = 503, {"Content-Type": "text/plain"}, b"no healthy upstream"
            else:
                status, headers, data = plane.service(svc, port, self.command, self.path, dict(self.headers.items()),
                                                      body, 0)
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() != "server":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            pass

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="lb-%s-%s-%d" % (namespace, name, port)).start()
    return server
