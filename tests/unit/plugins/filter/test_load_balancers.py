"""Who releases a LoadBalancer Service's finalizers, as the teardown messages name them."""

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.istio_demo.mesh.plugins.filter.load_balancers import lb_finalizer_owner


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
