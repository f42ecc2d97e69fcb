# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Bounded, measured HTTP probe: the engine behind ``traffic_probe``.

Everything here is independent of Ansible: ``validate_spec`` turns raw
options into a ``ProbeSpec`` (or raises ``ProbeInputError`` naming the
option, the value and what is expected), ``Target`` says where requests go,
``run_probe`` sends them and ``summarize`` turns the recorded samples into
the report the module returns.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import http.client
import math
import os
import pickle
import re
import signal
import socket
import ssl
import threading
import time

from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError
from ansible_collections.istio_demo.mesh.plugins.module_utils.names import dns_1035_label, dns_label, port_name
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_connection import (
    connect,
    request_settings,
)

from urllib.parse import quote, urlsplit

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ERROR_KINDS = ("timeout", "connection_refused", "dns", "tls", "connection_reset", "protocol", "other")
MAX_CONCURRENCY = 512
MAX_DURATION_S = 3600.0
MAX_REQUESTS = 10000000
DEFAULT_REQUESTS = 10
FIRST_ERRORS_KEPT = 5
DETAIL_BYTES = 200
PERCENTILES = (50, 90, 99)
# an HTTP header name: a token (RFC 9110, 5.1)
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class ProbeInputError(MeshError, ValueError):
    """Bad input: the message names the option, the value and what is expected."""


class ProbeSpec(object):
    """The load shape and verdict of one probe, already validated."""

    def __init__(self, requests=None, duration=None, qps=0.0, concurrency=1, timeout=5.0,
                 method="GET", headers=None, body=None, validate_certs=True,
                 expect_status=(200,), min_success_ratio=1.0, count_by=None, expect_shares=None, share_sigmas=4.0,
                 until_file=None):
        self.requests = requests
        self.duration = duration
        self.qps = qps
        self.concurrency = concurrency
        self.timeout = timeout
        self.method = method
        self.headers = dict(headers or {})
        self.body = body
        self.validate_certs = validate_certs
        self.expect_status = tuple(expect_status)
        self.min_success_ratio = min_success_ratio
        # ("pattern", compiled regular expression) or ("header", lower-case name as bytes), or None
        self.count_by = count_by
        self.expect_shares = dict(expect_shares or {})
        self.share_sigmas = share_sigmas
        # the run ends once this file exists (a probe in the background, stopped by whoever started it)
        self.until_file = until_file


def _bad(option, value, expected):
    return ProbeInputError("%s=%r is invalid: expected %s" % (option, value, expected))


def _number(option, value, cast, expected):
    if isinstance(value, bool):
        raise _bad(option, value, expected)
    try:
        return cast(value)
    except (TypeError, ValueError):
        raise _bad(option, value, expected)


