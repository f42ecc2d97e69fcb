"""Rule identity, ownership, coverage and placement for security_group_rules."""

import os

import pytest
import yaml

from ansible_collections.istio_demo.mesh.plugins.module_utils import sg_aws, sg_placement, sg_rules

MARK = "istio_demo.mesh:demo:"
CLUSTER = "sg-0c0000000000000c1"
CONTROL_PLANE = "sg-0c0000000000000c2"
VPC = ["192.168.0.0/16"]
WEBHOOK = [{"port": 15017, "sources": ["cluster_security_group"], "description": "istiod webhooks"}]


def need():
    return sg_rules.resolve(WEBHOOK, MARK, CLUSTER, VPC)


def perm(proto, ports, group=None, cidr=None, description=""):
    out = {"IpProtocol": proto}
    if ports:
        out["FromPort"], out["ToPort"] = ports
    if group:
        out["UserIdGroupPairs"] = [{"GroupId": group, "Description": description}]
    if cidr:
        out["IpRanges"] = [{"CidrIp": cidr, "Description": description}]
    return out


def test_all_traffic_rules_keep_their_identity_as_ec2_returns_them():
    wanted = sg_rules.resolve([{"port": 1, "proto": "-1", "sources": [CLUSTER], "description": "all"}], MARK, None, VPC)
    # EC2 returns -1 rules without ports; protocol numbers are names
    returned = sg_rules.flatten([{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": CLUSTER,
                                                                            "Description": MARK + " all"}]}])
    assert set(wanted) == set(returned)
    assert list(sg_rules.flatten([perm("6", (80, 80), cidr="10.0.0.0/16")]))[0][0] == "tcp"


def test_plan_touches_only_owned_rules_and_ignores_descriptions_for_identity():
    current = {("sg-a", ("tcp", 15017, 15017, "group", CLUSTER)): MARK + " old words",
               ("sg-a", ("tcp", 22, 22, "cidr", "198.51.100.0/24")): "ssh (someone else's)",
               ("sg-b", ("tcp", 9090, 9090, "cidr", "10.0.0.0/16")): MARK + " prometheus"}
    desired = {("sg-a", ("tcp", 15017, 15017, "group", CLUSTER)): MARK + " istiod webhooks",
               ("sg-c", ("tcp", 15017, 15017, "group", CLUSTER)): MARK + " istiod webhooks"}
    add, remove, describe = sg_placement.plan_groups(current, desired, MARK, "present")
    assert list(add) == [("sg-c", ("tcp", 15017, 15017, "group", CLUSTER))]
    assert list(remove) == [("sg-b", ("tcp", 9090, 9090, "cidr", "10.0.0.0/16"))]
    assert list(describe) == [("sg-a", ("tcp", 15017, 15017, "group", CLUSTER))]
    add, remove, describe = sg_placement.plan_groups(current, {}, MARK, "absent")
    assert sorted(k[0] for k in remove) == ["sg-a", "sg-b"] and not add and not describe


@pytest.mark.parametrize("rule, allow, expected", [
    ({"port": 9090, "sources": ["0.0.0.0/0"], "description": "p"}, False, "allow_world_open"),
    ({"port": 9090, "sources": ["::/0"], "description": "p"}, False, "wider than /32"),
    ({"port": 9090, "sources": ["0.0.0.0/1"], "description": "p"}, False, "wider than /8"),
    ({"port": 9090, "sources": ["128.0.0.0/1"], "description": "p"}, False, "widest_ipv4_prefix"),
    ({"port": 9090, "sources": ["10.0.0.0/7"], "description": "p"}, False, "wider than /8"),
    ({"port": 0, "sources": ["10.0.0.0/8"], "description": "p"}, False, "rules[0].port=0"),
    ({"port": 80, "to_port": 79, "sources": ["10.0.0.0/8"], "description": "p"}, False, "smaller than"),
    ({"port": 80, "sources": ["10.0.0.0/33"], "description": "p"}, False, "neither a CIDR"),
    ({"port": 80, "sources": ["10.0.0.1/8"], "description": "p"}, False, "host bits zero"),
    ({"port": 80, "sources": [], "description": "p"}, False, "non-empty list"),
    ({"port": 80, "sources": ["10.0.0.0/8"], "description": ""}, False, "description"),
])
def test_bad_rules(rule, allow, expected):
    with pytest.raises(sg_rules.RuleError) as info:
        sg_rules.validate_rules([rule], allow)
    assert expected in str(info.value)


