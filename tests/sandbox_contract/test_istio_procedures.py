"""Istio's own documented procedures, typed on the sandbox step by step as a person follows them, each output
checked as the page shows it: istio.io/latest/docs/setup/upgrade/canary - the canary upgrade (control plane, data
plane, the gateway's proxy moving, uninstalling the old control plane) and its "Stable revision labels" section
(prod-stable / prod-canary tags, `istioctl ps` per namespace, moving a tag, the default tag). Istio's samples are
read from ../shared/upstream (samples/curl/curl.yaml)."""

import json
import os
import re
import subprocess

import pytest

UPSTREAM = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), os.pardir,
                        "shared", "upstream", "istio", "1.30.3")
CURL = os.path.join(UPSTREAM, "samples", "curl", "curl.yaml")
OLD, NEW = "1.29.6", "1.30.3"


def istioctl(cluster, release, *args):
    done = subprocess.run(["istioctl-" + release] + list(args), env=cluster.env, capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0, "istioctl %s: %s%s" % (" ".join(args), done.stdout, done.stderr)
    return done.stdout


def table(text):
    """The rows of kubectl's or istioctl's table output, as dicts by column header."""
    lines = [line for line in text.splitlines() if line.strip()]
    # columns start where their header does (a cell may hold a space: istioctl's "NOT SENT")
    starts = [m.start() for m in re.finditer(r"\S+", lines[0])]
    names = lines[0].split()
    bounds = list(zip(starts, starts[1:] + [None]))
    return [dict((name, line[a:b].strip()) for name, (a, b) in zip(names, bounds)) for line in lines[1:]]


def proxy_status(cluster, namespace=None):
    """{pod name: ISTIOD column} of `istioctl proxy-status` (of one namespace)."""
    args = ["proxy-status"] + (["-n", namespace] if namespace else [])
    return dict((row["NAME"].rsplit(".", 1)[0], row["ISTIOD"]) for row in table(istioctl(cluster, NEW, *args)))


def pods(cluster, namespace, selector):
    return sorted(json.loads(cluster.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o",
                                             "json").stdout)["items"], key=lambda p: p["metadata"]["name"])


def curl_in(cluster, namespace):
    cluster.kubectl("apply", "-n", namespace, "-f", CURL)
    cluster.kubectl("rollout", "status", "deploy/curl", "-n", namespace, "--timeout=60s")
    return [p["metadata"]["name"] for p in pods(cluster, namespace, "app=curl")
            if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]


