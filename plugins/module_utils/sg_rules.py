# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Inbound rules owned by this collection on an EC2 security group.

A rule's identity is (protocol, from port, to port, source); its description
only marks ownership (it starts with the marker), so editing a description
never re-creates a rule and rules of others are never touched. Protocols are
normalised as EC2 returns them ("6" is tcp; "-1" has no ports), so a rule
EC2 gives back is the rule that was asked for.

Where a rule goes: each node's instance carries several groups; a rule is
needed for a node only when none of its groups already lets that traffic in
(a rule of someone else covering the protocol, ports and source), and then it
goes on as few of the nodes' groups as cover them all.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.ec2 import describe_instances, describe_security_groups
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError

try:
    import botocore
    import botocore.session
    AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, AnsibleAWSError)
except ImportError:
    AWS_ERRORS = (AnsibleAWSError,)  # AnsibleAWSModule reports the missing library

SYMBOLIC = ("cluster_security_group", "vpc")
GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
PROTOCOLS = ("tcp", "udp", "icmp", "-1")
# EC2 accepts protocol numbers too and may return them (IANA numbers)
PROTOCOL_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}
WIDEST_IPV4 = 8
WIDEST_IPV6 = 32


# EC2 keeps a rule description of at most 255 characters (AuthorizeSecurityGroupIngress, IpRange.Description)
DESCRIPTION_MAX = 255
# EC2 takes at most 200 values in one filter (FilterLimitExceeded) and 1,000 instance ids in one DescribeInstances
INSTANCE_BATCH = 200
# instances that no longer run anything: a Node may outlive its instance for a while (Spot, consolidation)
GONE_STATES = ("shutting-down", "terminated")


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


# ---------------------------------------------------------------- the security_group_rules module's run: what AWS
# says (EKS cluster, the nodes' instances, the VPC's groups), the plan from the pure functions above, the writes

# Error codes of EC2 (and STS) for a key that does not exist, a wrong secret or an expired session.
AUTH_ERRORS = ("AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException",
               "ExpiredToken", "InvalidAccessKeyId")


class AwsError(MeshError):
    """An AWS call that failed: reported with the call's error (module.fail_json_aws)."""

    def __init__(self, message, cause):
        MeshError.__init__(self, message)
        self.cause = cause

    def fail(self, module, **extra):
        # (amazon.aws's helpers wrap the botocore error in an AnsibleAWSError that carries it as .exception)
        module.fail_json_aws(getattr(self.cause, "exception", None) or self.cause, msg=self.message, **extra)


def default_marker(params):
    """The marker when none is given: one per cluster (or per set of groups), never a prefix of another's."""
    if params["cluster_name"]:
        return "istio_demo.mesh:%s:" % params["cluster_name"]
    return "istio_demo.mesh:groups:"


def validate(params):
    """Every input checked before AWS is asked anything; raise RuleError naming option, value, expectation.
    Returns (rules, marker, instances, skipped)."""
    rules = [dict((k, v) for k, v in r.items() if v is not None) for r in params["rules"]]
    if params["profile"]:
        profiles = botocore.session.Session().available_profiles
        if params["profile"] not in profiles:
            raise RuleError("profile=%s does not exist in the AWS config files (~/.aws/config, "
                            "~/.aws/credentials): expected one of %s" % (
                                params["profile"], ", ".join(sorted(profiles)) or "no profile there"))
    for name, top in (("widest_ipv4_prefix", 32), ("widest_ipv6_prefix", 128)):
        if not 0 <= params[name] <= top:
            raise RuleError("%s=%r is invalid: expected a prefix length between 0 and %d"
                            % (name, params[name], top))
    if not params["cluster_name"] and not params["group_ids"]:
        raise RuleError("neither cluster_name nor group_ids is given: expected the EKS cluster's name, or "
                        "the security groups to manage")
    marker = params["marker"] or default_marker(params)
    if len(marker) < 4 or re.search(r"\s", marker) or len(marker) > DESCRIPTION_MAX - 2:
        raise RuleError("marker=%r is invalid: expected a distinctive prefix of 4 to %d characters without spaces "
                        "(such as istio_demo.mesh:CLUSTER:)" % (marker, DESCRIPTION_MAX - 2))
    if params["state"] == "present":
        validate_rules(rules, params["allow_world_open"], params["widest_ipv4_prefix"],
                       params["widest_ipv6_prefix"], marker)
    for gid in params["group_ids"]:
        if not GROUP_ID.match(gid):
            raise RuleError("group_ids contains %r: expected a security group id such as "
                            "sg-0123456789abcdef0" % (gid,))
    sg = params["cluster_security_group_id"]
    if sg and not GROUP_ID.match(sg):
        raise RuleError("cluster_security_group_id=%r is invalid: expected a security group id such as "
                        "sg-0123456789abcdef0" % (sg,))
    instances, skipped = [], []
    for index, node in enumerate(params["nodes"]):
        name = node.get("name") or (node.get("metadata") or {}).get("name")
        provider_id = node.get("provider_id") or (node.get("spec") or {}).get("providerID")
        if not name and not provider_id:
            raise RuleError("nodes[%d]=%r is invalid: expected a Node (metadata.name, spec.providerID) or "
                            "a mapping of name and provider_id" % (index, node))
        iid = instance_id(provider_id)
        if iid is None:
            skipped.append({"name": name, "provider_id": provider_id or "", "reason": not_ec2_because(provider_id)})
        else:
            instances.append({"id": iid, "node": name or iid, "provider_id": provider_id, "groups": []})
    return rules, marker, instances, skipped


