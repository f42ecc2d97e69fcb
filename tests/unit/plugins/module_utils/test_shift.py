"""Where a traffic shift stands, from the route as the traffic_shift role writes it (its route.yml.j2 rendered with
its own defaults), and the shares its measurement expects."""

import os

import pytest
import yaml

from ansible.plugins.loader import init_plugin_loader
from ansible_collections.istio_demo.mesh.plugins.module_utils import shift

from roletemplates import ROOT, plain_defaults, render, role_defaults

DEFAULTS = plain_defaults("traffic_shift")
SUBSETS = DEFAULTS["traffic_shift_subsets"]


def route(api, weights):
    """The route the role applies for ``weights``."""
    init_plugin_loader([os.path.join(ROOT, "build", "collections")])
    variables = dict(role_defaults("traffic_shift"), traffic_shift_api=api, traffic_shift_weights=weights)
    return yaml.safe_load(render("traffic_shift", "route.yml.j2", variables))


@pytest.mark.parametrize("api", shift.APIS)
def test_the_route_of_a_step_is_read_back_as_that_step_and_the_next_one_is_due(api):
    steps = DEFAULTS["traffic_shift_steps"]
    planned = shift.plan(route(api, steps[0]), api, SUBSETS, steps)
    assert planned == {"held": steps[0], "steps": steps, "from": 1}


@pytest.mark.parametrize("api", shift.APIS)
def test_weights_that_are_no_step_start_the_shift_from_its_first(api):
    planned = shift.plan(route(api, {"v1": 70, "v2": 30}), api, SUBSETS, DEFAULTS["traffic_shift_steps"])
    assert planned["held"] == {"v1": 70, "v2": 30} and planned["from"] == 0


def test_no_route_holds_nothing_and_steps_given_as_text_are_numbers():
    planned = shift.plan({}, "istio", SUBSETS, [{"v1": "50", "v2": "50"}])
    assert planned == {"held": {}, "steps": [{"v1": 50, "v2": 50}], "from": 0}


def test_a_step_weight_that_is_no_number_is_named():
    with pytest.raises(shift.ShiftError, match=r"traffic_shift_steps\[0\].v1='half'"):
        shift.plan({}, "istio", SUBSETS, [{"v1": "half", "v2": 50}])
    with pytest.raises(shift.ShiftError, match="api='nginx'"):
        shift.plan({}, "nginx", SUBSETS, [])


def test_the_shares_follow_the_answers_each_version_gives():
    assert shift.expected_shares(SUBSETS, {"v1": 90, "v2": 10}) == {"1.0.0": 0.9, "2.0.0": 0.1}
    # two subsets that answer alike add up; a subset without weight expects nothing
    alike = [dict(SUBSETS[0]), dict(SUBSETS[1], answers="1.0.0")]
    assert shift.expected_shares(alike, {"v1": 50, "v2": 50}) == {"1.0.0": 1.0}
    assert shift.expected_shares(SUBSETS, {"v2": 100}) == {"2.0.0": 1.0}