@pytest.mark.parametrize("cluster", [("--istio-version", OLD)], ids=["istio-1.29.6"], indirect=True)
def test_the_canary_upgrade_page(cluster):
    # Before you upgrade
    precheck = subprocess.run(["istioctl-" + NEW, "x", "precheck"], env=cluster.env, capture_output=True, text=True,
                              timeout=60, check=False)
    # (real istioctl writes the all-clear on stderr)
    assert precheck.returncode == 0 and "No issues found when checking the cluster. Istio is safe to install or " \
        "upgrade!" in precheck.stderr, precheck
    istioctl(cluster, OLD, "install", "--set", "profile=demo", "-y")
    cluster.kubectl("create", "namespace", "test-ns")
    cluster.kubectl("label", "namespace", "test-ns", "istio-injection=enabled")
    (old_curl,) = curl_in(cluster, "test-ns")

    # Control plane: the canary beside the running one
    istioctl(cluster, NEW, "install", "--set", "revision=canary", "-y")
    istiods = [p["metadata"]["name"] for p in pods(cluster, "istio-system", "app=istiod")]
    assert [re.sub(r"-[a-z0-9]+-[a-z0-9]+$", "", name) for name in istiods] == ["istiod", "istiod-canary"], istiods
    services = table(cluster.kubectl("get", "svc", "-n", "istio-system", "-l", "app=istiod").stdout)
    # (and the default tag's Service, istiod-revision-tag-default, which carries app=istiod too)
    assert {"istiod", "istiod-canary"} <= {row["NAME"] for row in services}
    webhooks = dict((row["NAME"], row["WEBHOOKS"]) for row in table(
        cluster.kubectl("get", "mutatingwebhookconfigurations").stdout))
    assert webhooks["istio-sidecar-injector-canary"] == "2" and webhooks["istio-revision-tag-default"] == "4"
    assert "istio-sidecar-injector" in webhooks

    # Data plane: the existing proxy stays on the old control plane; a namespace moved to the canary gets it
    assert proxy_status(cluster, "test-ns")[old_curl].startswith("istiod-") and \
        not proxy_status(cluster, "test-ns")[old_curl].startswith("istiod-canary-")
    cluster.kubectl("label", "namespace", "test-ns", "istio-injection-", "istio.io/rev=canary")
    cluster.kubectl("rollout", "restart", "deploy/curl", "-n", "test-ns")
    cluster.kubectl("rollout", "status", "deploy/curl", "-n", "test-ns", "--timeout=60s")
    moved = [name for name, istiod in proxy_status(cluster, "test-ns").items()]
    assert moved and old_curl not in moved
    assert all(istiod.startswith("istiod-canary-") for istiod in proxy_status(cluster, "test-ns").values())
    # the ingress gateway, upgraded in place by the canary's install, is on the canary control plane too
    cluster.kubectl("rollout", "status", "deploy/istio-ingressgateway", "-n", "istio-system", "--timeout=60s")
    gateway = [p["metadata"]["name"] for p in pods(cluster, "istio-system", "app=istio-ingressgateway")
               if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
    assert all(proxy_status(cluster, "istio-system").get(name, "").startswith("istiod-canary-") for name in gateway)

    # Uninstall old control plane: the default tag moves first (the page's "Default tag"), then the old one goes
    istioctl(cluster, NEW, "tag", "set", "default", "--revision", "canary", "--overwrite")
    istioctl(cluster, NEW, "uninstall", "--revision", "default", "-y")
    assert [re.sub(r"-[a-z0-9]+-[a-z0-9]+$", "", p["metadata"]["name"])
            for p in pods(cluster, "istio-system", "app=istiod")] == ["istiod-canary"]
    cluster.kubectl("create", "namespace", "later")
    cluster.kubectl("label", "namespace", "later", "istio-injection=enabled")
    assert all(istiod.startswith("istiod-canary-") for istiod in proxy_status(cluster, "later").values()) and \
        len(curl_in(cluster, "later")) == 1 and proxy_status(cluster, "later")


def test_the_stable_revision_labels_section(cluster):
    # two revisions, each with its own istioctl (the page installs 1-29-6 and 1-30-3 with profile minimal)
    istioctl(cluster, OLD, "install", "--revision=1-29-6", "--set", "profile=minimal", "--skip-confirmation")
    istioctl(cluster, NEW, "install", "--revision=1-30-3", "--set", "profile=minimal", "--skip-confirmation")
    istioctl(cluster, NEW, "tag", "set", "prod-stable", "--revision", "1-29-6")
    istioctl(cluster, NEW, "tag", "set", "prod-canary", "--revision", "1-30-3")
    tags = table(istioctl(cluster, NEW, "tag", "list"))
    assert {(row["TAG"], row["REVISION"]) for row in tags} >= {("prod-stable", "1-29-6"), ("prod-canary", "1-30-3")}
    for namespace, tag in (("app-ns-1", "prod-stable"), ("app-ns-2", "prod-stable"), ("app-ns-3", "prod-canary")):
        cluster.kubectl("create", "namespace", namespace)
        cluster.kubectl("label", "namespace", namespace, "istio.io/rev=" + tag)
        curl_in(cluster, namespace)
    # `istioctl ps`: each namespace's proxy on the revision its tag points at
    for namespace, revision in (("app-ns-1", "1-29-6"), ("app-ns-2", "1-29-6"), ("app-ns-3", "1-30-3")):
        status = proxy_status(cluster, namespace)
        assert status and all(i.startswith("istiod-%s-" % revision) for i in status.values()), (namespace, status)

    # moving prod-stable to 1-30-3 and restarting moves app-ns-1 and app-ns-2
    istioctl(cluster, NEW, "tag", "set", "prod-stable", "--revision", "1-30-3", "--overwrite")
    for namespace in ("app-ns-1", "app-ns-2"):
        cluster.kubectl("rollout", "restart", "deploy/curl", "-n", namespace)
        cluster.kubectl("rollout", "status", "deploy/curl", "-n", namespace, "--timeout=60s")
        status = proxy_status(cluster, namespace)
        assert len(status) == 1 and all(i.startswith("istiod-1-30-3-") for i in status.values()), status

    # Default tag: istio-injection=enabled namespaces follow whichever revision the default tag names
    istioctl(cluster, NEW, "tag", "set", "default", "--revision", "1-30-3", "--overwrite")
    cluster.kubectl("create", "namespace", "plain")
    cluster.kubectl("label", "namespace", "plain", "istio-injection=enabled")
    curl_in(cluster, "plain")
    status = proxy_status(cluster, "plain")
    assert status and all(i.startswith("istiod-1-30-3-") for i in status.values()), status