def run_module(module):
    """The security_group_rules module's run: check every input, read what AWS says, plan and (unless in check
    mode) write; return the result, or raise RuleError / AwsError before or instead of any change."""
    params = module.params
    rules, marker, instances, skipped = validate(params)
    try:
        ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
        view = read(module, ec2, instances, skipped)
    except AWS_ERRORS as exc:
        source = getattr(exc, "exception", None) or exc  # (an AnsibleAWSError carries botocore's error)
        code = (getattr(source, "response", None) or {}).get("Error", {}).get("Code")
        if code in AUTH_ERRORS:
            raise RuleError("AWS refused the credentials (%s): access_key and secret_key (or profile, or the AWS_* "
                            "environment) are invalid for region %s; expected an access key of this account that "
                            "may describe EKS clusters, EC2 instances and change EC2 security groups"
                            % (code, module.region))
        raise AwsError("cannot read the security groups of %s" % (
            "EKS cluster %s" % params["cluster_name"] if params["cluster_name"] else ", ".join(params["group_ids"])),
            exc)
    instances = view["instances"]
    family = view["ip_family"]
    report = {}
    desired = {}
    notes = []
    current = {}
    for gid, perms in view["perms"].items():
        for identity, description in perms.items():
            current[(gid, identity)] = description
    if params["state"] == "present":
        needs = resolve(rules, marker, view["cluster_sg"], view["vpc_cidrs"], family)
        # the rules of others, on every group (those of another account count too, though none is put there)
        foreign = dict((gid, dict((k, v) for k, v in perms.items() if not owns(v, marker)))
                       for gid, perms in view["all_perms"].items())
        mine = dict((gid, set(k for k, v in perms.items() if owns(v, marker)))
                    for gid, perms in view["perms"].items())
        if params["group_ids"]:
            desired = place_on_groups(needs, params["group_ids"], foreign, view["peers"], view["vpc_cidrs"],
                                      params["only_where_missing"], family)
        elif instances:
            desired, report = place(needs, instances, foreign, mine, view["cluster_sg"], view["peers"],
                                    view["vpc_cidrs"], params["only_where_missing"], family, view["locked"])
        else:
            # No node runs on an EC2 instance now (Fargate only, a new Auto Mode cluster, Karpenter at zero, every
            # instance gone): nothing needs opening now, and the rules already made stay for the nodes to come.
            desired = dict((k, v) for k, v in current.items() if owns(v, marker))
            notes.append("no node runs on an EC2 instance now (%d other node(s)): nothing to open; the %d rule(s) "
                         "this marker already holds stay for the nodes to come. Rerun when EC2 nodes exist, or give "
                         "group_ids (for Karpenter, the groups the EC2NodeClass selects)"
                         % (len(view["skipped"]), len(desired)))
        for identity, how in report.items():
            for iid, text in how.items():
                if text.startswith("needs a rule"):
                    notes.append("instance %s: %s" % (iid, text))
    to_add, to_remove, to_describe = plan_groups(current, desired, marker, params["state"])
    changed = bool(to_add or to_remove or to_describe)
    if changed and not module.check_mode:
        write(ec2, view, to_add, to_remove, to_describe)
    for note in notes:
        module.warn(note)
    before = dict((k, v) for k, v in current.items() if owns(v, marker))
    after = dict((k, v) for k, v in before.items() if k not in to_remove)
    after.update(to_add)
    after.update(to_describe)
    result = dict(changed=changed, marker=marker, cluster_security_group_id=view["cluster_sg"],
                  control_plane_group_ids=sorted(view["peers"]), vpc_id=view["vpc_id"], vpc_cidrs=view["vpc_cidrs"],
                  ip_family=family or "", added=as_list(to_add), removed=as_list(to_remove),
                  updated=as_list(to_describe), rules=as_list(after), groups=describe_groups(view, after, params),
                  nodes=describe_nodes(instances, report), skipped_nodes=view["skipped"], notes=notes)
    if module._diff:
        result["diff"] = {"before": as_list(before), "after": as_list(after)}
    return result


