#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: security_group_rules
short_description: Manage the inbound rules this collection owns on the security groups of an EKS cluster's nodes
version_added: 0.2.0
author:
  - istio_demo.mesh developers (@istio-demo-mesh)
description:
  - Puts inbound rules on the security groups the cluster's nodes really use, only where those groups do not let the
    traffic in already, and removes the rules it owns wherever they are in the VPC, without touching any rule it does
    not own.
  - The nodes' groups are found the way AWS knows them - from each Node's C(spec.providerID)
    (C(aws:///ZONE/i-...)) to C(ec2:DescribeInstances) and the groups on the instances' network interfaces - and
    the cluster security group and the other control-plane groups from C(eks:DescribeCluster). Explicit
    O(group_ids) win over that. A group found only by tags (such as a C(k8s-elb-*) group of a load balancer) is
    never chosen.
  - A rule is needed on a node when none of its groups already allows the protocol, ports and source by a rule the
    module does not own (a rule from any control-plane group counts for C(cluster_security_group); a CIDR rule
    covering the whole VPC counts for a group source). Needed rules go on as few of the nodes' groups as cover
    every node, preferring groups that already hold them and groups other than the cluster security group.
  - A rule is owned when its description starts with O(marker); give each cluster its own marker when clusters
    share a VPC. A rule's identity is its protocol, ports and source; the description is not part of it, so a
    changed description is updated in place and never re-creates the rule.
  - With O(state=present) the owned rules in the VPC become exactly the needed ones (missing ones added, owned ones
    no longer needed - on any group, including groups the nodes left - removed); with O(state=absent) every owned
    rule in the VPC is removed.
  - Sources may be CIDRs, security group ids, C(cluster_security_group) (the EKS cluster security group, from which
    the API server calls the webhooks) or C(vpc) (the CIDR blocks of the cluster's VPC). A CIDR wider than
    O(widest_ipv4_prefix) / O(widest_ipv6_prefix) (such as C(0.0.0.0/0), or C(0.0.0.0/1)) is refused unless
    O(allow_world_open=true).
options:
  state:
    description: Whether the owned rules should be the needed ones or be gone.
    type: str
    choices: [present, absent]
    default: present
  cluster_name:
    description:
      - EKS cluster whose control-plane groups and VPC are read with C(eks:DescribeCluster).
      - Required unless O(group_ids) is given.
    type: str
  nodes:
    description:
      - The cluster's nodes as M(kubernetes.core.k8s_info) returns them (C(metadata.name), C(spec.providerID)), or
        mappings of C(name) and C(provider_id) (C(aws:///ZONE/i-...) or an instance id).
      - Nodes that are not EC2 instances (Fargate, other providers) are returned in RV(skipped_nodes).
      - With O(state=present), at least one EC2 node is required unless O(group_ids) is given.
    type: list
    elements: dict
    default: []
  group_ids:
    description:
      - Put the rules on exactly these groups (each that does not allow the traffic already) instead of finding the
        nodes' groups.
    type: list
    elements: str
    default: []
    aliases: [group_id]
  cluster_security_group_id:
    description: The group to use for C(cluster_security_group) sources, when not read from the EKS cluster.
    type: str
  rules:
    description: The inbound rules wanted (ignored with O(state=absent)).
    type: list
    elements: dict
    default: []
    suboptions:
      port:
        description: First port.
        type: int
        required: true
      to_port:
        description: Last port; O(rules[].port) by default.
        type: int
      proto:
        description: Protocol (C(-1) is every protocol; EC2 keeps no ports for it).
        type: str
        choices: [tcp, udp, icmp, "-1"]
        default: tcp
      sources:
        description: CIDRs, security group ids, C(cluster_security_group) or C(vpc).
        type: list
        elements: str
        required: true
      description:
        description: What the rule is for; stored after O(marker).
        type: str
        required: true
  only_where_missing:
    description: Add a rule only for nodes (or O(group_ids)) whose groups do not allow that traffic already.
    type: bool
    default: true
  marker:
    description: Description prefix that marks a rule as owned by this module.
    type: str
    default: "istio_demo.mesh:"
  allow_world_open:
    description: Allow sources wider than O(widest_ipv4_prefix) / O(widest_ipv6_prefix). Off by default; leave it off.
    type: bool
    default: false
  widest_ipv4_prefix:
    description: The widest IPv4 source accepted without O(allow_world_open), as a prefix length.
    type: int
    default: 8
  widest_ipv6_prefix:
    description: The widest IPv6 source accepted without O(allow_world_open), as a prefix length.
    type: int
    default: 32
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    description: Computes the changes from the groups' current rules and makes none.
  diff_mode:
    support: full
    description: Shows the owned rules before and after.
  action_group:
    support: full
    membership: [istio_demo.mesh.aws]
    description: Part of the C(istio_demo.mesh.aws) group for C(module_defaults).
requirements:
  - python >= 3.9
  - boto3 >= 1.28.0
"""

EXAMPLES = r"""
- name: Read the nodes
  kubernetes.core.k8s_info:
    kind: Node
  register: nodes

- name: Let the EKS control plane reach istiod's webhook on the nodes that need it
  istio_demo.mesh.security_group_rules:
    cluster_name: demo
    region: us-east-1
    marker: "istio_demo.mesh:demo:"
    nodes: "{{ nodes.resources }}"
    rules:
      - {port: 15017, sources: [cluster_security_group], description: istiod webhooks}

- name: Remove exactly the rules this collection added, wherever they are in the cluster's VPC
  istio_demo.mesh.security_group_rules:
    cluster_name: demo
    marker: "istio_demo.mesh:demo:"
    state: absent
"""

RETURN = r"""
groups:
  description: The security groups considered, each with why it was (C(why)) and the owned rules on it after the run.
  returned: always
  type: list
  elements: dict
  sample: [{group_id: sg-0a1b2c3d, group_name: demo-node, why: ["on instance i-0abc (node ip-192-168-0-4)"]}]
nodes:
  description: For each node, its instance, its groups and, per needed rule, whether a rule already allows it or on
    which group this module's rule lets it in.
  returned: always
  type: list
  elements: dict
skipped_nodes:
  description: Nodes that are not EC2 instances (no security group of their own to manage), with their provider id.
  returned: always
  type: list
  elements: dict
cluster_security_group_id:
  description: The EKS cluster security group, when known.
  returned: always
  type: str
control_plane_group_ids:
  description: The groups on the control plane's network interfaces (the cluster security group and the cluster's
    additional groups).
  returned: always
  type: list
  elements: str
vpc_id:
  description: The cluster's VPC.
  returned: always
  type: str
vpc_cidrs:
  description: The VPC's CIDR blocks.
  returned: always
  type: list
  elements: str
added:
  description: Rules added (group_id, proto, from_port, to_port, source, description).
  returned: always
  type: list
  elements: dict
removed:
  description: Owned rules removed.
  returned: always
  type: list
  elements: dict
updated:
  description: Owned rules whose description was updated.
  returned: always
  type: list
  elements: dict
rules:
  description: The owned rules after the run.
  returned: always
  type: list
  elements: dict
  sample: [{group_id: sg-0a1b2c3d, proto: tcp, from_port: 15017, to_port: 15017, source: sg-0f1e2d3c,
            description: "istio_demo.mesh:demo: istiod webhooks"}]
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.istio_demo.mesh.plugins.module_utils import sg_rules

try:
    import botocore
    import botocore.session
    AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
except ImportError:
    AWS_ERRORS = ()  # AnsibleAWSModule reports the missing library


# Error codes of EC2 (and STS) for a key that does not exist, a wrong secret or an expired session.
AUTH_ERRORS = ("AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException",
               "ExpiredToken", "InvalidAccessKeyId")


def argument_spec():
    rule_options = dict(port=dict(type="int", required=True), to_port=dict(type="int"),
                        proto=dict(type="str", choices=["tcp", "udp", "icmp", "-1"], default="tcp"),
                        sources=dict(type="list", elements="str", required=True),
                        description=dict(type="str", required=True))
    return dict(state=dict(type="str", choices=["present", "absent"], default="present"),
                cluster_name=dict(type="str"),
                nodes=dict(type="list", elements="dict", default=[]),
                group_ids=dict(type="list", elements="str", default=[], aliases=["group_id"]),
                cluster_security_group_id=dict(type="str"),
                rules=dict(type="list", elements="dict", options=rule_options, default=[]),
                only_where_missing=dict(type="bool", default=True),
                marker=dict(type="str", default="istio_demo.mesh:"),
                allow_world_open=dict(type="bool", default=False),
                widest_ipv4_prefix=dict(type="int", default=sg_rules.WIDEST_IPV4),
                widest_ipv6_prefix=dict(type="int", default=sg_rules.WIDEST_IPV6))


def validate(params):
    """Every input checked before AWS is asked anything; raise RuleError naming option, value, expectation."""
    rules = [dict((k, v) for k, v in r.items() if v is not None) for r in params["rules"]]
    if params["profile"]:
        profiles = botocore.session.Session().available_profiles
        if params["profile"] not in profiles:
            raise sg_rules.RuleError("profile=%s does not exist in the AWS config files (~/.aws/config, "
                                     "~/.aws/credentials): expected one of %s" % (
                                         params["profile"], ", ".join(sorted(profiles)) or "no profile there"))
    for name, top in (("widest_ipv4_prefix", 32), ("widest_ipv6_prefix", 128)):
        if not 0 <= params[name] <= top:
            raise sg_rules.RuleError("%s=%r is invalid: expected a prefix length between 0 and %d"
                                     % (name, params[name], top))
    if params["state"] == "present":
        sg_rules.validate_rules(rules, params["allow_world_open"], params["widest_ipv4_prefix"],
                                params["widest_ipv6_prefix"])
    if not params["marker"] or len(params["marker"]) < 4:
        raise sg_rules.RuleError("marker=%r is invalid: expected a distinctive prefix of at least 4 characters"
                                 % (params["marker"],))
    for gid in params["group_ids"]:
        if not sg_rules.GROUP_ID.match(gid):
            raise sg_rules.RuleError("group_ids contains %r: expected a security group id such as "
                                     "sg-0123456789abcdef0" % (gid,))
    sg = params["cluster_security_group_id"]
    if sg and not sg_rules.GROUP_ID.match(sg):
        raise sg_rules.RuleError("cluster_security_group_id=%r is invalid: expected a security group id such as "
                                 "sg-0123456789abcdef0" % (sg,))
    instances, skipped = [], []
    for index, node in enumerate(params["nodes"]):
        name = node.get("name") or (node.get("metadata") or {}).get("name")
        provider_id = node.get("provider_id") or (node.get("spec") or {}).get("providerID")
        if not name and not provider_id:
            raise sg_rules.RuleError("nodes[%d]=%r is invalid: expected a Node (metadata.name, spec.providerID) or "
                                     "a mapping of name and provider_id" % (index, node))
        iid = sg_rules.instance_id(provider_id)
        if iid is None:
            skipped.append({"name": name, "provider_id": provider_id or ""})
        else:
            instances.append({"id": iid, "node": name or iid, "groups": []})
    if not params["cluster_name"] and not params["group_ids"]:
        raise sg_rules.RuleError("neither cluster_name nor group_ids is given: expected the EKS cluster's name, or "
                                 "the security groups to manage")
    if params["state"] == "present" and not params["group_ids"] and not instances:
        raise sg_rules.RuleError("nodes holds no EC2 instance (%d other nodes): expected the cluster's Nodes (their "
                                 "spec.providerID aws:///ZONE/i-...) to find the security groups they use - start a "
                                 "node group first - or group_ids (for Karpenter, the groups your EC2NodeClass "
                                 "selects)" % len(skipped))
    return rules, instances, skipped


def main():
    module = AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        rules, instances, skipped = validate(params)
    except sg_rules.RuleError as exc:
        module.fail_json(msg=str(exc))
    try:
        ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
        view = read(module, ec2, instances)
    except sg_rules.RuleError as exc:
        module.fail_json(msg=str(exc))
    except AWS_ERRORS as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code in AUTH_ERRORS:
            module.fail_json(msg="AWS refused the credentials (%s): access_key and secret_key (or profile, or the "
                                 "AWS_* environment) are invalid for region %s; expected an access key of this "
                                 "account that may describe EKS clusters, EC2 instances and change EC2 security "
                                 "groups" % (code, module.region))
        module.fail_json_aws(exc, msg="cannot read the security groups of %s" % (
            "EKS cluster %s" % params["cluster_name"] if params["cluster_name"] else ", ".join(params["group_ids"])))
    marker = params["marker"]
    report = {}
    desired = {}
    if params["state"] == "present":
        try:
            needs = sg_rules.resolve(rules, marker, view["cluster_sg"], view["vpc_cidrs"])
        except sg_rules.RuleError as exc:
            module.fail_json(msg=str(exc))
        foreign = dict((gid, dict((k, v) for k, v in perms.items() if not (v or "").startswith(marker)))
                       for gid, perms in view["perms"].items())
        mine = dict((gid, set(k for k, v in perms.items() if (v or "").startswith(marker)))
                    for gid, perms in view["perms"].items())
        if params["group_ids"]:
            desired = sg_rules.place_on_groups(needs, params["group_ids"], foreign, view["peers"], view["vpc_cidrs"],
                                               params["only_where_missing"])
        else:
            desired, report = sg_rules.place(needs, instances, foreign, mine, view["cluster_sg"], view["peers"],
                                             view["vpc_cidrs"], params["only_where_missing"])
    current = {}
    for gid, perms in view["perms"].items():
        for identity, description in perms.items():
            current[(gid, identity)] = description
    to_add, to_remove, to_describe = sg_rules.plan_groups(current, desired, marker, params["state"])
    changed = bool(to_add or to_remove or to_describe)
    if changed and not module.check_mode:
        write(module, ec2, view, to_add, to_remove, to_describe)
    before = dict((k, v) for k, v in current.items() if (v or "").startswith(marker))
    after = dict((k, v) for k, v in before.items() if k not in to_remove)
    after.update(to_add)
    after.update(to_describe)
    result = dict(changed=changed, cluster_security_group_id=view["cluster_sg"],
                  control_plane_group_ids=sorted(view["peers"]), vpc_id=view["vpc_id"], vpc_cidrs=view["vpc_cidrs"],
                  added=sg_rules.as_list(to_add), removed=sg_rules.as_list(to_remove),
                  updated=sg_rules.as_list(to_describe), rules=sg_rules.as_list(after),
                  groups=describe_groups(view, after, params), nodes=describe_nodes(instances, report),
                  skipped_nodes=skipped)
    if module._diff:
        result["diff"] = {"before": sg_rules.as_list(before), "after": sg_rules.as_list(after)}
    module.exit_json(**result)


def read(module, ec2, instances):
    """What AWS says: the cluster's control-plane groups and VPC, the nodes' groups, every group of the VPC."""
    params = module.params
    cluster_sg = params["cluster_security_group_id"]
    peers = set()
    vpc_id = None
    if params["cluster_name"]:
        eks = module.client("eks", retry_decorator=AWSRetry.jittered_backoff())
        try:
            cluster = eks.describe_cluster(aws_retry=True, name=params["cluster_name"])["cluster"]
        except is_boto3_error_code("ResourceNotFoundException"):
            raise sg_rules.RuleError("cluster_name=%s: no EKS cluster of that name in region %s: check the name "
                                     "and the region" % (params["cluster_name"], module.region))
        vpc_config = cluster.get("resourcesVpcConfig") or {}
        cluster_sg = cluster_sg or vpc_config.get("clusterSecurityGroupId")
        peers.update(vpc_config.get("securityGroupIds") or [])
        vpc_id = vpc_config.get("vpcId")
    if cluster_sg:
        peers.add(cluster_sg)
    explicit = []
    if params["group_ids"]:
        try:
            explicit = ec2.describe_security_groups(aws_retry=True, GroupIds=params["group_ids"])["SecurityGroups"]
        except is_boto3_error_code("InvalidGroup.NotFound") as exc:
            raise sg_rules.RuleError("group_ids=%s: %s in region %s; expected existing security group ids"
                                     % (",".join(params["group_ids"]), exc.response["Error"].get("Message"),
                                        module.region))
        vpc_id = vpc_id or explicit[0]["VpcId"]
    if instances:
        by_id = dict((i["id"], i) for i in instances)
        try:
            reservations = ec2.describe_instances(aws_retry=True, InstanceIds=sorted(by_id))["Reservations"]
        except is_boto3_error_code(["InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"]) as exc:
            raise sg_rules.RuleError("nodes: %s in region %s; expected the instances of the cluster's Nodes (is "
                                     "region the cluster's?)" % (exc.response["Error"].get("Message"), module.region))
        for reservation in reservations:
            for found in reservation.get("Instances") or []:
                groups = []
                for eni in found.get("NetworkInterfaces") or []:
                    groups += [g["GroupId"] for g in eni.get("Groups") or [] if g["GroupId"] not in groups]
                if not groups:
                    groups = [g["GroupId"] for g in found.get("SecurityGroups") or []]
                by_id[found["InstanceId"]]["groups"] = groups
                vpc_id = vpc_id or found.get("VpcId")
    if not vpc_id:
        raise sg_rules.RuleError("cannot tell the cluster's VPC: give cluster_name, nodes or group_ids")
    groups = ec2.get_paginator("describe_security_groups").paginate(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]).build_full_result().get("SecurityGroups", [])
    vpcs = ec2.describe_vpcs(aws_retry=True, VpcIds=[vpc_id])["Vpcs"]
    return {"instances": instances, "cluster_sg": cluster_sg, "peers": peers, "vpc_id": vpc_id, "vpc_cidrs": vpc_blocks(vpcs),
            "groups": dict((g["GroupId"], g) for g in groups),
            "perms": dict((g["GroupId"], sg_rules.flatten(g.get("IpPermissions"))) for g in groups),
            "entries": dict((g["GroupId"], sg_rules.entries(g.get("IpPermissions"))) for g in groups)}


def write(module, ec2, view, to_add, to_remove, to_describe):
    """Revoke, authorize and re-describe, one call of each per group."""
    for gid in sorted(set(k[0] for k in list(to_add) + list(to_remove) + list(to_describe))):
        try:
            removing = [k[1] for k in to_remove if k[0] == gid]
            if removing:
                ec2.revoke_security_group_ingress(aws_retry=True, GroupId=gid, IpPermissions=[
                    sg_rules.permission(k, entry=view["entries"][gid][k]) for k in removing])
            adding = dict((k[1], v) for k, v in to_add.items() if k[0] == gid)
            if adding:
                ec2.authorize_security_group_ingress(aws_retry=True, GroupId=gid, IpPermissions=[
                    sg_rules.permission(k, v) for k, v in adding.items()])
            describing = dict((k[1], v) for k, v in to_describe.items() if k[0] == gid)
            if describing:
                ec2.update_security_group_rule_descriptions_ingress(aws_retry=True, GroupId=gid, IpPermissions=[
                    sg_rules.permission(k, v) for k, v in describing.items()])
        except AWS_ERRORS as exc:
            module.fail_json_aws(exc, msg="cannot change the inbound rules of %s" % gid)


def describe_groups(view, after, params):
    """The groups that matter, each with why: on a node, the cluster's, given, or holding owned rules."""
    why = {}
    for gid in params["group_ids"]:
        why.setdefault(gid, []).append("given in group_ids")
    for instance in view.get("instances") or []:
        for gid in instance["groups"]:
            why.setdefault(gid, []).append("on instance %s (node %s)" % (instance["id"], instance["node"]))
    if view["cluster_sg"]:
        why.setdefault(view["cluster_sg"], []).append("the EKS cluster security group (the control plane's)")
    for gid in sorted(view["peers"] - {view["cluster_sg"]}):
        why.setdefault(gid, []).append("an additional group of the EKS control plane")
    for gid, _identity in after:
        if gid not in why:
            why[gid] = ["holds rules of this marker"]
    out = []
    for gid in sorted(why):
        group = view["groups"].get(gid) or {}
        owned = sg_rules.as_list(dict((k, v) for k, v in after.items() if k[0] == gid))
        out.append({"group_id": gid, "group_name": group.get("GroupName", ""), "why": why[gid], "rules": owned})
    return out


def describe_nodes(instances, report):
    out = []
    for instance in instances:
        needs = []
        for identity in sorted(report, key=str):
            how = report[identity].get(instance["id"])
            if how:
                needs.append({"proto": identity[0], "from_port": identity[1], "to_port": identity[2],
                              "source": identity[4], "how": how})
        out.append({"name": instance["node"], "instance_id": instance["id"], "group_ids": instance["groups"],
                    "rules": needs})
    return out


def vpc_blocks(vpcs):
    blocks = []
    for vpc in vpcs:
        blocks += [b["CidrBlock"] for b in vpc.get("CidrBlockAssociationSet") or []
                   if (b.get("CidrBlockState") or {}).get("State", "associated") == "associated"]
        blocks += [b["Ipv6CidrBlock"] for b in vpc.get("Ipv6CidrBlockAssociationSet") or []
                   if (b.get("Ipv6CidrBlockState") or {}).get("State", "associated") == "associated"]
        if not blocks and vpc.get("CidrBlock"):
            blocks.append(vpc["CidrBlock"])
    return sorted(set(blocks))


if __name__ == "__main__":
    main()
