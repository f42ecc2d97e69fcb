"""istio_demo.mesh.sidecar_info on the sandbox, from a playbook."""

import subprocess
import time

import pytest

from playbook import option_ids, refusal, run_cases, run_playbook

APPS = """
apiVersion: v1
kind: Namespace
metadata: {{name: {ns}, labels: {labels}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: my-app-v1, namespace: {ns}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: my-app-v1}}}}
  template:
    metadata: {{labels: {{app: my-app-v1}}}}
    spec:
      containers: [{{name: hello, image: "gcr.io/google-samples/hello-app:1.0", ports: [{{containerPort: 8080}}]}}]
"""


@pytest.fixture(scope="module")
def mesh(sandbox):
    install = subprocess.run(["istioctl", "install", "-y", "--set", "profile=demo"], env=sandbox.env,
                             capture_output=True, text=True, timeout=120, check=False)
    assert install.returncode == 0, install.stderr
    sandbox.kubectl("apply", "-f", "-", stdin=APPS.format(ns="si-mesh", labels="{istio-injection: enabled}",
                                                          replicas=3))
    sandbox.kubectl("apply", "-f", "-", stdin=APPS.format(ns="si-plain", labels="{}", replicas=2))
    for ns in ("si-mesh", "si-plain"):
        sandbox.kubectl("rollout", "status", "deploy/my-app-v1", "-n", ns, "--timeout=30s")
    yield
    subprocess.run(["istioctl", "uninstall", "-y", "--purge"], env=sandbox.env, capture_output=True, check=False,
                   timeout=120)
    sandbox.kubectl("delete", "namespace", "si-mesh", "si-plain", "--wait=true", check=False)


def task(name, **options):
    return {"name": name, "register": name.replace(" ", "_"), "istio_demo.mesh.sidecar_info": options}


def test_injected_and_uninjected_namespaces(sandbox, tmp_path, mesh):
    before = time.time()
    run = run_playbook(tmp_path, [task("info", namespace=["si-mesh", "si-plain"], pods_reported="all",
                                       require=["injected", "ready", "labels", "init"])],
                       extra_args=["--check"], env=sandbox.env)
    assert run.rc == 0, run.stdout[-3000:]
    result = run.result("info")
    assert result["changed"] is False
    assert result["summary"] == {"total": 5, "injected": 3, "ambient": 0, "in_mesh": 3, "ready": 5,
                                 "violating_pods": 2, "violations": 2}
    meshed = [p for p in result["pods"] if p["namespace"] == "si-mesh"]
    # Istio 1.30 on Kubernetes 1.32: classic sidecars (native ones from 1.33)
    assert all(p["sidecar_mode"] == "container" and p["init"]["iptables"]["outbound_port"] == 15001 for p in meshed)
    assert all(p["istio_labels"]["security.istio.io/tlsMode"] == "istio" for p in meshed)
    assert all(v.endswith("has no istio-proxy: namespace label istio-injection is missing (kubectl label namespace "
                          "si-plain istio-injection=enabled, then restart the pod)") for v in result["violations"])
    pod_lists = [e for e in sandbox.requests(before) if e["verb"] == "GET" and e["path"].endswith("/pods")]
    assert sorted(e["path"] for e in pod_lists) == ["/api/v1/namespaces/si-mesh/pods", "/api/v1/namespaces/si-plain/pods"]
    assert not [e for e in sandbox.requests(before) if e["verb"] != "GET"]


def test_by_default_only_the_pods_that_need_attention_are_listed(sandbox, tmp_path, mesh):
    options = dict(namespace=["si-mesh", "si-plain"], require=["injected", "ready"])
    run = run_playbook(tmp_path, [task("every", pods_reported="all", **options), task("needed", **options)],
                       env=sandbox.env)
    assert run.rc == 0, run.stdout[-3000:]
    every, needed = run.result("every"), run.result("needed")
    assert len(every["pods"]) == 5
    # the same judgement over every pod; only the list is cut to the pods with a violation
    assert needed["summary"] == every["summary"] and needed["violations"] == every["violations"]
    assert needed["pods"] == [p for p in every["pods"] if p["violations"]]
    assert sorted(p["namespace"] for p in needed["pods"]) == ["si-plain", "si-plain"]


def test_one_list_per_namespace_whatever_the_pod_count(sandbox, tmp_path, mesh):
    sandbox.kubectl("scale", "deploy/my-app-v1", "-n", "si-plain", "--replicas=12")
    sandbox.kubectl("rollout", "status", "deploy/my-app-v1", "-n", "si-plain", "--timeout=30s")
    before = time.time()
    run = run_playbook(tmp_path, [task("info", namespace="si-plain", label_selector="app=my-app-v1")], env=sandbox.env)
    assert run.rc == 0
    assert run.result("info")["summary"]["total"] == 12
    reads = [e for e in sandbox.requests(before) if "/pods" in e["path"]]
    assert [e["path"] for e in reads] == ["/api/v1/namespaces/si-plain/pods"]
    assert reads[0]["query"]["labelSelector"] == "app=my-app-v1"
    sandbox.kubectl("scale", "deploy/my-app-v1", "-n", "si-plain", "--replicas=2")


def test_fail_on_violation_lists_every_violating_pod(sandbox, tmp_path, mesh):
    run = run_playbook(tmp_path, [task("strict", namespace=["si-plain", "si-ghost"], fail_on_violation=True)],
                       env=sandbox.env)
    assert run.rc != 0
    result = run.result("strict")
    assert result["msg"].startswith("2 of 2 pods violate the mesh requirements (injected): ")
    assert result["msg"].count("has no istio-proxy") == 2
    assert "namespace si-ghost does not exist" in result["msg"]
    assert result["missing_namespaces"] == ["si-ghost"]


BAD_INPUT = [
    (dict(namespace="Bad_NS"), "namespace='Bad_NS' is invalid"),
    (dict(label_selector="app in (x"), "label_selector='app in (x' is invalid"),
    (dict(field_selector="spec.image=x"), "uses 'spec.image'"),
    (dict(require=["sidecar"]), "require"),
    (dict(pods_reported="some"), "pods_reported must be one of: all, violating, got: some"),
]


@pytest.fixture(scope="module")
def bad_input_outcomes(sandbox, tmp_path_factory):
    """Every BAD_INPUT case in one play (run_cases): (outcomes, run, the API requests made meanwhile)."""
    before = time.time()
    outcomes, run = run_cases(tmp_path_factory.mktemp("bad-input"), [task("bad", **o) for o, dummy in BAD_INPUT],
                              env=sandbox.env)
    return outcomes, run, sandbox.requests(before)


@pytest.mark.parametrize("index", range(len(BAD_INPUT)), ids=option_ids(BAD_INPUT))
def test_bad_input_fails_before_any_request(bad_input_outcomes, index):
    outcomes, run, requests = bad_input_outcomes
    message = refusal(outcomes, run, index)
    assert BAD_INPUT[index][1] in message, message
    assert requests == []  # no case made a request
