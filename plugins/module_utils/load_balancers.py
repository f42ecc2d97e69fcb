# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A load balancer as AWS holds it, read back from its DNS name: which one it is (elb or elbv2), its scheme, its
security groups, and who those groups let in on each of its listener ports - so that what a Service asked for is
proven rather than assumed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError

try:
    import botocore
    AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
except ImportError:
    AWS_ERRORS = ()  # AnsibleAWSModule reports the missing library

# The DNS names AWS gives (aws and aws-cn partitions):
#   Classic ELB:  [internal-]NAME-NUMBER.REGION.elb.amazonaws.com
#   NLB / ALB:    [internal-]NAME-HASH.elb.REGION.amazonaws.com
CLASSIC = re.compile(r"^(?:internal-)?(?P<name>[A-Za-z0-9-]+)-[0-9a-z]+\.[a-z0-9-]+\.elb\.amazonaws\.com(?:\.cn)?$")
ELBV2 = re.compile(r"^(?:internal-)?(?P<name>[A-Za-z0-9-]+)-[0-9a-f]+\.elb\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$")


class LoadBalancerError(MeshError):
    """Bad input, or an answer of AWS that does not fit."""


def parse_hostname(hostname):
    """(kind, name) of a load balancer's DNS name: kind ``classic`` or ``elbv2``."""
    text = str(hostname or "").strip().lower().rstrip(".")
    for kind, pattern in (("elbv2", ELBV2), ("classic", CLASSIC)):
        match = pattern.match(text)
        if match:
            return kind, match.group("name")
    raise LoadBalancerError("hostname=%r is not the DNS name AWS gives a load balancer: expected "
                            "NAME-NUMBER.REGION.elb.amazonaws.com (Classic ELB) or NAME-HASH.elb.REGION.amazonaws.com "
                            "(NLB), as in the Service's status.loadBalancer.ingress" % (hostname,))


def _covers(perm, port):
    if perm.get("IpProtocol") == "-1":
        return True
    if str(perm.get("IpProtocol")) not in ("tcp", "6"):
        return False
    return perm.get("FromPort", 0) <= port <= perm.get("ToPort", 65535)


def admitted(groups, ports):
    """{port: sorted sources} the groups' inbound rules let in on each port: CIDRs (IPv4 and IPv6), prefix lists and
    security groups."""
    out = {}
    for port in ports:
        sources = set()
        for group in groups:
            for perm in group.get("IpPermissions") or []:
                if not _covers(perm, port):
                    continue
                sources.update(r["CidrIp"] for r in perm.get("IpRanges") or [])
                sources.update(r["CidrIpv6"] for r in perm.get("Ipv6Ranges") or [])
                sources.update(r["PrefixListId"] for r in perm.get("PrefixListIds") or [])
                sources.update(r["GroupId"] for r in perm.get("UserIdGroupPairs") or [])
        out[port] = sorted(sources)
    return out


def excess(admitted_by_port, allowed):
    """[{port, source}] of the CIDRs and prefix lists let in beyond the allowed CIDRs (a group as source is traffic
    from inside AWS, never from a network, and is not counted)."""
    networks = []
    for cidr in allowed:
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            raise LoadBalancerError("allowed_sources contains %r, which is not a CIDR: expected CIDRs such as "
                                    "203.0.113.0/24" % (cidr,))
    out = []
    for port, sources in sorted(admitted_by_port.items()):
        for source in sources:
            if source.startswith("sg-"):
                continue
            if source.startswith("pl-"):
                out.append({"port": port, "source": source})
                continue
            network = ipaddress.ip_network(source, strict=False)
            if not any(network.version == n.version and network.subnet_of(n) for n in networks):
                out.append({"port": port, "source": source})
    return out


@AWSRetry.jittered_backoff()
def _listeners(elbv2, arn):
    """Every listener of the load balancer: the paginated read retried as a whole on throttling, as amazon.aws's
    own paginated helpers do (a paginator's page requests take no aws_retry)."""
    return elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=arn).build_full_result()["Listeners"]


def read(module, hostname):
    """The load balancer of this DNS name, or None when AWS has none of that name."""
    kind, name = parse_hostname(hostname)
    if kind == "classic":
        elb = module.client("elb", retry_decorator=AWSRetry.jittered_backoff())
        try:
            found = elb.describe_load_balancers(aws_retry=True, LoadBalancerNames=[name])["LoadBalancerDescriptions"]
        except is_boto3_error_code("LoadBalancerNotFound"):
            return None
        lb = found[0]
        ports = sorted(set(d["Listener"]["LoadBalancerPort"] for d in lb.get("ListenerDescriptions") or []))
        return {"type": "classic", "name": name, "scheme": lb.get("Scheme"), "dns_name": lb.get("DNSName"),
                "security_groups": list(lb.get("SecurityGroups") or []), "listener_ports": ports}
    elbv2 = module.client("elbv2", retry_decorator=AWSRetry.jittered_backoff())
    try:
        found = elbv2.describe_load_balancers(aws_retry=True, Names=[name])["LoadBalancers"]
    except is_boto3_error_code("LoadBalancerNotFound"):
        return None
    lb = found[0]
    ports = sorted(set(entry["Port"] for entry in _listeners(elbv2, lb["LoadBalancerArn"])))
    return {"type": lb.get("Type"), "name": name, "scheme": lb.get("Scheme"), "dns_name": lb.get("DNSName"),
            "security_groups": list(lb.get("SecurityGroups") or []), "listener_ports": ports}


def run_module(module):
    params = module.params
    parse_hostname(params["hostname"])  # bad input is refused before AWS is asked
    excess({}, params["allowed_sources"] or [])
    try:
        lb = read(module, params["hostname"])
        if lb is None:
            return {"changed": False, "found": False, "load_balancer": {}, "admitted": {}, "excess": []}
        ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
        groups = ec2.describe_security_groups(aws_retry=True, GroupIds=lb["security_groups"])["SecurityGroups"] \
            if lb["security_groups"] else []
    except AWS_ERRORS as exc:
        raise LoadBalancerError("cannot read load balancer %s from AWS (region %s): %s" % (
            params["hostname"], module.region, exc))
    ports = params["ports"] or lb["listener_ports"]
    by_port = admitted(groups, ports)
    result = {"changed": False, "found": True, "load_balancer": lb,
              "admitted": dict((str(p), s) for p, s in by_port.items()), "excess": [], "unenforced": ""}
    if not lb["security_groups"]:
        # an NLB made without a security group (the AWS Load Balancer Controller before 2.6, or its NLBSecurityGroup
        # gate off): it admits whoever reaches it; source ranges then hold only on the nodes' groups for instance
        # targets with client IPs preserved (LBC model_build_target_group.go), never for ip targets
        result["unenforced"] = ("%s load balancer %s has no security group: it lets every source in, and source "
                                "ranges hold (if at all) only on the nodes' groups" % (lb["type"], lb["name"]))
    if params["allowed_sources"]:
        result["excess"] = excess(by_port, params["allowed_sources"])
    return result
