"""istio_demo.mesh.load_balancer_info against the sandbox's AWS (moto): the Classic ELB the in-tree provider made
for a LoadBalancer Service, found from the hostname the Service holds (as kubernetes.core.k8s_info returns it)."""

import pytest
import sandboxrun

from awsview import load_balancer_services
from playbook import run_playbook


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with sandboxrun.own(tmp_path_factory, "lb-info") as running:
        yield running


def task(sandbox, name, **options):
    aws = {"region": sandbox.env["AWS_REGION"], "endpoint_url": sandbox.env["AWS_ENDPOINT_URL"],
           "access_key": sandbox.state["aws"]["access_key"], "secret_key": sandbox.state["aws"]["secret_key"]}
    return {"name": name, "register": name.replace(" ", "_"), "ignore_errors": True,
            "istio_demo.mesh.load_balancer_info": dict(aws, **options)}


def test_the_elb_is_read_back_with_who_its_group_lets_in(sandbox, tmp_path):
    load_balancer_services(sandbox, ["open"])
    # ranged from the start (the in-tree provider reads the annotation when the field is empty)
    load_balancer_services(sandbox, ["ranged"], {"service.beta.kubernetes.io/load-balancer-source-ranges":
                                                 "203.0.113.0/24"})
    hostname = "{{ (services.resources | selectattr('metadata.name', 'equalto', '%s') | first)" \
               ".status.loadBalancer.ingress[0].hostname }}"
    run = run_playbook(tmp_path, [
        {"name": "read services", "register": "services",
         "kubernetes.core.k8s_info": {"kind": "Service", "namespace": "default", "kubeconfig": sandbox.kubeconfig}},
        task(sandbox, "open", hostname=hostname % "open", allowed_sources=["203.0.113.0/24"]),
        task(sandbox, "ranged", hostname=hostname % "ranged", allowed_sources=["203.0.113.0/24"]),
        task(sandbox, "not aws", hostname="gateway.example.com"),
    ], env=sandbox.env)
    assert run.rc == 0, run.stdout[-3000:]
    opened = run.result("open")
    assert opened["found"] is True and opened["load_balancer"]["type"] == "classic"
    assert opened["load_balancer"]["listener_ports"] == [80] and opened["admitted"] == {"80": ["0.0.0.0/0"]}
    assert opened["excess"] == [{"port": 80, "source": "0.0.0.0/0"}] and opened["unenforced"] == ""
    ranged = run.result("ranged")
    assert ranged["found"] is True and ranged["excess"] == [], ranged
    assert run.result("not aws")["failed"] and "hostname='gateway.example.com'" in run.result("not aws")["msg"]

    # gone from AWS once its Service is deleted
    sandbox.kubectl("delete", "service", "open", "ranged")
    hostname = opened["load_balancer"]["name"] + "-1.us-east-1.elb.amazonaws.com"
    gone = run_playbook(tmp_path, [task(sandbox, "gone", hostname=hostname)], env=sandbox.env)
    assert gone.rc == 0 and gone.result("gone")["found"] is False, gone.stdout[-2000:]
