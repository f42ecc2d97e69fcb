"""Start the sandbox for a test session and talk to it as the tests need."""

import contextlib
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import boto3

HERE = os.path.dirname(os.path.abspath(__file__))
CTL = os.path.join(os.path.dirname(HERE), "sandbox", "ctl.py")


def start(state_dir, *options):
    """``options``: up's options, e.g. ("--flavour", "karpenter", "--lb-mode", "aws-lb-controller")."""
    subprocess.run([sys.executable, CTL, "--state-dir", state_dir, "up"] + list(options), check=True, timeout=180)
    return Running(state_dir)


def start_fleet(state_dir, clusters, *options):
    """A fleet of ``clusters`` sandbox clusters in one AWS account: {cluster name: Running}, as its state says."""
    subprocess.run([sys.executable, CTL, "--state-dir", state_dir, "up", "--clusters", str(clusters)] + list(options),
                   check=True, timeout=300)
    with open(os.path.join(state_dir, "state.json")) as handle:
        members = json.load(handle)["clusters"]
    return dict((name, Running(directory)) for name, directory in members.items())


def stop(state_dir):
    subprocess.run([sys.executable, CTL, "--state-dir", state_dir, "down"], check=False, timeout=60)


@contextlib.contextmanager
def own(tmp_path_factory, name, *options):
    """A sandbox of the test module's own (not the suite's shared one), stopped afterwards: for tests that count
    what they find, or change the cluster in ways the suite's other files must not see."""
    state_dir = str(tmp_path_factory.mktemp(name) / "state")
    running = start(state_dir, *options)
    try:
        yield running
    finally:
        stop(state_dir)


