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
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError

try:
    import botocore
    import botocore.session
    AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
except ImportError:
    AWS_ERRORS = ()  # AnsibleAWSModule reports the missing library

SYMBOLIC = ("cluster_security_group", "vpc")
GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
PROTOCOLS = ("tcp", "udp", "icmp", "-1")
# EC2 accepts protocol numbers too and may return them (IANA numbers)
PROTOCOL_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}
WIDEST_IPV4 = 8
WIDEST_IPV6 = 32


class RuleError(MeshError, ValueError):
    pass


def proto_name(proto):
    proto = str(proto).lower()
    return PROTOCOL_NUMBERS.get(proto, proto)


def ports_of(proto, from_port, to_port):
    """EC2 keeps no ports for protocol -1; every other protocol keeps what was given."""
    if proto == "-1":
        return -1, -1
    return from_port, to_port


def validate_rules(rules, allow_world, widest_ipv4=WIDEST_IPV4, widest_ipv6=WIDEST_IPV6):
    """What the module's argument spec cannot say about each rule (its types, required keys and the protocol's
    choices come first): ports in range and in order, sources, a description EC2 accepts. Raise RuleError."""
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


def resolve(rules, marker, cluster_sg, vpc_cidrs):
    """Desired rules as identity tuples -> description."""
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


