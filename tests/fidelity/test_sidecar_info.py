"""sidecar_info's judgement over every pod Istio's real injector made in its own tests (the .injected files of
pkg/kube/inject/testdata/inject at 1.30.3): injected or not, classic or native, the proxy's version, and no
violation for a pod injected as intended; injection turned off and proxyless gRPC are recognised as such."""

import json
import os

import pytest

from ansible_collections.istio_demo.mesh.plugins.module_utils import inspection
from conftest import load_all

RELEASE = "1.30.3"


def pods_of(doc):
    kind = doc.get("kind")
    if kind == "List":
        return [p for item in doc.get("items") or [] for p in pods_of(item)]
    if kind == "Pod":
        return [doc]
    spec = doc.get("spec") or {}
    if kind == "CronJob":
        # kube-inject writes a CronJob pod's labels and annotations onto its jobTemplate: not a pod's shape
        return []
    template = spec.get("template")
    return [template] if template else []


def running(pod, name):
    """The pod as the API returns it once the kubelet ran it: every container ready."""
    pod = json.loads(json.dumps(pod))
    pod.setdefault("metadata", {}).update(name=name, namespace="golden")
    spec = pod.get("spec") or {}
    statuses = [{"name": c["name"], "ready": True, "restartCount": 0, "state": {"running": {}}}
                for c in spec.get("containers") or []]
    inits = [{"name": c["name"], "ready": c.get("restartPolicy") == "Always", "restartCount": 0,
              "state": {"running": {}} if c.get("restartPolicy") == "Always" else {"terminated": {"exitCode": 0}}}
             for c in spec.get("initContainers") or []]
    pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                     "containerStatuses": statuses, "initContainerStatuses": inits}
    return pod


def golden_files(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith(".injected"))


def test_every_real_injected_pod_is_judged_right(real):
    folder = os.path.dirname(real(RELEASE, "inject/hello.yaml.injected"))
    judged = 0
    for name in golden_files(folder):
        for index, pod in enumerate(p for doc in load_all(os.path.join(folder, name)) for p in pods_of(doc)):
            annotations = (pod.get("metadata") or {}).get("annotations") or {}
            raw = annotations.get("sidecar.istio.io/status")
            status = json.loads(raw) if raw else None
            info = inspection.inspect_pod(running(pod, "%s-%d" % (name, index)), {"istio-injection": "enabled"},
                                          require=("injected", "labels", "init", "ready"))
            where = "%s #%d" % (name, index)
            spec = pod.get("spec") or {}
            proxy = [c for c in (spec.get("initContainers") or []) + spec.get("containers", [])
                     if c["name"] == "istio-proxy"]
            if status is None or not proxy:
                # not injected (injection off, host network, a Service) or proxyless gRPC (no istio-proxy at all)
                assert info["injected"] is False, where
                assert info["sidecar_mode"] == "none", where
                continue
            judged += 1
            native = proxy[0].get("restartPolicy") == "Always"
            assert info["injected"] is True, where
            assert info["sidecar_mode"] == ("native" if native else "container"), where
            last = proxy[0]["image"].rsplit("/", 1)[-1]
            # the tag is the version; an image without one (a custom template's foo/bar) has none to report
            assert info["proxy_version"] == (last.rsplit(":", 1)[-1] if ":" in last else None), where
            if status.get("initContainers") and set(status["initContainers"]) & set(inspection.INIT_NAMES):
                assert info["init"]["name"] in inspection.INIT_NAMES, where
                assert info["violations"] == [], where
    assert judged > 90


@pytest.mark.parametrize("golden, verdict", [
    ("hello-ignore.yaml.injected", "injection is turned off on the pod by sidecar.istio.io/inject=false"),
    ("grpc-simple.yaml.injected", None),
])
def test_pods_without_a_proxy_are_told_apart(real, golden, verdict):
    pod = pods_of(load_all(real(RELEASE, "inject/" + golden))[0])[0]
    info = inspection.inspect_pod(running(pod, "p"), {"istio-injection": "enabled"})
    assert info["injected"] is False
    if verdict:
        assert any(verdict in v for v in info["violations"])
    else:
        # proxyless gRPC: Istio's grpc-agent template adds a bootstrap init container and no proxy
        assert "grpc-bootstrap-init" in info["init_containers"]


# ---------------------------------------------------------------- ambient: pods shaped as the real ones

def ztunnel_pod(real, node):
    """A running pod of the real ztunnel DaemonSet (manifest-generate's ztunnel golden), on ``node``."""
    daemonset = load_all(real(RELEASE, "manifest-generate/ztunnel.golden.yaml"))[0]
    pod = running(daemonset["spec"]["template"], "ztunnel-" + node)
    pod["metadata"]["namespace"] = daemonset["metadata"]["namespace"]
    pod["spec"]["nodeName"] = node
    return pod


def app_pod(real, node, annotations=None, labels=None):
    """The demo-shaped app of Istio's injection tests before injection (hello.yaml), running on ``node``, with
    what ambient sets on it (the CNI node agent's annotation)."""
    pod = running(pods_of(load_all(real(RELEASE, "inject/hello.yaml"))[0])[0], "hello-" + node)
    pod["spec"]["nodeName"] = node
    pod["metadata"].setdefault("annotations", {}).update(annotations or {})
    pod["metadata"].setdefault("labels", {}).update(labels or {})
    return pod


