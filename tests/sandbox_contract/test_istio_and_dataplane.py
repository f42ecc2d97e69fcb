"""The istioctl stand-in, the injection webhook and the data plane, as the demo meets them."""

import json
import subprocess

import pytest
from httpservers import plain_get
from sandbox import upstream

APPS = """
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
  labels: {labels}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: my-app-v1, namespace: {ns}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: my-app-v1}}}}
  template:
    metadata: {{labels: {{app: my-app-v1, version: v1}}}}
    spec:
      containers:
      - {{name: hello, image: "gcr.io/google-samples/hello-app:1.0", ports: [{{containerPort: 8080}}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: my-app-v2, namespace: {ns}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: my-app-v2}}}}
  template:
    metadata: {{labels: {{app: my-app-v2, version: v2}}}}
    spec:
      containers:
      - {{name: hello, image: "gcr.io/google-samples/hello-app:2.0", ports: [{{containerPort: 8080}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: my-app-v1-svc, namespace: {ns}}}
spec: {{selector: {{app: my-app-v1}}, ports: [{{port: 80, targetPort: 8080}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: my-app-v2-svc, namespace: {ns}}}
spec: {{selector: {{app: my-app-v2}}, ports: [{{port: 80, targetPort: 8080}}]}}
"""

ROUTES = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: my-app-gateway, namespace: NS}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: NS}
spec:
  hosts: ["*"]
  gateways: [my-app-gateway]
  http:
  - match: [{uri: {prefix: /v1}}]
    rewrite: {uri: /}
    route: [{destination: {host: my-app-v1-svc, port: {number: 80}}}]
  - match: [{uri: {prefix: /v2}}]
    rewrite: {uri: /}
    route: [{destination: {host: my-app-v2-svc, port: {number: 80}}}]
