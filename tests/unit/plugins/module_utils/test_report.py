"""The mesh report's rendering on fixture data: what a person sees first, and the graph's edges."""

import copy
import json
import os

import pytest

from ansible_collections.istio_demo.mesh.plugins.module_utils import report


with open(os.path.join(os.path.dirname(__file__), "fixtures", "security_group_rules.json")) as _handle:
    SECURITY_GROUPS = json.load(_handle)


def pod(name, app, injected=True, ready=True, violations=()):
    return {"name": name, "namespace": "my-app", "phase": "Running", "injected": injected,
            "sidecar_mode": "container" if injected else "none", "proxy_version": "1.27.3" if injected else None,
            "init": {"name": "istio-init"} if injected else None, "ready": ready,
            "istio_labels": {report.CANONICAL: app} if injected else {}, "violations": list(violations)}


def probe(entry, path, service, codes, p99=2.5):
    total = sum(codes.values())
    ok = codes.get(200, 0)
    return {"entry": entry, "item": {"path": path, "service": service, "port": 80}, "url": "http://lb" + path,
            "requests": total, "succeeded": ok, "success_ratio": ok / total, "min_success_ratio": 1.0,
            "status_codes": dict((str(k), v) for k, v in codes.items()), "passed": ok == total,
            "latency_ms": {"p50": 1.0, "p90": 2.0, "p99": p99}, "errors": {"timeout": 0}}


HEALTHY = {
    "title": "demo",
    "control_plane": {"version": "1.27.3", "revision": "default", "components": [
        {"name": "istiod", "component": "Pilot", "ready": 1, "desired": 1, "healthy": True},
        {"name": "istio-ingressgateway", "component": "IngressGateways", "ready": 1, "desired": 1, "healthy": True}]},
    "pods": [pod("my-app-v1-aaa", "my-app-v1"), pod("my-app-v1-bbb", "my-app-v1"), pod("my-app-v2-ccc", "my-app-v2")],
    "services": [{"metadata": {"name": "my-app-v1-svc", "namespace": "my-app"}, "spec": {"selector": {"app": "my-app-v1"}}},
                 {"metadata": {"name": "my-app-v2-svc", "namespace": "my-app"}, "spec": {"selector": {"app": "my-app-v2"}}}],
    "routes": [probe("ingress gateway", "/v1", "my-app-v1-svc", {200: 10}),
               probe("ingress gateway", "/v2", "my-app-v2-svc", {200: 10}),
               probe("nginx", "/v1", "my-app-v1-svc", {200: 10})],
    # as playbooks/templates/report_addons.yml.j2 hands them over, the command from the observability role
    "addons": [{"name": "kiali", "ready": True, "detail": "1/1 replicas ready",
                "command": "kubectl -n istio-system port-forward svc/kiali 20001:20001, then open http://localhost:20001"},
               {"name": "grafana", "ready": True, "detail": "1/1 replicas ready",
                "command": "kubectl -n istio-system port-forward svc/grafana 3000:3000, then open http://localhost:3000"}],
    # what security_group_rules really returned (converged), not a shape written here
    "security_group": SECURITY_GROUPS,
}


def failing():
    data = copy.deepcopy(HEALTHY)
    data["pods"].append(pod("my-app-v1-7f9-ddd", "my-app-v1", injected=False, violations=[
        "pod my-app-v1-7f9-ddd in my-app has no istio-proxy: namespace label istio-injection is missing"]))
    data["routes"][1] = probe("ingress gateway", "/v2", "my-app-v2-svc", {503: 10}, p99=1.2)
    return data


def build(raw):
    return report.normalize(raw)


def test_a_healthy_mesh_passes_every_check_and_says_so_first():
    data = build(HEALTHY)
    checks = report.checks(data)
    assert all(c["passed"] for c in checks) and len(checks) == 1 + 1 + 3 + 2 + 1
    text = report.markdown(data, checks, "mesh-graph.svg")
    assert text.splitlines()[2] == "**PASSING: all 8 checks pass**"
    assert "| my-app-v1-aaa | yes | yes | container | 1.27.3 | istio-init | - |" in text
    assert "kubectl -n istio-system port-forward svc/kiali 20001:20001" in text
    assert "| /v1 | my-app-v1-svc | 10 | 200 x10 | 100% | 1.00 | 2.00 | 2.50 |" in text


