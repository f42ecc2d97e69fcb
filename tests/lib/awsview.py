"""What a user would look at in the sandbox's AWS (through boto3) and the LoadBalancer Services they would make."""

import json

import boto3


def marker(sandbox):
    """The description prefix of the collection's rules for the sandbox's EKS cluster (aws_security_groups_marker's
    default names the cluster: a fleet's clusters in one account keep their rules apart)."""
    return "istio_demo.mesh:%s:" % sandbox.state["aws"]["cluster"]


def ec2_of(sandbox):
    return boto3.client("ec2", region_name="us-east-1", endpoint_url=sandbox.env["AWS_ENDPOINT_URL"],
                        aws_access_key_id=sandbox.state["aws"]["access_key"],
                        aws_secret_access_key=sandbox.state["aws"]["secret_key"])


def elbv2_of(sandbox):
    return boto3.client("elbv2", region_name="us-east-1", endpoint_url=sandbox.env["AWS_ENDPOINT_URL"],
                        aws_access_key_id=sandbox.state["aws"]["access_key"],
                        aws_secret_access_key=sandbox.state["aws"]["secret_key"])


def groups(sandbox):
    ec2 = ec2_of(sandbox)
    return ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [sandbox.state["aws"]["vpc_id"]]}])[
        "SecurityGroups"]


def ours(sandbox):
    """{group id: [(proto, from port, source)]} of the rules carrying the collection's marker."""
    out = {}
    for group in groups(sandbox):
        for perm in group["IpPermissions"]:
            for pair in perm.get("UserIdGroupPairs", []) + perm.get("IpRanges", []):
                if pair.get("Description", "").startswith(marker(sandbox)):
                    out.setdefault(group["GroupId"], []).append(
                        (perm["IpProtocol"], perm.get("FromPort"), pair.get("GroupId") or pair.get("CidrIp")))
    return out


def load_balancer_services(sandbox, names, annotations=None):
    for name in names:
        manifest = {"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": name, "namespace": "default", "annotations": annotations or {}},
                    "spec": {"type": "LoadBalancer", "selector": {"app": name}, "ports": [{"port": 80}]}}
        sandbox.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    for name in names:
        sandbox.kubectl("wait", "--for=jsonpath={.status.loadBalancer.ingress}", "service/" + name, "-n", "default",
                        "--timeout=60s")