def read_instances(ec2, instances, skipped, interfaces, region):
    """The nodes' instances, 200 ids a call (EC2's limit of filter values; it takes at most 1,000 ids), by filter so
    that an id EC2 no longer knows is left out rather than failing the call. Instances that are gone or going
    (terminated, shutting down) and ids EC2 does not know join ``skipped``. Returns (running instances, the
    instances' account, the VPC)."""
    by_id = dict((i["id"], i) for i in instances)
    ids = sorted(by_id)
    found = {}
    owner = vpc_id = None
    for start in range(0, len(ids), INSTANCE_BATCH):
        # (amazon.aws's paginated DescribeInstances, each page retried on throttling)
        for reservation in describe_instances(
                ec2, Filters=[{"Name": "instance-id", "Values": ids[start:start + INSTANCE_BATCH]}]):
            for instance in reservation.get("Instances") or []:
                found[instance["InstanceId"]] = instance
                owner = owner or reservation.get("OwnerId")
    if ids and not found:
        raise RuleError("nodes: none of the nodes' instances (%s) exists in region %s; expected the instances of "
                        "the cluster's Nodes (is region the cluster's?)" % (", ".join(ids[:5]), region))
    running = []
    for iid in ids:
        node = by_id[iid]
        instance = found.get(iid)
        state = ((instance or {}).get("State") or {}).get("Name")
        if instance is None or state in GONE_STATES:
            skipped.append({"name": node["node"], "provider_id": node["provider_id"],
                            "reason": "instance %s %s" % (iid, state or "no longer exists")})
            continue
        groups = pod_groups(instance, interfaces)
        if groups is None:
            skipped.append({"name": node["node"], "provider_id": node["provider_id"],
                            "reason": "instance %s has no secondary network interface for pods yet "
                                      "(pod_interfaces=secondary)" % iid})
            continue
        node["groups"] = groups
        running.append(node)
        vpc_id = vpc_id or instance.get("VpcId")
    return running, owner, vpc_id


