"""Pods that run to completion run their curl through the data plane as themselves, and a sidecar under a STRICT
PeerAuthentication resets a caller without one - the proof of strict mTLS a person makes with a client pod in an
uninjected namespace (istio.io/latest/docs/tasks/security/authentication/mtls-migration/)."""

import json
import subprocess
import time

import pytest

from manifests import hello_app

APP = hello_app("shop", {"istio-injection": "enabled"})


def client(name, namespace, script, restart="Never", hold=True):
    """A client pod; ``hold``: its curl waits for its sidecar to be ready (holdApplicationUntilProxyStarts, as
    Istio advises for an app that connects at once)."""
    meta = {"name": name, "namespace": namespace}
    if hold:
        meta["annotations"] = {"proxy.istio.io/config": '{"holdApplicationUntilProxyStarts": true}'}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"restartPolicy": restart, "containers": [{
                "name": "curl", "image": "docker.io/curlimages/curl:8.15.0", "command": ["sh", "-c", script],
                "terminationMessagePolicy": "FallbackToLogsOnError"}]}}


def policy(name, namespace, mode, selector=None):
    spec = {"mtls": {"mode": mode}}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def apply(cluster, *objects):
    cluster.kubectl("apply", "-f", "-", stdin="\n---\n".join(json.dumps(o) for o in objects))


def finished(cluster, namespace, name, deadline=30.0):
    """The pod once its phase is Succeeded or Failed, or once its app container has ended (polled, bounded)."""
    end = time.time() + deadline
    while True:
        pod = json.loads(cluster.kubectl("get", "pod", name, "-n", namespace, "-o", "json").stdout)
        app = [c for c in (pod.get("status") or {}).get("containerStatuses") or [] if c["name"] == "curl"]
        if pod["status"].get("phase") in ("Succeeded", "Failed") or (app and "terminated" in app[0]["state"]):
            return pod
        assert time.time() < end, pod.get("status")
        time.sleep(0.2)  # polling the API for the pod's end, bounded


def ask(cluster, namespace, name, url="http://hello.shop/", meshed_quit=True):
    """(exit code, termination message) of a client pod that curls ``url`` from ``namespace``."""
    script = "curl -sS -o /dev/null --max-time 5 %s" % url
    if meshed_quit:  # a classic sidecar ends only when asked (Istio's way for pods that run to completion)
        script += " && curl -fsS -X POST http://localhost:15020/quitquitquit"
    apply(cluster, client(name, namespace, script))
    pod = finished(cluster, namespace, name)
    app = [c for c in pod["status"]["containerStatuses"] if c["name"] == "curl"][0]["state"]["terminated"]
    return app["exitCode"], app.get("message", "")


