"""Protobuf request bodies, as kubectl's typed generators send them (`kubectl create namespace`, `create
deployment`, ...): Content-Type application/vnd.kubernetes.protobuf, the 4 bytes ``k8s\\x00``, then a
runtime.Unknown whose typeMeta names the kind and whose raw holds the encoded object
(kubernetes.io/docs/reference/using-api/api-concepts/#protobuf-encoding).

The messages are Kubernetes' own generated.proto files of release 1.32 (../shared/upstream/kubernetes/1.32.13,
found by sandbox/upstream.py), compiled once with grpcio-tools into a descriptor set (no code is generated or
kept); where they are missing the sandbox answers 415 saying that protobuf bodies are unavailable. The decoded
object is turned into the JSON the same request would have carried: Quantity, IntOrString, Time, MicroTime,
Duration, RawExtension and FieldsV1 take their JSON forms, bytes are base64, and a field present but empty
(proto2) stays present."""

import base64
import datetime
import glob
import json
import os
import subprocess
import sys
import tempfile
import threading

from . import upstream

MAGIC = b"k8s\x00"
RELEASE = "1.32.13"
META = "k8s.io.apimachinery.pkg.apis.meta.v1."
_LOCK = threading.Lock()
_POOL = {}


class Unavailable(Exception):
    """The message definitions are not at hand."""


class BadBody(Exception):
    """The body is not a Kubernetes protobuf envelope of a known kind."""


def _proto_root():
    shared = upstream.shared_dir()
    root = os.path.join(shared, "kubernetes", RELEASE) if shared else None
    if not root or not os.path.isdir(os.path.join(root, "k8s.io")):
        raise Unavailable("protobuf bodies are unavailable in this sandbox: the Kubernetes %s message definitions "
                          "(k8s.io/api and k8s.io/apimachinery generated.proto) are not in ../shared/upstream; "
                          "send JSON or YAML (kubectl create -f, apply)" % RELEASE)
    return root


def _pool():
    """The descriptor pool of every generated.proto, compiled once per process (and cached on disk)."""
    with _LOCK:
        if "pool" in _POOL:
            return _POOL["pool"]
        try:
            from google.protobuf import descriptor_pb2, descriptor_pool  # pylint: disable=import-outside-toplevel
        except ImportError:
            raise Unavailable("protobuf bodies are unavailable in this sandbox: the protobuf package is missing")
        root = _proto_root()
        cache = os.path.join(upstream.CACHE, "kubernetes-%s.descriptors" % RELEASE)
        if not os.path.exists(cache):
            found = glob.glob(os.path.join(root, "k8s.io", "**", "*.proto"), recursive=True)
            protos = sorted(os.path.relpath(p, root) for p in found)
            os.makedirs(os.path.dirname(cache), exist_ok=True)
            handle, partial = tempfile.mkstemp(dir=os.path.dirname(cache))
            os.close(handle)
            proc = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", root, "--include_imports",
                                   "--descriptor_set_out=" + partial] + protos, capture_output=True, text=True,
                                  check=False, timeout=300)
            if proc.returncode != 0:
                os.unlink(partial)
                raise Unavailable("protobuf bodies are unavailable in this sandbox: protoc failed: %s"
                                  % proc.stderr.strip()[-500:])
            os.replace(partial, cache)
        files = descriptor_pb2.FileDescriptorSet()
        with open(cache, "rb") as handle:
            files.ParseFromString(handle.read())
        pool = descriptor_pool.DescriptorPool()
        for proto in files.file:
            pool.Add(proto)
        _POOL["pool"] = pool
        return pool


def _message(full_name):
    from google.protobuf import message_factory  # pylint: disable=import-outside-toplevel
    try:
        descriptor = _pool().FindMessageTypeByName(full_name)
    except KeyError:
        raise BadBody("no protobuf message %s" % full_name)
    return message_factory.GetMessageClass(descriptor)()


