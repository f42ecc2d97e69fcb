"""The manifest engine's pure parts: reading a definition, and telling an object that needs no request."""

import pytest

from ansible_collections.istio_demo.mesh.plugins.module_utils import manifest

NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "my-app"}}
SVC = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
       "spec": {"ports": [{"port": 80}], "selector": {"app": "web"}}}


def test_yaml_text_lists_and_list_kinds_become_objects_in_order():
    text = "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: my-app}\n---\n---\n" \
           "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
    objects = manifest.objects_of(text)
    assert [manifest.label(o) for o in objects] == ["Namespace//my-app", "ConfigMap//a"]


def test_the_namespace_option_fills_only_namespaced_objects_without_one():
    assert manifest.with_namespace(SVC, "my-app", True)["metadata"]["namespace"] == "my-app"
    assert "namespace" not in SVC["metadata"]  # the caller's definition is not modified
    other = dict(SVC, metadata={"name": "x", "namespace": "other"})
    assert manifest.with_namespace(other, "my-app", True)["metadata"]["namespace"] == "other"
    assert "namespace" not in manifest.with_namespace(NS, "my-app", False)["metadata"]


@pytest.mark.parametrize("definition, named", [
    ([{"kind": "Service", "metadata": {"name": "x"}}], "definition[0]"),
    ([NS, {"apiVersion": "v1", "kind": "Service", "metadata": {}}], "definition[1]"),
    (42, "definition=42"),
    ("a: [", "not valid YAML"),
])
def test_malformed_definitions_are_named(definition, named):
    with pytest.raises(manifest.ManifestError) as error:
        manifest.objects_of(definition)
    assert named in str(error.value)


def test_an_object_holding_every_desired_field_is_unchanged():
    live = {"metadata": {"name": "web", "uid": "u1", "annotations": {"a": "1"}},
            "spec": {"ports": [{"port": 80, "protocol": "TCP"}], "selector": {"app": "web"}, "type": "ClusterIP"}}
    assert manifest.contains(live, {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})


def test_a_null_in_the_definition_is_met_by_the_field_the_server_dropped():
    # a Deployment of Istio's Prometheus addon as the API server stores it: no rollingUpdate under Recreate
    live = {"metadata": {"name": "prometheus"}, "spec": {"strategy": {"type": "Recreate"}}}
    assert manifest.contains(live, {"spec": {"strategy": {"type": "Recreate", "rollingUpdate": None}}})
    assert not manifest.contains(live, {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": None}}})
    assert not manifest.contains({"spec": {"strategy": {"rollingUpdate": {"maxSurge": 1}}}},
                                 {"spec": {"strategy": {"rollingUpdate": None}}})


@pytest.mark.parametrize("wanted", [
    {"spec": {"ports": [{"port": 81}]}},                     # a value differs
    {"spec": {"ports": [{"port": 80}, {"port": 443}]}},      # a list item is missing
    {"spec": {"externalName": "x"}},                         # a field is missing
    {"metadata": {"labels": {"app": "web"}}},                # a mapping is missing
])
def test_any_difference_means_the_object_is_applied(wanted):
    live = {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80, "protocol": "TCP"}]}}
    assert not manifest.contains(live, wanted)


@pytest.mark.parametrize("state, wait", [("absent", True), ("patched", True), ("present", False)])
def test_prove_is_refused_where_nothing_rolls_out(state, wait):
    with pytest.raises(manifest.ManifestError) as error:
        manifest.check_prove({"state": state, "wait": wait, "prove": {"namespace": ["my-app"]}})
    assert "prove is invalid with state=%s, wait=%s" % (state, wait) in error.value.message
    manifest.check_prove({"state": state, "wait": wait, "prove": None})  # without prove, nothing to refuse


def test_prove_takes_sidecar_info_options_as_sidecar_info_defines_them():
    from ansible_collections.istio_demo.mesh.plugins.modules import manifest as manifest_module
    from ansible_collections.istio_demo.mesh.plugins.modules import sidecar_info
    proof = manifest_module.argument_spec()["prove"]["options"]
    judge = sidecar_info.argument_spec()
    for name, spec in proof.items():
        if name == "fail_on_violation":  # the rollout's proof fails by default; sidecar_info only reports
            assert spec["default"] is True and judge[name]["default"] is False
        else:
            assert spec == judge[name], name
