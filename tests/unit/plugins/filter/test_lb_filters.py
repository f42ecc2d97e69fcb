"""Who releases a LoadBalancer Service's finalizers, what stays in AWS, and NLBs that admit every source."""

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.istio_demo.mesh.plugins.filter import load_balancers

lb_finalizer_owner = load_balancers.lb_finalizer_owner
lb_leftovers = load_balancers.lb_leftovers
lbc_nlb_without_groups = load_balancers.lbc_nlb_without_groups


@pytest.mark.parametrize("finalizers, owner", [
    (["service.kubernetes.io/load-balancer-cleanup"], "the cloud provider's service controller"),
    (["service.k8s.aws/resources"], "the AWS Load Balancer Controller"),
    (["eks.amazonaws.com/load-balancer-cleanup"], "EKS Auto Mode"),
    (["example.com/mine"], "the controller that set it"),
    ([], "the controller that set it"),
])
def test_each_controller_is_named_by_its_finalizer(finalizers, owner):
    assert lb_finalizer_owner(finalizers).startswith(owner)


def test_anything_but_a_list_of_names_is_refused():
    with pytest.raises(AnsibleFilterError, match="expects a list of finalizer names"):
        lb_finalizer_owner("service.k8s.aws/resources")


def service(finalizers, hostname):
    """A Service as the controllers leave it: its finalizer and the load balancer's name in its status."""
    return {"metadata": {"name": "istio-ingressgateway", "namespace": "istio-system", "finalizers": finalizers},
            "status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}}


def test_the_in_tree_leftovers_name_the_elb_group_and_the_node_rule():
    said = lb_leftovers(service(["service.kubernetes.io/load-balancer-cleanup"],
                                "a0123456789abcdef0123456789abcde-1234.us-east-1.elb.amazonaws.com"))
    assert "security group k8s-elb-a0123456789abcdef0123456789abcde " in said
    assert "rule on the nodes' security group" in said


def test_the_lb_controller_leftovers_name_each_target_group_and_the_backend_group():
    bindings = [{"spec": {"targetGroupARN": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/k8s-a/1"}},
                {"spec": {"targetGroupARN": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/k8s-b/2"}}]
    said = lb_leftovers(service(["service.k8s.aws/resources"], "k8s-istiosys-istioing-0a.elb.amazonaws.com"),
                        bindings)
    assert "targetgroup/k8s-a/1, arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/k8s-b/2" in said
    assert "k8s-istiosys-istioing-*" in said and "k8s-traffic-*" in said


def test_a_service_that_is_not_one_is_refused():
    with pytest.raises(AnsibleFilterError, match="expects a Service object"):
        lb_leftovers({"kind": "Service"})


def controller(image, *args):
    """The controller's Deployment as its Helm chart makes it."""
    return {"kind": "Deployment", "metadata": {"name": "aws-load-balancer-controller", "namespace": "kube-system"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "aws-load-balancer-controller", "image": image,
                 "args": ["--cluster-name=demo", "--ingress-class=alb"] + list(args)}]}}}}


def test_an_older_controller_or_the_gate_off_makes_nlbs_without_a_group():
    image = "public.ecr.aws/eks/aws-load-balancer-controller:%s"
    assert "v2.5.4 makes NLBs without a security group" in lbc_nlb_without_groups(controller(image % "v2.5.4"))
    assert lbc_nlb_without_groups(controller(image % "v2.13.0")) == ""
    assert "--feature-gates=NLBSecurityGroup=false" in lbc_nlb_without_groups(
        controller(image % "v2.13.0", "--feature-gates=NLBSecurityGroup=false"))
    # a registry with a port and no tag says nothing about the release
    assert lbc_nlb_without_groups(controller("registry.example.com:5000/lbc")) == ""
    assert lbc_nlb_without_groups({}) == ""


lb_class_default = load_balancers.lb_class_default


def lbc_webhooks(operations=("CREATE",), object_selector=None, service_hook=True):
    """The controller's MutatingWebhookConfiguration as its Helm chart renders it (eks-charts
    aws-load-balancer-controller templates/webhook.yaml, default values; enableServiceMutatorWebhook=false leaves
    the Service webhook out)."""
    selector = {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "NotIn",
                                      "values": ["aws-load-balancer-controller"]}] + list(object_selector or [])}
    hooks = [{"name": "mpod.elbv2.k8s.aws", "failurePolicy": "Ignore", "admissionReviewVersions": ["v1"],
              "clientConfig": {"caBundle": "LS0t", "service": {"name": "aws-load-balancer-webhook-service",
                                                               "namespace": "kube-system", "path": "/mutate-v1-pod"}},
              "namespaceSelector": {"matchExpressions": [{"key": "elbv2.k8s.aws/pod-readiness-gate-inject",
                                                          "operator": "In", "values": ["enabled"]}]},
              "objectSelector": selector, "sideEffects": "None",
              "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}]}]
    if service_hook:
        hooks.append({"name": "mservice.elbv2.k8s.aws", "failurePolicy": "Fail", "admissionReviewVersions": ["v1"],
                      "clientConfig": {"caBundle": "LS0t", "service": {
                          "name": "aws-load-balancer-webhook-service", "namespace": "kube-system",
                          "path": "/mutate-v1-service"}},
                      "objectSelector": selector, "sideEffects": "None",
                      "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": list(operations),
                                 "resources": ["services"]}]})
    return [{"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
             "metadata": {"name": "aws-load-balancer-webhook", "labels": {"app.kubernetes.io/name":
                                                                          "aws-load-balancer-controller"}},
             "webhooks": hooks}]


def test_the_controllers_service_webhook_gives_a_new_service_its_nlb_class():
    said = lb_class_default(lbc_webhooks(), labels={"app": "istio-ingressgateway"})
    assert said["class"] == "service.k8s.aws/nlb"
    assert "mservice.elbv2.k8s.aws" in said["by"] and "aws-load-balancer-webhook" in said["by"]


@pytest.mark.parametrize("webhooks, labels", [
    (lbc_webhooks(service_hook=False), {}),  # enableServiceMutatorWebhook=false
    (lbc_webhooks(operations=("UPDATE",)), {}),  # the webhook does not take creation
    (lbc_webhooks(object_selector=[{"key": "lbc", "operator": "Exists"}]), {"app": "istio-ingressgateway"}),
    (lbc_webhooks(), {"app.kubernetes.io/name": "aws-load-balancer-controller"}),  # the chart's own exclusion
    ([], {}),
])
def test_a_service_the_webhook_does_not_take_keeps_no_class(webhooks, labels):
    assert lb_class_default(webhooks, labels=labels) == {"class": "", "by": ""}


def test_on_auto_mode_a_new_service_gets_auto_modes_class():
    said = lb_class_default([], auto_mode=True)
    assert said["class"] == "eks.amazonaws.com/nlb" and "EKS Auto Mode" in said["by"]


def test_anything_but_webhook_configurations_is_refused():
    with pytest.raises(AnsibleFilterError, match="expects a list of MutatingWebhookConfigurations"):
        lb_class_default({"items": []})
