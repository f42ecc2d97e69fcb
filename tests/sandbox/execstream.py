"""`pods/exec` as the API server and the kubelet answer it: a WebSocket carrying the channel protocol.

What the real path does, end to end (the parts a client can see):

- The request is a GET upgraded to a WebSocket (RFC 6455) whose subprotocol is one of the Kubernetes channel
  protocols the client offers (``v5.channel.k8s.io``, ``v4.channel.k8s.io``: apimachinery's wsstream; kubectl 1.30+
  and the Python client offer v5 first, then v4). A request that is not an upgrade gets 400 "Upgrade request
  required"; one offering no protocol the server speaks gets 400 naming what it supports.
- Before the upgrade the API server checks the pod (its REST strategy's ExecLocation): 404 when it does not exist; a
  container name is required when the pod has more than one ("a container name must be specified for pod P,
  choose one of: [...]"); a name the pod does not have is "container C is not valid for pod P"; a pod in phase
  Succeeded or Failed is "cannot exec into a container in a completed pod; current phase is PHASE"; a pod not yet
  bound to a node "does not have a host assigned". A container that is not running is refused by the kubelet
  ('unable to upgrade connection: container not found ("C")').
- Authorization is the GET's: verb ``get`` on ``pods/exec`` (Kubernetes 1.30-1.34 authorize the WebSocket upgrade
  as a get; the create check came later behind AuthorizePodWebsocketUpgradeCreatePermission).
- Each message is a binary frame whose first byte is the channel: 0 stdin, 1 stdout, 2 stderr, 3 the error
  channel, 4 resize; v5 adds 255, a client's "close this channel" (stdin's end of file). When the command ends,
  the error channel carries a Status: ``{"metadata": {}, "status": "Success"}``, or for a non-zero exit a Failure
  with reason NonZeroExitCode, the exit code as the message of the cause ExitCode, and the runtime's message
  ("command terminated with non-zero exit code: error executing command [ARGV], exit code N", containerd's CRI
  exec); then the server closes the socket (close code 1000).
- A program the container's image lacks fails inside the runtime: an InternalError Status on the error channel
  whose message is the OCI runtime's 'exec: "P": executable file not found in $PATH'.

What runs is sandbox/shell.py's subset: the container's image is taken to hold the programs that subset knows
(shell.PROGRAMS, less what sandbox/images.py says the image lacks) and none other. Standard input is bytes, so
``tar -x`` (kubernetes.core's k8s_cp, ``kubectl cp``) gets an archive intact; a client that closes the socket
after writing it (k8s_cp does) has ended standard input, and the command still runs. The container's files
(sandbox/filesystem.py) are its image's directories and the ones the kubelet writes
into every container: /etc/resolv.conf (ClusterFirst: the pod's namespace's search path, then the node's, the
cluster DNS Service's address, ndots:5 - kubernetes.io/docs/concepts/services-networking/dns-pod-service/; on EKS
the DNS address is .10 of the service CIDR and the node's search domain is REGION.compute.internal, ec2.internal in
us-east-1), /etc/hosts (the kubelet-managed hosts file with the pod's own address and name) and /etc/hostname.
"""

import base64
import hashlib
import json
import select
import struct
import time
import urllib.parse

from . import containers, images, shell
from .filesystem import raw
from .api import ApiError, query_bool

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
STDIN, STDOUT, STDERR, ERROR, CLOSE = 0, 1, 2, 3, 255
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CLUSTER_DNS = "10.100.0.10"  # EKS: .10 of the cluster's service CIDR (10.100.0.0/16 here)
NODE_SEARCH = "ec2.internal"  # the node's own search domain in us-east-1
CHUNK = 32 * 1024


def _pods(api):
    return api.registry.find("", "v1", "pods")


def check(api, namespace, name, container):
    """The pod and the container name an exec request reaches, or the ApiError the API server answers first."""
    pod = api.get(_pods(api), namespace, name)
    spec = pod.get("spec") or {}
    container = containers.container_of(pod, container)
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise ApiError(400, "BadRequest", "cannot exec into a container in a completed pod; current phase is %s"
                       % phase)
    if not spec.get("nodeName"):
        raise ApiError(400, "BadRequest", "pod %s does not have a host assigned" % name)
    statuses = (pod.get("status") or {}).get("containerStatuses", []) + \
        (pod.get("status") or {}).get("initContainerStatuses", [])
    running = any(s.get("name") == container and "running" in (s.get("state") or {}) for s in statuses)
    if not running:
        raise ApiError(500, "InternalError", 'unable to upgrade connection: container not found ("%s")' % container)
    return pod, container


