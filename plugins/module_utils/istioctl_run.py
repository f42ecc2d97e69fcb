# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Running istioctl as the module's own identity: the binary found, run through ``module.run_command`` (never a
shell) within a timeout, with the module's cluster, context, impersonation and proxy; ``istioctl version`` parsed.
Every module that runs istioctl (istioctl, revision_tag, gateway_routes) runs it through here."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import os
import shutil
import tempfile
import threading

from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError

DOWNLOAD_HINT = ("install it with the istio_demo.mesh.istio_install role, or download it from "
                 "https://github.com/istio/istio/releases (istioctl-VERSION-linux-amd64.tar.gz), or set istioctl_path")


class IstioctlError(MeshError):
    """A failure of istioctl or of the cluster it works on, to report as it is."""


def connection_flags(kubeconfig=None, context=None, namespace="istio-system"):
    flags = ["--istioNamespace", namespace] if namespace and namespace != "istio-system" else []
    if kubeconfig:
        flags += ["--kubeconfig", kubeconfig]
    if context:
        flags += ["--context", context]
    return flags


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


def last_lines(text, count=15):
    lines = [l for l in (text or "").splitlines() if l.strip()]
    return "\n".join(lines[-count:])


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