def validate_spec(requests=None, duration=None, qps=None, concurrency=1, timeout=5.0,
                  method="GET", headers=None, body=None, validate_certs=True,
                  expect_status=None, min_success_ratio=1.0, count_by=None, expect_shares=None, share_sigmas=4.0,
                  until_file=None):
    """Check the load shape and verdict options; return a ``ProbeSpec``.

    ``requests`` and ``duration`` bound the run (one of them; with neither,
    ``DEFAULT_REQUESTS`` requests are sent unless a ``qps`` was given, since a
    rate with no bound is almost always a forgotten bound).
    """
    if requests is not None:
        requests = _number("requests", requests, int, "a whole number of requests >= 1")
        if requests < 1 or requests > MAX_REQUESTS:
            raise _bad("requests", requests, "a whole number of requests between 1 and %d" % MAX_REQUESTS)
    if duration is not None:
        duration = _number("duration", duration, float, "a number of seconds > 0")
        if not (0 < duration <= MAX_DURATION_S) or math.isnan(duration):
            raise _bad("duration", duration, "a number of seconds > 0 and <= %d" % MAX_DURATION_S)
    if qps is not None:
        qps = _number("qps", qps, float, "requests per second >= 0 (0 = as fast as possible)")
        if qps < 0 or math.isnan(qps) or math.isinf(qps):
            raise _bad("qps", qps, "requests per second >= 0 (0 = as fast as possible)")
        if requests is None and duration is None:
            raise ProbeInputError(
                "qps=%r has no bound: set requests (a count) or duration (seconds) as well, "
                "so that the probe stops by itself" % (qps,))
    else:
        qps = 0.0
    if requests is None and duration is None:
        requests = DEFAULT_REQUESTS
    concurrency = _number("concurrency", concurrency, int, "a whole number of workers >= 1")
    if concurrency < 1 or concurrency > MAX_CONCURRENCY:
        raise _bad("concurrency", concurrency, "a whole number of workers between 1 and %d" % MAX_CONCURRENCY)
    timeout = _number("timeout", timeout, float, "a number of seconds > 0")
    if not timeout > 0 or math.isinf(timeout):
        raise _bad("timeout", timeout, "a number of seconds > 0")
    method = str(method or "GET").upper()
    headers = headers or {}
    for name, value in headers.items():
        if not HEADER_NAME.match(str(name)):
            raise ProbeInputError("headers has an invalid header name %r: expected an HTTP token "
                                  "(letters, digits and !#$%%&'*+.^_`|~-)" % (name,))
        if "\r" in str(value) or "\n" in str(value):
            raise ProbeInputError("headers[%s] is invalid: a header value may not contain line breaks" % name)
    if expect_status is None:
        expect_status = [200]
    if not isinstance(expect_status, (list, tuple)) or not expect_status:
        raise _bad("expect_status", expect_status, "a non-empty list of HTTP status codes (100-599)")
    codes = []
    for code in expect_status:
        number = _number("expect_status", code, int, "a non-empty list of HTTP status codes (100-599)")
        if not 100 <= number <= 599:
            raise ProbeInputError("expect_status contains %r, which is not an HTTP status code: "
                                  "expected codes between 100 and 599" % (code,))
        codes.append(number)
    min_success_ratio = _number("min_success_ratio", min_success_ratio, float, "a ratio between 0.0 and 1.0")
    if not 0.0 <= min_success_ratio <= 1.0:
        raise _bad("min_success_ratio", min_success_ratio, "a ratio between 0.0 and 1.0")
    counting = validate_count_by(count_by)
    shares = validate_shares(expect_shares, counting, share_sigmas)
    return ProbeSpec(requests=requests, duration=duration, qps=qps, concurrency=concurrency,
                     timeout=timeout, method=method, headers=headers, body=body,
                     validate_certs=True if validate_certs is None else bool(validate_certs),
                     expect_status=sorted(set(codes)), min_success_ratio=min_success_ratio,
                     count_by=counting, expect_shares=shares, share_sigmas=share_sigmas, until_file=until_file)


def validate_count_by(count_by):
    """("pattern", regex) or ("header", name) from the count_by option (its spec allows exactly one), or None."""
    if not count_by:
        return None
    if count_by.get("header"):
        name = str(count_by["header"])
        if not HEADER_NAME.match(name):
            raise _bad("count_by.header", name, "an HTTP header name such as x-version")
        return "header", name.lower().encode("latin-1")
    pattern = count_by.get("pattern")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise _bad("count_by.pattern", pattern, "a regular expression (%s)" % exc)
    if compiled.groups > 1:
        raise _bad("count_by.pattern", pattern, "a regular expression with at most one group, whose text is the "
                                                "answer's key, such as 'Version: (\\S+)'")
    return "pattern", compiled


def validate_shares(expect_shares, counting, sigmas):
    """The expected share of each key (fractions summing to 1), checked against count_by and share_sigmas."""
    if not expect_shares:
        return {}
    if counting is None:
        raise ProbeInputError("expect_shares=%r needs count_by: expected count_by.pattern or count_by.header to "
                              "say how an answer names its key" % (expect_shares,))
    shares = {}
    for key, value in expect_shares.items():
        share = _number("expect_shares[%s]" % key, value, float, "a fraction between 0.0 and 1.0")
        if not 0.0 <= share <= 1.0 or math.isnan(share):
            raise _bad("expect_shares[%s]" % key, value, "a fraction between 0.0 and 1.0")
        shares[str(key)] = share
    if abs(sum(shares.values()) - 1.0) > 0.001:
        raise ProbeInputError("expect_shares=%r sums to %.3f: expected fractions that sum to 1.0, such as "
                              "{'1.0.0': 0.9, '2.0.0': 0.1}" % (expect_shares, sum(shares.values())))
    if not sigmas > 0 or math.isinf(sigmas):
        raise _bad("share_sigmas", sigmas, "a number of standard deviations > 0")
    return shares


