# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Istio releases, said once and light: the pattern of a release (the istioctl module's input, the istio_release
test) and the release a Deployment runs (the control plane's health, the canary plan). The Jinja plugins import
this module, so it imports nothing heavier than the names rules: a task that uses a test or filter of the
collection loads them all, and a Kubernetes client imported here would cost every such task its import."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.istio_demo.mesh.plugins.module_utils.names import image_tag

VERSION_RE = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")


def deployment_version(deployment):
    """The release a Deployment runs: the tag of its first container image that has one."""
    containers = ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    for container in containers:
        tag = image_tag(container.get("image", ""))
        if tag:
            return tag
    return None
