"""Bad input is refused before anything changes: one table across roles and modules.

For each case the play fails, the message names the variable or option, the
value and what is expected, and neither the API server (request log) nor
moto's security groups saw a change.
"""

import os
import time

import pytest

from playbook import PlaybookRun, collection_playbook, refusal, run_cases, run_playbook

pytestmark = pytest.mark.minutes(3)


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INVENTORY = os.path.join(ROOT, "inventories", "sandbox")


def role(name, **variables):
    return {"name": "case", "ansible.builtin.include_role": {"name": "istio_demo.mesh." + name}, "vars": variables}


def module(name, **options):
    return {"name": "case", "istio_demo.mesh." + name: options}


CASES = [
    ("namespace name", role("demo_apps", demo_apps_namespace="My_App"), ['demo_apps_namespace="My_App"', "namespace name"]),
    ("port", role("demo_apps", demo_apps_container_port=70000), ["demo_apps_container_port=70000", "1 and 65535"]),
    ("replicas", role("demo_apps", demo_apps_replicas="two"), ["demo_apps_replicas", "two"]),
    ("app version", role("demo_apps", demo_apps_versions=[{"name": "V1!", "image": "x", "version": "v1"}]),
     ["demo_apps_versions entry", "V1!"]),
    ("route path", role("ingress", ingress_routes=[{"path": "v1", "service": "my-app-v1-svc", "port": 80}]),
     ["ingress_routes entry", "'/'"]),
    ("gateway port", role("ingress", ingress_port=0), ["ingress_port=0", "1 and 65535"]),
    ("gateway name", role("ingress", ingress_gateway_name="my..gateway"), ['ingress_gateway_name="my..gateway"']),
    ("proxy name too long for its suffixes", role("nginx_proxy", nginx_proxy_name="n" * 53),
     ['nginx_proxy_name="%s"' % ("n" * 53)]),
    ("revision", role("istio_install", istio_install_revision="Canary"), ['istio_install_revision="Canary"']),
    ("nginx route port", role("nginx_proxy", nginx_proxy_routes=[{"path": "/v1", "service": "s", "port": 99999}]),
     ["nginx_proxy_routes entry", "99999"]),
    ("addon", role("observability", observability_addons=["kiali", "splunk"]), ["observability_addons", "splunk"]),
    ("addon directory", role("observability", observability_source="dir", observability_dir="/no/such/dir"),
     ['observability_dir="/no/such/dir"', "existing directory"]),
    ("profile", role("istio_install", istio_install_profile="galaxy"), ["istio_install_profile", "galaxy"]),
    ("version", role("istio_install", istio_install_version="1.27"), ['istio_install_version="1.27"', "1.30.3"]),
    ("istioctl path", role("istio_install", istio_install_istioctl_path="/no/such/istioctl"),
     ['istio_install_istioctl_path="/no/such/istioctl"', "existing istioctl"]),
    ("malformed CIDR", role("aws_security_groups", aws_security_groups_admin_cidrs=["10.0.0.300/8"]),
     ['aws_security_groups_admin_cidrs contains "10.0.0.300/8"', "CIDR"]),
    ("unknown data plane", role("demo_apps", demo_apps_dataplane="wasm"), ["demo_apps_dataplane", "wasm"]),
    ("ambient on a release without it", role("istio_install", istio_install_dataplane="ambient",
                                             istio_install_version="1.22.3"),
     ['istio_install_dataplane="ambient"', "Istio 1.24 or newer"]),
    ("ambient with a sidecar profile", role("istio_install", istio_install_dataplane="ambient",
                                            istio_install_profile="minimal"),
     ['istio_install_profile="minimal"', "ambient or openshift-ambient"]),
    ("unknown ingress API", role("ingress", ingress_api="nginx"), ["ingress_api", "nginx"]),
    ("Gateway open to the world", role("ingress", ingress_api="gateway-api", ingress_lb_source_ranges=[]),
     ["ingress_lb_source_ranges=[]", "ingress_lb_allow_world"]),
    ("IPv6 range for a Gateway's IPv4 load balancer", role("ingress", ingress_api="gateway-api", ingress_lb_kind="nlb",
                                                           ingress_lb_source_ranges=["2001:db8::/48"]),
     ['ingress_lb_source_ranges=["2001:db8::/48"]', "IPv4 ranges only for ingress_lb_kind=nlb",
      "ingress_lb_ip_address_type=dualstack"]),
    ("ambient with sidecar requirements", module("sidecar_info", namespace="default", require=["ambient", "init"]),
     ["require=['ambient', 'init'] is invalid", "[ambient, ready]"]),
    ("0.0.0.0/0 without opt-in", role("aws_security_groups", aws_security_groups_admin_cidrs=["0.0.0.0/0"]),
     ["0.0.0.0/0", "aws_security_groups_allow_world_open"]),
    ("EKS cluster that does not exist", role("aws_security_groups", aws_security_groups_cluster_name="no-such-cluster"),
     ["cluster_name=no-such-cluster", "no EKS cluster of that name", "us-east-1"]),
    ("no cluster and no group", role("aws_security_groups", aws_security_groups_cluster_name="",
                                     aws_security_groups_group_ids=[]),
     ["aws_security_groups_cluster_name", "aws_security_groups_group_ids"]),
    ("security group that does not exist", role("aws_security_groups", aws_security_groups_cluster_name="",
                                                aws_security_groups_group_ids=["sg-0123456789abcdef0"]),
     ["group_ids=sg-0123456789abcdef0", "does not exist"]),
    ("malformed group id", role("aws_security_groups", aws_security_groups_group_ids=["sg-nodes"]),
     ['aws_security_groups_group_ids=["sg-nodes"]', "sg-0123456789abcdef0"]),
    ("port opened by an unknown name", role("aws_security_groups", aws_security_groups_open=["ssh"]),
     ['aws_security_groups_open contains "ssh"', "kiali"]),
    ("world range by halves", role("aws_security_groups", aws_security_groups_admin_cidrs=["0.0.0.0/1"]),
     ['aws_security_groups_admin_cidrs contains "0.0.0.0/1"', "wider than /8", "aws_security_groups_allow_world_open"]),
    ("AWS profile that does not exist", module("security_group_rules", cluster_name="demo", region="us-east-1",
                                               profile="no-such-profile", nodes=[], rules=[]),
     ["profile=no-such-profile does not exist", "~/.aws/config"]),
    ("load-balancer kind", role("istio_install", istio_install_lb_kind="alb"),
     ["istio_install_lb_kind", "alb", "classic, nlb, auto-mode"]),
    ("load-balancer scheme", role("istio_install", istio_install_lb_scheme="public"),
     ["istio_install_lb_scheme", "public", "internet-facing, internal"]),
    ("internet-facing load balancer for everyone", role("istio_install", istio_install_lb_source_ranges=[]),
     ["istio_install_lb_source_ranges=[]", "whole internet", "istio_install_lb_allow_world"]),
    ("load balancer open to the world", role("istio_install", istio_install_lb_source_ranges=["0.0.0.0/0"]),
     ['istio_install_lb_source_ranges=["0.0.0.0/0"]', "no wider than /8"]),
    ("malformed load-balancer range", role("istio_install", istio_install_lb_source_ranges=["10.0.0/8"]),
     ['istio_install_lb_source_ranges=["10.0.0/8"]', "CIDRs"]),
    ("IPv6 range for a Classic ELB", role("istio_install", istio_install_lb_source_ranges=["2001:db8::/48"]),
     ['istio_install_lb_source_ranges=["2001:db8::/48"]', "IPv4 ranges only for istio_install_lb_kind=classic",
      "CidrIp", "istio_install_lb_ip_address_type=dualstack"]),
    ("IPv6 range for an IPv4 NLB", role("istio_install", istio_install_lb_kind="nlb",
                                        istio_install_lb_source_ranges=["10.1.0.0/16", "2001:db8::/48"]),
     ['istio_install_lb_source_ranges=["10.1.0.0/16", "2001:db8::/48"]', "unsupported v6 cidr"]),
    ("dual stack for a Classic ELB", role("istio_install", istio_install_lb_ip_address_type="dualstack"),
     ['istio_install_lb_ip_address_type="dualstack"', "istio_install_lb_kind=nlb"]),
    ("wrong AWS credentials", module("security_group_rules", group_ids=["sg-0123456789abcdef0"], region="us-east-1",
                                     access_key="AKIAIOSFODNN7EXAMPLE", secret_key="not-the-secret"),
     ["AWS refused the credentials (AuthFailure)", "access_key and secret_key", "us-east-1"]),
    ("URL without scheme", module("traffic_probe", url="example.com/v1"), ["url='example.com/v1'", "http://"]),
    ("qps with no bound", module("traffic_probe", url="http://127.0.0.1:9/", qps=5), ["qps=5.0", "no bound"]),
    ("negative duration", module("traffic_probe", url="http://127.0.0.1:9/", duration=-1), ["duration=-1.0", "> 0"]),
    ("unknown status code", module("traffic_probe", url="http://127.0.0.1:9/", expect_status=[777]),
     ["777", "100 and 599"]),
    ("service path", module("traffic_probe", service={"name": "web", "port": 80, "path": "v1"}),
     ["service.path='v1'", "'/'"]),
    ("revision", module("istioctl", revision="Canary_1"), ["revision='Canary_1'", "DNS label"]),
    ("values key", module("istioctl", set_values={"bad key!": 1}), ["set_values key 'bad key!'", "dotted names"]),
    ("overlay path", module("istioctl", overlay_files=["/no/such/overlay.yaml"]),
     ["overlay_files entry '/no/such/overlay.yaml'", "IstioOperator"]),
    ("selector", module("sidecar_info", namespace="my-app", label_selector="app in (x"),
     ["label_selector='app in (x'", "expected terms"]),
    ("field selector", module("sidecar_info", namespace="my-app", field_selector="spec.image=x"),
     ["spec.image", "expected one of"]),
    ("namespace option", module("sidecar_info", namespace="Bad_NS"), ["namespace='Bad_NS'", "namespace names"]),
    ("missing kubeconfig", module("sidecar_info", namespace="my-app", kubeconfig="/no/such/kubeconfig"),
     ["kubeconfig=", "does not exist"]),
    ("shift step not summing to 100", role("traffic_shift", traffic_shift_steps=[{"v1": 50, "v2": 40}]),
     ["traffic_shift_steps[0]", "sum to 100", "sums to 90"]),
    ("shift to an unknown subset", role("traffic_shift", traffic_shift_steps=[{"v1": 50, "v3": 50}]),
     ["traffic_shift_steps[0]", "v1, v2"]),
    ("shift weight not a whole number", role("traffic_shift", traffic_shift_steps=[{"v1": "half", "v2": 50}]),
     ["traffic_shift_steps[0]", "whole percentages"]),
    ("canary tag", role("canary_upgrade", canary_upgrade_version="1.30.3", canary_upgrade_tag="Prod_Stable"),
     ['canary_upgrade_tag="Prod_Stable"', "DNS label"]),
    ("canary release", role("canary_upgrade", canary_upgrade_version="1.30"),
     ['canary_upgrade_version="1.30"', "1.30.3"]),
    ("canary namespaces", role("canary_upgrade", canary_upgrade_version="1.30.3", canary_upgrade_namespaces="my-app"),
     ['canary_upgrade_namespaces="my-app"', "list of namespace names"]),
    ("revision tag name", module("revision_tag", tag="Prod_Stable", revision="default"),
     ["tag='Prod_Stable'", "DNS label"]),
    ("revision tag without its revision", module("revision_tag", tag="prod-stable"),
     ["state is present but all of the following are missing: revision"]),
    ("mTLS mode", role("mtls", mtls_mode="strict"), ["mtls_mode", "strict", "STRICT, PERMISSIVE"]),
    ("mTLS plaintext client inside the mesh", role("mtls", mtls_client_namespace="my-app"),
     ['mtls_client_namespace="my-app"', "not one of mtls_namespaces"]),
    ("mTLS target", role("mtls", mtls_targets=["http://my-app-v1-svc/"]),
     ['mtls_targets=["http://my-app-v1-svc/"]', "NAME.NAMESPACE"]),
]


