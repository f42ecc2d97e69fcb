"""The demo on each tested Istio release and on Kubernetes 1.33, with Istio's real addons of that release (the
sandbox serves them from the upstream files): install, injection, addons (loki's StatefulSet and volume claim
included), verify and teardown. The full flow at the default release runs in tests/integration."""

import json

import pytest

from playbook import collection_playbook
from sandbox import upstream

pytestmark = pytest.mark.minutes(4)


ADDONS = '{"observability_addons": ["prometheus", "grafana", "jaeger", "kiali", "loki"]}'
OTHERS = [r for r in upstream.TESTED if r != upstream.TESTED[-1]]


def injected(cluster):
    """(proxy image tag, native?) of every pod of the demo namespace."""
    pods = json.loads(cluster.kubectl("get", "pods", "-n", "my-app", "-o", "json").stdout)["items"]
    out = set()
    for pod in pods:
        spec = pod["spec"]
        proxy = [c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == "istio-proxy"]
        assert proxy, "pod %s has no istio-proxy" % pod["metadata"]["name"]
        out.add((proxy[0]["image"].rsplit(":", 1)[-1], proxy[0].get("restartPolicy") == "Always"))
    return out


def run(cluster, tmp_path, name, *extra):
    rc, stats, proc = collection_playbook(cluster, tmp_path, name, *extra)
    assert rc == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return stats


@pytest.mark.parametrize("cluster", [("--istio-version", r) for r in OTHERS], ids=OTHERS, indirect=True)
def test_install_injection_addons_and_verify_at_each_tested_release(cluster, tmp_path):
    release = cluster.state["istio_version"]
    version = ["-e", "mesh_istio_version=%s" % release, "-e", ADDONS]
    run(cluster, tmp_path, "site.yml", "--tags", "aws,istio,apps,observability", *version)
    assert injected(cluster) == {(release, False)}  # Kubernetes 1.32: classic sidecars
    loki = json.loads(cluster.kubectl("get", "pvc", "storage-loki-0", "-n", "istio-system", "-o", "json").stdout)
    assert loki["status"]["phase"] == "Bound" and loki["spec"]["storageClassName"] == "gp3"
    run(cluster, tmp_path, "verify.yml", "--tags", "aws,istio,apps,observability", *version)
    run(cluster, tmp_path, "teardown.yml", *version)
    left = cluster.kubectl("get", "pvc,pv,statefulset", "-A", "-o", "name").stdout
    assert left.strip() == ""


@pytest.mark.parametrize("cluster", [("--k8s-version", "1.33")], ids=["k8s-1.33"], indirect=True)
def test_the_demo_on_kubernetes_1_33_runs_native_sidecars(cluster, tmp_path):
    run(cluster, tmp_path, "site.yml")
    assert injected(cluster) == {(upstream.TESTED[-1], True)}
    run(cluster, tmp_path, "verify.yml")
    run(cluster, tmp_path, "teardown.yml")


@pytest.mark.parametrize("cluster", [("--storage", "none")], ids=["no-storage"], indirect=True)
def test_an_addon_that_claims_storage_needs_a_provisioner(cluster, tmp_path):
    rc, stats, proc = collection_playbook(cluster, tmp_path, "site.yml", "--tags", "istio,observability",
                                          "-e", ADDONS)
    assert rc != 0
    assert "observability_addons includes loki" in proc.stdout
    assert "no default StorageClass" in proc.stdout and "aws-ebs-csi-driver" in proc.stdout
    assert "Nothing was applied" in proc.stdout
    assert cluster.kubectl("get", "deploy,sts", "-n", "istio-system", "-l", "app=prometheus", "-o",
                           "name").stdout.strip() == ""
    # the user says to go without it: loki skipped, the others applied and verified
    skip = ["-e", ADDONS, "-e", "observability_skip_addons_without_storage=true"]
    run(cluster, tmp_path, "site.yml", "--tags", "istio,observability", *skip)
    assert cluster.kubectl("get", "sts", "-n", "istio-system", "-o", "name").stdout.strip() == ""
    assert "deployment.apps/kiali" in cluster.kubectl("get", "deploy", "-n", "istio-system", "-o", "name").stdout
    run(cluster, tmp_path, "verify.yml", "--tags", "istio,observability", *skip)
    run(cluster, tmp_path, "teardown.yml", *skip)
