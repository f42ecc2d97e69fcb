"""sidecar_info's judgement over pods of every shape (fixtures/pods.json)."""

import json
import os

import pytest

from ansible_collections.istio_demo.mesh.plugins.module_utils import inspection
from ansible_collections.istio_demo.mesh.plugins.module_utils.inspection import inspect_pod

with open(os.path.join(os.path.dirname(__file__), "fixtures", "pods.json")) as handle:
    PODS = json.load(handle)

ENABLED = {"istio-injection": "enabled"}
ALL = ("injected", "ready", "labels", "init")
SEED_IPTABLES = {
    "outbound_port": 15001, "inbound_port": 15006, "proxy_uid": "1337", "proxy_gid": None, "mode": "REDIRECT",
    "include_ip_ranges": ["*"], "exclude_ip_ranges": [], "include_inbound_ports": ["*"],
    "exclude_inbound_ports": ["15090", "15021", "15020"], "exclude_outbound_ports": [],
    "include_outbound_ports": [], "run_validation": False, "skip_rule_apply": False,
}


def test_seed_sidecar_pod_is_in_the_mesh():
    info = inspect_pod(PODS["seed_1_14_sidecar"], ENABLED, True, ALL)
    assert info["injected"] is True and info["sidecar_mode"] == "container"
    assert info["proxy_image"] == "docker.io/istio/proxyv2:1.14.1" and info["proxy_version"] == "1.14.1"
    assert info["init"]["name"] == "istio-init"
    assert info["init"]["iptables"] == SEED_IPTABLES
    assert info["istio_labels"] == {"security.istio.io/tlsMode": "istio",
                                    "service.istio.io/canonical-name": "my-app-v1",
                                    "service.istio.io/canonical-revision": "latest"}
    assert info["ready"] is True and info["proxy_ready"] is True and info["restarts"] == 0
    assert info["containers"] == ["hello", "istio-proxy"]
    assert info["violations"] == []


def test_native_sidecar_pod():
    info = inspect_pod(PODS["native_1_27"], ENABLED, True, ALL)
    assert info["sidecar_mode"] == "native" and info["proxy_version"] == "1.27.3"
    assert info["containers"] == ["hello"] and info["init_containers"] == ["istio-init", "istio-proxy"]
    assert info["violations"] == []


def test_cni_pod_uses_istio_validation():
    info = inspect_pod(PODS["cni_1_22"], ENABLED, True, ALL)
    assert info["init"]["name"] == "istio-validation"
    assert info["init"]["iptables"]["run_validation"] is True
    assert info["init"]["iptables"]["skip_rule_apply"] is True
    assert info["violations"] == []


@pytest.mark.parametrize("ns_labels, injector, reason", [
    ({}, True, "has no istio-proxy: namespace label istio-injection is missing (kubectl label namespace legacy "
               "istio-injection=enabled, then restart the pod)"),
    ({"istio-injection": "disabled"}, True, "namespace legacy is labelled istio-injection=disabled"),
    (ENABLED, False, "no Istio sidecar injector webhook is installed"),
    (ENABLED, True, "created before istiod was running"),
    ({"istio.io/rev": "canary"}, True, "created before istiod was running"),
    (None, True, "the labels of namespace legacy could not be read"),
])
def test_uninjected_pod_says_why(ns_labels, injector, reason):
    info = inspect_pod(PODS["uninjected"], ns_labels, injector, ALL)
    assert info["injected"] is False and info["sidecar_mode"] == "none" and info["proxy_image"] is None
    assert len(info["violations"]) == 1
    assert info["violations"][0].startswith("pod my-app-v2-6c8b7f9d4-plain in legacy has no istio-proxy: ")
    assert reason in info["violations"][0]


def test_uninjected_pod_checked_only_for_labels_and_init():
    info = inspect_pod(PODS["uninjected"], {}, True, ("labels", "init"))
    assert len(info["violations"]) == 2
    assert "lacks the Istio labels security.istio.io/tlsMode" in info["violations"][0]
    assert "has no istio-init init container" in info["violations"][1]


