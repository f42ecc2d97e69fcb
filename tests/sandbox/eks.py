"""The AWS side of the sandbox's EKS cluster: VPC, the cluster security group, node security groups and EC2
instances for the nodes, in one of several flavours that real clusters come in.

Each flavour follows what the tool that builds such a cluster really creates (sources in ../shared/REAL_EKS.md):

- ``eksctl-managed``: eksctl's managed node group. Nodes carry the EKS cluster security group (which allows all
  traffic from itself) and eksctl's ClusterSharedNodeSecurityGroup (no ``kubernetes.io/cluster/NAME`` tag).
  eksctl ``pkg/cfn/builder/cluster.go`` (shared node group, ingress from the cluster group), EKS user guide
  "sec-group-reqs" (cluster security group on managed nodes).
- ``eksctl-unmanaged``: eksctl's self-managed node group. Its own group, tagged ``kubernetes.io/cluster/NAME``,
  allows TCP 1025-65535 and 443 from eksctl's ControlPlaneSecurityGroup (eksctl ``pkg/cfn/builder/nodegroup.go``),
  which EKS attaches to the control plane's interfaces (``resourcesVpcConfig.securityGroupIds``).
- ``terraform``: terraform-aws-eks v18+. Nodes carry only ``NAME-node``, tagged ``kubernetes.io/cluster/NAME``,
  whose recommended rules open 443/4443/6443/8443/9443/10250 from the module's cluster group and ephemeral ports
  and DNS between nodes; ``attach_cluster_primary_security_group`` defaults to false. Istio's webhook port 15017 is
  really missing here (istio/istio #36955, #46746).
- ``managed``: an EKS managed node group with no launch-template groups: the cluster security group only.
- ``karpenter``: a small managed node group for system pods (cluster security group) and Karpenter nodes whose
  groups the EC2NodeClass selects by ``karpenter.sh/discovery=NAME`` (no cluster tag), without 15017.
- ``fargate``: Fargate only (eksctl ``--fargate``): a node per pod, ``fargate-ip-...``, whose providerID names no EC2
  instance (``aws:///ZONE/ID/fargate-ip-...``) and label ``eks.amazonaws.com/compute-type: fargate``; Fargate pods
  use the cluster security group (EKS user guide, "sec-group-reqs", "fargate-getting-started").
- ``auto-mode``: a new EKS Auto Mode cluster: no node until a pod is pending (EKS user guide, "automode"); its nodes
  will carry the cluster security group.
- ``custom-networking``: terraform-aws-eks's node group with VPC CNI custom networking: each instance has a secondary
  interface in another subnet with the ENIConfig's group ``NAME-pods`` (no 15017), and pods use only those
  interfaces (EKS user guide, "cni-custom-network").
- ``terraform-primary-sg``: terraform-aws-eks with ``attach_cluster_primary_security_group = true``: nodes carry
  ``NAME-node`` and the cluster security group, both tagged ``kubernetes.io/cluster/NAME``; the in-tree provider
  then refuses every Classic ELB ("Multiple tagged security groups found for instance", cloud-provider-aws
  ``findSecurityGroupForInstance``; terraform-aws-eks documents the tag conflict).
- ``ipv6``: terraform-aws-eks's node group on an IPv6 cluster (``kubernetesNetworkConfig.ipFamily: ipv6``, a VPC
  with an Amazon-provided IPv6 block) whose node group admits all TCP from the VPC's IPv4 block - which lets nothing
  of the IPv6 control plane in.
"""

import hashlib
import json
import urllib.request

FLAVOURS = ("terraform", "eksctl-managed", "eksctl-unmanaged", "managed", "karpenter", "fargate", "auto-mode",
            "custom-networking", "ipv6", "terraform-primary-sg")
REGION = "us-east-1"
ACCOUNT = "123456789012"
ZONES = ("us-east-1a", "us-east-1b")
# Amazon Linux 2023 EKS-optimised AMI id as moto knows it (any registered AMI will do for an instance).
IMAGE_ID = "ami-03cf127a"


def _tags(pairs):
    return [{"Key": k, "Value": v} for k, v in pairs.items()]