def test_world_is_allowed_by_name_and_narrow_ranges_always():
    sg_rules.validate_rules([{"port": 80, "sources": ["0.0.0.0/0"], "description": "open on purpose"}], True)
    sg_rules.validate_rules([{"port": 80, "sources": ["10.0.0.0/8", "2001:db8::/32"], "description": "ok"}], False)


@pytest.mark.parametrize("existing, covered", [
    (perm("-1", None, group=CLUSTER), True),                      # EKS: the cluster group allows itself
    (perm("tcp", (1025, 65535), group=CONTROL_PLANE), True),     # eksctl self-managed: from the control-plane group
    (perm("tcp", (443, 443), group=CLUSTER), False),              # terraform-aws-eks: webhook ports, not 15017
    (perm("tcp", (15017, 15017), group="sg-0e1b000000000e1b0"), False),  # a k8s-elb group is not the control plane
    (perm("tcp", (0, 65535), cidr="192.168.0.0/16"), True),       # the whole VPC includes the control plane's ENIs
    (perm("tcp", (0, 65535), cidr="192.168.0.0/24"), False),      # part of it does not
    (perm("udp", (15017, 15017), group=CLUSTER), False),
])
def test_what_already_lets_the_webhook_in(existing, covered):
    rule = list(sg_rules.flatten([existing]))[0]
    assert sg_placement.covers(rule, list(need())[0], {CLUSTER, CONTROL_PLANE}, VPC) is covered


def test_rules_go_only_where_nodes_need_them_on_as_few_groups_as_cover_them():
    needs = need()
    webhook = list(needs)[0]
    instances = [{"id": "i-1", "groups": [CLUSTER]},                    # managed nodes: covered by the cluster group
                 {"id": "i-2", "groups": ["sg-karpenter", "sg-extra"]},
                 {"id": "i-3", "groups": ["sg-karpenter"]}]
    foreign = {CLUSTER: sg_rules.flatten([perm("-1", None, group=CLUSTER)]),
               "sg-karpenter": sg_rules.flatten([perm("tcp", (443, 443), group=CLUSTER)])}
    placement, report = sg_placement.place(needs, instances, foreign, {}, CLUSTER, {CLUSTER}, VPC)
    assert placement == {("sg-karpenter", webhook): MARK + " istiod webhooks"}
    assert report[webhook]["i-1"].startswith("allowed by " + CLUSTER)
    assert report[webhook]["i-2"] == report[webhook]["i-3"] == "rule on sg-karpenter"


def test_a_rerun_keeps_the_rule_where_it_is():
    needs = need()
    webhook = list(needs)[0]
    instances = [{"id": "i-1", "groups": ["sg-a", "sg-b"]}]
    first, dummy = sg_placement.place(needs, instances, {}, {}, CLUSTER, {CLUSTER}, VPC)
    again, dummy = sg_placement.place(needs, instances, {}, {"sg-b": {webhook}}, CLUSTER, {CLUSTER}, VPC)
    assert list(first) == [("sg-a", webhook)] and list(again) == [("sg-b", webhook)]


def test_the_cluster_group_is_the_last_choice():
    instances = [{"id": "i-1", "groups": [CLUSTER, "sg-z"]}]
    placement, dummy = sg_placement.place(need(), instances, {}, {}, CLUSTER, {CLUSTER}, VPC)
    assert [k[0] for k in placement] == ["sg-z"]


def test_explicit_groups_get_the_rule_unless_they_allow_it_already():
    foreign = {"sg-a": sg_rules.flatten([perm("tcp", (15000, 15100), group=CLUSTER)])}
    placement = sg_placement.place_on_groups(need(), ["sg-a", "sg-b"], foreign, {CLUSTER}, VPC)
    assert [k[0] for k in placement] == ["sg-b"]