def read(module, ec2, instances, skipped):
    """What AWS says: the cluster's control-plane groups, VPC and IP family, the nodes' groups (read by id: a group
    shared from another account or associated with several VPCs names its owner's VPC), every group of the VPC."""
    params = module.params
    cluster_sg = params["cluster_security_group_id"]
    peers = set()
    vpc_id = None
    family = None
    if params["cluster_name"]:
        eks = module.client("eks", retry_decorator=AWSRetry.jittered_backoff())
        try:
            cluster = eks.describe_cluster(aws_retry=True, name=params["cluster_name"])["cluster"]
        except is_boto3_error_code("ResourceNotFoundException"):
            raise RuleError("cluster_name=%s: no EKS cluster of that name in region %s: check the name "
                            "and the region" % (params["cluster_name"], module.region))
        vpc_config = cluster.get("resourcesVpcConfig") or {}
        cluster_sg = cluster_sg or vpc_config.get("clusterSecurityGroupId")
        peers.update(vpc_config.get("securityGroupIds") or [])
        vpc_id = vpc_config.get("vpcId")
        family = (cluster.get("kubernetesNetworkConfig") or {}).get("ipFamily") or "ipv4"
    if cluster_sg:
        peers.add(cluster_sg)
    explicit = []
    if params["group_ids"]:
        try:
            explicit = ec2.describe_security_groups(aws_retry=True, GroupIds=params["group_ids"])["SecurityGroups"]
        except is_boto3_error_code("InvalidGroup.NotFound") as exc:
            raise RuleError("group_ids=%s: %s in region %s; expected existing security group ids"
                            % (",".join(params["group_ids"]), exc.response["Error"].get("Message"), module.region))
        vpc_id = vpc_id or explicit[0]["VpcId"]
    owner = None
    if instances:
        instances, owner, instances_vpc = read_instances(ec2, instances, skipped, params["pod_interfaces"],
                                                         module.region)
        vpc_id = vpc_id or instances_vpc
    if not vpc_id:
        if params["state"] == "present" and not skipped:
            raise RuleError("cannot tell the cluster's VPC: give cluster_name, nodes or group_ids")
        return empty_view(instances, skipped, cluster_sg, peers, family)
    groups = dict((g["GroupId"], g) for g in describe_security_groups(
        ec2, Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]))
    groups.update((g["GroupId"], g) for g in explicit)
    missing = sorted(set(g for i in instances for g in i["groups"]) - set(groups))
    if missing:
        groups.update((g["GroupId"], g) for g in ec2.describe_security_groups(
            aws_retry=True, GroupIds=missing)["SecurityGroups"])
    vpcs = ec2.describe_vpcs(aws_retry=True, VpcIds=[vpc_id])["Vpcs"]
    owner = owner or (vpcs[0].get("OwnerId") if vpcs else None)
    locked = dict((gid, g.get("OwnerId")) for gid, g in groups.items()
                  if owner and g.get("OwnerId") and g.get("OwnerId") != owner)
    return {"instances": instances, "skipped": skipped, "cluster_sg": cluster_sg, "peers": peers, "vpc_id": vpc_id,
            "vpc_cidrs": vpc_blocks(vpcs), "ip_family": family, "locked": locked, "groups": groups,
            "perms": dict((gid, flatten(g.get("IpPermissions"))) for gid, g in groups.items() if gid not in locked),
            "all_perms": dict((gid, flatten(g.get("IpPermissions"))) for gid, g in groups.items()),
            "entries": dict((gid, entries(g.get("IpPermissions"))) for gid, g in groups.items())}


def empty_view(instances, skipped, cluster_sg, peers, family):
    """Nothing to read: no VPC is known (no EC2 node, no cluster, no group)."""
    return {"instances": instances, "skipped": skipped, "cluster_sg": cluster_sg, "peers": peers, "vpc_id": None,
            "vpc_cidrs": [], "ip_family": family, "locked": {}, "groups": {}, "perms": {}, "all_perms": {},
            "entries": {}}


def write(ec2, view, to_add, to_remove, to_describe):
    """Revoke, authorize and re-describe, one call of each per group."""
    for gid in sorted(set(k[0] for k in list(to_add) + list(to_remove) + list(to_describe))):
        try:
            removing = [k[1] for k in to_remove if k[0] == gid]
            if removing:
                ec2.revoke_security_group_ingress(aws_retry=True, GroupId=gid, IpPermissions=[
                    permission(k, entry=view["entries"][gid][k]) for k in removing])
            adding = dict((k[1], v) for k, v in to_add.items() if k[0] == gid)
            if adding:
                ec2.authorize_security_group_ingress(aws_retry=True, GroupId=gid, IpPermissions=[
                    permission(k, v) for k, v in adding.items()])
            describing = dict((k[1], v) for k, v in to_describe.items() if k[0] == gid)
            if describing:
                ec2.update_security_group_rule_descriptions_ingress(aws_retry=True, GroupId=gid, IpPermissions=[
                    permission(k, v) for k, v in describing.items()])
        except AWS_ERRORS as exc:
            raise AwsError("cannot change the inbound rules of %s" % gid, exc)


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
    for gid in why:
        if gid in view["locked"]:
            why[gid].append("owned by account %s (shared with this one): read, never changed" % view["locked"][gid])
    out = []
    for gid in sorted(why):
        group = view["groups"].get(gid) or {}
        owned = as_list(dict((k, v) for k, v in after.items() if k[0] == gid))
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