def _go_duration(nanos):
    """time.Duration.String(): 1h0m0s, 1m30s, 1.5s, 0s."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    hours, rest = divmod(nanos, 3600 * 10 ** 9)
    minutes, rest = divmod(rest, 60 * 10 ** 9)
    seconds = rest / 1e9
    text = ("%dh" % hours if hours else "") + ("%dm" % minutes if hours or minutes else "")
    return sign + text + ("%g" % seconds) + "s"


def _time(message, micro=False):
    if not message.seconds and not message.nanos:
        return None  # Go's zero time, which JSON writes as null
    stamp = datetime.datetime.fromtimestamp(message.seconds, tz=datetime.timezone.utc)
    if micro:
        return stamp.strftime("%Y-%m-%dT%H:%M:%S") + ".%06dZ" % (message.nanos // 1000)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


SPECIAL = {
    "k8s.io.apimachinery.pkg.api.resource.Quantity": lambda m: m.string,
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": lambda m: m.strVal if m.type == 1 else m.intVal,
    META + "Time": _time,
    META + "MicroTime": lambda m: _time(m, micro=True),
    META + "Duration": lambda m: _go_duration(m.duration),
    META + "FieldsV1": lambda m: json.loads(m.Raw or b"{}"),
    "k8s.io.apimachinery.pkg.runtime.RawExtension": lambda m: json.loads(m.raw) if m.raw else None,
}


# Go writes a value field into protobuf always and a pointer field only when it is set; the JSON of the same
# object omits a value field's zero ("", 0, false: `omitempty`). So a zero scalar is dropped, except in the
# pointer fields below, where a zero that is present was set on purpose (replicas: 0, automountServiceAccountToken:
# false, storageClassName: "" ...) - the present-but-empty distinction of proto2.
POINTER_FIELDS = frozenset((
    "replicas", "parallelism", "completions", "backoffLimit", "backoffLimitPerIndex", "maxFailedIndexes",
    "revisionHistoryLimit", "progressDeadlineSeconds", "terminationGracePeriodSeconds", "activeDeadlineSeconds",
    "ttlSecondsAfterFinished", "startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit",
    "automountServiceAccountToken", "suspend", "manualSelector", "storageClassName", "volumeMode", "runAsUser",
    "runAsGroup", "runAsNonRoot", "privileged", "readOnlyRootFilesystem", "allowPrivilegeEscalation", "fsGroup",
    "immutable", "optional", "defaultMode", "mode", "hostUsers", "shareProcessNamespace", "enableServiceLinks",
    "allocateLoadBalancerNodePorts", "loadBalancerClass", "publishNotReadyAddresses", "timeoutSeconds",
    "periodSeconds", "successThreshold", "failureThreshold", "initialDelaySeconds", "expirationSeconds",
    "minAvailable", "maxUnavailable", "maxSurge", "partition", "priority", "preemptionPolicy"))


def _zero(field, value):
    return field.message_type is None and not _repeated(field) and value in ("", 0, False) and \
        field.name not in POINTER_FIELDS


def to_json(message):
    """The object's JSON form: the fields present in the message, by their JSON (proto) names."""
    special = SPECIAL.get(message.DESCRIPTOR.full_name)
    if special is not None:
        return special(message)
    out = {}
    for field, value in message.ListFields():
        if _zero(field, value):
            continue
        out[field.json_name if field.json_name else field.name] = _value(field, value)
    return out


def _repeated(field):
    """protobuf 7 has is_repeated where older releases had label == LABEL_REPEATED."""
    repeated = getattr(field, "is_repeated", None)
    if repeated is not None:
        return repeated
    return field.label == field.LABEL_REPEATED


def _value(field, value):
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value_field = field.message_type.fields_by_name["value"]
        return dict((key, _scalar(value_field, item)) for key, item in value.items())
    if _repeated(field):
        return [_scalar(field, item) for item in value]
    return _scalar(field, value)


def _scalar(field, value):
    if field.message_type is not None:
        return to_json(value)
    if field.type == field.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    return value


def unknown_fields(message):
    """Paths of fields the message definition does not know (the Go decoder drops them)."""
    found = []
    try:
        from google.protobuf import unknown_fields as unknown  # pylint: disable=import-outside-toplevel
        if len(unknown.UnknownFieldSet(message)):
            found.append(message.DESCRIPTOR.full_name)
    except (ImportError, AttributeError):
        pass
    for field, value in message.ListFields():
        if field.message_type is None or field.message_type.GetOptions().map_entry:
            continue
        for item in (value if _repeated(field) else [value]):
            found.extend(unknown_fields(item))
    return found


def decode(raw):
    """(object as JSON, paths of unknown fields) of a protobuf request body."""
    if not raw.startswith(MAGIC):
        raise BadBody("the body does not start with the Kubernetes protobuf prefix k8s\\x00")
    envelope = _message("k8s.io.apimachinery.pkg.runtime.Unknown")
    try:
        envelope.ParseFromString(raw[len(MAGIC):])
    except Exception as exc:  # google.protobuf.message.DecodeError
        raise BadBody("the protobuf envelope does not decode: %s" % exc)
    api_version, kind = envelope.typeMeta.apiVersion, envelope.typeMeta.kind
    group, dummy, version = api_version.rpartition("/")
    package = "k8s.io.api.%s.%s" % (group.split(".")[0] if group else "core", version)
    message = _message("%s.%s" % (package, kind))
    try:
        message.ParseFromString(envelope.raw)
    except Exception as exc:  # google.protobuf.message.DecodeError
        raise BadBody("the %s %s does not decode: %s" % (api_version, kind, exc))
    obj = to_json(message)
    obj["apiVersion"], obj["kind"] = api_version, kind
    return obj, unknown_fields(message)
