# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Glue between the traffic_probe module and the traffic engine."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.istio_demo.mesh.plugins.module_utils import traffic
from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_connection import (
    K8sConnectionError,
    connect,
    request_settings,
)
from ansible_collections.istio_demo.mesh.plugins.module_utils.traffic import ProbeInputError

__all__ = ["ProbeInputError", "argument_spec", "run"]


def argument_spec():
    """The module's own options (k8s_module adds the connection and retry options)."""
    spec = dict(
        url=dict(type="str"),
        service=dict(type="dict", options=dict(
            namespace=dict(type="str", default="default"),
            name=dict(type="str", required=True),
            port=dict(type="raw", required=True),
            path=dict(type="str", default="/"),
            scheme=dict(type="str", choices=["http", "https"], default="http"),
        )),
        requests=dict(type="int"),
        duration=dict(type="float"),
        qps=dict(type="float"),
        concurrency=dict(type="int", default=1),
        timeout=dict(type="float", default=5.0),
        method=dict(type="str", default="GET",
                    choices=list(traffic.METHODS)),
        headers=dict(type="dict", no_log=True),
        body=dict(type="str"),
        expect_status=dict(type="list", elements="int", default=[200]),
        min_success_ratio=dict(type="float", default=1.0),
        ready_timeout=dict(type="float", default=0.0),
        ready_server=dict(type="str"),
    )
    return spec


def _spec_from(params):
    return traffic.validate_spec(
        requests=params["requests"], duration=params["duration"], qps=params["qps"],
        concurrency=params["concurrency"], timeout=params["timeout"], method=params["method"],
        headers=params["headers"], body=params["body"], validate_certs=params["validate_certs"],
        expect_status=params["expect_status"], min_success_ratio=params["min_success_ratio"])


def _target(module, spec):
    params = module.params
    if params["url"] and params["service"]:
        raise ProbeInputError("url=%r and service=%r are mutually exclusive: probe either a URL or a "
                              "Kubernetes Service" % (params["url"], params["service"]))
    if params["url"]:
        return traffic.url_target(params["url"], validate_certs=spec.validate_certs)
    if not params["service"]:
        raise ProbeInputError("neither url nor service is set: expected url (an http:// or https:// URL) "
                              "or service (namespace, name, port, path)")
    namespace, name, port, path, scheme = traffic.validate_service(params["service"])
    try:
        client = connect(module)
    except K8sConnectionError as exc:
        raise ProbeInputError(str(exc))
    host, headers, tls, proxy = request_settings(client)
    if proxy:
        raise ProbeInputError("proxy=%s is set for the Kubernetes connection, but traffic_probe reaches "
                              "Services without an HTTP proxy: unset proxy or probe a url" % proxy)
    context = None
    if str(host).startswith("https"):
        context = traffic.make_ssl_context(**tls)
    return traffic.service_target(host, namespace, name, port, path, scheme=scheme, headers=headers,
                                  ssl_context=context)


def run(module):
    """Validate everything, then probe; return the report, or raise MeshError with it when the probe failed."""
    spec = _spec_from(module.params)
    target = _target(module, spec)
    ready_timeout = module.params["ready_timeout"]
    if ready_timeout < 0:
        raise ProbeInputError("ready_timeout=%r is invalid: expected seconds >= 0 (0: measure at once)" % ready_timeout)
    ready_server = module.params["ready_server"]
    if ready_server:
        try:
            re.compile(ready_server)
        except re.error as exc:
            raise ProbeInputError("ready_server=%r is invalid: expected a regular expression (%s)" % (ready_server, exc))
    report = traffic.probe(target, spec, ready_timeout=ready_timeout, ready_server=ready_server)
    if not report["passed"]:
        raise MeshError(traffic.failure_message(report), **report)
    return dict(report, changed=False,
                msg="%d of %d requests to %s succeeded" % (report["succeeded"], report["requests"], report["url"]))