def covers(existing, need, peers, vpc_cidrs):
    """Whether rule ``existing`` already lets the traffic of ``need`` in (both identity tuples).

    ``peers``: group ids that stand for the need's group source (the cluster security group and the other
    groups on the control plane's interfaces are one source: the API server calls from any of them). A CIDR
    rule covering every VPC block covers a group source too: the group's members have addresses in the VPC.
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
        blocks = [ipaddress.ip_network(c) for c in vpc_cidrs if ipaddress.ip_network(c).version == network.version]
        return bool(blocks) and all(b.subnet_of(network) for b in blocks)
    if ekind != nkind:
        return False
    return _network(nkind, nvalue).subnet_of(_network(ekind, evalue))


def covered_by(rules, need, peers, vpc_cidrs):
    """The first of ``rules`` (identity -> description) that covers ``need``, or None."""
    for identity in sorted(rules, key=str):
        if covers(identity, need, peers, vpc_cidrs):
            return identity
    return None


def describe(identity):
    """A rule as a person reads it: 'all traffic from sg-1', 'tcp 1025-65535 from sg-2', 'tcp 15017 from 10.0.0.0/16'."""
    proto, from_port, to_port, _kind, value = identity
    if proto == "-1":
        return "all traffic from %s" % value
    ports = str(from_port) if from_port == to_port else "%s-%s" % (from_port, to_port)
    return "%s %s from %s" % (proto, ports, value)


def place(needs, instances, foreign, mine, cluster_sg, peers, vpc_cidrs, only_where_missing=True):
    """Where each needed rule goes.

    ``needs``: identity -> description; ``instances``: [{"id", "groups": [...]}]; ``foreign``: group id ->
    {identity: description} of rules that are not ours; ``mine``: group id -> set of our identities there now.
    Returns (placement {(group id, identity): description}, report {identity: {instance id: how}}) where how is
    "allowed by <group> (<rule>)" or "rule on <group>".
    Greedy cover: the group shared by most uncovered instances first; then one that holds the rule already (a
    rerun moves nothing); then not the cluster security group (shared with the control plane); then lowest id.
    """
    placement = {}
    report = {}
    for need in sorted(needs, key=str):
        how = report.setdefault(need, {})
        uncovered = []
        for instance in instances:
            hit = None
            if only_where_missing:
                for gid in instance["groups"]:
                    rule = covered_by(foreign.get(gid) or {}, need, peers, vpc_cidrs)
                    if rule is not None:
                        hit = (gid, rule)
                        break
            if hit:
                how[instance["id"]] = "allowed by %s (%s)" % (hit[0], describe(hit[1]))
            else:
                uncovered.append(instance)
        while uncovered:
            candidates = sorted(set(g for i in uncovered for g in i["groups"]))
            if not candidates:
                raise RuleError("instance %s has no security group to put the rule on" % uncovered[0]["id"])
            best = max(candidates, key=lambda g: (sum(1 for i in uncovered if g in i["groups"]),
                                                  need in (mine.get(g) or ()), g != cluster_sg))
            placement[(best, need)] = needs[need]
            for instance in [i for i in uncovered if best in i["groups"]]:
                how[instance["id"]] = "rule on %s" % best
            uncovered = [i for i in uncovered if best not in i["groups"]]
    return placement, report


def place_on_groups(needs, group_ids, foreign, peers, vpc_cidrs, only_where_missing=True):
    """Explicit groups: each needed rule on each group that does not let that traffic in already."""
    placement = {}
    for gid in group_ids:
        for need, description in needs.items():
            if only_where_missing and covered_by(foreign.get(gid) or {}, need, peers, vpc_cidrs) is not None:
                continue
            placement[(gid, need)] = description
    return placement


def plan_groups(current, desired, marker, state):
    """Across groups: current {(gid, identity): description} of every rule; desired {(gid, identity): desc}.
    Returns (to_add, to_remove, to_describe) keyed the same way."""
    mine = dict((k, v) for k, v in current.items() if (v or "").startswith(marker))
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


def validate(params):
    """Every input checked before AWS is asked anything; raise RuleError naming option, value, expectation."""
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
    if params["state"] == "present":
        validate_rules(rules, params["allow_world_open"], params["widest_ipv4_prefix"],
                       params["widest_ipv6_prefix"])
    if not params["marker"] or len(params["marker"]) < 4:
        raise RuleError("marker=%r is invalid: expected a distinctive prefix of at least 4 characters"
                        % (params["marker"],))
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
            skipped.append({"name": name, "provider_id": provider_id or ""})
        else:
            instances.append({"id": iid, "node": name or iid, "groups": []})
    if not params["cluster_name"] and not params["group_ids"]:
        raise RuleError("neither cluster_name nor group_ids is given: expected the EKS cluster's name, or "
                        "the security groups to manage")
    if params["state"] == "present" and not params["group_ids"] and not instances:
        raise RuleError("nodes holds no EC2 instance (%d other nodes): expected the cluster's Nodes (their "
                        "spec.providerID aws:///ZONE/i-...) to find the security groups they use - start a "
                        "node group first - or group_ids (for Karpenter, the groups your EC2NodeClass "
                        "selects)" % len(skipped))
    return rules, instances, skipped


def run_module(module):
    """The security_group_rules module's run: check every input, read what AWS says, plan and (unless in check
    mode) write; return the result, or raise RuleError / AwsError before or instead of any change."""
    params = module.params
    rules, instances, skipped = validate(params)
    try:
        ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
        view = read(module, ec2, instances)
    except AWS_ERRORS as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code in AUTH_ERRORS:
            raise RuleError("AWS refused the credentials (%s): access_key and secret_key (or profile, or the AWS_* "
                            "environment) are invalid for region %s; expected an access key of this account that "
                            "may describe EKS clusters, EC2 instances and change EC2 security groups"
                            % (code, module.region))
        raise AwsError("cannot read the security groups of %s" % (
            "EKS cluster %s" % params["cluster_name"] if params["cluster_name"] else ", ".join(params["group_ids"])),
            exc)
    marker = params["marker"]
    report = {}
    desired = {}
    if params["state"] == "present":
        needs = resolve(rules, marker, view["cluster_sg"], view["vpc_cidrs"])
        foreign = dict((gid, dict((k, v) for k, v in perms.items() if not (v or "").startswith(marker)))
                       for gid, perms in view["perms"].items())
        mine = dict((gid, set(k for k, v in perms.items() if (v or "").startswith(marker)))
                    for gid, perms in view["perms"].items())
        if params["group_ids"]:
            desired = place_on_groups(needs, params["group_ids"], foreign, view["peers"], view["vpc_cidrs"],
                                      params["only_where_missing"])
        else:
            desired, report = place(needs, instances, foreign, mine, view["cluster_sg"], view["peers"],
                                    view["vpc_cidrs"], params["only_where_missing"])
    current = {}
    for gid, perms in view["perms"].items():
        for identity, description in perms.items():
            current[(gid, identity)] = description
    to_add, to_remove, to_describe = plan_groups(current, desired, marker, params["state"])
    changed = bool(to_add or to_remove or to_describe)
    if changed and not module.check_mode:
        write(ec2, view, to_add, to_remove, to_describe)
    before = dict((k, v) for k, v in current.items() if (v or "").startswith(marker))
    after = dict((k, v) for k, v in before.items() if k not in to_remove)
    after.update(to_add)
    after.update(to_describe)
    result = dict(changed=changed, cluster_security_group_id=view["cluster_sg"],
                  control_plane_group_ids=sorted(view["peers"]), vpc_id=view["vpc_id"], vpc_cidrs=view["vpc_cidrs"],
                  added=as_list(to_add), removed=as_list(to_remove), updated=as_list(to_describe),
                  rules=as_list(after), groups=describe_groups(view, after, params),
                  nodes=describe_nodes(instances, report), skipped_nodes=skipped)
    if module._diff:
        result["diff"] = {"before": as_list(before), "after": as_list(after)}
    return result


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
            raise RuleError("cluster_name=%s: no EKS cluster of that name in region %s: check the name "
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
            raise RuleError("group_ids=%s: %s in region %s; expected existing security group ids"
                            % (",".join(params["group_ids"]), exc.response["Error"].get("Message"), module.region))
        vpc_id = vpc_id or explicit[0]["VpcId"]
    if instances:
        by_id = dict((i["id"], i) for i in instances)
        try:
            reservations = ec2.describe_instances(aws_retry=True, InstanceIds=sorted(by_id))["Reservations"]
        except is_boto3_error_code(["InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"]) as exc:
            raise RuleError("nodes: %s in region %s; expected the instances of the cluster's Nodes (is "
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
        raise RuleError("cannot tell the cluster's VPC: give cluster_name, nodes or group_ids")
    groups = ec2.get_paginator("describe_security_groups").paginate(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]).build_full_result().get("SecurityGroups", [])
    vpcs = ec2.describe_vpcs(aws_retry=True, VpcIds=[vpc_id])["Vpcs"]
    return {"instances": instances, "cluster_sg": cluster_sg, "peers": peers, "vpc_id": vpc_id, "vpc_cidrs": vpc_blocks(vpcs),
            "groups": dict((g["GroupId"], g) for g in groups),
            "perms": dict((g["GroupId"], flatten(g.get("IpPermissions"))) for g in groups),
            "entries": dict((g["GroupId"], entries(g.get("IpPermissions"))) for g in groups)}


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