def files(pod):
    """The files the kubelet writes into each of the pod's containers: {path: text}."""
    spec = pod.get("spec") or {}
    meta = pod["metadata"]
    namespace = meta.get("namespace", "default")
    hostname = spec.get("hostname") or meta["name"]
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    config = spec.get("dnsConfig") or {}
    if policy == "None":
        servers, searches, options = [], [], []
    elif policy == "Default":
        servers, searches, options = ["192.168.0.2"], [NODE_SEARCH], []  # the VPC's resolver (.2 of the VPC CIDR)
    else:
        servers = [CLUSTER_DNS]
        searches = ["%s.svc.cluster.local" % namespace, "svc.cluster.local", "cluster.local", NODE_SEARCH]
        options = ["ndots:5"]
    servers = servers + [s for s in config.get("nameservers") or [] if s not in servers]
    searches = searches + [s for s in config.get("searches") or [] if s not in searches]
    for option in config.get("options") or []:
        text = option["name"] + (":%s" % option["value"] if option.get("value") is not None else "")
        options = [o for o in options if o.split(":", maxsplit=1)[0] != option["name"]] + [text]
    resolv = "".join(["search %s\n" % " ".join(searches)] if searches else []) + \
        "".join("nameserver %s\n" % s for s in servers) + \
        ("options %s\n" % " ".join(options) if options else "")
    address = (pod.get("status") or {}).get("podIP", "")
    fqdn = "%s.%s.%s.svc.cluster.local" % (hostname, spec["subdomain"], namespace) if spec.get("subdomain") else ""
    hosts = ("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
             "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
    if address:
        hosts += "%s\t%s\n" % (address, "\t".join(n for n in (fqdn, hostname) if n))
    return {"/etc/resolv.conf": resolv, "/etc/hosts": hosts, "/etc/hostname": hostname + "\n"}


def handshake(handler):
    """Answer the upgrade (101 and the chosen channel protocol); returns the protocol, or raises the 400."""
    if handler.headers.get("Upgrade", "").lower() != "websocket" or not handler.headers.get("Sec-WebSocket-Key"):
        raise ApiError(400, "BadRequest", "Upgrade request required")
    offered = [p.strip() for value in handler.headers.get_all("Sec-WebSocket-Protocol") or []
               for p in value.split(",") if p.strip()]
    chosen = next((p for p in offered if p in PROTOCOLS), None)
    if chosen is None:
        raise ApiError(400, "BadRequest", "requested protocol(s) are not supported: %s; supports %s"
                       % (offered, list(PROTOCOLS)))
    accept = base64.b64encode(hashlib.sha1((handler.headers["Sec-WebSocket-Key"] + WEBSOCKET_GUID).encode())
                              .digest()).decode()
    handler.send_response(101)
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept)
    handler.send_header("Sec-WebSocket-Protocol", chosen)
    handler.status_sent = 101
    handler._log_request()  # pylint: disable=protected-access
    handler.end_headers()
    handler.wfile.flush()
    return chosen


def write_frame(stream, opcode, payload):
    """One unmasked frame, as a server sends (RFC 6455 section 5.2)."""
    head = bytes([0x80 | opcode])
    length = len(payload)
    if length < 126:
        head += bytes([length])
    elif length < 1 << 16:
        head += bytes([126]) + struct.pack("!H", length)
    else:
        head += bytes([127]) + struct.pack("!Q", length)
    stream.write(head + payload)
    stream.flush()


