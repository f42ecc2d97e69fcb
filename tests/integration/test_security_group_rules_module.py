"""istio_demo.mesh.security_group_rules against the sandbox's EKS (moto), from a playbook: the nodes as
kubernetes.core.k8s_info returns them, fed straight to the module. On a sandbox of its own: the rules it counts
must not be there before (another file's site.yml leaves the collection's webhook rule in the suite's sandbox)."""

import json
import urllib.request

import boto3
import pytest
import sandboxrun

from playbook import option_ids, refusal, run_cases, run_playbook


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with sandboxrun.own(tmp_path_factory, "sg-rules") as running:
        yield running


RULES = [
    {"port": 15017, "sources": ["cluster_security_group"], "description": "istiod webhook"},
    {"port": 15010, "sources": ["vpc"], "description": "istiod grpc-xds"},
    {"port": 20001, "sources": ["203.0.113.0/24"], "description": "Kiali from admins"},
]
MARK = "istio_demo.mesh:demo:"


def aws(sandbox):
    return {"region": sandbox.env["AWS_REGION"], "endpoint_url": sandbox.env["AWS_ENDPOINT_URL"],
            "access_key": sandbox.state["aws"]["access_key"], "secret_key": sandbox.state["aws"]["secret_key"]}


def throttle(sandbox, calls=None):
    """Have the sandbox's EC2 throttle the next ``calls`` ({action: count}); what is still to be throttled."""
    request = urllib.request.Request(sandbox.env["AWS_ENDPOINT_URL"] + "/sandbox-api/throttle",
                                     data=json.dumps(calls).encode() if calls else None,
                                     method="POST" if calls else "GET")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def read_nodes(sandbox):
    return {"name": "read nodes", "register": "nodes",
            "kubernetes.core.k8s_info": {"kind": "Node", "kubeconfig": sandbox.kubeconfig}}


def task(sandbox, name, **options):
    options.setdefault("marker", MARK)
    return {"name": name, "register": name.replace(" ", "_"),
            "istio_demo.mesh.security_group_rules": dict(aws(sandbox), **options)}


def ec2_of(sandbox):
    return boto3.client("ec2", region_name="us-east-1", endpoint_url=sandbox.env["AWS_ENDPOINT_URL"],
                        aws_access_key_id=sandbox.state["aws"]["access_key"],
                        aws_secret_access_key=sandbox.state["aws"]["secret_key"])


def inbound(ec2, vpc_id):
    """Every inbound rule of the VPC as (group, from port, source, description)."""
    out = set()
    for group in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]:
        for perm in group["IpPermissions"]:
            for pair in perm.get("UserIdGroupPairs", []):
                out.add((group["GroupId"], perm.get("FromPort"), pair["GroupId"], pair.get("Description", "")))
            for cidr in perm.get("IpRanges", []):
                out.add((group["GroupId"], perm.get("FromPort"), cidr["CidrIp"], cidr.get("Description", "")))
    return out


def test_present_idempotent_absent_and_foreign_rules_untouched(sandbox, tmp_path):
    ec2 = ec2_of(sandbox)
    state = sandbox.state["aws"]
    node_group, cluster_sg = state["node_security_group_id"], state["cluster_security_group_id"]
    ec2.authorize_security_group_ingress(GroupId=node_group, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
        "IpRanges": [{"CidrIp": "198.51.100.0/24", "Description": "ssh from ops (not ours)"}]}])
    original = inbound(ec2, state["vpc_id"])
    nodes = "{{ nodes.resources }}"

    # EC2 throttles the first reads (RequestLimitExceeded); they are retried and the run goes on
    assert throttle(sandbox, {"DescribeInstances": 2, "DescribeSecurityGroups": 2}) == {
        "DescribeInstances": 2, "DescribeSecurityGroups": 2}
    checked = run_playbook(tmp_path, [read_nodes(sandbox), task(sandbox, "check", cluster_name="demo", nodes=nodes,
                                                                rules=RULES)],
                           extra_args=["--check", "--diff"], env=sandbox.env)
    assert checked.rc == 0, checked.stdout[-3000:]
    assert checked.result("check")["changed"] is True and len(checked.result("check")["added"]) == 3
    assert inbound(ec2, state["vpc_id"]) == original
    assert throttle(sandbox) == {}  # every throttled call was met (and retried)

    run = run_playbook(tmp_path, [read_nodes(sandbox),
                                  task(sandbox, "add", cluster_name="demo", nodes=nodes, rules=RULES),
                                  task(sandbox, "again", cluster_name="demo", nodes=nodes, rules=RULES)],
                       env=sandbox.env)
    assert run.rc == 0, run.stdout[-3000:]
    added = run.result("add")
    assert added["changed"] is True and {r["group_id"] for r in added["added"]} == {node_group}
    assert added["cluster_security_group_id"] == cluster_sg and added["vpc_cidrs"] == ["192.168.0.0/16"]
    assert {n["instance_id"] for n in added["nodes"]} == {n["instance_id"] for n in state["nodes"]}
    assert run.result("again")["changed"] is False
    now = inbound(ec2, state["vpc_id"])
    assert (node_group, 15017, cluster_sg, MARK + " istiod webhook") in now
    assert (node_group, 15010, "192.168.0.0/16", MARK + " istiod grpc-xds") in now
    assert (node_group, 22, "198.51.100.0/24", "ssh from ops (not ours)") in now

    renamed = [dict(r) for r in RULES]
    renamed[2]["description"] = "Kiali dashboard"
    updated = run_playbook(tmp_path, [read_nodes(sandbox), task(sandbox, "rename", cluster_name="demo", nodes=nodes,
                                                                rules=renamed)], env=sandbox.env)
    assert updated.rc == 0
    assert [r["from_port"] for r in updated.result("rename")["updated"]] == [20001]
    assert updated.result("rename")["added"] == [] and updated.result("rename")["removed"] == []

    removed = run_playbook(tmp_path, [task(sandbox, "remove", cluster_name="demo", state="absent"),
                                      task(sandbox, "remove again", cluster_name="demo", state="absent")],
                           env=sandbox.env)
    assert removed.rc == 0, removed.stdout[-3000:]
    assert len(removed.result("remove")["removed"]) == 3
    assert removed.result("remove again")["changed"] is False
    assert inbound(ec2, state["vpc_id"]) == original


