"""The Istio objects the roles write validate against Istio's real CRDs (their OpenAPI v3 schemas from
manifests/charts/base/files/crd-all.gen.yaml at 1.30.3), for the served version the template names - as the
API server of a real cluster validates them."""

import os

import jsonschema
import pytest
import yaml
from ansible_collections.istio_demo.mesh.plugins.filter.demo import app_routes

import roletemplates
from conftest import load_all
from roletemplates import plain_defaults, role_defaults

RELEASE = "1.30.3"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def schemas(path):
    """{(apiVersion, kind): openAPIV3Schema} for every served version of every CRD in the file."""
    out = {}
    for crd in load_all(path):
        spec = crd["spec"]
        for version in spec["versions"]:
            if version.get("served"):
                out[("%s/%s" % (spec["group"], version["name"]), spec["names"]["kind"])] = \
                    version["schema"]["openAPIV3Schema"]
    return out


def render(role, template, overrides=None):
    # the routes are what app_routes makes of the demo's apps (the filter called here: a pytest worker's collection
    # loader may already point elsewhere)
    variables = role_defaults(role)
    mesh = plain_defaults("mesh")
    for name in ("ingress_routes", "nginx_proxy_routes"):
        variables[name] = app_routes(mesh["mesh_apps"], mesh["mesh_app_port"])
    variables.update(overrides or {})
    return [doc for doc in yaml.safe_load_all(roletemplates.render(role, template, variables)) if doc]


def strict(schema):
    """The schema as the API server applies it: unknown fields are refused unless the schema preserves them."""
    if isinstance(schema, dict):
        schema = dict((k, strict(v)) for k, v in schema.items())
        if schema.get("type") == "object" and "properties" in schema and \
                not schema.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


REWRITE = {"ingress_hosts": ["shop.example.com"], "ingress_port": 8080,
           "ingress_routes": [{"path": "/", "service": "web", "port": 8080, "rewrite": "/index"}]}


@pytest.mark.parametrize("overrides", [{}, REWRITE], ids=["defaults", "rewrite"])
def test_ingress_routes_validate_against_istios_crds(real, overrides):
    known = schemas(real(RELEASE, "crds/istio-crd-all.gen.yaml"))
    objects = render("ingress", "routes.yml.j2", overrides)
    assert sorted(o["kind"] for o in objects) == ["Gateway", "VirtualService"]
    for obj in objects:
        schema = known[(obj["apiVersion"], obj["kind"])]
        jsonschema.validate({"spec": obj["spec"]}, strict({"type": "object", "properties": {
            "spec": schema["properties"]["spec"]}}))


def test_a_wrong_field_is_refused_by_the_real_schema(real):
    """The check above can fail: a route without its destination host is what the real schema refuses."""
    known = schemas(real(RELEASE, "crds/istio-crd-all.gen.yaml"))
    obj = render("ingress", "routes.yml.j2")[1]
    del obj["spec"]["http"][0]["route"][0]["destination"]["host"]
    schema = known[(obj["apiVersion"], obj["kind"])]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"spec": obj["spec"]}, strict({"type": "object", "properties": {
            "spec": schema["properties"]["spec"]}}))
