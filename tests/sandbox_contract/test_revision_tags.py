"""Revisions and revision tags as istioctl and the injector handle them (istioctl/pkg/tag and the istiod chart's
revision-tags templates at 1.30.3): the moves a canary upgrade is made of, done with each release's own istioctl."""

import json
import re
import subprocess
import time

APP = """
apiVersion: v1
kind: Namespace
metadata: {{name: {ns}, labels: {labels}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: hello, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: hello}}}}
  template:
    metadata: {{labels: {{app: hello}}}}
    spec:
      containers:
      - {{name: hello, image: "gcr.io/google-samples/hello-app:1.0", ports: [{{containerPort: 8080}}]}}
"""


def istioctl(cluster, release, *args):
    return subprocess.run(["istioctl-" + release] + list(args), env=cluster.env, capture_output=True, text=True,
                          timeout=180, check=False)


def proxies(cluster, ns):
    """{pod name: (proxy image tag, istio.io/rev annotation)} of the namespace's pods."""
    items = json.loads(cluster.kubectl("get", "pods", "-n", ns, "-o", "json").stdout)["items"]
    out = {}
    for pod in items:
        images = [c["image"] for c in pod["spec"]["containers"] if c["name"] == "istio-proxy"]
        out[pod["metadata"]["name"]] = (images[0].rsplit(":", 1)[1] if images else None,
                                        (pod["metadata"].get("annotations") or {}).get("istio.io/rev"))
    return out


def restart(cluster, ns):
    cluster.kubectl("rollout", "restart", "deploy/hello", "-n", ns)
    cluster.kubectl("rollout", "status", "deploy/hello", "-n", ns, "--timeout=60s")


