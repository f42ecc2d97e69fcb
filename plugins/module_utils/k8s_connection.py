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
import os

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client


class K8sConnectionError(Exception):
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

    Raises K8sConnectionError naming the settings that were used when the
    configuration cannot be loaded or the API server does not answer.
    """
    module.requires("kubernetes")
    missing = missing_kubeconfig(module.params)
    if missing:
        raise K8sConnectionError(
            "kubeconfig=%s is invalid: expected a readable kubeconfig file, and %s does not exist"
            % (_file_names(module.params["kubeconfig"]), _file_names(os.pathsep.join(missing))))
    try:
        return get_api_client(module=module)
    except Exception as exc:  # kubernetes raises many types; all mean "cannot connect"
        raise K8sConnectionError(
            "cannot connect to the Kubernetes API with %s: %s" % (describe_source(module.params), _short(exc)))


def request_settings(client):
    """(API server URL, auth headers, TLS settings) of a kubernetes.core client.

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