@pytest.fixture(scope="module")
def refusals(sandbox, tmp_path_factory):
    """Every case of CASES in one play (run_cases: one ansible-playbook run, not one a case; a refused case ends
    there, as its own play would). Returns (each case's outcome, the run, the API server's writes meanwhile, whether
    the security groups' rules changed)."""
    before_rules = sandbox.security_group_rules()
    start = time.time()
    outcomes, run = run_cases(tmp_path_factory.mktemp("refusals"), [task for dummy, task, dummy in CASES],
                              extra_args=["-i", INVENTORY], env=sandbox.inventory_env())
    writes = [e for e in sandbox.requests(start) if e["verb"] not in ("GET", "HEAD")]
    return outcomes, run, writes, sandbox.security_group_rules() != before_rules


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_bad_input_is_refused_before_any_change(refusals, index):
    outcomes, run, writes, rules_changed = refusals
    case, dummy, expected = CASES[index]
    message = refusal(outcomes, run, index, case)
    for text in expected:
        assert text in message, message
    # no case changed anything in the cluster or in AWS
    assert writes == [] and not rules_changed, writes


def test_an_api_server_that_answers_401_is_reported(sandbox, tmp_path):
    start = time.time()
    sandbox.faults(unauthorized=True)
    try:
        run = run_playbook(tmp_path, [module("sidecar_info", namespace="default")],
                           env=dict(sandbox.env, K8S_AUTH_KUBECONFIG=sandbox.kubeconfig))
    finally:
        sandbox.faults(unauthorized=False)
    assert run.rc != 0
    message = [r for r in run.results().values() if r.get("failed")][0]["msg"]
    assert "401" in message or "Unauthorized" in message, message
    assert "Traceback" not in message
    assert [e for e in sandbox.requests(start) if e["verb"] not in ("GET", "HEAD")] == []


