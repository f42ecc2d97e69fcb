# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The one shape of the collection's Kubernetes modules (as amazon.aws's AnsibleAWSModule is for AWS modules).

A module gives its own options and its engine; this merges kubernetes.core's authentication options and the
retry options (api_retries, api_backoff) into its argument spec, checks them, runs the engine, and reports in one
place (errors.run_engine): what the engine returned, or its MeshError as fail_json with the error's details - in both cases with every
API request that was retried (api_retries) and a warning saying so.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError, run_engine
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_connection import (
    DEFAULT_BACKOFF,
    DEFAULT_RETRIES,
    auth_argument_spec,
)
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule

RETRY_ARGUMENT_SPEC = dict(
    api_retries=dict(type="int", default=DEFAULT_RETRIES),
    api_backoff=dict(type="float", default=DEFAULT_BACKOFF),
)


class MeshK8sModule(AnsibleK8SModule):
    """kubernetes.core's module class, which wraps an AnsibleModule, with the AnsibleModule methods the engines use
    beyond it: run_command (the istioctl engine runs istioctl with it)."""

    def run_command(self, *args, **kwargs):
        return self._module.run_command(*args, **kwargs)


def k8s_argument_spec(own):
    """kubernetes.core's authentication options, the retry options and the module's own."""
    spec = auth_argument_spec()
    spec.update(copy.deepcopy(RETRY_ARGUMENT_SPEC))
    spec.update(own)
    return spec


def check_retry_options(params):
    if params["api_retries"] < 0:
        raise MeshError("api_retries=%d is invalid: expected 0 or more retries" % params["api_retries"])
    if params["api_backoff"] < 0:
        raise MeshError("api_backoff=%s is invalid: expected 0 or more seconds" % params["api_backoff"])


def run_k8s_module(own_spec, engine, check_k8s=True, **module_options):
    """Build the module, run ``engine(module)`` and exit: its result (a dict), or fail_json for a MeshError.

    The engine connects with k8s_connection.connect(module), which keeps the client's retry log on the module;
    both outcomes carry ``api_retries`` (the retried requests) and warn once when there were any."""
    module = MeshK8sModule(argument_spec=k8s_argument_spec(own_spec), supports_check_mode=True,
                           check_k8s=check_k8s, check_pyyaml=False, **module_options)

    def checked(module):
        check_retry_options(module.params)
        return engine(module)

    def retries(module):
        _warn(module)
        return {"api_retries": _retries(module)}
    run_engine(module, checked, retries)


def _retries(module):
    log = getattr(module, "mesh_retry_log", None)
    return list(log.events) if log is not None else []


def _warn(module):
    log = getattr(module, "mesh_retry_log", None)
    warning = log.warning() if log is not None else None
    if warning:
        module.warn(warning)