"""

NGINX = """
apiVersion: v1
kind: ConfigMap
metadata: {name: nginx-conf, namespace: NS}
data:
  default.conf: |
    server {
      listen 80;
      location /v1 { proxy_pass http://my-app-v1-svc/; }
      location /v2 { proxy_pass http://my-app-v2-svc.NS.svc.cluster.local/; }
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: nginx, namespace: NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports: [{containerPort: 80}]
        volumeMounts: [{name: conf, mountPath: /etc/nginx/conf.d}]
      volumes: [{name: conf, configMap: {name: nginx-conf}}]
---
apiVersion: v1
kind: Service
metadata: {name: nginx-svc, namespace: NS}
spec: {selector: {app: nginx}, ports: [{port: 80, targetPort: 80}]}
"""


def istioctl(sandbox, *args, stdin=None):
    return subprocess.run(["istioctl"] + list(args), env=sandbox.env, capture_output=True, text=True, input=stdin,
                          timeout=120, check=False)


def pods(sandbox, ns):
    return json.loads(sandbox.kubectl("get", "pods", "-n", ns, "-o", "json").stdout)["items"]


def get(url):
    return plain_get(url)


@pytest.fixture(scope="module")
def mesh(sandbox):
    """Pods made before Istio (stay uninjected), then Istio 1.14.1 as in the seed, then injected apps."""
    sandbox.kubectl("apply", "-f", "-", stdin=APPS.format(ns="before", labels="{istio-injection: enabled}"))
    sandbox.kubectl("rollout", "status", "deploy/my-app-v1", "-n", "before", "--timeout=30s")
    env = dict(sandbox.env, SANDBOX_ISTIO_VERSION="1.14.1")
    install = subprocess.run(["istioctl", "install", "-y", "--set", "profile=demo"], env=env, capture_output=True,
                             text=True, timeout=120, check=False)
    assert install.returncode == 0, install.stderr
    assert "Installation complete" in install.stdout
    sandbox.kubectl("apply", "-f", "-", stdin=APPS.format(ns="my-app", labels="{istio-injection: enabled}"))
    sandbox.kubectl("apply", "-f", "-", stdin=APPS.format(ns="plain", labels="{}"))
    for ns in ("my-app", "plain"):
        for dep in ("my-app-v1", "my-app-v2"):
            sandbox.kubectl("rollout", "status", "deploy/" + dep, "-n", ns, "--timeout=30s")
    return env


def test_install_creates_the_demo_profile(sandbox, mesh):
    deployments = sandbox.kubectl("get", "deploy", "-n", "istio-system", "-o", "json").stdout
    names = sorted(d["metadata"]["name"] for d in json.loads(deployments)["items"])
    assert names == ["istio-egressgateway", "istio-ingressgateway", "istiod"]
    svc = json.loads(sandbox.kubectl("get", "svc", "istio-ingressgateway", "-n", "istio-system", "-o", "json").stdout)
    assert svc["spec"]["type"] == "LoadBalancer"
    # the ports of the real 1.30 ingress gateway Service (manifest-generate golden)
    assert sorted(p["port"] for p in svc["spec"]["ports"]) == [80, 443, 15021]
    assert svc["metadata"]["labels"]["istio"] == "ingressgateway"
    crds = sandbox.kubectl("get", "crd", "-o", "name").stdout
    for crd in ("gateways.networking.istio.io", "virtualservices.networking.istio.io",
                "peerauthentications.security.istio.io", "telemetries.telemetry.istio.io"):
        assert crd in crds
    for kind, name in (("mutatingwebhookconfiguration", "istio-sidecar-injector"),
                       ("validatingwebhookconfiguration", "istio-validator-istio-system"),
                       ("configmap", "istio"), ("configmap", "istio-sidecar-injector")):
        args = ["get", kind, name] + (["-n", "istio-system"] if kind == "configmap" else [])
        sandbox.kubectl(*args)


def test_version_json_reports_client_control_and_data_plane(sandbox, mesh):
    result = istioctl(sandbox, "version", "-o", "json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["clientVersion"]["version"] == upstream.TESTED[-1]
    assert data["meshVersion"][0]["Info"]["version"] == "1.14.1"
    assert any(p["ID"].endswith(".my-app") for p in data["dataPlaneVersion"])
    offline = istioctl(sandbox, "version", "--remote=false", "-o", "json")
    assert json.loads(offline.stdout) == {"clientVersion": data["clientVersion"]}


def test_seed_shape_of_an_injected_1_14_pod(sandbox, mesh):
    for pod in pods(sandbox, "my-app"):
        labels = pod["metadata"]["labels"]
        app = labels["app"]
        assert labels["security.istio.io/tlsMode"] == "istio"
        assert labels["service.istio.io/canonical-name"] == app
        assert labels["service.istio.io/canonical-revision"] in ("v1", "v2")
        assert "sidecar.istio.io/status" in pod["metadata"]["annotations"]
        init = pod["spec"]["initContainers"]
        assert [c["name"] for c in init] == ["istio-init"]
        assert init[0]["image"] == "docker.io/istio/proxyv2:1.14.1"
        assert init[0]["args"][:16] == ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT",
                                        "-i", "*", "-x", "", "-b", "*", "-d"]
        assert init[0]["args"][16] == "15090,15021,15020"
        containers = {c["name"]: c for c in pod["spec"]["containers"]}
        assert set(containers) == {"hello", "istio-proxy"}
        proxy = containers["istio-proxy"]
        assert proxy["image"] == "docker.io/istio/proxyv2:1.14.1"
        assert proxy["ports"][0]["containerPort"] == 15090
        assert proxy["readinessProbe"]["httpGet"] == {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"}
        env = {e["name"]: e.get("value") for e in proxy["env"]}
        assert env["ISTIO_META_APP_CONTAINERS"] == "hello"
        assert env["ISTIO_META_WORKLOAD_NAME"] == app
        assert env["CA_ADDR"] == "istiod.istio-system.svc:15012"
        statuses = pod["status"]["containerStatuses"]
        assert len(statuses) == 2 and all(s["ready"] for s in statuses)
    table = sandbox.kubectl("get", "pods", "-n", "my-app").stdout
    assert table.count("2/2") == 4 and table.count("Running") == 4


def test_pods_made_before_istio_and_unlabelled_namespaces_stay_uninjected(sandbox, mesh):
    for ns in ("before", "plain"):
        for pod in pods(sandbox, ns):
            assert [c["name"] for c in pod["spec"]["containers"]] == ["hello"]
            assert "initContainers" not in pod["spec"]
            assert "security.istio.io/tlsMode" not in pod["metadata"]["labels"]
    analysis = istioctl(sandbox, "analyze", "-n", "plain")
    assert "IST0102" in analysis.stdout


def _sidecar_shape(pod):
    """(init container names, container names, restartPolicy of the proxy) of an injected pod."""
    spec = pod["spec"]
    proxy = [c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == "istio-proxy"]
    return (tuple(c["name"] for c in spec.get("initContainers", [])), tuple(c["name"] for c in spec["containers"]),
            proxy[0].get("restartPolicy") if proxy else None)


def test_classic_sidecar_on_kubernetes_1_32_native_when_the_pod_asks(sandbox, mesh):
    """Istio's ENABLE_NATIVE_SIDECARS=auto turns native sidecars on only from Kubernetes 1.33; the
    sidecar.istio.io/nativeSidecar annotation decides for one pod (injection-template.yaml)."""
    upgrade = istioctl(sandbox, "install", "-y", "--set", "profile=demo")
    assert upgrade.returncode == 0, upgrade.stderr
    assert json.loads(sandbox.kubectl("version", "-o", "json").stdout)["serverVersion"]["minor"] == "32"
    sandbox.kubectl("apply", "-f", "-", stdin=APPS.format(ns="classic", labels="{istio-injection: enabled}"))
    sandbox.kubectl("rollout", "status", "deploy/my-app-v1", "-n", "classic", "--timeout=30s")
    for pod in pods(sandbox, "classic"):
        assert _sidecar_shape(pod) == (("istio-init",), ("hello", "istio-proxy"), None)
        assert pod["spec"]["containers"][1]["image"].endswith("proxyv2:" + upstream.TESTED[-1])
    assert "2/2" in sandbox.kubectl("get", "pods", "-n", "classic").stdout
    opted = APPS.format(ns="optin", labels="{istio-injection: enabled}").replace(
        "metadata: {labels: {app: my-app-v1, version: v1}}",
        "metadata: {labels: {app: my-app-v1, version: v1}, annotations: {sidecar.istio.io/nativeSidecar: \"true\"}}")
    assert "nativeSidecar" in opted
    sandbox.kubectl("apply", "-f", "-", stdin=opted)
    sandbox.kubectl("rollout", "status", "deploy/my-app-v1", "-n", "optin", "--timeout=30s")
    shapes = {_sidecar_shape(p) for p in pods(sandbox, "optin") if p["metadata"]["labels"]["app"] == "my-app-v1"}
    assert shapes == {(("istio-init", "istio-proxy"), ("hello",), "Always")}
    # back to the seed's version for the other tests of this module
    back = subprocess.run(["istioctl", "install", "-y", "--set", "profile=demo"], env=mesh, capture_output=True,
                          text=True, timeout=120, check=False)
    assert back.returncode == 0


@pytest.mark.parametrize("cluster", [("--k8s-version", "1.33")], indirect=True)
def test_native_sidecar_on_kubernetes_1_33(cluster):
    installed = subprocess.run(["istioctl", "install", "-y", "--set", "profile=minimal"], env=cluster.env,
                               capture_output=True, text=True, timeout=120, check=False)
    assert installed.returncode == 0, installed.stderr
    assert json.loads(cluster.kubectl("version", "-o", "json").stdout)["serverVersion"]["minor"] == "33"
    cluster.kubectl("apply", "-f", "-", stdin=APPS.format(ns="native", labels="{istio-injection: enabled}"))
    cluster.kubectl("rollout", "status", "deploy/my-app-v1", "-n", "native", "--timeout=30s")
    for pod in pods(cluster, "native"):
        assert _sidecar_shape(pod) == (("istio-init", "istio-proxy"), ("hello",), "Always")
    assert "2/2" in cluster.kubectl("get", "pods", "-n", "native").stdout


def test_ingress_gateway_routes_by_gateway_and_virtualservice(sandbox, mesh):
    status, body = sandbox.api_get("/api/v1/namespaces/my-app/services/my-app-v2-svc:80/proxy/")
    assert status == 200 and "Version: 2.0.0" in body
    sandbox.kubectl("apply", "-f", "-", stdin=ROUTES.replace("NS", "my-app"))
    sandbox.await_routes(lambda routes: any(source == "my-app/my-app" for source, dummy, dummy in routes))
    svc = json.loads(sandbox.kubectl("get", "svc", "istio-ingressgateway", "-n", "istio-system", "-o", "json").stdout)
    hostname = svc["status"]["loadBalancer"]["ingress"][0]["hostname"]
    assert hostname.endswith(".us-east-1.elb.amazonaws.com")
    address = sandbox.load_balancers()[hostname]["ports"]["80"]
    for path, version in (("/v1", "1.0.0"), ("/v2", "2.0.0")):
        status, body = get("http://%s%s" % (address, path))
        assert status == 200 and "Version: %s" % version in body
    status, dummy = get("http://%s/v3" % address)
    assert status == 404
    assert istioctl(sandbox, "analyze", "-n", "my-app").returncode == 0


SHIFT = """
apiVersion: v1
kind: Namespace
metadata: {name: shift, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: hello, namespace: shift}
spec: {selector: {app: hello}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: hello, namespace: shift}
spec:
  host: hello
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
"""


HELLO_VERSION = """
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: hello-{version}, namespace: shift}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: hello, version: {version}}}}}
  template:
    metadata: {{labels: {{app: hello, version: {version}}}}}
    spec: {{containers: [{{name: hello, image: "gcr.io/google-samples/hello-app:{tag}", ports: [{{containerPort: 8080}}]}}]}}
