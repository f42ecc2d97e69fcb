"""HTTP front of the emulated Kubernetes API server."""

import base64
import http.server
import json
import random
import re
import os
import socket
import ssl
import threading
import time
import urllib.parse

from . import yamlio as yaml

from . import containers, eksauth, eviction, execstream, protobuf, rbac, reviews
from .api import ApiError, query_bool
from .selection import SelectorError, field_matches, label_matches, parse_field_selector, parse_label_selector
from .tables import table

WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE"}


class Faults(object):
    """Run-time fault knobs (see the sandbox README)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.error_rate = 0.0
        self.error_codes = [429, 500, 503]
        self.drop_rate = 0.0
        self.latency_ms = 0
        self.never_ready = []
        self.istioctl_fail_install = False
        self.precheck_findings = []
        self.unauthorized = False
        # load balancers (sandbox/cloud.py): seconds before a new one answers; seconds before its network
        # interfaces are released after deletion; controllers that never release a Service's finalizer
        self.lb_ready_delay = 0.0
        # ... or connections: a new one's first N connections find it not ready (the first half dropped, the rest
        # answered 503 by the load balancer itself), whatever the time the client takes to come
        self.lb_unready_connections = 0
        self.lb_release_delay = 0.5
        self.stuck_finalizers = False
        # the next N API requests are answered with the first of error_codes, whatever the rates
        self.fail_next = 0
        self.rng = random.Random()

    def update(self, values):
        with self.lock:
            for key, value in values.items():
                if key == "seed":
                    continue
                if not hasattr(self, key) or key in ("lock", "rng"):
                    raise ValueError("unknown fault knob %r" % key)
                setattr(self, key, value)
            if "seed" in values:
                self.rng.seed(values["seed"])

    def as_dict(self):
        with self.lock:
            names = ("error_rate", "error_codes", "drop_rate", "latency_ms", "never_ready",
                     "istioctl_fail_install", "precheck_findings", "unauthorized", "lb_ready_delay",
                     "lb_unready_connections", "lb_release_delay", "stuck_finalizers", "fail_next")
            return {k: getattr(self, k) for k in names}

    def draw(self):
        """None, 'drop' or an HTTP status for this request."""
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return self.error_codes[0]
            if self.drop_rate and self.rng.random() < self.drop_rate:
                return "drop"
            if self.error_rate and self.rng.random() < self.error_rate:
                return self.rng.choice(self.error_codes)
        return None


class RequestLog(object):
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.handle = open(path, "a", buffering=1) if path else None  # pylint: disable=consider-using-with

    def write(self, entry):
        if self.handle is None:
            return
        line = json.dumps(entry, sort_keys=True)
        with self.lock:
            self.handle.write(line + "\n")


def _discovery_group(api, group):
    versions = api.registry.groups().get(group, [])
    entries = [{"groupVersion": "%s/%s" % (group, v), "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]} if entries else None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sandbox-kube-apiserver"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body leave without a 40 ms Nagle wait

    # ------------------------------------------------------------ plumbing

    def log_message(self, *args):
        pass

    def _send_json(self, code, body, headers=None):
        data = json.dumps(body).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        for warning in getattr(self, "warnings", None) or []:
            self.send_header("Warning", '299 - %s' % json.dumps(warning))
        self.status_sent = code
        self._log_request()
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_raw(self, code, data, content_type="text/plain; charset=utf-8", headers=None):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.status_sent = code
        self._log_request()
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _log_request(self):
        """The request's log entry, written before its answer leaves (headers are buffered until end_headers): a
        client that has its answer finds its request in the log."""
        if self.logged or self.is_control:
            return
        self.logged = True
        self.server.sandbox.log.write({
            "time": round(self.started, 6), "verb": self.command, "path": self.url_path, "query": self.query,
            "status": self.status_sent, "ms": round((time.time() - self.started) * 1000, 3),
            "watch": query_bool(self.query.get("watch")),
            "dry_run": self.query.get("dryRun") == "All",
            "user_agent": self.headers.get("User-Agent", ""),
            "refused": self.refused,
            "user": self.user,
            # (the audit log's impersonatedUser: who the request asked to act as)
            "impersonated_user": self.headers.get("Impersonate-User"),
        })

    def _authorize(self, path):
        """RBAC, as the API server's authorizer (sandbox/rbac.py): the caller, or the user it impersonates, must be
        allowed the request's verb on its resource or path; else 403."""
        api = self.server.sandbox.api
        user = rbac.impersonate(api, self.server.sandbox.auth.user_info(self.user), self.headers)
        self.user_info = user
        attrs = rbac.request_attributes(self.command, path, self.query)
        if not reviews.authorize(api, user, attrs)[0]:
            self._body()
            raise rbac.forbidden(user, attrs)

    def _client_certificate(self):
        """The subject of the client certificate the TLS handshake verified against the cluster's CA, or None."""
        if not isinstance(self.connection, ssl.SSLSocket):
            return None
        try:
            return self.connection.getpeercert() or None
        except (ValueError, ssl.SSLError):
            return None

    def _error(self, exc):
        self._send_json(exc.code, exc.status())

    def _body(self):
        """The request's body, read from the connection once (a second call gets the same bytes)."""
        if self.raw_body is None:
            self.raw_body = self._read_body()
        return self.raw_body

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _json_body(self, raw):
        content_type = self.headers.get("Content-Type", "")
        if "protobuf" in content_type:
            return self._protobuf_body(raw)
        if "cbor" in content_type:
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                                                        "accepted media types include: application/json, "
                                                        "application/yaml, application/vnd.kubernetes.protobuf")
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            try:
                return yaml.safe_load(raw)
            except yaml.YAMLError:
                raise ApiError(400, "BadRequest", "the body of the request could not be decoded as JSON")

    def _protobuf_body(self, raw):
        """A protobuf body (sandbox/protobuf.py). Fields the message does not define are dropped by the decoder,
        as Go's is; the request is told so in a Warning, and refused under fieldValidation=Strict
        (kubernetes.io/docs/reference/using-api/api-concepts/#field-validation)."""
        try:
            obj, unknown = protobuf.decode(raw)
        except protobuf.Unavailable as exc:
            raise ApiError(415, "UnsupportedMediaType", str(exc))
        except protobuf.BadBody as exc:
            raise ApiError(400, "BadRequest", "the body of the request could not be decoded: %s" % exc)
        if unknown:
            text = "unknown field in the protobuf body of %s" % ", ".join(unknown)
            if self.query.get("fieldValidation") == "Strict":
                raise ApiError(400, "BadRequest", "strict decoding error: %s" % text)
            if self.query.get("fieldValidation") != "Ignore":
                self.warnings.append(text)
        return obj

    def _dispatch(self):
        self.status_sent = 0
        self.warnings = []
        self.refused = None
        self.user = None  # who the bearer token names: an IAM ARN, eksauth.CREATOR or "static-token"
        self.user_info = None  # whom the request acts as (sandbox/reviews.py user_info), once authorized
        self.logged = False
        self.raw_body = None
        self.started = time.time()
        parsed = urllib.parse.urlsplit(self.path)
        self.query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        path = self.url_path = parsed.path
        sandbox = self.server.sandbox
        fault = None
        is_control = self.is_control = path.startswith("/sandbox/")
        try:
            if not is_control:
                knobs = sandbox.faults
                if knobs.latency_ms:
                    time.sleep(knobs.latency_ms / 1000.0)  # injected latency: a fault knob, not synchronisation
                fault = knobs.draw()
                if fault == "drop":
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if isinstance(fault, int):
                    self._body()
                    reason = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}.get(
                        fault, "InternalError")
                    headers = {"Retry-After": "1"} if fault in (429, 503) else None
                    self._send_json(fault, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                            "status": "Failure", "message": "injected fault",
                                            "reason": reason, "code": fault}, headers)
                    return
                if not knobs.unauthorized and not path.startswith(PUBLIC) and sandbox.auth is not None:
                    self.user, reason = sandbox.auth.identify(self.headers.get("Authorization", ""),
                                                              self._client_certificate())
                    if reason:
                        self._body()
                        self.refused = reason
                        self._send_json(401, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                              "status": "Failure", "message": "Unauthorized",
                                              "reason": "Unauthorized", "code": 401})
                        return
                if knobs.unauthorized and not path.startswith(("/healthz", "/readyz", "/livez")):
                    self._body()
                    self._send_json(401, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                          "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
                    return
            if not is_control and sandbox.auth is not None and not path.startswith(PUBLIC):
                self._authorize(path)
            self._route(path)
        except ApiError as exc:
            self._error(exc)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            if fault != "drop":
                self._log_request()  # a watch (streamed) is logged when it ends
                if self.raw_body is None and not self.close_connection:
                    # a body nobody read (an answer given before it was needed: 404, 405, ...) is still on the
                    # connection: read it, or the next request on this kept-alive connection would start inside it
                    try:
                        self._body()
                    except (OSError, ValueError):
                        self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch

    # ------------------------------------------------------------ routing

    def _route(self, path):
        api = self.server.sandbox.api
        if "/proxy" not in path:
            path = path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        if path in ("/healthz", "/readyz", "/livez"):
            self._send_raw(200, b"ok")
            return
        if path.startswith("/sandbox/"):
            self._control(parts[1:])
            return
        if path == "/version":
            self._send_json(200, {"major": "1", "minor": api.k8s_version.split(".")[1],
                                  "gitVersion": "v%s-eks-sandbox" % api.k8s_version,
                                  "gitCommit": "0" * 40, "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                                  "goVersion": "go1.23", "compiler": "gc", "platform": "linux/amd64"})
            return
        if path == "/openapi/v3":
            self._send_json(200, {"paths": {gv: {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (gv, api.current_rv())}
                                            for gv in _group_versions(api)}})
            return
        if path.startswith("/openapi/v3/"):
            self._send_json(200, _openapi_v3(api, path[len("/openapi/v3/"):]))
            return
        if path == "/api":
            self._send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                  "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                                  "serverAddress": "127.0.0.1"}]})
            return
        if path == "/apis":
            groups = [_discovery_group(api, g) for g in api.registry.groups()]
            self._send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [g for g in groups if g]})
            return
        if parts and parts[0] == "api":
            if len(parts) == 2:
                self._resource_list("", parts[1])
                return
            if len(parts) >= 3:
                self._resource("", parts[1], parts[2:])
                return
        if parts and parts[0] == "apis":
            if len(parts) == 2:
                group = _discovery_group(api, parts[1])
                if group is None:
                    raise ApiError(404, "NotFound", "the server could not find the requested resource")
                self._send_json(200, dict({"kind": "APIGroup", "apiVersion": "v1"}, **group))
                return
            if len(parts) == 3:
                self._resource_list(parts[1], parts[2])
                return
            if len(parts) >= 4:
                self._resource(parts[1], parts[2], parts[3:])
                return
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _pod_log(self, namespace, name):
        """pods/log: the container's log (sandbox/containers.py); ``follow`` streams what it writes next until its
        process ends or the client goes away."""
        sandbox = self.server.sandbox
        runtime = sandbox.controllers.runtime
        pod, container = containers.log_target(sandbox.api, namespace, name, self.query)
        uid = pod["metadata"]["uid"]
        previous = query_bool(self.query.get("previous"))
        entries = runtime.log(uid, container, previous)
        if entries is None:
            raise ApiError(400, "BadRequest", 'previous terminated container "%s" in pod "%s" not found' % (
                container, name))
        first = containers.render(entries, self.query, time.time())
        if previous or not query_bool(self.query.get("follow")):
            self._send_raw(200, first)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.status_sent = 200
        self._log_request()
        self.end_headers()
        self.close_connection = True
        seen = len(entries)
        chunk = first
        try:
            while True:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                running = runtime.wait_for_more(uid, container, seen, 1.0)
                entries = runtime.log(uid, container)
                chunk = "".join(line for dummy, line in entries[seen:]).encode()
                seen = len(entries)
                if not running and not chunk:
                    break
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _resource_list(self, group, version):
        api = self.server.sandbox.api
        kinds = api.registry.in_version(group, version)
        if not kinds:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        resources = []
        for kind in kinds:
            resources.append(kind.resource_entry())
            resources.extend(kind.subresource_entries())
        self._send_json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                              "groupVersion": "%s/%s" % (group, version) if group else version,
                              "resources": resources})

    def _resource(self, group, version, rest):
        api = self.server.sandbox.api
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace = rest[1]
            rest = rest[2:]
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = "/".join(rest[2:]) if len(rest) > 2 else None
        kind = api.kind_for(group, version, plural)
        if not kind.namespaced and namespace is not None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if kind.namespaced and namespace is None and name is not None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        dry_run = self.query.get("dryRun") == "All"
        manager = self.query.get("fieldManager")
        if not manager and self.headers.get("Content-Type", "").split(";")[0].strip() != "application/apply-patch+yaml":
            # a write without fieldManager is recorded under the client's User-Agent up to its first "/" (server-side
            # apply docs, "Field management"); an apply must name its manager
            manager = (self.headers.get("User-Agent") or "").split("/", maxsplit=1)[0][:128] or None
        verb = self.command
        if sub and sub.split("/", maxsplit=1)[0] == "proxy":
            self._proxy(kind, namespace, name, sub)
            return
        if sub and sub not in kind.subresources and sub.split("/", maxsplit=1)[0] not in kind.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if (kind.group, kind.kind) in reviews.REVIEW_KINDS:
            if verb != "POST" or name is not None:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                                                        "resource")
            body = self._json_body(self._body())
            body.setdefault("metadata", {})
            if namespace is not None:
                body["metadata"]["namespace"] = namespace
            self._send_json(201, reviews.answer(api, kind, body, self.user_info or reviews.user_info(None)))
            return
        if name is None:
            if verb == "GET":
                if query_bool(self.query.get("watch")):
                    self._watch(kind, namespace)
                    return
                self._list(kind, namespace)
                return
            if verb == "POST":
                body = self._json_body(self._body())
                self._send_json(201,
                                api.create(kind, namespace, body, dry_run=dry_run, field_manager=manager))
                return
            if verb == "DELETE":
                items, dummy = api.list(kind, namespace, self.query.get("labelSelector"),
                                        self.query.get("fieldSelector"))
                self._body()
                for item in items:
                    api.delete(kind, namespace, item["metadata"]["name"], dry_run=dry_run)
                self._send_json(200, {"kind": kind.kind + "List", "apiVersion": kind.api_version,
                                      "metadata": {"resourceVersion": api.current_rv()}, "items": items})
                return
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if sub == "exec" and kind.kind == "Pod" and verb in ("GET", "POST"):
            execstream.serve(self, self.server.sandbox, namespace, name)
            return
        if verb == "POST" and sub == "eviction" and kind.kind == "Pod":
            self._send_json(201, eviction.evict(api, namespace, name, self._json_body(self._body()), dry_run))
            return
        if verb == "GET":
            if sub == "log" and kind.kind == "Pod":
                self._pod_log(namespace, name)
                return
            obj = api.get(kind, namespace, name)
            if sub == "scale":
                obj = _scale(kind, obj)
            elif not sub and "as=Table" in self.headers.get("Accept", ""):
                obj = table(kind, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]})
            self._send_json(200, obj)
            return
        if verb == "PUT":
            body = self._json_body(self._body())
            self._send_json(200, api.replace(kind, namespace, name, body, dry_run=dry_run, subresource=sub,
                                             field_manager=manager))
            return
        if verb == "PATCH":
            raw = self._body()
            content_type = self.headers.get("Content-Type", "")
            existed = api.find(kind, namespace, name) is not None
            result = api.patch(kind, namespace, name, content_type, raw, dry_run=dry_run, subresource=sub,
                               field_manager=manager, force=self.query.get("force") == "true")
            self._send_json(200 if existed else 201, _scale(kind, result) if sub == "scale" else result)
            return
        if verb == "DELETE":
            options = self._json_body(self._body()) or {}
            if isinstance(options, dict) and "All" in (options.get("dryRun") or []):
                dry_run = True
            propagation = self.query.get("propagationPolicy") or (options or {}).get("propagationPolicy")
            grace = self.query.get("gracePeriodSeconds", (options or {}).get("gracePeriodSeconds"))
            self._send_json(200, api.delete(kind, namespace, name, dry_run=dry_run, propagation=propagation,
                                            preconditions=(options or {}).get("preconditions"),
                                            grace=None if grace in (None, "") else int(grace)))
            return
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _list(self, kind, namespace):
        api = self.server.sandbox.api
        items, rv = api.list(kind, namespace, self.query.get("labelSelector"), self.query.get("fieldSelector"))
        meta = {"resourceVersion": rv}
        limit = int(self.query.get("limit") or 0)
        start = 0
        if self.query.get("continue"):
            try:
                start = int(base64.b64decode(self.query["continue"]).decode())
            except (ValueError, TypeError):
                raise ApiError(400, "BadRequest", "continue key is not valid")
        if limit:
            end = start + limit
            if end < len(items):
                meta["continue"] = base64.b64encode(str(end).encode()).decode()
                meta["remainingItemCount"] = len(items) - end
            items = items[start:end]
        elif start:
            items = items[start:]
        accept = self.headers.get("Accept", "")
        if "as=Table" in accept:
            self._send_json(200, table(kind, items, meta))
            return
        self._send_json(200, {"kind": kind.kind + "List", "apiVersion": kind.api_version, "metadata": meta,
                              "items": items})

    def _watch(self, kind, namespace):
        api = self.server.sandbox.api
        timeout = float(self.query.get("timeoutSeconds") or 1800)
        deadline = time.time() + min(timeout, 1800)
        rv_param = self.query.get("resourceVersion") or ""
        try:
            labels = parse_label_selector(self.query.get("labelSelector"))
            fields = parse_field_selector(self.query.get("fieldSelector"))
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", str(exc))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.status_sent = 200

        as_table = "as=Table" in self.headers.get("Accept", "")
        headers = [True]

        def emit(etype, obj):
            if as_table and etype != "ERROR":
                # `kubectl get -w` asks for Tables: a one-row Table per event, the columns only in the first
                obj = table(kind, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                            headers=headers[0])
                headers[0] = False
            data = json.dumps({"type": etype, "object": obj}).encode("utf-8") + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def wanted(obj):
            return label_matches(labels, obj["metadata"].get("labels")) and field_matches(fields, obj)

        try:
            with api.lock:
                if rv_param in ("", "0"):
                    items, rv = api.list(kind, namespace)
                    last = int(rv)
                    initial = [i for i in items if wanted(i)]
                else:
                    last = int(rv_param)
                    initial = []
                    if api.events_after(last, kind.storage_key, namespace) is None:
                        initial = None
            if initial is None:
                emit("ERROR", {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                               "message": "too old resource version: %s (%s)" % (rv_param, api.current_rv()),
                               "reason": "Expired", "code": 410})
            else:
                for obj in initial:
                    emit("ADDED", obj)
                while time.time() < deadline:
                    with api.lock:
                        events = api.events_after(last, kind.storage_key, namespace)
                        if not events:
                            api.changed.wait(min(1.0, max(0.0, deadline - time.time())))
                            events = api.events_after(last, kind.storage_key, namespace) or []
                    for event in events:
                        last = event.rv
                        obj = api.decorate(kind, event.obj)
                        if wanted(obj):
                            emit(event.type, obj)
                    if self.server.stopping:
                        break
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _proxy(self, kind, namespace, name, sub):
        raw = self._body()
        path = "/" + sub[len("proxy"):].lstrip("/") if sub != "proxy" else "/"
        query = urllib.parse.urlsplit(self.path).query
        if query:
            path += "?" + query
        if self.path.endswith("/") and not path.endswith("/"):
            path += "/"
        status, headers, body = self.server.sandbox.dataplane.proxy(kind.kind, namespace, name, self.command, path,
                                                                    dict(self.headers.items()), raw)
        self._send_raw(status, body, headers.pop("Content-Type", "text/plain; charset=utf-8"), headers)

    def _control(self, parts):
        sandbox = self.server.sandbox
        if parts == ["faults"]:
            if self.command == "GET":
                self._send_json(200, sandbox.faults.as_dict())
                return
            try:
                values = self._json_body(self._body()) or {}
                sandbox.faults.update(values)
            except ValueError as exc:
                self._send_json(400, {"error": str(exc)})
                return
            if "never_ready" in values:
                sandbox.controllers.later(0, sandbox.controllers.refresh_readiness)
            if "stuck_finalizers" in values:
                sandbox.controllers.later(0, sandbox.controllers.refresh_load_balancers)
            self._send_json(200, sandbox.faults.as_dict())
            return
        if parts == ["snapshot"]:
            self._send_json(200, sandbox.snapshot())
            return
        if len(parts) >= 4 and parts[0] == "portforward" and parts[3].isdigit():
            # /sandbox/portforward/NAMESPACE/POD/PORT/PATH: what a pods/portforward stream to the pod's port would
            # carry (the sandbox's istioctl proxy-config reads Envoy's admin port through it)
            status, body = sandbox.dataplane.forwarded(parts[1], parts[2], int(parts[3]), "/".join(parts[4:]))
            self._send_json(status, body)
            return
        if parts == ["loadbalancers"]:
            self._send_json(200, sandbox.dataplane.listeners())
            return
        if parts == ["addresses"]:
            flat = {}
            for hostname, entry in sandbox.dataplane.listeners().items():
                for port, address in entry["ports"].items():
                    flat["%s:%s" % (hostname, port)] = address
            self._send_json(200, flat)
            return
        self._send_json(404, {"error": "unknown sandbox control path"})