def read_frame(stream):
    """(opcode, payload) of the client's next frame (masked, as every client frame is); (None, b"") at the end."""
    head = stream.read(2)
    if len(head) < 2:
        return None, b""
    opcode, length = head[0] & 0x0F, head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", stream.read(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", stream.read(8))[0]
    mask = stream.read(4) if head[1] & 0x80 else b"\0\0\0\0"
    data = stream.read(length)
    if not length or mask == b"\0\0\0\0":
        return opcode, data
    # unmasking (RFC 6455 section 5.3) as one integer XOR: a copy of many megabytes stays cheap
    key = (mask * (length // 4 + 1))[:length]
    return opcode, (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big")


def _stdin(handler, protocol):
    """What the client writes on stdin until it closes it (v5: the close-channel message; v4: the socket's end)."""
    data = []
    while True:
        opcode, payload = read_frame(handler.rfile)
        if opcode is None or opcode == OP_CLOSE:
            return b"".join(data)
        if opcode == OP_PING:
            write_frame(handler.wfile, OP_PONG, payload)
        elif opcode in (OP_BINARY, OP_TEXT, OP_CONTINUATION) and payload:
            if payload[0] == STDIN:
                data.append(payload[1:])
            elif protocol == PROTOCOLS[0] and payload[0] == CLOSE and payload[1:2] == bytes([STDIN]):
                return b"".join(data)


def _script(argv):
    """The shell script an exec's argv amounts to (a shell's -c script, or the program and its arguments)."""
    return shell.script_of({"command": argv}) or " ".join(shell.quote(a) for a in argv)


def _status(argv, code, missing):
    if missing:
        message = ('error executing command in container: failed to exec in container: failed to start exec: OCI '
                   'runtime exec failed: exec failed: unable to start container process: exec: "%s": executable file '
                   'not found in $PATH: unknown' % missing)
        return {"metadata": {}, "status": "Failure", "message": "Internal error occurred: " + message,
                "reason": "InternalError", "details": {"causes": [{"message": message}]}, "code": 500}
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": "command terminated with non-zero exit code: error executing command [%s], exit code %d"
                       % (" ".join(argv), code),
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def serve(handler, sandbox, namespace, name):
    """Answer one exec request on ``handler``'s connection, from the check to the closing frame. The command runs
    as a process in the container (sandbox/shell.py), in real time: its output is sent as it is written, its
    sleeps take their time, and a client that goes away ends it, as the runtime kills an exec whose stream is
    closed."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(handler.path).query)
    argv = query.get("command") or []
    if not argv:
        raise ApiError(400, "BadRequest", "you must specify at least 1 command")
    if not any(query_bool(query.get(stream)) for stream in ("stdin", "stdout", "stderr")):
        # (pkg/registry/core/pod/rest/subresources.go: the streams default to false, and one is needed)
        raise ApiError(400, "BadRequest", "you must specify at least one of stdin, stdout, stderr")
    pod, container = check(sandbox.api, namespace, name, (query.get("container") or [""])[0])
    protocol = handshake(handler)
    handler.close_connection = True
    script = _script(argv)
    stdin = _stdin(handler, protocol) if query_bool(query.get("stdin")) and \
        shell.reads_stdin(script) else b""
    wanted = {STDOUT: query_bool(query.get("stdout")), STDERR: query_bool(query.get("stderr"))}

    gone = []

    def emit(fd, output):
        output = raw(output)
        # the kubelet copies a stream 32 KiB at a time (io.Copy's buffer), each read a frame of its own; once the
        # client has gone, the process runs on with its output dropped
        for start in range(0, len(output), CHUNK):
            if gone or not wanted.get(fd):
                return
            try:
                write_frame(handler.wfile, OP_BINARY, bytes([fd]) + output[start:start + CHUNK])
            except (BrokenPipeError, ConnectionResetError):
                gone.append(True)
    programs = images.programs(containers.spec_of(pod, container).get("image"), shell.PROGRAMS)
    missing = shell.missing_program(script, programs)
    code = 127
    try:
        if not missing:
            files_of = sandbox.controllers.runtime.container_files(pod, container, files(pod))
            process = shell.Process(script, sandbox.controllers.http_from(pod), emit, files_of, stdin,
                                    (pod.get("spec") or {}).get("hostname") or name, programs)
            code = _drive(handler, process.steps())
            if code is None or gone:
                return  # the client went away
        write_frame(handler.wfile, OP_BINARY, bytes([ERROR]) + json.dumps(_status(argv, code, missing)).encode())
        write_frame(handler.wfile, OP_CLOSE, struct.pack("!H", 1000))
    except (BrokenPipeError, ConnectionResetError):
        pass


def _drive(handler, steps):
    """Run a process's steps, waiting out each sleep unless the client closes the stream; its exit code, or None
    when the client went away first."""
    try:
        while True:
            seconds = next(steps)
            deadline = time.time() + seconds
            while True:
                left = deadline - time.time()
                if left <= 0:
                    break
                if select.select([handler.connection], [], [], None if left == float("inf") else left)[0]:
                    opcode, dummy = read_frame(handler.rfile)
                    if opcode in (None, OP_CLOSE):
                        return None
    except StopIteration as done:
        return done.value
