"""Check mode tells the truth, and teardown leaves exactly what was there before.

One flow on one sandbox, in order: --check on a fresh cluster, site.yml,
--check on the converged cluster, teardown.yml --check, teardown.yml, teardown.yml again - all of it with the demo
moved to another namespace than the default (mesh_namespace=shop), the control plane to another than istio-system
(mesh_istio_namespace=istio-mesh) and with other apps (demo_apps_versions: shop-a and shop-b, routes /a and /b), as a
user changes them: one variable each, which every role's defaults read.
"""

import json
import os
import re
import time

import pytest

from playbook import PlaybookRun, collection_playbook

pytestmark = pytest.mark.minutes(4)


NAMESPACE = "shop"
ISTIO_NAMESPACE = "istio-mesh"
HELLO = "us-docker.pkg.dev/google-samples/containers/gke/hello-app:%s"
APPS = {"demo_apps_versions": [{"name": "shop-a", "version": "a", "image": HELLO % "1.0"},
                               {"name": "shop-b", "version": "b", "image": HELLO % "2.0"}]}


def playbook(sandbox, tmp_path, name, *extra):
    return collection_playbook(sandbox, tmp_path, name, "-e", "mesh_namespace=" + NAMESPACE,
                               "-e", "mesh_istio_namespace=" + ISTIO_NAMESPACE, "-e", json.dumps(APPS), *extra)


@pytest.fixture(scope="module")
def flow(sandbox):
    return {"before": sandbox.snapshot(), "rules": sandbox.security_group_rules()}


def test_check_mode_on_a_fresh_cluster_predicts_and_writes_nothing(sandbox, tmp_path, flow):
    start = time.time()
    rc, stats, proc = playbook(sandbox, tmp_path, "site.yml", "--check", "--diff")
    assert rc == 0, PlaybookRun(proc).outline()
    assert stats["changed"] > 0
    made = sandbox.writes(start)
    assert [e for e in made if not e["dry_run"]] == [], "a write without dryRun=All in check mode"
    assert not [e for e in made if "istioctl" in e["user_agent"]], "istioctl was asked to install"
    assert sandbox.security_group_rules() == flow["rules"]
    assert sandbox.snapshot() == flow["before"]
    assert "cannot dry-run" in proc.stdout


def test_site_then_check_mode_reports_zero_changes(sandbox, tmp_path, flow):
    rc, stats, proc = playbook(sandbox, tmp_path, "site.yml")
    assert rc == 0, PlaybookRun(proc).outline()
    # the whole demo went where it was sent: apps, proxy, Gateway and VirtualService in shop, nothing in my-app
    pods = json.loads(sandbox.kubectl("get", "pods", "-n", NAMESPACE, "-o", "json").stdout)["items"]
    assert sorted({p["metadata"]["labels"]["app"] for p in pods}) == ["nginx", "shop-a", "shop-b"]
    routes = sandbox.kubectl("get", "gateway,virtualservice", "-A", "-o", "name").stdout.split()
    assert sorted(routes) == ["gateway.networking.istio.io/my-app-gateway", "virtualservice.networking.istio.io/my-app"]
    assert sandbox.kubectl("get", "virtualservice", "my-app", "-n", NAMESPACE, check=False).returncode == 0
    assert sandbox.kubectl("get", "namespace", "my-app", check=False).returncode != 0
    # the control plane and the addons went to istio-mesh, and the sidecars know where it is
    system = json.loads(sandbox.kubectl("get", "pods", "-n", ISTIO_NAMESPACE, "-o", "json").stdout)["items"]
    apps = {p["metadata"]["labels"].get("app") or p["metadata"]["labels"].get("app.kubernetes.io/name") for p in system}
    assert {"istiod", "istio-ingressgateway", "kiali", "prometheus"} <= apps, apps
    assert sandbox.kubectl("get", "namespace", "istio-system", check=False).returncode != 0
    proxy = [c for p in pods if p["metadata"]["labels"]["app"] == "shop-a" for c in p["spec"]["containers"]
             if c["name"] == "istio-proxy"][0]
    assert {"name": "CA_ADDR", "value": "istiod.%s.svc:15012" % ISTIO_NAMESPACE} in proxy["env"]
    # the routes follow the apps: /a and /b to their Services, through the ingress and through the proxy
    vs = json.loads(sandbox.kubectl("get", "virtualservice", "my-app", "-n", NAMESPACE, "-o", "json").stdout)
    assert [(h["match"][0]["uri"]["prefix"], h["route"][0]["destination"]["host"]) for h in vs["spec"]["http"]] == [
        ("/a", "shop-a-svc"), ("/b", "shop-b-svc")]
    nginx = sandbox.kubectl("get", "configmap", "-n", NAMESPACE, "-l", "app=nginx", "-o", "json").stdout
    assert "location /a" in nginx and "shop-a-svc" in nginx and "shop-b-svc" in nginx and "my-app-v1" not in nginx
    start = time.time()
    rc, stats, proc = playbook(sandbox, tmp_path, "site.yml", "--check")
    assert rc == 0, PlaybookRun(proc).outline()
    assert stats["changed"] == 0, PlaybookRun(proc).outline()
    assert [e for e in sandbox.writes(start) if not e["dry_run"]] == []


