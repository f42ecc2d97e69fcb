"""Lifecycle of the sandbox: up, down, status, reset, faults.

    python tests/sandbox/ctl.py up [--state-dir .sandbox]
    source .sandbox/env        # KUBECONFIG, AWS endpoint and credentials, istioctl on PATH
    python tests/sandbox/ctl.py status | faults '{"error_rate": 0.1}' | reset | down
    python tests/sandbox/ctl.py --state-dir .sandbox-fleet up --clusters 3    # a fleet: demo-1 .. demo-3
    python tests/sandbox/ctl.py --state-dir .sandbox-fleet/clusters/demo-2 faults '{"istioctl_fail_install": true}'

``up`` is a no-op when the sandbox already runs; a state directory left by
a killed run is detected and replaced. ``down`` stops only the processes
recorded in the state directory.
"""

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS)
DEFAULT_STATE = os.path.join(ROOT, ".sandbox")
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from sandbox import yamlio as yaml  # noqa: E402  pylint: disable=wrong-import-position

from sandbox import cloud, eks, eksauth, gatewayapi, upstream  # noqa: E402  pylint: disable=wrong-import-position
REGION = eks.REGION
CLUSTER = "demo"
START_TIMEOUT = 60.0
# Kubernetes minor releases the sandbox can be (what /version, the nodes and the injector see); 1.33 is the first
# on which Istio injects native sidecars (ENABLE_NATIVE_SIDECARS=auto, ../shared/upstream/README.md).
K8S_VERSIONS = ("1.31", "1.32", "1.33", "1.34")
K8S_DEFAULT = "1.32"
STORAGE = ("ebs-csi", "none")


def _free_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _endpoint_address():
    """A loopback address of one cluster's own. Each EKS cluster has an endpoint no other cluster ever had; clients
    key their discovery caches by it (kubectl's ~/.kube/cache/discovery/HOST_PORT, kubernetes.core's
    $TMPDIR/k8srcp-<sha256 of host and user>.json). Sandboxes on 127.0.0.1 with ephemeral ports reuse an earlier
    sandbox's endpoint now and then, and a client then believes the kinds the earlier cluster served. Linux routes
    all of 127.0.0.0/8 to the loopback interface, so any address in it can be bound without set-up."""
    return "127.%d.%d.%d" % (secrets.randbelow(254) + 1, secrets.randbelow(256), secrets.randbelow(254) + 1)


def tls_context(state_dir):
    """An SSL context trusting the sandbox's CA (its ca.crt), or None for a plain-HTTP sandbox."""
    path = os.path.join(state_dir, "ca.crt")
    return ssl.create_default_context(cafile=path) if os.path.exists(path) else None


def _answers(url, timeout=1.0, context=None):
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:  # nosec - loopback only
            return response.status < 500
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _wait_until(check, what, timeout=START_TIMEOUT, proc=None):
    """Poll ``check`` until it holds; fail naming ``what`` (and the process' exit) otherwise."""
    deadline = time.time() + timeout
    delay = 0.05
    while time.time() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with code %s before answering" % (what, proc.returncode))
        time.sleep(delay)  # polling a condition with backoff, bounded by the deadline
        delay = min(delay * 2, 0.5)
    raise RuntimeError("%s did not answer within %.0f s" % (what, timeout))


def _port(path):
    """The port a process wrote to ``path``; None while there is none (no file yet, or not written whole)."""
    try:
        with open(path) as handle:
            text = handle.read().strip()
    except OSError:
        return None
    return text if text.isdigit() else None


