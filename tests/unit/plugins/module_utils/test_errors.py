"""run_engine: the one way every module turns its engine's result or MeshError into the task's result."""

import json

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.istio_demo.mesh.plugins.module_utils import errors


def _result(capsys, engine, extra=None):
    """(exit code, task result) of a module whose engine is ``engine``, as AnsibleModule prints them."""
    with patch_module_args({}):
        module = AnsibleModule(argument_spec={}, supports_check_mode=True)
        with pytest.raises(SystemExit) as exited:
            errors.run_engine(module, engine, extra)
    return exited.value.code, json.loads(capsys.readouterr().out)


def test_a_result_exits_with_what_the_engine_returned_and_the_extra_keys(capsys):
    code, result = _result(capsys, lambda m: {"changed": True, "tag": "prod"}, lambda m: {"api_retries": []})
    assert code == 0 and result["changed"] is True and result["tag"] == "prod" and result["api_retries"] == []


def test_a_mesh_error_fails_with_its_message_details_and_the_extra_keys(capsys):
    def engine(module):
        raise errors.MeshError("tag='Bad' is invalid: expected a DNS label", tag="Bad")
    code, result = _result(capsys, engine, lambda m: {"api_retries": [{"reason": "HTTP 503"}]})
    assert code == 1 and result["failed"] is True
    assert result["msg"] == "tag='Bad' is invalid: expected a DNS label" and result["tag"] == "Bad"
    assert result["api_retries"] == [{"reason": "HTTP 503"}]


def test_other_exceptions_are_not_swallowed(capsys):
    def engine(module):
        raise KeyError("a bug")
    with pytest.raises(KeyError):
        _result(capsys, engine)
