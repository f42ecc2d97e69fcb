"""The kubernetes Python client (typed and dynamic) against the emulator."""

import json
import threading

import pytest
from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException


def _ns(core, name, labels=None):
    core.create_namespace({"metadata": {"name": name, "labels": labels or {}}})


def test_crud_metadata_conflicts_and_errors(kube):
    core = client.CoreV1Api(kube)
    _ns(core, "py-crud")
    cm = core.create_namespaced_config_map("py-crud", {"metadata": {"name": "c1", "labels": {"tier": "a"}},
                                                       "data": {"k": "v"}})
    assert cm.metadata.uid and cm.metadata.resource_version and cm.metadata.creation_timestamp
    with pytest.raises(ApiException) as exists:
        core.create_namespaced_config_map("py-crud", {"metadata": {"name": "c1"}})
    assert exists.value.status == 409 and json.loads(exists.value.body)["reason"] == "AlreadyExists"
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("nope", "py-crud")
    body = json.loads(missing.value.body)
    assert missing.value.status == 404 and body["kind"] == "Status" and body["message"] == 'configmaps "nope" not found'

    stale = cm.metadata.resource_version
    cm.data = {"k": "v2"}
    updated = core.replace_namespaced_config_map("c1", "py-crud", cm)
    assert updated.metadata.resource_version != stale
    cm.data = {"k": "v3"}
    cm.metadata.resource_version = stale
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("c1", "py-crud", cm)
    assert conflict.value.status == 409 and json.loads(conflict.value.body)["reason"] == "Conflict"

    dry = core.create_namespaced_config_map("py-crud", {"metadata": {"name": "dry"}}, dry_run="All")
    assert dry.metadata.name == "dry"
    with pytest.raises(ApiException):
        core.read_namespaced_config_map("dry", "py-crud")
    core.delete_namespace("py-crud")


@pytest.mark.parametrize("selector, expected", [
    ("tier=a", ["a1", "a2"]),
    ("tier==a", ["a1", "a2"]),
    ("tier!=a", ["b1", "kube-root-ca.crt", "none"]),
    ("tier in (a,b)", ["a1", "a2", "b1"]),
    ("tier notin (a)", ["b1", "kube-root-ca.crt", "none"]),
    ("tier", ["a1", "a2", "b1"]),
    ("!tier", ["kube-root-ca.crt", "none"]),
    ("tier=a,track=canary", ["a2"]),
])
def test_label_selectors(kube, selector, expected):
    core = client.CoreV1Api(kube)
    if "py-sel" not in [n.metadata.name for n in core.list_namespace().items]:
        _ns(core, "py-sel")
        for name, labels in (("a1", {"tier": "a"}), ("a2", {"tier": "a", "track": "canary"}),
                             ("b1", {"tier": "b"}), ("none", {})):
            core.create_namespaced_config_map("py-sel", {"metadata": {"name": name, "labels": labels}})
    found = core.list_namespaced_config_map("py-sel", label_selector=selector).items
    assert sorted(i.metadata.name for i in found) == expected


def test_field_selectors(kube):
    core = client.CoreV1Api(kube)
    names = [n.metadata.name for n in core.list_namespace(field_selector="metadata.name=kube-system").items]
    assert names == ["kube-system"]
    others = core.list_namespace(field_selector="metadata.name!=kube-system").items
    assert "kube-system" not in [n.metadata.name for n in others] and others
    with pytest.raises(ApiException) as bad:
        core.list_namespace(field_selector="spec.nothing=x")
    assert bad.value.status == 400


def test_watch_streams_added_modified_deleted(kube):
    core = client.CoreV1Api(kube)
    _ns(core, "py-watch")
    start = core.list_namespaced_config_map("py-watch").metadata.resource_version
    seen = []
    done = threading.Event()

    def consume():
        w = watch.Watch()
        for event in w.stream(core.list_namespaced_config_map, "py-watch", resource_version=start,
                              timeout_seconds=20):
            seen.append((event["type"], event["object"].metadata.name))
            if event["type"] == "DELETED":
                w.stop()
        done.set()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    core.create_namespaced_config_map("py-watch", {"metadata": {"name": "w1"}, "data": {"a": "1"}})
    core.patch_namespaced_config_map("w1", "py-watch", {"data": {"a": "2"}})
    core.delete_namespaced_config_map("w1", "py-watch")
    assert done.wait(30)
    assert [e for e in seen if e[1] == "w1"] == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]
    core.delete_namespace("py-watch")


