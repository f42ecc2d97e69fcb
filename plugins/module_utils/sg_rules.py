# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Inbound rules owned by this collection on an EC2 security group.

A rule's identity is (protocol, from port, to port, source); its description
only marks ownership (it starts with the marker), so editing a description
never re-creates a rule and rules of others are never touched. Protocols are
normalised as EC2 returns them ("6" is tcp; "-1" has no ports), so a rule
EC2 gives back is the rule that was asked for.

Where a rule goes is in ``sg_placement``; the security_group_rules module's
reads and writes of AWS in ``sg_aws``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError


SYMBOLIC = ("cluster_security_group", "vpc")
GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
PROTOCOLS = ("tcp", "udp", "icmp", "-1")
# EC2 accepts protocol numbers too and may return them (IANA numbers)
PROTOCOL_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}
WIDEST_IPV4 = 8
WIDEST_IPV6 = 32


# EC2 keeps a rule description of at most 255 characters (AuthorizeSecurityGroupIngress, IpRange.Description)
DESCRIPTION_MAX = 255


class RuleError(MeshError, ValueError):
    pass


def wanted_rules(rules, opened, optional, admin_cidrs):
    """The rules needed and the ones opened by name (``opened``, names of ``optional``), each source ``admin``
    expanded to ``admin_cidrs``; a rule left without a source is dropped."""
    unknown = [name for name in opened if name not in optional]
    if unknown:
        raise RuleError("opened %s unknown: expected names among %s" % (", ".join(unknown), ", ".join(sorted(optional))))
    out = []
    for rule in list(rules) + [optional[name] for name in opened]:
        sources = []
        for source in rule.get("sources") or []:
            sources.extend(admin_cidrs if source == "admin" else [source])
        if sources:
            out.append(dict(rule, sources=sources))
    return out


def owns(description, marker):
    """Whether a rule's description marks it as owned by ``marker``: the marker itself, or the marker and a space
    before the rule's own words. A marker is never a prefix of another one's rules: "istio_demo.mesh:" does not
    own "istio_demo.mesh:demo: ...", nor "istio_demo.mesh:demo" "istio_demo.mesh:demo-2 ..."."""
    description = description or ""
    return description == marker or description.startswith(marker + " ")


def proto_name(proto):
    proto = str(proto).lower()
    return PROTOCOL_NUMBERS.get(proto, proto)


def ports_of(proto, from_port, to_port):
    """EC2 keeps no ports for protocol -1; every other protocol keeps what was given."""
    if proto == "-1":
        return -1, -1
    return from_port, to_port


def validate_rules(rules, allow_world, widest_ipv4=WIDEST_IPV4, widest_ipv6=WIDEST_IPV6, marker=""):
    """What the module's argument spec cannot say about each rule (its types, required keys and the protocol's
    choices come first): ports in range and in order, sources, a description EC2 accepts (the marker, a space and
    the rule's own words within EC2's 255 characters). Raise RuleError."""
    for index, rule in enumerate(rules):
        where = "rules[%d]" % index
        port = rule["port"]
        to_port = rule.get("to_port", port)
        for name, value in (("port", port), ("to_port", to_port)):
            if not 1 <= value <= 65535:
                raise RuleError("%s.%s=%r is invalid: expected a port number between 1 and 65535" % (
                    where, name, value))
        if to_port < port:
            raise RuleError("%s.to_port=%r is smaller than port=%r" % (where, to_port, port))
        sources = rule.get("sources")
        if not isinstance(sources, list) or not sources:
            raise RuleError("%s.sources=%r is invalid: expected a non-empty list of CIDRs, security group ids, "
                            "'cluster_security_group' or 'vpc'" % (where, sources))
        for source in sources:
            check_source("%s.sources" % where, source, allow_world, widest_ipv4, widest_ipv6)
        description = rule.get("description")
        if not description or not isinstance(description, str) or len(description) > 200:
            raise RuleError("%s.description=%r is invalid: expected a short text saying what the rule is for"
                            % (where, description))
        if not re.match(r"^[A-Za-z0-9. _:/()#,@\[\]+=&;{}!$*-]*$", description):
            raise RuleError("%s.description=%r has characters EC2 does not accept in rule descriptions" % (
                where, description))
        stored = len(marker) + 1 + len(description) if marker else len(description)
        if stored > DESCRIPTION_MAX:
            raise RuleError("%s.description=%r is too long with the marker %r: EC2 keeps at most %d characters and "
                            "the two make %d; expected a shorter description or marker" % (
                                where, description, marker, DESCRIPTION_MAX, stored))


