"""Rule identity, ownership and planning for security_group_rules."""

import pytest

from ansible_collections.istio_demo.mesh.plugins.module_utils import sg_rules

MARK = "istio_demo.mesh:"
CURRENT = [
    {"IpProtocol": "tcp", "FromPort": 15017, "ToPort": 15017,
     "UserIdGroupPairs": [{"GroupId": "sg-0aaaaaaaaaaaaaaaa", "Description": "istio_demo.mesh: istiod webhook"}]},
    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
     "IpRanges": [{"CidrIp": "198.51.100.0/24", "Description": "ssh (someone else's)"}]},
    {"IpProtocol": "tcp", "FromPort": 9090, "ToPort": 9090,
     "IpRanges": [{"CidrIp": "10.0.0.0/16", "Description": "istio_demo.mesh: old prometheus rule"}]},
]


def test_plan_touches_only_owned_rules_and_ignores_descriptions_for_identity():
    desired = sg_rules.resolve([
        {"port": 15017, "sources": ["cluster_security_group"], "description": "istiod webhook (renamed)"},
        {"port": 22, "sources": ["198.51.100.0/24"], "description": "ssh"},
        {"port": 20001, "sources": ["vpc"], "description": "kiali"},
    ], MARK, "sg-0aaaaaaaaaaaaaaaa", ["192.168.0.0/16"])
    add, remove, describe = sg_rules.plan(sg_rules.flatten(CURRENT), desired, MARK, "present")
    assert list(add) == [("tcp", 20001, 20001, "cidr", "192.168.0.0/16")]
    assert list(remove) == [("tcp", 9090, 9090, "cidr", "10.0.0.0/16")]
    assert describe == {("tcp", 15017, 15017, "group", "sg-0aaaaaaaaaaaaaaaa"): MARK + " istiod webhook (renamed)"}
    add, remove, describe = sg_rules.plan(sg_rules.flatten(CURRENT), {}, MARK, "absent")
    assert sorted(k[1] for k in remove) == [9090, 15017] and not add and not describe


@pytest.mark.parametrize("rule, allow, expected", [
    ({"port": 9090, "sources": ["0.0.0.0/0"], "description": "p"}, False, "allow_world_open"),
    ({"port": 9090, "sources": ["::/0"], "description": "p"}, False, "whole internet"),
    ({"port": 0, "sources": ["10.0.0.0/8"], "description": "p"}, False, "rules[0].port=0"),
    ({"port": 80, "to_port": 79, "sources": ["10.0.0.0/8"], "description": "p"}, False, "smaller than"),
    ({"port": 80, "sources": ["10.0.0.0/33"], "description": "p"}, False, "neither a CIDR"),
    ({"port": 80, "sources": [], "description": "p"}, False, "non-empty list"),
    ({"port": 80, "sources": ["10.0.0.0/8"], "description": ""}, False, "description"),
    ({"port": 80, "proto": "sctp", "sources": ["10.0.0.0/8"], "description": "p"}, False, "proto='sctp'"),
])
def test_bad_rules(rule, allow, expected):
    with pytest.raises(sg_rules.RuleError) as info:
        sg_rules.validate_rules([rule], allow)
    assert expected in str(info.value)


def test_world_is_allowed_by_name():
    sg_rules.validate_rules([{"port": 80, "sources": ["0.0.0.0/0"], "description": "open on purpose"}], True)


def test_groups_are_picked_by_eks_tags():
    groups = [
        {"GroupId": "sg-cluster", "Tags": [{"Key": "aws:eks:cluster-name", "Value": "demo"},
                                           {"Key": "kubernetes.io/cluster/demo", "Value": "owned"}]},
        {"GroupId": "sg-nodes", "Tags": [{"Key": "kubernetes.io/cluster/demo", "Value": "owned"}]},
        {"GroupId": "sg-other", "Tags": [{"Key": "kubernetes.io/cluster/other", "Value": "owned"}]},
    ]
    node, cluster = sg_rules.pick_groups(groups, "demo")
    assert node["GroupId"] == "sg-nodes" and cluster["GroupId"] == "sg-cluster"
    node, cluster = sg_rules.pick_groups(groups[:1], "demo")
    assert node["GroupId"] == "sg-cluster"
    assert sg_rules.pick_groups(groups, "nope") == (None, None)


def test_revoke_uses_the_rule_as_ec2_gave_it():
    raw = sg_rules.entries(CURRENT)
    key = ("tcp", 15017, 15017, "group", "sg-0aaaaaaaaaaaaaaaa")
    assert sg_rules.permission(key, entry=raw[key])["UserIdGroupPairs"] == [CURRENT[0]["UserIdGroupPairs"][0]]
