# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shift_plan and shift_shares filters: the traffic_shift role's decisions (module_utils/shift.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.istio_demo.mesh.plugins.module_utils import shift


def shift_plan(read, api, subsets, steps):
    """The plan from a k8s_info result of the route (or its resources)."""
    resources = read.get("resources") or [] if isinstance(read, dict) else list(read or [])
    try:
        return shift.plan(resources[0] if resources else {}, api, subsets, steps)
    except shift.ShiftError as exc:
        raise AnsibleFilterError("shift_plan: %s" % exc)


def shift_shares(weights, subsets):
    try:
        return shift.expected_shares(subsets, weights)
    except shift.ShiftError as exc:
        raise AnsibleFilterError("shift_shares: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"shift_plan": shift_plan, "shift_shares": shift_shares}