@pytest.fixture(scope="module")
def mesh(sandbox):
    done = subprocess.run(["istioctl", "install", "-y", "--set", "profile=minimal"], env=sandbox.env,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    sandbox.kubectl("apply", "-f", "-", stdin=APP)
    sandbox.kubectl("rollout", "status", "deploy/hello", "-n", "shop", "--timeout=60s")
    return sandbox


def test_without_a_policy_both_callers_get_through(mesh):
    assert ask(mesh, "plain", "plain-1", meshed_quit=False) == (0, "")
    assert ask(mesh, "shop", "meshed-1") == (0, "")


def test_strict_resets_the_plaintext_caller_and_keeps_the_meshed_one(mesh):
    apply(mesh, policy("default", "shop", "STRICT"))
    try:
        code, message = ask(mesh, "plain", "plain-2", meshed_quit=False)
        assert code == 56 and "curl: (56) Recv failure: Connection reset by peer" in message
        assert ask(mesh, "shop", "meshed-2") == (0, "")
        # the API server is outside the mesh too: its service proxy cannot reach a STRICT workload
        proxied = mesh.kubectl("get", "--raw", "/api/v1/namespaces/shop/services/hello:80/proxy/", check=False)
        assert proxied.returncode != 0 and "connection reset by peer" in proxied.stderr
        # a workload's own PERMISSIVE policy wins over the namespace's
        apply(mesh, policy("hello-open", "shop", "PERMISSIVE", {"app": "hello"}))
        assert ask(mesh, "plain", "plain-3", meshed_quit=False) == (0, "")
    finally:
        mesh.kubectl("delete", "peerauthentication", "--all", "-n", "shop")


def test_the_mesh_wide_policy_applies_unless_the_namespace_says_otherwise(mesh):
    apply(mesh, policy("default", "istio-system", "STRICT"))
    try:
        assert ask(mesh, "plain", "plain-4", meshed_quit=False)[0] == 56
        apply(mesh, policy("default", "shop", "PERMISSIVE"))
        assert ask(mesh, "plain", "plain-5", meshed_quit=False) == (0, "")
    finally:
        mesh.kubectl("delete", "peerauthentication", "default", "-n", "istio-system")
        mesh.kubectl("delete", "peerauthentication", "--all", "-n", "shop")


def test_a_classic_sidecar_keeps_a_finished_pod_running_until_told_to_quit(mesh):
    apply(mesh, client("meshed-stays", "shop", "curl -sS -o /dev/null http://hello.shop/"))
    pod = finished(mesh, "shop", "meshed-stays")
    states = dict((c["name"], c["state"]) for c in pod["status"]["containerStatuses"])
    assert states["curl"]["terminated"]["exitCode"] == 0 and "running" in states["istio-proxy"]
    assert pod["status"]["phase"] == "Running"


def test_a_classic_sidecar_not_holding_the_app_refuses_its_first_connection(mesh):
    # the app starts beside Envoy, not after it: its first connection meets no listener (curl exit 7)
    apply(mesh, client("racer", "shop", "curl -sS -o /dev/null --max-time 5 http://hello.shop/", hold=False))
    pod = finished(mesh, "shop", "racer")
    app = [c for c in pod["status"]["containerStatuses"] if c["name"] == "curl"][0]["state"]["terminated"]
    assert app["exitCode"] == 7 and "Failed to connect to hello.shop port 80" in app.get("message", "")
    assert [c["name"] for c in pod["spec"]["containers"]] == ["curl", "istio-proxy"]
    # held, the proxy comes first and the app waits for it (pilot-agent wait in its postStart hook)
    assert ask(mesh, "shop", "held") == (0, "")
    held = json.loads(mesh.kubectl("get", "pod", "held", "-n", "shop", "-o", "json").stdout)
    assert [c["name"] for c in held["spec"]["containers"]] == ["istio-proxy", "curl"]
    assert held["spec"]["containers"][0]["lifecycle"]["postStart"]["exec"]["command"] == ["pilot-agent", "wait"]


def test_curl_exit_codes_follow_its_manual(mesh):
    code, message = ask(mesh, "plain", "no-such-host", url="http://nowhere.shop/", meshed_quit=False)
    assert code == 6 and "Could not resolve host: nowhere.shop" in message
    code, message = ask(mesh, "plain", "no-such-port", url="http://hello.shop:81/", meshed_quit=False)
    assert code == 7 and "Couldn't connect to server" in message
    pod = json.loads(mesh.kubectl("get", "pod", "no-such-port", "-n", "plain", "-o", "json").stdout)
    assert pod["status"]["phase"] == "Failed"


def test_a_job_whose_pods_fail_stops_at_its_backoff_limit(mesh):
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "doomed", "namespace": "plain"},
           "spec": {"backoffLimit": 1,
                    "template": {"spec": client("x", "plain", "curl -sS http://nowhere.shop/")["spec"]}}}
    apply(mesh, job)
    mesh.kubectl("wait", "--for=condition=Failed", "job/doomed", "-n", "plain", "--timeout=30s")
    status = json.loads(mesh.kubectl("get", "job", "doomed", "-n", "plain", "-o", "json").stdout)["status"]
    assert status["failed"] == 2 and status["conditions"][-1]["reason"] == "BackoffLimitExceeded"


def curl_deployment(namespace):
    """istio's samples/curl: a Deployment whose container sleeps, for a person to kubectl exec curl in."""
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "curl", "namespace": namespace},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "curl"}},
                     "template": {"metadata": {"labels": {"app": "curl"}}, "spec": {
                         "terminationGracePeriodSeconds": 0,
                         "containers": [{"name": "curl", "image": "docker.io/curlimages/curl:8.15.0",
                                         "command": ["/bin/sleep", "infinity"]}]}}}}


def test_kubectl_exec_curl_as_istio_docs_verify_mtls(mesh):
    # istio.io's mtls-migration page, step by step: curl from each namespace's curl pod, print the HTTP code
    for namespace in ("shop", "plain"):
        apply(mesh, curl_deployment(namespace))
    for namespace in ("shop", "plain"):
        mesh.kubectl("rollout", "status", "deploy/curl", "-n", namespace, "--timeout=60s")

    def code_from(namespace, *container):
        done = mesh.kubectl("exec", "deploy/curl", *container, "-n", namespace, "--", "curl", "http://hello.shop/",
                            "-s", "-o", "/dev/null", "-w", "%{http_code}\n", check=False)
        return done.returncode, done.stdout
    try:
        assert code_from("plain", "-c", "curl") == (0, "200\n")
        # the injected pod names its app as kubectl's default container, so -c may be left out
        assert code_from("shop") == (0, "200\n")
        apply(mesh, policy("default", "shop", "STRICT"))
        assert code_from("plain", "-c", "curl") == (56, "000\n")
        assert code_from("shop", "-c", "curl") == (0, "200\n")
    finally:
        mesh.kubectl("delete", "peerauthentication", "--all", "-n", "shop")
        for namespace in ("shop", "plain"):
            mesh.kubectl("delete", "deploy", "curl", "-n", namespace)
