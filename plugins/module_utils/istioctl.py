# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""What the istioctl module needs beyond the istioctl binary: input checks,
command lines, output parsing, the installed-spec record and its comparison.

Pure functions where possible; ``IstioctlRunner`` runs the binary through the module's ``run_command``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time

from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError
from ansible_collections.istio_demo.mesh.plugins.module_utils.names import dns_label, image_tag
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_connection import (
    K8sConnectionError, connect, read_json)

try:
    from kubernetes.dynamic.exceptions import NotFoundError
except ImportError:  # reported by connect() through module.requires
    NotFoundError = Exception

RECORD_NAME = "istio-demo-mesh-installed-spec"
RECORD_LABELS = {"app.kubernetes.io/managed-by": "istio_demo.mesh", "istio-demo-mesh/record": "installed-spec"}
COMPONENT_LABEL = "operator.istio.io/component"
PROFILES = ("ambient", "default", "demo", "empty", "minimal", "openshift", "openshift-ambient", "preview", "remote",
            "stable")
SECRET_WORDS = re.compile(r"(password|passwd|secret|token|credential|private|apikey|api_key|key$)", re.I)
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")
# a --set path: names joined by dots; a name may hold escaped dots (\.), '-' and '/' (an annotation name such as
# service\.beta\.kubernetes\.io/aws-load-balancer-scheme), and end in a list index
SET_NAME = r"(?:[A-Za-z0-9_/-]|\\\.)+(?:\[(?:\d+|[A-Za-z0-9_-]+:[A-Za-z0-9_.-]+)\])?"
SET_KEY = re.compile(r"^%s(?:\.%s)*$" % (SET_NAME, SET_NAME))
NOT_READY = re.compile(r"(Deployment|DaemonSet|StatefulSet)/([a-z0-9.-]+)/([a-z0-9.-]+)")
# The Istio releases this collection is tested with (README "Supported Istio releases").
TESTED_RELEASES = ("1.28.10", "1.29.6", "1.30.3")
# Components `istioctl install` waits for, one after the other, each with the full --readiness-timeout
# (Istio's operator/pkg/install/install.go and wait.go), by profile (manifests/profiles at 1.30).
PROFILE_COMPONENTS = {"ambient": 4, "default": 3, "demo": 4, "empty": 1, "minimal": 2, "openshift": 4,
                      "openshift-ambient": 4, "preview": 3, "remote": 2, "stable": 3}