def test_pod_that_opted_out():
    info = inspect_pod(PODS["inject_false"], ENABLED, True, ALL)
    assert info["violations"] == ["pod batch-job-abcde in my-app has no istio-proxy: injection is turned off on the "
                                  "pod by sidecar.istio.io/inject=false"]
    assert inspect_pod(PODS["inject_false"], ENABLED, True, ("ready",))["violations"] == []


def test_crash_looping_proxy():
    info = inspect_pod(PODS["crashlooping_proxy"], ENABLED, True, ALL)
    assert info["injected"] is True and info["ready"] is False
    assert info["proxy_ready"] is False and info["proxy_restarts"] == 7 and info["restarts"] == 7
    assert info["violations"] == ["pod my-app-v1-7d9f8c6b5-crash in my-app is not ready: container istio-proxy is "
                                  "CrashLoopBackOff (7 restarts)"]
    assert inspect_pod(PODS["crashlooping_proxy"], ENABLED, True, ("injected",))["violations"] == []


def test_summary_counts():
    reports = [inspect_pod(p, ENABLED, True, ALL) for p in PODS.values()]
    summary, violations = inspection.summarize(reports, ["ghost"])
    assert summary == {"total": 6, "injected": 4, "ambient": 0, "in_mesh": 4, "ready": 5, "violating_pods": 3,
                       "violations": 4}
    assert violations[-1] == "namespace ghost does not exist"


@pytest.mark.parametrize("args, field, value", [
    (["istio-iptables", "--envoy-port=15001", "--inbound-capture-port", "15006", "--proxy-uid=1337",
      "--inbound-interception-mode", "TPROXY"], "mode", "TPROXY"),
    (["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-g", "1337", "-m", "REDIRECT", "-i",
      "10.0.0.0/8,172.16.0.0/12", "-o", "3306"], "include_ip_ranges", ["10.0.0.0/8", "172.16.0.0/12"]),
    (["istio-iptables", "-p", "15001", "-o", "3306,5432"], "exclude_outbound_ports", ["3306", "5432"]),
    (["istio-iptables", "-g", "1337"], "proxy_gid", "1337"),
])
def test_iptables_arguments(args, field, value):
    assert inspection.parse_iptables(args)[field] == value


def test_one_inspection_parses_each_distinct_argument_list_once():
    seen = {}
    args = ["istio-iptables", "-p", "15001", "-o", "3306"]
    first = inspection.parse_iptables(args, seen)
    assert inspection.parse_iptables(list(args), seen) is first  # another pod of the workload: the same fields
    other = inspection.parse_iptables(args[:-1] + ["5432"], seen)
    assert (first["exclude_outbound_ports"], other["exclude_outbound_ports"]) == (["3306"], ["5432"])
    assert inspection.parse_iptables(args) is not first  # nothing is kept beyond the caller's inspection


@pytest.mark.parametrize("namespaces, labels, fields, expected", [
    (["My_App"], None, None, "namespace='My_App' is invalid"),
    (["my-app"], "app==", None, None),
    (["my-app"], "app in (a,b", None, "label_selector='app in (a,b' is invalid"),
    (["my-app"], "app=my app", None, "label_selector='app=my app' is invalid"),
    (["my-app"], None, "status.phase", "field_selector='status.phase' is invalid"),
    (["my-app"], None, "spec.containers=x", "uses 'spec.containers'"),
    (["my-app"], "app in (a,b),!canary,tier!=db", "status.phase=Running", None),
])
def test_input_validation(namespaces, labels, fields, expected):
    if expected is None:
        inspection.validate_inputs(namespaces, labels, fields)
        return
    with pytest.raises(inspection.InspectionInputError) as info:
        inspection.validate_inputs(namespaces, labels, fields)
    assert expected in str(info.value)
