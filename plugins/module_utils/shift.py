# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a traffic shift stands and what its measurement should see (the traffic_shift role's decisions)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError

APIS = ("istio", "gateway-api")


class ShiftError(MeshError):
    pass


def _int(value, where):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ShiftError("%s=%r is not a whole number" % (where, value))


def held_weights(route, api, subsets):
    """The weights (subset -> percentage) the route holds: a VirtualService's first http route's destinations by
    subset, or an HTTPRoute's first rule's backendRefs by the Service each subset names; {} without a route."""
    if api not in APIS:
        raise ShiftError("api=%r is invalid: expected one of %s" % (api, ", ".join(APIS)))
    spec = (route or {}).get("spec") or {}
    held = {}
    if api == "gateway-api":
        by_service = dict(((s.get("service") or ""), s["name"]) for s in subsets)
        for ref in ((spec.get("rules") or [{}])[0] or {}).get("backendRefs") or []:
            held[by_service.get(ref.get("name"), ref.get("name"))] = _int(ref.get("weight", 1), "backendRefs weight")
    else:
        for destination in ((spec.get("http") or [{}])[0] or {}).get("route") or []:
            subset = (destination.get("destination") or {}).get("subset") or ""
            held[subset] = _int(destination.get("weight", 0), "route weight")
    return held


def plan(route, api, subsets, steps):
    """held (the route's weights), steps (with whole-number weights) and from (the index of the first step still to
    take: after the step the held weights match, else 0)."""
    held = held_weights(route, api, subsets)
    whole = [dict((name, _int(weight, "traffic_shift_steps[%d].%s" % (index, name))) for name, weight in step.items())
             for index, step in enumerate(steps)]
    return {"held": held, "steps": whole, "from": whole.index(held) + 1 if held in whole else 0}


def expected_shares(subsets, weights):
    """The share of the answers each answer key should get under ``weights``: a subset's weight goes to the key its
    answers carry (two subsets may answer alike)."""
    shares = {}
    for subset in subsets:
        if subset["name"] in weights:
            key = str(subset.get("answers"))
            shares[key] = shares.get(key, 0) + _int(weights[subset["name"]], "weight of " + subset["name"]) / 100.0
    return shares