def test_a_tag_moves_namespaces_between_revisions(cluster):
    old, new = "1.29.6", "1.30.3"
    done = istioctl(cluster, old, "install", "-y", "--set", "profile=demo")
    assert done.returncode == 0, done.stderr

    # a tag on the default revision; a namespace labelled with it is injected by that revision
    made = istioctl(cluster, old, "tag", "set", "prod-stable", "--revision", "default")
    assert made.returncode == 0, made.stderr
    assert 'Revision tag "prod-stable" created, referencing control plane revision "default"' in made.stdout
    hook = json.loads(cluster.kubectl("get", "mutatingwebhookconfiguration", "istio-revision-tag-prod-stable",
                                      "-o", "json").stdout)
    assert hook["metadata"]["labels"]["istio.io/tag"] == "prod-stable"
    assert hook["metadata"]["labels"]["istio.io/rev"] == "default"
    assert not any("operator.istio.io" in key for key in hook["metadata"]["labels"])  # user-managed
    assert [h["name"] for h in hook["webhooks"]] == ["rev.namespace.sidecar-injector.istio.io",
                                                     "rev.object.sidecar-injector.istio.io"]
    assert hook["webhooks"][0]["clientConfig"]["service"]["name"] == "istiod"
    cluster.kubectl("apply", "-f", "-", stdin=APP.format(ns="shop", labels="{istio.io/rev: prod-stable}"))
    cluster.kubectl("rollout", "status", "deploy/hello", "-n", "shop", "--timeout=60s")
    assert set(proxies(cluster, "shop").values()) == {(old, "default")}

    # the new release beside it as a revision; the tag cannot be set twice without --overwrite
    done = istioctl(cluster, new, "install", "-y", "--set", "profile=demo", "--revision", "1-30-3")
    assert done.returncode == 0, done.stderr
    again = istioctl(cluster, new, "tag", "set", "prod-stable", "--revision", "1-30-3")
    assert again.returncode != 0
    assert 'revision tag "prod-stable" already exists, and --overwrite is false' in again.stderr
    named_like_revision = istioctl(cluster, new, "tag", "set", "1-30-3", "--revision", "default")
    assert "found existing control plane revision with same name" in named_like_revision.stderr
    unknown = istioctl(cluster, new, "tag", "set", "prod-stable", "--revision", "1-31-0", "--overwrite")
    assert 'cannot find MutatingWebhookConfiguration or Service with revision "1-31-0"' in unknown.stderr

    # moving the tag changes nothing until the pods are made again; then they run the new proxy
    moved = istioctl(cluster, new, "tag", "set", "prod-stable", "--revision", "1-30-3", "--overwrite")
    assert moved.returncode == 0, moved.stderr
    assert set(proxies(cluster, "shop").values()) == {(old, "default")}
    restart(cluster, "shop")
    assert set(proxies(cluster, "shop").values()) == {(new, "1-30-3")}
    listed = istioctl(cluster, new, "tag", "list", "-o", "json")
    assert json.loads(listed.stdout) == [
        {"tag": "prod-stable", "revision": "1-30-3", "namespaces": ["shop"]},
        {"tag": "default", "revision": "default", "namespaces": []}]  # the default tag install made

    # the old revision goes; the tag and its namespace stay on the new one
    gone = istioctl(cluster, new, "uninstall", "-y", "--revision", "default")
    assert gone.returncode == 0, gone.stderr
    assert cluster.kubectl("get", "deploy", "istiod", "-n", "istio-system", check=False).returncode != 0
    # what it pruned: the revision's objects of every component but the base, found by label in every namespace
    # (prune.go), each line as client-go prints a GroupVersionKind
    assert "  Removed apps/v1, Kind=Deployment/istiod.istio-system." in gone.stdout
    assert "  Removed admissionregistration.k8s.io/v1, Kind=MutatingWebhookConfiguration/istio-sidecar-injector.." \
        in gone.stdout
    # the demo profile's gateway was applied again by the new revision's install: it is 1-30-3's now and stays
    assert "Kind=Deployment/istio-ingressgateway" not in gone.stdout
    assert "  Removed rbac.authorization.k8s.io/v1, Kind=ClusterRole/istio-reader-clusterrole-istio-system." in gone.stdout
    assert "Kind=CustomResourceDefinition" not in gone.stdout and "istio-reader-service-account" not in gone.stdout
    left = json.loads(cluster.kubectl("get", "deploy,pods,svc,cm,sa", "-A", "-l",
                                      "istio.io/rev=default,operator.istio.io/component", "-o", "json").stdout)
    assert left["items"] == []
    assert cluster.kubectl("get", "crd", "virtualservices.networking.istio.io").returncode == 0
    assert cluster.kubectl("get", "clusterrole", "istio-reader-clusterrole-1-30-3-istio-system").returncode == 0
    assert cluster.kubectl("get", "sa", "istio-reader-service-account", "-n", "istio-system").returncode == 0
    for name in ("istiod-1-30-3", "istio-ingressgateway"):
        assert cluster.kubectl("get", "deploy", name, "-n", "istio-system").returncode == 0
    assert cluster.kubectl("get", "mutatingwebhookconfiguration", "istio-revision-tag-prod-stable").returncode == 0
    restart(cluster, "shop")
    assert set(proxies(cluster, "shop").values()) == {(new, "1-30-3")}

    # a tag left pointing at a revision that is gone fails closed: the pods cannot be made
    istioctl(cluster, new, "tag", "set", "prod-stable", "--revision", "default", "--overwrite")
    refused = istioctl(cluster, new, "tag", "set", "prod-stable", "--revision", "default", "--overwrite")
    assert "cannot find MutatingWebhookConfiguration or Service with revision \"default\"" in refused.stderr
    removed = istioctl(cluster, new, "tag", "remove", "prod-stable", "-y")
    assert removed.returncode == 0 and "Revision tag prod-stable removed" in removed.stdout
    assert istioctl(cluster, new, "tag", "remove", "prod-stable", "-y").returncode != 0
    istioctl(cluster, new, "tag", "set", "orphan", "--revision", "1-30-3")
    istioctl(cluster, new, "uninstall", "-y", "--revision", "1-30-3")
    cluster.kubectl("label", "ns", "shop", "istio.io/rev=orphan", "--overwrite")
    pod = cluster.kubectl("run", "lone", "-n", "shop", "--image=gcr.io/google-samples/hello-app:1.0", check=False)
    assert pod.returncode != 0
    assert 'failed calling webhook "rev.namespace.sidecar-injector.istio.io"' in pod.stderr
    assert 'service "istiod-1-30-3" not found' in pod.stderr
    # the Deployment's ReplicaSet meets the same refusal and says so in an event
    cluster.kubectl("delete", "pods", "-n", "shop", "-l", "app=hello", "--wait=false")
    assert any('service "istiod-1-30-3" not found' in m for m in failed_creates(cluster, "shop"))


def failed_creates(cluster, ns, deadline=30.0):
    """The FailedCreate events' messages, once there is one (polled, bounded)."""
    end = time.time() + deadline
    while True:
        events = json.loads(cluster.kubectl("get", "events", "-n", ns, "--field-selector", "reason=FailedCreate",
                                            "-o", "json").stdout)["items"]
        if events or time.time() > end:
            return [e["message"] for e in events]
        time.sleep(0.2)  # polling the API for the event, bounded


def injected_revision(cluster, ns, name):
    """The revision that injected a new pod of ``ns`` (None: no sidecar)."""
    made = cluster.kubectl("run", name, "-n", ns, "--image=gcr.io/google-samples/hello-app:1.0", "-o", "json")
    pod = json.loads(made.stdout)
    return (pod["metadata"].get("annotations") or {}).get("istio.io/rev")