"""
SHIFT += HELLO_VERSION.format(version="v1", replicas=2, tag="1.0") + HELLO_VERSION.format(version="v2", replicas=1,
                                                                                          tag="2.0")


def shift_route(*destinations):
    """A VirtualService on my-app's gateway sending /shift to the given (subset, weight) destinations of hello."""
    route = [dict({"destination": {"host": "hello.shift.svc.cluster.local", "subset": subset,
                                   "port": {"number": 80}}}, **({"weight": weight} if weight is not None else {}))
             for subset, weight in destinations]
    return json.dumps({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                       "metadata": {"name": "shift", "namespace": "shift"},
                       "spec": {"hosts": ["*"], "gateways": ["my-app/my-app-gateway"],
                                "http": [{"match": [{"uri": {"prefix": "/shift"}}], "rewrite": {"uri": "/"},
                                          "route": route}]}})


def shift_clusters(sandbox, *weights):
    """Wait until the gateway's route for /shift holds clusters of these (subset, weight) pairs."""
    wanted = {"outbound|80|%s|hello.shift.svc.cluster.local" % subset: weight for subset, weight in weights}
    sandbox.await_routes(lambda routes: any(source == "shift/shift" and clusters == wanted
                                            for source, dummy, clusters in routes))


def versions(address, count):
    seen = {}
    for dummy in range(count):
        status, body = get("http://%s/shift" % address)
        key = body.split("Version: ")[1].split()[0] if status == 200 else status
        seen[key] = seen.get(key, 0) + 1
    return seen


