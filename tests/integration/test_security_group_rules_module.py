"""istio_demo.mesh.security_group_rules against moto, from a playbook."""

import boto3
import pytest

from playbook import run_playbook

RULES = [
    {"port": 15017, "sources": ["cluster_security_group"], "description": "istiod webhook"},
    {"port": 15012, "sources": ["cluster_security_group"], "description": "istiod xDS and CA"},
    {"port": 15010, "sources": ["vpc"], "description": "istiod grpc-xds"},
    {"port": 20001, "sources": ["203.0.113.0/24"], "description": "Kiali from admins"},
]


def aws(sandbox):
    return {"region": sandbox.env["AWS_REGION"], "endpoint_url": sandbox.env["AWS_ENDPOINT_URL"],
            "access_key": sandbox.state["aws"]["access_key"], "secret_key": sandbox.state["aws"]["secret_key"]}


def task(sandbox, name, **options):
    return {"name": name, "register": name.replace(" ", "_"),
            "istio_demo.mesh.security_group_rules": dict(aws(sandbox), **options)}


def node_group(sandbox):
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=sandbox.env["AWS_ENDPOINT_URL"],
                       aws_access_key_id=sandbox.state["aws"]["access_key"],
                       aws_secret_access_key=sandbox.state["aws"]["secret_key"])
    group_id = sandbox.state["aws"]["node_security_group_id"]
    return ec2, group_id


def inbound(ec2, group_id):
    perms = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["IpPermissions"]
    out = set()
    for perm in perms:
        for pair in perm.get("UserIdGroupPairs", []):
            out.add((perm.get("FromPort"), pair["GroupId"], pair.get("Description", "")))
        for cidr in perm.get("IpRanges", []):
            out.add((perm.get("FromPort"), cidr["CidrIp"], cidr.get("Description", "")))
    return out


def test_present_idempotent_absent_and_foreign_rules_untouched(sandbox, tmp_path):
    ec2, group_id = node_group(sandbox)
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
        "IpRanges": [{"CidrIp": "198.51.100.0/24", "Description": "ssh from ops (not ours)"}]}])
    original = inbound(ec2, group_id)
    cluster_sg = sandbox.state["aws"]["cluster_security_group_id"]

    checked = run_playbook(tmp_path, [task(sandbox, "check", cluster_name="demo", rules=RULES)],
                           extra_args=["--check", "--diff"], env=sandbox.env)
    assert checked.rc == 0, checked.stdout[-3000:]
    assert checked.result("check")["changed"] is True and len(checked.result("check")["added"]) == 4
    assert inbound(ec2, group_id) == original

    run = run_playbook(tmp_path, [task(sandbox, "add", cluster_name="demo", rules=RULES),
                                  task(sandbox, "again", cluster_name="demo", rules=RULES)], env=sandbox.env)
    assert run.rc == 0, run.stdout[-3000:]
    added = run.result("add")
    assert added["changed"] is True and added["group_id"] == group_id
    assert added["cluster_security_group_id"] == cluster_sg and added["vpc_cidrs"] == ["192.168.0.0/16"]
    assert run.result("again")["changed"] is False
    now = inbound(ec2, group_id)
    assert (15017, cluster_sg, "istio_demo.mesh: istiod webhook") in now
    assert (15010, "192.168.0.0/16", "istio_demo.mesh: istiod grpc-xds") in now
    assert (22, "198.51.100.0/24", "ssh from ops (not ours)") in now

    renamed = [dict(r) for r in RULES]
    renamed[3]["description"] = "Kiali dashboard"
    updated = run_playbook(tmp_path, [task(sandbox, "rename", cluster_name="demo", rules=renamed)], env=sandbox.env)
    assert updated.rc == 0
    assert [r["from_port"] for r in updated.result("rename")["updated"]] == [20001]
    assert updated.result("rename")["added"] == [] and updated.result("rename")["removed"] == []

    removed = run_playbook(tmp_path, [task(sandbox, "remove", cluster_name="demo", state="absent"),
                                      task(sandbox, "remove again", cluster_name="demo", state="absent")],
                           env=sandbox.env)
    assert removed.rc == 0, removed.stdout[-3000:]
    assert len(removed.result("remove")["removed"]) == 4
    assert removed.result("remove again")["changed"] is False
    assert inbound(ec2, group_id) == original


@pytest.mark.parametrize("options, expected", [
    (dict(cluster_name="demo", rules=[{"port": 9090, "sources": ["0.0.0.0/0"], "description": "prometheus"}]),
     ["0.0.0.0/0", "allow_world_open", "aws_security_groups_allow_world_open"]),
    (dict(cluster_name="demo", rules=[{"port": 70000, "sources": ["10.0.0.0/8"], "description": "x"}]),
     ["rules[0].port=70000", "between 1 and 65535"]),
    (dict(cluster_name="demo", rules=[{"port": 80, "sources": ["10.0.0.1/8"], "description": "x"}]),
     ["10.0.0.1/8", "neither a CIDR"]),
    (dict(cluster_name="no-such-cluster", rules=RULES), ["cluster_name=no-such-cluster", "no security group"]),
    (dict(group_id="sg-0123456789abcdef0", rules=RULES), ["group_id=sg-0123456789abcdef0 does not exist"]),
])
def test_bad_input_changes_nothing(sandbox, tmp_path, options, expected):
    ec2, group_id = node_group(sandbox)
    before = inbound(ec2, group_id)
    run = run_playbook(tmp_path, [task(sandbox, "bad", **options)], env=sandbox.env)
    assert run.rc != 0
    for text in expected:
        assert text in run.result("bad")["msg"]
    assert inbound(ec2, group_id) == before