def test_patch_flavours(kube):
    apps = client.AppsV1Api(kube)
    core = client.CoreV1Api(kube)
    _ns(core, "py-patch")
    apps.create_namespaced_deployment("py-patch", {
        "metadata": {"name": "d"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}},
                              "spec": {"containers": [
                                  {"name": "a", "image": "nginx:1.27", "ports": [{"containerPort": 80}]},
                                  {"name": "b", "image": "busybox:1.36"}]}}}})
    # strategic merge: containers merged by name, ports by containerPort
    patched = apps.patch_namespaced_deployment("d", "py-patch", {"spec": {"template": {"spec": {"containers": [
        {"name": "b", "image": "busybox:1.37"}]}}}})
    containers = {c.name: c.image for c in patched.spec.template.spec.containers}
    assert containers == {"a": "nginx:1.27", "b": "busybox:1.37"}
    assert patched.metadata.generation == 2
    dyn = dynamic.DynamicClient(kube)
    # RFC 6902 JSON patch
    dyn.resources.get(api_version="apps/v1", kind="Deployment").patch(
        name="d", namespace="py-patch", body=[{"op": "replace", "path": "/spec/replicas", "value": 3}],
        content_type="application/json-patch+json")
    assert apps.read_namespaced_deployment("d", "py-patch").spec.replicas == 3
    # JSON merge patch
    dyn.resources.get(api_version="v1", kind="Namespace").patch(
        name="py-patch", body={"metadata": {"labels": {"merged": "yes"}}},
        content_type="application/merge-patch+json")
    assert core.read_namespace("py-patch").metadata.labels["merged"] == "yes"
    core.delete_namespace("py-patch")


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "properties": {"spec": {"type": "object", "required": ["size"], "properties": {
                     "size": {"type": "integer", "minimum": 1}}}}}}}]},
}


def test_crd_adds_and_removes_a_kind_and_validates_its_objects(kube):
    dyn = dynamic.DynamicClient(kube)
    crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    crds.create(body=CRD)
    for event in crds.watch(field_selector="metadata.name=widgets.example.com", timeout=20):
        conditions = (event["raw_object"].get("status") or {}).get("conditions") or []
        if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            break
    dyn = dynamic.DynamicClient(kube)
    widgets = dyn.resources.get(api_version="example.com/v1", kind="Widget")
    widgets.create(body={"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                         "spec": {"size": 2}}, namespace="default")
    with pytest.raises(ApiException) as bad:
        widgets.create(body={"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"},
                             "spec": {"size": 0}}, namespace="default")
    assert bad.value.status == 422 and "spec.size" in json.loads(bad.value.body)["message"]
    # a required property left out: field.Required on the property's own path (apiextensions-apiserver's
    # kubeOpenAPIResultToFieldErrors), not an error on its parent
    with pytest.raises(ApiException) as missing:
        widgets.create(body={"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "y"},
                             "spec": {}}, namespace="default")
    status = json.loads(missing.value.body)
    assert missing.value.status == 422 and 'Widget.example.com "y" is invalid: spec.size: Required value' in \
        status["message"]
    assert status["details"]["causes"] == [{"reason": "FieldValueRequired", "message": "Required value",
                                            "field": "spec.size"}]
    crds.delete(name="widgets.example.com")
    groups = client.ApisApi(kube).get_api_versions().groups
    assert "example.com" not in [g.name for g in groups]


def test_a_raw_read_gives_what_the_dynamic_clients_objects_give(kube):
    """The collection's modules read LISTs as raw JSON (k8s_connection.read_json: the dynamic client's
    serialize=False) instead of building the client's objects and turning them back: the same dicts, items
    and metadata alike, and the same errors."""
    from kubernetes.dynamic.exceptions import NotFoundError

    from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_connection import read_json
    core = client.CoreV1Api(kube)
    _ns(core, "py-raw", {"team": "a"})
    for index in range(3):
        core.create_namespaced_config_map("py-raw", {"metadata": {"name": "c%d" % index, "labels": {"n": str(index)}},
                                                     "data": {"k": "v%d" % index}})
    dyn = dynamic.DynamicClient(kube)
    configmaps = dyn.resources.get(api_version="v1", kind="ConfigMap")
    raw = read_json(dyn, configmaps, namespace="py-raw", label_selector="n in (0,2)")
    objects = dyn.get(configmaps, namespace="py-raw", label_selector="n in (0,2)").to_dict()
    # a LIST's own resourceVersion is the cluster's at the moment of each read (API conventions): a write anywhere
    # in the cluster between the two reads moves it, so only it may differ
    for answer in (raw, objects):
        answer["metadata"].pop("resourceVersion")
    assert raw == objects
    assert [item["metadata"]["name"] for item in raw["items"]] == ["c0", "c2"]
    assert read_json(dyn, configmaps, name="c1", namespace="py-raw")["data"] == {"k": "v1"}
    with pytest.raises(NotFoundError):
        read_json(dyn, configmaps, name="nope", namespace="py-raw")
    core.delete_namespace("py-raw")


def test_a_refused_request_with_a_body_leaves_the_kept_alive_connection_usable(kube):
    # a POST the server answers without needing its body (an unknown resource: 404) must not leave that body on
    # the connection, where the client's next request would be read from the middle of it
    core = client.CoreV1Api(kube)
    raw = dynamic.DynamicClient(kube)
    for dummy in range(3):
        with pytest.raises(ApiException) as unknown:
            raw.request("POST", "/apis/nothing.example.com/v1/things", body={"spec": {"padding": "x" * 4096}})
        assert unknown.value.status == 404
        assert core.read_namespace("default").metadata.name == "default"