class Target(object):
    """Where the probe sends its requests.

    ``headers`` are sent with every request (authentication for the API
    server); they are never part of the result.
    """

    def __init__(self, scheme, host, port, path, headers=None, ssl_context=None, display_url=None):
        self.scheme = scheme
        self.host = host
        self.port = port
        self.path = path
        self.headers = dict(headers or {})
        self.ssl_context = ssl_context
        self.display_url = display_url or "%s://%s%s" % (scheme, _netloc(host, port, scheme), path)

    def connect(self, timeout):
        return Connection(self.host, self.port, timeout, self.ssl_context if self.scheme == "https" else None)

    def request_bytes(self, method, headers, body):
        """The whole HTTP/1.1 request, built once and sent as is on every call."""
        names = set(name.lower() for name in headers)
        lines = ["%s %s HTTP/1.1" % (method, self.path)]
        if "host" not in names:
            lines.append("Host: %s" % _netloc(self.host, self.port, self.scheme))
        if "user-agent" not in names:
            lines.append("User-Agent: istio_demo.mesh-traffic_probe")
        if "accept" not in names:
            lines.append("Accept: */*")
        lines += ["%s: %s" % (name, value) for name, value in headers.items()]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append("Content-Length: %d" % len(body or b""))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


MAX_HEAD = 65536


class Connection(object):
    """One HTTP/1.1 keep-alive connection that parses no more of an answer than a probe needs.

    http.client's parsing of every header costs several times the exchange
    itself on loopback; this reads the status line, Content-Length,
    Transfer-Encoding and Connection, and the body. Failures raise the same
    exception types as http.client, so they are classified alike.
    """

    def __init__(self, host, port, timeout, ssl_context=None):
        sock = socket.create_connection((host, port), timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if ssl_context is not None:
                sock = ssl_context.wrap_socket(sock, server_hostname=host)
        except Exception:
            sock.close()
            raise
        self.sock = sock
        self.buffer = b""
        self.wanted = None  # a response header to keep (lower-case bytes), for count_by
        self.wanted_value = None

    def close(self):
        self.sock.close()

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise http.client.RemoteDisconnected("the server closed the connection without a complete answer")
        self.buffer += chunk

    def _take(self, size):
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _line(self):
        while True:
            end = self.buffer.find(b"\r\n")
            if end >= 0:
                line, self.buffer = self.buffer[:end], self.buffer[end + 2:]
                return line
            if len(self.buffer) > MAX_HEAD:
                raise http.client.LineTooLong("chunk size line")
            self._fill()

    def exchange(self, request, head_only=False):
        """Send ``request`` (bytes); return (status, body, whether the server will close)."""
        self.sock.sendall(request)
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self.buffer) > MAX_HEAD:
                raise http.client.LineTooLong("headers")
            self._fill()
        head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
        lines = head.split(b"\r\n")
        parts = lines[0].split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise http.client.BadStatusLine(lines[0][:80].decode("latin-1"))
        status = int(parts[1])
        self.server_header = None
        self.wanted_value = None
        length, chunked, close = None, False, parts[0] == b"HTTP/1.0"
        for line in lines[1:]:
            name, _sep, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    raise http.client.HTTPException("invalid Content-Length %r" % value.strip()[:20])
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                token = value.strip().lower()
                close = token == b"close" or (close and token != b"keep-alive")
            elif name == b"server":
                self.server_header = value.strip().decode("latin-1")
            elif name == self.wanted:
                self.wanted_value = value.strip().decode("latin-1")
        if head_only or status in (204, 304) or 100 <= status < 200:
            return status, b"", close
        if chunked:
            body = []
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    return status, b"".join(body), close
                body.append(self._take(size))
                self._take(2)
        if length is not None:
            return status, self._take(length), close
        body, self.buffer = [self.buffer], b""
        while True:  # no length: the body ends with the connection
            try:
                self._fill()
            except http.client.RemoteDisconnected:
                break
            body.append(self.buffer)
            self.buffer = b""
        return status, b"".join(body), True