def test_the_ztunnel_pods_are_found_by_their_real_label(real):
    key, value = inspection.ZTUNNEL_SELECTOR.split("=")
    pod = ztunnel_pod(real, "n1")
    assert pod["metadata"]["labels"][key] == value
    assert inspection.ztunnel_nodes([pod]) == {"n1": True}
    # the ztunnel keeps itself out of ambient, and is told so
    info = inspection.inspect_pod(pod, {}, require=("ambient",), ztunnels={"n1": True})
    assert info["violations"] == ["pod ztunnel-n1 in istio-system is not in the ambient mesh: it opts out with the "
                                  "label istio.io/dataplane-mode=none"]


@pytest.mark.parametrize("case, namespace_labels, annotations, labels, ztunnels, verdict", [
    ("enrolled", {"istio.io/dataplane-mode": "ambient"}, {"ambient.istio.io/redirection": "enabled"}, {},
     {"n1": True}, None),
    ("namespace not enrolled", {}, {}, {}, {"n1": True},
     "namespace label istio.io/dataplane-mode=ambient is missing (kubectl label namespace golden "
     "istio.io/dataplane-mode=ambient"),
    ("opted out", {"istio.io/dataplane-mode": "ambient"}, {}, {"istio.io/dataplane-mode": "none"}, {"n1": True},
     "it opts out with the label istio.io/dataplane-mode=none"),
    ("no ztunnel on its node", {"istio.io/dataplane-mode": "ambient"}, {"ambient.istio.io/redirection": "enabled"},
     {}, {"n2": True}, "no ready ztunnel on its node n1"),
    ("ztunnel not ready", {"istio.io/dataplane-mode": "ambient"}, {"ambient.istio.io/redirection": "pending"}, {},
     {"n1": False}, "no ready ztunnel on its node n1"),
    ("pending", {"istio.io/dataplane-mode": "ambient"}, {"ambient.istio.io/redirection": "pending"}, {},
     {"n1": True}, "the ztunnel on node n1 has not taken it yet (ambient.istio.io/redirection=pending)"),
    ("never enrolled", {"istio.io/dataplane-mode": "ambient"}, {}, {}, {"n1": True},
     "the Istio CNI node agent has not enrolled it (no ambient.istio.io/redirection annotation)"),
])
def test_ambient_pods_are_judged_by_what_ambient_sets(real, case, namespace_labels, annotations, labels, ztunnels,
                                                      verdict):
    pod = app_pod(real, "n1", annotations, labels)
    info = inspection.inspect_pod(pod, namespace_labels, require=("ambient", "ready"), ztunnels=ztunnels)
    assert info["injected"] is False and info["sidecar_mode"] == "none", case
    if verdict is None:
        assert info["violations"] == [] and info["in_mesh"] is True, case
        assert info["ambient"] == {"mode": "ambient", "mode_from": "namespace", "redirection": "enabled",
                                   "node": "n1", "ztunnel_ready": True}
    else:
        assert len(info["violations"]) == 1 and verdict in info["violations"][0], (case, info["violations"])
        assert info["violations"][0].startswith("pod hello-n1 in golden is not in the ambient mesh: ")


def test_a_pod_with_a_real_sidecar_is_not_counted_as_ambient(real):
    injected = pods_of(load_all(real(RELEASE, "inject/hello.yaml.injected"))[0])[0]
    info = inspection.inspect_pod(running(injected, "sidecar"), {"istio.io/dataplane-mode": "ambient"},
                                  require=("ambient",), ztunnels={None: True})
    assert info["injected"] is True and info["in_mesh"] is True
    assert "it runs an istio-proxy sidecar, and ambient leaves pods with a sidecar to it" in info["violations"][0]


def test_a_real_gateway_passes_as_in_the_mesh_through_its_own_proxy(real):
    """Istio's gateway template opts its pods out of ztunnel (istio.io/dataplane-mode=none) and runs istio-proxy as
    a router: in an ambient namespace such a pod is in the mesh through its own proxy, not a violation."""
    objects = load_all(real(RELEASE, "manifest-generate/all_on.golden-show-in-gh-pull-request.yaml"))
    gateway = next(o for o in objects if o and o.get("kind") == "Deployment"
                   and o["metadata"]["name"] == "istio-ingressgateway")
    pod = running(gateway["spec"]["template"], "istio-ingressgateway-1")
    assert pod["metadata"]["labels"]["istio.io/dataplane-mode"] == "none"
    info = inspection.inspect_pod(pod, {"istio.io/dataplane-mode": "ambient"}, require=("ambient", "ready"),
                                  ztunnels={None: True})
    assert info["proxy_role"] == "router" and info["in_mesh"] is True and info["violations"] == []
    # the same label on an application pod is an opt-out, and said
    app = app_pod(real, "n1", labels={"istio.io/dataplane-mode": "none"})
    verdict = inspection.inspect_pod(app, {"istio.io/dataplane-mode": "ambient"}, require=("ambient",),
                                     ztunnels={"n1": True})
    assert verdict["proxy_role"] is None and "it opts out" in verdict["violations"][0]
    injected = pods_of(load_all(real(RELEASE, "inject/hello.yaml.injected"))[0])[0]
    assert inspection.inspect_pod(running(injected, "s"), {}, require=("injected",))["proxy_role"] == "sidecar"
