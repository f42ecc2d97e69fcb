# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The collection's one way to reach the Kubernetes API.

Authentication is kubernetes.core's: its argument spec, its environment
variables (K8S_AUTH_*), its kubeconfig handling and its client factory.
This file only turns that client into what the collection's own engines
need and turns its failures into messages a person can act on.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import json
import os

try:
    from urllib3.util.retry import Retry
except ImportError:  # kubernetes requires urllib3; module.requires("kubernetes") reports its absence
    class Retry(object):
        DEFAULT = None

from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC


class K8sConnectionError(MeshError):
    """The Kubernetes API could not be configured or reached."""


def auth_argument_spec():
    """A copy of kubernetes.core's authentication options (secrets marked no_log)."""
    return copy.deepcopy(AUTH_ARG_SPEC)


def describe_source(params):
    """Where the connection settings came from, without revealing secrets."""
    kubeconfig = params.get("kubeconfig")
    if isinstance(kubeconfig, dict):
        source = "kubeconfig=<inline mapping>"
    elif kubeconfig:
        # kubeconfig is a no_log option, so Ansible hides its full value
        # anywhere in the output; the file names alone still say which.
        source = "kubeconfig=%s" % _file_names(kubeconfig)
    elif params.get("host"):
        source = "host=%s" % params.get("host")
    else:
        source = "the default kubeconfig (KUBECONFIG or ~/.kube/config)"
    if params.get("context"):
        source += ", context=%s" % params.get("context")
    return source


def _file_names(paths):
    return ":".join(".../" + os.path.basename(p.rstrip("/")) for p in str(paths).split(os.pathsep) if p)


def missing_kubeconfig(params):
    """The kubeconfig files named in ``params`` that do not exist."""
    kubeconfig = params.get("kubeconfig")
    if not kubeconfig or isinstance(kubeconfig, dict):
        return []
    return [p for p in str(kubeconfig).split(os.pathsep) if p and not os.path.isfile(os.path.expanduser(p))]


def connect(module):
    """kubernetes.core's client for ``module`` (an AnsibleK8SModule).

    Its requests retry transient failures (see retry_policy) up to the module's api_retries times with
    api_backoff; so does building it (it asks the server's version). Every retry is noted in one RetryLog, kept as
    ``module.mesh_retry_log`` and ``client.retry_log``, for k8s_module to report.

    Raises K8sConnectionError naming the settings that were used when the
    configuration cannot be loaded or the API server does not answer.
    """
    module.requires("kubernetes")
    params = module.params
    retries = params.get("api_retries", DEFAULT_RETRIES)
    backoff = params.get("api_backoff", DEFAULT_BACKOFF)
    log = getattr(module, "mesh_retry_log", None) or RetryLog()
    module.mesh_retry_log = log
    missing = missing_kubeconfig(params)
    if missing:
        raise K8sConnectionError(
            "kubeconfig=%s is invalid: expected a readable kubeconfig file, and %s does not exist"
            % (_file_names(params["kubeconfig"]), _file_names(os.pathsep.join(missing))))
    policy = retry_policy(retries, backoff, log)
    # building the client asks the server for its version and API groups through urllib3 pools made with urllib3's
    # default policy (which would retry a 429/503 carrying Retry-After unseen): for that moment the default is ours
    previous = Retry.DEFAULT
    Retry.DEFAULT = policy
    try:
        # imported here, not with this file: the client pulls in the whole kubernetes package (about 0.3 s a
        # module run), which a module that never connects (traffic_probe on a URL) does without
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
        client = get_api_client(module=module)
    except Exception as exc:  # kubernetes raises many types; all mean "cannot connect"
        raise K8sConnectionError(
            "cannot connect to the Kubernetes API with %s: %s" % (describe_source(params), _short(exc)))
    finally:
        Retry.DEFAULT = previous
    install_retries(client, policy)
    client.retry_log = log
    return client


# Answers that mean "not now" rather than "no": the API server or a proxy in
# front of it was overloaded, restarting or unreachable for a moment.
TRANSIENT_STATUS = (429, 500, 502, 503, 504)
DEFAULT_RETRIES = 5
DEFAULT_BACKOFF = 0.5
MAX_BACKOFF = 8.0


