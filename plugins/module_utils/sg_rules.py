# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Inbound rules owned by this collection on an EC2 security group.

A rule's identity is (protocol, from port, to port, source); its description
only marks ownership (it starts with the marker), so editing a description
never re-creates a rule and rules of others are never touched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

WORLD = ("0.0.0.0/0", "::/0")
SYMBOLIC = ("cluster_security_group", "vpc")
GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
PROTOCOLS = ("tcp", "udp", "icmp", "-1")


class RuleError(ValueError):
    pass


def validate_rules(rules, allow_world):
    """Each rule: port (1-65535), optional to_port, proto, sources (list), description. Raise RuleError."""
    if not isinstance(rules, list):
        raise RuleError("rules=%r is invalid: expected a list of rules" % (rules,))
    for index, rule in enumerate(rules):
        where = "rules[%d]" % index
        if not isinstance(rule, dict):
            raise RuleError("%s=%r is invalid: expected a mapping with port, sources and description" % (where, rule))
        port = rule.get("port")
        to_port = rule.get("to_port", port)
        for name, value in (("port", port), ("to_port", to_port)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
                raise RuleError("%s.%s=%r is invalid: expected a port number between 1 and 65535" % (
                    where, name, value))
        if to_port < port:
            raise RuleError("%s.to_port=%r is smaller than port=%r" % (where, to_port, port))
        proto = str(rule.get("proto", "tcp"))
        if proto not in PROTOCOLS:
            raise RuleError("%s.proto=%r is invalid: expected one of %s" % (where, proto, ", ".join(PROTOCOLS)))
        sources = rule.get("sources")
        if not isinstance(sources, list) or not sources:
            raise RuleError("%s.sources=%r is invalid: expected a non-empty list of CIDRs, security group ids, "
                            "'cluster_security_group' or 'vpc'" % (where, sources))
        for source in sources:
            check_source("%s.sources" % where, source, allow_world)
        description = rule.get("description")
        if not description or not isinstance(description, str) or len(description) > 200:
            raise RuleError("%s.description=%r is invalid: expected a short text saying what the rule is for"
                            % (where, description))
        if not re.match(r"^[A-Za-z0-9. _:/()#,@\[\]+=&;{}!$*-]*$", description):
            raise RuleError("%s.description=%r has characters EC2 does not accept in rule descriptions" % (
                where, description))


def check_source(where, source, allow_world):
    if source in SYMBOLIC or (isinstance(source, str) and GROUP_ID.match(source)):
        return
    try:
        network = ipaddress.ip_network(str(source), strict=True)
    except ValueError:
        raise RuleError("%s contains %r, which is neither a CIDR (such as 10.0.0.0/16, host bits zero), a security "
                        "group id (sg-...), 'cluster_security_group' nor 'vpc'" % (where, source))
    if str(network) in WORLD and not allow_world:
        raise RuleError("%s contains %s, which opens the port to the whole internet: refused unless the "
                        "allow_world_open option (the role's aws_security_groups_allow_world_open variable) is "
                        "set to true" % (where, network))


def resolve(rules, marker, cluster_sg, vpc_cidrs):
    """Desired rules as identity tuples -> description."""
    desired = {}
    for rule in rules:
        proto = str(rule.get("proto", "tcp"))
        port = rule["port"]
        to_port = rule.get("to_port", port)
        description = "%s %s" % (marker, rule["description"])
        for source in rule["sources"]:
            if source == "cluster_security_group":
                if not cluster_sg:
                    raise RuleError("a rule asks for the cluster security group, but none was found: give "
                                    "cluster_security_group_id or a cluster_name whose EKS cluster has one")
                targets = [("group", cluster_sg)]
            elif source == "vpc":
                if not vpc_cidrs:
                    raise RuleError("a rule asks for the VPC's CIDR, but the security group's VPC has none")
                targets = [("cidr6" if ":" in c else "cidr", c) for c in vpc_cidrs]
            elif GROUP_ID.match(str(source)):
                targets = [("group", source)]
            else:
                network = str(ipaddress.ip_network(str(source)))
                targets = [("cidr6" if ":" in network else "cidr", network)]
            for kind, value in targets:
                desired[(proto, port, to_port, kind, value)] = description
    return desired


def entries(permissions):
    """EC2 IpPermissions -> {identity tuple: the rule's entry as EC2 gave it}."""
    out = {}
    for perm in permissions or []:
        proto = str(perm.get("IpProtocol"))
        from_port = perm.get("FromPort", -1)
        to_port = perm.get("ToPort", -1)
        for item in perm.get("IpRanges") or []:
            out[(proto, from_port, to_port, "cidr", item["CidrIp"])] = item
        for item in perm.get("Ipv6Ranges") or []:
            out[(proto, from_port, to_port, "cidr6", item["CidrIpv6"])] = item
        for item in perm.get("UserIdGroupPairs") or []:
            out[(proto, from_port, to_port, "group", item["GroupId"])] = item
    return out


def flatten(permissions):
    """EC2 IpPermissions -> {identity tuple: description}."""
    return dict((k, v.get("Description", "")) for k, v in entries(permissions).items())


def ours(current, marker):
    return dict((k, v) for k, v in current.items() if (v or "").startswith(marker))


def plan(current, desired, marker, state):
    """(to_add, to_remove, to_describe) as identity -> description maps.

    Only rules carrying the marker are ever removed or re-described; a rule
    of someone else with the same identity already lets the traffic in, so it
    is left alone and not added twice.
    """
    mine = ours(current, marker)
    if state == "absent":
        return {}, mine, {}
    to_add = dict((k, v) for k, v in desired.items() if k not in current)
    to_remove = dict((k, v) for k, v in mine.items() if k not in desired)
    to_describe = dict((k, v) for k, v in desired.items() if k in mine and mine[k] != v)
    return to_add, to_remove, to_describe


def permission(identity, description=None, entry=None):
    """One identity tuple as an EC2 IpPermission (``entry``: the rule as EC2 gave it, for revokes)."""
    proto, from_port, to_port, kind, value = identity
    perm = {"IpProtocol": proto}
    if proto != "-1":
        perm["FromPort"] = from_port
        perm["ToPort"] = to_port
    entry_key, list_key = {"cidr": ("CidrIp", "IpRanges"), "cidr6": ("CidrIpv6", "Ipv6Ranges"),
                           "group": ("GroupId", "UserIdGroupPairs")}[kind]
    item = dict(entry) if entry else {entry_key: value}
    if description is not None:
        item["Description"] = description
    perm[list_key] = [item]
    return perm


def as_list(rules):
    """Identity map -> sorted readable list for results and diffs."""
    return [{"proto": k[0], "from_port": k[1], "to_port": k[2], "source": k[4], "description": v}
            for k, v in sorted(rules.items(), key=lambda item: (item[0][1], item[0][3], item[0][4]))]


def pick_groups(groups, cluster_name):
    """(node group, cluster group) among security groups tagged for an EKS cluster."""
    def tags(group):
        return dict((t["Key"], t["Value"]) for t in group.get("Tags") or [])

    tagged = [g for g in groups if tags(g).get("kubernetes.io/cluster/%s" % cluster_name) in ("owned", "shared")
              or tags(g).get("aws:eks:cluster-name") == cluster_name]
    cluster = [g for g in tagged if tags(g).get("aws:eks:cluster-name") == cluster_name]
    nodes = [g for g in tagged if g not in cluster]
    node = sorted(nodes, key=lambda g: g["GroupId"])[0] if nodes else (cluster[0] if cluster else None)
    return node, (cluster[0] if cluster else None)
