"""The demo in the data planes and ingress APIs beside the sidecar + Istio Gateway of the other tests: ambient with
a Gateway API ingress, a sidecar mesh with a Gateway API ingress whose CRDs the user installed, ambient with the
Istio ingress gateway - each through site.yml, a rerun that changes nothing, verify.yml and teardown.yml, on one
sandbox of its own (the flows follow each other: teardown leaves the cluster as it found it)."""

import json
import os
import time

import awsview
import pytest
import sandboxrun

from playbook import PlaybookRun, collection_playbook, verify_report

pytestmark = pytest.mark.minutes(9)

UPSTREAM = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))), "shared", "upstream", "istio", "1.30.3")
GATEWAY_API = "gateway.networking.k8s.io"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with sandboxrun.own(tmp_path_factory, "dataplanes") as running:
        yield running


def play(cluster, tmp_path, name, dataplane, ingress_api, *extra):
    rc, stats, proc = collection_playbook(cluster, tmp_path, name, "-e", "mesh_dataplane=" + dataplane,
                                          "-e", "mesh_ingress_api=" + ingress_api, *extra)
    return rc, stats, PlaybookRun(proc)


def get(cluster, *args):
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def app_pods(cluster):
    return [p for p in get(cluster, "pods", "-n", "my-app")["items"]
            if p["metadata"]["labels"].get("app") in ("my-app-v1", "my-app-v2", "nginx")]


