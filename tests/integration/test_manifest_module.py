"""istio_demo.mesh.manifest on the sandbox: whole manifests, retries that say so, no request when nothing changed."""

import time

import pytest
import sandboxrun

from playbook import run_playbook


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A sandbox of this file's own: its tests need a cluster that serves no Istio kind, and the suite's shared
    sandbox may hold Istio's CRDs from a file that ran before on the same worker."""
    with sandboxrun.own(tmp_path_factory, "manifest-module") as running:
        yield running


OBJECTS = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mf-demo"}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"mode": "demo"}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
     "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}},
]


def apply(tmp_path, sandbox, extra=(), **options):
    options = dict({"definition": OBJECTS, "namespace": "mf-demo"}, **options)
    task = {"name": "apply", "istio_demo.mesh.manifest": options, "register": "applied"}
    run = run_playbook(tmp_path, [task], extra, env=dict(sandbox.env, K8S_AUTH_KUBECONFIG=sandbox.kubeconfig))
    return run, run.results().get("apply", {})


def test_apply_twice_then_remove(sandbox, tmp_path):
    run, result = apply(tmp_path, sandbox)
    assert run.rc == 0 and result["changed"], run.stdout[-2000:]
    assert result["objects"] == ["Namespace//mf-demo", "ConfigMap/mf-demo/settings", "Service/mf-demo/web"]
    assert sandbox.kubectl("get", "configmap", "settings", "-n", "mf-demo", "-o", "jsonpath={.data.mode}").stdout \
        == "demo"
    since = time.time()
    run, result = apply(tmp_path, sandbox)
    assert run.rc == 0 and not result["changed"]
    assert sandbox.writes(since) == []  # nothing changed, nothing sent
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
    start = time.time()
    task = {"name": "apply", "istio_demo.mesh.manifest": {"definition": [{"kind": "Service"}]}}
    run = run_playbook(tmp_path, [task], env=dict(sandbox.env, K8S_AUTH_KUBECONFIG=sandbox.kubeconfig))
    assert run.rc != 0
    assert "definition[0]" in run.results()["apply"]["msg"]
    assert sandbox.requests(start) == []


