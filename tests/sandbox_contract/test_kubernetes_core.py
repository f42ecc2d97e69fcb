"""kubernetes.core's k8s and k8s_info modules against the emulator, from a playbook."""

import time

from playbook import run_playbook

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "kc-demo", "labels": {"app": "web"}},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "hello", "image": "gcr.io/google-samples/hello-app:2.0",
                                                   "ports": [{"containerPort": 8080}]}]}}},
}
CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "kc-demo"},
             "data": {"mode": "demo"}}


def k8s(task_name, **options):
    return {"name": task_name, "kubernetes.core.k8s": options, "register": task_name.replace(" ", "_")}


def test_create_apply_server_side_apply_wait_and_absent(sandbox, tmp_path):
    tasks = [
        k8s("namespace", definition={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kc-demo"}}),
        k8s("deploy", definition=DEPLOYMENT, wait=True, wait_sleep=1, wait_timeout=60),
        k8s("deploy again", definition=DEPLOYMENT, wait=True, wait_sleep=1, wait_timeout=60),
        k8s("apply cm", definition=CONFIGMAP, apply=True),
        k8s("apply cm again", definition=CONFIGMAP, apply=True),
        k8s("ssa cm", definition=dict(CONFIGMAP, metadata={"name": "ssa", "namespace": "kc-demo"}),
            apply=True, server_side_apply={"field_manager": "contract-test"}),
        k8s("ssa cm again", definition=dict(CONFIGMAP, metadata={"name": "ssa", "namespace": "kc-demo"}),
            apply=True, server_side_apply={"field_manager": "contract-test"}),
        {"name": "info", "register": "info",
         "kubernetes.core.k8s_info": {"kind": "Pod", "namespace": "kc-demo", "label_selectors": ["app=web"]}},
    ]
    run = run_playbook(tmp_path, tasks, env=sandbox.env)
    assert run.rc == 0, run.stdout[-3000:]
    results = run.results()
    assert results["namespace"]["changed"] is True
    assert results["deploy"]["changed"] is True
    assert results["deploy"]["result"]["status"]["readyReplicas"] == 2
    assert results["deploy again"]["changed"] is False
    assert results["apply cm"]["changed"] is True
    assert results["apply cm again"]["changed"] is False
    assert results["ssa cm"]["changed"] is True
    assert results["ssa cm again"]["changed"] is False
    pods = results["info"]["resources"]
    assert len(pods) == 2 and all(p["status"]["phase"] == "Running" for p in pods)

    absent = run_playbook(tmp_path, [k8s("gone", api_version="v1", kind="Namespace", name="kc-demo", state="absent",
                                         wait=True, wait_sleep=1, wait_timeout=60),
                                     k8s("gone again", api_version="v1", kind="Namespace", name="kc-demo",
                                         state="absent")], env=sandbox.env)
    assert absent.rc == 0, absent.stdout[-3000:]
    assert absent.result("gone")["changed"] is True
    assert absent.result("gone again")["changed"] is False
    assert sandbox.kubectl("get", "ns", "kc-demo", check=False).returncode != 0


def test_check_mode_writes_only_with_dry_run(sandbox, tmp_path):
    before = time.time()
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "checked", "namespace": "default"},
          "data": {"a": "b"}}
    run = run_playbook(tmp_path, [k8s("create", definition=cm), k8s("ssa", definition=dict(
        cm, metadata={"name": "checked-ssa", "namespace": "default"}), apply=True,
        server_side_apply={"field_manager": "contract-test"})], extra_args=["--check"], env=sandbox.env)
    assert run.rc == 0, run.stdout[-3000:]
    assert run.result("create")["changed"] is True
    made = sandbox.writes(before)
    assert made, "check mode should still ask the server (dry run)"
    assert all(e["dry_run"] for e in made), made
    assert sandbox.kubectl("get", "cm", "checked", check=False).returncode != 0
    assert sandbox.kubectl("get", "cm", "checked-ssa", check=False).returncode != 0