@pytest.mark.parametrize("provider_id, instance", [
    ("aws:///us-east-1a/i-0123456789abcdef0", "i-0123456789abcdef0"),
    ("i-0123456789abcdef0", "i-0123456789abcdef0"),
    ("aws:///us-east-1b/fa1b2c3d4e-fargate-ip-192-168-1-2", None),
    ("kind://docker/kind/kind-control-plane", None),
    ("", None),
])
def test_instances_come_from_provider_ids(provider_id, instance):
    assert sg_placement.instance_id(provider_id) == instance


@pytest.mark.parametrize("description, marker, owned", [
    (MARK + " istiod webhooks", MARK, True),
    (MARK, MARK, True),
    ("istio_demo.mesh:demo: istiod webhooks", "istio_demo.mesh:", False),      # the old default owned every cluster's
    ("istio_demo.mesh:demo-2: istiod webhooks", "istio_demo.mesh:demo", False),
    ("istio_demo.mesh:demo-2: istiod webhooks", MARK, False),
    ("ssh from ops", MARK, False),
    (None, MARK, False),
])
def test_a_marker_owns_its_own_rules_and_no_other_clusters(description, marker, owned):
    assert sg_rules.owns(description, marker) is owned


def test_descriptions_fit_ec2s_255_characters_with_the_marker():
    long_marker = "istio_demo.mesh:%s:" % ("c" * 100)
    rule = {"port": 15017, "sources": ["10.0.0.0/16"], "description": "d" * 150}
    with pytest.raises(sg_rules.RuleError) as info:
        sg_rules.validate_rules([rule], False, marker=long_marker)
    assert "rules[0].description" in str(info.value) and "255" in str(info.value) and "268" in str(info.value)
    sg_rules.validate_rules([dict(rule, description="d" * 100)], False, marker=long_marker)


V6_VPC = ["192.168.0.0/16", "2600:1f18:abcd:1200::/56"]


@pytest.mark.parametrize("existing, family, covered", [
    (perm("tcp", (0, 65535), cidr="192.168.0.0/16"), "ipv4", True),
    (perm("tcp", (0, 65535), cidr="192.168.0.0/16"), "ipv6", False),  # IPv6 pods are not reached over IPv4
    ({"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535,
      "Ipv6Ranges": [{"CidrIpv6": "2600:1f18:abcd:1200::/56"}]}, "ipv6", True),
    (perm("-1", None, group=CLUSTER), "ipv6", True),                  # a group source holds in either family
])
def test_only_rules_of_the_clusters_ip_family_count(existing, family, covered):
    rule = list(sg_rules.flatten([existing]))[0]
    need = list(sg_rules.resolve(WEBHOOK, MARK, CLUSTER, V6_VPC, family))[0]
    assert sg_placement.covers(rule, need, {CLUSTER}, V6_VPC, family) is covered


def test_vpc_means_the_blocks_of_the_clusters_family():
    rules = [{"port": 15010, "sources": ["vpc"], "description": "xds"}]
    assert [k[4] for k in sg_rules.resolve(rules, MARK, CLUSTER, V6_VPC, "ipv6")] == ["2600:1f18:abcd:1200::/56"]
    assert [k[4] for k in sg_rules.resolve(rules, MARK, CLUSTER, V6_VPC, "ipv4")] == ["192.168.0.0/16"]
    assert len(sg_rules.resolve(rules, MARK, CLUSTER, V6_VPC)) == 2


def test_a_group_of_another_account_counts_but_gets_no_rule():
    needs = need()
    webhook = list(needs)[0]
    instances = [{"id": "i-1", "groups": ["sg-shared"]}, {"id": "i-2", "groups": ["sg-shared", "sg-own"]},
                 {"id": "i-3", "groups": ["sg-shared-open"]}]
    foreign = {"sg-shared-open": sg_rules.flatten([perm("-1", None, group=CLUSTER)])}
    locked = {"sg-shared": "210987654321", "sg-shared-open": "210987654321"}
    placement, report = sg_placement.place(needs, instances, foreign, {}, CLUSTER, {CLUSTER}, VPC, locked=locked)
    assert placement == {("sg-own", webhook): MARK + " istiod webhooks"}
    assert report[webhook]["i-1"].startswith("needs a rule on sg-shared, owned by account 210987654321")
    assert report[webhook]["i-2"] == "rule on sg-own"
    assert report[webhook]["i-3"].startswith("allowed by sg-shared-open")