@pytest.mark.parametrize("extra, expected", [
    (["-e", "mesh_dataplane=wasm"], ["mesh_dataplane", "wasm", "sidecar, ambient"]),
    (["-e", "mesh_ingress_api=nginx"], ["mesh_ingress_api", "nginx", "istio, gateway-api"]),
    (["-e", "mesh_dataplane=ambient", "-e", "demo_apps_dataplane=sidecar"],
     ['mesh_dataplane="ambient"', 'demo_apps_dataplane="sidecar"', "disagree", "mesh_dataplane alone"]),
    # a role's own value is refused before the first role changes anything, not when its role comes
    (["-e", "demo_apps_namespace=My_App!"], ['demo_apps_namespace="My_App!" is invalid', "namespace name"]),
    (["-e", "demo_apps_replicas=two"], ["demo_apps_replicas", "two", "int"]),
    (["-e", "ingress_port=0"], ["ingress_port=\"0\" is invalid", "1 and 65535"]),
    (["-e", "mesh_istio_namespace=Istio_System"], ['istio_install_namespace="Istio_System" is invalid']),
    (["-e", "mesh_istio_namespace=istio-mesh", "-e", "istio_install_namespace=istio-other"],
     ['mesh_istio_namespace="istio-mesh"', 'istio_install_namespace="istio-other"', "control-plane namespaces"]),
], ids=["data plane", "ingress API", "two data planes", "demo namespace", "replicas", "ingress port",
        "control-plane namespace", "two control-plane namespaces"])
