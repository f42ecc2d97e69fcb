# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lb_finalizer_owner filter: who must release a LoadBalancer Service's finalizers."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

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


class FilterModule(object):
    def filters(self):
        return {"lb_finalizer_owner": lb_finalizer_owner}