def check_source(where, source, allow_world, widest_ipv4=WIDEST_IPV4, widest_ipv6=WIDEST_IPV6):
    """A source is symbolic, a group id or a CIDR no wider than the widest prefix allowed (unless the world is
    allowed by name): 0.0.0.0/1 plus 128.0.0.0/1 is the world too."""
    if source in SYMBOLIC or (isinstance(source, str) and GROUP_ID.match(source)):
        return
    try:
        network = ipaddress.ip_network(str(source), strict=True)
    except ValueError:
        raise RuleError("%s contains %r, which is neither a CIDR (such as 10.0.0.0/16, host bits zero), a security "
                        "group id (sg-...), 'cluster_security_group' nor 'vpc'" % (where, source))
    widest = widest_ipv4 if network.version == 4 else widest_ipv6
    if network.prefixlen < widest and not allow_world:
        raise RuleError("%s contains %s, which is wider than /%d (widest_ipv%d_prefix) and opens the port to a large "
                        "part of the internet: give a narrower network, or set allow_world_open (the role's "
                        "aws_security_groups_allow_world_open variable) to true to open it on purpose"
                        % (where, network, widest, network.version))


def in_family(cidrs, family):
    """The CIDRs of the cluster's IP family (ipv4 / ipv6); all of them when the family is not known."""
    if family not in ("ipv4", "ipv6"):
        return list(cidrs)
    version = 6 if family == "ipv6" else 4
    return [c for c in cidrs if ipaddress.ip_network(c, strict=False).version == version]


def resolve(rules, marker, cluster_sg, vpc_cidrs, family=None):
    """Desired rules as identity tuples -> description. ``family``: the cluster's IP family (``vpc`` means the
    VPC's blocks of that family: pods of an IPv6 cluster talk IPv6)."""
    desired = {}
    for rule in rules:
        proto = proto_name(rule.get("proto", "tcp"))
        port, to_port = ports_of(proto, rule["port"], rule.get("to_port", rule["port"]))
        description = "%s %s" % (marker, rule["description"])
        for source in rule["sources"]:
            if source == "cluster_security_group":
                if not cluster_sg:
                    raise RuleError("a rule asks for the cluster security group, but none was found: give "
                                    "cluster_security_group_id or a cluster_name whose EKS cluster has one")
                targets = [("group", cluster_sg)]
            elif source == "vpc":
                blocks = in_family(vpc_cidrs, family)
                if not blocks:
                    raise RuleError("a rule asks for the VPC's CIDR, but the cluster's VPC has no %s block"
                                    % (family or "CIDR"))
                targets = [("cidr6" if ":" in c else "cidr", c) for c in blocks]
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
        proto = proto_name(perm.get("IpProtocol"))
        from_port, to_port = ports_of(proto, perm.get("FromPort", -1), perm.get("ToPort", -1))
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


def as_list(rules, group_id=None):
    """Identity map -> sorted readable list for results and diffs (keys may be (group, identity) pairs)."""
    out = []
    for key, description in rules.items():
        gid, identity = key if group_id is None else (group_id, key)
        out.append({"group_id": gid, "proto": identity[0], "from_port": identity[1], "to_port": identity[2],
                    "source": identity[4], "description": description})
    return sorted(out, key=lambda r: (r["group_id"], r["from_port"], r["source"]))
