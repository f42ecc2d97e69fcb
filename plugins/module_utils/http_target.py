# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Where a probe sends its requests: a ``Target`` (an absolute URL, or a Service through the API server's proxy)
and the small HTTP/1.1 ``Connection`` that talks to it; ``classify_error`` names a transport failure."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import http.client
import socket
import ssl

from urllib.parse import quote, urlsplit

from ansible_collections.istio_demo.mesh.plugins.module_utils.names import dns_1035_label, dns_label, port_name
from ansible_collections.istio_demo.mesh.plugins.module_utils.probe_spec import ProbeInputError, _bad


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
