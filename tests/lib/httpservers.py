"""Real HTTP servers on loopback for the probe's tests: no mocked sockets."""

import datetime
import http.server
import itertools
import os
import socket
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.request


class Recorder(object):
    """What a server saw: request count, paths, headers, peak concurrency."""

    def __init__(self):
        self.lock = threading.Lock()
        self.count = 0
        self.in_flight = 0
        self.peak = 0
        self.paths = []
        self.headers = []

    def enter(self, handler):
        with self.lock:
            self.count += 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.paths.append(handler.path)
            self.headers.append(dict(handler.headers.items()))

    def leave(self):
        with self.lock:
            self.in_flight -= 1


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client that rejects our certificate or hangs up is part of the tests


def serve(answer, tls_context=None, headers=None):
    """Start a server whose handler calls ``answer(handler) -> (status, body)`` or ``(status, body, headers)``.

    Returns (base_url, recorder, stop).
    """
    recorder = Recorder()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body leave without a 40 ms Nagle wait

        def _handle(self):
            recorder.enter(self)
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                answered = answer(self)
                status, body = answered[:2]
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                for name, value in dict(headers or {}, **(answered[2] if len(answered) > 2 else {})).items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            finally:
                recorder.leave()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        def log_message(self, *args):
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    scheme = "http"
    if tls_context is not None:
        server.socket = tls_context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()

    return "%s://127.0.0.1:%d" % (scheme, server.server_address[1]), recorder, stop


def ok_answer(handler):
    return 200, "hello from %s\n" % handler.path


def cycling_answer(codes):
    """Answer the given status codes in turn (thread-safe)."""
    cycle = itertools.cycle(codes)
    lock = threading.Lock()

    def answer(handler):
        with lock:
            code = next(cycle)
        return code, "status %d\n" % code
    return answer


def slow_answer(seconds):
    def answer(handler):
        time.sleep(seconds)  # the server's own latency, which the probe measures
        return 200, "slow\n"
    return answer


def refused_url():
    """A loopback URL on which nothing listens."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return "http://127.0.0.1:%d/" % port


def self_signed_context():
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, u"probe-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    directory = tempfile.mkdtemp(prefix="probe-tls-")
    cert_path = os.path.join(directory, "cert.pem")
    key_path = os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path


def versions_answer(versions):
    """Answer as the demo's hello app does, naming a version in the body and in an x-version header, the versions
    taken in turn from ``versions`` (thread-safe)."""
    cycle = itertools.cycle(versions)
    lock = threading.Lock()

    def answer(handler):
        with lock:
            version = next(cycle)
        return 200, "Hello, world!\nVersion: %s\nHostname: hello-%s\n" % (version, version), {"X-Version": version}
    return answer


def plain_get(url, timeout=10):
    """(status, body) of a plain GET from this machine (a client outside the cluster), HTTP errors included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