def gateway_api_crds(cluster):
    """{name: whether the collection marked it as its own} of the Gateway API CRDs in the cluster."""
    return dict((c["metadata"]["name"], (c["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by")
                 == "istio_demo.mesh") for c in get(cluster, "crd")["items"]
                if c["metadata"]["name"].endswith("." + GATEWAY_API))


def left_behind(cluster):
    """What a teardown must not leave: the demo namespace, Istio, load balancers and their security groups."""
    namespaces = [n["metadata"]["name"] for n in get(cluster, "namespaces")["items"]]
    return {"namespaces": [n for n in namespaces if n in ("my-app", "istio-system")],
            "load_balancers": cluster.load_balancers(),
            "lb_groups": [g["GroupName"] for g in awsview.groups(cluster) if g["GroupName"].startswith("k8s-")]}


NOTHING = {"namespaces": [], "load_balancers": {}, "lb_groups": []}


def test_ambient_with_a_gateway_api_ingress(cluster, tmp_path):
    rc, stats, run = play(cluster, tmp_path, "site.yml", "ambient", "gateway-api", "-e", "demo_apps_waypoint=true")
    assert rc == 0, run.outline()
    # the optional waypoint for the demo's services: the Gateway istioctl waypoint apply makes, its proxy deployed
    waypoint = get(cluster, "gateways." + GATEWAY_API, "waypoint", "-n", "my-app")
    assert waypoint["spec"]["gatewayClassName"] == "istio-waypoint"
    assert get(cluster, "deployment", "waypoint", "-n", "my-app")["spec"]["template"]["spec"]["containers"][0][
        "args"][:2] == ["proxy", "waypoint"]
    # ambient: no sidecar, every app pod enrolled by the CNI node agent; ztunnel on every node
    pods = app_pods(cluster)
    assert len(pods) == 5
    assert all(not any(c["name"] == "istio-proxy" for c in p["spec"]["containers"]) for p in pods)
    assert all(p["metadata"]["annotations"].get("ambient.istio.io/redirection") == "enabled" for p in pods)
    namespace = get(cluster, "namespace", "my-app")["metadata"]["labels"]
    assert namespace.get("istio.io/dataplane-mode") == "ambient" and "istio-injection" not in namespace
    assert namespace.get("istio.io/use-waypoint") == "waypoint"
    assert sorted(d["metadata"]["name"] for d in get(cluster, "daemonsets", "-n", "istio-system")["items"]) == [
        "istio-cni-node", "ztunnel"]
    # the Gateway API ingress: CRDs installed and marked, the Gateway Istio deployed, no istio-ingressgateway
    assert gateway_api_crds(cluster) and all(gateway_api_crds(cluster).values())
    gateway = get(cluster, "gateways." + GATEWAY_API, "my-app-gateway", "-n", "my-app")
    assert gateway["spec"]["gatewayClassName"] == "istio"
    assert [c["status"] for c in gateway["status"]["conditions"] if c["type"] == "Programmed"] == ["True"]
    service = get(cluster, "service", "my-app-gateway-istio", "-n", "my-app")
    # who may reach it: the field every controller reads (Auto Mode ignores the annotation), patched in by Istio
    # from the Gateway's parametersRef ConfigMap
    assert service["spec"]["loadBalancerSourceRanges"] == ["127.0.0.1/32"]
    assert "service.beta.kubernetes.io/load-balancer-source-ranges" not in service["metadata"]["annotations"]
    assert cluster.kubectl("get", "service", "istio-ingressgateway", "-n", "istio-system",
                           check=False).returncode != 0
    assert len(cluster.load_balancers()) == 1
    rc, stats, run = play(cluster, tmp_path, "site.yml", "ambient", "gateway-api", "-e", "demo_apps_waypoint=true")
    assert rc == 0 and stats["changed"] == 0, run.outline()
    rc, text, run = verify_report(cluster, tmp_path, "-e", "mesh_dataplane=ambient", "-e",
                                  "mesh_ingress_api=gateway-api")
    assert rc == 0, run.outline()
    assert "| pods in my-app | pass | 5 of 5 in the mesh and ready (5 ambient, 0 with a sidecar) |" in text
    assert "| route ingress gateway /v1 | pass |" in text and "| route nginx /v2 | pass |" in text
    # traffic for the dashboards, in the mesh and through the Gateway's address
    rc, stats, run = play(cluster, tmp_path, "traffic.yml", "ambient", "gateway-api", "-e", "traffic_duration=2")
    assert rc == 0, run.outline()
    probes = run.result("Send traffic through the ingress for the whole duration")["results"]
    assert len(probes) == 2 and all(set(r["status_codes"]) == {"200"} for r in probes)
    rc, stats, run = play(cluster, tmp_path, "teardown.yml", "ambient", "gateway-api")
    assert rc == 0, run.outline()
    assert gateway_api_crds(cluster) == {}  # the collection installed them, so it removed them
    assert left_behind(cluster) == NOTHING


def test_sidecars_with_a_gateway_api_ingress_on_crds_the_user_installed(cluster, tmp_path):
    cluster.kubectl("apply", "--server-side", "-f", os.path.join(UPSTREAM, "crds", "gateway-api-crd.yaml"))
    before = gateway_api_crds(cluster)
    assert before and not any(before.values())
    # its kinds are served once Established (kubernetes/kubernetes#57042): wait as a user would
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", *("crd/" + name for name in before))
    try:
        rc, stats, run = play(cluster, tmp_path, "site.yml", "sidecar", "gateway-api")
        assert rc == 0, run.outline()
        pods = app_pods(cluster)
        assert all(any(c["name"] == "istio-proxy" for c in p["spec"]["containers"]) for p in pods)
        assert gateway_api_crds(cluster) == before  # not taken over
        rc, text, run = verify_report(cluster, tmp_path, "-e", "mesh_dataplane=sidecar", "-e",
                                      "mesh_ingress_api=gateway-api")
        assert rc == 0, run.outline()
        assert "| pods in my-app | pass | 5 of 5 injected and ready |" in text
        # a traffic shift on this ingress is an HTTPRoute with weighted backendRefs, each step taken by the gateway
        # before it is measured (a VirtualService would bind to no Gateway here)
        steps = json.dumps({"traffic_shift_steps": [{"v1": 50, "v2": 50}, {"v1": 0, "v2": 100}],
                            "traffic_shift_requests": 200})
        rc, stats, run = play(cluster, tmp_path, "traffic_shift.yml", "sidecar", "gateway-api", "-e", steps)
        assert rc == 0, run.outline()
        route = get(cluster, "httproute", "my-app-shift", "-n", "my-app")
        assert [(b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]] == [
            ("my-app-v1-svc", 0), ("my-app-v2-svc", 100)]
        measured = [r for name, r in run.results().items() if name.endswith("counting answers by version")]
        assert measured and measured[-1]["counts"] == {"2.0.0": 200}, measured
        assert cluster.kubectl("get", "virtualservice", "my-app-shift", "-n", "my-app", check=False).returncode != 0
        rc, stats, run = play(cluster, tmp_path, "teardown.yml", "sidecar", "gateway-api")
        assert rc == 0, run.outline()
        assert gateway_api_crds(cluster) == before  # the user's CRDs stay
        assert left_behind(cluster) == NOTHING
    finally:
        cluster.kubectl("delete", "-f", os.path.join(UPSTREAM, "crds", "gateway-api-crd.yaml"), "--ignore-not-found")


def test_ambient_with_the_istio_ingress_gateway(cluster, tmp_path):
    rc, stats, run = play(cluster, tmp_path, "site.yml", "ambient", "istio")
    assert rc == 0, run.outline()
    assert get(cluster, "service", "istio-ingressgateway", "-n", "istio-system")["spec"]["type"] == "LoadBalancer"
    assert all(p["metadata"]["annotations"].get("ambient.istio.io/redirection") == "enabled"
               for p in app_pods(cluster))
    rc, text, run = verify_report(cluster, tmp_path, "-e", "mesh_dataplane=ambient", "-e", "mesh_ingress_api=istio")
    assert rc == 0, run.outline()
    assert "| route ingress gateway /v1 | pass |" in text
    rc, stats, run = play(cluster, tmp_path, "teardown.yml", "ambient", "istio")
    assert rc == 0, run.outline()
    assert left_behind(cluster) == NOTHING


def test_gateway_api_crds_older_than_istio_needs_are_refused_before_any_change(cluster, tmp_path):
    old = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "gateways." + GATEWAY_API,
                        "annotations": {GATEWAY_API + "/bundle-version": "v0.6.2"}},
           "spec": {"group": GATEWAY_API, "scope": "Namespaced",
                    "names": {"kind": "Gateway", "plural": "gateways", "singular": "gateway",
                              "listKind": "GatewayList"},
                    "versions": [{"name": "v1beta1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object",
                                                                 "x-kubernetes-preserve-unknown-fields": True}}}]}}
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(old))
    try:
        start = time.time()
        rc, stats, run = play(cluster, tmp_path, "site.yml", "sidecar", "gateway-api", "--tags", "ingress")
        assert rc != 0
        assert "gateways.gateway.networking.k8s.io at v0.6.2 serving v1beta1" in run.outline()
        assert [e for e in cluster.writes(start) if not e["dry_run"]] == []
    finally:
        cluster.kubectl("delete", "crd", "gateways." + GATEWAY_API)