def _group_versions(api):
    out = ["api/v1"]
    for group, versions in api.registry.groups().items():
        out.extend("apis/%s/%s" % (group, v) for v in versions)
    return out


def _openapi_v3(api, gv_path):
    """Just what clients read from OpenAPI v3: which PATCH operations take fieldValidation."""
    parts = gv_path.split("/")
    group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2] if len(parts) > 2 else "")
    paths = {}
    for kind in api.registry.in_version(group, version):
        prefix = "/" + gv_path + ("/namespaces/{namespace}" if kind.namespaced else "")
        gvk = {"group": group, "version": version, "kind": kind.kind}
        params = [{"name": n, "in": "query", "schema": {"type": "string"}}
                  for n in ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")]
        paths["%s/%s/{name}" % (prefix, kind.plural)] = {
            "patch": {"operationId": "patch" + kind.kind, "parameters": params,
                      "x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch",
                      "responses": {"200": {"description": "OK"}}}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v" + api.k8s_version}, "paths": paths,
            "components": {"schemas": {}}}


def _scale(kind, obj):
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: obj["metadata"].get(k) for k in ("name", "namespace", "uid", "resourceVersion",
                                                             "creationTimestamp")},
            "spec": {"replicas": spec.get("replicas", 0)},
            "status": {"replicas": status.get("replicas", 0)}}


