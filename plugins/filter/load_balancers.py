# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lb_finalizer_owner, lb_leftovers, lbc_nlb_without_groups and lb_class_default filters: who must release a
LoadBalancer Service's finalizers, what stays in AWS when they are taken off by hand, whether the AWS Load Balancer
Controller makes NLBs that admit every source, and which class a new LoadBalancer Service is given."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError
from ansible_collections.istio_demo.mesh.plugins.module_utils.names import image_tag

# The finalizers the controllers that make AWS load balancers put on a Service, and who they are on EKS:
# k8s.io/cloud-provider's service controller (servicehelper: service.kubernetes.io/load-balancer-cleanup), the AWS
# Load Balancer Controller (service.k8s.aws/resources), EKS Auto Mode (a finalizer of the eks.amazonaws.com domain).
OWNERS = [
    (lambda f: f == "service.k8s.aws/resources",
     "the AWS Load Balancer Controller (kube-system/aws-load-balancer-controller)"),
    (lambda f: "eks.amazonaws.com" in f, "EKS Auto Mode"),
    (lambda f: f == "service.kubernetes.io/load-balancer-cleanup",
     "the cloud provider's service controller (on EKS: the control plane's in-tree AWS provider)"),
]


def lb_finalizer_owner(finalizers):
    """The controller that must release these finalizers, as a phrase for a message."""
    if not isinstance(finalizers, (list, tuple)) or not all(isinstance(f, str) for f in finalizers):
        raise AnsibleFilterError("lb_finalizer_owner expects a list of finalizer names, got %r" % (finalizers,))
    for matches, owner in OWNERS:
        if any(matches(f) for f in finalizers):
            return owner
    return "the controller that set it"


def _alnum(text):
    """The controller names its groups after the Service's namespace and name with only their alphanumerics."""
    return "".join(c for c in text if c.isalnum())


def _hostname(service):
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [{}]
    return ingress[0].get("hostname") or ingress[0].get("ip") or "(no address)"


def lb_leftovers(service, bindings=None):
    """What stays in AWS once a Service's load-balancer finalizers are removed without its controller: the load
    balancer and what that controller made with it (REAL_EKS.md: the in-tree provider's k8s-elb-* group and the rule
    on the nodes' group that references it; the AWS Load Balancer Controller's target groups, frontend group and the
    node rules that admit its shared k8s-traffic-* backend group)."""
    if not isinstance(service, dict) or not isinstance((service.get("metadata") or {}).get("name"), str):
        raise AnsibleFilterError("lb_leftovers expects a Service object (with metadata.name), got %r" % (service,))
    if bindings is not None and not isinstance(bindings, (list, tuple)):
        raise AnsibleFilterError("lb_leftovers expects a list of TargetGroupBindings, got %r" % (bindings,))
    finalizers = service["metadata"].get("finalizers") or []
    hostname = _hostname(service)
    groups = sorted(((b.get("spec") or {}).get("targetGroupARN") or "?") for b in bindings or [])
    if "service.k8s.aws/resources" in finalizers or groups:
        return ("NLB %s, its target groups (%s), its security group k8s-%s-%s-* and the rules on the nodes' "
                "security groups that admit the shared backend group k8s-traffic-* (delete that group too when no "
                "other load balancer of the cluster uses it)" % (
                    hostname, ", ".join(groups) or "none bound", _alnum(service["metadata"].get("namespace", ""))[:8],
                    _alnum(service["metadata"]["name"])[:8]))
    if any("eks.amazonaws.com" in f for f in finalizers):
        return "NLB %s and the security groups EKS Auto Mode made for it" % hostname
    if "service.kubernetes.io/load-balancer-cleanup" in finalizers:
        name = hostname.replace("internal-", "", 1).split(".")[0].rsplit("-", 1)[0]
        return ("Classic ELB %s, its security group k8s-elb-%s and the all-traffic rule on the nodes' security "
                "group that references that group" % (hostname, name))
    return "load balancer %s" % hostname