# what `istioctl uninstall --revision R` says when R's injector webhook is gone (Istio's operator/cmd/mesh/uninstall.go)
REVISION_GONE = "could not find target revision"
REVISION_KINDS = (("apps/v1", "Deployment", True), ("v1", "Service", True), ("v1", "ConfigMap", True),
                  ("v1", "ServiceAccount", True), ("autoscaling/v2", "HorizontalPodAutoscaler", True),
                  ("policy/v1", "PodDisruptionBudget", True),
                  ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", False),
                  ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", False))
DOWNLOAD_HINT = ("install it with the istio_demo.mesh.istio_install role, or download it from "
                 "https://github.com/istio/istio/releases (istioctl-VERSION-linux-amd64.tar.gz), or set istioctl_path")


class IstioctlError(MeshError):
    """A failure of istioctl or of the cluster it works on, to report as it is."""


# ---------------------------------------------------------------- input

def flatten_values(values, prefix=""):
    """{'a': {'b': 1}} -> {'a.b': '1'}: the keys istioctl's --set takes."""
    flat = {}
    for key, value in (values or {}).items():
        # a top-level key is a --set path as written (values.global.hub); a key of a nested mapping is one name,
        # and istioctl splits paths on dots, so its dots (an annotation name) are escaped as \.
        path = "%s.%s" % (prefix, str(key).replace(".", "\\.")) if prefix else str(key)
        if isinstance(value, dict):
            if not value:
                raise IstioctlError("set_values.%s is an empty mapping: expected a value or nested keys" % path)
            flat.update(flatten_values(value, path))
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    flat.update(flatten_values(item, "%s[%d]" % (path, index)))
                else:
                    flat["%s[%d]" % (path, index)] = render_value(item)
        else:
            flat[path] = render_value(value)
    return flat


def render_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def validate(params):
    """Check what the argument spec cannot say (its types and choices come first) before anything runs; raise
    IstioctlError naming option, value, expectation."""
    state = params.get("state") or "present"
    revision = params.get("revision")
    if revision and (not dns_label(revision) or revision == "default"):
        raise IstioctlError("revision=%r is invalid: expected a DNS label (lower-case letters, digits and '-', at "
                            "most 63 characters) other than 'default'; leave it unset for the default revision"
                            % (revision,))
    version = params.get("version")
    if version and not VERSION_RE.match(str(version)):
        raise IstioctlError("version=%r is invalid: expected an Istio release such as 1.30.3" % (version,))
    flat = flatten_values(params.get("set_values") or {})
    for key in flat:
        if not SET_KEY.match(key):
            raise IstioctlError("set_values key %r is invalid: expected dotted names such as "
                                "values.global.proxy.resources.requests.cpu" % (key,))
        if key == "profile":
            raise IstioctlError("set_values.profile is not allowed: use the profile option")
        if key == "revision":
            raise IstioctlError("set_values.revision is not allowed: use the revision option")
    for path in params.get("overlay_files") or []:
        if not os.path.isfile(path):
            raise IstioctlError("overlay_files entry %r does not exist: expected a readable IstioOperator YAML file"
                                % (path,))
        if not os.access(path, os.R_OK):
            raise IstioctlError("overlay_files entry %r is not readable" % (path,))
    for index, overlay in enumerate(params.get("overlays") or []):
        if not isinstance(overlay, dict) or overlay.get("kind") != "IstioOperator" or \
                not str(overlay.get("apiVersion", "")).startswith("install.istio.io/"):
            raise IstioctlError("overlays[%d]=%s is invalid: expected an IstioOperator (apiVersion "
                                "install.istio.io/v1alpha1, kind IstioOperator) given as a mapping"
                                % (index, json.dumps(overlay, sort_keys=True)[:200]))
    timeout = params.get("wait_timeout")
    if timeout is not None and timeout <= 0:
        raise IstioctlError("wait_timeout=%r is invalid: expected a number of seconds > 0" % (timeout,))
    if params.get("purge") and state != "absent":
        raise IstioctlError("purge=true only applies with state=absent")
    namespace = params.get("istio_namespace") or "istio-system"
    if not dns_label(namespace):
        raise IstioctlError("istio_namespace=%r is invalid: expected a Kubernetes namespace name" % (namespace,))
    if flat.get("values.global.istioNamespace", namespace) != namespace:
        raise IstioctlError("set_values values.global.istioNamespace=%r differs from istio_namespace=%r: set only "
                            "istio_namespace" % (flat["values.global.istioNamespace"], namespace))
    return flat


def _minor(version):
    parts = str(version).split("-", 1)[0].split(".")
    return int(parts[0]), int(parts[1])


def upgrade_path_error(current, target):
    """Why an in-place move from ``current`` to ``target`` is not a path Istio supports, or None.

    istio.io/latest/docs/setup/upgrade/in-place: the installed version must be no more than one minor version
    below the target (1.6.x before 1.7.x); a downgrade likewise goes one minor version at a time."""
    if not current or not target or not VERSION_RE.match(str(current)) or not VERSION_RE.match(str(target)):
        return None
    (cur_major, cur_minor), (new_major, new_minor) = _minor(current), _minor(target)
    if cur_major == new_major and abs(new_minor - cur_minor) <= 1:
        return None
    step = cur_minor + (1 if new_minor > cur_minor else -1)
    return ("moving the control plane from Istio %s to %s in place is not a path Istio supports (one minor release "
            "at a time, istio.io/latest/docs/setup/upgrade/in-place): go through %d.%d.x first, or install %s as a "
            "new revision beside %s (a canary upgrade)" % (current, target, cur_major, step, target, current))


def untested_warning(version):
    if version in TESTED_RELEASES:
        return None
    return ("Istio %s is not one of the releases istio_demo.mesh is tested with (%s): it may work, but nothing here "
            "has proved it" % (version, ", ".join(TESTED_RELEASES)))


def install_timeout(profile, wait_timeout):
    """The longest a healthy install may take: istioctl waits for each component with the full timeout."""
    return PROFILE_COMPONENTS.get(profile, 4) * int(wait_timeout) + 120


def overlay_text(overlay):
    """An inline overlay as istioctl reads it from a file (JSON is YAML), the same text for the same mapping."""
    return json.dumps(overlay, sort_keys=True, indent=2) + "\n"


def overlays_digest(paths, overlays=None):
    """One hash of every overlay's content, the files' first then the inline ones, in order."""
    digest = hashlib.sha256()
    for path in paths or []:
        with open(path, "rb") as handle:
            digest.update(hashlib.sha256(handle.read()).hexdigest().encode())
    for overlay in overlays or []:
        digest.update(hashlib.sha256(overlay_text(overlay).encode()).hexdigest().encode())
    return digest.hexdigest() if paths or overlays else ""


def write_overlays(overlays, workdir):
    """Each inline overlay written to a private file in ``workdir`` (removed with it); their paths, in order."""
    paths = []
    for index, overlay in enumerate(overlays or []):
        path = os.path.join(workdir, "overlay-%d.yaml" % index)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            handle.write(overlay_text(overlay))
        paths.append(path)
    return paths


def desired_spec(params, flat_values, client_version):
    return {
        "version": client_version,
        "profile": params.get("profile"),
        "revision": params.get("revision") or "default",
        "values": dict(sorted(flat_values.items())),
        "overlays_sha256": overlays_digest(params.get("overlay_files"), params.get("overlays")),
    }


def mask_values(flat_values):
    return {k: ("********" if SECRET_WORDS.search(k.split(".")[-1]) else v) for k, v in flat_values.items()}


# ---------------------------------------------------------------- commands

def connection_flags(kubeconfig=None, context=None, namespace="istio-system"):
    flags = ["--istioNamespace", namespace] if namespace and namespace != "istio-system" else []
    if kubeconfig:
        flags += ["--kubeconfig", kubeconfig]
    if context:
        flags += ["--context", context]
    return flags


def install_command(binary, params, flat_values, connection, wait_timeout, overlay_paths=()):
    """``overlay_paths``: the inline overlays' files (write_overlays), passed after overlay_files."""
    command = [binary, "install", "-y", "--set", "profile=%s" % params["profile"]]
    if params.get("revision"):
        command += ["--revision", params["revision"]]
    for key, value in sorted(flat_values.items()):
        command += ["--set", "%s=%s" % (key, value)]
    namespace = params.get("istio_namespace") or "istio-system"
    if namespace != "istio-system" and "values.global.istioNamespace" not in flat_values:
        # where the control plane goes; istioctl reads other namespaces' installs through --istioNamespace
        command += ["--set", "values.global.istioNamespace=%s" % namespace]
    for path in list(params.get("overlay_files") or []) + list(overlay_paths):
        command += ["-f", path]
    command += ["--readiness-timeout", "%ds" % int(wait_timeout)]
    return command + connection


def uninstall_command(binary, params, connection):
    command = [binary, "uninstall", "-y"]
    if params.get("purge"):
        command.append("--purge")
    else:
        command += ["--revision", params.get("revision") or "default"]
    return command + connection


def masked(command, flat_values):
    """The command as it may be shown: secret-looking --set values hidden."""
    secret = set(k for k, v in mask_values(flat_values).items() if v == "********")
    out = []
    for part in command:
        key = part.split("=", 1)[0]
        out.append("%s=********" % key if "=" in part and key in secret else part)
    return out


# ---------------------------------------------------------------- parsing

def parse_version_json(text):
    """``istioctl version -o json`` output, tolerating lines printed before the JSON."""
    start = text.find("{")
    if start < 0:
        raise IstioctlError("istioctl version printed no JSON: %s" % (text.strip()[:300] or "(nothing)"))
    try:
        data, dummy = json.JSONDecoder().raw_decode(text[start:])
    except ValueError as exc:
        raise IstioctlError("istioctl version printed JSON that does not parse (%s): %s" % (exc, text[:300]))
    client = (data.get("clientVersion") or {}).get("version")
    if not client:
        raise IstioctlError("istioctl version -o json has no clientVersion.version: %s" % text[:300])
    mesh = [m.get("Info", {}).get("version") for m in data.get("meshVersion") or []]
    return {"client": client, "mesh": [v for v in mesh if v]}


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def precheck_findings(stdout, stderr):
    """The lines of ``istioctl x precheck`` that name a problem, without terminal colours.

    The real command prints findings on stdout (coloured on a terminal) and exits 1 for any finding of Warning or
    worse; its success line goes to stderr."""
    text = ANSI.sub("", (stdout or "") + "\n" + (stderr or ""))
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    findings = [l for l in lines if re.match(r"^(Error|Warning|Warn|Info)\b", l) or "[IST" in l]
    return findings or [l for l in lines if not l.startswith("\u2714")]


def blocking_findings(findings):
    """Findings that stop an install: errors, and anything that is not plainly a warning or an info."""
    return [f for f in findings if not re.match(r"^(Warning|Warn|Info)\b", f)]


def not_ready_components(text):
    return sorted(set("%s/%s" % (m.group(2), m.group(3)) for m in NOT_READY.finditer(text or "")))


def still_not_ready(text, health, namespace):
    """The NAMESPACE/NAME workloads istioctl named as not ready that are still not ready now (istioctl names what
    was not ready when each component's wait ended; a component may have become ready since)."""
    healthy = set(c["name"] for c in health if c["healthy"])
    return [w for w in not_ready_components(text)
            if not (w.split("/", 1)[0] == namespace and w.split("/", 1)[1] in healthy)]


def last_lines(text, count=15):
    lines = [l for l in (text or "").splitlines() if l.strip()]
    return "\n".join(lines[-count:])


# ---------------------------------------------------------------- health and record

def component_health(deployments, revision):
    """[{name, ready, desired, healthy}] of the control-plane Deployments of ``revision``."""
    out = []
    for dep in deployments:
        meta = dep.get("metadata") or {}
        labels = meta.get("labels") or {}
        if COMPONENT_LABEL not in labels:
            continue
        dep_rev = labels.get("istio.io/rev", "default")
        if labels.get(COMPONENT_LABEL) == "Pilot" and dep_rev != (revision or "default"):
            continue
        spec = dep.get("spec") or {}
        status = dep.get("status") or {}
        desired = spec.get("replicas", 1)
        ready = status.get("readyReplicas", 0) or 0
        available = status.get("availableReplicas", 0) or 0
        current = status.get("observedGeneration") == meta.get("generation")
        out.append({"name": meta.get("name"), "component": labels.get(COMPONENT_LABEL), "desired": desired,
                    "ready": ready, "healthy": current and available >= desired and ready >= desired,
                    "revision": dep_rev})
    return sorted(out, key=lambda c: c["name"])


def deployment_version(deployment):
    """The release a Deployment runs: the tag of its first container image that has one."""
    containers = ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    for container in containers:
        tag = image_tag(container.get("image", ""))
        if tag:
            return tag
    return None


def control_plane_version(deployments, revision):
    name = "istiod" if (revision or "default") == "default" else "istiod-%s" % revision
    for dep in deployments:
        if (dep.get("metadata") or {}).get("name") == name:
            return deployment_version(dep)
    return None


def record_body(namespace, spec, components):
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": record_name(spec.get("revision")), "namespace": namespace, "labels": dict(RECORD_LABELS)},
        "data": {"spec": json.dumps(spec, sort_keys=True), "components": json.dumps(sorted(components))},
    }


