"""Check mode tells the truth, and teardown leaves exactly what was there before.

One flow on one sandbox, in order: --check on a fresh cluster, site.yml,
--check on the converged cluster, teardown.yml --check, teardown.yml, teardown.yml again.
"""

import json
import os
import re

import boto3
import pytest

from playbook import collection_playbook as playbook


def snapshot(sandbox):
    with sandbox.open(sandbox.api + "/sandbox/snapshot") as response:
        return json.loads(response.read())


def rules(sandbox):
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=sandbox.env["AWS_ENDPOINT_URL"],
                       aws_access_key_id=sandbox.state["aws"]["access_key"],
                       aws_secret_access_key=sandbox.state["aws"]["secret_key"])
    groups = ec2.describe_security_groups()["SecurityGroups"]
    return sorted(json.dumps(g["IpPermissions"], sort_keys=True) + g["GroupId"] for g in groups)


def writes(entries):
    return [e for e in entries if e["verb"] in ("POST", "PUT", "PATCH", "DELETE")]


@pytest.fixture(scope="module")
def flow(sandbox):
    return {"before": snapshot(sandbox), "rules": rules(sandbox)}


def test_check_mode_on_a_fresh_cluster_predicts_and_writes_nothing(sandbox, tmp_path, flow):
    start = len(sandbox.requests())
    rc, stats, proc = playbook(sandbox, tmp_path, "site.yml", "--check", "--diff")
    assert rc == 0, proc.stdout[-3000:]
    assert stats["changed"] > 0
    made = writes(sandbox.requests()[start:])
    assert [e for e in made if not e["dry_run"]] == [], "a write without dryRun=All in check mode"
    assert not [e for e in made if "istioctl" in e["user_agent"]], "istioctl was asked to install"
    assert rules(sandbox) == flow["rules"]
    assert snapshot(sandbox) == flow["before"]
    assert "cannot dry-run" in proc.stdout


def test_site_then_check_mode_reports_zero_changes(sandbox, tmp_path, flow):
    rc, stats, proc = playbook(sandbox, tmp_path, "site.yml")
    assert rc == 0, proc.stdout[-3000:]
    start = len(sandbox.requests())
    rc, stats, proc = playbook(sandbox, tmp_path, "site.yml", "--check")
    assert rc == 0, proc.stdout[-3000:]
    assert stats["changed"] == 0, proc.stdout[-3000:]
    assert [e for e in writes(sandbox.requests()[start:]) if not e["dry_run"]] == []


def test_traffic_is_bounded_and_its_generator_removed(sandbox, tmp_path, flow):
    rc, stats, proc = playbook(sandbox, tmp_path, "traffic.yml", "-e", "traffic_duration=2", "-e", "traffic_qps=5")
    assert rc == 0, proc.stdout[-3000:]
    data = json.loads(proc.stdout[proc.stdout.find("{"):])
    sent = [h for play in data["plays"] for task in play["tasks"] for h in task["hosts"].values()
            if task["task"]["name"] == "Send traffic through the ingress for the whole duration"]
    assert [r["requests"] for r in sent[0]["results"]] == [10, 10]
    assert all(r["status_codes"] == {"200": 10} for r in sent[0]["results"])
    left = sandbox.kubectl("get", "deployment", "traffic-generator", "-n", "my-app", check=False)
    assert left.returncode != 0 and "NotFound" in left.stderr


def test_secrets_never_reach_the_output_even_at_vvv(sandbox, tmp_path, flow):
    rc, stats, proc = playbook(sandbox, tmp_path, "verify.yml", "-vvv")
    assert rc == 0, proc.stdout[-3000:]
    output = proc.stdout + proc.stderr
    # the bearer tokens: the ones `aws eks get-token` made for every client, and the cluster's static one
    assert "k8s-aws-v1." not in output and sandbox.token not in output
    assert sandbox.state["aws"]["secret_key"] not in output
    # the keys went to every process through a credentials file the environment names, never in the environment
    found = re.search(r"AWS_SHARED_CREDENTIALS_FILE=(\S+)", output)
    assert found and "AWS_PROFILE=istio-demo-mesh" in output
    assert not os.path.exists(found.group(1))  # and the file is gone once the play ended


def test_teardown_check_mode_on_a_converged_cluster_predicts_without_waiting_or_writing(sandbox, tmp_path, flow):
    start = len(sandbox.requests())
    before = rules(sandbox)
    rc, stats, proc = playbook(sandbox, tmp_path, "teardown.yml", "--check")
    assert rc == 0, proc.stdout[-3000:]
    assert stats["changed"] > 0  # it says what it would remove
    assert "would delete Service istio-system/istio-ingressgateway" in proc.stdout
    made = sandbox.requests()[start:]
    assert [e for e in writes(made) if not e["dry_run"]] == []
    assert rules(sandbox) == before
    # the gateway Service was read once, not polled until a timeout
    reads = [e for e in made if e["verb"] == "GET" and e["path"].endswith("/services/istio-ingressgateway")]
    assert len(reads) <= 2, reads


def test_teardown_leaves_what_was_there_and_a_second_teardown_changes_nothing(sandbox, tmp_path, flow):
    rc, stats, proc = playbook(sandbox, tmp_path, "teardown.yml")
    assert rc == 0, proc.stdout[-3000:]
    after = snapshot(sandbox)
    assert sorted(after) == sorted(flow["before"])
    assert {k: v["uid"] for k, v in after.items()} == {k: v["uid"] for k, v in flow["before"].items()}
    assert rules(sandbox) == flow["rules"]
    rc, stats, proc = playbook(sandbox, tmp_path, "teardown.yml")
    assert rc == 0 and stats["changed"] == 0, proc.stdout[-3000:]