class RetryLog(object):
    """What was retried, to report it in the module's result and warnings."""

    def __init__(self):
        self.events = []

    def note(self, method, url, response, error):
        if response is not None and getattr(response, "status", None):
            why = "HTTP %s" % response.status
        elif error is not None:
            why = type(error).__name__
        else:
            why = "no answer"
        path = str(url or "").split("?", 1)[0]
        self.events.append({"method": str(method), "path": path, "reason": why})

    def warning(self):
        """One line for module.warn(), or None when nothing was retried."""
        if not self.events:
            return None
        shown = ", ".join("%s %s (%s)" % (e["method"], e["path"], e["reason"]) for e in self.events[:5])
        more = len(self.events) - 5
        return "retried %d Kubernetes API request(s) after transient failures, with backoff: %s%s" % (
            len(self.events), shown, " and %d more" % more if more > 0 else "")


def read_json(client, resource, **params):
    """GET ``resource`` (a discovered kubernetes.core resource) as the API's JSON, parsed into plain dicts and
    lists: the answer the dynamic client would give, without building its object model and turning it back
    (most of the time of a large LIST). Errors are the dynamic client's, as with ``client.get``."""
    response = client.get(resource, serialize=False, **params)
    return json.loads(response.data)


def retry_policy(retries=DEFAULT_RETRIES, backoff=DEFAULT_BACKOFF, log=None):
    """A urllib3 Retry that retries transient failures and notes each retry in ``log`` (a RetryLog).

    429 and 5xx answers and dropped or refused connections are retried up to
    ``retries`` times per request, waiting backoff * 2**n seconds (at most
    MAX_BACKOFF) or what the server's Retry-After asks. Every method is
    retried: Kubernetes answers 429/503 before acting, an apply is a PATCH of
    the whole desired state, and a create whose first attempt did land is
    refused with 409 rather than duplicated. Other answers (401, 404, 409,
    422) are returned at once.
    """
    log = log if log is not None else RetryLog()

    class NotingRetry(Retry):
        def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
            # noted only when a retry follows: once they are exhausted, increment raises and the last answer or
            # error is the caller's
            following = super(NotingRetry, self).increment(method, url, response, error, _pool, _stacktrace)
            log.note(method, url, response, error)
            return following

    settings = dict(total=retries, connect=retries, read=retries, status=retries, redirect=0,
                    allowed_methods=None, status_forcelist=TRANSIENT_STATUS, backoff_factor=backoff,
                    respect_retry_after_header=True, raise_on_status=False)
    try:
        return NotingRetry(backoff_max=MAX_BACKOFF, **settings)
    except TypeError:  # urllib3 1.26 has a class-wide ceiling instead
        NotingRetry.BACKOFF_MAX = MAX_BACKOFF
        return NotingRetry(**settings)


def install_retries(client, policy):
    """The retry policy (see retry_policy) for every request of a kubernetes.core client, from now on."""
    configuration = getattr(client, "configuration", None)
    if configuration is not None:
        configuration.retries = policy
    api_client = getattr(getattr(client, "client", None), "client", None)
    pool_manager = getattr(getattr(api_client, "rest_client", None), "pool_manager", None)
    if pool_manager is not None:
        # the client is built by kubernetes.core; its connection pools take
        # their retry policy from here when they are (re)created
        pool_manager.connection_pool_kw["retries"] = policy
        pool_manager.clear()


def request_settings(client):
    """(API server URL, auth headers, TLS settings, proxy URL) of a kubernetes.core client.

    The headers carry the bearer token or basic credentials and the
    impersonation headers; callers must never log them.
    """
    configuration = client.configuration
    headers = {}
    api_client = getattr(client.client, "client", None)
    for name, value in (getattr(api_client, "default_headers", None) or {}).items():
        if str(name).lower() != "user-agent":
            headers[str(name)] = value
    # auth_settings() runs the client's token refresh hook (exec plugins such
    # as "aws eks get-token") and knows the key names of every client version.
    for setting in configuration.auth_settings().values():
        if setting.get("in") == "header" and setting.get("value"):
            headers[setting["key"].title()] = setting["value"]
    if "Authorization" not in headers and configuration.username and configuration.password:
        raw = "%s:%s" % (configuration.username, configuration.password)
        headers["Authorization"] = "Basic " + base64.b64encode(raw.encode("utf-8")).decode("ascii")
    tls = {
        "validate_certs": bool(configuration.verify_ssl),
        "ca_file": configuration.ssl_ca_cert,
        "cert_file": configuration.cert_file,
        "key_file": configuration.key_file,
    }
    return configuration.host, headers, tls, configuration.proxy


def _short(exc):
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0] if len(text) > 300 else text