def record_name(revision):
    return RECORD_NAME if (revision or "default") == "default" else "%s-%s" % (RECORD_NAME, revision)


def read_record(configmap):
    if not configmap:
        return None, []
    data = configmap.get("data") or {}
    try:
        return json.loads(data.get("spec") or "null"), json.loads(data.get("components") or "[]")
    except ValueError:
        return None, []


def plan(desired, recorded, recorded_components, health):
    """('none' | 'install' | 'upgrade', reasons) for state=present."""
    if recorded is None:
        if any(c["component"] == "Pilot" for c in health):
            return "upgrade", ["Istio runs but was not installed by this module: no record of its spec"]
        return "install", ["Istio is not installed"]
    reasons = []
    for key in ("version", "profile", "revision", "values", "overlays_sha256"):
        if recorded.get(key) != desired.get(key):
            reasons.append("%s changed from %r to %r" % (key, recorded.get(key), desired.get(key)))
    by_name = dict((c["name"], c) for c in health)
    for name in recorded_components:
        if name not in by_name:
            reasons.append("component %s is missing" % name)
        elif not by_name[name]["healthy"]:
            reasons.append("component %s is not healthy (%d/%d ready)" % (
                name, by_name[name]["ready"], by_name[name]["desired"]))
        elif by_name[name].get("revision", desired.get("revision")) != desired.get("revision"):
            # a gateway is not revisioned: another revision's install took it over in place (Istio's canary
            # upgrade docs); installing this revision again gives it back
            reasons.append("component %s runs with revision %s" % (name, by_name[name]["revision"]))
    return ("upgrade" if reasons else "none"), reasons


