# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The istio_release test: an Istio release as the istioctl module reads one (one pattern for roles and modules)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.istio_demo.mesh.plugins.module_utils.releases import VERSION_RE


def istio_release(value):
    return isinstance(value, str) and VERSION_RE.match(value) is not None


class TestModule(object):
    def tests(self):
        return {"istio_release": istio_release}
