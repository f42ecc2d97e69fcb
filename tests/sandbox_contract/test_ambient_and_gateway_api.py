"""Ambient mode and the Kubernetes Gateway API as real Istio 1.30 runs them: the ambient profile's components
(../shared/upstream/istio/1.30.3/profiles/ambient.yaml and the ztunnel/istio-cni goldens), the CNI node agent's
enrolment of pods (ambient.istio.io/redirection), mutual TLS through ztunnel, the GatewayClasses istiod creates,
the Deployment/Service it makes for a Gateway (the kube-gateway template of the manifest-generate golden) and the
statuses and routing of Gateways and HTTPRoutes (the Gateway API's own rules)."""

import json
import os
import subprocess
import time

import awsview
import pytest
import sandboxrun
import yaml

from httpservers import plain_get
from manifests import hello_app

UPSTREAM = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))), "shared", "upstream", "istio", "1.30.3")

APP = hello_app("amb", {"istio.io/dataplane-mode": "ambient"})

GATEWAY = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: amb}
spec:
  gatewayClassName: istio
  infrastructure:
    annotations: {service.beta.kubernetes.io/load-balancer-source-ranges: 127.0.0.1/32}
  listeners:
  - {name: http, port: 80, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: hello, namespace: amb}
spec:
  parentRefs: [{name: web}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /v1}}]
    backendRefs: [{name: hello, port: 80}]
  - matches: [{path: {type: Exact, value: /gone}}]
    backendRefs: [{name: missing, port: 80}]
"""


def apply(cluster, text, *flags):
    return cluster.kubectl("apply", *flags, "-f", "-", stdin=text)


def get(cluster, *args):
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def pods(cluster, namespace):
    return dict((p["metadata"]["name"], p) for p in get(cluster, "pods", "-n", namespace)["items"])


def redirection(pod):
    return (pod["metadata"].get("annotations") or {}).get("ambient.istio.io/redirection")


def redirection_becomes(cluster, namespace, name, value, deadline=30.0):
    """Whether the pod's redirection annotation takes ``value`` (None: goes away) within the deadline (polled)."""
    end = time.time() + deadline
    while redirection(get(cluster, "pod", name, "-n", namespace)) != value:
        if time.time() > end:
            return False
        time.sleep(0.2)  # polling the API for the node agent's patch, bounded
    return True


def annotation_history(cluster, namespace, name, since):
    """The pod's redirection annotation in each version since resourceVersion ``since``, a repeat shown once (a
    watch from ``since``, ended by the server after a second)."""
    status, body = cluster.api_get("/api/v1/namespaces/%s/pods?watch=true&fieldSelector=metadata.name%%3D%s"
                                   "&resourceVersion=%s&timeoutSeconds=1" % (namespace, name, since))
    assert status == 200, body
    history = []
    for line in filter(str.strip, body.splitlines()):
        value = redirection(json.loads(line)["object"])
        if not history or history[-1] != value:
            history.append(value)
    return history


def finished(cluster, namespace, name, deadline=30.0):
    end = time.time() + deadline
    while True:
        pod = get(cluster, "pod", name, "-n", namespace)
        if pod["status"].get("phase") in ("Succeeded", "Failed"):
            return pod
        assert time.time() < end, pod.get("status")
        time.sleep(0.2)  # polling the API for the pod's end, bounded