def test_a_bad_or_split_choice_is_refused_before_the_play_changes_anything(sandbox, tmp_path, extra, expected):
    before_rules = sandbox.security_group_rules()
    start = time.time()
    rc, dummy, proc = collection_playbook(sandbox, tmp_path, "site.yml", *extra)
    assert rc != 0
    failed = [r for r in PlaybookRun(proc).results().values() if r.get("failed")][0]
    items = [i.get("msg", "") for i in failed.get("results", []) if i.get("failed")]
    message = " ".join([failed.get("msg", "")] + items)
    for text in expected:
        assert text in message, message
    assert [e for e in sandbox.requests(start) if e["verb"] not in ("GET", "HEAD")] == []
    assert sandbox.security_group_rules() == before_rules


@pytest.mark.parametrize("playbook_name", ["site.yml", "verify.yml", "traffic.yml", "teardown.yml"])
def test_two_namespaces_for_the_demo_are_refused_before_any_change(sandbox, tmp_path, playbook_name):
    start = time.time()
    rc, dummy, proc = collection_playbook(sandbox, tmp_path, playbook_name, "-e", "mesh_namespace=shop",
                                          "-e", "demo_apps_namespace=store")
    assert rc != 0
    failed = [r for r in PlaybookRun(proc).results().values() if r.get("failed")][0]
    message = " ".join([failed.get("msg", "")] + [i.get("msg", "") for i in failed.get("results", []) if i.get("failed")])
    assert 'mesh_namespace="shop"' in message and 'demo_apps_namespace="store"' in message, message
    assert "one" in message and "mesh_namespace alone" in message
    assert [e for e in sandbox.requests(start) if e["verb"] not in ("GET", "HEAD")] == []