class Seeder(object):
    def __init__(self, ec2, cluster):
        self.ec2 = ec2
        self.cluster = cluster

    def group(self, name, vpc, description, tags):
        group_id = self.ec2.create_security_group(GroupName=name, VpcId=vpc, Description=description)["GroupId"]
        self.ec2.create_tags(Resources=[group_id], Tags=_tags(dict({"Name": name}, **tags)))
        return group_id

    def allow(self, group, peer, proto="-1", ports=None, description=""):
        perm = {"IpProtocol": proto, "UserIdGroupPairs": [{"GroupId": peer, "Description": description}]}
        if ports:
            perm["FromPort"], perm["ToPort"] = ports
        self.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[perm])


def seed(endpoint, access_key, secret_key, flavour="terraform", cluster="demo", nodes=2, version="1.32"):
    """Create the cluster's AWS resources in moto; return what the sandbox and the tests need to know."""
    import boto3  # pylint: disable=import-outside-toplevel
    if flavour not in FLAVOURS:
        raise ValueError("flavour %r: expected one of %s" % (flavour, ", ".join(FLAVOURS)))
    session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                    region_name=REGION)
    ec2 = session.client("ec2", endpoint_url=endpoint)
    seeder = Seeder(ec2, cluster)
    vpc = ec2.create_vpc(CidrBlock="192.168.0.0/16", AmazonProvidedIpv6CidrBlock=flavour == "ipv6")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=_tags({"Name": "%s-vpc" % cluster}))
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock="192.168.%d.0/19" % (n * 32),
                                 AvailabilityZone=zone)["Subnet"]["SubnetId"] for n, zone in enumerate(ZONES)]
    owned = {"kubernetes.io/cluster/%s" % cluster: "owned"}
    # EKS creates the cluster security group for every cluster: it allows all traffic from itself
    # (EKS user guide, "sec-group-reqs").
    cluster_sg = seeder.group("eks-cluster-sg-%s-1234567890" % cluster, vpc,
                              "EKS created security group applied to ENI that is attached to EKS Control Plane "
                              "master nodes, as well as any managed workloads.",
                              dict(owned, **{"aws:eks:cluster-name": cluster}))
    seeder.allow(cluster_sg, cluster_sg, description="")
    control_plane = []   # resourcesVpcConfig.securityGroupIds: extra groups on the control plane's interfaces
    pools = []           # (node group label, instance groups, node labels, count)
    pod_interfaces = []  # custom networking: the ENIConfig's groups, on each instance's secondary interface
    fargate = 0          # Fargate nodes (no instance)
    if flavour in ("eksctl-managed", "eksctl-unmanaged"):
        cp = seeder.group("eksctl-%s-cluster-ControlPlaneSecurityGroup-1A2B3C4D5E6F" % cluster, vpc,
                          "Communication between the control plane and worker nodegroups",
                          {"alpha.eksctl.io/cluster-name": cluster})
        shared = seeder.group("eksctl-%s-cluster-ClusterSharedNodeSecurityGroup-7G8H9I0J" % cluster, vpc,
                              "Communication between all nodes in the cluster",
                              {"alpha.eksctl.io/cluster-name": cluster})
        control_plane.append(cp)
        seeder.allow(shared, shared, description="Allow nodes to communicate with each other (all ports)")
        seeder.allow(shared, cluster_sg, description="Allow managed and unmanaged nodes to communicate with each "
                                                     "other (all ports)")
        seeder.allow(cluster_sg, shared, description="Allow unmanaged nodes to communicate with control plane "
                                                     "(all ports)")
        if flavour == "eksctl-managed":
            pools.append(("ng-managed", [cluster_sg, shared], {"eks.amazonaws.com/nodegroup": "ng-managed"}, nodes))
        else:
            ng = seeder.group("eksctl-%s-nodegroup-ng-1-SG-1K2L3M4N5O6P" % cluster, vpc,
                              "Communication between the control plane and worker nodes in group ng-1",
                              dict(owned, **{"alpha.eksctl.io/nodegroup-name": "ng-1"}))
            seeder.allow(ng, cp, "tcp", (1025, 65535), "Allow worker nodes in group ng-1 to communicate with "
                                                       "control plane (kubelet and workload TCP ports)")
            seeder.allow(ng, cp, "tcp", (443, 443), "Allow worker nodes in group ng-1 to communicate with control "
                                                    "plane (workloads using HTTPS port, commonly used with "
                                                    "extension API servers)")
            pools.append(("ng-1", [ng, shared], {"alpha.eksctl.io/nodegroup-name": "ng-1"}, nodes))
    elif flavour in ("terraform", "custom-networking", "ipv6", "terraform-primary-sg"):
        tf_cluster = seeder.group("%s-cluster-20261101000000000000000001" % cluster, vpc,
                                  "EKS cluster security group", {"Name": "%s-cluster" % cluster})
        control_plane.append(tf_cluster)
        node = seeder.group("%s-node-20261101000000000000000002" % cluster, vpc, "EKS node shared security group",
                            dict(owned, Name="%s-node" % cluster))
        for port, what in ((443, "Cluster API to node groups"), (4443, "Cluster API to node 4443/tcp webhook"),
                           (6443, "Cluster API to node 6443/tcp webhook"), (8443, "Cluster API to node 8443/tcp "
                                                                                  "webhook"),
                           (9443, "Cluster API to node 9443/tcp webhook"), (10250, "Cluster API to node kubelets")):
            seeder.allow(node, tf_cluster, "tcp", (port, port), what)
        seeder.allow(node, node, "tcp", (1025, 65535), "Node to node ingress on ephemeral ports")
        seeder.allow(node, node, "tcp", (53, 53), "Node to node CoreDNS")
        seeder.allow(node, node, "udp", (53, 53), "Node to node CoreDNS UDP")
        seeder.allow(tf_cluster, node, "tcp", (443, 443), "Node groups to cluster API")
        if flavour == "ipv6":
            ec2.authorize_security_group_ingress(GroupId=node, IpPermissions=[{
                "IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535,
                "IpRanges": [{"CidrIp": "192.168.0.0/16", "Description": "All TCP from the VPC (IPv4)"}]}])
        if flavour == "custom-networking":
            # the ENIConfig's subnet (a secondary CIDR block in real clusters) and group
            pod_sg = seeder.group("%s-pods" % cluster, vpc, "ENIConfig security group for pods", {})
            seeder.allow(pod_sg, pod_sg, "-1", None, "Pod to pod")
            seeder.allow(pod_sg, node, "-1", None, "Nodes to pods")
            pod_interfaces.append(pod_sg)
        # attach_cluster_primary_security_group = true: the cluster security group beside NAME-node, both tagged
        # kubernetes.io/cluster/NAME - which the in-tree provider refuses for a load balancer
        node_groups = [node, cluster_sg] if flavour == "terraform-primary-sg" else [node]
        pools.append(("default", node_groups, {"eks.amazonaws.com/nodegroup": "default"}, nodes))
    elif flavour == "fargate":
        fargate = nodes
    elif flavour == "auto-mode":
        pass  # no node yet
    elif flavour == "managed":
        pools.append(("managed-ng", [cluster_sg], {"eks.amazonaws.com/nodegroup": "managed-ng"}, nodes))
    elif flavour == "karpenter":
        karpenter = seeder.group("%s-karpenter-node" % cluster, vpc, "Karpenter node security group",
                                 {"karpenter.sh/discovery": cluster})
        seeder.allow(karpenter, cluster_sg, "tcp", (443, 443), "Cluster API to nodes")
        seeder.allow(karpenter, cluster_sg, "tcp", (10250, 10250), "Cluster API to node kubelets")
        seeder.allow(karpenter, karpenter, "-1", None, "Node to node")
        seeder.allow(cluster_sg, karpenter, "tcp", (443, 443), "Karpenter nodes to cluster API")
        pools.append(("system", [cluster_sg], {"eks.amazonaws.com/nodegroup": "system"}, 1))
        pools.append(("default", [karpenter], {"karpenter.sh/nodepool": "default",
                                               "karpenter.k8s.aws/ec2nodeclass": "default"}, max(1, nodes - 1)))
    node_list = []
    index = 0
    for pool, groups, labels, count in pools:
        for _n in range(count):
            zone = ZONES[index % len(ZONES)]
            subnet = subnets[index % len(subnets)]
            reservation = ec2.run_instances(ImageId=IMAGE_ID, MinCount=1, MaxCount=1, InstanceType="m5.large",
                                            SubnetId=subnet, SecurityGroupIds=groups, TagSpecifications=[{
                                                "ResourceType": "instance",
                                                "Tags": _tags(dict(owned, Name="%s-%s" % (cluster, pool)))}])
            instance = reservation["Instances"][0]
            address = instance["PrivateIpAddress"]
            if pod_interfaces:
                eni = ec2.create_network_interface(SubnetId=subnets[(index + 1) % len(subnets)],
                                                   Groups=pod_interfaces, Description="aws-K8S-%s" % instance[
                                                       "InstanceId"])["NetworkInterface"]["NetworkInterfaceId"]
                ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=instance["InstanceId"], DeviceIndex=1)
            node_list.append({"name": "ip-%s.%s.compute.internal" % (address.replace(".", "-"), REGION),
                              "address": address, "zone": zone, "instance_id": instance["InstanceId"],
                              "provider_id": "aws:///%s/%s" % (zone, instance["InstanceId"]),
                              "labels": labels, "security_group_ids": groups})
            index += 1
    for _n in range(fargate):
        zone = ZONES[index % len(ZONES)]
        address = "192.168.%d.%d" % (100 + index // 200, 10 + index % 200)
        name = "fargate-ip-%s.%s.compute.internal" % (address.replace(".", "-"), REGION)
        node_list.append({"name": name, "address": address, "zone": zone, "instance_id": None,
                          "provider_id": "aws:///%s/%s/%s" % (zone, hashlib.sha256(name.encode()).hexdigest()[:42],
                                                              name.split(".")[0]),
                          "labels": {"eks.amazonaws.com/compute-type": "fargate"},
                          "security_group_ids": [cluster_sg]})
        index += 1
    # moto keeps resourcesVpcConfig as sent; EKS reports clusterSecurityGroupId and vpcId, so send them.
    body = json.dumps({"name": cluster, "version": version, "roleArn": "arn:aws:iam::%s:role/eks-%s" % (ACCOUNT, cluster),
                       "resourcesVpcConfig": {"subnetIds": subnets, "securityGroupIds": control_plane,
                                              "clusterSecurityGroupId": cluster_sg, "vpcId": vpc,
                                              "endpointPublicAccess": True, "endpointPrivateAccess": False,
                                              "publicAccessCidrs": ["0.0.0.0/0"]},
                       # what EKS reports (moto keeps what it is sent)
                       "kubernetesNetworkConfig": {"serviceIpv4Cidr": "10.100.0.0/16",
                                                   "ipFamily": "ipv6" if flavour == "ipv6" else "ipv4"}}).encode()
    _signed_post(endpoint + "/clusters", body, access_key, secret_key)
    described = session.client("eks", endpoint_url=endpoint).describe_cluster(name=cluster)["cluster"]
    if described["resourcesVpcConfig"].get("clusterSecurityGroupId") != cluster_sg:
        raise RuntimeError("moto did not keep clusterSecurityGroupId for the EKS cluster")
    node_groups = sorted(set(g for node in node_list for g in node["security_group_ids"]))
    # the nodes' own group (not the cluster's), where a hand-made rule would go (bench/baseline.sh)
    own = [g for pool in pools for g in pool[1] if g != cluster_sg]
    vpc_cidrs = ["192.168.0.0/16"] + [b["Ipv6CidrBlock"] for b in ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0].get(
        "Ipv6CidrBlockAssociationSet") or []]
    return {"region": REGION, "cluster": cluster, "flavour": flavour, "vpc_id": vpc, "vpc_cidr": "192.168.0.0/16",
            "subnet_ids": subnets, "cluster_security_group_id": cluster_sg,
            "control_plane_security_group_ids": control_plane, "node_security_group_ids": node_groups,
            "node_security_group_id": (own or [cluster_sg])[0], "pod_security_group_ids": pod_interfaces,
            "vpc_cidrs": vpc_cidrs,
            "nodes": node_list, "access_key": access_key, "secret_key": secret_key}


def _signed_post(url, body, access_key, secret_key):
    from botocore.auth import SigV4Auth  # pylint: disable=import-outside-toplevel
    from botocore.awsrequest import AWSRequest  # pylint: disable=import-outside-toplevel
    from botocore.credentials import Credentials  # pylint: disable=import-outside-toplevel
    signed = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(access_key, secret_key), "eks", REGION).add_auth(signed)
    request = urllib.request.Request(url, data=body, method="POST", headers=dict(signed.headers))
    with urllib.request.urlopen(request, timeout=10) as response:  # nosec - loopback moto
        response.read()