def test_traffic_is_bounded_and_its_generator_removed(sandbox, tmp_path, flow):
    rc, stats, proc = playbook(sandbox, tmp_path, "traffic.yml", "-e", "traffic_duration=2", "-e", "traffic_qps=5")
    assert rc == 0, PlaybookRun(proc).outline()
    data = json.loads(proc.stdout[proc.stdout.find("{"):])
    sent = [h for play in data["plays"] for task in play["tasks"] for h in task["hosts"].values()
            if task["task"]["name"] == "Send traffic through the ingress for the whole duration"]
    assert [(r["item"], r["requests"]) for r in sent[0]["results"]] == [("/a", 10), ("/b", 10)]
    assert all(r["status_codes"] == {"200": 10} for r in sent[0]["results"])
    left = sandbox.kubectl("get", "deployment", "traffic-generator", "-n", NAMESPACE, check=False)
    assert left.returncode != 0 and "NotFound" in left.stderr


def test_secrets_never_reach_the_output_even_at_vvv(sandbox, tmp_path, flow):
    rc, stats, proc = playbook(sandbox, tmp_path, "verify.yml", "-vvv")
    assert rc == 0, PlaybookRun(proc).outline()
    output = proc.stdout + proc.stderr
    # the bearer tokens: the ones `aws eks get-token` made for every client, and the cluster's static one
    assert "k8s-aws-v1." not in output and sandbox.token not in output
    assert sandbox.state["aws"]["secret_key"] not in output
    # the keys went to every process through a credentials file the environment names, never in the environment
    found = re.search(r"AWS_SHARED_CREDENTIALS_FILE=(\S+)", output)
    assert found and "AWS_PROFILE=istio-demo-mesh" in output
    assert not os.path.exists(found.group(1))  # and the file is gone once the play ended


def test_teardown_check_mode_on_a_converged_cluster_predicts_without_waiting_or_writing(sandbox, tmp_path, flow):
    start = time.time()
    before = sandbox.security_group_rules()
    rc, stats, proc = playbook(sandbox, tmp_path, "teardown.yml", "--check")
    assert rc == 0, PlaybookRun(proc).outline()
    assert stats["changed"] > 0  # it says what it would remove
    assert "would delete Service %s/istio-ingressgateway" % ISTIO_NAMESPACE in proc.stdout
    made = sandbox.requests(start)
    assert [e for e in sandbox.writes(start) if not e["dry_run"]] == []
    assert sandbox.security_group_rules() == before
    # the gateway Service was read once, not polled until a timeout
    reads = [e for e in made if e["verb"] == "GET" and e["path"].endswith("/services/istio-ingressgateway")]
    assert len(reads) <= 2, reads


def test_teardown_leaves_what_was_there_and_a_second_teardown_changes_nothing(sandbox, tmp_path, flow):
    rc, stats, proc = playbook(sandbox, tmp_path, "teardown.yml")
    assert rc == 0, PlaybookRun(proc).outline()
    after = sandbox.snapshot()
    assert sorted(after) == sorted(flow["before"])
    assert {k: v["uid"] for k, v in after.items()} == {k: v["uid"] for k, v in flow["before"].items()}
    assert sandbox.security_group_rules() == flow["rules"]
    rc, stats, proc = playbook(sandbox, tmp_path, "teardown.yml")
    assert rc == 0 and stats["changed"] == 0, PlaybookRun(proc).outline()