def _netloc(host, port, scheme):
    shown = "[%s]" % host if ":" in host else host
    default = 443 if scheme == "https" else 80
    return shown if port == default else "%s:%d" % (shown, port)


def make_ssl_context(validate_certs=True, ca_file=None, cert_file=None, key_file=None):
    context = ssl.create_default_context(cafile=ca_file)
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_file:
        context.load_cert_chain(cert_file, key_file)
    return context


def url_target(url, validate_certs=True):
    """A ``Target`` for an absolute http(s) URL; raises ``ProbeInputError``."""
    if not isinstance(url, str) or not url:
        raise _bad("url", url, "an absolute http:// or https:// URL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise _bad("url", url, "an absolute URL starting with http:// or https://")
    if not parts.hostname:
        raise _bad("url", url, "an absolute URL with a host, such as http://a1b2.elb.amazonaws.com/v1")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise _bad("url", url, "a port between 1 and 65535")
    if any(c.isspace() for c in url):
        raise _bad("url", url, "a URL without spaces (percent-encode them as %20)")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    headers = {}
    if parts.username is not None:
        credentials = "%s:%s" % (parts.username, parts.password or "")
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")
    context = make_ssl_context(validate_certs) if parts.scheme == "https" else None
    shown = "%s://%s%s" % (parts.scheme, _netloc(parts.hostname, port, parts.scheme), path)
    return Target(parts.scheme, parts.hostname, port, path, headers=headers, ssl_context=context,
                  display_url=shown)


def validate_service(service):
    """Check what the argument spec cannot say about a ``service`` option; return (namespace, name, port, path,
    scheme)."""
    namespace = service.get("namespace") or "default"
    name = service.get("name")
    port = service.get("port")
    path = service.get("path") or "/"
    scheme = service.get("scheme") or "http"
    if not dns_label(namespace):
        raise _bad("service.namespace", namespace,
                   "a Kubernetes namespace name (lower-case letters, digits and '-', at most 63 characters)")
    if not dns_1035_label(name):
        raise _bad("service.name", name,
                   "a Kubernetes Service name (starts with a letter; lower-case letters, digits and '-'; "
                   "at most 63 characters)")
    if isinstance(port, bool) or port is None:
        raise _bad("service.port", port, "a port number between 1 and 65535 or a named port")
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        if not 1 <= int(port) <= 65535:
            raise _bad("service.port", port, "a port number between 1 and 65535 or a named port")
        port = int(port)
    elif not port_name(port):
        raise _bad("service.port", port, "a port number between 1 and 65535 or a named port "
                   "(lower-case letters, digits and '-', at most 15 characters)")
    if not isinstance(path, str) or not path.startswith("/") or any(c.isspace() for c in path):
        raise _bad("service.path", path, "a path starting with '/' and without spaces, such as /v1")
    return namespace, name, port, path, scheme


def service_proxy_path(namespace, name, port, path, scheme="http"):
    """The API server path of a Service's proxy subresource."""
    prefix = "https:" if scheme == "https" else ""
    return "/api/v1/namespaces/%s/services/%s%s:%s/proxy%s" % (
        quote(namespace), prefix, quote(name), port, path)


def service_target(api_server_url, namespace, name, port, path, scheme="http", headers=None,
                   ssl_context=None):
    """A ``Target`` that reaches a Service through the API server's proxy."""
    parts = urlsplit(api_server_url.rstrip("/"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProbeInputError("the Kubernetes API server URL %r taken from the connection options is not "
                              "an http(s) URL" % (api_server_url,))
    port_number = parts.port or (443 if parts.scheme == "https" else 80)
    full_path = (parts.path or "") + service_proxy_path(namespace, name, port, path, scheme)
    if parts.scheme == "https" and ssl_context is None:
        ssl_context = make_ssl_context(True)
    return Target(parts.scheme, parts.hostname, port_number, full_path, headers=headers,
                  ssl_context=ssl_context)


def classify_error(exc):
    """Name the kind of a transport failure."""
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, ssl.SSLError) or isinstance(exc, getattr(ssl, "CertificateError", ())):
        return "tls"
    if isinstance(exc, socket.gaierror):
        return "dns"
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
                        http.client.RemoteDisconnected)):
        return "connection_reset"
    if isinstance(exc, http.client.HTTPException):
        return "protocol"
    return "other"