GATEWAY = {"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "mf-gateway"},
           "spec": {"selector": {"istio": "ingressgateway"},
                    "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}}


def has_kind(sandbox, plural):
    return sandbox.kubectl("api-resources", "-o", "name").stdout.split().count(plural) > 0


def test_check_mode_on_a_fresh_cluster_says_what_would_be_created(sandbox, tmp_path):
    assert not has_kind(sandbox, "gateways.networking.istio.io"), "this test needs a cluster without Istio"
    since = time.time()
    run, result = apply(tmp_path, sandbox, extra=["--check", "--diff"], definition=OBJECTS + [GATEWAY])
    assert run.rc == 0, run.stdout[-2000:]
    assert result["changed"] is True
    by_label = dict(zip(result["objects"], result["result"]["results"]))
    # the namespace itself is dry-run by the API server; what goes in it, and a kind not served, are predicted
    assert by_label["Namespace//mf-demo"]["method"] == "apply"
    assert result["predicted"] == [
        "ConfigMap/mf-demo/settings: namespace mf-demo does not exist yet",
        "Service/mf-demo/web: namespace mf-demo does not exist yet",
        "Gateway//mf-gateway: its kind Gateway (networking.istio.io/v1) is not served yet",
    ]
    assert by_label["Gateway//mf-gateway"]["method"] == "create"
    assert result["msg"] == ("check mode: would create 3 object(s) the API server cannot dry-run yet - namespace "
                             "mf-demo does not exist yet: ConfigMap/mf-demo/settings, Service/mf-demo/web; its kind "
                             "Gateway (networking.istio.io/v1) is not served yet: Gateway//mf-gateway")
    assert result["msg"] in result["warnings"]
    made = sandbox.writes(since)
    assert [e["path"] for e in made] == ["/api/v1/namespaces"] and made[0]["dry_run"]  # only the namespace, dry-run
    assert sandbox.kubectl("get", "namespace", "mf-demo", check=False).returncode != 0


def test_a_real_run_refuses_a_kind_the_cluster_does_not_serve(sandbox, tmp_path):
    run, result = apply(tmp_path, sandbox, definition=[GATEWAY])
    assert run.rc != 0
    assert "applying Gateway//mf-gateway failed" in result["msg"]
    assert "networking.istio.io/v1" in result["msg"]


def test_removing_objects_whose_kind_is_gone_changes_nothing(sandbox, tmp_path):
    for extra in ([], ["--check"]):
        run, result = apply(tmp_path, sandbox, extra=extra, definition=[GATEWAY], state="absent")
        assert run.rc == 0, run.stdout[-2000:]
        assert result["changed"] is False
        assert result["result"]["results"][0]["msg"] == (
            "Gateway//mf-gateway is absent: its kind Gateway (networking.istio.io/v1) is not served")


def test_patched_changes_what_exists_removes_nulls_and_creates_nothing(sandbox, tmp_path):
    run, dummy = apply(tmp_path, sandbox)
    assert run.rc == 0
    sandbox.kubectl("label", "configmap", "settings", "-n", "mf-demo", "istio-injection=enabled")
    before = sandbox.kubectl("get", "configmap", "settings", "-n", "mf-demo", "-o",
                             "jsonpath={.metadata.annotations}").stdout
    patch = [{"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "settings", "labels": {"istio.io/rev": "stable", "istio-injection": None}}},
             {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nowhere"}, "data": {"a": "b"}}]
    checked, result = apply(tmp_path, sandbox, ["--check"], definition=patch, state="patched", merge_type=["merge"])
    assert checked.rc == 0 and result["changed"] is True
    labels = sandbox.kubectl("get", "configmap", "settings", "-n", "mf-demo", "-o", "jsonpath={.metadata.labels}")
    assert "istio-injection" in labels.stdout and "istio.io/rev" not in labels.stdout
    run, result = apply(tmp_path, sandbox, definition=patch, state="patched", merge_type=["merge"])
    assert run.rc == 0 and result["changed"] is True, run.stdout[-2000:]
    labels = sandbox.kubectl("get", "configmap", "settings", "-n", "mf-demo", "-o", "jsonpath={.metadata.labels}")
    assert '"istio.io/rev":"stable"' in labels.stdout and "istio-injection" not in labels.stdout
    assert sandbox.kubectl("get", "configmap", "nowhere", "-n", "mf-demo", check=False).returncode != 0
    assert "will not be created" in " ".join(result["result"]["results"][1].get("warnings", []))
    # the patch is not an apply: the last-applied record stays the applied definition's
    assert sandbox.kubectl("get", "configmap", "settings", "-n", "mf-demo", "-o",
                           "jsonpath={.metadata.annotations}").stdout == before
    again, result = apply(tmp_path, sandbox, definition=patch, state="patched", merge_type=["merge"])
    assert again.rc == 0 and result["changed"] is False


def test_server_side_apply_takes_an_object_too_big_for_the_last_applied_annotation(sandbox, tmp_path):
    big = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"blob": "x" * 300000}}]
    sandbox.kubectl("create", "namespace", "mf-ssa")
    # client-side apply writes the whole object into its last-applied annotation, which the server caps at 256 KiB
    refused, result = apply(tmp_path, sandbox, definition=big, namespace="mf-ssa")
    assert refused.rc != 0 and "262144" in result["msg"], result.get("msg")
    ssa = {"field_manager": "istio_demo.mesh"}
    run, result = apply(tmp_path, sandbox, definition=big, namespace="mf-ssa", server_side_apply=ssa)
    assert run.rc == 0 and result["changed"], run.stdout[-2000:]
    managers = sandbox.kubectl("get", "configmap", "big", "-n", "mf-ssa", "--show-managed-fields", "-o",
                               "jsonpath={range .metadata.managedFields[*]}{.manager}/{.operation} {end}").stdout
    assert managers.split() == ["istio_demo.mesh/Apply"]
    again, result = apply(tmp_path, sandbox, definition=big, namespace="mf-ssa", server_side_apply=ssa)
    assert again.rc == 0 and result["changed"] is False
    # a field another manager set to another value is theirs: refused, unless taken over by name
    sandbox.kubectl("apply", "--server-side", "--field-manager", "someone-else", "--force-conflicts", "-f", "-",
                    stdin='{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big", "namespace": '
                          '"mf-ssa"}, "data": {"blob": "theirs"}}')
    conflict, result = apply(tmp_path, sandbox, definition=big, namespace="mf-ssa", server_side_apply=ssa)
    assert conflict.rc != 0 and "someone-else" in result["msg"], result.get("msg")
    taken, result = apply(tmp_path, sandbox, definition=big, namespace="mf-ssa",
                          server_side_apply=dict(ssa, force_conflicts=True))
    assert taken.rc == 0 and result["changed"], taken.stdout[-2000:]
    assert len(sandbox.kubectl("get", "configmap", "big", "-n", "mf-ssa", "-o", "jsonpath={.data.blob}").stdout) \
        == 300000
    since = time.time()
    wrong, result = apply(tmp_path, sandbox, definition=big, namespace="mf-ssa", state="absent", server_side_apply=ssa)
    assert wrong.rc != 0 and "server_side_apply" in result["msg"] and "state=absent" in result["msg"]
    assert sandbox.requests(since) == []
    sandbox.kubectl("delete", "namespace", "mf-ssa", "--wait=false")


def test_k8s_info_waits_until_objects_are_gone_and_names_what_stays(sandbox, tmp_path):
    sandbox.kubectl("create", "namespace", "mf-gone")
    sandbox.kubectl("apply", "-f", "-", stdin='{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", '
                                              '"namespace": "mf-gone", "labels": {"app": "held"}, "finalizers": '
                                              '["example.com/hold"]}}')
    sandbox.kubectl("delete", "configmap", "held", "-n", "mf-gone", "--wait=false")
    env = dict(sandbox.env, K8S_AUTH_KUBECONFIG=sandbox.kubeconfig)

    def wait_gone(timeout):
        task = {"name": "wait", "istio_demo.mesh.k8s_info": {
            "kind": "ConfigMap", "namespace": "mf-gone", "label_selectors": ["app=held"], "wait": True,
            "wait_for": "absent", "wait_timeout": timeout, "wait_sleep": 1}}
        run = run_playbook(tmp_path, [task], env=env)
        return run, run.results().get("wait", {})

    held, result = wait_gone(2)
    assert held.rc == 0, held.stdout[-2000:]  # what stays is the answer, not a failure
    assert [o["metadata"]["name"] for o in result["resources"]] == ["held"]
    assert result["resources"][0]["metadata"]["finalizers"] == ["example.com/hold"]
    sandbox.kubectl("patch", "configmap", "held", "-n", "mf-gone", "--type", "merge", "-p",
                    '{"metadata": {"finalizers": null}}')
    gone, result = wait_gone(30)
    assert gone.rc == 0 and result["resources"] == []
    sandbox.kubectl("delete", "namespace", "mf-gone", "--wait=false")


def test_k8s_info_queries_read_in_one_run_what_single_reads_return(sandbox, tmp_path):
    sandbox.kubectl("create", "namespace", "mf-queries")
    sandbox.kubectl("create", "configmap", "one", "-n", "mf-queries")
    sandbox.kubectl("label", "configmap", "one", "-n", "mf-queries", "app=q")
    env = dict(sandbox.env, K8S_AUTH_KUBECONFIG=sandbox.kubeconfig)
    queries = [{"kind": "Namespace", "name": "mf-queries"},
               {"kind": "ConfigMap", "namespace": "mf-queries", "label_selectors": ["app=q"]},
               {"kind": "ConfigMap", "namespace": "mf-queries", "name": "nothing"},
               {"kind": "Widget", "api_version": "example.com/v1"}]
    tasks = [{"name": "all", "istio_demo.mesh.k8s_info": {"queries": queries}}]
    tasks += [{"name": "single %d" % i, "istio_demo.mesh.k8s_info": query} for i, query in enumerate(queries)]
    run = run_playbook(tmp_path, tasks, env=env)
    assert run.rc == 0, run.outline()
    together = run.result("all")
    assert [r["query"]["kind"] for r in together["results"]] == ["Namespace", "ConfigMap", "ConfigMap", "Widget"]
    assert together["results"][1]["query"]["api_version"] == "v1"  # the defaults filled in, as for a single read
    for i, result in enumerate(together["results"]):
        single = run.result("single %d" % i)
        assert result["api_found"] == single["api_found"], (i, result, single)
        assert [o["metadata"]["uid"] for o in result["resources"]] == [
            o["metadata"]["uid"] for o in single["resources"]], i
    assert [len(r["resources"]) for r in together["results"]] == [1, 1, 0, 0]
    assert together["results"][3]["api_found"] is False

    bad = run_playbook(tmp_path, [{"name": "both", "istio_demo.mesh.k8s_info": {"kind": "Namespace", "queries": queries}},
                                  ], env=env)
    assert bad.rc != 0 and "mutually exclusive: kind|queries" in bad.result("both")["msg"], bad.outline()
    bad = run_playbook(tmp_path, [{"name": "no kind", "istio_demo.mesh.k8s_info": {"queries": [{"name": "x"}]}}],
                       env=env)
    assert bad.rc != 0 and "kind" in bad.result("no kind")["msg"] and "queries" in bad.result("no kind")["msg"], \
        bad.outline()
    sandbox.kubectl("delete", "namespace", "mf-queries", "--wait=false")


PROVED = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mf-proof"}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
     "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
              "template": {"metadata": {"labels": {"app": "web"}},
                           "spec": {"containers": [{"name": "hello", "ports": [{"containerPort": 8080}],
                                                    "image": "us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0"}]}}}},
]


