"""The emulated API server's semantics, apart from HTTP: storage, metadata,
defaulting, admission, validation, patches, selectors, events for watch."""

import base64
import collections
import copy
import datetime
import hashlib
import ipaddress
import json
import random
import secrets
import threading
import uuid

from . import yamlio as yaml

from . import fieldmanager, tokens
from . import patch as patching
from . import schemas, validation
from .registry import Kind, Registry
from .selection import SelectorError, field_matches, label_matches, parse_field_selector, parse_label_selector


NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
RANDOM = random.SystemRandom()
GENERATION_GROUPS = {"apps", "batch", "policy", "networking.k8s.io", "autoscaling", "apiextensions.k8s.io"}


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def later(seconds):
    """The timestamp ``seconds`` from now."""
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"


def query_bool(value):
    """A boolean query parameter as the API server decodes it (apimachinery's Convert_Slice_string_To_bool): absent,
    "0" or "false" in any case is false; anything else, the empty string too, is true (the Python client sends
    "True", kubectl "true")."""
    if isinstance(value, list):
        value = value[0] if value else None
    return value is not None and value != "0" and value.lower() != "false"


class ApiError(Exception):
    """An error answered as a Kubernetes Status object."""

    def __init__(self, code, reason, message, details=None):
        Exception.__init__(self, message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def resource_name(kind):
    return kind.plural + ("." + kind.group if kind.group else "")


def kind_name(kind):
    return kind.kind + ("." + kind.group if kind.group else "")


def not_found(kind, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (resource_name(kind), name),
                    {"name": name, "group": kind.group, "kind": kind.plural})


def invalid(kind, name, causes):
    text = ", ".join("%s: %s" % (c["field"], c["message"]) for c in causes)
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (kind_name(kind), name, text),
                    {"name": name, "group": kind.group, "kind": kind.kind,
                     "causes": [{"reason": c.get("reason", "FieldValueInvalid"), "message": c["message"],
                                 "field": c["field"]} for c in causes]})


class Event(object):
    __slots__ = ("rv", "key", "type", "obj")

    def __init__(self, rv, key, etype, obj):
        self.rv = rv
        self.key = key
        self.type = etype
        self.obj = obj


