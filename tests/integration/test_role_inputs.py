"""Bad input to a role fails before any change, naming the variable."""

import os

import pytest

from playbook import run_playbook

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INVENTORY = os.path.join(ROOT, "inventories", "sandbox")


def role_play(role, variables):
    return [{"name": "role", "ansible.builtin.include_role": {"name": "istio_demo.mesh." + role}, "vars": variables}]


@pytest.mark.parametrize("role, variables, expected", [
    ("demo_apps", {"demo_apps_namespace": "My_App"}, ["demo_apps_namespace=\"My_App\" is invalid", "namespace name"]),
    ("demo_apps", {"demo_apps_container_port": 70000}, ["demo_apps_container_port=70000 is invalid", "1 and 65535"]),
    ("demo_apps", {"demo_apps_replicas": "two"}, ["demo_apps_replicas", "two"]),
    ("demo_apps", {"demo_apps_versions": [{"name": "v1", "image": "x"}]}, ["demo_apps_versions entry"]),
    ("ingress", {"ingress_routes": [{"path": "v1", "service": "my-app-v1-svc", "port": 80}]},
     ["ingress_routes entry", "starting with '/'"]),
    ("ingress", {"ingress_port": 0}, ["ingress_port=0 is invalid"]),
    ("nginx_proxy", {"nginx_proxy_routes": [{"path": "/v1", "service": "my-app-v1-svc", "port": 99999}]},
     ["nginx_proxy_routes entry", "1-65535"]),
    ("observability", {"observability_addons": ["kiali", "splunk"]}, ["observability_addons", "splunk"]),
    ("istio_install", {"istio_install_profile": "galaxy"}, ["istio_install_profile", "galaxy"]),
    ("istio_install", {"istio_install_version": "1.27"}, ["istio_install_version=\"1.27\" is invalid"]),
    ("aws_security_groups", {"aws_security_groups_admin_cidrs": ["10.0.0.300/8"]},
     ["aws_security_groups_admin_cidrs contains \"10.0.0.300/8\""]),
    ("aws_security_groups", {"aws_security_groups_admin_cidrs": ["0.0.0.0/0"]},
     ["0.0.0.0/0", "aws_security_groups_allow_world_open"]),
    ("aws_security_groups", {"aws_security_groups_cluster_name": "", "aws_security_groups_group_id": ""},
     ["aws_security_groups_cluster_name", "aws_security_groups_group_id"]),
])
def test_bad_role_input_fails_before_any_change(sandbox, tmp_path, role, variables, expected):
    before = len(sandbox.requests())
    run = run_playbook(tmp_path, role_play(role, variables), extra_args=["-i", INVENTORY],
                       env={"SANDBOX_STATE_DIR": sandbox.state_dir})
    assert run.rc != 0
    failures = [r for r in run.results().values() if r.get("failed")]
    assert failures, run.stdout[-2000:]
    # a looped check fails per item: the item's message is what the user reads
    items = [i.get("msg", "") for i in failures[0].get("results", []) if i.get("failed")]
    message = " ".join([failures[0].get("msg", "")] + items)
    for text in expected:
        assert text in message, message
    writes = [e for e in sandbox.requests()[before:] if e["verb"] in ("POST", "PUT", "PATCH", "DELETE")]
    assert writes == []
