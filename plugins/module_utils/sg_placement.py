# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Where a rule goes: each node's instance carries several groups; a rule is
needed for a node only when none of its groups already lets that traffic in
(a rule of someone else covering the protocol, ports and source), and then it
goes on as few of the nodes' groups as cover them all.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.istio_demo.mesh.plugins.module_utils.sg_rules import RuleError, owns


# ---------------------------------------------------------------- where the rules go

def _network(kind, value):
    return ipaddress.ip_network(value, strict=False) if kind in ("cidr", "cidr6") else None


def covers(existing, need, peers, vpc_cidrs, family=None):
    """Whether rule ``existing`` already lets the traffic of ``need`` in (both identity tuples).

    ``peers``: group ids that stand for the need's group source (the cluster security group and the other
    groups on the control plane's interfaces are one source: the API server calls from any of them). A CIDR
    rule covering every VPC block covers a group source too: the group's members have addresses in the VPC -
    but only a rule of the cluster's IP family (``family``): on an IPv6 cluster the API server reaches pods over
    IPv6, and an IPv4 rule lets none of that in.
    """
    eproto, efrom, eto, ekind, evalue = existing
    nproto, nfrom, nto, nkind, nvalue = need
    if eproto != "-1":
        if eproto != nproto:
            return False
        if nproto in ("tcp", "udp") and not (efrom <= nfrom and eto >= nto):
            return False
        if nproto not in ("tcp", "udp") and (efrom, eto) != (nfrom, nto) and efrom != -1:
            return False
    if nkind == "group":
        if ekind == "group":
            return evalue == nvalue or (nvalue in peers and evalue in peers)
        network = _network(ekind, evalue)
        if family in ("ipv4", "ipv6") and network.version != (6 if family == "ipv6" else 4):
            return False
        blocks = [ipaddress.ip_network(c) for c in vpc_cidrs if ipaddress.ip_network(c).version == network.version]
        return bool(blocks) and all(b.subnet_of(network) for b in blocks)
    if ekind != nkind:
        return False
    return _network(nkind, nvalue).subnet_of(_network(ekind, evalue))


def covered_by(rules, need, peers, vpc_cidrs, family=None):
    """The first of ``rules`` (identity -> description) that covers ``need``, or None."""
    for identity in sorted(rules, key=str):
        if covers(identity, need, peers, vpc_cidrs, family):
            return identity
    return None


def describe(identity):
    """A rule as a person reads it: 'all traffic from sg-1', 'tcp 1025-65535 from sg-2', 'tcp 15017 from 10.0.0.0/16'."""
    proto, from_port, to_port, _kind, value = identity
    if proto == "-1":
        return "all traffic from %s" % value
    ports = str(from_port) if from_port == to_port else "%s-%s" % (from_port, to_port)
    return "%s %s from %s" % (proto, ports, value)


def place(needs, instances, foreign, mine, cluster_sg, peers, vpc_cidrs, only_where_missing=True, family=None,
          locked=None):
    """Where each needed rule goes.

    ``needs``: identity -> description; ``instances``: [{"id", "groups": [...]}]; ``foreign``: group id ->
    {identity: description} of rules that are not ours; ``mine``: group id -> set of our identities there now;
    ``locked``: group id -> the account that owns it, for groups this account cannot change (shared from another
    account): their rules count, but no rule is put on them.
    Returns (placement {(group id, identity): description}, report {identity: {instance id: how}}) where how is
    "allowed by <group> (<rule>)", "rule on <group>" or "needs a rule ... (owned by account N)".
    Greedy cover: the group shared by most uncovered instances first; then one that holds the rule already (a
    rerun moves nothing); then not the cluster security group (shared with the control plane); then lowest id.
    """
    locked = locked or {}
    placement = {}
    report = {}
    for need in sorted(needs, key=str):
        how = report.setdefault(need, {})
        uncovered = []
        for instance in instances:
            hit = None
            if only_where_missing:
                for gid in instance["groups"]:
                    rule = covered_by(foreign.get(gid) or {}, need, peers, vpc_cidrs, family)
                    if rule is not None:
                        hit = (gid, rule)
                        break
            if hit:
                how[instance["id"]] = "allowed by %s (%s)" % (hit[0], describe(hit[1]))
            else:
                uncovered.append(instance)
        while uncovered:
            candidates = sorted(set(g for i in uncovered for g in i["groups"] if g not in locked))
            if not candidates:
                for instance in uncovered:
                    if not instance["groups"]:
                        raise RuleError("instance %s has no security group to put the rule on" % instance["id"])
                    how[instance["id"]] = "needs a rule on %s, owned by %s: ask that account's owner to add %s" % (
                        " or ".join(instance["groups"]),
                        ", ".join(sorted(set("account %s" % locked[g] for g in instance["groups"]))), describe(need))
                break
            best = max(candidates, key=lambda g: (sum(1 for i in uncovered if g in i["groups"]),
                                                  need in (mine.get(g) or ()), g != cluster_sg))
            placement[(best, need)] = needs[need]
            for instance in [i for i in uncovered if best in i["groups"]]:
                how[instance["id"]] = "rule on %s" % best
            uncovered = [i for i in uncovered if best not in i["groups"]]
    return placement, report


