"""What the sandbox's istioctl installs against what real `istioctl manifest generate` renders (the goldens of
operator/cmd/mesh/testdata/manifest-generate at 1.30.3): the same kinds, names and selecting labels, and the CRDs
with their real schemas."""

import subprocess

import pytest
import yaml

from conftest import load_all

RELEASE = "1.30.3"
SELECTING = ("app", "istio", "istio.io/rev")


def objects(docs):
    """{(kind, name): the selecting labels} of every object but CRDs and the namespace."""
    out = {}
    for doc in docs:
        if doc["kind"] not in ("CustomResourceDefinition", "Namespace"):
            labels = doc["metadata"].get("labels") or {}
            out[(doc["kind"], doc["metadata"]["name"])] = {k: v for k, v in labels.items() if k in SELECTING}
    return out


def generate(sandbox, *sets):
    args = ["istioctl", "manifest", "generate"]
    for item in sets:
        args += ["--set", item]
    proc = subprocess.run(args, env=sandbox.env, capture_output=True, text=True, timeout=60, check=True)
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def test_minimal_profile_is_the_real_control_plane(real, sandbox):
    # the golden renders the pilot component alone
    ours = objects(generate(sandbox, "profile=minimal", "components.base.enabled=false"))
    theirs = objects(load_all(real(RELEASE, "manifest-generate/pilot_default.golden.yaml")))
    assert sorted(ours) == sorted(theirs)
    for key, labels in theirs.items():
        # istioctl install labels every object with its revision; the golden shows it where the chart does
        assert {k: v for k, v in ours[key].items() if k in labels} == labels, key


def test_demo_profile_adds_both_gateways_as_real_istio_names_them(real, sandbox):
    ours = objects(generate(sandbox, "profile=demo"))
    theirs = objects(load_all(real(RELEASE, "manifest-generate/all_on.golden-show-in-gh-pull-request.yaml")))
    assert sorted(ours) == sorted(theirs)
    service = [d for d in generate(sandbox, "profile=demo") if d["kind"] == "Service"
               and d["metadata"]["name"] == "istio-ingressgateway"][0]
    assert service["spec"]["type"] == "LoadBalancer"
    assert [p["name"] for p in service["spec"]["ports"]] == ["status-port", "http2", "https"]


@pytest.mark.parametrize("profile", ["minimal", "ambient"])
def test_profiles_without_an_ingress_gateway(sandbox, profile):
    """ambient and minimal install no ingress gateway (profiles/*.yaml)."""
    names = {d["metadata"]["name"] for d in generate(sandbox, "profile=%s" % profile)}
    assert "istio-ingressgateway" not in names and "istiod" in names


def test_crds_carry_istios_schemas(real, sandbox):
    ours = {d["metadata"]["name"]: d for d in generate(sandbox, "profile=minimal")
            if d["kind"] == "CustomResourceDefinition"}
    theirs = {d["metadata"]["name"]: d for d in load_all(real(RELEASE, "crds/istio-crd-all.gen.yaml"))}
    assert sorted(ours) == sorted(theirs) and "virtualservices.networking.istio.io" in ours
    for name, crd in ours.items():
        assert crd["spec"] == theirs[name]["spec"], name
