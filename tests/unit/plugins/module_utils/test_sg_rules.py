"""Rule identity, ownership, coverage and placement for security_group_rules."""

import pytest

from ansible_collections.istio_demo.mesh.plugins.module_utils import sg_rules

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
    add, remove, describe = sg_rules.plan_groups(current, desired, MARK, "present")
    assert list(add) == [("sg-c", ("tcp", 15017, 15017, "group", CLUSTER))]
    assert list(remove) == [("sg-b", ("tcp", 9090, 9090, "cidr", "10.0.0.0/16"))]
    assert list(describe) == [("sg-a", ("tcp", 15017, 15017, "group", CLUSTER))]
    add, remove, describe = sg_rules.plan_groups(current, {}, MARK, "absent")
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
    assert sg_rules.covers(rule, list(need())[0], {CLUSTER, CONTROL_PLANE}, VPC) is covered


def test_rules_go_only_where_nodes_need_them_on_as_few_groups_as_cover_them():
    needs = need()
    webhook = list(needs)[0]
    instances = [{"id": "i-1", "groups": [CLUSTER]},                    # managed nodes: covered by the cluster group
                 {"id": "i-2", "groups": ["sg-karpenter", "sg-extra"]},
                 {"id": "i-3", "groups": ["sg-karpenter"]}]
    foreign = {CLUSTER: sg_rules.flatten([perm("-1", None, group=CLUSTER)]),
               "sg-karpenter": sg_rules.flatten([perm("tcp", (443, 443), group=CLUSTER)])}
    placement, report = sg_rules.place(needs, instances, foreign, {}, CLUSTER, {CLUSTER}, VPC)
    assert placement == {("sg-karpenter", webhook): MARK + " istiod webhooks"}
    assert report[webhook]["i-1"].startswith("allowed by " + CLUSTER)
    assert report[webhook]["i-2"] == report[webhook]["i-3"] == "rule on sg-karpenter"


def test_a_rerun_keeps_the_rule_where_it_is():
    needs = need()
    webhook = list(needs)[0]
    instances = [{"id": "i-1", "groups": ["sg-a", "sg-b"]}]
    first, dummy = sg_rules.place(needs, instances, {}, {}, CLUSTER, {CLUSTER}, VPC)
    again, dummy = sg_rules.place(needs, instances, {}, {"sg-b": {webhook}}, CLUSTER, {CLUSTER}, VPC)
    assert list(first) == [("sg-a", webhook)] and list(again) == [("sg-b", webhook)]


def test_the_cluster_group_is_the_last_choice():
    instances = [{"id": "i-1", "groups": [CLUSTER, "sg-z"]}]
    placement, dummy = sg_rules.place(need(), instances, {}, {}, CLUSTER, {CLUSTER}, VPC)
    assert [k[0] for k in placement] == ["sg-z"]


def test_explicit_groups_get_the_rule_unless_they_allow_it_already():
    foreign = {"sg-a": sg_rules.flatten([perm("tcp", (15000, 15100), group=CLUSTER)])}
    placement = sg_rules.place_on_groups(need(), ["sg-a", "sg-b"], foreign, {CLUSTER}, VPC)
    assert [k[0] for k in placement] == ["sg-b"]


@pytest.mark.parametrize("provider_id, instance", [
    ("aws:///us-east-1a/i-0123456789abcdef0", "i-0123456789abcdef0"),
    ("i-0123456789abcdef0", "i-0123456789abcdef0"),
    ("aws:///us-east-1b/fa1b2c3d4e-fargate-ip-192-168-1-2", None),
    ("kind://docker/kind/kind-control-plane", None),
    ("", None),
])
def test_instances_come_from_provider_ids(provider_id, instance):
    assert sg_rules.instance_id(provider_id) == instance
