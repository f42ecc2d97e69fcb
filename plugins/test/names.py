# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dns_label, dns_1035_label and dns_subdomain tests: Kubernetes names, checked as the engines check them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.istio_demo.mesh.plugins.module_utils import names


class TestModule(object):
    def tests(self):
        return {"dns_label": names.dns_label, "dns_1035_label": names.dns_1035_label,
                "dns_subdomain": names.dns_subdomain}
