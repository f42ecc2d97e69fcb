# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The root of every failure the collection's modules report."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class MeshError(Exception):
    """A failure to report as it is: ``message`` for the person, ``details`` into the task result.

    Every module maps it to fail_json in one place (k8s_module.run_k8s_module for the Kubernetes modules)."""

    def __init__(self, message, **details):
        Exception.__init__(self, message)
        self.message = message
        self.details = details
