#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: load_balancer_info
short_description: Read a load balancer back from AWS by its DNS name, with who its security groups let in
version_added: 0.3.0
author:
  - istio_demo.mesh developers (@istio-demo-mesh)
description:
  - Finds the load balancer behind a DNS name as AWS gives it - a Classic ELB (C(NAME-NUMBER.REGION.elb.amazonaws.com))
    through C(elb:DescribeLoadBalancers), an NLB (C(NAME-HASH.elb.REGION.amazonaws.com)) through
    C(elbv2:DescribeLoadBalancers) and C(DescribeListeners) - and reads its security groups' inbound rules, to say
    who may reach each listener port.
  - With O(allowed_sources), says which sources it lets in beyond them (RV(excess)), so that a Service's
    C(loadBalancerSourceRanges) is proven on the load balancer AWS made rather than assumed from the Service.
  - An NLB without a security group lets every source in; RV(unenforced) says so.
  - Names of the C(aws) and C(aws-cn) partitions are understood. It only reads.
options:
  hostname:
    description: The load balancer's DNS name, as a Service's C(status.loadBalancer.ingress[0].hostname) holds it.
    type: str
    required: true
  ports:
    description: The ports to look at; the load balancer's listener ports when empty.
    type: list
    elements: int
    default: []
  allowed_sources:
    description:
      - The CIDRs that may reach it. Every CIDR or prefix list its groups let in on a port that lies outside all of
        them is reported in RV(excess); security groups as sources are traffic from inside AWS and are not counted.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: Nothing is changed.
  action_group:
    support: full
    membership: [istio_demo.mesh.aws]
    description: Part of the C(istio_demo.mesh.aws) group for C(module_defaults).
requirements:
  - python >= 3.9
  - boto3 >= 1.28.0
seealso:
  - module: istio_demo.mesh.security_group_rules
"""

EXAMPLES = r"""
- name: Read the ingress gateway's load balancer back from AWS
  istio_demo.mesh.load_balancer_info:
    hostname: "{{ gateway.resources[0].status.loadBalancer.ingress[0].hostname }}"
    ports: [80, 443]
    allowed_sources: [203.0.113.0/24]
    region: us-east-1
  register: lb

- name: Fail when it lets in more than asked
  ansible.builtin.assert:
    that: lb.excess | length == 0 and not lb.unenforced
    fail_msg: "{{ lb.unenforced or lb.excess }}"
"""

RETURN = r"""
found:
  description: Whether AWS has a load balancer of that name (false while it is being made, or once deleted).
  returned: always
  type: bool
  sample: true
load_balancer:
  description: The load balancer (empty when not found).
  returned: always
  type: dict
  contains:
    type:
      description: C(classic), or the elbv2 type (C(network), C(application)).
      type: str
    name:
      description: Its name.
      type: str
    scheme:
      description: C(internet-facing) or C(internal).
      type: str
    dns_name:
      description: The DNS name AWS reports.
      type: str
    security_groups:
      description: Its security groups.
      type: list
      elements: str
    listener_ports:
      description: The ports it listens on.
      type: list
      elements: int
  sample: {type: network, name: k8s-istiosys-istioing-0a1b2c3d4e, scheme: internet-facing,
           dns_name: k8s-istiosys-istioing-0a1b2c3d4e-0123456789abcdef.elb.us-east-1.amazonaws.com,
           security_groups: [sg-0a1b2c3d4e5f60718], listener_ports: [80, 443]}
admitted:
  description: Per port (as a string), the sources its security groups let in - CIDRs, prefix lists and groups.
  returned: always
  type: dict
  sample: {"80": ["203.0.113.0/24"], "443": ["203.0.113.0/24"]}
excess:
  description: The CIDRs and prefix lists let in on a port beyond O(allowed_sources) (empty without them).
  returned: always
  type: list
  elements: dict
  sample: [{port: 80, source: 0.0.0.0/0}]
unenforced:
  description: Why its security groups cannot limit who reaches it (an NLB with none), else empty.
  returned: always
  type: str
  sample: ""
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.istio_demo.mesh.plugins.module_utils import load_balancers
from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import run_engine


def main():
    module = AnsibleAWSModule(argument_spec=dict(hostname=dict(type="str", required=True),
                                                 ports=dict(type="list", elements="int", default=[]),
                                                 allowed_sources=dict(type="list", elements="str", default=[])),
                              supports_check_mode=True)
    run_engine(module, load_balancers.run_module)


if __name__ == "__main__":
    main()