class Sample(object):
    __slots__ = ("start", "latency", "status", "error", "detail", "server", "key")

    def __init__(self, start, latency, status=None, error=None, detail=None, server=None, key=None):
        self.start = start
        self.latency = latency
        self.status = status
        self.error = error
        self.detail = detail
        self.server = server
        self.key = key


class _Worker(object):
    """One connection, reused while the server keeps it alive."""

    def __init__(self, target, spec):
        self.target = target
        self.spec = spec
        self.conn = None
        headers = dict(target.headers)
        headers.update(spec.headers)
        body = spec.body.encode("utf-8") if isinstance(spec.body, str) else spec.body
        self.request = target.request_bytes(spec.method, headers, body)
        self.head_only = spec.method == "HEAD"

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(self, clock):
        start = clock()
        try:
            if self.conn is None:
                self.conn = self.target.connect(self.spec.timeout)
                if self.spec.count_by and self.spec.count_by[0] == "header":
                    self.conn.wanted = self.spec.count_by[1]
            status, payload, will_close = self.conn.exchange(self.request, self.head_only)
            latency = clock() - start
            server = self.conn.server_header
            header = self.conn.wanted_value
            if will_close:
                self.close()
            detail = key = None
            if status not in self.spec.expect_status:
                detail = " ".join(payload[:DETAIL_BYTES].decode("utf-8", "replace").split())
            elif self.spec.count_by:
                key = header if self.spec.count_by[0] == "header" else _key_in(self.spec.count_by[1], payload)
            return Sample(start, latency, status=status, detail=detail, server=server, key=key)
        except Exception as exc:  # every transport failure is a measured outcome
            self.close()
            return Sample(start, clock() - start, error=(classify_error(exc), "%s: %s" % (
                type(exc).__name__, exc)))


def _key_in(pattern, payload):
    """What ``pattern`` finds in an answer's body: its group, or the whole match; None when it finds nothing."""
    found = pattern.search(payload.decode("utf-8", "replace"))
    if found is None:
        return None
    return found.group(1) if pattern.groups else found.group(0)


def run_probe(target, spec, clock=time.monotonic, sleep=time.sleep):
    """Send the requests ``spec`` describes to ``target``; return (samples, wall seconds).

    Request ``i`` is due at ``t0 + i / qps`` when a rate is set, so the rate
    holds over the run whatever the latency (as long as ``concurrency``
    workers can keep up); with ``qps`` 0 the workers send back to back.
    """
    lock = threading.Lock()
    samples = []
    state = {"next": 0}
    workers = spec.concurrency if spec.requests is None else min(spec.concurrency, spec.requests)
    t0 = clock()

    def next_slot():
        """When the next request is due, or None when the run is over."""
        with lock:
            index = state["next"]
            if spec.requests is not None and index >= spec.requests:
                return None
            if spec.until_file and os.path.exists(spec.until_file):
                return None
            if spec.qps > 0:
                due = t0 + index / spec.qps
                if spec.duration is not None and due - t0 >= spec.duration:
                    return None
            else:
                due = t0  # already past: send now
                if spec.duration is not None and clock() - t0 >= spec.duration:
                    return None
            state["next"] = index + 1
            return due

    def loop():
        worker = _Worker(target, spec)
        mine = []
        try:
            due = next_slot()
            while due is not None:
                wait = due - clock()
                if wait > 0:
                    sleep(wait)
                mine.append(worker.send(clock))
                due = next_slot()
        finally:
            worker.close()
            with lock:
                samples.extend(mine)

    threads = [threading.Thread(target=loop, name="probe-%d" % n) for n in range(workers)]
    for thread in threads:
        thread.daemon = True
        thread.start()
    for thread in threads:
        thread.join()
    return samples, clock() - t0


# as fast as possible, from this many requests (or any duration) on, the workers run in several processes
PROCESS_MIN_REQUESTS = 500


def process_count(spec):
    """How many processes share the workers: one per core the probe may use (at most one per worker) when it sends
    as fast as it can - Python threads share one interpreter lock, so one process keeps one core busy however many
    workers it has. A fixed rate, a short run or one worker stay in one process."""
    if spec.qps > 0 or spec.concurrency < 2 or not hasattr(os, "fork"):
        return 1
    if spec.requests is not None and spec.requests < PROCESS_MIN_REQUESTS:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, spec.concurrency))


