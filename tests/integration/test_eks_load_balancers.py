"""The ingress gateway's load balancer as EKS makes it (tests/sandbox/cloud.py): an NLB from the AWS Load Balancer
Controller kept internet-facing and limited to its source ranges, awaited while it starts, then measured; its
deletion awaited on teardown, and a finalizer that holds it named."""

import json
import time

import pytest

from awsview import ec2_of, elbv2_of, groups, load_balancer_services, ours
from playbook import collection_playbook as playbook
from playbook import run_playbook


def addresses(sandbox):
    with sandbox.open(sandbox.api + "/sandbox/addresses") as response:
        return json.loads(response.read())


@pytest.mark.parametrize("cluster", [("--lb-mode", "aws-lb-controller")], ids=["aws-lb-controller"], indirect=True)
def test_with_the_lb_controller_the_gateway_gets_an_internet_facing_nlb_awaited_then_measured(cluster, tmp_path):
    # a load balancer that takes a while: its name does not resolve, then its targets are unhealthy - for its first
    # connections, whenever the play reaches it
    cluster.faults(lb_unready_connections=4)
    rc, stats, proc = playbook(cluster, tmp_path, "site.yml", "--tags", "aws,istio,apps,ingress",
                               "-e", "istio_install_lb_kind=nlb")
    assert rc == 0, proc.stdout[-3000:]
    service = json.loads(cluster.kubectl("get", "service", "istio-ingressgateway", "-n", "istio-system", "-o",
                                         "json").stdout)
    # the class the play asked for; the collection's scheme annotation keeps it internet-facing (the controller's
    # default is internal)
    assert service["spec"]["loadBalancerClass"] == "service.k8s.aws/nlb"
    assert service["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"] == \
        "internet-facing"
    assert service["spec"]["loadBalancerSourceRanges"] == ["127.0.0.1/32"]
    stack = {"Key": "service.k8s.aws/stack", "Value": "istio-system/istio-ingressgateway"}
    frontend = [g for g in groups(cluster) if stack in g.get("Tags", [])]
    assert {r["CidrIp"] for p in frontend[0]["IpPermissions"] for r in p["IpRanges"]} == {"127.0.0.1/32"}
    probes = [r for r in PlaybookRun_results(proc) if r.get("wait")]
    assert probes and probes[0]["wait"]["attempts"] > 1 and all(p["passed"] for p in probes), probes
    # a target group per port, each bound by a TargetGroupBinding; the nodes admit the shared backend group
    bindings = bindings_of(cluster, "istio-system")
    assert sorted(b["spec"]["serviceRef"]["port"] for b in bindings) == sorted(p["port"] for p in service["spec"]["ports"])
    assert sorted(b["spec"]["targetGroupARN"] for b in bindings) == sorted(
        t["TargetGroupArn"] for t in elbv2_of(cluster).describe_target_groups()["TargetGroups"])
    assert [g for g in groups(cluster) if g["GroupName"].startswith("k8s-traffic-")]
    # AWS holds the NLB itself, with that group, and verify reads it back: a rule added by hand is found there
    hostname = service["status"]["loadBalancer"]["ingress"][0]["hostname"]
    nlb = [lb for lb in elbv2_of(cluster).describe_load_balancers()["LoadBalancers"]
           if hostname.startswith(lb["LoadBalancerName"] + "-")]
    assert [(lb["Type"], lb["Scheme"], frontend[0]["GroupId"] in lb["SecurityGroups"]) for lb in nlb] == [
        ("network", "internet-facing", True)]
    wide = [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    ec2_of(cluster).authorize_security_group_ingress(GroupId=frontend[0]["GroupId"], IpPermissions=wide)
    rc, stats, proc = playbook(cluster, tmp_path, "verify.yml", "--tags", "ingress", "-e", "istio_install_lb_kind=nlb")
    assert rc != 0
    message = failure(proc)
    assert "lets in 0.0.0.0/0 on port(s) 80 through its security group(s) %s" % frontend[0]["GroupId"] in message, \
        message
    ec2_of(cluster).revoke_security_group_ingress(GroupId=frontend[0]["GroupId"], IpPermissions=wide)

    # a Service left to the controller's defaults gets an internal NLB: not reachable from outside the VPC
    load_balancer_services(cluster, ["private"])
    private = json.loads(cluster.kubectl("get", "service", "private", "-o", "json").stdout)
    hostname = private["status"]["loadBalancer"]["ingress"][0]["hostname"]
    assert not [k for k in addresses(cluster) if k.startswith(hostname)]
    cluster.kubectl("delete", "service", "private")

    rc, stats, proc = playbook(cluster, tmp_path, "teardown.yml")
    assert rc == 0, proc.stdout[-3000:]
    assert not [g for g in groups(cluster) if g["GroupName"].startswith("k8s-")]
    assert elbv2_of(cluster).describe_target_groups()["TargetGroups"] == []
    elb = [{"Name": "description", "Values": ["ELB *"]}]
    enis = ec2_of(cluster).describe_network_interfaces(Filters=elb)["NetworkInterfaces"]
    assert enis == []


def bindings_of(cluster, namespace):
    return json.loads(cluster.kubectl("get", "targetgroupbindings.elbv2.k8s.aws", "-n", namespace, "-o",
                                      "json").stdout)["items"]


def PlaybookRun_results(proc):  # noqa: N802 - the json callback's per-item results of every task
    start = proc.stdout.find("{")
    data = json.loads(proc.stdout[start:])
    out = []
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            for result in task.get("hosts", {}).values():
                out.extend(result.get("results") or [])
    return out


def test_a_finalizer_that_holds_the_gateway_is_named_and_removed_only_when_asked(cluster, tmp_path):
    rc, stats, proc = playbook(cluster, tmp_path, "site.yml", "--tags", "aws,istio")
    assert rc == 0, proc.stdout[-3000:]
    cluster.faults(stuck_finalizers=True)
    rc, stats, proc = playbook(cluster, tmp_path, "teardown.yml", "-e", "istio_install_lb_delete_timeout=4")
    assert rc != 0
    assert "finalizer(s) service.kubernetes.io/load-balancer-cleanup hold it" in proc.stdout
    assert "istio_install_lb_remove_stuck_finalizers" in proc.stdout
    assert ours(cluster) != {}  # it stopped before the rules went

    rc, stats, proc = playbook(cluster, tmp_path, "teardown.yml", "-e", "istio_install_lb_delete_timeout=4",
                               "-e", "istio_install_lb_remove_stuck_finalizers=true")
    assert rc == 0, proc.stdout[-3000:]
    assert cluster.kubectl("get", "namespace", "istio-system", check=False).returncode != 0
    assert ours(cluster) == {}
    # the load balancer's group stays in AWS, as the message said
    assert [g for g in groups(cluster) if g["GroupName"].startswith("k8s-elb-")]


def failure(proc):
    """The first failed task's message (its failed items' messages too)."""
    for result in PlaybookRun_results(proc) + _task_results(proc):
        if result.get("failed"):
            return result.get("msg", "")
    return ""


def _task_results(proc):
    data = json.loads(proc.stdout[proc.stdout.find("{"):])
    return [result for play in data.get("plays", []) for task in play.get("tasks", [])
            for result in task.get("hosts", {}).values()]


@pytest.mark.parametrize("cluster", [("--lb-mode", "aws-lb-controller")], ids=["aws-lb-controller"], indirect=True)
def test_a_load_balancer_class_other_than_asked_is_named_and_a_change_refused_before_any_write(cluster, tmp_path):
    # classic asked for, but the controller's webhook would give the new gateway Service its NLB class: refused
    # before istioctl makes anything
    start = time.time()
    rc, stats, proc = playbook(cluster, tmp_path, "site.yml", "--tags", "aws,istio")
    assert rc != 0
    message = failure(proc)
    assert "istio_install_lb_kind=classic wants a Classic ELB" in message, message
    assert "is given loadBalancerClass service.k8s.aws/nlb by the AWS Load Balancer Controller's webhook " \
           "mservice.elbv2.k8s.aws (MutatingWebhookConfiguration aws-load-balancer-webhook)" in message, message
    assert "Use istio_install_lb_kind=nlb, or turn the controller's Service webhook off" in message, message
    assert cluster.writes(start) == []
    assert cluster.kubectl("get", "namespace", "istio-system", check=False).returncode != 0

    # the way out it names converges
    rc, stats, proc = playbook(cluster, tmp_path, "site.yml", "--tags", "aws,istio", "-e", "istio_install_lb_kind=nlb")
    assert rc == 0, proc.stdout[-3000:]

    # another kind is refused before anything is written: the class cannot change once set
    start = time.time()
    rc, stats, proc = playbook(cluster, tmp_path, "site.yml", "--tags", "istio", "-e",
                               "istio_install_lb_kind=auto-mode")
    assert rc != 0
    message = failure(proc)
    assert "istio_install_lb_kind=auto-mode wants loadBalancerClass eks.amazonaws.com/nlb" in message, message
    assert "remove Istio first" in message, message
    assert [e for e in cluster.requests(start) if e["verb"] not in ("GET", "HEAD")] == []
    service = json.loads(cluster.kubectl("get", "service", "istio-ingressgateway", "-n", "istio-system", "-o",
                                         "json").stdout)
    assert service["spec"]["loadBalancerClass"] == "service.k8s.aws/nlb"

    # the controller gone: its finalizer holds the Service and its TargetGroupBindings hold istio-system; let go only
    # when asked, both go, and the message names what stays in AWS
    cluster.faults(stuck_finalizers=True)
    rc, stats, proc = playbook(cluster, tmp_path, "teardown.yml", "--tags", "istio",
                               "-e", "istio_install_lb_delete_timeout=4")
    assert rc != 0
    message = failure(proc)
    assert "finalizer(s) service.k8s.aws/resources hold it until the AWS Load Balancer Controller" in message, message
    target_groups = sorted(b["spec"]["targetGroupARN"] for b in bindings_of(cluster, "istio-system"))
    assert target_groups
    rc, stats, proc = playbook(cluster, tmp_path, "teardown.yml", "--tags", "istio",
                               "-e", "istio_install_lb_delete_timeout=4",
                               "-e", "istio_install_lb_remove_stuck_finalizers=true")
    assert rc == 0, proc.stdout[-3000:]
    assert cluster.kubectl("get", "namespace", "istio-system", check=False).returncode != 0
    said = [r["msg"] for r in PlaybookRun_results(proc) + _task_results(proc)
            if "stay in AWS" in str(r.get("msg", ""))]
    assert said and all(arn in said[0] for arn in target_groups) and "k8s-traffic-*" in said[0], said
    assert sorted(t["TargetGroupArn"] for t in elbv2_of(cluster).describe_target_groups()["TargetGroups"]) == \
        target_groups


@pytest.mark.parametrize("cluster", [("--lb-mode", "auto-mode")], ids=["auto-mode"], indirect=True)
def test_on_auto_mode_a_gateway_api_gateway_admits_only_its_source_ranges(cluster, tmp_path):
    # a Classic ELB cannot be had: Auto Mode gives every new LoadBalancer Service its class - said before any write
    start = time.time()
    rc, stats, proc = playbook(cluster, tmp_path, "site.yml", "--tags", "ingress",
                               "-e", "mesh_ingress_api=gateway-api", "-e", "ingress_lb_kind=classic")
    assert rc != 0
    message = failure(proc)
    assert "ingress_lb_kind=classic wants a Classic ELB" in message, message
    assert "is given loadBalancerClass eks.amazonaws.com/nlb by EKS Auto Mode" in message, message
    assert "Use ingress_lb_kind=auto-mode." in message, message
    assert cluster.writes(start) == []

    # Auto Mode reads spec.loadBalancerSourceRanges only: the ranges reach it through the Gateway's parametersRef
    rc, stats, proc = playbook(cluster, tmp_path, "site.yml", "--tags", "aws,istio,apps,ingress",
                               "-e", "mesh_ingress_api=gateway-api", "-e", "ingress_lb_kind=auto-mode")
    assert rc == 0, proc.stdout[-3000:]
    service = json.loads(cluster.kubectl("get", "service", "my-app-gateway-istio", "-n", "my-app", "-o",
                                         "json").stdout)
    assert service["spec"]["loadBalancerClass"] == "eks.amazonaws.com/nlb"
    stack = {"Key": "service.k8s.aws/stack", "Value": "my-app/my-app-gateway-istio"}
    frontend = [g for g in groups(cluster) if stack in g.get("Tags", [])]
    assert len(frontend) == 1
    assert {r["CidrIp"] for p in frontend[0]["IpPermissions"] for r in p["IpRanges"]} == {"127.0.0.1/32"}
    # another kind would change the class of the Gateway's Service, which Kubernetes refuses: said before any write
    start = time.time()
    rc, stats, proc = playbook(cluster, tmp_path, "site.yml", "--tags", "ingress",
                               "-e", "mesh_ingress_api=gateway-api", "-e", "ingress_lb_kind=nlb")
    assert rc != 0
    message = failure(proc)
    assert "ingress_lb_kind=nlb wants loadBalancerClass service.k8s.aws/nlb, but the Gateway's Service " \
           "my-app/my-app-gateway-istio has loadBalancerClass eks.amazonaws.com/nlb" in message, message
    assert "ingress_lb_kind=auto-mode" in message, message
    assert [e for e in cluster.requests(start) if e["verb"] not in ("GET", "HEAD")] == []

    # verify reads the NLB back from AWS: a world rule added by hand on the status port is found there
    wide = [{"IpProtocol": "tcp", "FromPort": 15021, "ToPort": 15021, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    ec2_of(cluster).authorize_security_group_ingress(GroupId=frontend[0]["GroupId"], IpPermissions=wide)
    rc, stats, proc = playbook(cluster, tmp_path, "verify.yml", "--tags", "ingress",
                               "-e", "mesh_ingress_api=gateway-api", "-e", "ingress_lb_kind=auto-mode")
    assert rc != 0 and "lets in 0.0.0.0/0 on port(s) 15021" in failure(proc), failure(proc)
    ec2_of(cluster).revoke_security_group_ingress(GroupId=frontend[0]["GroupId"], IpPermissions=wide)

    # a hand-edited ConfigMap that drops the ranges (the class stays: it may not change once set): the load
    # balancer opens to the world, and verify says so
    kept = {"spec": {"loadBalancerClass": "eks.amazonaws.com/nlb"}}
    cluster.kubectl("patch", "configmap", "my-app-gateway-options", "-n", "my-app", "--type", "merge", "-p",
                    json.dumps({"data": {"service": json.dumps(kept)}}))
    rc, stats, proc = playbook(cluster, tmp_path, "verify.yml", "--tags", "ingress",
                               "-e", "mesh_ingress_api=gateway-api", "-e", "ingress_lb_kind=auto-mode")
    assert rc != 0
    frontend = [g for g in groups(cluster) if stack in g.get("Tags", [])]
    assert {r["CidrIp"] for p in frontend[0]["IpPermissions"] for r in p["IpRanges"]} == {"0.0.0.0/0"}
    message = failure(proc)
    assert "loadBalancerSourceRanges=[]" in message and "ingress_lb_source_ranges=[\"127.0.0.1/32\"]" in message, \
        message

    # teardown of the Gateway while Auto Mode never releases its Service: named, then let go only when asked
    cluster.faults(stuck_finalizers=True)
    gateway_api = ["--tags", "ingress", "-e", "mesh_ingress_api=gateway-api", "-e", "ingress_lb_kind=auto-mode",
                   "-e", "ingress_lb_delete_timeout=4"]
    rc, stats, proc = playbook(cluster, tmp_path, "teardown.yml", *gateway_api)
    assert rc != 0
    message = failure(proc)
    assert "finalizer(s) service.eks.amazonaws.com/resources hold it until EKS Auto Mode" in message, message
    assert "ingress_lb_remove_stuck_finalizers=true" in message, message
    rc, stats, proc = playbook(cluster, tmp_path, "teardown.yml", *gateway_api,
                               "-e", "ingress_lb_remove_stuck_finalizers=true")
    assert rc == 0, proc.stdout[-3000:]
    assert cluster.kubectl("get", "service", "my-app-gateway-istio", "-n", "my-app", check=False).returncode != 0
    # the load balancer's group stays in AWS, as the message said
    assert [g for g in groups(cluster) if stack in g.get("Tags", [])]


@pytest.mark.parametrize("cluster", [("--lb-mode", "aws-lb-controller", "--lbc-version", "v2.5.4")],
                         ids=["aws-lb-controller-2.5"], indirect=True)
def test_source_ranges_an_nlb_without_a_security_group_would_not_hold_are_refused_and_found(cluster, tmp_path):
    # the controller's release before v2.6.0 makes NLBs without a security group: refused before any change
    start = time.time()
    rc, stats, proc = playbook(cluster, tmp_path, "site.yml", "--tags", "istio", "-e", "istio_install_lb_kind=nlb")
    assert rc != 0
    message = failure(proc)
    assert "istio_install_lb_source_ranges=[\"127.0.0.1/32\"] would not hold" in message, message
    assert "its release v2.5.4 makes NLBs without a security group" in message, message
    assert [e for e in cluster.requests(start) if e["verb"] not in ("GET", "HEAD")] == []

    # such an NLB, made anyway, is open to every source: read back from AWS, it says so
    load_balancer_services(cluster, ["nlb"], {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
                                              "service.beta.kubernetes.io/load-balancer-source-ranges": "127.0.0.1/32"})
    hostname = json.loads(cluster.kubectl("get", "service", "nlb", "-o", "json").stdout)[
        "status"]["loadBalancer"]["ingress"][0]["hostname"]
    assert [lb.get("SecurityGroups", []) for lb in elbv2_of(cluster).describe_load_balancers()["LoadBalancers"]
            if hostname.startswith(lb["LoadBalancerName"] + "-")] == [[]]
    aws = {"region": "us-east-1", "endpoint_url": cluster.env["AWS_ENDPOINT_URL"],
           "access_key": cluster.state["aws"]["access_key"], "secret_key": cluster.state["aws"]["secret_key"]}
    run = run_playbook(tmp_path, [{"name": "read", "register": "read", "istio_demo.mesh.load_balancer_info": dict(
        aws, hostname=hostname, allowed_sources=["127.0.0.1/32"])}], env=cluster.env)
    assert run.rc == 0, run.stdout[-2000:]
    assert run.result("read")["unenforced"].endswith("has no security group: it lets every source in, and source "
                                                     "ranges hold (if at all) only on the nodes' groups")
