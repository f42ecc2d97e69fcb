"""istio_demo.mesh.manifest on the sandbox: whole manifests, retries that say so, no request when nothing changed."""

from playbook import run_playbook

OBJECTS = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mf-demo"}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"mode": "demo"}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
     "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}},
]


def apply(tmp_path, sandbox, **options):
    options = dict({"definition": OBJECTS, "namespace": "mf-demo"}, **options)
    task = {"name": "apply", "istio_demo.mesh.manifest": options, "register": "applied"}
    run = run_playbook(tmp_path, [task], env=dict(sandbox.env, K8S_AUTH_KUBECONFIG=sandbox.kubeconfig))
    return run, run.results().get("apply", {})


def writes(entries):
    return [e for e in entries if e["verb"] in ("POST", "PUT", "PATCH", "DELETE") and "mf-demo" in e["path"]
            or e["verb"] != "GET" and e["path"].endswith("/namespaces")]


def test_apply_twice_then_remove(sandbox, tmp_path):
    run, result = apply(tmp_path, sandbox)
    assert run.rc == 0 and result["changed"], run.stdout[-2000:]
    assert result["objects"] == ["Namespace//mf-demo", "ConfigMap/mf-demo/settings", "Service/mf-demo/web"]
    assert sandbox.kubectl("get", "configmap", "settings", "-n", "mf-demo", "-o", "jsonpath={.data.mode}").stdout \
        == "demo"
    start = len(sandbox.requests())
    run, result = apply(tmp_path, sandbox)
    assert run.rc == 0 and not result["changed"]
    assert writes(sandbox.requests()[start:]) == []  # nothing changed, nothing sent
    run, result = apply(tmp_path, sandbox, state="absent", wait=True)
    assert run.rc == 0 and result["changed"]
    assert sandbox.kubectl("get", "namespace", "mf-demo", check=False).returncode != 0


def test_transient_failures_are_retried_and_reported(sandbox, tmp_path):
    sandbox.faults(error_rate=0.3, error_codes=[429, 500, 503], seed=11)
    try:
        run, result = apply(tmp_path, sandbox, api_backoff=0.05)
    finally:
        sandbox.faults(error_rate=0.0)
    assert run.rc == 0, run.stdout[-2000:]
    assert result["api_retries"], "a 30% error rate should have needed retries"
    assert {r["reason"] for r in result["api_retries"]} <= {"HTTP 429", "HTTP 500", "HTTP 503"}
    assert any("after transient failures, with backoff" in w for w in result.get("warnings", []))
    apply(tmp_path, sandbox, state="absent", wait=True)


def test_without_retries_a_transient_failure_names_the_object(sandbox, tmp_path):
    sandbox.faults(error_rate=1.0, error_codes=[503])
    try:
        run, result = apply(tmp_path, sandbox, api_retries=0)
    finally:
        sandbox.faults(error_rate=0.0)
    assert run.rc != 0
    assert "Namespace//mf-demo" in result["msg"] or "cannot connect" in result["msg"], result["msg"]
    assert "503" in result["msg"] and "Traceback" not in result["msg"]


def test_a_malformed_definition_is_refused_before_any_request(sandbox, tmp_path):
    start = len(sandbox.requests())
    task = {"name": "apply", "istio_demo.mesh.manifest": {"definition": [{"kind": "Service"}]}}
    run = run_playbook(tmp_path, [task], env=dict(sandbox.env, K8S_AUTH_KUBECONFIG=sandbox.kubeconfig))
    assert run.rc != 0
    assert "definition[0]" in run.results()["apply"]["msg"]
    assert sandbox.requests()[start:] == []