def test_all_traffic_rules_are_stable_across_runs(sandbox, tmp_path):
    rules = [{"port": 1, "proto": "-1", "sources": ["203.0.113.0/24"], "description": "all from the lab"}]
    group = sandbox.state["aws"]["node_security_group_id"]
    run = run_playbook(tmp_path, [task(sandbox, "add", group_ids=[group], rules=rules, only_where_missing=False),
                                  task(sandbox, "again", group_ids=[group], rules=rules, only_where_missing=False),
                                  task(sandbox, "remove", group_ids=[group], state="absent")], env=sandbox.env)
    assert run.rc == 0, run.stdout[-3000:]
    assert run.result("add")["changed"] is True
    assert run.result("again")["changed"] is False and run.result("again")["removed"] == []
    assert len(run.result("remove")["removed"]) == 1


BAD_INPUT = [
    (dict(cluster_name="demo", group_ids=["sg-0123456789abcdef0"],
          rules=[{"port": 9090, "sources": ["0.0.0.0/0"], "description": "prometheus"}]),
     ["0.0.0.0/0", "allow_world_open", "aws_security_groups_allow_world_open"]),
    (dict(cluster_name="demo", group_ids=["sg-0123456789abcdef0"],
          rules=[{"port": 9090, "sources": ["0.0.0.0/1", "128.0.0.0/1"], "description": "prometheus"}]),
     ["0.0.0.0/1", "wider than /8"]),
    (dict(cluster_name="demo", group_ids=["sg-0123456789abcdef0"],
          rules=[{"port": 70000, "sources": ["10.0.0.0/8"], "description": "x"}]),
     ["rules[0].port=70000", "between 1 and 65535"]),
    (dict(cluster_name="demo", group_ids=["sg-0123456789abcdef0"],
          rules=[{"port": 80, "sources": ["10.0.0.1/8"], "description": "x"}]),
     ["10.0.0.1/8", "neither a CIDR"]),
    (dict(cluster_name="no-such-cluster", nodes="{{ nodes.resources }}", rules=RULES),
     ["cluster_name=no-such-cluster", "no EKS cluster of that name", "us-east-1"]),
    (dict(group_ids=["sg-0123456789abcdef0"], rules=RULES), ["group_ids=sg-0123456789abcdef0", "does not exist"]),
    (dict(group_ids=["sg-xyz"], rules=RULES), ["group_ids contains 'sg-xyz'", "security group id"]),
    (dict(group_ids=["sg-0123456789abcdef0"], rules=[{"port": 80, "proto": "sctp", "sources": ["10.0.0.0/8"],
                                                      "description": "x"}]),
     ["value of proto must be one of: tcp, udp, icmp, -1, got: sctp found in rules"]),
    (dict(rules=RULES), ["neither cluster_name nor group_ids is given"]),
    (dict(cluster_name="demo", nodes=[{"name": "n1", "provider_id": "aws:///us-east-1a/i-0123456789abcdef0"}],
          rules=RULES), ["nodes:", "i-0123456789abcdef0", "instances of the cluster's Nodes"]),
    (dict(cluster_name="demo", nodes="{{ nodes.resources }}", marker="istio_demo mesh",
          rules=RULES), ["marker='istio_demo mesh' is invalid", "without spaces"]),
    (dict(cluster_name="demo", nodes="{{ nodes.resources }}", marker="istio_demo.mesh:" + "c" * 100 + ":",
          rules=[{"port": 15017, "sources": ["cluster_security_group"], "description": "w" * 150}]),
     ["rules[0].description=", "255", "268"]),
    (dict(cluster_name="demo", nodes="{{ nodes.resources }}", rules=RULES, profile="no-such-profile"),
     ["profile=no-such-profile does not exist"]),
]


