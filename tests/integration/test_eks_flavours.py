"""The AWS side of the collection on each kind of EKS cluster the sandbox can be (tests/sandbox/eks.py), with the
load balancers EKS makes (tests/sandbox/cloud.py): where the webhook rule goes, that nothing else is opened, that
reruns change nothing, that teardown leaves no rule even after the node group changed, and how the ingress
gateway's load balancer is made, awaited and deleted."""

import json
import os

import pytest

from awsview import ec2_of, groups, load_balancer_services, marker, ours
from playbook import collection_playbook as playbook
from playbook import run_playbook

pytestmark = pytest.mark.minutes(3)


# where the webhook rule belongs: the nodes' own group when none of their groups lets the control plane in on 15017
# (custom networking: the ENIConfig's group of the interfaces pods use; an IPv6 cluster: the node group, whose rule
# admitting the VPC's IPv4 block lets nothing of the IPv6 control plane in); nowhere without EC2 nodes
NEEDS_RULE = {"terraform": "node_security_group_id", "karpenter": "node_security_group_id", "eksctl-managed": None,
              "eksctl-unmanaged": None, "managed": None, "fargate": None, "auto-mode": None,
              "custom-networking": "pod_security_group_ids", "ipv6": "node_security_group_id"}
# the role's variables a user of that shape sets
SHAPE_VARS = {"custom-networking": ["-e", "aws_security_groups_pod_interfaces=secondary"]}


def replace_node_group(sandbox, name):
    """A new node group: a group like terraform-aws-eks's (no 15017), an instance in it, and the Nodes replaced
    by one whose providerID points at that instance (what a node-group rotation does)."""
    ec2 = ec2_of(sandbox)
    aws = sandbox.state["aws"]
    group = ec2.create_security_group(GroupName=name, VpcId=aws["vpc_id"],
                                      Description="EKS node shared security group")["GroupId"]
    ec2.create_tags(Resources=[group], Tags=[{"Key": "kubernetes.io/cluster/demo", "Value": "owned"}])
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
        "UserIdGroupPairs": [{"GroupId": aws["cluster_security_group_id"]}]}])
    instance = ec2.run_instances(ImageId="ami-03cf127a", MinCount=1, MaxCount=1, SubnetId=aws["subnet_ids"][0],
                                 SecurityGroupIds=[group])["Instances"][0]
    nodes = json.loads(sandbox.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "ip-%s.ec2.internal" % instance["PrivateIpAddress"].replace(".", "-"),
                         "labels": {"eks.amazonaws.com/nodegroup": name}},
            "spec": {"providerID": "aws:///us-east-1a/%s" % instance["InstanceId"]}}
    sandbox.kubectl("apply", "-f", "-", stdin=json.dumps(node))
    for old in nodes:
        sandbox.kubectl("delete", "node", old["metadata"]["name"])
    return group


@pytest.mark.parametrize("cluster", [("--flavour", f) for f in sorted(NEEDS_RULE)],
                         ids=sorted(NEEDS_RULE), indirect=True)
def test_the_webhook_rule_goes_where_the_flavour_needs_it_and_nowhere_else(cluster, tmp_path):
    flavour = cluster.state["aws"]["flavour"]
    # load balancers made before the run leave k8s-elb-* groups tagged for the cluster (in-tree provider)
    load_balancer_services(cluster, ["web-1", "web-2", "web-3"])
    elb_groups = {g["GroupId"] for g in groups(cluster) if g["GroupName"].startswith("k8s-elb-")}
    assert len(elb_groups) == 3

    extra = SHAPE_VARS.get(flavour, [])
    rc, stats, proc = playbook(cluster, tmp_path, "site.yml", "--tags", "aws", *extra)
    assert rc == 0, proc.stdout[-3000:]
    placed = ours(cluster)
    where = cluster.state["aws"][NEEDS_RULE[flavour]] if NEEDS_RULE[flavour] else []
    expected = set([where] if isinstance(where, str) else where)
    assert set(placed) == expected, (flavour, placed)
    assert not set(placed) & elb_groups
    cluster_sg = cluster.state["aws"]["cluster_security_group_id"]
    assert all(rules == [("tcp", 15017, cluster_sg)] for rules in placed.values()), placed
    if not any(node["instance_id"] for node in cluster.state["aws"]["nodes"]):
        # the run says why nothing was opened
        assert "no node runs on an EC2 instance now" in proc.stdout, proc.stdout[-3000:]
    if flavour == "fargate":
        assert "nothing to open (Fargate" in proc.stdout, proc.stdout[-3000:]

    rc, stats, proc = playbook(cluster, tmp_path, "site.yml", "--tags", "aws", *extra)
    assert rc == 0 and stats["changed"] == 0, proc.stdout[-3000:]
    rc, stats, proc = playbook(cluster, tmp_path, "teardown.yml", "--tags", "security_groups")
    assert rc == 0, proc.stdout[-3000:]
    assert ours(cluster) == {}


