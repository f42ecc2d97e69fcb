# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The security_group_rules module's run: the nodes' instances and groups read
from AWS (paginated and retried through amazon.aws's helpers), the plan made
by ``sg_rules`` and ``sg_placement``, and the writes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.ec2 import describe_instances, describe_security_groups
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError
from ansible_collections.istio_demo.mesh.plugins.module_utils.sg_placement import (
    instance_id,
    not_ec2_because,
    place,
    place_on_groups,
    plan_groups,
    pod_groups,
)
from ansible_collections.istio_demo.mesh.plugins.module_utils.sg_rules import (
    DESCRIPTION_MAX,
    GROUP_ID,
    RuleError,
    as_list,
    entries,
    flatten,
    owns,
    permission,
    resolve,
    validate_rules,
)

try:
    import botocore
    import botocore.session
    AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, AnsibleAWSError)
except ImportError:
    AWS_ERRORS = (AnsibleAWSError,)  # AnsibleAWSModule reports the missing library

# EC2 takes at most 200 values in one filter (FilterLimitExceeded) and 1,000 instance ids in one DescribeInstances
INSTANCE_BATCH = 200
# instances that no longer run anything: a Node may outlive its instance for a while (Spot, consolidation)
GONE_STATES = ("shutting-down", "terminated")


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