# ---------------------------------------------------------------- running

class IstioctlRunner(object):
    """Runs istioctl through ``module.run_command`` (never through a shell), each run bounded by a timeout."""

    def __init__(self, module, binary):
        self.module = module
        self.binary = binary
        self.environment = proxy_environment(module.params)

    def run(self, args, timeout):
        """(rc, stdout, stderr); raise IstioctlError when istioctl cannot start or outlives ``timeout`` seconds
        (run_command has no timeout of its own: a timer started once the process exists stops it)."""
        expired = threading.Event()
        timers = []

        def arm(process):
            def stop():
                expired.set()
                process.kill()
            timer = threading.Timer(timeout, stop)
            timer.daemon = True
            timers.append(timer)
            timer.start()

        try:
            rc, out, err = self.module.run_command(args, before_communicate_callback=arm, handle_exceptions=False,
                                                   environ_update=self.environment)
        except OSError as exc:
            raise IstioctlError("cannot run %s: %s; %s" % (args[0], exc, DOWNLOAD_HINT))
        finally:
            for timer in timers:
                timer.cancel()
        if expired.is_set():
            raise IstioctlError("%s did not finish within %s s" % (" ".join(args[:2]), timeout),
                                stdout_lines=out.splitlines(), stderr_lines=err.splitlines())
        return rc, out, err

    def client_version(self):
        rc, out, err = self.run([self.binary, "version", "--remote=false", "-o", "json"], timeout=60)
        if rc != 0:
            raise IstioctlError("istioctl version failed (exit %d): %s" % (rc, last_lines(err or out)))
        return parse_version_json(out)["client"]