@pytest.mark.parametrize("cluster", [("--flavour", "terraform")], ids=["terraform"], indirect=True)
def test_rules_follow_a_node_group_that_changed_and_teardown_finds_them_all(cluster, tmp_path):
    first = cluster.state["aws"]["node_security_group_id"]
    rc, stats, proc = playbook(cluster, tmp_path, "site.yml", "--tags", "aws")
    assert rc == 0, proc.stdout[-3000:]
    assert set(ours(cluster)) == {first}

    second = replace_node_group(cluster, "demo-node-rotated")
    rc, stats, proc = playbook(cluster, tmp_path, "site.yml", "--tags", "aws")
    assert rc == 0, proc.stdout[-3000:]
    assert set(ours(cluster)) == {second}  # the rule left on the old group is removed

    third = replace_node_group(cluster, "demo-node-rotated-again")
    assert third != second
    rc, stats, proc = playbook(cluster, tmp_path, "teardown.yml", "--tags", "security_groups")
    assert rc == 0, proc.stdout[-3000:]
    assert ours(cluster) == {}  # found on a group no node uses any more


@pytest.mark.parametrize("cluster", [("--flavour", "karpenter")], ids=["karpenter"], indirect=True)
def test_the_report_shows_the_rules_as_the_module_returned_them(cluster, tmp_path):
    aws = {"region": "us-east-1", "endpoint_url": cluster.env["AWS_ENDPOINT_URL"],
           "access_key": cluster.state["aws"]["access_key"], "secret_key": cluster.state["aws"]["secret_key"]}
    report_dir = str(tmp_path / "report")
    run = run_playbook(tmp_path, [
        {"name": "nodes", "register": "nodes",
         "kubernetes.core.k8s_info": {"kind": "Node", "kubeconfig": cluster.kubeconfig}},
        {"name": "rules", "register": "rules", "istio_demo.mesh.security_group_rules": dict(
            aws, cluster_name="demo", marker=marker(cluster), nodes="{{ nodes.resources }}",
            rules=[{"port": 15017, "sources": ["cluster_security_group"], "description": "istiod webhooks"}])},
        {"name": "report", "istio_demo.mesh.mesh_report": {
            "output_dir": report_dir, "formats": ["md"], "security_group": "{{ rules }}"}},
    ], env=cluster.env)
    assert run.rc == 0, run.stdout[-3000:]
    rule = run.result("rules")["rules"][0]
    with open(os.path.join(report_dir, "mesh-report.md")) as handle:
        rows = [line for line in handle if line.startswith("| %s " % rule["group_id"])]
    assert rows and "| %s |" % cluster.state["aws"]["cluster_security_group_id"] in rows[0], rows


@pytest.mark.parametrize("cluster", [("--flavour", "terraform-primary-sg")], ids=["terraform-primary-sg"],
                         indirect=True)
def test_nodes_with_two_tagged_groups_get_no_classic_elb_and_the_wait_says_why(cluster, tmp_path):
    # attach_cluster_primary_security_group: both groups on each node carry kubernetes.io/cluster/demo, so the
    # in-tree provider refuses the ELB; the address wait names the provider's own reason, not just a timeout
    manifest = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
                "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]}}
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    run = run_playbook(tmp_path, [{"name": "address", "ansible.builtin.include_role": {
        "name": "istio_demo.mesh.ingress", "tasks_from": "address"},
        "vars": {"ingress_gateway_service": "web", "ingress_gateway_namespace": "default",
                 "ingress_wait_timeout": 10}}], env=cluster.env)
    assert run.rc != 0
    failed = [r for r in run.results().values() if r.get("failed") and "no load balancer address" in r.get("msg", "")]
    assert failed, run.stdout[-3000:]
    message = failed[0]["msg"]
    node_group = [g for g in groups(cluster) if g["GroupId"] == cluster.state["aws"]["node_security_group_id"]][0]
    assert "Service default/web has no load balancer address after ingress_wait_timeout=10 s" in message, message
    assert "Its controller says: SyncLoadBalancerFailed: Error syncing load balancer: failed to ensure load " \
           "balancer: Multiple tagged security groups found for instance i-" in message, message
    assert "%s(%s)" % (node_group["GroupId"], node_group["GroupName"]) in message, message