def test_prove_judges_the_rolled_out_pods_in_the_same_run_as_sidecar_info_does(sandbox, tmp_path):
    options = {"definition": PROVED, "namespace": "mf-proof", "wait": True}
    selection = {"namespace": ["mf-proof"], "label_selector": "app=web"}
    tasks = [
        {"name": "ready",
         "istio_demo.mesh.manifest": dict(options, prove=dict(selection, require=["ready"], pods_reported="all"))},
        {"name": "judge", "istio_demo.mesh.sidecar_info": dict(selection, require=["ready"], pods_reported="all")},
        # no Istio on this cluster: no pod has a sidecar, and the proof fails naming each one
        {"name": "injected", "istio_demo.mesh.manifest": dict(options, prove=dict(selection, require=["injected"])),
         "ignore_errors": True},
        {"name": "remove", "istio_demo.mesh.manifest": {"definition": PROVED[0], "state": "absent", "wait": True}},
    ]
    run = run_playbook(tmp_path, tasks, env=dict(sandbox.env, K8S_AUTH_KUBECONFIG=sandbox.kubeconfig))
    results = run.results()
    ready, judge, injected = results["ready"], results["judge"], results["injected"]
    assert run.rc == 0 and not ready.get("failed"), run.stdout[-2000:]
    assert ready["objects"] == ["Namespace//mf-proof", "Deployment/mf-proof/web"]
    assert ready["proof"]["summary"] == judge["summary"] and ready["proof"]["summary"]["ready"] == 2
    assert sorted(p["name"] for p in ready["proof"]["pods"]) == sorted(p["name"] for p in judge["pods"])
    assert injected["failed"] and not injected["changed"]  # applied before, unchanged; only the proof failed
    assert injected["msg"].startswith("2 of 2 pods violate the mesh requirements (injected): "), injected["msg"]
    assert injected["proof"]["summary"]["violating_pods"] == 2 and len(injected["proof"]["pods"]) == 2
    assert injected["objects"] == ready["objects"]  # what was applied is still reported
    assert not results["remove"].get("failed")


