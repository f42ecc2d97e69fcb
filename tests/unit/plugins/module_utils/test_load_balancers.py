"""A load balancer read back from AWS: its name from the DNS name AWS gives it, who its groups let in."""

import boto3
import pytest
from moto import mock_aws

from ansible_collections.istio_demo.mesh.plugins.module_utils import load_balancers


@pytest.mark.parametrize("hostname, kind, name", [
    ("a0123456789abcdef0123456789abcde-1234567890.us-east-1.elb.amazonaws.com", "classic",
     "a0123456789abcdef0123456789abcde"),
    ("internal-a0123456789abcdef0123456789abcde-42.eu-west-1.elb.amazonaws.com", "classic",
     "a0123456789abcdef0123456789abcde"),
    ("k8s-istiosys-istioing-0a1b2c3d4e-0123456789abcdef.elb.us-east-1.amazonaws.com", "elbv2",
     "k8s-istiosys-istioing-0a1b2c3d4e"),
    ("k8s-istiosys-istioing-0a1b2c3d4e-0123456789abcdef.elb.cn-north-1.amazonaws.com.cn", "elbv2",
     "k8s-istiosys-istioing-0a1b2c3d4e"),
])
def test_the_name_and_api_come_from_the_dns_name_aws_gives(hostname, kind, name):
    assert load_balancers.parse_hostname(hostname) == (kind, name)


def test_a_name_that_is_no_load_balancers_is_refused_naming_the_forms():
    with pytest.raises(load_balancers.LoadBalancerError, match="hostname='gateway.example.com'.*NAME-HASH"):
        load_balancers.parse_hostname("gateway.example.com")


def groups_as_ec2_describes_them():
    """A frontend group as EC2 returns it: 80 from an office range and the world, 443 from the office only."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        group = ec2.create_security_group(GroupName="k8s-elb-a", Description="ELB", VpcId=vpc)["GroupId"]
        other = ec2.create_security_group(GroupName="nodes", Description="nodes", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
             "IpRanges": [{"CidrIp": "203.0.113.0/24"}, {"CidrIp": "0.0.0.0/0"}]},
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "203.0.113.16/28"}],
             "UserIdGroupPairs": [{"GroupId": other}]}])
        return ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"], other


def test_sources_beyond_the_allowed_ranges_are_named_per_port_and_groups_do_not_count():
    groups, other = groups_as_ec2_describes_them()
    by_port = load_balancers.admitted(groups, [80, 443, 15021])
    assert by_port == {80: ["0.0.0.0/0", "203.0.113.0/24"], 443: sorted(["203.0.113.16/28", other]), 15021: []}
    assert load_balancers.excess(by_port, ["203.0.113.0/24"]) == [{"port": 80, "source": "0.0.0.0/0"}]
    assert load_balancers.excess(by_port, ["0.0.0.0/0"]) == []


def test_an_allowed_source_that_is_no_cidr_is_refused():
    with pytest.raises(load_balancers.LoadBalancerError, match="allowed_sources contains 'office'"):
        load_balancers.excess({}, ["office"])
