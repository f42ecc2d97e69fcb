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
short_description: Manage the inbound rules this collection owns on an EKS security group
version_added: 0.1.0
author:
  - istio_demo.mesh developers (@istio-demo-mesh)
description:
  - Adds, updates and removes inbound rules on one EC2 security group - by default the node security group of an EKS
    cluster, found from its tags - without touching any rule it does not own.
  - A rule is owned when its description starts with O(marker). A rule's identity is its protocol, ports and source;
    the description is not part of it, so a changed description is updated in place and never re-creates the rule.
  - With O(state=present) the owned rules become exactly O(rules) (missing ones added, owned ones no longer wanted
    removed); with O(state=absent) every owned rule is removed.
  - Sources may be CIDRs, security group ids, C(cluster_security_group) (the EKS cluster security group, from which
    the API server calls the webhooks) or C(vpc) (the CIDR blocks of the group's VPC).
  - C(0.0.0.0/0) and C(::/0) are refused unless O(allow_world_open=true).
options:
  state:
    description: Whether the owned rules should match O(rules) or be gone.
    type: str
    choices: [present, absent]
    default: present
  group_id:
    description: The security group to manage. Required unless O(cluster_name) is given.
    type: str
  cluster_name:
    description:
      - EKS cluster whose node security group to manage, found by the tags EKS and eksctl put on it
        (C(kubernetes.io/cluster/NAME) without C(aws:eks:cluster-name)); the cluster security group
        (tagged C(aws:eks:cluster-name=NAME)) is used when there is no separate node group.
    type: str
  cluster_security_group_id:
    description: The cluster security group to use for C(cluster_security_group) sources, when not found by tags.
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
        description: Protocol.
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
  marker:
    description: Description prefix that marks a rule as owned by this module.
    type: str
    default: "istio_demo.mesh:"
  allow_world_open:
    description: Allow C(0.0.0.0/0) and C(::/0) sources. Off by default, and it should stay off.
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    description: Computes the changes from the group's current rules and makes none.
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
- name: Open what Istio needs on the EKS node security group
  istio_demo.mesh.security_group_rules:
    cluster_name: demo
    region: us-east-1
    rules:
      - {port: 15017, sources: [cluster_security_group], description: istiod webhook}
      - {port: 15012, sources: [cluster_security_group], description: istiod xDS and CA}
      - {port: 20001, sources: [203.0.113.0/24], description: Kiali from the admin network}

- name: Remove exactly the rules this collection added
  istio_demo.mesh.security_group_rules:
    cluster_name: demo
    state: absent
"""

RETURN = r"""
group_id:
  description: The security group managed.
  returned: always
  type: str
  sample: sg-0123456789abcdef0
cluster_security_group_id:
  description: The EKS cluster security group, when known.
  returned: always
  type: str
vpc_id:
  description: The group's VPC.
  returned: always
  type: str
vpc_cidrs:
  description: The VPC's CIDR blocks.
  returned: always
  type: list
  elements: str
added:
  description: Rules added (proto, from_port, to_port, source, description).
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
  sample: [{proto: tcp, from_port: 15017, to_port: 15017, source: sg-0a1b2c3d, description: "istio_demo.mesh: istiod webhook"}]
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.istio_demo.mesh.plugins.module_utils import sg_rules

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing library


# Error codes of EC2 (and STS) for a key that does not exist, a wrong secret or an expired session.
AUTH_ERRORS = ("AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException",
               "ExpiredToken", "InvalidAccessKeyId")


def main():
    rule_options = dict(port=dict(type="int", required=True), to_port=dict(type="int"),
                        proto=dict(type="str", choices=["tcp", "udp", "icmp", "-1"], default="tcp"),
                        sources=dict(type="list", elements="str", required=True),
                        description=dict(type="str", required=True))
    module = AnsibleAWSModule(
        argument_spec=dict(state=dict(type="str", choices=["present", "absent"], default="present"),
                           group_id=dict(type="str"), cluster_name=dict(type="str"),
                           cluster_security_group_id=dict(type="str"),
                           rules=dict(type="list", elements="dict", options=rule_options, default=[]),
                           marker=dict(type="str", default="istio_demo.mesh:"),
                           allow_world_open=dict(type="bool", default=False)),
        required_one_of=[("group_id", "cluster_name")], supports_check_mode=True)
    params = module.params
    rules = [dict((k, v) for k, v in r.items() if v is not None) for r in params["rules"]]
    try:
        if params["state"] == "present":
            sg_rules.validate_rules(rules, params["allow_world_open"])
        if not params["marker"] or len(params["marker"]) < 4:
            raise sg_rules.RuleError("marker=%r is invalid: expected a distinctive prefix of at least 4 characters"
                                     % (params["marker"],))
    except sg_rules.RuleError as exc:
        module.fail_json(msg=str(exc))
    ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    try:
        group, cluster_sg = find_groups(module, ec2)
        vpc_cidrs = vpc_blocks(ec2, group["VpcId"])
        current = sg_rules.flatten(group.get("IpPermissions"))
        desired = sg_rules.resolve(rules, params["marker"], cluster_sg, vpc_cidrs) if params["state"] == "present" \
            else {}
    except sg_rules.RuleError as exc:
        module.fail_json(msg=str(exc))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code in AUTH_ERRORS:
            module.fail_json(msg="AWS refused the credentials (%s): access_key and secret_key (or profile, or the "
                                 "AWS_* environment) are invalid for region %s; expected an access key of this "
                                 "account that may describe and change EC2 security groups" % (code, module.region))
        module.fail_json_aws(exc, msg="cannot read security group %s" % (params["group_id"] or
                                                                         "of EKS cluster %s" % params["cluster_name"]))
    to_add, to_remove, to_describe = sg_rules.plan(current, desired, params["marker"], params["state"])
    group_id = group["GroupId"]
    changed = bool(to_add or to_remove or to_describe)
    if changed and not module.check_mode:
        try:
            if to_remove:
                raw = sg_rules.entries(group.get("IpPermissions"))
                ec2.revoke_security_group_ingress(aws_retry=True, GroupId=group_id, IpPermissions=[
                    sg_rules.permission(k, entry=raw[k]) for k in to_remove])
            if to_add:
                ec2.authorize_security_group_ingress(aws_retry=True, GroupId=group_id, IpPermissions=[
                    sg_rules.permission(k, v) for k, v in to_add.items()])
            if to_describe:
                ec2.update_security_group_rule_descriptions_ingress(aws_retry=True, GroupId=group_id, IpPermissions=[
                    sg_rules.permission(k, v) for k, v in to_describe.items()])
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            module.fail_json_aws(exc, msg="cannot change the inbound rules of %s" % group_id)
    before = sg_rules.ours(current, params["marker"])
    after = dict((k, v) for k, v in before.items() if k not in to_remove)
    after.update(to_add)
    after.update(to_describe)
    result = dict(changed=changed, group_id=group_id, cluster_security_group_id=cluster_sg, vpc_id=group["VpcId"],
                  vpc_cidrs=vpc_cidrs, added=sg_rules.as_list(to_add), removed=sg_rules.as_list(to_remove),
                  updated=sg_rules.as_list(to_describe), rules=sg_rules.as_list(after))
    if module._diff:
        result["diff"] = {"before": sg_rules.as_list(before), "after": sg_rules.as_list(after)}
    module.exit_json(**result)


def find_groups(module, ec2):
    params = module.params
    cluster_sg = params["cluster_security_group_id"]
    if params["group_id"]:
        try:
            groups = ec2.describe_security_groups(aws_retry=True, GroupIds=[params["group_id"]])["SecurityGroups"]
        except is_boto3_error_code("InvalidGroup.NotFound"):
            raise sg_rules.RuleError("group_id=%s does not exist in this region: expected the id of the EKS node "
                                     "security group" % params["group_id"])
        return groups[0], cluster_sg
    name = params["cluster_name"]
    groups = ec2.describe_security_groups(aws_retry=True, Filters=[
        {"Name": "tag-key", "Values": ["kubernetes.io/cluster/%s" % name, "aws:eks:cluster-name"]}])["SecurityGroups"]
    node, cluster = sg_rules.pick_groups(groups, name)
    if node is None:
        raise sg_rules.RuleError("cluster_name=%s: no security group carries the EKS tags of such a cluster "
                                 "(kubernetes.io/cluster/%s or aws:eks:cluster-name=%s) in this region: check the "
                                 "name and region, or give group_id" % (name, name, name))
    return node, cluster_sg or (cluster["GroupId"] if cluster else None)


def vpc_blocks(ec2, vpc_id):
    vpcs = ec2.describe_vpcs(aws_retry=True, VpcIds=[vpc_id])["Vpcs"]
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