@pytest.mark.parametrize("bundle", ["v1.4.1", "v1.1.0"])
def test_the_bundle_istio_1_29_is_built_on_is_taken_and_an_older_one_is_not(cluster, tmp_path, bundle):
    # the CRDs as a user of Istio 1.28 / 1.29 has them (v1.4.1: ReferenceGrant served at v1beta1 only), or older
    crds = os.path.join(cluster.state_dir, "gateway-api-crds-%s.yaml" % bundle)
    cluster.kubectl("apply", "--server-side", "-f", crds)
    try:
        rc, stats, run = play(cluster, tmp_path, "site.yml", "sidecar", "gateway-api", "--tags", "ingress", "--check")
    finally:
        cluster.kubectl("delete", "-f", crds, "--ignore-not-found")  # the module's sandbox is shared
    wanted = "Refuse Gateway API CRDs older than Istio needs, before any change"
    check = [r for name, r in run.results().items() if name.endswith(wanted)]
    assert check, run.outline()
    check = check[0]
    if bundle == "v1.4.1":
        assert not check.get("failed"), check.get("msg")
    else:
        assert rc != 0 and check.get("failed")
        assert "gateways.gateway.networking.k8s.io at v1.1.0 serving v1, v1beta1" in check["msg"], check["msg"]
        assert "expected bundle version v1.2.0 or newer (spec.infrastructure" in check["msg"]
        assert "referencegrants at v1beta1" in check["msg"]


def test_ambient_is_refused_where_the_vpc_cni_would_fail_its_health_probes(cluster, tmp_path):
    """EKS's VPC CNI (kube-system/aws-node) with security groups for pods in strict mode: Istio's platform
    prerequisites for ambient say every ambient pod's health probes fail there. The DaemonSet carries the two
    settings as the vpc-cni add-on's aws-node container does (environment variables)."""
    aws_node = {"apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": {"name": "aws-node", "namespace": "kube-system"},
                "spec": {"selector": {"matchLabels": {"k8s-app": "aws-node"}}, "template": {
                    "metadata": {"labels": {"k8s-app": "aws-node"}},
                    "spec": {"containers": [{"name": "aws-node", "image": "amazon-k8s-cni:v1.19.2",
                                             "env": [{"name": "ENABLE_POD_ENI", "value": "true"},
                                                     {"name": "POD_SECURITY_GROUP_ENFORCING_MODE",
                                                      "value": "strict"}]}]}}}}
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(aws_node))
    try:
        start = time.time()
        rc, stats, run = play(cluster, tmp_path, "site.yml", "ambient", "istio", "--tags", "istio")
        assert rc != 0
        outline = run.outline()
        assert "istio_install_dataplane=ambient is invalid on this cluster" in outline
        assert "POD_SECURITY_GROUP_ENFORCING_MODE=strict" in outline
        assert "expected POD_SECURITY_GROUP_ENFORCING_MODE=standard" in outline
        assert [e for e in cluster.writes(start) if not e["dry_run"]] == []
        # standard mode is what Istio asks for: then ambient goes on (checked in check mode, nothing written)
        aws_node["spec"]["template"]["spec"]["containers"][0]["env"][1]["value"] = "standard"
        cluster.kubectl("apply", "-f", "-", stdin=json.dumps(aws_node))
        rc, stats, run = play(cluster, tmp_path, "site.yml", "ambient", "istio", "--tags", "istio", "--check")
        assert rc == 0, run.outline()
    finally:
        cluster.kubectl("delete", "daemonset", "aws-node", "-n", "kube-system")


def test_a_crd_download_without_its_checksum_is_refused_before_any_change(cluster, tmp_path):
    assert gateway_api_crds(cluster) == {}
    start = time.time()
    rc, stats, run = play(cluster, tmp_path, "site.yml", "sidecar", "gateway-api", "--tags", "ingress",
                          "-e", "ingress_gateway_api_crds_file=", "-e",
                          "ingress_gateway_api_crds_url=https://example.invalid/standard-install.yaml")
    assert rc != 0
    assert 'ingress_gateway_api_crds_sha256="" is invalid: expected the manifest\'s sha256' in run.outline()
    assert [e for e in cluster.writes(start) if not e["dry_run"]] == []
