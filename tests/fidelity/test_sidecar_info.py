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