def test_install_makes_the_default_tag_and_uninstalling_its_revision_takes_it_away(cluster):
    # operator/pkg/webhook/webhook.go: istioctl install deploys the default revision tag itself
    old, new = "1.29.6", "1.30.3"
    assert istioctl(cluster, old, "install", "-y", "--set", "profile=demo").returncode == 0
    hook = json.loads(cluster.kubectl("get", "mutatingwebhookconfiguration", "istio-revision-tag-default", "-o",
                                      "json").stdout)
    labels = hook["metadata"]["labels"]
    assert (labels["istio.io/tag"], labels["istio.io/rev"], labels["operator.istio.io/component"]) == (
        "default", "default", "Pilot")
    assert [h["name"] for h in hook["webhooks"]] == [
        "rev.namespace.sidecar-injector.istio.io", "rev.object.sidecar-injector.istio.io",
        "namespace.sidecar-injector.istio.io", "object.sidecar-injector.istio.io"]
    validator = json.loads(cluster.kubectl("get", "validatingwebhookconfiguration", "istiod-default-validator",
                                           "-o", "json").stdout)
    assert validator["metadata"]["labels"]["istio.io/rev"] == "default"
    assert validator["webhooks"][0]["objectSelector"] == {
        "matchExpressions": [{"key": "istio.io/rev", "operator": "DoesNotExist"}]}
    # the revision's own injector is deactivated: the tag answers istio-injection=enabled
    own = json.loads(cluster.kubectl("get", "mutatingwebhookconfiguration", "istio-sidecar-injector", "-o",
                                     "json").stdout)
    assert {json.dumps(h["namespaceSelector"]) for h in own["webhooks"]} == {
        json.dumps({"matchLabels": {"istio.io/deactivated": "never-match"}})}
    cluster.kubectl("create", "namespace", "before")
    cluster.kubectl("label", "namespace", "before", "istio-injection=enabled")
    assert injected_revision(cluster, "before", "one") == "default"

    # a canary beside it leaves the default tag where it is
    assert istioctl(cluster, new, "install", "-y", "--set", "profile=demo", "--set", "revision=canary").returncode == 0
    assert json.loads(cluster.kubectl("get", "mutatingwebhookconfiguration", "istio-revision-tag-default", "-o",
                                      "json").stdout)["metadata"]["labels"]["istio.io/rev"] == "default"

    # uninstalling the old revision warns about the proxies still pointing at it, and prunes the default tag
    gone = istioctl(cluster, new, "uninstall", "-y", "--revision", "default")
    assert gone.returncode == 0, gone.stderr
    # (the gateways' old pods count too while their Deployment, now the canary's, rolls them)
    warning = re.search(r"There are still (\d+) proxies pointing to the control plane revision default\n(.*?)If you",
                        gone.stdout, re.S)
    assert warning and "one.before" in warning.group(2).split(), gone.stdout
    assert "If you proceed with the uninstall, these proxies will become detached" in gone.stdout
    for kind, name in (("mutatingwebhookconfiguration", "istio-revision-tag-default"),
                       ("validatingwebhookconfiguration", "istiod-default-validator")):
        assert cluster.kubectl("get", kind, name, check=False).returncode != 0, name
    # so a namespace enrolled the usual way after it gets no sidecar: no default revision is left
    cluster.kubectl("create", "namespace", "after")
    cluster.kubectl("label", "namespace", "after", "istio-injection=enabled")
    assert injected_revision(cluster, "after", "two") is None


def test_the_default_tag_moved_to_the_canary_outlives_the_old_revision(cluster):
    # istio.io, Canary Upgrades, "Default tag": point default at the new revision before the old one goes
    old, new = "1.29.6", "1.30.3"
    assert istioctl(cluster, old, "install", "-y", "--set", "profile=demo").returncode == 0
    assert istioctl(cluster, new, "install", "-y", "--set", "profile=demo", "--set", "revision=canary").returncode == 0
    moved = istioctl(cluster, new, "tag", "set", "default", "--revision", "canary", "--overwrite")
    assert moved.returncode == 0, moved.stderr
    hook = json.loads(cluster.kubectl("get", "mutatingwebhookconfiguration", "istio-revision-tag-default", "-o",
                                      "json").stdout)
    assert hook["metadata"]["labels"]["istio.io/rev"] == "canary"
    assert hook["webhooks"][0]["clientConfig"]["service"]["name"] == "istiod-canary"
    validator = json.loads(cluster.kubectl("get", "validatingwebhookconfiguration", "istiod-default-validator",
                                           "-o", "json").stdout)
    assert validator["webhooks"][0]["clientConfig"]["service"]["name"] == "istiod-canary"
    gone = istioctl(cluster, new, "uninstall", "-y", "--revision", "default")
    assert gone.returncode == 0, gone.stderr
    cluster.kubectl("create", "namespace", "after")
    cluster.kubectl("label", "namespace", "after", "istio-injection=enabled")
    assert injected_revision(cluster, "after", "two") == "canary"
    # the canary's istiod runs as its own revision's account (istiod-canary), which the old revision's uninstall
    # leaves alone: a restart of the canary still makes its pod
    istiod = json.loads(cluster.kubectl("get", "deploy", "istiod-canary", "-n", "istio-system", "-o", "json").stdout)
    assert istiod["spec"]["template"]["spec"]["serviceAccountName"] == "istiod-canary"
    assert cluster.kubectl("get", "serviceaccount", "istiod", "-n", "istio-system", check=False).returncode != 0
    cluster.kubectl("rollout", "restart", "deploy/istiod-canary", "-n", "istio-system")
    done = cluster.kubectl("rollout", "status", "deploy/istiod-canary", "-n", "istio-system", "--timeout=60s",
                           check=False)
    assert done.returncode == 0, done.stdout + done.stderr
