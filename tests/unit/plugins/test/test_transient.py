"""The transient_failure test: 429/5xx and dropped connections are worth another try, nothing else is."""

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.istio_demo.mesh.plugins.test.transient import transient_failure


@pytest.mark.parametrize("result", [
    {"failed": True, "msg": "Failed to retrieve requested object: b'{\"kind\":\"Status\",\"code\":503}'"},
    {"failed": True, "msg": "Exception '(429)\\nReason: Too Many Requests' raised while listing"},
    {"failed": True, "msg": "('Connection aborted.', RemoteDisconnected('Remote end closed connection'))"},
    {"failed": True, "msg": "anything", "status": 500},
])
def test_transient_failures(result):
    assert transient_failure(result)


@pytest.mark.parametrize("result", [
    {"changed": False},
    {"failed": False, "msg": "503 pods"},
    {"failed": True, "msg": "Unauthorized", "status": 401},
    {"failed": True, "msg": "namespaces \"x\" not found"},
    {"failed": True, "msg": "\"Deployment\" \"web\": Timed out waiting on resource"},
])
def test_other_results(result):
    assert not transient_failure(result)


def test_a_value_that_is_not_a_result_is_refused():
    with pytest.raises(AnsibleFilterError, match="registered task result"):
        transient_failure("failed")