def curl_from(cluster, namespace, name, url):
    """(exit code, message) of a pod that curls ``url`` once from ``namespace``."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
           "spec": {"restartPolicy": "Never", "containers": [{
               "name": "curl", "image": "docker.io/curlimages/curl:8.15.0",
               "command": ["sh", "-c", "curl -sS -o /dev/null --max-time 5 %s" % url],
               "terminationMessagePolicy": "FallbackToLogsOnError"}]}}
    apply(cluster, json.dumps(pod))
    done = finished(cluster, namespace, name)
    state = done["status"]["containerStatuses"][0]["state"]["terminated"]
    return state["exitCode"], state.get("message", ""), done


@pytest.fixture(scope="module")
def ambient(tmp_path_factory):
    """Its own sandbox with the ambient profile installed and the demo app in an ambient namespace."""
    with sandboxrun.own(tmp_path_factory, "ambient") as cluster:
        done = subprocess.run(["istioctl", "install", "-y", "--set", "profile=ambient"], env=cluster.env,
                              capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, done.stderr
        apply(cluster, APP)
        cluster.kubectl("rollout", "status", "deploy/hello", "-n", "amb", "--timeout=60s")
        yield cluster


def test_the_ambient_profile_runs_ztunnel_and_the_cni_agent_on_every_node(ambient):
    daemonsets = dict((d["metadata"]["name"], d) for d in get(ambient, "daemonsets", "-n", "istio-system")["items"])
    golden = [d for d in yaml.safe_load_all(open(os.path.join(UPSTREAM, "manifest-generate", "ztunnel.golden.yaml")))
              if d]
    assert sorted(daemonsets) == ["istio-cni-node", "ztunnel"]
    assert daemonsets["ztunnel"]["spec"]["template"]["metadata"]["labels"]["app"] == \
        golden[0]["spec"]["template"]["metadata"]["labels"]["app"]
    nodes = len(get(ambient, "nodes")["items"])
    assert all(d["status"]["numberReady"] == nodes for d in daemonsets.values())
    assert get(ambient, "deployments", "-n", "istio-system")["items"][0]["metadata"]["name"] == "istiod"
    env = get(ambient, "deployment", "istiod", "-n", "istio-system")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "PILOT_ENABLE_AMBIENT", "value": "true"} in env


def test_the_node_agent_enrols_pods_of_ambient_namespaces_and_lets_go_of_them(ambient):
    app = [p for name, p in pods(ambient, "amb").items() if name.startswith("hello-")]
    assert [redirection(p) for p in app] == ["enabled"]
    assert not any(c["name"] == "istio-proxy" for c in app[0]["spec"]["containers"])  # no sidecar in ambient
    # a pod that opts out keeps out
    apply(ambient, json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "opted-out", "namespace": "amb", "labels": {"istio.io/dataplane-mode": "none"}},
        "spec": {"containers": [{"name": "c", "image": "gcr.io/google-samples/hello-app:1.0"}]}}))
    ambient.kubectl("wait", "--for=condition=Ready", "pod/opted-out", "-n", "amb", "--timeout=30s")
    assert redirection(pods(ambient, "amb")["opted-out"]) is None
    # the namespace leaves ambient: the agent takes the annotation off; it comes back with the label
    name = app[0]["metadata"]["name"]
    ambient.kubectl("label", "namespace", "amb", "istio.io/dataplane-mode-")
    try:
        assert redirection_becomes(ambient, "amb", name, None)
    finally:
        ambient.kubectl("label", "namespace", "amb", "istio.io/dataplane-mode=ambient")
    assert redirection_becomes(ambient, "amb", name, "enabled")


def test_strict_mtls_through_ztunnel_refuses_plaintext_and_admits_ambient_callers(ambient):
    apply(ambient, json.dumps({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                               "metadata": {"name": "default", "namespace": "amb"},
                               "spec": {"mtls": {"mode": "STRICT"}}}))
    try:
        code, message, dummy = curl_from(ambient, "plain", "plaintext", "http://hello.amb/")
        assert code == 56 and "Connection reset by peer" in message
        since = json.loads(ambient.api_get("/api/v1/namespaces/amb/pods")[1])["metadata"]["resourceVersion"]
        # under STRICT only a caller in the mesh is answered: the enrolled client was redirected to its ztunnel
        code, message, dummy = curl_from(ambient, "amb", "enrolled", "http://hello.amb/")
        assert code == 0, message
        # a pod that ended leaves the mesh: the node agent takes its annotation off (informers.go, reconcilePod)
        assert redirection_becomes(ambient, "amb", "enrolled", None)
        # and every version of the pod on the way: created bare, enrolled as its network came up (never let go on
        # an update the agent saw late), let go once it ended
        assert annotation_history(ambient, "amb", "enrolled", since) == [None, "enabled", None]
    finally:
        ambient.kubectl("delete", "peerauthentication", "default", "-n", "amb")


@pytest.fixture(scope="module")
def gateway(ambient):
    crds = os.path.join(UPSTREAM, "crds", "gateway-api-crd.yaml")
    apply(ambient, open(crds).read(), "--server-side")
    # a CRD's kinds are served once it is Established, not when its create returns: creating objects of a kind
    # right after its CRD races with the establishment (kubernetes/kubernetes#57042), so wait as a user would
    ambient.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                    *("crd/" + d["metadata"]["name"] for d in yaml.safe_load_all(open(crds))
                      if d and d["kind"] == "CustomResourceDefinition"))
    apply(ambient, GATEWAY)
    ambient.kubectl("wait", "--for=condition=Programmed", "gateways.gateway.networking.k8s.io/web", "-n", "amb",
                    "--timeout=60s")
    return ambient


def test_istiod_creates_its_gateway_classes_once_the_crds_exist(gateway):
    classes = dict((c["metadata"]["name"], c) for c in get(gateway, "gatewayclasses")["items"])
    assert dict((n, c["spec"]["controllerName"]) for n, c in classes.items()) == {
        "istio": "istio.io/gateway-controller", "istio-remote": "istio.io/unmanaged-gateway",
        "istio-waypoint": "istio.io/mesh-controller"}
    accepted = classes["istio"]["status"]["conditions"][0]
    assert (accepted["type"], accepted["status"], accepted["message"]) == (
        "Accepted", "True", "Handled by Istio controller")
    # with Istio's and the Gateway API's CRDs both served, kubectl reads "gateway" as the Gateway API's
    assert gateway.kubectl("get", "gateway", "-n", "amb", "-o", "name").stdout.split() == [
        "gateway.gateway.networking.k8s.io/web"]


def test_a_gateway_gets_the_deployment_and_service_istio_makes_for_it(gateway):
    gw = get(gateway, "gateways.gateway.networking.k8s.io", "web", "-n", "amb")
    dep = get(gateway, "deployment", "web-istio", "-n", "amb")
    svc = get(gateway, "service", "web-istio", "-n", "amb")
    for obj in (dep, svc):
        assert obj["metadata"]["ownerReferences"][0]["uid"] == gw["metadata"]["uid"]
        assert obj["metadata"]["labels"]["gateway.networking.k8s.io/gateway-name"] == "web"
        assert obj["metadata"]["labels"]["gateway.networking.k8s.io/gateway-class-name"] == "istio"
        assert obj["metadata"]["labels"]["istio.io/dataplane-mode"] == "none"  # kept out of ambient
    assert dep["metadata"]["labels"]["gateway.istio.io/managed"] == "istio.io-gateway-controller"
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "docker.io/istio/proxyv2:1.30.3"
    assert svc["spec"]["type"] == "LoadBalancer"
    assert [(p["name"], p["port"]) for p in svc["spec"]["ports"]] == [("status-port", 15021), ("http", 80)]
    assert svc["metadata"]["annotations"]["service.beta.kubernetes.io/load-balancer-source-ranges"] == "127.0.0.1/32"
    # the load balancer admits the annotated range only (no rule open to the world)
    frontend = [g for g in awsview.groups(gateway) if g["GroupName"].startswith("k8s-elb-")]
    assert [(r["FromPort"], [i["CidrIp"] for i in r["IpRanges"]]) for g in frontend for r in g["IpPermissions"]
            if r.get("FromPort") == 80] == [(80, ["127.0.0.1/32"])]


def test_the_gateway_status_reports_the_load_balancer_and_the_routes(gateway):
    status = get(gateway, "gateways.gateway.networking.k8s.io", "web", "-n", "amb")["status"]
    lb = get(gateway, "service", "web-istio", "-n", "amb")["status"]["loadBalancer"]["ingress"][0]["hostname"]
    assert status["addresses"] == [{"type": "Hostname", "value": lb}]
    programmed = [c for c in status["conditions"] if c["type"] == "Programmed"][0]
    assert programmed["status"] == "True"
    assert programmed["message"] == "Resource programmed, assigned to service(s) web-istio.amb.svc.cluster.local:80"
    assert status["listeners"][0]["attachedRoutes"] == 1
    route = get(gateway, "httproutes", "hello", "-n", "amb")["status"]["parents"][0]
    assert route["controllerName"] == "istio.io/gateway-controller"
    conditions = dict((c["type"], (c["status"], c["reason"], c["message"])) for c in route["conditions"])
    assert conditions == {"Accepted": ("True", "Accepted", "Route was valid"),
                          "ResolvedRefs": ("False", "BackendNotFound",
                                           "backend(missing.amb.svc.cluster.local) not found")}


def test_routes_follow_the_gateway_api_rules(gateway):
    lb = get(gateway, "service", "web-istio", "-n", "amb")["status"]["loadBalancer"]["ingress"][0]["hostname"]
    addresses = json.loads(gateway.api_get("/sandbox/addresses")[1])
    base = "http://" + addresses[lb + ":80"]
    status, body = plain_get(base + "/v1/hello")
    assert status == 200 and "Version: 1.0.0" in body
    assert plain_get(base + "/v10")[0] == 404  # a path prefix matches whole path elements
    assert plain_get(base + "/")[0] == 404  # no rule: no route
    assert plain_get(base + "/gone")[0] == 500  # a backend that does not exist answers 500


def until(what, deadline=30.0):
    """what() once it is truthy (polling the API for the controllers, bounded), else its last answer."""
    end = time.time() + deadline
    while True:
        found = what()
        if found or time.time() > end:
            return found
        time.sleep(0.2)


def test_a_gateway_parameters_ref_configmap_patches_the_service_and_ipv6_ranges_get_no_load_balancer(gateway):
    # Istio 1.26+ (deploymentcontroller.go): no Deployment or Service until the ConfigMap the Gateway names exists
    apply(gateway, GATEWAY.split("---", maxsplit=1)[0].replace("name: web,", "name: ranged,").replace(
        "annotations: {service.beta.kubernetes.io/load-balancer-source-ranges: 127.0.0.1/32}",
        "parametersRef: {group: '', kind: ConfigMap, name: ranged-options}"))
    names = ["deployment/ranged-istio", "service/ranged-istio"]

    def stored():
        return gateway.kubectl("get", "gateways.gateway.networking.k8s.io", "ranged", "-n", "amb",
                               "-o", "name").stdout.strip()

    assert until(stored, 5)
    assert gateway.kubectl("get", *names, "-n", "amb", "--ignore-not-found", "-o", "name").stdout.split() == []

    # its "service" key is a strategic merge patch: IPv6 ranges on an IPv4 load balancer are refused by the
    # in-tree provider (it writes each range as CidrIp), with a Warning on the Service and no address
    options = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ranged-options", "namespace": "amb"},
               "data": {"service": "spec:\n  loadBalancerSourceRanges: [10.20.0.0/16, '2001:db8::/48']\n"}}
    apply(gateway, json.dumps(options))
    warned = until(lambda: get(gateway, "events", "-n", "amb", "--field-selector",
                               "involvedObject.name=ranged-istio,type=Warning")["items"])
    assert [(e["reason"], e["message"], e["source"]["component"]) for e in warned] == [
        ("SyncLoadBalancerFailed", "Error syncing load balancer: failed to ensure load balancer: "
         "unsupported v6 cidr 2001:db8::/48", "service-controller")]
    service = get(gateway, "service", "ranged-istio", "-n", "amb")
    assert service["spec"]["loadBalancerSourceRanges"] == ["10.20.0.0/16", "2001:db8::/48"]
    assert (service.get("status") or {}).get("loadBalancer", {}).get("ingress") is None

    # IPv4 only: the load balancer comes, open to that range alone; the ConfigMap taken away drops the field again
    options["data"]["service"] = "spec:\n  loadBalancerSourceRanges: [10.20.0.0/16]\n"
    apply(gateway, json.dumps(options))
    assert until(lambda: get(gateway, "service", "ranged-istio", "-n", "amb").get("status", {}).get(
        "loadBalancer", {}).get("ingress"))
    stack = [g for g in awsview.groups(gateway) if g["GroupName"].startswith("k8s-elb-")
             and any(r.get("FromPort") == 80 and r["IpRanges"][0]["CidrIp"] == "10.20.0.0/16"
                     for r in g["IpPermissions"])]
    assert len(stack) == 1
    options["data"] = {}
    apply(gateway, json.dumps(options))
    assert until(lambda: "loadBalancerSourceRanges" not in get(gateway, "service", "ranged-istio", "-n",
                                                               "amb")["spec"])
    gateway.kubectl("delete", "gateways.gateway.networking.k8s.io", "ranged", "-n", "amb", "--wait=true")
    gateway.kubectl("delete", "configmap", "ranged-options", "-n", "amb")


def test_deleting_the_gateway_takes_what_istio_made_for_it_load_balancer_included(gateway):
    service = get(gateway, "service", "web-istio", "-n", "amb")
    assert service["metadata"]["finalizers"] == ["service.kubernetes.io/load-balancer-cleanup"]
    gateway.kubectl("delete", "gateways.gateway.networking.k8s.io", "web", "-n", "amb", "--wait=true")
    # the garbage collector deletes the dependents as a client would: the Service waits for its finalizer, which
    # the cloud's service controller takes off once the load balancer and its security group are deleted
    end = time.time() + 30
    while True:
        left = gateway.kubectl("get", "deployment,service,serviceaccount", "-n", "amb", "-l",
                               "gateway.networking.k8s.io/gateway-name=web", "-o", "name").stdout.split()
        if not left or time.time() > end:
            break
        time.sleep(0.2)  # polling the API for the garbage collector and the service controller, bounded
    assert left == []
    assert [g for g in awsview.groups(gateway) if g["GroupName"].startswith("k8s-elb-")] == []


def test_a_client_side_apply_of_the_biggest_crd_is_refused_as_too_long(gateway):
    """kubectl apply (client-side) keeps the whole object in an annotation, which may hold 256 KiB; the HTTPRoute
    CRD is bigger: a real API server refuses it, as this one does; --server-side (the fixture) takes it."""
    docs = [d for d in yaml.safe_load_all(open(os.path.join(UPSTREAM, "crds", "gateway-api-crd.yaml"))) if d]
    crd = [d for d in docs if d["metadata"]["name"] == "httproutes.gateway.networking.k8s.io"][0]
    crd["metadata"]["name"] = "copies.example.com"
    crd["spec"].update(group="example.com", names={"kind": "Copy", "plural": "copies", "singular": "copy",
                                                   "listKind": "CopyList"})
    done = gateway.kubectl("apply", "-f", "-", stdin=json.dumps(crd), check=False)
    assert done.returncode != 0
    assert "metadata.annotations: Too long: must have at most 262144 bytes" in done.stderr
