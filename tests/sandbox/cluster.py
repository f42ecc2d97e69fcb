"""The emulated cluster's process: API server, controllers, data plane.

Run by ``ctl.py up``; ``python -m sandbox.cluster --port P --state-dir D``.
"""

import argparse
import json
import os
import signal
import sys
import threading

from . import injection
from .api import Api
from .controllers import Controllers, Settings
from .dataplane import DataPlane
from .server import ApiHTTPServer, Faults, RequestLog

NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
NODES = (("ip-192-168-12-34.us-east-1.compute.internal", "192.168.12.34", "us-east-1a"),
         ("ip-192-168-45-67.us-east-1.compute.internal", "192.168.45.67", "us-east-1b"))


class Sandbox(object):
    def __init__(self, state_dir, settings=None, faults=None):
        self.state_dir = state_dir
        self.api = Api()
        self.faults = Faults()
        if faults:
            self.faults.update(faults)
        self.log = RequestLog(os.path.join(state_dir, "requests.log") if state_dir else None)
        self.dataplane = DataPlane(self.api)
        self.controllers = Controllers(self.api, self.faults, settings or Settings(), self.dataplane)
        self.api.admission.append(injection.admission_hook)
        self.controllers.start()
        self._seed()

    def _seed(self):
        namespaces = self.api.registry.find("", "v1", "namespaces")
        nodes = self.api.registry.find("", "v1", "nodes")
        services = self.api.registry.find("", "v1", "services")
        for name in NAMESPACES:
            self.api.create(namespaces, None, {"metadata": {"name": name}})
        for name, address, zone in NODES:
            self.api.create(nodes, None, {
                "metadata": {"name": name, "labels": {
                    "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                    "node.kubernetes.io/instance-type": "m5.large", "topology.kubernetes.io/region": "us-east-1",
                    "topology.kubernetes.io/zone": zone, "eks.amazonaws.com/nodegroup": "demo-nodes"}},
                "spec": {"providerID": "aws:///%s/i-0%s" % (zone, address.replace(".", ""))},
                "status": {"addresses": [{"type": "InternalIP", "address": address}],
                           "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                           "nodeInfo": {"kubeletVersion": "v1.32.9-eks-sandbox", "osImage": "Amazon Linux 2023",
                                        "containerRuntimeVersion": "containerd://1.7.27",
                                        "architecture": "amd64", "operatingSystem": "linux",
                                        "machineID": "ec2" + address.replace(".", ""), "systemUUID": "ec2" + address.replace(".", ""),
                                        "bootID": "boot-" + address.replace(".", ""), "kernelVersion": "6.1.0",
                                        "kubeProxyVersion": "v1.32.9-eks-sandbox"}}})
        self.api.create(services, "default", {
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.100.0.1", "ports": [{"name": "https", "port": 443, "targetPort": 443}]}})

    def snapshot(self):
        """Every object, by kind/namespace/name, without run-time churn."""
        out = {}
        for kind, obj in self.api.all_objects():
            meta = obj["metadata"]
            key = "%s/%s/%s" % (kind.api_version + "." + kind.kind, meta.get("namespace") or "", meta["name"])
            out[key] = {"uid": meta["uid"], "labels": meta.get("labels") or {}}
        return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="sandbox-cluster")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--faults", default="{}", help="initial fault knobs as JSON")
    parser.add_argument("--pod-start", type=float, default=0.3)
    parser.add_argument("--load-balancer-delay", type=float, default=1.0)
    args = parser.parse_args(argv)
    sandbox = Sandbox(args.state_dir, Settings(pod_start=args.pod_start, load_balancer=args.load_balancer_delay),
                      json.loads(args.faults))
    server = ApiHTTPServer(("127.0.0.1", args.port), sandbox)
    with open(os.path.join(args.state_dir, "apiserver.port"), "w") as handle:
        handle.write(str(server.server_address[1]))

    def stop(signum, frame):
        server.stopping = True
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever(poll_interval=0.2)
    sandbox.controllers.stop()
    sandbox.dataplane.stop()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
