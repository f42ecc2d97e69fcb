"""A pod that never becomes ready fails the play with the pod, its namespace and why."""

import os

from playbook import run_playbook

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INVENTORY = os.path.join(ROOT, "inventories", "sandbox")


def test_unready_pod_is_named_with_its_waiting_condition(sandbox, tmp_path):
    sandbox.faults(never_ready=["stuck/my-app-v2-*"])
    try:
        run = run_playbook(tmp_path, [{"name": "apps", "ansible.builtin.include_role": {
            "name": "istio_demo.mesh.demo_apps"}, "vars": {
                "demo_apps_namespace": "stuck", "demo_apps_inject": False, "demo_apps_wait_timeout": 6}}],
            extra_args=["-i", INVENTORY],
            env={"SANDBOX_STATE_DIR": sandbox.state_dir, "K8S_AUTH_KUBECONFIG": sandbox.kubeconfig,
                 # the AWS identity the kubeconfig's `aws eks get-token` signs with
                 "AWS_ACCESS_KEY_ID": sandbox.env["AWS_ACCESS_KEY_ID"],
                 "AWS_SECRET_ACCESS_KEY": sandbox.env["AWS_SECRET_ACCESS_KEY"]})
    finally:
        sandbox.faults(never_ready=[])
    assert run.rc != 0
    failed = [r for r in run.results().values() if r.get("failed") and "did not roll out" in r.get("msg", "")]
    assert failed, run.stdout[-3000:]
    message = failed[0]["msg"]
    assert "demo_apps_wait_timeout=6" in message
    assert "in stuck is not ready" in message and "pod my-app-v2-" in message
    assert "containers with unready status: [hello]" in message
    assert "my-app-v1-" not in message
    sandbox.kubectl("delete", "namespace", "stuck", "--wait=true")