class Running(object):
    def __init__(self, state_dir):
        self.state_dir = state_dir
        with open(os.path.join(state_dir, "state.json")) as handle:
            self.state = json.load(handle)
        self.env = dict(os.environ)
        with open(os.path.join(state_dir, "env")) as handle:
            for line in handle:
                if line.startswith("export ") and not line.startswith("export PATH="):
                    key, value = line[len("export "):].strip().split("=", 1)
                    self.env[key] = json.loads(value)
        self.env["PATH"] = os.path.join(state_dir, "bin") + os.pathsep + os.environ["PATH"]
        self.api = self.state["apiserver"]
        self.kubeconfig = self.env["KUBECONFIG"]
        # the sandbox's CA (HTTPS as on EKS) and its ServiceAccount-like static token, for direct requests
        ca = os.path.join(state_dir, "ca.crt")
        self.context = ssl.create_default_context(cafile=ca) if os.path.exists(ca) else None
        tokens = os.path.join(state_dir, "tokens")
        self.token = open(tokens).read().split()[0] if os.path.exists(tokens) else None  # pylint: disable=consider-using-with

    def inventory_env(self):
        """The environment a play with the sandbox inventory (inventories/sandbox) needs to reach this sandbox."""
        env = {"SANDBOX_STATE_DIR": self.state_dir, "K8S_AUTH_KUBECONFIG": self.kubeconfig}
        env.update((k, self.env[k]) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))
        return env

    def identity_kubeconfig(self):
        """The kubeconfig with the sandbox's AWS keys in its exec plugin's env, for clients in this process (whose
        environment holds no AWS identity), as `aws eks update-kubeconfig --profile P` puts AWS_PROFILE there."""
        path = os.path.join(self.state_dir, "kubeconfig-identity")
        with open(self.kubeconfig) as handle:
            config = json.load(handle)
        plugin = config["users"][0]["user"].get("exec")
        if plugin is not None:
            plugin["env"] = [{"name": "AWS_ACCESS_KEY_ID", "value": self.env["AWS_ACCESS_KEY_ID"]},
                             {"name": "AWS_SECRET_ACCESS_KEY", "value": self.env["AWS_SECRET_ACCESS_KEY"]}]
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            json.dump(config, handle)
        return path

    def open(self, request, timeout=10):
        """urlopen a URL or Request of the sandbox, trusting its CA."""
        return urllib.request.urlopen(request, timeout=timeout, context=self.context)

    def api_get(self, path, timeout=10):
        """(status, body) of an authenticated GET on the API server, as a client holding a token makes it."""
        request = urllib.request.Request(self.api + path, headers={"Authorization": "Bearer %s" % self.token}
                                         if self.token else {})
        try:
            with self.open(request, timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def gateway_routes(self, target="deploy/istio-ingressgateway", namespace="istio-system"):
        """The routes a gateway's Envoy holds, as `istioctl proxy-config routes TARGET -n NS -o json` prints them:
        [(virtual service "NS/NAME", match, {cluster: weight, or None for a route of one cluster})]."""
        proc = subprocess.run(["istioctl", "proxy-config", "routes", target, "-n", namespace, "-o", "json"],
                              env=self.env, capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode != 0:
            raise AssertionError("istioctl proxy-config routes %s failed: %s" % (target, proc.stderr))
        out = []
        for config in json.loads(proc.stdout):
            for host in config.get("virtualHosts") or []:
                for route in host.get("routes") or []:
                    source = ((route.get("metadata") or {}).get("filterMetadata") or {}).get("istio", {}).get(
                        "config", "").split("/")
                    action = route.get("route") or {}
                    clusters = ({c["name"]: c.get("weight") for c in action["weightedClusters"]["clusters"]}
                                if "weightedClusters" in action else {action.get("cluster"): None})
                    out.append(("%s/%s" % (source[5], source[7]) if len(source) == 8 else "",
                                route.get("match"), clusters))
        return out

    def await_routes(self, predicate, target="deploy/istio-ingressgateway", namespace="istio-system", timeout=20):
        """Wait until the gateway's routes satisfy ``predicate`` - istiod pushes a change after its debounce, and a
        request sent before is routed by the previous config - as a user checks it with istioctl proxy-config."""
        deadline = time.time() + timeout
        routes = self.gateway_routes(target, namespace)
        while not predicate(routes):
            if time.time() > deadline:
                raise AssertionError("the gateway's routes stayed %s" % routes)
            time.sleep(0.2)  # polling interval of a wait on a condition
            routes = self.gateway_routes(target, namespace)
        return routes

    def kubectl(self, *args, check=True, stdin=None):
        proc = subprocess.run(["kubectl"] + list(args), env=self.env, capture_output=True, text=True, input=stdin,
                              timeout=120, check=False)
        if check and proc.returncode != 0:
            raise AssertionError("kubectl %s failed: %s%s" % (" ".join(args), proc.stdout, proc.stderr))
        return proc

    def requests(self, since=None):
        """The request log, as a list of entries; with ``since`` (a time.time()), the requests that began at or after
        it (the log is written as each answer goes out, so its length is no mark)."""
        with open(os.path.join(self.state_dir, "requests.log")) as handle:
            entries = [json.loads(line) for line in handle if line.strip()]
        return entries if since is None else [e for e in entries if e["time"] >= since]

    def writes(self, since=None):
        """The write requests of the log (since a time.time(), when given)."""
        return [e for e in self.requests(since) if e["verb"] in ("POST", "PUT", "PATCH", "DELETE")]

    def snapshot(self):
        """Every object the cluster holds, by kind/namespace/name, with its uid and labels."""
        with self.open(self.api + "/sandbox/snapshot") as response:
            return json.loads(response.read())

    def security_group_rules(self):
        """Every security group's permissions in moto, as sorted strings (for before/after comparisons)."""
        ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=self.env["AWS_ENDPOINT_URL"],
                           aws_access_key_id=self.state["aws"]["access_key"],
                           aws_secret_access_key=self.state["aws"]["secret_key"])
        groups = ec2.describe_security_groups()["SecurityGroups"]
        return sorted(json.dumps(g["IpPermissions"], sort_keys=True) + g["GroupId"] for g in groups)

    def faults(self, **values):
        request = urllib.request.Request(self.api + "/sandbox/faults", data=json.dumps(values).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
        with self.open(request) as response:
            return json.loads(response.read())

    def load_balancers(self):
        with self.open(self.api + "/sandbox/loadbalancers") as response:
            return json.loads(response.read())
