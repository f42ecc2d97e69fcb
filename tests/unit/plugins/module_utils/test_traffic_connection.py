"""http_target.Connection against canned answers: the framing a probe must get right."""

import http.client
import socket
import threading

import pytest

from ansible_collections.istio_demo.mesh.plugins.module_utils import http_target


class Canned(object):
    """A loopback server that answers each request on a connection with the next canned reply."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.requests = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _server = self.sock.accept()
        with conn:
            buffer = b""
            for reply in self.replies:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                self.requests.append(head)
                if reply is None:
                    return  # close without answering
                conn.sendall(reply)

    def close(self):
        self.sock.close()


@pytest.fixture
def canned():
    servers = []

    def make(*replies):
        server = Canned(replies)
        servers.append(server)
        return http_target.Connection("127.0.0.1", server.port, 5), server
    yield make
    for server in servers:
        server.close()


REQUEST = b"GET /v1 HTTP/1.1\r\nHost: x\r\n\r\n"


def test_keep_alive_answers_with_content_length_are_read_on_one_connection(canned):
    conn, server = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                          b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy")
    assert conn.exchange(REQUEST) == (200, b"hello", False)
    assert conn.exchange(REQUEST) == (503, b"busy", False)
    assert len(server.requests) == 2


def test_chunked_bodies_are_reassembled(canned):
    conn, _server = canned(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n")
    assert conn.exchange(REQUEST) == (200, b"hello world", False)


def test_connection_close_and_http_1_0_are_reported(canned):
    conn, _server = canned(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
    assert conn.exchange(REQUEST)[2] is True
    conn, _server = canned(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert conn.exchange(REQUEST)[2] is True


def test_a_body_without_length_ends_with_the_connection(canned):
    conn, _server = canned(b"HTTP/1.1 200 OK\r\n\r\nall of it")  # then the server closes
    assert conn.exchange(REQUEST) == (200, b"all of it", True)


def test_head_and_204_have_no_body(canned):
    conn, _server = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", b"HTTP/1.1 204 No Content\r\n\r\n")
    assert conn.exchange(REQUEST, head_only=True) == (200, b"", False)
    assert conn.exchange(REQUEST) == (204, b"", False)


def test_a_server_that_closes_without_answering_is_a_reset(canned):
    conn, _server = canned(None)
    with pytest.raises(http.client.RemoteDisconnected) as error:
        conn.exchange(REQUEST)
    assert http_target.classify_error(error.value) == "connection_reset"


def test_a_malformed_status_line_is_a_protocol_error(canned):
    conn, _server = canned(b"SSH-2.0-OpenSSH\r\n\r\n")
    with pytest.raises(http.client.HTTPException) as error:
        conn.exchange(REQUEST)
    assert http_target.classify_error(error.value) == "protocol"


def test_the_request_carries_host_headers_and_body_length():
    target = http_target.url_target("http://example.test:8080/v1?x=1")
    request = target.request_bytes("POST", {"X-Trace": "1"}, b"{}")
    head, body = request.split(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1?x=1 HTTP/1.1"
    assert b"Host: example.test:8080" in lines and b"X-Trace: 1" in lines and b"Content-Length: 2" in lines
    assert body == b"{}"
    custom = target.request_bytes("GET", {"Host": "mesh.example.com"}, None)
    assert custom.count(b"Host:") == 1 and b"Host: mesh.example.com" in custom