class Api(object):
    """Everything the HTTP layer and the controllers call."""

    def __init__(self):
        self.k8s_version = "1.32.9"  # the cluster process sets the release it runs
        self.registry = Registry()
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = 1000
        self.objects = collections.defaultdict(dict)  # storage key -> {(ns, name): obj}
        self.events = collections.deque(maxlen=50000)
        self.admission = []  # callables(api, kind, obj, old, dry_run) run on create/update
        self.write_hooks = []  # callables(storage_key) run, under the lock, after each stored change
        self.token_key = secrets.token_bytes(32)  # signs ServiceAccount tokens (sandbox/tokens.py)
        self.ca_pem = None  # the cluster's CA certificate, given to token Secrets (the cluster process sets it)
        # pod -> whether its containers outlast SIGTERM (the kubelet answers: sandbox/controllers/kubelet.py)
        self.stops_late = lambda pod: False
        self.next_ip = 10
        self.node_ports = set()
        self.service_cidr = ipaddress.ip_network("10.100.0.0/16")

    # ------------------------------------------------------------ storage

    def _bump(self):
        self.rv += 1
        return str(self.rv)

    def _record(self, kind, etype, obj):
        self.events.append(Event(int(obj["metadata"]["resourceVersion"]), kind.storage_key, etype,
                                 copy.deepcopy(obj)))
        for hook in self.write_hooks:
            hook(kind.storage_key)
        self.changed.notify_all()

    def current_rv(self):
        with self.lock:
            return str(self.rv)

    def kind_for(self, group, version, plural):
        kind = self.registry.find(group, version, plural)
        if kind is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource",
                           {"group": group, "kind": plural})
        return kind

    def decorate(self, kind, obj):
        out = copy.deepcopy(obj)
        out["apiVersion"] = kind.api_version
        out["kind"] = kind.kind
        return out

    def get(self, kind, namespace, name):
        with self.lock:
            obj = self.objects[kind.storage_key].get((namespace if kind.namespaced else None, name))
            if obj is None:
                raise not_found(kind, name)
            return self.decorate(kind, obj)

    def find(self, kind, namespace, name):
        try:
            return self.get(kind, namespace, name)
        except ApiError:
            return None

    def list(self, kind, namespace=None, label_selector=None, field_selector=None):
        try:
            labels = parse_label_selector(label_selector)
            fields = parse_field_selector(field_selector)
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", str(exc))
        with self.lock:
            items = []
            for (ns, _name), obj in sorted(self.objects[kind.storage_key].items(),
                                           key=lambda item: (item[0][0] or "", item[0][1])):
                if namespace and kind.namespaced and ns != namespace:
                    continue
                if not label_matches(labels, obj["metadata"].get("labels")):
                    continue
                if not field_matches(fields, obj):
                    continue
                items.append(self.decorate(kind, obj))
            return items, str(self.rv)

    def all_objects(self):
        """Every stored object as (kind, obj); for snapshots and garbage collection."""
        with self.lock:
            out = []
            for kind in list(self.registry.kinds):
                if getattr(kind, "storage", True) is False:
                    continue
                for obj in self.objects.get(kind.storage_key, {}).values():
                    out.append((kind, self.decorate(kind, obj)))
            seen = set()
            unique = []
            for kind, obj in out:
                uid = obj["metadata"]["uid"]
                if uid not in seen:
                    seen.add(uid)
                    unique.append((kind, obj))
            return unique

    # ------------------------------------------------------------ writes

    def create(self, kind, namespace, body, dry_run=False, field_manager=None, operation="Update"):
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was not a JSON object")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if kind.namespaced:
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the "
                                                  "namespace sent on the request")
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        self._check_kind(kind, obj)
        with self.lock:
            if not meta.get("name") and meta.get("generateName"):
                # SimpleNameGenerator: the prefix (cut to leave room) and 5 characters of
                # k8s.io/apimachinery/pkg/util/rand.String's alphabet; a name already taken is drawn again (the
                # real server answers 409 and clients retry; drawing again here is that retry)
                prefix = meta["generateName"][:63 - 5]
                for dummy_attempt in range(8):
                    meta["name"] = prefix + "".join(RANDOM.choice(NAME_ALPHABET) for dummy in range(5))
                    if (meta.get("namespace"), meta["name"]) not in self.objects[kind.storage_key]:
                        break
            name = meta.get("name")
            if not name:
                raise invalid(kind, "", [{"field": "metadata.name", "reason": "FieldValueRequired",
                                          "message": "Required value: name or generateName is required"}])
            if kind.namespaced:
                self._check_namespace(meta["namespace"])
            key = (meta.get("namespace"), name)
            if key in self.objects[kind.storage_key]:
                raise ApiError(409, "AlreadyExists", '%s "%s" already exists' % (resource_name(kind), name),
                               {"name": name, "group": kind.group, "kind": kind.plural})
            meta.pop("resourceVersion", None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now()
            meta.pop("deletionTimestamp", None)
            if self._has_generation(kind):
                meta["generation"] = 1
            if (kind.group, kind.plural) == ("apps", "daemonsets"):
                meta.setdefault("annotations", {})[TEMPLATE_GENERATION] = "1"
            obj["apiVersion"] = kind.api_version
            obj["kind"] = kind.kind
            if kind.group in self.registry.builtin_groups:  # custom resources keep their JSON as given
                schemas.decode_nulls(kind, obj)
                schemas.drop_empty(kind, obj)
            self._default(kind, obj, None)
            if kind.kind == "Pod" and kind.group == "":
                self._admit_service_account(obj)
            for hook in self.admission:
                hook(self, kind, obj, None, dry_run)
            self._validate(kind, obj)
            if field_manager:
                has_status = "status" in kind.subresources
                if operation == "Apply":
                    meta["managedFields"] = fieldmanager.apply(None, field_manager, kind.api_version, {}, body, obj,
                                                               False, now(), has_status)[1]
                else:
                    meta["managedFields"] = fieldmanager.update(None, field_manager, kind.api_version, None, obj,
                                                                now(), has_status=has_status)
            if dry_run:
                return self.decorate(kind, obj)
            meta["resourceVersion"] = self._bump()
            stored = self._strip(obj)
            self.objects[kind.storage_key][key] = stored
            self._record(kind, "ADDED", stored)
            self._after_write(kind, stored, None)
            if kind.kind == "Namespace" and kind.group == "":
                # the service-account controller makes `default` in a new namespace (within milliseconds on a
                # cluster; here at once, so a pod made right after its namespace does not meet the race)
                accounts = self.registry.find("", "v1", "serviceaccounts")
                self.create(accounts, name, {"metadata": {"name": "default", "namespace": name}})
            if kind.kind == "Secret" and kind.group == "":
                # the token controller fills a ServiceAccount's token Secret (within milliseconds; here at once)
                tokens.populate(self, stored)
                stored = self.objects[kind.storage_key][key]
            return self.decorate(kind, stored)

    def _admit_service_account(self, pod):
        """The ServiceAccount admission plugin (plugin/pkg/admission/serviceaccount): a pod runs as
        spec.serviceAccountName (``default`` when unset), which must exist in its namespace."""
        spec = pod.setdefault("spec", {})
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        spec["serviceAccountName"] = account
        namespace = pod["metadata"]["namespace"]
        if self.find(self.registry.find("", "v1", "serviceaccounts"), namespace, account) is None:
            raise ApiError(403, "Forbidden", 'pods "%s" is forbidden: error looking up service account %s/%s: '
                                             'serviceaccount "%s" not found' % (pod["metadata"]["name"], namespace,
                                                                                account, account),
                           {"name": pod["metadata"]["name"], "kind": "pods"})

    def replace(self, kind, namespace, name, body, dry_run=False, subresource=None, field_manager=None):
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was not a JSON object")
        with self.lock:
            old = self._stored(kind, namespace, name)
            meta = body.get("metadata") or {}
            if meta.get("name") and meta["name"] != name:
                raise ApiError(400, "BadRequest", "the name of the object (%s) does not match the name on the URL "
                                                  "(%s)" % (meta["name"], name))
            rv = meta.get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise self._conflict(kind, name)
            return self._update(kind, old, copy.deepcopy(body), dry_run, subresource, field_manager)

    def patch(self, kind, namespace, name, content_type, raw, dry_run=False, subresource=None,
              field_manager=None, force=False):
        content_type = (content_type or "").split(";")[0].strip()
        try:
            if content_type == "application/apply-patch+yaml":
                body = yaml.safe_load(raw) if raw else {}
            else:
                body = json.loads(raw or b"null")
        except (ValueError, yaml.YAMLError) as exc:
            raise ApiError(400, "BadRequest", "error decoding patch: %s" % exc)
        with self.lock:
            old = self.objects[kind.storage_key].get((namespace if kind.namespaced else None, name))
            if content_type == "application/apply-patch+yaml":
                if not isinstance(body, dict):
                    raise ApiError(400, "BadRequest", "apply patch must be an object")
                if not field_manager:
                    raise ApiError(400, "BadRequest", "PATCH, application/apply-patch+yaml requests require a "
                                                      "fieldManager")
                if old is None:
                    return self.create(kind, namespace, body, dry_run=dry_run, field_manager=field_manager,
                                       operation="Apply")
                current = self.decorate(kind, old)
                try:
                    merged, managed = fieldmanager.apply(
                        old["metadata"].get("managedFields"), field_manager, kind.api_version, current, body,
                        patching.strategic_merge(current, body), force, now(), "status" in kind.subresources)
                except fieldmanager.FieldConflict as exc:
                    raise ApiError(409, "Conflict", exc.message, {"causes": exc.causes})
                merged.setdefault("metadata", {})["managedFields"] = managed
                return self._update(kind, old, merged, dry_run, subresource, None)
            if old is None:
                raise not_found(kind, name)
            current = self.decorate(kind, old)
            if content_type == "application/json-patch+json":
                if not isinstance(body, list):
                    raise ApiError(400, "BadRequest", "json patch must be a list of operations")
                try:
                    merged = patching.json_patch(current, body)
                except patching.PatchError as exc:
                    raise ApiError(422, "Invalid", "the server rejected our request due to an error in our "
                                                   "request: %s" % exc)
            elif content_type == "application/merge-patch+json":
                merged = patching.merge_patch(current, body)
            elif content_type == "application/strategic-merge-patch+json":
                if kind.group not in self.registry.builtin_groups or kind.schema is not None:
                    raise ApiError(415, "UnsupportedMediaType",
                                   "the body of the request was in an unknown format - accepted media types "
                                   "include: application/json-patch+json, application/merge-patch+json, "
                                   "application/apply-patch+yaml")
                merged = patching.strategic_merge(current, body)
            else:
                raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                                                            "accepted media types include: "
                                                            "application/json-patch+json, "
                                                            "application/merge-patch+json, "
                                                            "application/apply-patch+yaml, "
                                                            "application/strategic-merge-patch+json")
            rv = ((body if isinstance(body, dict) else {}).get("metadata") or {}).get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise self._conflict(kind, name)
            return self._update(kind, old, merged, dry_run, subresource, field_manager)

    def _update(self, kind, old, new, dry_run, subresource, field_manager):
        name = old["metadata"]["name"]
        if not isinstance(new, dict):
            raise ApiError(400, "BadRequest", "the patched object is not a JSON object")
        new.setdefault("metadata", {})
        if subresource == "status":
            merged = copy.deepcopy(old)
            merged["status"] = copy.deepcopy(new.get("status"))
            if kind.kind == "Pod":
                # pods/status may change the pod's labels and annotations too, not its owner references (kubernetes
                # pkg/registry/core/pod/strategy.go, podStatusStrategy.PrepareForUpdate); Istio's CNI node agent
                # marks ambient pods that way (istio cni/pkg/util/podutil.go: "Both pods and pods/status can mutate
                # the metadata")
                for field in ("labels", "annotations"):
                    if (new.get("metadata") or {}).get(field) is not None:
                        merged["metadata"][field] = copy.deepcopy(new["metadata"][field])
                    else:
                        merged["metadata"].pop(field, None)
            new = merged
        elif subresource in (None, "") and "status" in kind.subresources:
            new["status"] = copy.deepcopy(old.get("status"))
            if new["status"] is None:
                new.pop("status")
        elif subresource == "scale":
            replicas = ((new.get("spec") or {}).get("replicas"))
            new = copy.deepcopy(old)
            new.setdefault("spec", {})["replicas"] = replicas
        meta = new["metadata"]
        for field in ("uid", "creationTimestamp", "namespace", "name", "deletionTimestamp"):
            if field in old["metadata"]:
                meta[field] = old["metadata"][field]
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        if "generation" in old["metadata"]:
            meta["generation"] = old["metadata"]["generation"]
        if meta.get("managedFields") is None and old["metadata"].get("managedFields"):
            meta["managedFields"] = copy.deepcopy(old["metadata"]["managedFields"])
        self._check_kind(kind, new)
        new["apiVersion"] = kind.api_version
        new["kind"] = kind.kind
        if kind.group in self.registry.builtin_groups:
            schemas.decode_nulls(kind, new)
            schemas.drop_empty(kind, new)
        self._default(kind, new, old)
        for hook in self.admission:
            hook(self, kind, new, old, dry_run)
        self._validate(kind, new, old)
        if self._has_generation(kind) and self._spec_of(new) != self._spec_of(old):
            meta["generation"] = old["metadata"].get("generation", 1) + 1
        if (kind.group, kind.plural) == ("apps", "daemonsets") and subresource is None:
            # apps/v1 keeps the DaemonSet's templateGeneration in an annotation: 1 at create, one more for each
            # template change (pkg/registry/apps/daemonset/strategy.go; pkg/apis/apps/v1/conversion.go)
            was = int((old["metadata"].get("annotations") or {}).get(TEMPLATE_GENERATION, "1"))
            changed = (new.get("spec") or {}).get("template") != (old.get("spec") or {}).get("template")
            meta.setdefault("annotations", {})[TEMPLATE_GENERATION] = str(was + 1 if changed else was)
        if field_manager:
            meta["managedFields"] = fieldmanager.update(meta.get("managedFields"), field_manager, kind.api_version,
                                                        old, new, now(), subresource, "status" in kind.subresources)
        if self._strip(new) == self._strip(old):
            return self.decorate(kind, old)  # no change: same resourceVersion, no event
        if dry_run:
            return self.decorate(kind, new)
        meta["resourceVersion"] = self._bump()
        stored = self._strip(new)
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and kind.kind != "Namespace" and \
                not meta.get("deletionGracePeriodSeconds"):  # a pod stopping gracefully goes when its kubelet says
            # the last finalizer is gone from an object being deleted: it goes now
            self.objects[kind.storage_key][(meta.get("namespace"), name)] = stored
            return self.remove(kind, stored)
        self.objects[kind.storage_key][(meta.get("namespace"), name)] = stored
        self._record(kind, "MODIFIED", stored)
        self._after_write(kind, stored, old)
        return self.decorate(kind, stored)

    def delete(self, kind, namespace, name, dry_run=False, propagation=None, preconditions=None, grace=None):
        with self.lock:
            old = self._stored(kind, namespace, name)
            if preconditions:
                if preconditions.get("uid") and preconditions["uid"] != old["metadata"]["uid"]:
                    raise ApiError(409, "Conflict", "Precondition failed: UID in precondition: %s, UID in object "
                                                    "meta: %s" % (preconditions["uid"], old["metadata"]["uid"]))
                if preconditions.get("resourceVersion") and \
                        preconditions["resourceVersion"] != old["metadata"]["resourceVersion"]:
                    raise self._conflict(kind, name)
            if dry_run:
                return self.decorate(kind, old)
            if kind.kind == "Namespace":
                return self._terminate_namespace(kind, old)
            if propagation == "Foreground" and self._dependents(old["metadata"]["uid"]):
                return self._delete_foreground(kind, old)
            seconds = self._grace_period(kind, old, grace)
            if seconds:
                return self._terminate_pod(kind, old, seconds)
            if old["metadata"].get("finalizers"):
                return self._mark_deleted(kind, old)
            return self.remove(kind, old, propagation)

    def _grace_period(self, kind, pod, grace):
        """The seconds a deleted pod is given to stop: a running pod on a node is deleted gracefully - it keeps a
        deletionTimestamp that far ahead while its kubelet stops the containers, and goes once they have (the
        request's gracePeriodSeconds, else spec.terminationGracePeriodSeconds, 30 by default; 0 deletes at once)
        (kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination). The sandbox keeps that state
        only for a pod whose container outlasts SIGTERM (``stops_late``: a sleep as PID 1); any other pod's
        containers are taken to stop at once on SIGTERM, and it goes with the DELETE."""
        if kind.kind != "Pod" or kind.group != "":
            return 0
        spec = pod.get("spec") or {}
        if not spec.get("nodeName") or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        if not pod["metadata"].get("deletionTimestamp") and not self.stops_late(pod):
            return 0
        seconds = grace if grace is not None else spec.get("terminationGracePeriodSeconds", 30)
        try:
            return max(0, int(seconds))
        except (TypeError, ValueError):
            return 0

    def _terminate_pod(self, kind, old, seconds):
        current = old["metadata"].get("deletionGracePeriodSeconds")
        if old["metadata"].get("deletionTimestamp") and current is not None and current <= seconds:
            return self.decorate(kind, old)  # a later delete may shorten the grace period, never lengthen it
        new = copy.deepcopy(old)
        new["metadata"]["deletionTimestamp"] = later(seconds)
        new["metadata"]["deletionGracePeriodSeconds"] = seconds
        new["metadata"]["resourceVersion"] = self._bump()
        self.objects[kind.storage_key][(old["metadata"].get("namespace"), old["metadata"]["name"])] = new
        self._record(kind, "MODIFIED", new)
        return self.decorate(kind, new)

    def _dependents(self, uid):
        return [(k, o) for k, o in self.all_objects()
                if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])]

    def _delete_foreground(self, kind, old):
        """propagationPolicy Foreground: the owner gets the finalizer foregroundDeletion and a deletionTimestamp,
        the garbage collector deletes its dependents (in the foreground too), and the owner goes once the last of
        them is gone (kubernetes.io/docs/concepts/architecture/garbage-collection/#foreground-deletion)."""
        new = copy.deepcopy(old)
        finalizers = new["metadata"].get("finalizers") or []
        if "foregroundDeletion" not in finalizers:
            new["metadata"]["finalizers"] = finalizers + ["foregroundDeletion"]
        new["metadata"].setdefault("deletionTimestamp", now())
        new["metadata"].setdefault("deletionGracePeriodSeconds", 0)
        new["metadata"]["resourceVersion"] = self._bump()
        self.objects[kind.storage_key][(old["metadata"].get("namespace"), old["metadata"]["name"])] = new
        self._record(kind, "MODIFIED", new)
        for dep_kind, dep in self._dependents(old["metadata"]["uid"]):
            try:
                self.delete(dep_kind, dep["metadata"].get("namespace"), dep["metadata"]["name"],
                            propagation="Foreground")
            except ApiError:
                pass
        self._release_foreground(old["metadata"]["uid"])
        found = self.find(kind, old["metadata"].get("namespace"), old["metadata"]["name"])
        return self.decorate(kind, found if found is not None else new)

    def _release_foreground(self, uid):
        """The garbage collector takes foregroundDeletion off an owner whose dependents are all gone."""
        for kind, obj in self.all_objects():
            if obj["metadata"]["uid"] != uid:
                continue
            finalizers = obj["metadata"].get("finalizers") or []
            if "foregroundDeletion" in finalizers and not self._dependents(uid):
                new = copy.deepcopy(obj)
                new["metadata"]["finalizers"] = [f for f in finalizers if f != "foregroundDeletion"]
                if not new["metadata"]["finalizers"]:
                    del new["metadata"]["finalizers"]
                    self.remove(kind, new)
                else:
                    new["metadata"]["resourceVersion"] = self._bump()
                    self.objects[kind.storage_key][(obj["metadata"].get("namespace"), obj["metadata"]["name"])] = new
                    self._record(kind, "MODIFIED", new)
            return

    def _mark_deleted(self, kind, old):
        """An object with finalizers is not removed by DELETE: it gets a deletionTimestamp and stays until its
        finalizers are emptied by their controllers (Kubernetes API conventions, "Finalizers"; the object is
        returned with 200, as kube-apiserver answers such a DELETE)."""
        if old["metadata"].get("deletionTimestamp"):
            if not old["metadata"].get("deletionGracePeriodSeconds"):
                return self.decorate(kind, old)
        new = copy.deepcopy(old)
        new["metadata"]["deletionTimestamp"] = now()
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        new["metadata"]["resourceVersion"] = self._bump()
        self.objects[kind.storage_key][(old["metadata"].get("namespace"), old["metadata"]["name"])] = new
        self._record(kind, "MODIFIED", new)
        return self.decorate(kind, new)

    def remove(self, kind, old, propagation=None):
        """Take an object out of storage and let the garbage collector follow."""
        with self.lock:
            key = (old["metadata"].get("namespace"), old["metadata"]["name"])
            if key not in self.objects[kind.storage_key]:
                return self.decorate(kind, old)
            del self.objects[kind.storage_key][key]
            gone = copy.deepcopy(old)
            gone["metadata"]["resourceVersion"] = self._bump()
            self._record(kind, "DELETED", gone)
            if kind.kind == "CustomResourceDefinition":
                self._drop_crd(gone)
            self._collect_dependents(gone["metadata"]["uid"], propagation == "Orphan")
            for ref in gone["metadata"].get("ownerReferences") or []:
                self._release_foreground(ref.get("uid"))
            return self.decorate(kind, gone)

    def _terminate_namespace(self, kind, old):
        if old.get("status", {}).get("phase") == "Terminating":
            return self.decorate(kind, old)
        new = copy.deepcopy(old)
        new["metadata"]["deletionTimestamp"] = now()
        new.setdefault("status", {})["phase"] = "Terminating"
        new["status"]["conditions"] = [{"type": "NamespaceContentRemaining", "status": "True",
                                        "lastTransitionTime": now(), "reason": "SomeResourcesRemain",
                                        "message": "namespace is being emptied"}]
        new["metadata"]["resourceVersion"] = self._bump()
        self.objects[kind.storage_key][(None, old["metadata"]["name"])] = new
        self._record(kind, "MODIFIED", new)
        return self.decorate(kind, new)

    def _collect_dependents(self, uid, orphan):
        for kind, obj in self.all_objects():
            refs = obj["metadata"].get("ownerReferences") or []
            if not any(r.get("uid") == uid for r in refs):
                continue
            if orphan:
                stored = self.objects[kind.storage_key][(obj["metadata"].get("namespace"), obj["metadata"]["name"])]
                stored["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid] or None
                if stored["metadata"]["ownerReferences"] is None:
                    del stored["metadata"]["ownerReferences"]
                stored["metadata"]["resourceVersion"] = self._bump()
                self._record(kind, "MODIFIED", stored)
            elif all(r.get("uid") == uid or not self._uid_exists(r.get("uid")) for r in refs):
                # the garbage collector deletes a dependent as any client would: one with finalizers (a
                # LoadBalancer Service's load-balancer-cleanup) waits for their controllers (kubernetes.io/docs/
                # concepts/architecture/garbage-collection/, "Owners, dependents, and finalizers")
                if obj["metadata"].get("finalizers"):
                    self._mark_deleted(kind, obj)
                elif self._grace_period(kind, obj, None):
                    self._terminate_pod(kind, obj, self._grace_period(kind, obj, None))
                else:
                    self.remove(kind, obj)

    def _uid_exists(self, uid):
        for store in self.objects.values():
            for obj in store.values():
                if obj["metadata"]["uid"] == uid:
                    return True
        return False

    def _conflict(self, kind, name):
        return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been modified; '
                                         'please apply your changes to the latest version and try again'
                        % (resource_name(kind), name), {"name": name, "group": kind.group, "kind": kind.plural})

    def _stored(self, kind, namespace, name):
        obj = self.objects[kind.storage_key].get((namespace if kind.namespaced else None, name))
        if obj is None:
            raise not_found(kind, name)
        return obj

    def _check_namespace(self, namespace):
        ns = self.objects[("", "namespaces")].get((None, namespace))
        if ns is None:
            raise ApiError(404, "NotFound", 'namespaces "%s" not found' % namespace,
                           {"name": namespace, "kind": "namespaces"})
        if ns.get("status", {}).get("phase") == "Terminating":
            raise ApiError(403, "Forbidden", "unable to create new content in namespace %s because it is being "
                                             "terminated" % namespace,
                           {"name": namespace, "kind": "namespaces",
                            "causes": [{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                        "message": "namespace %s is being terminated" % namespace}]})

    def _check_kind(self, kind, obj):
        api_version, kind_field = obj.get("apiVersion"), obj.get("kind")
        if kind_field and kind_field != kind.kind:
            raise ApiError(400, "BadRequest", "the kind of the object (%s) does not match the resource (%s)"
                           % (kind_field, kind.kind))
        if api_version and api_version != kind.api_version:
            other = self.registry.by_kind(api_version, kind.kind)
            if other is None:
                raise ApiError(400, "BadRequest", "the API version in the data (%s) does not match the expected API "
                                                  "version (%s)" % (api_version, kind.api_version))

    @staticmethod
    def _has_generation(kind):
        return kind.group in GENERATION_GROUPS or kind.schema is not None

    @staticmethod
    def _spec_of(obj):
        return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}

    @staticmethod
    def _strip(obj):
        out = copy.deepcopy(obj)
        out.pop("apiVersion", None)
        out.pop("kind", None)
        meta = out.get("metadata", {})
        for key in [k for k, v in meta.items() if v in (None, {}, [])]:
            del meta[key]
        return out

    # ------------------------------------------------------------ defaults and validation

    def _default(self, kind, obj, old):
        name = kind.kind
        if name == "Namespace":
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            if old is None:
                # the namespace strategy's PrepareForCreate sets the phase whatever the request carried
                obj["status"] = dict(obj.get("status") or {}, phase="Active")
            obj.setdefault("status", (old or {}).get("status") or {"phase": "Active"})
        elif name == "Secret" and kind.group == "":
            # stringData is write-only: the secret strategy merges it into data, base64-encoded, over keys of the
            # same name, and never stores it (pkg/registry/core/secret/strategy.go dropDisabledFields/PrepareFor*)
            string_data = obj.pop("stringData", None)
            if isinstance(string_data, dict) and string_data:
                data = dict(obj.get("data") or {})
                for key, value in string_data.items():
                    data[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")
                obj["data"] = data
            obj.setdefault("type", "Opaque")
        elif name == "Pod":
            default_pod_spec(obj.setdefault("spec", {}))
            obj.setdefault("status", (old or {}).get("status") or {"phase": "Pending", "qosClass": "BestEffort"})
        elif name in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
            spec = obj.setdefault("spec", {})
            if name in ("Deployment", "ReplicaSet", "StatefulSet"):
                spec.setdefault("replicas", 1)
            if name == "Deployment":
                spec.setdefault("revisionHistoryLimit", 10)
                spec.setdefault("progressDeadlineSeconds", 600)
                strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
                if strategy.get("type", "RollingUpdate") == "RollingUpdate":
                    strategy.setdefault("type", "RollingUpdate")
                    strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
            if name == "Job" and old is None and not spec.get("manualSelector"):
                # the Job controller's selector and labels, set at creation (kubernetes.io/docs/concepts/
                # workloads/controllers/job/#specifying-your-own-pod-selector)
                uid = obj["metadata"]["uid"]
                marks = {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
                         "batch.kubernetes.io/job-name": obj["metadata"]["name"], "job-name": obj["metadata"]["name"]}
                spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
                template_meta = (spec.setdefault("template", {})).setdefault("metadata", {})
                template_meta["labels"] = dict(template_meta.get("labels") or {}, **marks)
            if name == "Job":
                spec.setdefault("completions", 1)
                spec.setdefault("parallelism", 1)
                spec.setdefault("backoffLimit", 6)
                spec.setdefault("completionMode", "NonIndexed")
                spec.setdefault("suspend", False)
                spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
            if name == "DaemonSet":
                spec.setdefault("revisionHistoryLimit", 10)
                strategy = spec.setdefault("updateStrategy", {})
                strategy.setdefault("type", "RollingUpdate")
                if strategy["type"] == "RollingUpdate":
                    strategy.setdefault("rollingUpdate", {}).setdefault("maxUnavailable", 1)
                    strategy["rollingUpdate"].setdefault("maxSurge", 0)
            if name == "StatefulSet":
                # pkg/apis/apps/v1/defaults.go, SetDefaults_StatefulSet
                spec.setdefault("podManagementPolicy", "OrderedReady")
                spec.setdefault("revisionHistoryLimit", 10)
                spec.setdefault("minReadySeconds", 0)
                strategy = spec.setdefault("updateStrategy", {})
                strategy.setdefault("type", "RollingUpdate")
                if strategy["type"] == "RollingUpdate":
                    strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
                retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
                retention.setdefault("whenDeleted", "Retain")
                retention.setdefault("whenScaled", "Retain")
                for claim in spec.get("volumeClaimTemplates") or []:
                    claim.setdefault("apiVersion", "v1")
                    claim.setdefault("kind", "PersistentVolumeClaim")
                    claim.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
            template = spec.get("template")
            if isinstance(template, dict):
                template.setdefault("metadata", {}).setdefault("creationTimestamp", None)
                default_pod_spec(template.setdefault("spec", {}),
                                 restart="Never" if name == "Job" else "Always")
            obj.setdefault("status", (old or {}).get("status") or {})
        elif name == "Service":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            spec.setdefault("internalTrafficPolicy", "Cluster")
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            old_spec = (old or {}).get("spec") or {}
            if old_spec.get("clusterIP") and not spec.get("clusterIP"):
                spec["clusterIP"] = old_spec["clusterIP"]
            if spec.get("clusterIP") != "None" and not spec.get("clusterIP"):
                spec["clusterIP"] = self._allocate_ip()
            spec["clusterIPs"] = [spec["clusterIP"]]
            old_ports = {p.get("port"): p for p in old_spec.get("ports") or []}
            for port in spec.get("ports") or []:
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
                if spec["type"] in ("NodePort", "LoadBalancer") and not port.get("nodePort"):
                    port["nodePort"] = old_ports.get(port.get("port"), {}).get("nodePort") or self._allocate_node_port()
            if spec["type"] == "LoadBalancer":
                spec.setdefault("externalTrafficPolicy", "Cluster")
                spec.setdefault("allocateLoadBalancerNodePorts", True)
            obj.setdefault("status", (old or {}).get("status") or {"loadBalancer": {}})
        elif name == "PersistentVolumeClaim":
            obj.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
            obj.setdefault("status", (old or {}).get("status") or {"phase": "Pending"})
        elif name == "CustomResourceDefinition":
            obj.setdefault("status", (old or {}).get("status") or {})

    def _allocate_ip(self):
        self.next_ip += 1
        return str(self.service_cidr.network_address + self.next_ip)

    def _allocate_node_port(self):
        port = 30000 + int(hashlib.sha256(uuid.uuid4().bytes).hexdigest(), 16) % 2768
        while port in self.node_ports:
            port = 30000 + (port - 30000 + 1) % 2768
        self.node_ports.add(port)
        return port

    def _validate(self, kind, obj, old=None):
        """The server's checks of a write (sandbox/validation.py), then the schema's (sandbox/schemas.py)."""
        builtin = kind.group in self.registry.builtin_groups
        causes = validation.metadata_causes(kind.group, kind.kind, obj) + validation.port_causes(obj)
        if builtin:
            causes.extend(validation.causes_for(kind.kind, obj, old))
        if not causes:
            causes = schemas.causes(kind, obj, builtin)
        if causes:
            raise invalid(kind, obj["metadata"].get("name", ""), causes)

    # ------------------------------------------------------------ CRDs

    def _after_write(self, kind, obj, old):
        """An established CRD serves its kinds (the controller establishes new ones)."""
        if kind.kind != "CustomResourceDefinition":
            return
        if old is not None:
            for previous in self.registry.crd_kinds(old):
                self.registry.remove_group_resource(previous.group, previous.plural)
        conditions = (obj.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            for new_kind in self.registry.crd_kinds(obj):
                self.registry.add(new_kind)

    def _drop_crd(self, crd):
        spec = crd.get("spec", {})
        group, plural = spec.get("group"), (spec.get("names") or {}).get("plural")
        kinds = [k for k in self.registry.kinds if k.group == group and k.plural == plural]
        self.registry.remove_group_resource(group, plural)
        if kinds:
            store = self.objects.pop((group, plural), {})
            for obj in store.values():
                gone = copy.deepcopy(obj)
                gone["metadata"]["resourceVersion"] = self._bump()
                self.events.append(Event(int(gone["metadata"]["resourceVersion"]), (group, plural), "DELETED", gone))
            for hook in self.write_hooks:
                hook((group, plural))
            self.changed.notify_all()

    # ------------------------------------------------------------ watch

    def events_after(self, rv, key, namespace=None):
        """Events newer than ``rv`` for a storage key; None when ``rv`` is too old (410 Gone)."""
        if self.events and rv < self.events[0].rv - 1 and rv < self.rv:
            return None
        out = []
        for event in self.events:
            if event.rv <= rv or event.key != key:
                continue
            if namespace and event.obj["metadata"].get("namespace") != namespace:
                continue
            out.append(event)
        return out


def default_pod_spec(spec, restart="Always"):
    spec.setdefault("restartPolicy", restart)
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    if spec.get("serviceAccountName") or spec.get("serviceAccount"):
        spec.setdefault("serviceAccountName", spec.get("serviceAccount"))
        spec.setdefault("serviceAccount", spec.get("serviceAccountName"))
    for field in ("containers", "initContainers"):
        for container in spec.get(field) or []:
            if not isinstance(container, dict):
                continue
            image = str(container.get("image", ""))
            tag = image.rsplit("/", 1)[-1]
            latest = ":" not in tag or tag.endswith(":latest")
            container.setdefault("imagePullPolicy", "Always" if latest and "@" not in tag else "IfNotPresent")
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            container.setdefault("resources", {})
            for port in container.get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")
            for probe_name in ("readinessProbe", "livenessProbe", "startupProbe"):
                # pkg/apis/core/v1/defaults.go: SetDefaults_Probe, SetDefaults_HTTPGetAction
                probe = container.get(probe_name)
                if isinstance(probe, dict):
                    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                                       ("failureThreshold", 3)):
                        probe.setdefault(key, value)
                    if isinstance(probe.get("httpGet"), dict):
                        probe["httpGet"].setdefault("path", "/")
                        probe["httpGet"].setdefault("scheme", "HTTP")


__all__ = ["Api", "ApiError", "Kind", "now", "resource_name"]
