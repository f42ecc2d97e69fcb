# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sg_wanted_rules filter: the aws_security_groups role's rules (module_utils/sg_rules.py wanted_rules)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.istio_demo.mesh.plugins.module_utils import sg_rules


def sg_wanted_rules(rules, opened, optional, admin_cidrs):
    try:
        return sg_rules.wanted_rules(rules or [], opened or [], optional or {}, admin_cidrs or [])
    except sg_rules.RuleError as exc:
        raise AnsibleFilterError("sg_wanted_rules: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"sg_wanted_rules": sg_wanted_rules}
