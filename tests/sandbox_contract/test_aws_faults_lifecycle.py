"""AWS through moto, the request log, the fault knobs and the up/down lifecycle."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import boto3
import pytest

from sandboxrun import CTL


def test_eks_cluster_reports_its_security_groups(sandbox):
    session = boto3.session.Session(region_name=sandbox.env["AWS_REGION"],
                                    aws_access_key_id=sandbox.state["aws"]["access_key"],
                                    aws_secret_access_key=sandbox.state["aws"]["secret_key"])
    endpoint = sandbox.env["AWS_ENDPOINT_URL"]
    cluster = session.client("eks", endpoint_url=endpoint).describe_cluster(name="demo")["cluster"]
    vpc_config = cluster["resourcesVpcConfig"]
    ec2 = session.client("ec2", endpoint_url=endpoint)
    groups = ec2.describe_security_groups(GroupIds=[vpc_config["clusterSecurityGroupId"]])["SecurityGroups"]
    assert groups[0]["VpcId"] == vpc_config["vpcId"]
    # the cluster group allows all traffic from itself (EKS user guide, "sec-group-reqs")
    assert {(p["IpProtocol"], pair["GroupId"]) for p in groups[0]["IpPermissions"]
            for pair in p["UserIdGroupPairs"]} >= {("-1", vpc_config["clusterSecurityGroupId"])}
    # each Node names its EC2 instance; the instances carry the flavour's groups (terraform-aws-eks by default:
    # NAME-node, tagged for the cluster, opening the webhook ports it knows from the module's cluster group, not 15017)
    nodes = json.loads(sandbox.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    instance_ids = [n["spec"]["providerID"].rsplit("/", 1)[1] for n in nodes]
    reservations = ec2.describe_instances(InstanceIds=instance_ids)["Reservations"]
    instance_groups = {g["GroupId"] for r in reservations for i in r["Instances"] for g in i["SecurityGroups"]}
    assert len(instance_ids) == 2 and len(instance_groups) == 1
    node_sg = ec2.describe_security_groups(GroupIds=sorted(instance_groups))["SecurityGroups"][0]
    assert {"Key": "kubernetes.io/cluster/demo", "Value": "owned"} in node_sg["Tags"]
    from_control_plane = {p.get("FromPort") for p in node_sg["IpPermissions"] for pair in p["UserIdGroupPairs"]
                          if pair["GroupId"] in vpc_config["securityGroupIds"]}
    assert from_control_plane == {443, 4443, 6443, 8443, 9443, 10250}


def test_aws_cli_works_with_the_sandbox_environment(sandbox):
    result = subprocess.run(["aws", "eks", "describe-cluster", "--name", "demo", "--output", "json"],
                            env=sandbox.env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["cluster"]["name"] == "demo"


@pytest.mark.parametrize("service, key, secret, code", [
    ("ec2", "own", "wrong", "AuthFailure"),
    ("ec2", "AKIAIOSFODNN7EXAMPLE", "wrong", "AuthFailure"),
    ("eks", "own", "wrong", "SignatureDoesNotMatch"),
    ("eks", "AKIAIOSFODNN7EXAMPLE", "wrong", "UnrecognizedClientException"),
])
def test_aws_refuses_a_wrong_key_or_secret_as_aws_does(sandbox, service, key, secret, code):
    env = dict(sandbox.env, AWS_ACCESS_KEY_ID=sandbox.env["AWS_ACCESS_KEY_ID"] if key == "own" else key,
               AWS_SECRET_ACCESS_KEY=secret)
    command = ["aws", "ec2", "describe-security-groups"] if service == "ec2" else \
        ["aws", "eks", "describe-cluster", "--name", "demo"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "(%s)" % code in result.stderr, result.stderr
    # and boto3 with the right ones still works
    client = boto3.client(service, region_name=sandbox.env["AWS_REGION"], endpoint_url=sandbox.env["AWS_ENDPOINT_URL"],
                          aws_access_key_id=sandbox.state["aws"]["access_key"],
                          aws_secret_access_key=sandbox.state["aws"]["secret_key"])
    assert client.describe_security_groups() if service == "ec2" else client.describe_cluster(name="demo")


def test_request_log_records_verbs_paths_and_dry_run(sandbox):
    before = time.time()
    cm = '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "logged", "namespace": "default"}}'
    sandbox.kubectl("create", "-f", "-", "--dry-run=server", stdin=cm)
    sandbox.kubectl("get", "configmap", "logged", check=False)
    entries = sandbox.requests(before)
    post = [e for e in entries if e["verb"] == "POST"]
    assert post and post[0]["dry_run"] is True and post[0]["path"] == "/api/v1/namespaces/default/configmaps"
    get = [e for e in entries if e["verb"] == "GET" and e["path"].endswith("/configmaps/logged")]
    assert get and get[0]["status"] == 404
    assert all({"time", "verb", "path", "query", "status"} <= set(e) for e in entries)


def test_fault_knobs_answer_errors_and_drop_connections(sandbox):
    try:
        sandbox.faults(error_rate=1.0, error_codes=[503])
        failed = sandbox.kubectl("get", "namespaces", "--request-timeout=5s", check=False)
        assert failed.returncode != 0
        sandbox.faults(error_rate=0.0, drop_rate=1.0)
        try:
            sandbox.open(sandbox.api + "/api/v1/namespaces", timeout=5)
            dropped = False
        except (urllib.error.URLError, ConnectionError, OSError):
            dropped = True
        assert dropped
    finally:
        sandbox.faults(error_rate=0.0, drop_rate=0.0)
    assert sandbox.kubectl("get", "namespaces").returncode == 0


def _ctl(state_dir, *args):
    return subprocess.run([sys.executable, CTL, "--state-dir", state_dir] + list(args), capture_output=True,
                          text=True, timeout=180, check=False)


def _pids(state_dir):
    with open(os.path.join(state_dir, "state.json")) as handle:
        return json.load(handle)["pids"]


def _alive(pid):
    """Whether ps(1) shows ``pid`` running: an exited process that PID 1 has not yet reaped shows as defunct
    (state Z) and runs nothing."""
    shown = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True, check=False)
    return shown.returncode == 0 and not shown.stdout.strip().startswith("Z")


def test_up_is_idempotent_stale_state_is_replaced_and_down_leaves_nothing(tmp_path):
    state_dir = str(tmp_path / "state")
    first = _ctl(state_dir, "up")
    assert first.returncode == 0, first.stderr
    pids = _pids(state_dir)
    second = _ctl(state_dir, "up")
    assert second.returncode == 0 and "already up" in second.stdout
    assert _pids(state_dir) == pids
    for pid in pids.values():
        os.killpg(pid, signal.SIGKILL)
    stale = _ctl(state_dir, "status")
    assert stale.returncode != 0
    third = _ctl(state_dir, "up")
    assert third.returncode == 0, third.stderr
    new_pids = _pids(state_dir)
    assert set(new_pids.values()).isdisjoint(pids.values())
    assert _ctl(state_dir, "status").returncode == 0
    assert _ctl(state_dir, "down").returncode == 0
    assert not any(_alive(pid) for pid in new_pids.values())
    assert not os.path.exists(state_dir)


@pytest.mark.parametrize("cluster", [("--lb-mode", "aws-lb-controller")], ids=["aws-lb-controller"], indirect=True)
def test_the_lb_controllers_service_webhook_gives_new_services_its_class_while_registered(cluster):
    # as the controller's Helm chart registers it (eks-charts templates/webhook.yaml, default values)
    hooks = json.loads(cluster.kubectl("get", "mutatingwebhookconfiguration", "aws-load-balancer-webhook", "-o",
                                       "json").stdout)
    assert [h["name"] for h in hooks["webhooks"]] == ["mpod.elbv2.k8s.aws", "mservice.elbv2.k8s.aws"]
    made = json.loads(cluster.kubectl("create", "service", "loadbalancer", "first", "--tcp=80:80", "-o",
                                      "json").stdout)
    assert made["spec"]["loadBalancerClass"] == "service.k8s.aws/nlb"
    # the chart's own exclusion holds, and a Service asking for a class keeps it
    labelled = {"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "excluded", "labels": {"app.kubernetes.io/name": "aws-load-balancer-controller"}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}
    made = json.loads(cluster.kubectl("create", "-o", "json", "-f", "-", stdin=json.dumps(labelled)).stdout)
    assert "loadBalancerClass" not in made["spec"]
    # enableServiceMutatorWebhook=false: the chart registers no Service webhook, and new Services keep no class
    hooks["webhooks"] = hooks["webhooks"][:1]
    cluster.kubectl("replace", "-f", "-", stdin=json.dumps(hooks))
    made = json.loads(cluster.kubectl("create", "service", "loadbalancer", "second", "--tcp=80:80", "-o",
                                      "json").stdout)
    assert "loadBalancerClass" not in made["spec"]


@pytest.mark.parametrize("cluster", [("--lb-mode", "auto-mode")], ids=["auto-mode"], indirect=True)
def test_an_auto_mode_cluster_holds_its_node_pools_and_gives_new_services_its_class(cluster):
    pools = json.loads(cluster.kubectl("get", "nodepools.karpenter.sh", "-o", "json").stdout)["items"]
    assert sorted(p["metadata"]["name"] for p in pools) == ["general-purpose", "system"]
    assert {p["spec"]["template"]["spec"]["nodeClassRef"]["name"] for p in pools} == {"default"}
    assert cluster.kubectl("get", "nodeclasses.eks.amazonaws.com", "default").returncode == 0
    made = json.loads(cluster.kubectl("create", "service", "loadbalancer", "first", "--tcp=80:80", "-o",
                                      "json").stdout)
    assert made["spec"]["loadBalancerClass"] == "eks.amazonaws.com/nlb"


def test_deleting_a_namespace_that_holds_a_load_balancer_service_finishes_and_frees_the_load_balancer(sandbox):
    # as a new user would: kubectl alone. The namespace controller's delete reaches the service controller as a
    # user's does; it deletes the ELB and takes its finalizer off, and the namespace goes (on EKS within a minute
    # or two; here lb_release_delay)
    cluster = sandbox
    cluster.kubectl("create", "namespace", "lb-holder")
    cluster.kubectl("create", "service", "loadbalancer", "web", "--tcp=80:80", "-n", "lb-holder")
    cluster.kubectl("wait", "service/web", "-n", "lb-holder", "--for=jsonpath={.status.loadBalancer.ingress}",
                    "--timeout=60s")
    service = json.loads(cluster.kubectl("get", "service", "web", "-n", "lb-holder", "-o", "json").stdout)
    assert service["metadata"]["finalizers"] == ["service.kubernetes.io/load-balancer-cleanup"]
    name = service["status"]["loadBalancer"]["ingress"][0]["hostname"].split("-")[0]
    session = boto3.session.Session(region_name=sandbox.env["AWS_REGION"],
                                    aws_access_key_id=sandbox.state["aws"]["access_key"],
                                    aws_secret_access_key=sandbox.state["aws"]["secret_key"])
    elb = session.client("elb", endpoint_url=sandbox.env["AWS_ENDPOINT_URL"])
    assert [b for b in elb.describe_load_balancers()["LoadBalancerDescriptions"] if b["LoadBalancerName"] == name]
    deleted = cluster.kubectl("delete", "namespace", "lb-holder", "--timeout=90s", check=False)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert cluster.kubectl("get", "namespace", "lb-holder", check=False).returncode != 0
    assert not [b for b in elb.describe_load_balancers()["LoadBalancerDescriptions"] if b["LoadBalancerName"] == name]