def test_the_demo_apps_rollout_fails_with_the_proof_when_its_pods_are_not_in_the_mesh(sandbox, tmp_path):
    # the role alone, on this file's cluster without Istio: the pods roll out, uninjected; the apply's own proof
    # fails, and the role says so in the proof's words - not as a rollout that timed out
    tasks = [
        {"name": "apps",
         "block": [{"name": "roll out", "ansible.builtin.include_role": {"name": "istio_demo.mesh.demo_apps"},
                    "vars": {"demo_apps_namespace": "mf-apps", "demo_apps_replicas": 1}}],
         "rescue": [{"name": "refused", "ansible.builtin.set_fact": {"refusal": "{{ ansible_failed_result.msg }}"}}]},
        {"name": "remove", "istio_demo.mesh.manifest": {"state": "absent", "wait": True, "definition": {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mf-apps"}}}},
        {"name": "say", "ansible.builtin.debug": {"var": "refusal"}},
    ]
    run = run_playbook(tmp_path, tasks, env=dict(sandbox.env, K8S_AUTH_KUBECONFIG=sandbox.kubeconfig))
    refusal = run.results()["say"].get("refusal", "")
    assert run.rc == 0, run.stdout[-2000:]
    assert refusal.startswith("2 of 2 pods violate the mesh requirements (injected, init, labels, ready): "), refusal
    assert "in mf-apps has no istio-proxy" in refusal and "did not roll out" not in refusal
    assert sandbox.kubectl("get", "namespace", "mf-apps", check=False).returncode != 0