def test_failures_come_first_in_markdown_and_html():
    data = build(failing())
    checks = report.checks(data)
    bad = report.failures(checks)
    assert bad == ["pods in my-app: pod my-app-v1-7f9-ddd in my-app has no istio-proxy: namespace label "
                   "istio-injection is missing",
                   "route ingress gateway /v2: 0 of 10 answered as expected (503 x10), p99 1.20 ms"]
    head = report.markdown(data, checks).splitlines()[:6]
    assert head[2] == "**FAILING: 2 of 8 checks failed**"
    assert head[4].startswith("- pods in my-app: pod my-app-v1-7f9-ddd") and "503 x10" in head[5]
    page = report.html_page(data, checks, "<?xml version='1.0'?><svg><g/></svg>")
    assert page.index('class="banner bad"') < page.index("<table>")
    assert "503 x10" in page[:page.index("<table>")]
    assert "<svg><g/></svg>" in page and "<?xml" not in page


def test_the_graph_labels_each_route_and_paints_the_failing_ones_red():
    source = report.dot(build(failing()))
    v1 = [line for line in source.splitlines() if "-> svc_my_app_v1_svc" in line and "entry_ingress_gateway" in line]
    v2 = [line for line in source.splitlines() if "-> svc_my_app_v2_svc" in line]
    assert len(v1) == 1 and '"#2e7d32"' in v1[0] and "10 req, 100% ok, p99 2.50 ms" in v1[0]
    assert len(v2) == 1 and '"#c62828"' in v2[0] and "10 req, 0% ok, p99 1.20 ms" in v2[0]
    assert "entry_nginx -> svc_my_app_v1_svc" in source
    # the workload of v1 has 3 pods, one without a sidecar: its edge is red too
    assert "wl_my_app_v1" in source and "3/3 pods ready, 2 injected" in source
    assert 'svc_my_app_v1_svc -> wl_my_app_v1 [color="#c62828"' in source


def test_text_from_the_cluster_is_escaped_in_html():
    data = copy.deepcopy(HEALTHY)
    data["pods"][0]["violations"] = ["<script>alert(1)</script>"]
    built = build(data)
    page = report.html_page(built, report.checks(built))
    assert "<script>" not in page and "&lt;script&gt;" in page


@pytest.mark.parametrize("field, value, named", [
    ("routes", [{"requests": 1}], "routes[0]"),
    ("addons", [{"ready": True}], "addons[0]"),
    ("istiods", ["istiod"], "istiods[0]"),
    ("revision_tags", [{"name": "x"}], "revision_tags[0]"),
])
def test_malformed_inputs_are_named(field, value, named):
    raw = dict(HEALTHY)
    raw[field] = value
    with pytest.raises(report.ReportInputError) as error:
        report.normalize(raw)
    assert named in str(error.value)


def test_security_group_rules_show_their_group_and_real_source():
    data = build(HEALTHY)
    checks = report.checks(data)
    text = report.markdown(data, checks)
    rule = SECURITY_GROUPS["rules"][0]
    rows = [line for line in text.splitlines() if line.startswith("| %s " % rule["group_id"])]
    assert rows and "| %s |" % rule["source"] in rows[0] and "| %s |" % rule["from_port"] in rows[0], text
    assert [c for c in checks if c["name"] == "security groups"][0]["passed"]


with open(os.path.join(os.path.dirname(__file__), "fixtures", "revisions.json")) as _handle:
    # the istiod Deployments and the revision tag's webhook configuration of a mesh half way through a canary
    # upgrade (1.29.6 as the default revision, 1.30.3 as revision 1-30-3 with tag prod-stable), as the sandbox
    # serves them to k8s_info
    REVISIONS = json.load(_handle)