def lbc_nlb_without_groups(deployment):
    """Why the AWS Load Balancer Controller of this Deployment makes NLBs without a security group, or "".

    Its NLBs get a managed frontend group from v2.6.0 on, behind the feature gate NLBSecurityGroup (on by default);
    an older release, or the gate switched off, leaves every NLB open to any source whatever the Service's
    loadBalancerSourceRanges say for ip targets (LBC docs "NLB security groups", model_build_target_group.go)."""
    if not deployment:
        return ""
    if not isinstance(deployment, dict):
        raise AnsibleFilterError("lbc_nlb_without_groups expects a Deployment, got %r" % (deployment,))
    containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    for container in containers:
        image = str(container.get("image") or "")
        tag = image_tag(image) or ""
        version = re.match(r"^v?(\d+)\.(\d+)", tag)
        if version and (int(version.group(1)), int(version.group(2))) < (2, 6):
            return "its release %s makes NLBs without a security group (they come from v2.6.0 on)" % tag
        for arg in container.get("args") or []:
            if re.search(r"NLBSecurityGroup=false", str(arg)):
                return "it runs with %s, so its NLBs get no security group" % arg
    return ""


# The class a new LoadBalancer Service without one is given at admission: the AWS Load Balancer Controller's webhook
# (eks-charts aws-load-balancer-controller templates/webhook.yaml: MutatingWebhookConfiguration
# aws-load-balancer-webhook, webhook mservice.elbv2.k8s.aws, Helm value enableServiceMutatorWebhook, on by default)
# and EKS Auto Mode, whose control plane makes eks.amazonaws.com/nlb the cluster's default (EKS user guide,
# auto-configure-nlb); an Auto Mode cluster holds the CRD nodeclasses.eks.amazonaws.com.
LBC_SERVICE_WEBHOOK = "mservice.elbv2.k8s.aws"


def _selector_matches(selector, labels):
    """A metav1.LabelSelector against labels (an absent selector matches everything)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def lb_class_default(webhooks, auto_mode=False, labels=None, namespace_labels=None):
    """The loadBalancerClass a new LoadBalancer Service with these labels gets at admission although it asks for
    none, and who gives it: ``{"class": ..., "by": ...}``, the class empty when it is left without one.

    ``webhooks`` are the cluster's MutatingWebhookConfigurations (as k8s_info returns them); ``auto_mode`` whether
    the cluster is an EKS Auto Mode one (its CRD nodeclasses.eks.amazonaws.com exists)."""
    if not isinstance(webhooks, (list, tuple)) or not all(isinstance(w, dict) for w in webhooks):
        raise AnsibleFilterError("lb_class_default expects a list of MutatingWebhookConfigurations, got %r"
                                 % (webhooks,))
    labels = labels or {}
    namespace_labels = namespace_labels or {}
    for config in sorted(webhooks, key=lambda c: (c.get("metadata") or {}).get("name", "")):
        for hook in config.get("webhooks") or []:
            if hook.get("name") != LBC_SERVICE_WEBHOOK:
                continue
            creates = any("services" in (rule.get("resources") or []) and
                          set(rule.get("operations") or []) & {"CREATE", "*"} for rule in hook.get("rules") or [])
            if creates and _selector_matches(hook.get("namespaceSelector"), namespace_labels) and \
                    _selector_matches(hook.get("objectSelector"), labels):
                return {"class": "service.k8s.aws/nlb", "by": (
                    "the AWS Load Balancer Controller's webhook %s (MutatingWebhookConfiguration %s)"
                    % (LBC_SERVICE_WEBHOOK, (config.get("metadata") or {}).get("name")))}
    if auto_mode:
        return {"class": "eks.amazonaws.com/nlb", "by": "EKS Auto Mode, whose default class it is"}
    return {"class": "", "by": ""}


class FilterModule(object):
    def filters(self):
        return {"lb_finalizer_owner": lb_finalizer_owner, "lb_leftovers": lb_leftovers,
                "lbc_nlb_without_groups": lbc_nlb_without_groups, "lb_class_default": lb_class_default}