def test_weights_and_subsets_split_traffic_as_envoy_does(sandbox, mesh):
    """VirtualService weights over DestinationRule subsets: each request goes to one subset with the probability of
    its weight (Envoy's weighted clusters draw a random number per request), only to that subset's pods; weight 0
    takes nothing; one destination takes all; a subset no DestinationRule defines answers 503 (no cluster)."""
    sandbox.kubectl("apply", "-f", "-", stdin=ROUTES.replace("NS", "my-app"))
    sandbox.kubectl("apply", "-f", "-", stdin=SHIFT)
    for dep in ("hello-v1", "hello-v2"):
        sandbox.kubectl("rollout", "status", "deploy/" + dep, "-n", "shift", "--timeout=30s")
    svc = json.loads(sandbox.kubectl("get", "svc", "istio-ingressgateway", "-n", "istio-system", "-o", "json").stdout)
    address = sandbox.load_balancers()[svc["status"]["loadBalancer"]["ingress"][0]["hostname"]]["ports"]["80"]
    sandbox.kubectl("apply", "-f", "-", stdin=shift_route(("v1", 90), ("v2", 10)))
    shift_clusters(sandbox, ("v1", 90), ("v2", 10))
    seen = versions(address, 400)
    # 400 draws at p=0.1: mean 40, standard deviation 6; 5 standard deviations either side
    assert set(seen) == {"1.0.0", "2.0.0"} and 10 <= seen["2.0.0"] <= 70, seen
    sandbox.kubectl("apply", "-f", "-", stdin=shift_route(("v1", 0), ("v2", 100)))
    shift_clusters(sandbox, ("v2", 100))  # istiod leaves a weight-0 destination out of weighted clusters
    assert versions(address, 50) == {"2.0.0": 50}
    sandbox.kubectl("apply", "-f", "-", stdin=shift_route(("v1", 0)))  # alone, its weight does not matter
    shift_clusters(sandbox, ("v1", None))
    assert versions(address, 20) == {"1.0.0": 20}
    sandbox.kubectl("apply", "-f", "-", stdin=shift_route(("v3", None)))
    shift_clusters(sandbox, ("v3", None))
    status, body = get("http://%s/shift" % address)
    assert (status, body) == (503, "")
    sandbox.kubectl("delete", "namespace", "shift")