def _share(total, parts, index):
    """The ``index``-th of ``parts`` near-equal shares of ``total``."""
    return total // parts + (1 if index < total % parts else 0)


def _child_spec(spec, processes, index):
    child = copy.copy(spec)
    child.concurrency = _share(spec.concurrency, processes, index)
    if spec.requests is not None:
        child.requests = _share(spec.requests, processes, index)
    return child


def run_probe_processes(target, spec, processes):
    """``run_probe`` with the workers spread over ``processes`` forked processes, each timing its own exchanges
    exactly as ``run_probe`` does; their samples come back through a pipe and are merged. Returns (samples, wall
    seconds from the first fork to the last process's end - the monotonic clock is the machine's, so the
    processes' times compare)."""
    t0 = time.monotonic()
    children = []
    for index in range(processes):
        try:
            read_end, write_end = os.pipe()
            pid = os.fork()
        except OSError as exc:  # no process or pipe left: stop the ones started, and say so
            _stop(children)
            raise MeshError("traffic probe: cannot start probe process %d of %d: %s" % (index + 1, processes, exc))
        if pid == 0:  # the child: probe, send the samples back, leave without running the parent's exit handlers
            status = 0
            try:
                os.close(read_end)
                samples, dummy = run_probe(target, _child_spec(spec, processes, index))
                answer = (time.monotonic(), [(s.start, s.latency, s.status, s.error, s.detail, s.server, s.key)
                                             for s in samples])
            except BaseException as exc:  # reported by the parent, with what went wrong
                answer, status = "%s: %s" % (type(exc).__name__, exc), 1
            try:
                with os.fdopen(write_end, "wb") as pipe:
                    pipe.write(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
            finally:
                os._exit(status)
        os.close(write_end)
        children.append((pid, read_end))
    samples, ends, failures = [], [], []
    for pid, read_end in children:
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        dummy, status = os.waitpid(pid, 0)
        try:
            answer = pickle.loads(data) if data else "it ended with status %d and sent nothing" % status
        except Exception:  # cut short: the process was killed while it wrote
            answer = "it ended with status %d and sent an incomplete answer" % status
        if status != 0 or not isinstance(answer, tuple):
            failures.append(str(answer))
            continue
        ends.append(answer[0])
        samples.extend(Sample(start, latency, status=code, error=error, detail=detail, server=server, key=key)
                       for start, latency, code, error, detail, server, key in answer[1])
    if failures:
        raise MeshError("traffic probe: %d of %d probe processes failed: %s" % (
            len(failures), processes, "; ".join(failures)))
    return samples, max(ends) - t0


def _stop(children):
    """End the probe processes started so far and reap them."""
    for pid, read_end in children:
        os.close(read_end)
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:  # already gone
            pass
        os.waitpid(pid, 0)


def percentile(sorted_values, pct):
    """Exact nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    rank = int(math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def summarize(samples, wall, spec, url):
    """The probe report: counts, histogram, ratio, exact latency percentiles."""
    codes = {}
    errors = dict((kind, 0) for kind in ERROR_KINDS)
    first_errors = []
    latencies = []
    successes = 0
    for sample in sorted(samples, key=lambda s: s.start):
        if sample.error is not None:
            kind, message = sample.error
            errors[kind] += 1
            if len(first_errors) < FIRST_ERRORS_KEPT:
                first_errors.append("%s (%s)" % (message, kind))
            continue
        latencies.append(sample.latency * 1000.0)
        key = str(sample.status)
        codes[key] = codes.get(key, 0) + 1
        if sample.status in spec.expect_status:
            successes += 1
        elif len(first_errors) < FIRST_ERRORS_KEPT:
            first_errors.append("HTTP %d (expected %s)%s" % (
                sample.status, ", ".join(str(c) for c in spec.expect_status),
                ": " + sample.detail if sample.detail else ""))
    total = len(samples)
    latencies.sort()
    latency = {"min": None, "mean": None, "max": None}
    latency.update(("p%d" % p, None) for p in PERCENTILES)
    if latencies:
        latency["min"] = round(latencies[0], 3)
        latency["max"] = round(latencies[-1], 3)
        latency["mean"] = round(sum(latencies) / len(latencies), 3)
        for p in PERCENTILES:
            latency["p%d" % p] = round(percentile(latencies, p), 3)
    ratio = float(successes) / total if total else 0.0
    report = {
        "url": url,
        "method": spec.method,
        "requests": total,
        "succeeded": successes,
        "status_codes": codes,
        "success_ratio": round(ratio, 4),
        "min_success_ratio": spec.min_success_ratio,
        "latency_ms": latency,
        "rps": round(total / wall, 2) if wall > 0 else 0.0,
        "duration_s": round(wall, 3),
        "qps": spec.qps,
        "concurrency": spec.concurrency,
        "errors": dict((k, v) for k, v in errors.items() if v),
        "first_errors": first_errors,
        "passed": total > 0 and ratio >= spec.min_success_ratio,
    }
    if spec.count_by:
        report.update(count_shares(samples, successes, spec))
        report["passed"] = report["passed"] and all(c["passed"] for c in report["share_checks"])
    return report


def count_shares(samples, successes, spec):
    """How the answers with an expected status divide by key; with expect_shares, each key's measured share against
    its expected one within share_sigmas standard deviations of a binomial draw of that many answers (a key expected
    at 0 or 1 must be measured at exactly 0 or 1)."""
    counts = {}
    for sample in samples:
        if sample.key is not None:
            counts[sample.key] = counts.get(sample.key, 0) + 1
    shares = dict((key, round(float(n) / successes, 4)) for key, n in counts.items()) if successes else {}
    checks = []
    for key in sorted(set(spec.expect_shares) | set(counts)) if spec.expect_shares else []:
        expected = spec.expect_shares.get(key, 0.0)
        measured = float(counts.get(key, 0)) / successes if successes else 0.0
        tolerance = spec.share_sigmas * math.sqrt(expected * (1.0 - expected) / successes) if successes else 0.0
        checks.append({"key": key, "expected": expected, "measured": round(measured, 4),
                       "tolerance": round(tolerance, 4),
                       "passed": successes > 0 and abs(measured - expected) <= tolerance + 1e-9})
    return {"counts": counts, "shares": shares, "uncounted": successes - sum(counts.values()), "share_checks": checks}


def failure_message(report):
    """Why the verdict failed, in one paragraph a person can act on."""
    wait = report.get("wait")
    if wait and not wait["ready"]:
        return ("traffic probe of %s: the target did not answer with an expected status within ready_timeout "
                "(%s s, %d tries); last: %s. A new cloud load balancer can take minutes before its name resolves "
                "and its targets are healthy: raise ready_timeout, or check the load balancer, its source ranges and "
                "its scheme (an internal one is not reachable from outside the VPC)"
                % (report["url"], wait["waited_s"], wait["attempts"], wait["last"]))
    off = [c for c in report.get("share_checks") or [] if not c["passed"]]
    shares = ""
    if off:
        shares = "; shares off: %s (of %d answers counted by key)" % ("; ".join(
            "%s measured %.4f, expected %.4f +/- %.4f" % (c["key"], c["measured"], c["expected"], c["tolerance"])
            for c in off), report["succeeded"])
    return ("traffic probe of %s failed: %d of %d requests succeeded (success_ratio %.4f, "
            "min_success_ratio %s); status codes %s; errors %s; first errors: %s%s" % (
                report["url"], report["succeeded"], report["requests"], report["success_ratio"],
                report["min_success_ratio"], _histogram(report["status_codes"]),
                _histogram(report["errors"]), "; ".join(report["first_errors"]) or "none", shares))


def _histogram(counts):
    if not counts:
        return "{}"
    return "{" + ", ".join("%s: %d" % (k, counts[k]) for k in sorted(counts)) + "}"


def await_ready(target, spec, timeout, clock=time.monotonic, sleep=time.sleep, ready_server=None):
    """Before measuring: one request at a time until one gets an expected status - or, with ``ready_server`` (a
    regular expression), any answer whose Server header matches it (the service behind the load balancer itself
    answered, so what it answers is for the measurement to count) - for at most ``timeout`` seconds, backing off
    from 0.5 s to 5 s between tries. A new cloud load balancer takes minutes before its name resolves (dns errors),
    then before its targets are healthy (resets, its own 503): that is waited out here and reported, not counted
    against the measurement. Returns {"ready", "waited_s", "attempts", "last"}."""
    server_re = re.compile(ready_server) if ready_server else None
    start = clock()
    attempts = 0
    delay = 0.5
    last = None
    worker = _Worker(target, spec)
    try:
        while True:
            attempts += 1
            sample = worker.send(clock)
            if sample.error is None and (sample.status in spec.expect_status or (
                    server_re is not None and server_re.search(sample.server or ""))):
                return {"ready": True, "waited_s": round(clock() - start, 3), "attempts": attempts, "last": None}
            last = ("%s %s" % sample.error if sample.error else "HTTP %s %s" % (sample.status, sample.detail or "")).strip()
            left = timeout - (clock() - start)
            if left <= 0:
                return {"ready": False, "waited_s": round(clock() - start, 3), "attempts": attempts, "last": last}
            worker.close()
            sleep(min(delay, left))  # backoff between readiness tries, bounded by the timeout
            delay = min(delay * 2, 5.0)
    finally:
        worker.close()


def probe(target, spec, ready_timeout=0, ready_server=None, processes=None):
    """Run the probe and return its report; with ``ready_timeout`` wait for the target first (report: ``wait``).
    ``processes``: how many processes share the workers (None: ``process_count(spec)``)."""
    wait = None
    if ready_timeout:
        wait = await_ready(target, spec, ready_timeout, ready_server=ready_server)
        if not wait["ready"]:
            report = summarize([], 0.0, spec, target.display_url)
            report["wait"] = wait
            report["processes"] = 0
            return report
    if processes is None:
        processes = process_count(spec)
    if processes > 1:
        samples, wall = run_probe_processes(target, spec, processes)
    else:
        samples, wall = run_probe(target, spec)
    report = summarize(samples, wall, spec, target.display_url)
    report["processes"] = processes
    if wait is not None:
        report["wait"] = wait
    return report


# ---------------------------------------------------------------- the traffic_probe module

def _spec_from(params):
    return validate_spec(
        requests=params["requests"], duration=params["duration"], qps=params["qps"],
        concurrency=params["concurrency"], timeout=params["timeout"], method=params["method"],
        headers=params["headers"], body=params["body"], validate_certs=params["validate_certs"],
        expect_status=params["expect_status"], min_success_ratio=params["min_success_ratio"],
        count_by=params["count_by"], expect_shares=params["expect_shares"], share_sigmas=params["share_sigmas"],
        until_file=params["until_file"])


def _target(module, spec):
    params = module.params
    if params["url"]:  # the argument spec asks for exactly one of url and service
        return url_target(params["url"], validate_certs=spec.validate_certs)
    namespace, name, port, path, scheme = validate_service(params["service"])
    client = connect(module)  # its K8sConnectionError is a MeshError, reported as it is
    host, headers, tls, proxy = request_settings(client)
    if proxy:
        raise ProbeInputError("proxy=%s is set for the Kubernetes connection, but traffic_probe reaches "
                              "Services without an HTTP proxy: unset proxy or probe a url" % proxy)
    context = None
    if str(host).startswith("https"):
        context = make_ssl_context(**tls)
    return service_target(host, namespace, name, port, path, scheme=scheme, headers=headers,
                          ssl_context=context)


def probe_module(module):
    """Validate everything, then probe; return the report, or raise MeshError with it when the probe failed."""
    spec = _spec_from(module.params)
    target = _target(module, spec)
    ready_timeout = module.params["ready_timeout"]
    if ready_timeout < 0:
        raise ProbeInputError("ready_timeout=%r is invalid: expected seconds >= 0 (0: measure at once)" % ready_timeout)
    ready_server = module.params["ready_server"]
    if ready_server:
        try:
            re.compile(ready_server)
        except re.error as exc:
            raise ProbeInputError("ready_server=%r is invalid: expected a regular expression (%s)" % (ready_server, exc))
    report = probe(target, spec, ready_timeout=ready_timeout, ready_server=ready_server)
    if not report["passed"]:
        raise MeshError(failure_message(report), **report)
    return dict(report, changed=False,
                msg="%d of %d requests to %s succeeded" % (report["succeeded"], report["requests"], report["url"]))