def find_binary(path, which):
    """The istioctl to run: ``path`` when given, else the first on PATH (``which`` is a lookup function)."""
    if path:
        if not os.path.isfile(path):
            raise IstioctlError("istioctl_path=%r does not exist: %s" % (path, DOWNLOAD_HINT))
        if not os.access(path, os.X_OK):
            raise IstioctlError("istioctl_path=%r is not executable: expected the istioctl binary (chmod +x)" % path)
        return path
    found = which("istioctl")
    if not found:
        raise IstioctlError("istioctl is not on PATH: %s" % DOWNLOAD_HINT)
    return found


# ---------------------------------------------------------------- the module's run: decide from the recorded spec
# and the control plane's health, then install, upgrade or uninstall through istioctl

WAIT_POLL_SECONDS = 2


class Cluster(object):
    """The few Kubernetes reads and writes the module makes, through kubernetes.core's client."""

    def __init__(self, client, namespace):
        self.client = client
        self.namespace = namespace
        self.deployments = client.resource("Deployment", "apps/v1")
        self.configmaps = client.resource("ConfigMap", "v1")

    def list_deployments(self):
        try:
            return read_json(self.client, self.deployments, namespace=self.namespace).get("items") or []
        except NotFoundError:
            return []

    def get_record(self, revision):
        try:
            return read_json(self.client, self.configmaps, name=record_name(revision), namespace=self.namespace)
        except NotFoundError:
            return None

    def write_record(self, body, existing):
        if existing is None:
            self.client.create(self.configmaps, body, namespace=self.namespace)
        else:
            body["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
            self.client.replace(self.configmaps, body, name=body["metadata"]["name"], namespace=self.namespace)

    def delete_record(self, revision):
        try:
            self.client.delete(self.configmaps, name=record_name(revision), namespace=self.namespace)
        except NotFoundError:
            pass

    def delete_revision_leftovers(self, revision):
        """Delete the objects of ``revision`` that istioctl installed (namespaced in the control-plane namespace,
        and webhook configurations); return their kind/name."""
        selector = "istio.io/rev=%s,%s" % (revision or "default", COMPONENT_LABEL)
        removed = []
        for api_version, kind, namespaced in REVISION_KINDS:
            resource = self.client.resource(kind, api_version)
            listing = read_json(self.client, resource, namespace=self.namespace if namespaced else None,
                                label_selector=selector)
            for item in listing.get("items") or []:
                name = item["metadata"]["name"]
                try:
                    resource.delete(name=name, namespace=self.namespace if namespaced else None)
                except NotFoundError:
                    continue
                removed.append("%s/%s" % (kind, name))
        return removed

    def istio_crds_present(self):
        crds = self.client.resource("CustomResourceDefinition", "apiextensions.k8s.io/v1")
        try:
            self.client.get(crds, name="virtualservices.networking.istio.io")
            return True
        except NotFoundError:
            return False


def impersonation_flags(params):
    """--as/--as-group for the identity the module's own requests take: impersonate_user and impersonate_groups,
    else K8S_AUTH_IMPERSONATE_USER / K8S_AUTH_IMPERSONATE_GROUPS (comma-separated), as kubernetes.core reads them."""
    user = params.get("impersonate_user") or os.environ.get("K8S_AUTH_IMPERSONATE_USER")
    groups = params.get("impersonate_groups")
    if groups is None:
        groups = [g for g in os.environ.get("K8S_AUTH_IMPERSONATE_GROUPS", "").split(",") if g]
    flags = ["--as", user] if user else []
    for group in groups:
        flags += ["--as-group", group]
    return flags


def proxy_environment(params):
    """The environment that sends istioctl through the module's proxy (client-go takes HTTPS_PROXY/NO_PROXY from
    it when the kubeconfig names no proxy-url); {} without one. proxy_headers' proxy_basic_auth goes into the
    proxy URL; its other headers have no istioctl equivalent and are refused."""
    proxy = params.get("proxy") or os.environ.get("K8S_AUTH_PROXY")
    headers = params.get("proxy_headers") or {}
    unsupported = sorted(k for k, v in headers.items() if v and k != "proxy_basic_auth")
    if unsupported:
        raise IstioctlError("proxy_headers.%s is not supported with istioctl: expected proxy_basic_auth only (istioctl "
                            "sends no other proxy header)" % unsupported[0])
    if not proxy:
        return {}
    if headers.get("proxy_basic_auth"):
        scheme, dummy, rest = proxy.partition("://")
        proxy = "%s://%s@%s" % (scheme, headers["proxy_basic_auth"], rest) if rest else proxy
    environment = {"HTTPS_PROXY": proxy, "HTTP_PROXY": proxy}
    no_proxy = params.get("no_proxy") or os.environ.get("K8S_AUTH_NO_PROXY")
    if no_proxy:
        environment["NO_PROXY"] = no_proxy
    return environment


def connection_for_istioctl(module, client, workdir):
    """--kubeconfig/--context flags that give istioctl the same cluster, and the same identity (impersonation),
    as the module."""
    return _cluster_flags(module, client, workdir) + impersonation_flags(module.params)


def _cluster_flags(module, client, workdir):
    params = module.params
    kubeconfig = params.get("kubeconfig") or os.environ.get("K8S_AUTH_KUBECONFIG")
    context = params.get("context") or os.environ.get("K8S_AUTH_CONTEXT")
    namespace = params.get("istio_namespace") or "istio-system"
    if isinstance(kubeconfig, dict):
        path = os.path.join(workdir, "kubeconfig")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
            json.dump(kubeconfig, handle)
        return connection_flags(path, context, namespace)
    if kubeconfig:
        return connection_flags(kubeconfig, context, namespace)
    if params.get("host") or os.environ.get("K8S_AUTH_HOST"):
        return connection_flags(_write_kubeconfig(client.configuration, workdir), None, namespace)
    return connection_flags(None, context, namespace)


@contextlib.contextmanager
def istioctl_workdir(module, client):
    """A private directory (0700) for what istioctl reads from files, and the connection flags; the directory and
    everything in it (a temporary kubeconfig, inline overlays) is removed afterwards."""
    workdir = tempfile.mkdtemp(prefix="istioctl-")
    try:
        yield workdir, connection_for_istioctl(module, client, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def istioctl_connection(module, client):
    """The connection flags for istioctl; any temporary kubeconfig is removed afterwards."""
    with istioctl_workdir(module, client) as (dummy, connection):
        yield connection


def _write_kubeconfig(configuration, workdir):
    """A kubeconfig holding the connection kubernetes.core resolved from host/api_key/cert options."""
    cluster = {"server": configuration.host}
    if configuration.ssl_ca_cert:
        cluster["certificate-authority"] = configuration.ssl_ca_cert
    if not configuration.verify_ssl:
        cluster["insecure-skip-tls-verify"] = True
    user = {}
    for setting in configuration.auth_settings().values():
        if setting.get("key", "").lower() == "authorization" and setting.get("value"):
            user["token"] = setting["value"].split(" ", 1)[-1]
    if configuration.cert_file:
        user["client-certificate"] = configuration.cert_file
        user["client-key"] = configuration.key_file
    if configuration.username and configuration.password:
        user["username"] = configuration.username
        user["password"] = configuration.password
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "module",
           "clusters": [{"name": "module", "cluster": cluster}], "users": [{"name": "module", "user": user}],
           "contexts": [{"name": "module", "context": {"cluster": "module", "user": "module"}}]}
    path = os.path.join(workdir, "kubeconfig")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
        json.dump(doc, handle)
    return path


def _control_plane(deployments, revision):
    health = component_health(deployments, revision)
    return {"version": control_plane_version(deployments, revision), "revision": revision or "default",
            "components": health}


def _wait_healthy(cluster, names, revision, timeout):
    """Poll the control plane until every named Deployment is ready (return the last LIST); name the ones that
    are not."""
    deadline = time.time() + timeout
    while True:
        deployments = cluster.list_deployments()
        health = dict((c["name"], c) for c in component_health(deployments, revision))
        pending = [n for n in names if not health.get(n, {}).get("healthy")]
        if not pending:
            return deployments
        if time.time() >= deadline:
            details = ", ".join("%s (%s)" % (n, "missing" if n not in health else "%d/%d ready" % (
                health[n]["ready"], health[n]["desired"])) for n in pending)
            raise IstioctlError("timed out after %d s waiting for the Istio control plane: %s" % (timeout, details))
        time.sleep(WAIT_POLL_SECONDS)  # polling a condition, bounded by wait_timeout


def run_module(module, which=shutil.which):
    """Return the module result; raise IstioctlError or K8sConnectionError on failure."""
    params = module.params
    flat = validate(params)
    binary = find_binary(params.get("istioctl_path"), which)
    runner = IstioctlRunner(module, binary)
    client_version = runner.client_version()
    if params.get("version") and params["version"] != client_version:
        wanted = params["version"]
        raise IstioctlError("istioctl at %s is version %s, but version=%s was asked for: point istioctl_path at "
                            "a %s binary or change version" % (binary, client_version, wanted, wanted))
    if params["state"] == "present" and untested_warning(client_version):
        module.warn(untested_warning(client_version))
    return _run(module, params, flat, binary, runner, client_version, connect(module))


def _run(module, params, flat, binary, runner, client_version, client):
    namespace = params["istio_namespace"]
    revision = params.get("revision") or "default"
    cluster = Cluster(client, namespace)
    try:
        deployments = cluster.list_deployments()
        record = cluster.get_record(revision)
    except Exception as exc:  # the first API calls: a cluster that does not answer lands here
        raise K8sConnectionError("cannot read the Istio control plane in namespace %s: %s" % (namespace, exc))
    recorded, recorded_components = read_record(record)
    result = {"changed": False, "client_version": client_version, "command": [], "stdout_lines": [],
              "stderr_lines": [], "control_plane": _control_plane(deployments, revision)}
    if params["state"] == "absent":
        return _absent(module, cluster, runner, recorded, deployments, revision, result)
    desired = desired_spec(params, flat, client_version)
    jump = upgrade_path_error(result["control_plane"]["version"], client_version)
    if jump:
        raise IstioctlError(jump, control_plane=result["control_plane"])
    action, reasons = plan(desired, recorded, recorded_components, result["control_plane"]["components"])
    result["operation"] = action
    result["reasons"] = reasons
    if module._diff:
        result["diff"] = {"before": json.dumps(recorded, indent=2, sort_keys=True) + "\n" if recorded else "",
                          "after": json.dumps(desired, indent=2, sort_keys=True) + "\n",
                          "before_header": "recorded Istio spec", "after_header": "desired Istio spec"}
    if action == "none":
        return result
    result["changed"] = True
    if module.check_mode:
        result["msg"] = "would %s Istio %s (%s): %s" % (action, client_version, params["profile"], "; ".join(reasons))
        return result
    with istioctl_workdir(module, client) as (workdir, connection):
        if params["precheck"]:
            command = [binary, "x", "precheck"] + connection
            rc, out, err = runner.run(command, timeout=params["wait_timeout"])
            if rc != 0:
                findings = precheck_findings(out, err)
                blocking = blocking_findings(findings)
                if blocking:
                    raise IstioctlError("istioctl x precheck found %d issue(s) that block the install: %s" % (
                        len(blocking), "; ".join(blocking)), findings=findings, stdout_lines=out.splitlines(),
                        stderr_lines=err.splitlines())
                # warnings only: istioctl exits 1 for them too; they are said, and the install goes on
                result["precheck_warnings"] = findings
                for finding in findings:
                    module.warn("istioctl x precheck: %s" % finding)
        command = install_command(binary, params, flat, connection, params["wait_timeout"],
                                  write_overlays(params.get("overlays"), workdir))
        result["command"] = masked(command, flat)
        rc, out, err = runner.run(command, timeout=install_timeout(params["profile"], params["wait_timeout"]))
    result["stdout_lines"] = out.splitlines()
    result["stderr_lines"] = err.splitlines()
    if rc != 0:
        waiting = still_not_ready(err + out, component_health(cluster.list_deployments(), revision), namespace)
        message = "istioctl install failed (exit %d)" % rc
        if waiting:
            message += "; not ready within %d s: %s" % (params["wait_timeout"], ", ".join(waiting))
        raise IstioctlError("%s: %s" % (message, last_lines(err or out)), command=result["command"],
                            stdout_lines=result["stdout_lines"], stderr_lines=result["stderr_lines"])
    names = [c["name"] for c in component_health(cluster.list_deployments(), revision)]
    deployments = _wait_healthy(cluster, names, revision, params["wait_timeout"])
    cluster.write_record(record_body(namespace, desired, names), cluster.get_record(revision))
    result["control_plane"] = _control_plane(deployments, revision)
    verb = "installed" if action == "install" else "upgraded"
    result["msg"] = "%s Istio %s (%s)" % (verb, client_version, params["profile"])
    return result


def _absent(module, cluster, runner, recorded, deployments, revision, result):
    params = module.params
    present = recorded is not None or any(c["component"] == "Pilot" for c in component_health(
        deployments, revision)) or (params["purge"] and cluster.istio_crds_present())
    if not present:
        result["msg"] = "Istio is not installed"
        return result
    result["changed"] = True
    if module._diff:
        result["diff"] = {"before": json.dumps(recorded, indent=2, sort_keys=True) + "\n" if recorded else "",
                          "after": ""}
    if module.check_mode:
        result["msg"] = "would uninstall Istio%s" % (" and purge its CRDs" if params["purge"] else "")
        return result
    with istioctl_connection(module, cluster.client) as connection:
        command = uninstall_command(runner.binary, params, connection)
        result["command"] = command
        rc, out, err = runner.run(command, timeout=params["wait_timeout"] + 120)
    result["stdout_lines"] = out.splitlines()
    result["stderr_lines"] = err.splitlines()
    if rc != 0 and REVISION_GONE in err + out and not params["purge"]:
        # istioctl finds a revision by its injector webhook; with that gone it refuses, so what is left of the
        # revision (labelled istio.io/rev and with an operator component) is removed here
        result["removed_leftovers"] = cluster.delete_revision_leftovers(revision)
        module.warn("istioctl uninstall --revision %s: %s; removed what was left of the revision instead: %s"
                    % (revision, REVISION_GONE, ", ".join(result["removed_leftovers"]) or "nothing"))
        rc = 0
    if rc != 0:
        raise IstioctlError("istioctl uninstall failed (exit %d): %s" % (rc, last_lines(err or out)),
                            command=command, stdout_lines=result["stdout_lines"],
                            stderr_lines=result["stderr_lines"])
    cluster.delete_record(revision)
    result["control_plane"] = _control_plane(cluster.list_deployments(), revision)
    result["msg"] = "uninstalled Istio"
    return result