def place_on_groups(needs, group_ids, foreign, peers, vpc_cidrs, only_where_missing=True, family=None):
    """Explicit groups: each needed rule on each group that does not let that traffic in already."""
    placement = {}
    for gid in group_ids:
        for need, description in needs.items():
            if only_where_missing and covered_by(foreign.get(gid) or {}, need, peers, vpc_cidrs, family) is not None:
                continue
            placement[(gid, need)] = description
    return placement


def plan_groups(current, desired, marker, state):
    """Across groups: current {(gid, identity): description} of every rule; desired {(gid, identity): desc}.
    Returns (to_add, to_remove, to_describe) keyed the same way."""
    mine = dict((k, v) for k, v in current.items() if owns(v, marker))
    if state == "absent":
        return {}, mine, {}
    to_add = dict((k, v) for k, v in desired.items() if k not in current)
    to_remove = dict((k, v) for k, v in mine.items() if k not in desired)
    to_describe = dict((k, v) for k, v in desired.items() if k in mine and mine[k] != v)
    return to_add, to_remove, to_describe


def instance_id(provider_id):
    """aws:///us-east-1a/i-0123 (a Node's spec.providerID) or i-0123 -> i-0123; None when it is neither."""
    match = re.match(r"^(?:aws://(?:/[^/]*)?/)?(i-[0-9a-f]{8,17})$", str(provider_id or ""))
    return match.group(1) if match else None


def not_ec2_because(provider_id):
    """Why a Node without an EC2 instance has no security group of its own to manage."""
    provider_id = str(provider_id or "")
    if "fargate" in provider_id:
        # a Fargate pod's node: the pod sits in the cluster security group, which admits all traffic from itself
        # and so from the control plane's interfaces (EKS user guide, "sec-group-reqs", "fargate")
        return "Fargate (its pod uses the cluster security group, which admits the control plane)"
    if provider_id.startswith("eks-hybrid://"):
        return "EKS hybrid node (on your own network: open 15017 from the control plane there)"
    if not provider_id:
        return "no spec.providerID"
    return "not an EC2 instance (%s)" % provider_id.split(":", 1)[0]


def pod_groups(found, interfaces):
    """The groups of the interfaces that carry pod IPs on an instance as DescribeInstances returns it.

    ``primary``: the primary interface (device 0) - the VPC CNI gives the secondary interfaces it attaches for pod
    IPs the primary's groups. ``secondary``: the interfaces the VPC CNI attaches beyond it - with custom networking
    they take the groups of the ENIConfig and pods use only them (EKS user guide, "cni-custom-network").
    Returns None for ``secondary`` when the instance has no secondary interface yet."""
    primary, others = [], []
    for eni in found.get("NetworkInterfaces") or []:
        attachment = eni.get("Attachment") or {}
        first = attachment.get("DeviceIndex", 0) == 0 and attachment.get("NetworkCardIndex", 0) == 0
        target = primary if first else others
        for group in eni.get("Groups") or []:
            if group["GroupId"] not in target:
                target.append(group["GroupId"])
    if interfaces == "secondary":
        return others or None
    return primary or [g["GroupId"] for g in found.get("SecurityGroups") or []]