def _alive(pid):
    """Whether ``pid`` still runs. A process that has exited but not yet been reaped (a zombie: the sandbox's
    processes are reparented to PID 1 once ``up`` exits, and an init may reap only every few seconds) has stopped
    serving and holds nothing but its table entry, so it counts as gone (proc(5): state ``Z`` in /proc/PID/stat)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as handle:
            # the state follows the command name in parentheses, which may itself hold spaces or parentheses
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class State(object):
    def __init__(self, directory):
        self.dir = os.path.abspath(directory)

    def path(self, *names):
        return os.path.join(self.dir, *names)

    def read(self):
        try:
            with open(self.path("state.json")) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def write(self, data):
        with open(self.path("state.json"), "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)

    def healthy(self):
        data = self.read()
        if not data:
            return False
        if not all(_alive(pid) for pid in data.get("pids", {}).values()):
            return False
        if data.get("clusters"):
            # a fleet: moto, and every member's API server
            return _answers(data["aws_endpoint"] + "/moto-api/") and \
                all(State(member).healthy() for member in data["clusters"].values())
        if not data.get("apiserver") or not data.get("aws_endpoint"):
            return False
        return _answers(data["apiserver"] + "/readyz", context=tls_context(self.dir)) and \
            _answers(data["aws_endpoint"] + "/moto-api/")


def _spawn(args, log_path, env=None):
    log = open(log_path, "ab")  # pylint: disable=consider-using-with
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                            start_new_session=True, env=env, cwd=ROOT)


def up(state, faults=None, istio_version=upstream.TESTED[-1], flavour="terraform", lb_mode="in-tree",
       k8s_version=K8S_DEFAULT, storage="ebs-csi", plain_http=False, clusters=1, lbc_version=cloud.LBC_VERSION):
    """Start moto (behind the signature check), seed each EKS cluster's AWS side in the chosen flavour, then start
    the clusters whose Nodes point at those instances and whose load balancers are made in that moto.

    One cluster (``demo``) lives in the state directory itself; ``clusters`` > 1 starts a fleet of independent
    clusters ``demo-1`` .. ``demo-N`` in one AWS account (one moto), each with its own API server, process and state
    directory ``clusters/NAME`` (kubeconfig with context NAME, faults, env), as a platform team's EKS clusters are;
    ``flavour`` is one for every cluster or a list of one per cluster."""
    flavours = list(flavour) if isinstance(flavour, (list, tuple)) else [flavour]
    if len(flavours) == 1:
        flavours *= clusters
    if len(flavours) != clusters:
        raise ValueError("%d flavours for %d clusters: expected one, or one per cluster" % (len(flavours), clusters))
    if state.healthy():
        print("sandbox already up: source %s" % state.path("env"))
        return 0
    if os.path.isdir(state.dir):
        down(state, quiet=True)
    os.makedirs(state.dir, exist_ok=True)
    python = sys.executable
    env = dict(os.environ, PYTHONPATH=TESTS + os.pathsep + os.environ.get("PYTHONPATH", ""))
    pids = {}
    options = dict(faults=faults, istio_version=istio_version, lb_mode=lb_mode,
                   k8s_version=k8s_version, storage=storage, plain_http=plain_http, lbc_version=lbc_version)
    try:
        moto_port = _free_port()
        # moto behind a check of every request's signature (sandbox/aws.py): a wrong key or secret is refused
        access_key = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _position in range(16))
        secret_key = secrets.token_urlsafe(30)
        keys = dict(SANDBOX_AWS_ACCESS_KEY=access_key, SANDBOX_AWS_SECRET_KEY=secret_key)
        moto = _spawn([python, "-m", "sandbox.aws", "--host", "127.0.0.1", "--port", str(moto_port)],
                      state.path("moto.log"), dict(env, **keys))
        pids["moto"] = moto.pid
        aws_url = "http://127.0.0.1:%d" % moto_port
        state.write({"pids": pids, "state_dir": state.dir})
        # a fleet's members are demo-1 .. demo-N, each in its own state directory
        members = [(CLUSTER, state)] if clusters == 1 else \
            [("%s-%d" % (CLUSTER, number), State(state.path("clusters", "%s-%d" % (CLUSTER, number))))
             for number in range(1, clusters + 1)]
        # the addon files need no AWS: written while moto starts
        for dummy_name, directory in members:
            _write_addons(directory)
        _wait_until(lambda: _answers(aws_url + "/moto-api/"), "moto's AWS server", proc=moto)
        if clusters == 1:
            data = _start_cluster(state, CLUSTER, "sandbox", aws_url, dict(env, **keys), pids, "cluster",
                                  flavour=flavours[0], **options)()
            state.write(data)
        else:
            # every member seeded and started first, then each awaited: their processes start side by side
            finishers = []
            for (name, member), member_flavour in zip(members, flavours):
                finishers.append(_start_cluster(member, name, name, aws_url, dict(env, **keys), pids,
                                                "cluster-" + name, flavour=member_flavour, **options))
                state.write({"pids": pids, "state_dir": state.dir})
            for (name, member), finish in zip(members, finishers):
                # a member's own state.json names only its own process: the fleet's (this one) stops them all
                member.write(dict(finish(), pids={"cluster": pids["cluster-" + name]}))
            state.write({"pids": pids, "aws_endpoint": aws_url, "state_dir": state.dir,
                         "clusters": dict((name, member.dir) for name, member in members)})
    except Exception:
        _stop_pids(list(pids.values()))
        raise
    names = sorted(state.read().get("clusters") or {})
    print("sandbox up (%s, Kubernetes %s, load balancers: %s, storage: %s): AWS %s, %s"
          % (",".join(flavours), k8s_version, lb_mode, storage, aws_url,
             "clusters %s under %s" % (", ".join(names), state.path("clusters")) if names
             else "API %s\nuse it: source %s" % (state.read()["apiserver"], state.path("env"))))
    return 0


def _start_cluster(state, name, context, aws_url, env, pids, pid_name, faults=None, istio_version=None,
                   flavour="terraform", lb_mode="in-tree", k8s_version=K8S_DEFAULT, storage="ebs-csi",
                   plain_http=False, lbc_version=None):
    """Seed one EKS cluster ``name`` in moto and start its process in ``state``'s directory; return a function that
    waits until its API server answers and returns its state."""
    python = sys.executable
    os.makedirs(state.path("bin"), exist_ok=True)
    aws = eks.seed(aws_url, env["SANDBOX_AWS_ACCESS_KEY"], env["SANDBOX_AWS_SECRET_KEY"], flavour=flavour,
                   cluster=name, version=k8s_version)
    aws["lb_mode"] = lb_mode
    aws["lbc_version"] = lbc_version or cloud.LBC_VERSION
    with open(state.path("aws.json"), "w") as handle:
        public = dict((k, v) for k, v in aws.items() if k not in ("access_key", "secret_key"))
        json.dump(dict(public, endpoint=aws_url), handle, indent=2)
    tls = [] if plain_http else ["--tls-dir", state.dir]
    address = _endpoint_address()
    for stale in ("ca.crt", "server.crt", "server.key", "admin.crt", "admin.key", "tokens"):
        if os.path.exists(state.path(stale)):
            os.unlink(state.path(stale))
    if not plain_http:
        # HTTPS with the sandbox's own CA and tokens checked as EKS checks them (sandbox/eksauth.py); the
        # static token stands for a ServiceAccount's, for clients given a host and a token
        eksauth.make_certificates(state.dir, address)
        with open(os.open(state.path("tokens"), os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
    cluster = _spawn([python, "-m", "sandbox.cluster", "--state-dir", state.dir, "--faults",
                      json.dumps(faults or {}), "--aws", state.path("aws.json"), "--lb-mode", lb_mode,
                      "--k8s-version", k8s_version, "--storage", storage, "--address", address] + tls,
                     state.path("cluster.log"), env)
    pids[pid_name] = cluster.pid

    def finish():
        _wait_until(lambda: _port(state.path("apiserver.port")), "the API server of %s" % name, proc=cluster)
        api_url = "%s://%s:%s" % ("http" if plain_http else "https", address, _port(state.path("apiserver.port")))
        context_ssl = tls_context(state.dir)
        _wait_until(lambda: _answers(api_url + "/readyz", context=context_ssl), "the API server of %s" % name,
                    proc=cluster)
        _write_files(state, api_url, aws_url, aws, istio_version, context)
        return {"pids": dict(pids), "apiserver": api_url, "aws_endpoint": aws_url, "state_dir": state.dir,
                "aws": aws, "kubernetes_version": k8s_version, "storage": storage, "istio_version": istio_version,
                "context": context}
    return finish


def _write_addons(state):
    """Istio's own addon manifests of every tested release (samples/addons at the release tag, read from
    ../shared/upstream or downloaded by tag: sandbox/upstream.py), as ``addons/<version>/<addon>.yaml``: the
    sandbox inventory points the observability role's ``dir`` source there, for the release it installs."""
    for version in upstream.TESTED:
        target = state.path("addons", version)
        os.makedirs(target, exist_ok=True)
        for addon in upstream.ADDONS:
            shutil.copyfile(upstream.path(version, "addons/%s.yaml" % addon), os.path.join(target, addon + ".yaml"))
    # the Gateway API CRDs Istio 1.30 is tested with (its tests/integration/pilot/testdata): the sandbox inventory
    # points the ingress role's ingress_gateway_api_crds_file there, as a user points it at a release's manifest
    shutil.copyfile(upstream.path("1.30.3", "crds/gateway-api-crd.yaml"), state.path("gateway-api-crds.yaml"))
    # and older bundles, as a user of Istio 1.28 / 1.29 (v1.4.1) or of an old cluster (v1.1.0) has them
    with open(upstream.path("1.30.3", "crds/gateway-api-crd.yaml")) as handle:
        documents = list(yaml.safe_load_all(handle))
    for version in ("v1.4.1", "v1.1.0"):
        with open(state.path("gateway-api-crds-%s.yaml" % version), "w") as handle:
            yaml.safe_dump_all(gatewayapi.older_bundle(documents, version), handle, sort_keys=False)