@pytest.fixture(scope="module")
def bad_input_outcomes(sandbox, tmp_path_factory):
    """The Nodes read, then every BAD_INPUT case, in one play (run_cases): (outcomes of the cases, run, the VPC's
    inbound rules before and after)."""
    ec2 = ec2_of(sandbox)
    before = inbound(ec2, sandbox.state["aws"]["vpc_id"])
    cases = []
    for options, dummy in BAD_INPUT:
        bad = task(sandbox, "bad", **dict(options))
        if "profile" in options:
            for key in ("access_key", "secret_key"):
                bad["istio_demo.mesh.security_group_rules"].pop(key)
        cases.append(bad)
    outcomes, run = run_cases(tmp_path_factory.mktemp("bad-input"), [read_nodes(sandbox)] + cases, env=sandbox.env)
    assert outcomes[0] and not outcomes[0].get("failed"), outcomes[0] or run.stdout[-2000:]
    return outcomes[1:], run, before, inbound(ec2, sandbox.state["aws"]["vpc_id"])


@pytest.mark.parametrize("index", range(len(BAD_INPUT)), ids=option_ids(BAD_INPUT))
def test_bad_input_changes_nothing(bad_input_outcomes, index):
    outcomes, run, before, after = bad_input_outcomes
    message = refusal(outcomes, run, index)
    for text in BAD_INPUT[index][1]:
        assert text in message, message
    assert after == before  # no case changed a rule


def test_nodes_without_a_running_instance_are_skipped_with_the_reason(sandbox, tmp_path):
    """A Spot instance terminated under its Node, a Node whose instance EC2 has forgotten, a Fargate node: the rule
    still goes where the running nodes need it, each other node is reported with why, and nothing fails."""
    ec2 = ec2_of(sandbox)
    state = sandbox.state["aws"]
    gone = state["nodes"][0]
    ec2.terminate_instances(InstanceIds=[gone["instance_id"]])
    extra = [{"metadata": {"name": "ip-192-168-99-1.ec2.internal"},
              "spec": {"providerID": "aws:///us-east-1a/i-0fedcba9876543210"}},
             {"metadata": {"name": "fargate-ip-192-168-99-2.ec2.internal"},
              "spec": {"providerID": "aws:///us-east-1a/0123456789abcdef/fargate-ip-192-168-99-2"}}]
    nodes = "{{ nodes.resources + %s }}" % extra
    run = run_playbook(tmp_path, [read_nodes(sandbox),
                                  task(sandbox, "add", cluster_name="demo", nodes=nodes, rules=RULES[:1]),
                                  task(sandbox, "remove", cluster_name="demo", state="absent")], env=sandbox.env)
    assert run.rc == 0, run.outline()
    added = run.result("add")
    assert [r["group_id"] for r in added["added"]] == [state["node_security_group_id"]]
    assert {n["instance_id"] for n in added["nodes"]} == {n["instance_id"] for n in state["nodes"][1:]}
    reasons = dict((n["name"], n["reason"]) for n in added["skipped_nodes"])
    assert reasons[gone["name"]] == "instance %s terminated" % gone["instance_id"]
    assert reasons["ip-192-168-99-1.ec2.internal"] == "instance i-0fedcba9876543210 no longer exists"
    assert reasons["fargate-ip-192-168-99-2.ec2.internal"].startswith("Fargate")
    assert len(run.result("remove")["removed"]) == 1


def test_the_default_marker_is_the_clusters_and_owns_no_other_rule(sandbox, tmp_path):
    """Without a marker the module marks rules as this cluster's; rules of the old catch-all prefix or another
    cluster's marker in the same groups are not its own, so state=absent leaves them."""
    ec2 = ec2_of(sandbox)
    group = sandbox.state["aws"]["node_security_group_id"]
    others = [{"IpProtocol": "tcp", "FromPort": 15017, "ToPort": 15017,
               "IpRanges": [{"CidrIp": "10.1.0.0/16", "Description": "istio_demo.mesh:demo-2: istiod webhooks"}]}]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=others)
    before = inbound(ec2, sandbox.state["aws"]["vpc_id"])
    run = run_playbook(tmp_path, [read_nodes(sandbox),
                                  {"name": "add", "register": "add", "istio_demo.mesh.security_group_rules": dict(
                                      aws(sandbox), cluster_name="demo", nodes="{{ nodes.resources }}",
                                      rules=RULES[:1])},
                                  {"name": "remove", "register": "remove", "istio_demo.mesh.security_group_rules":
                                   dict(aws(sandbox), cluster_name="demo", state="absent")}], env=sandbox.env)
    assert run.rc == 0, run.outline()
    assert run.result("add")["marker"] == "istio_demo.mesh:demo:"
    assert run.result("add")["rules"][0]["description"] == "istio_demo.mesh:demo: istiod webhook"
    assert [r["source"] for r in run.result("remove")["removed"]] == [sandbox.state["aws"]["cluster_security_group_id"]]
    assert inbound(ec2, sandbox.state["aws"]["vpc_id"]) == before
    ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=others)
