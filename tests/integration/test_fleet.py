"""A fleet: the same mesh on three clusters from one inventory (inventories/sandbox-fleet), in parallel.

One cluster made to fail (its istioctl install fails) fails alone: the others are stood up, the fleet summary names
the failure and where; a rerun converges it and changes nothing on the others; verify.yml writes a report per
cluster; teardown.yml leaves every cluster empty. Bad fleets (two hosts on one cluster, a host without its
cluster's name) fail before any change, naming the host and the variable.
"""

import json
import os
import urllib.parse

import pytest

import sandboxrun
from playbook import fleet_playbook

pytestmark = pytest.mark.minutes(4)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLEET_INVENTORY = os.path.join(ROOT, "inventories", "sandbox-fleet")
HOSTS = ("demo-1", "demo-2", "demo-3")
CHECK = "Check the fleet has one host per cluster"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Three independent sandbox clusters in one AWS account: {host: its sandbox}, and the fleet's directory."""
    state_dir = str(tmp_path_factory.mktemp("fleet") / "state")
    clusters = sandboxrun.start_fleet(state_dir, len(HOSTS))
    try:
        assert sorted(clusters) == sorted(HOSTS)
        yield state_dir, clusters
    finally:
        sandboxrun.stop(state_dir)


def run(inventory, tmp_path, name, *extra, env=None):
    """ansible-playbook NAME across the inventory's hosts with forks 3, its reports under tmp_path."""
    return fleet_playbook(inventory, tmp_path, name, *extra, env=env)


def summary(tmp_path, playbook):
    """The fleet summary's table as {host: {column: cell}}, and its title line."""
    with open(os.path.join(str(tmp_path), "fleet-%s.md" % playbook)) as handle:
        lines = handle.read().splitlines()
    table = [line.strip("|").split("|") for line in lines if line.startswith("|")]
    header = [cell.strip() for cell in table[0]]
    rows = {}
    for cells in table[2:]:
        row = dict(zip(header, [cell.strip() for cell in cells]))
        rows[row["host"]] = row
    return lines[0], rows


def test_a_fleet_stands_up_with_one_failing_cluster_isolated_then_converges_verifies_and_tears_down(fleet, tmp_path):
    fleet_dir, clusters = fleet
    # each cluster its own endpoint host, as EKS gives each cluster its own: clients' discovery caches are keyed by it
    assert len({urllib.parse.urlsplit(c.api).hostname for c in clusters.values()}) == len(HOSTS)
    env = {"SANDBOX_FLEET_DIR": fleet_dir}
    clusters["demo-2"].faults(istioctl_fail_install=True)

    first = run(FLEET_INVENTORY, tmp_path, "site.yml", env=env)
    assert first.rc != 0, first.stdout[-3000:]
    stats = first.data["stats"]
    assert stats["demo-2"]["failures"] >= 1
    assert stats["demo-1"]["failures"] == 0 and stats["demo-3"]["failures"] == 0, first.outline()
    title, rows = summary(tmp_path, "site")
    assert "3 cluster(s), 1 failed" in title
    assert "istioctl" in rows["demo-2"]["failure"] or "Istio" in rows["demo-2"]["failure"], rows["demo-2"]
    for host in ("demo-1", "demo-3"):
        assert rows[host]["cluster"] == host and rows[host]["failure"] == "-", rows[host]
        assert rows[host]["Istio"] == "1.30.3" and rows[host]["revision"] == "default", rows[host]
        in_mesh, total = rows[host]["pods in the mesh"].split("/")
        assert in_mesh == total == "5", rows[host]  # the apps' pods (2 versions x 2 replicas) and NGINX's
        assert rows[host]["routes"] == "ingress /v1 ok, ingress /v2 ok, nginx /v1 ok, nginx /v2 ok", rows[host]
    # each cluster is its own: the others hold the mesh, the failed one no demo apps
    assert clusters["demo-1"].kubectl("get", "deploy", "-n", "my-app", "my-app-v1", check=False).returncode == 0
    assert clusters["demo-2"].kubectl("get", "namespace", "my-app", check=False).returncode != 0

    clusters["demo-2"].faults(istioctl_fail_install=False)
    second = run(FLEET_INVENTORY, tmp_path, "site.yml", env=env)
    assert second.rc == 0, second.outline()
    stats = second.data["stats"]
    assert stats["demo-2"]["changed"] > 0
    assert stats["demo-1"]["changed"] == 0 and stats["demo-3"]["changed"] == 0, second.outline()
    title, rows = summary(tmp_path, "site")
    assert "3 cluster(s), 0 failed" in title
    assert all(rows[host]["failure"] == "-" and rows[host]["Istio"] == "1.30.3" for host in HOSTS), rows

    verify = run(FLEET_INVENTORY, tmp_path, "verify.yml", env=env)
    assert verify.rc == 0, verify.outline()
    for host in HOSTS:
        with open(os.path.join(str(tmp_path), host, "mesh-report.md")) as handle:
            assert "1.30.3" in handle.read()
    title, rows = summary(tmp_path, "verify")
    assert "3 cluster(s), 0 failed" in title and rows["demo-3"]["pods in the mesh"] == "5/5"

    teardown = run(FLEET_INVENTORY, tmp_path, "teardown.yml", env=env)
    assert teardown.rc == 0, teardown.outline()
    for host in HOSTS:
        names = [item["metadata"]["name"] for item in
                 json.loads(clusters[host].kubectl("get", "namespaces", "-o", "json").stdout)["items"]]
        assert "istio-system" not in names and "my-app" not in names, (host, names)
    assert "3 cluster(s), 0 failed" in summary(tmp_path, "teardown")[0]