def _write_files(state, api_url, aws_url, aws, istio_version, context="sandbox"):
    cluster = {"server": api_url}
    user = {"token": "sandbox-token-not-a-secret"}  # a plain-HTTP sandbox takes any token
    if os.path.exists(state.path("ca.crt")):
        # as `aws eks update-kubeconfig` writes it: the cluster's CA, and a token from `aws eks get-token` (here
        # its stand-in, bin/sandbox-eks-get-token) run with the AWS identity of the process that connects
        with open(state.path("ca.crt"), "rb") as handle:
            cluster["certificate-authority-data"] = base64.b64encode(handle.read()).decode()
        get_token = state.path("bin", "sandbox-eks-get-token")
        with open(get_token, "w") as handle:
            handle.write("#!/bin/sh\n# stands in for `aws eks get-token` (sandbox/eksauth.py)\n"
                         "PYTHONPATH=\"%s\" exec \"%s\" -m sandbox.eksauth get-token \"$@\"\n" % (TESTS, sys.executable))
        os.chmod(get_token, 0o755)
        user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": get_token,
                         "args": ["--region", REGION, "--cluster-name", aws["cluster"], "--output", "json"],
                         "interactiveMode": "Never", "provideClusterInfo": False}}
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config", "current-context": context, "preferences": {},
        "clusters": [{"name": context, "cluster": cluster}],
        "users": [{"name": context + "-admin", "user": user}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context + "-admin"}}],
    }
    with open(state.path("kubeconfig"), "w") as handle:
        json.dump(kubeconfig, handle, indent=2)
    os.chmod(state.path("kubeconfig"), 0o600)
    if os.path.exists(state.path("admin.crt")):
        # kubeconfig-admin-cert: the same cluster with an administrator's client certificate, as a kind or kubeadm
        # cluster's admin.conf has it (for clients and tests written for such a cluster)
        with open(state.path("admin.crt"), "rb") as crt, open(state.path("admin.key"), "rb") as key:
            user = {"client-certificate-data": base64.b64encode(crt.read()).decode(),
                    "client-key-data": base64.b64encode(key.read()).decode()}
        admin = dict(kubeconfig, users=[{"name": context + "-admin", "user": user}])
        with open(os.open(state.path("kubeconfig-admin-cert"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                  "w") as handle:
            json.dump(admin, handle, indent=2)
    istioctl = state.path("bin", "istioctl")
    with open(istioctl, "w") as handle:
        handle.write("#!/bin/sh\n# istioctl stand-in of the sandbox (a test double)\n"
                     "SANDBOX_ISTIO_VERSION=\"${SANDBOX_ISTIO_VERSION:-%s}\" PYTHONPATH=\"%s\" exec \"%s\" -m "
                     "sandbox.istioctl \"$@\"\n" % (istio_version, TESTS, sys.executable))
    os.chmod(istioctl, 0o755)
    # each tested release's own istioctl, as each Istio release ships one (a canary upgrade runs two)
    for release in upstream.TESTED:
        path = state.path("bin", "istioctl-" + release)
        with open(path, "w") as handle:
            handle.write("#!/bin/sh\n# istioctl %s stand-in of the sandbox (a test double)\n"
                         "SANDBOX_ISTIO_VERSION=%s PYTHONPATH=\"%s\" exec \"%s\" -m sandbox.istioctl \"$@\"\n"
                         % (release, release, TESTS, sys.executable))
        os.chmod(path, 0o755)
    lines = {
        "KUBECONFIG": state.path("kubeconfig"),
        "K8S_AUTH_KUBECONFIG": state.path("kubeconfig"),
        "AWS_ENDPOINT_URL": aws_url,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": aws["access_key"],
        "AWS_SECRET_ACCESS_KEY": aws["secret_key"],
        "SANDBOX_API": api_url,
        "SANDBOX_CA": state.path("ca.crt") if os.path.exists(state.path("ca.crt")) else "",
        "SANDBOX_STATE_DIR": state.dir,
        "SANDBOX_ISTIO_VERSION": istio_version,
        "SANDBOX_EKS_CLUSTER": aws["cluster"],
    }
    with open(state.path("env"), "w") as handle:
        handle.write("# sandbox environment: source this file\n")
        for key, value in lines.items():
            handle.write("export %s=%s\n" % (key, json.dumps(value)))
        handle.write("export PATH=%s:\"$PATH\"\n" % json.dumps(state.path("bin")))


def _stop_pids(pids, timeout=10.0):
    """SIGTERM each process group at once, then wait for all of them together (bounded; SIGKILL what is left)."""
    running = [pid for pid in pids if _alive(pid)]
    for pid in running:
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.time() + timeout
    while running and time.time() < deadline:
        for pid in running:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        running = [pid for pid in running if _alive(pid)]
        if running:
            time.sleep(0.02)  # polling for the processes to exit, bounded by the deadline
    for pid in running:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def down(state, quiet=False):
    data = state.read() or {}
    _stop_pids(list((data.get("pids") or {}).values()))
    if os.path.isdir(state.dir):
        shutil.rmtree(state.dir, ignore_errors=True)
    if not quiet:
        print("sandbox down")
    return 0


def status(state):
    data = state.read()
    if not data:
        print(json.dumps({"up": False, "state_dir": state.dir}))
        return 3
    report = {"up": state.healthy(), "state_dir": state.dir, "apiserver": data.get("apiserver"),
              "aws_endpoint": data.get("aws_endpoint"), "clusters": data.get("clusters"),
              "pids": {name: {"pid": pid, "alive": _alive(pid)} for name, pid in data.get("pids", {}).items()}}
    print(json.dumps(report, indent=2))
    return 0 if report["up"] else 3


def faults(state, values):
    data = state.read()
    if not data:
        raise SystemExit("the sandbox is not up")
    if data.get("clusters"):
        raise SystemExit("a fleet has a state directory per cluster: --state-dir %s" % state.path("clusters", "NAME"))
    request = urllib.request.Request(data["apiserver"] + "/sandbox/faults", data=json.dumps(values).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10, context=tls_context(state.dir)) as response:  # nosec
        print(response.read().decode())
    return 0


def _clusters(value):
    number = int(value)
    if not 1 <= number <= 9:
        raise argparse.ArgumentTypeError("expected 1 to 9 clusters, got %s" % value)
    return number


def _flavours(value):
    names = value.split(",")
    unknown = [name for name in names if name not in eks.FLAVOURS]
    if unknown:
        raise argparse.ArgumentTypeError("flavour %s: expected one of %s"
                                         % (", ".join(unknown), ", ".join(eks.FLAVOURS)))
    return names


def _cluster_options(parser):
    parser.add_argument("--clusters", type=_clusters, default=1,
                        help="N > 1: a fleet of N independent clusters demo-1..demo-N in one AWS account, each in "
                             "STATE_DIR/clusters/NAME (inventories/sandbox-fleet drives three)")
    parser.add_argument("--faults", default="{}", help="initial fault knobs, JSON")
    parser.add_argument("--istio-version", default=os.environ.get("SANDBOX_ISTIO_VERSION", upstream.TESTED[-1]),
                        help="version the istioctl stand-in reports and installs")
    parser.add_argument("--flavour", default=os.environ.get("SANDBOX_FLAVOUR", "terraform"), type=_flavours,
                        help="how the EKS cluster's nodes and security groups were made (see sandbox/eks.py): one "
                             "of %s; for a fleet, one for every cluster or one per cluster, comma-separated in "
                             "order (a platform team's clusters made different ways)" % ", ".join(eks.FLAVOURS))
    parser.add_argument("--lb-mode", default=os.environ.get("SANDBOX_LB_MODE", "in-tree"), choices=cloud.MODES,
                        help="which controller makes LoadBalancer Services' load balancers (see sandbox/cloud.py)")
    parser.add_argument("--lbc-version", default=os.environ.get("SANDBOX_LBC_VERSION", cloud.LBC_VERSION),
                        help="the AWS Load Balancer Controller's release (lb-mode aws-lb-controller): before v2.6.0 "
                             "its NLBs have no security group")
    parser.add_argument("--k8s-version", default=os.environ.get("SANDBOX_K8S_VERSION", K8S_DEFAULT),
                        choices=K8S_VERSIONS, help="the Kubernetes minor release the cluster runs")
    parser.add_argument("--plain-http", action="store_true",
                        help="serve plain HTTP and take any token (only where a test asks for it)")
    parser.add_argument("--storage", default=os.environ.get("SANDBOX_STORAGE", "ebs-csi"), choices=STORAGE,
                        help="ebs-csi: the EBS CSI driver add-on and a default StorageClass; none: EKS as created, "
                             "gp2 not default and no driver, so volume claims stay Pending")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="sandbox", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", default=os.environ.get("SANDBOX_STATE_DIR") or DEFAULT_STATE)
    sub = parser.add_subparsers(dest="command", required=True)
    _cluster_options(sub.add_parser("up"))
    sub.add_parser("down")
    sub.add_parser("status")
    _cluster_options(sub.add_parser("reset"))
    faults_parser = sub.add_parser("faults")
    faults_parser.add_argument("values", help="fault knobs as JSON, e.g. '{\"error_rate\": 0.1}'")
    args = parser.parse_args(argv)
    state = State(args.state_dir)
    if args.command in ("up", "reset"):
        if args.command == "reset":
            down(state, quiet=True)
        return up(state, json.loads(args.faults), args.istio_version, args.flavour, args.lb_mode, args.k8s_version,
                  args.storage, args.plain_http, args.clusters, args.lbc_version)
    if args.command == "down":
        return down(state)
    if args.command == "status":
        return status(state)
    return faults(state, json.loads(args.values))


if __name__ == "__main__":
    sys.exit(main())