# what EKS lets anyone read (the system:public-info-viewer role: health and version)
PUBLIC = ("/healthz", "/readyz", "/livez", "/version")


class Authenticator(object):
    """Bearer tokens as an EKS API server takes them: an `aws eks get-token` token (sandbox/eksauth.py) of the
    cluster's creator (the sandbox's AWS key), or of an IAM identity mapped in kube-system's ``aws-auth`` ConfigMap
    (mapUsers / mapRoles, as aws-iam-authenticator maps ARNs: EKS user guide "Grant IAM users access to Kubernetes
    with a ConfigMap"; an unmapped ARN gets 401), or one of the cluster's own static tokens (a ServiceAccount's).
    The sandbox has no RBAC: a mapped identity may do what the creator may."""

    def __init__(self, cluster, access_key, secret_key, static_tokens=(), sts_endpoint=None):
        self.cluster = cluster
        self.access_key = access_key
        self.secret_key = secret_key
        self.static_tokens = set(static_tokens)
        self.sts = eksauth.ask_sts(sts_endpoint) if sts_endpoint else None
        self.mapping = lambda: None  # () -> the aws-auth ConfigMap or None (Sandbox sets it)
        # token -> (service account user name, None), (None, why refused), or (None, None) when not an account's
        # token (Sandbox sets it: sandbox/tokens.py)
        self.service_account = lambda token: (None, None)
        self.seen = {}
        self.parsed = (None, [])  # (aws-auth resourceVersion, its entries)
        self.lock = threading.Lock()

    def identify(self, header, certificate=None):
        """(who, None) when the request is authenticated, else (None, why not) - for the request log; the client
        sees 401. A client certificate the cluster's CA signed authenticates first, as the API server's x509
        authenticator does (kubernetes.io/docs/reference/access-authn-authz/authentication/, "X509 client
        certificates": the subject's CN is the user name, each O a group): its identity is "x509:" and the JSON of
        [CN, [O, ...]]."""
        if certificate:
            subject = [pair for rdn in certificate.get("subject") or () for pair in rdn]
            names = [value for key, value in subject if key == "commonName"]
            groups = [value for key, value in subject if key == "organizationName"]
            if names:
                return "x509:" + json.dumps([names[0], groups]), None
        if not header.startswith("Bearer "):
            return None, "no bearer token"
        token = header[len("Bearer "):].strip()
        if token in self.static_tokens:
            return "static-token", None
        account, reason = self.service_account(token)
        if account or reason:
            return account, reason
        with self.lock:
            cached = self.seen.get(token)
        if cached and cached[0] > time.time():
            identity = cached[1]
        else:
            identity, reason = eksauth.check_token(token, self.cluster, self.access_key, self.secret_key,
                                                   sts=self.sts)
            if identity is None:
                return None, reason
            with self.lock:
                self.seen[token] = (time.time() + 60, identity)
        if identity == eksauth.CREATOR or self.mapped(identity):
            return identity, None
        return None, "ARN is not mapped: %s (no entry in kube-system/aws-auth)" % identity

    def mapped(self, arn):
        """Whether aws-auth maps this ARN (an assumed role's session ARN maps as its role's ARN)."""
        return self.entry(arn) is not None

    def entry(self, arn):
        """The aws-auth entry (mapUsers or mapRoles) that maps this ARN, or None."""
        config = self.mapping()
        if not config or not isinstance(arn, str):
            return None
        match = re.match(r"arn:([^:]+):sts::(\d+):assumed-role/([^/]+)/", arn)
        wanted = {arn, "arn:%s:iam::%s:role/%s" % match.groups()} if match else {arn}
        for key, entry in self._entries(config):
            if entry.get(key) in wanted:
                return entry
        return None

    def _entries(self, config):
        """[(ARN field, entry)] of the aws-auth ConfigMap, parsed once per resourceVersion (every request of a
        mapped identity looks its entry up, to authenticate and to authorize)."""
        version = config["metadata"].get("resourceVersion")
        with self.lock:
            if self.parsed[0] == version:
                return self.parsed[1]
        data = config.get("data") or {}
        found = []
        for field, key in (("mapUsers", "userarn"), ("mapRoles", "rolearn")):
            try:
                entries = yaml.safe_load(data.get(field) or "[]") or []
            except yaml.YAMLError:
                continue  # aws-iam-authenticator ignores a mapping it cannot parse
            found.extend((key, entry) for entry in entries if isinstance(entry, dict))
        with self.lock:
            self.parsed = (version, found)
        return found

    def user_info(self, identity):
        """Whom a request of this identity acts as (sandbox/reviews.py user_info, with its aws-auth entry)."""
        arn = isinstance(identity, str) and identity.startswith("arn:")
        return reviews.user_info(identity, self.entry(identity) if arn else None)


class ApiHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, sandbox, tls_dir=None):
        """``tls_dir``: serve HTTPS with its server.crt/server.key (sandbox/eksauth.py), as EKS does."""
        self.sandbox = sandbox
        self.stopping = False
        http.server.ThreadingHTTPServer.__init__(self, address, Handler)
        if tls_dir:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(os.path.join(tls_dir, "server.crt"), os.path.join(tls_dir, "server.key"))
            # client certificates are asked for and checked against the cluster's CA (--client-ca-file), never
            # required: a client without one authenticates with its bearer token
            context.verify_mode = ssl.CERT_OPTIONAL
            context.load_verify_locations(os.path.join(tls_dir, "ca.crt"))
            self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def finish_request(self, request, client_address):
        if isinstance(request, ssl.SSLSocket):
            try:
                request.settimeout(30)
                request.do_handshake()  # in the request's thread, so that one slow client holds up no other
                request.settimeout(None)
            except (ssl.SSLError, OSError):
                return  # a client that does not trust the sandbox's CA hangs up here, as with a real server
        http.server.ThreadingHTTPServer.finish_request(self, request, client_address)

    def handle_error(self, request, client_address):
        pass