def eni(index, groups, card=0):
    return {"Attachment": {"DeviceIndex": index, "NetworkCardIndex": card},
            "Groups": [{"GroupId": g, "GroupName": g} for g in groups]}


@pytest.mark.parametrize("interfaces, found, groups", [
    ("primary", {"NetworkInterfaces": [eni(0, ["sg-node"]), eni(1, ["sg-pods"])]}, ["sg-node"]),
    ("secondary", {"NetworkInterfaces": [eni(0, ["sg-node"]), eni(1, ["sg-pods"]), eni(2, ["sg-pods", "sg-b"])]},
     ["sg-pods", "sg-b"]),
    ("secondary", {"NetworkInterfaces": [eni(0, ["sg-node"])]}, None),
    ("primary", {"SecurityGroups": [{"GroupId": "sg-old"}]}, ["sg-old"]),
])
def test_the_interfaces_that_carry_pods_give_the_groups(interfaces, found, groups):
    assert sg_placement.pod_groups(found, interfaces) == groups


@pytest.mark.parametrize("provider_id, words", [
    ("aws:///us-east-1b/fa1b2c3d4e-fargate-ip-192-168-1-2", "Fargate"),
    ("eks-hybrid:///us-west-2/my-cluster/mi-0123456789abcdef0", "hybrid"),
    ("", "no spec.providerID"),
    ("kind://docker/kind/kind-control-plane", "not an EC2 instance (kind)"),
])
def test_a_node_without_an_instance_says_why(provider_id, words):
    assert words in sg_placement.not_ec2_because(provider_id)


def test_instances_are_read_in_batches_ec2_accepts_and_unknown_ones_are_skipped():
    """450 nodes against moto's EC2: DescribeInstances is asked 200 ids at a time (EC2 takes at most 200 filter
    values, 1,000 instance ids), and an id EC2 does not know is skipped rather than failing the call."""
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    with moto.mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="192.168.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="192.168.0.0/18")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="nodes", VpcId=vpc, Description="nodes")["GroupId"]
        made = ec2.run_instances(ImageId="ami-03cf127a", MinCount=450, MaxCount=450, SubnetId=subnet,
                                 SecurityGroupIds=[group])["Instances"]
        asked = []
        ec2.meta.events.register("before-parameter-build.ec2.DescribeInstances",
                                 lambda params, **kwargs: asked.append(len(params["Filters"][0]["Values"])))
        nodes = [{"id": i["InstanceId"], "node": "n-%d" % n, "provider_id": "aws:///us-east-1a/" + i["InstanceId"],
                  "groups": []} for n, i in enumerate(made)]
        nodes.append({"id": "i-0fedcba9876543210", "node": "gone", "provider_id": "i-0fedcba9876543210", "groups": []})
        skipped = []
        running, owner, vpc_id = sg_aws.read_instances(ec2, nodes, skipped, "primary", "us-east-1")
    assert sorted(asked) == [51, 200, 200]
    assert len(running) == 450 and all(n["groups"] == [group] for n in running)
    assert vpc_id == vpc and owner == "123456789012"
    assert skipped == [{"name": "gone", "provider_id": "i-0fedcba9876543210",
                        "reason": "instance i-0fedcba9876543210 no longer exists"}]


def _role_defaults():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
    with open(os.path.join(root, "roles", "aws_security_groups", "defaults", "main.yml")) as handle:
        return yaml.safe_load(handle)


def test_the_roles_rules_with_ports_opened_by_name_and_admin_expanded():
    role = _role_defaults()
    optional = role["aws_security_groups_optional_rules"]
    wanted = sg_rules.wanted_rules(role["aws_security_groups_rules"], ["kiali", "monitoring"], optional,
                                   ["203.0.113.0/24", "198.51.100.0/24"])
    assert [(r["port"], r["sources"]) for r in wanted] == [
        (15017, ["cluster_security_group"]), (20001, ["203.0.113.0/24", "198.51.100.0/24"]), (15014, ["vpc"])]
    # admin with no admin networks opens nothing
    assert [r["port"] for r in sg_rules.wanted_rules([], ["kiali"], optional, [])] == []
    with pytest.raises(sg_rules.RuleError, match="ssh unknown"):
        sg_rules.wanted_rules([], ["ssh"], optional, [])