def write_inventory(tmp_path, hosts):
    path = os.path.join(str(tmp_path), "fleet.yml")
    with open(path, "w") as handle:
        json.dump({"all": {"vars": {"ansible_connection": "local", "mesh_aws_region": "us-east-1",
                                    "istio_install_version": "1.30.3"},
                           "hosts": hosts}}, handle)
    return path


def refused(result):
    """The task each host failed on, and whether any task ran after the fleet check on any host."""
    failed, after = {}, []
    seen_check = False
    for play in result.data.get("plays", []):
        for task in play["tasks"]:
            name = task["task"]["name"]
            for host, outcome in task["hosts"].items():
                if outcome.get("failed"):
                    failed[host] = (name, outcome.get("msg", ""))
                elif seen_check and not outcome.get("skipped"):
                    after.append((name, host))
            seen_check = seen_check or name == CHECK
    return failed, after


@pytest.mark.parametrize("hosts, message", [
    ({"dev": {"mesh_eks_cluster_name": "main", "mesh_kube_context": "main", "mesh_kubeconfig": "/nonexistent/kc"},
      "prod": {"mesh_eks_cluster_name": "main", "mesh_kube_context": "main", "mesh_kubeconfig": "/nonexistent/kc"}},
     "reach the same Kubernetes cluster: mesh_kubeconfig=\"/nonexistent/kc\", mesh_kube_context=\"main\""),
    ({"dev": {"mesh_eks_cluster_name": "main", "mesh_kube_context": "dev"},
      "prod": {"mesh_eks_cluster_name": "main", "mesh_kube_context": "prod"}},
     "name the same EKS cluster: mesh_eks_cluster_name=\"main\" in mesh_aws_region=\"us-east-1\""),
    ({"dev": {"mesh_eks_cluster_name": "dev", "mesh_kube_context": "dev"},
      "prod": {"mesh_kube_context": "prod"}},
     "host prod: mesh_eks_cluster_name is not set"),
], ids=["same context", "same EKS cluster", "no cluster name"])
def test_a_bad_fleet_fails_before_any_change_naming_the_host_and_the_variable(tmp_path, hosts, message):
    result = run(write_inventory(tmp_path, hosts), tmp_path, "site.yml")
    assert result.rc != 0
    failed, after = refused(result)
    # every host of the fleet refuses, each naming the offending host and variable: a bad inventory changes nothing
    assert sorted(failed) == sorted(hosts), failed or result.stdout[-2000:]
    assert all(name == CHECK and message in msg for name, msg in failed.values()), failed
    assert not after, after
    assert not os.path.exists(os.path.join(str(tmp_path), "fleet-site.md"))
