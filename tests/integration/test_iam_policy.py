"""The IAM policy the README documents is the one the playbooks run under: site.yml, verify.yml and teardown.yml as
an IAM user holding exactly that policy (read from the README), on a sandbox whose AWS evaluates each request
against the user's policies as IAM does (tests/sandbox/aws.py) and whose API server admits the user through the
aws-auth mapping the README names. A user missing one of its actions is refused by AWS, and the play says which.
"""

import json
import os
import re
import time

import boto3
import pytest

from awsview import ours
from playbook import collection_playbook as playbook

README = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "README.md")


def documented_policy():
    """The JSON policy of the README's "Every AWS call the playbooks make" paragraph."""
    with open(README) as handle:
        text = handle.read()
    section = text[text.index("Every AWS call the playbooks make"):]
    return json.loads(re.search(r"```json\n(.*?)\n```", section, re.S).group(1))


def iam_user(cluster, name, policy):
    """An IAM user with ``policy`` as its only (managed) policy and an access key, mapped in aws-auth as an admin
    of the cluster: (access key id, secret, ARN)."""
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=cluster.env["AWS_ENDPOINT_URL"],
                       aws_access_key_id=cluster.state["aws"]["access_key"],
                       aws_secret_access_key=cluster.state["aws"]["secret_key"])
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    managed = iam.create_policy(PolicyName=name + "-policy", PolicyDocument=json.dumps(policy))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=managed)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"], arn


def map_in_aws_auth(cluster, arns):
    users = "".join("- userarn: %s\n  username: %s\n  groups:\n  - system:masters\n" % (arn, arn.rsplit("/", 1)[-1])
                    for arn in arns)
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth", "namespace": "kube-system"},
              "data": {"mapUsers": users}}
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(config))


def as_user(key):
    return ["-e", "mesh_aws_access_key=" + key[0], "-e", "mesh_aws_secret_key=" + key[1]]


def failure(proc):
    start = proc.stdout.find("{")
    data = json.loads(proc.stdout[start:])
    return " ".join(str(result.get("msg", "")) for play in data["plays"] for task in play["tasks"]
                    for result in task["hosts"].values() if result.get("failed"))


@pytest.mark.parametrize("cluster", [()], ids=["in-tree"], indirect=True)
def test_site_verify_and_teardown_run_as_a_user_holding_exactly_the_documented_policy(cluster, tmp_path):
    policy = documented_policy()
    # the same policy without the rule's write: AWS refuses it, the play names the action and writes no rule
    short = json.loads(json.dumps(policy))
    for statement in short["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if a != "ec2:AuthorizeSecurityGroupIngress"]
    short_key = iam_user(cluster, "mesh-short", short)
    key = iam_user(cluster, "mesh-operator", policy)
    map_in_aws_auth(cluster, [short_key[2], key[2]])

    rc, stats, proc = playbook(cluster, tmp_path, "site.yml", "--tags", "aws", *as_user(short_key))
    assert rc != 0
    message = failure(proc)
    assert "ec2:AuthorizeSecurityGroupIngress" in message and short_key[2] in message, message
    assert ours(cluster) == {}
    assert short_key[1] not in proc.stdout + proc.stderr

    # the documented policy: the whole demo, its proof and its teardown
    started = time.time()
    rc, stats, proc = playbook(cluster, tmp_path, "site.yml", *as_user(key))
    assert rc == 0, failure(proc) or proc.stdout[-3000:]
    assert ours(cluster) != {}
    rc, stats, proc = playbook(cluster, tmp_path, "verify.yml", "-e", "mesh_report_dir=" + str(tmp_path),
                               *as_user(key))
    assert rc == 0, failure(proc) or proc.stdout[-3000:]
    rc, stats, proc = playbook(cluster, tmp_path, "teardown.yml", *as_user(key))
    assert rc == 0, failure(proc) or proc.stdout[-3000:]
    # every Kubernetes request of the plays was the user's: the API server asked STS who signed each token
    requests = cluster.requests(started)
    assert {entry["user"] for entry in requests if entry["user"]} == {key[2]}
    assert [entry["refused"] for entry in requests if entry["refused"]] == []
    assert ours(cluster) == {}
    assert cluster.kubectl("get", "namespace", "istio-system", check=False).returncode != 0