def test_analyze_finds_a_virtualservice_without_its_gateway(sandbox, mesh):
    broken = ROUTES.replace("NS", "plain").split("---")[1].replace("gateways: [my-app-gateway]",
                                                                   "gateways: [missing-gateway]")
    sandbox.kubectl("apply", "-f", "-", stdin=broken)
    result = istioctl(sandbox, "analyze", "-n", "plain", "-o", "json")
    assert result.returncode == 79
    codes = [(m["code"], m["message"]) for m in json.loads(result.stdout)]
    assert ("IST0101", 'Referenced gateway not found: "missing-gateway"') in codes
    sandbox.kubectl("delete", "virtualservice", "my-app", "-n", "plain")


def test_nginx_routes_by_its_configmap(sandbox, mesh):
    sandbox.kubectl("apply", "-f", "-", stdin=NGINX.replace("NS", "my-app"))
    sandbox.kubectl("rollout", "status", "deploy/nginx", "-n", "my-app", "--timeout=30s")
    for path, version in (("v1", "1.0.0"), ("v2", "2.0.0")):
        status, body = sandbox.api_get("/api/v1/namespaces/my-app/services/nginx-svc:80/proxy/" + path)
        assert status == 200 and "Version: %s" % version in body
    status, dummy = sandbox.api_get("/api/v1/namespaces/my-app/services/nginx-svc:80/proxy/other")
    assert status == 404


def test_unready_pods_get_no_traffic(sandbox, mesh):
    sandbox.faults(never_ready=["slow/*"])
    try:
        sandbox.kubectl("apply", "-f", "-", stdin=APPS.format(ns="slow", labels="{}"))
        rollout = sandbox.kubectl("rollout", "status", "deploy/my-app-v1", "-n", "slow", "--timeout=3s", check=False)
        assert rollout.returncode != 0
        pod = pods(sandbox, "slow")[0]
        ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "False" and ready["reason"] == "ContainersNotReady"
        status, body = sandbox.api_get("/api/v1/namespaces/slow/services/my-app-v1-svc:80/proxy/")
        assert status == 503 and "no endpoints available" in body
    finally:
        sandbox.faults(never_ready=[])


def test_uninstall_purge_removes_istio(sandbox, mesh):
    needs_flag = istioctl(sandbox, "uninstall", "-y")
    assert needs_flag.returncode != 0 and "--purge" in needs_flag.stderr
    result = istioctl(sandbox, "uninstall", "-y", "--purge")
    assert result.returncode == 0 and "Uninstall complete" in result.stdout
    assert json.loads(sandbox.kubectl("get", "deploy", "-n", "istio-system", "-o", "json").stdout)["items"] == []
    assert "istio.io" not in sandbox.kubectl("get", "crd", "-o", "name").stdout
    version = istioctl(sandbox, "version", "-o", "json")
    assert version.stdout.startswith("Istio is not present in the cluster")


def test_precheck_answers_as_the_real_command(sandbox):
    # ../shared/upstream/README.md: findings on stdout and exit 1 (Warning or worse); success line on stderr
    sandbox.faults(precheck_findings=["Warning [IST0165] (Cluster) something to read"])
    try:
        found = subprocess.run(["istioctl", "x", "precheck"], env=sandbox.env, capture_output=True, text=True,
                               timeout=60, check=False)
    finally:
        sandbox.faults(precheck_findings=[])
    assert found.returncode == 1 and "IST0165" in found.stdout and "\x1b[" not in found.stdout
    clean = subprocess.run(["istioctl", "x", "precheck"], env=sandbox.env, capture_output=True, text=True,
                           timeout=60, check=False)
    assert clean.returncode == 0 and "No issues found" in clean.stderr and clean.stdout == ""