def test_revisions_name_their_release_their_tags_and_the_pods_on_them():
    raw = copy.deepcopy(HEALTHY)
    raw.update(REVISIONS)
    raw["pods"][0]["revision"] = "default"
    raw["pods"][1]["revision"] = raw["pods"][2]["revision"] = "1-30-3"
    data = build(raw)
    assert data["revisions"] == [{"revision": "1-30-3", "version": "1.30.3", "tags": ["prod-stable"]},
                                 {"revision": "default", "version": "1.29.6", "tags": []}]
    check = [c for c in report.checks(data) if c["name"] == "revisions"][0]
    assert check["passed"] and check["detail"] == "1-30-3 (1.30.3) tagged prod-stable, default (1.29.6)"
    table = dict((s[0], s[2]) for s in report.sections(data, report.checks(data)))["Revisions"]
    assert table[0] == ["1-30-3", "1.30.3", "prod-stable", "my-app/my-app-v1-bbb, my-app/my-app-v2-ccc"]
    assert table[1] == ["default", "1.29.6", "-", "my-app/my-app-v1-aaa"]


def test_a_pod_left_on_a_removed_revision_and_a_dangling_tag_fail_the_revisions_check():
    raw = copy.deepcopy(HEALTHY)
    raw["istiods"] = [d for d in REVISIONS["istiods"] if d["metadata"]["name"] == "istiod"]
    raw["revision_tags"] = REVISIONS["revision_tags"]
    raw["pods"][0]["revision"] = "1-30-3"
    check = [c for c in report.checks(build(raw)) if c["name"] == "revisions"][0]
    assert not check["passed"]
    assert "pod my-app-v1-aaa in my-app runs the proxy of revision 1-30-3, which has no control plane" in check["detail"]
    assert "tag prod-stable points at revision 1-30-3, which has no control plane" in check["detail"]


def test_without_the_control_planes_there_is_no_revisions_section():
    data = build(copy.deepcopy(HEALTHY))
    assert data["revisions"] == [] and "revisions" not in [c["name"] for c in report.checks(data)]


with open(os.path.join(os.path.dirname(__file__), "fixtures", "mtls_proof.json")) as _handle:
    # playbooks/mtls.yml's STRICT proof on the sandbox, as the mtls role noted it (mtls_proof)
    MTLS = json.load(_handle)


def test_the_mtls_section_shows_each_client_and_the_check_passes_when_the_mode_holds():
    raw = dict(copy.deepcopy(HEALTHY), mtls=copy.deepcopy(MTLS))
    data = build(raw)
    check = [c for c in report.checks(data) if c["name"] == "mutual TLS STRICT"][0]
    assert check["passed"] and check["detail"] == "plaintext clients refused, meshed clients answered"
    rows = dict((s[0], s[2]) for s in report.sections(data, report.checks(data)))["Mutual TLS: STRICT"]
    assert ["plaintext", "my-app-v1-svc.my-app:80", 56, "no", "refusal"] in rows
    assert ["meshed", "my-app-v2-svc.my-app:80", 0, "yes", "answer"] in rows


def test_a_client_answered_against_the_mode_fails_the_mtls_check():
    raw = dict(copy.deepcopy(HEALTHY), mtls=copy.deepcopy(MTLS))
    leak = [p for p in raw["mtls"]["proof"] if p["client"] == "plaintext"][0]
    leak.update(exit_code=0, answered=True, as_expected=False, message="")
    data = build(raw)
    check = [c for c in report.checks(data) if c["name"] == "mutual TLS STRICT"][0]
    assert not check["passed"]
    assert check["detail"] == "the plaintext client got an answer from %s (curl exit 0)" % leak["target"]
    assert "mutual TLS STRICT: the plaintext client got an answer" in report.failures(report.checks(data))[0]


def test_mtls_without_its_mode_is_named():
    with pytest.raises(report.ReportInputError) as error:
        build(dict(copy.deepcopy(HEALTHY), mtls={"proof": []}))
    assert "mtls is invalid" in str(error.value)


