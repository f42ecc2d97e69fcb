"""The demo's routes and the agreement check, from the collection-wide choices as roles/mesh/defaults holds them."""

import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible_collections.istio_demo.mesh.plugins.filter.demo import app_routes, disagreement, route_targets
from ansible_collections.istio_demo.mesh.plugins.test.release import istio_release

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
with open(os.path.join(ROOT, "roles", "mesh", "defaults", "main.yml")) as _handle:
    MESH = yaml.safe_load(_handle)


def test_the_default_apps_are_routed_by_version_to_their_services():
    routes = app_routes(MESH["mesh_apps"], MESH["mesh_app_port"])
    assert routes == [{"path": "/v1", "service": "my-app-v1-svc", "port": 80},
                      {"path": "/v2", "service": "my-app-v2-svc", "port": 80}]
    assert route_targets(routes, MESH["mesh_namespace"]) == ["my-app-v1-svc.my-app:80", "my-app-v2-svc.my-app:80"]


def test_a_port_given_as_text_on_the_command_line_is_a_number():
    assert app_routes([{"name": "shop-a", "version": "a"}], "8080") == [
        {"path": "/a", "service": "shop-a-svc", "port": 8080}]


def test_two_routes_to_one_service_are_one_target():
    routes = [{"path": "/a", "service": "web", "port": 80}, {"path": "/b", "service": "web", "port": 80}]
    assert route_targets(routes, "shop") == ["web.shop:80"]


@pytest.mark.parametrize("apps", ["my-app-v1", [{"name": "my-app-v1"}], [{"version": "v1"}]])
def test_apps_without_a_name_or_version_are_refused(apps):
    with pytest.raises(AnsibleFilterError):
        app_routes(apps, 80)


def test_values_that_agree_give_nothing_and_values_that_differ_are_all_named():
    assert disagreement([["mesh_namespace", "my-app"], ["demo_apps_namespace", "my-app"]]) == ""
    assert disagreement([["mesh_namespace", "shop"], ["demo_apps_namespace", "store"], ["ingress_namespace", "shop"]]) \
        == 'mesh_namespace="shop", demo_apps_namespace="store", ingress_namespace="shop"'
    # lists (a namespace list, source ranges) compare as values
    assert disagreement([["a", ["10.0.0.0/8"]], ["b", ["10.0.0.0/8"]]]) == ""
    with pytest.raises(AnsibleFilterError):
        disagreement([["mesh_namespace"]])


@pytest.mark.parametrize("value, expected", [
    (MESH["mesh_istio_version"], True), ("1.31.0-beta.1", True), ("1.30", False), ("v1.30.3", False),
    ("1.30.3 ", False), (1.3, False)])
def test_an_istio_release_is_major_minor_patch(value, expected):
    assert istio_release(value) is expected
