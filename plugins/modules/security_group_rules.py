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
  - A rule is owned when its description is O(marker) followed by a space and its own words; each cluster has its
    own marker by default, so clusters may share a VPC. A rule's identity is its protocol, ports and source; the
    description is not part of it, so a changed description is updated in place and never re-creates the rule.
  - With O(state=present) the owned rules in the VPC become exactly the needed ones (missing ones added, owned ones
    no longer needed - on any group, including groups the nodes left - removed); with O(state=absent) every owned
    rule in the VPC is removed.
  - Groups are read by id as well as by the VPC, so a group shared from another account or associated with several
    VPCs is seen; its rules count, but a group owned by another account is never changed - a node that needs a
    rule only such a group could hold is reported (RV(nodes), a warning), not retried.
  - On an IPv6 cluster (C(kubernetesNetworkConfig.ipFamily) of the EKS cluster) only IPv6 CIDR rules count as
    letting the control plane in, and C(vpc) stands for the VPC's IPv6 blocks.
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
      - Nodes that are not EC2 instances (Fargate, hybrid nodes, other providers) and nodes whose instance is
        terminated, shutting down or unknown to EC2 are returned in RV(skipped_nodes) with the reason; instances are
        read 200 at a time, so any number of nodes works.
      - With no EC2 node at all (a Fargate-only cluster, a new EKS Auto Mode cluster, Karpenter scaled to zero) nothing
        is opened, the rules this marker already holds stay for the nodes to come, and a warning says so; Fargate
        pods use the cluster security group, which admits the control plane.
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
    description:
      - Description prefix that marks a rule as owned by this module; a rule is owned when its description is the
        marker, or the marker, a space and the rule's own words. No marker owns another's rules;
        C(istio_demo.mesh:) does not own a rule described C(istio_demo.mesh:demo:) and more.
      - By default C(istio_demo.mesh:CLUSTER:) with O(cluster_name), else C(istio_demo.mesh:groups:).
      - The marker, a space and each O(rules[].description) must fit in EC2's 255 characters.
    type: str
  pod_interfaces:
    description:
      - Which of each instance's network interfaces carry pod IPs, and so whose groups must let the control plane in.
      - C(primary) (the VPC CNI's default) takes the primary interface's groups; the secondary interfaces the VPC
        CNI attaches carry the same groups.
      - C(secondary) takes the groups of the interfaces beyond the primary one, as with VPC CNI custom networking
        (the ENIConfig's groups; pods do not use the primary interface). An instance with no secondary interface
        yet is reported in RV(skipped_nodes).
      - Pods given their own groups by security groups for pods (branch interfaces) are not seen on the instance;
        give those groups in O(group_ids).
    type: str
    choices: [primary, secondary]
    default: primary
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
  description: Nodes with no running EC2 instance (no security group of their own to manage) - name, provider_id and
    reason (Fargate, hybrid, terminated, unknown to EC2, no secondary interface yet).
  returned: always
  type: list
  elements: dict
  sample: [{name: fargate-ip-192-168-1-2.ec2.internal, provider_id: "aws:///us-east-1a/fargate-ip-192-168-1-2",
            reason: "Fargate (its pod uses the cluster security group, which admits the control plane)"}]
notes:
  description: What the module could not do and why (no EC2 node now; a group owned by another account), also given
    as warnings.
  returned: always
  type: list
  elements: str
marker:
  description: The marker used (the given one or the default for the cluster).
  returned: always
  type: str
  sample: "istio_demo.mesh:demo:"
ip_family:
  description: The EKS cluster's IP family (ipv4 or ipv6), empty without O(cluster_name).
  returned: always
  type: str
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

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.istio_demo.mesh.plugins.module_utils import sg_aws, sg_rules
from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import run_engine


def argument_spec():
    """The module's own options (AnsibleAWSModule adds the AWS connection options)."""
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
                marker=dict(type="str"),
                pod_interfaces=dict(type="str", choices=["primary", "secondary"], default="primary"),
                allow_world_open=dict(type="bool", default=False),
                widest_ipv4_prefix=dict(type="int", default=sg_rules.WIDEST_IPV4),
                widest_ipv6_prefix=dict(type="int", default=sg_rules.WIDEST_IPV6))


def main():
    run_engine(AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True), sg_aws.run_module)


if __name__ == "__main__":
    main()