with open(os.path.join(os.path.dirname(__file__), "fixtures", "traffic_split.json")) as _handle:
    # a 90/10 step of playbooks/traffic_shift.yml on the sandbox: the weights and traffic_probe's real result
    SPLIT = json.load(_handle)


def test_the_traffic_split_shows_the_weights_beside_the_measured_shares():
    data = build(dict(copy.deepcopy(HEALTHY), traffic_split=copy.deepcopy(SPLIT)))
    check = [c for c in report.checks(data) if c["name"] == "traffic split"][0]
    measured = dict((c["key"], c["measured"]) for c in SPLIT["probe"]["share_checks"])
    assert check["passed"] and check["detail"] == "weights v1 90, v2 10 measured over 400 answers: 1.0.0 %.3f, " \
        "2.0.0 %.3f" % (measured["1.0.0"], measured["2.0.0"])
    sections = dict((s[0], s[2]) for s in report.sections(data, report.checks(data)))
    rows = sections["Traffic split: route weights v1 90, v2 10"]
    assert [r[:2] + r[3:] for r in rows] == [
        ["1.0.0", "0.900", "+/- 0.060", SPLIT["probe"]["counts"]["1.0.0"], "pass"],
        ["2.0.0", "0.100", "+/- 0.060", SPLIT["probe"]["counts"]["2.0.0"], "pass"]]


def test_a_share_off_its_weight_fails_the_split_check():
    raw = dict(copy.deepcopy(HEALTHY), traffic_split=copy.deepcopy(SPLIT))
    raw["traffic_split"]["weights"] = {"v1": 50, "v2": 50}
    for entry in raw["traffic_split"]["probe"]["share_checks"]:
        entry.update(expected=0.5, passed=False)
    raw["traffic_split"]["probe"]["passed"] = False
    check = [c for c in report.checks(build(raw)) if c["name"] == "traffic split"][0]
    assert not check["passed"] and "2.0.0 measured" in check["detail"] and "weight says 0.500" in check["detail"]


def test_a_split_without_its_measurement_is_named():
    with pytest.raises(report.ReportInputError) as error:
        build(dict(copy.deepcopy(HEALTHY), traffic_split={"weights": {"v1": 100}, "probe": {"passed": True}}))
    assert "traffic_split is invalid" in str(error.value)


with open(os.path.join(os.path.dirname(__file__), "fixtures", "ambient_pods.json")) as _handle:
    # sidecar_info's pods (require [ambient, ready]) of the demo apps and the NGINX proxy in an ambient namespace on
    # the sandbox (site.yml with mesh_dataplane=ambient, mesh_ingress_api=gateway-api), as verify.yml hands them on
    AMBIENT = json.load(_handle)


def test_an_ambient_mesh_counts_its_pods_as_in_the_mesh_without_a_sidecar():
    raw = copy.deepcopy(HEALTHY)
    raw["pods"] = AMBIENT["pods"]
    data = build(raw)
    checks = report.checks(data)
    pods_check = [c for c in checks if c["name"] == "pods in my-app"][0]
    assert pods_check["passed"], pods_check
    total = len(AMBIENT["pods"])
    assert pods_check["detail"] == "%d of %d in the mesh and ready (%d ambient, 0 with a sidecar)" % (
        total, total, total)
    table = dict((s[0], s[2]) for s in report.sections(data, checks))["Pods in my-app"]
    assert [row[2] for row in table] == ["ambient"] * total and all(row[3] == "none" for row in table)
    # one pod whose node lost its ztunnel: the check fails with sidecar_info's own words
    raw["pods"] = copy.deepcopy(AMBIENT["pods"])
    lost = raw["pods"][0]
    lost["ambient"]["ztunnel_ready"] = False
    lost["violations"] = ["pod %s in my-app is not in the ambient mesh: no ready ztunnel on its node %s" % (
        lost["name"], lost["ambient"]["node"])]
    failing = [c for c in report.checks(build(raw)) if c["name"] == "pods in my-app"][0]
    assert not failing["passed"] and failing["detail"] == lost["violations"][0]
