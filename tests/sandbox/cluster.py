"""The emulated cluster's process: API server, controllers, data plane.

Run by ``ctl.py up``; ``python -m sandbox.cluster --port P --state-dir D``.
"""

import argparse
import json
import os
import signal
import sys
import threading

from . import injection, rbac, tokens
from .api import Api
from .cloud import Cloud, auto_mode_objects, binding_crd
from .controllers import Controllers, Settings
from .dataplane import DataPlane
from .server import ApiHTTPServer, Authenticator, Faults, RequestLog

NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
EBS_CSI = "ebs.csi.aws.com"


def default_storage_class(api, kind, obj, old, dry_run):
    """The DefaultStorageClass admission plugin: a new claim without storageClassName gets the class annotated
    as default, if there is one (kubernetes.io/docs/concepts/storage/persistent-volumes/#class-1)."""
    if kind.kind != "PersistentVolumeClaim" or old is not None or (obj.get("spec") or {}).get("storageClassName"):
        return
    classes, dummy = api.list(api.registry.find("storage.k8s.io", "v1", "storageclasses"))
    default = [c for c in classes if (c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS) == "true"]
    if default:
        obj.setdefault("spec", {})["storageClassName"] = default[0]["metadata"]["name"]


NODES = (("ip-192-168-12-34.us-east-1.compute.internal", "192.168.12.34", "us-east-1a"),
         ("ip-192-168-45-67.us-east-1.compute.internal", "192.168.45.67", "us-east-1b"))


class Sandbox(object):
    def __init__(self, state_dir, settings=None, faults=None, aws=None, lb_mode="in-tree", k8s_version="1.32",
                 storage="ebs-csi", auth=None):
        """``aws``: what sandbox/eks.py seeded in moto (nodes, groups, endpoint); without it the nodes are
        made up and LoadBalancer Services get a hostname with no cloud behind it."""
        self.state_dir = state_dir
        self.aws = aws
        self.auth = auth  # server.Authenticator: bearer tokens checked as EKS checks them; None takes any
        self.api = Api()
        # the release the API server, the kubelets and the injector see (ctl.py up --k8s-version)
        self.api.k8s_version = "%s.9" % k8s_version
        self.storage = storage
        self.faults = Faults()
        if faults:
            self.faults.update(faults)
        self.log = RequestLog(os.path.join(state_dir, "requests.log") if state_dir else None)
        self.dataplane = DataPlane(self.api)
        self.controllers = Controllers(self.api, self.faults, settings or Settings(), self.dataplane)
        self.api.admission.append(injection.admission_hook)
        self.api.admission.append(default_storage_class)
        if storage == "ebs-csi":
            # the EBS CSI driver add-on; CSI migration sends the in-tree aws-ebs provisioner to it too
            self.controllers.csi_drivers.update((EBS_CSI, "kubernetes.io/aws-ebs"))
        if aws:
            self.controllers.cloud = Cloud(self.api, self.faults, aws["endpoint"], os.environ["SANDBOX_AWS_ACCESS_KEY"],
                                           os.environ["SANDBOX_AWS_SECRET_KEY"], aws["region"], aws["cluster"],
                                           aws["vpc_id"], aws["vpc_cidr"], aws["subnet_ids"], aws["nodes"], lb_mode,
                                           aws.get("lbc_version"))
            self.api.admission.append(self.controllers.cloud.admission_hook)
        if auth is not None:
            auth.mapping = lambda: self.api.find(self.api.kind_for("", "v1", "configmaps"), "kube-system", "aws-auth")
            auth.service_account = lambda token: tokens.authenticate(self.api, token)
            ca_file = os.path.join(state_dir, "ca.crt") if state_dir else None
            if ca_file and os.path.exists(ca_file):
                with open(ca_file, "rb") as handle:
                    self.api.ca_pem = handle.read()
        self.controllers.start()
        self._seed()

    def _seed(self):
        namespaces = self.api.registry.find("", "v1", "namespaces")
        nodes = self.api.registry.find("", "v1", "nodes")
        services = self.api.registry.find("", "v1", "services")
        for name in NAMESPACES:
            self.api.create(namespaces, None, {"metadata": {"name": name}})
        # the API server's bootstrap RBAC policy (sandbox/rbac.py)
        roles, bindings = rbac.bootstrap_policy()
        for role in roles:
            self.api.create(self.api.registry.find("rbac.authorization.k8s.io", "v1", "clusterroles"), None, role)
        for binding in bindings:
            self.api.create(self.api.registry.find("rbac.authorization.k8s.io", "v1", "clusterrolebindings"), None,
                            binding)
        if self.aws:
            # each Node names its EC2 instance in spec.providerID (aws:///ZONE/INSTANCE-ID), as on EKS
            node_list = [(n["name"], n["address"], n["zone"], n["provider_id"], n["labels"]) for n in self.aws["nodes"]]
        else:
            node_list = [(name, address, zone, "aws:///%s/i-0%s" % (zone, address.replace(".", "")),
                          {"eks.amazonaws.com/nodegroup": "demo-nodes"}) for name, address, zone in NODES]
        for name, address, zone, provider_id, pool_labels in node_list:
            self.api.create(nodes, None, {
                "metadata": {"name": name, "labels": dict({
                    "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                    "node.kubernetes.io/instance-type": "m5.large", "topology.kubernetes.io/region": "us-east-1",
                    "topology.kubernetes.io/zone": zone}, **pool_labels)},
                "spec": {"providerID": provider_id},
                "status": {"addresses": [{"type": "InternalIP", "address": address}],
                           "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                           "nodeInfo": {"kubeletVersion": "v%s-eks-sandbox" % self.api.k8s_version, "osImage": "Amazon Linux 2023",
                                        "containerRuntimeVersion": "containerd://1.7.27",
                                        "architecture": "amd64", "operatingSystem": "linux",
                                        "machineID": "ec2" + address.replace(".", ""), "systemUUID": "ec2" + address.replace(".", ""),
                                        "bootID": "boot-" + address.replace(".", ""), "kernelVersion": "6.1.0",
                                        "kubeProxyVersion": "v%s-eks-sandbox" % self.api.k8s_version}}})
        self.api.create(services, "default", {
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.100.0.1", "ports": [{"name": "https", "port": 443, "targetPort": 443}]}})
        self._seed_storage()
        if self.aws:
            # EKS runs the pod identity webhook (IRSA) on its control plane: its MutatingWebhookConfiguration is in
            # every cluster, without Istio's labels, calling a control-plane URL (aws/amazon-eks-pod-identity-webhook;
            # EKS user guide, "IAM roles for service accounts"). istioctl counts such a configuration as revision
            # "default" (istioctl/pkg/tag/revision.go ListRevisionDescriptions).
            hooks = self.api.registry.find("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations")
            self.api.create(hooks, None, {"metadata": {"name": "pod-identity-webhook"}, "webhooks": [{
                "name": "iam-for-pods.amazonaws.com", "clientConfig": {"url": "https://127.0.0.1:23443/mutate"},
                "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"],
                           "scope": "*"}],
                "failurePolicy": "Ignore", "matchPolicy": "Equivalent", "sideEffects": "None", "timeoutSeconds": 10,
                "admissionReviewVersions": ["v1beta1"], "reinvocationPolicy": "IfNeeded", "namespaceSelector": {},
                "objectSelector": {"matchExpressions": [{"key": "eks.amazonaws.com/skip-pod-identity-webhook",
                                                         "operator": "DoesNotExist"}]}}]})
        if self.controllers.cloud is not None and self.controllers.cloud.mode == "aws-lb-controller":
            # the controller's Helm chart installs its CRDs with it
            crds = self.api.registry.find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            self.api.create(crds, None, binding_crd())
            accounts = self.api.registry.find("", "v1", "serviceaccounts")
            account = {"metadata": {"name": "aws-load-balancer-controller", "namespace": "kube-system"}}
            self.api.create(accounts, "kube-system", account)
            deployments = self.api.registry.find("apps", "v1", "deployments")
            self.api.create(deployments, "kube-system", self.controllers.cloud.controller_deployment())
            hooks = self.api.registry.find("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations")
            self.api.create(hooks, None, self.controllers.cloud.webhook_configuration())
        if self.controllers.cloud is not None and self.controllers.cloud.mode == "auto-mode":
            crds = self.api.registry.find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            definitions, objects = auto_mode_objects()
            for crd in definitions:
                self.api.create(crds, None, crd)
                self.controllers.establish_crd(crd["metadata"]["name"])  # at once: its objects follow
            for where, obj in objects:
                group_version, plural = where.split(" ")
                group, version = group_version.split("/")
                self.api.create(self.api.registry.find(group, version, plural), None, obj)

    def _seed_storage(self):
        """EKS creates the in-tree gp2 class, no longer marked default from 1.30 on, and no CSI driver; with the
        EBS CSI driver add-on (storage ebs-csi) the driver runs and a gp3 class of it is the default one."""
        classes = self.api.registry.find("storage.k8s.io", "v1", "storageclasses")
        self.api.create(classes, None, {"metadata": {"name": "gp2"}, "provisioner": "kubernetes.io/aws-ebs",
                                        "parameters": {"fsType": "ext4", "type": "gp2"},
                                        "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"})
        if self.storage == "ebs-csi":
            drivers = self.api.registry.find("storage.k8s.io", "v1", "csidrivers")
            self.api.create(drivers, None, {"metadata": {"name": EBS_CSI, "labels": {
                "app.kubernetes.io/name": "aws-ebs-csi-driver"}}, "spec": {
                "attachRequired": True, "podInfoOnMount": False, "fsGroupPolicy": "ReadWriteOnceWithFSType",
                "volumeLifecycleModes": ["Persistent"]}})
            self.api.create(classes, None, {"metadata": {"name": "gp3", "annotations": {DEFAULT_CLASS: "true"}},
                                            "provisioner": EBS_CSI, "parameters": {"type": "gp3"},
                                            "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer",
                                            "allowVolumeExpansion": True})

    def snapshot(self):
        """Every object, by kind/namespace/name, without run-time churn."""
        out = {}
        for kind, obj in self.api.all_objects():
            if kind.kind == "Event":
                continue  # a record of what happened, not a thing a playbook made (a cluster expires them in 1h)
            meta = obj["metadata"]
            key = "%s/%s/%s" % (kind.api_version + "." + kind.kind, meta.get("namespace") or "", meta["name"])
            out[key] = {"uid": meta["uid"], "labels": meta.get("labels") or {}}
        return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="sandbox-cluster")
    parser.add_argument("--address", default="127.0.0.1", help="the loopback address to serve on")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--faults", default="{}", help="initial fault knobs as JSON")
    parser.add_argument("--pod-start", type=float, default=0.3)
    parser.add_argument("--load-balancer-delay", type=float, default=1.0)
    parser.add_argument("--aws", help="file with what sandbox/eks.py seeded in moto")
    parser.add_argument("--lb-mode", default="in-tree", help="in-tree, aws-lb-controller or auto-mode")
    parser.add_argument("--k8s-version", default="1.32", help="the Kubernetes minor release, e.g. 1.33")
    parser.add_argument("--storage", default="ebs-csi", help="ebs-csi or none")
    parser.add_argument("--tls-dir", help="serve HTTPS with server.crt/server.key from here and require tokens")
    args = parser.parse_args(argv)
    aws = None
    if args.aws:
        with open(args.aws) as handle:
            aws = json.load(handle)
    auth = None
    if args.tls_dir:
        with open(os.path.join(args.tls_dir, "tokens")) as handle:
            static = [line.strip() for line in handle if line.strip()]
        auth = Authenticator(aws["cluster"] if aws else "demo", os.environ.get("SANDBOX_AWS_ACCESS_KEY", ""),
                             os.environ.get("SANDBOX_AWS_SECRET_KEY", ""), static, aws["endpoint"] if aws else None)
    sandbox = Sandbox(args.state_dir, Settings(pod_start=args.pod_start, load_balancer=args.load_balancer_delay),
                      json.loads(args.faults), aws, args.lb_mode, args.k8s_version, args.storage, auth)
    server = ApiHTTPServer((args.address, args.port), sandbox, args.tls_dir)
    # written whole, then renamed into place: whoever sees the file reads the port, never an empty file
    port_file = os.path.join(args.state_dir, "apiserver.port")
    with open(port_file + ".tmp", "w") as handle:
        handle.write(str(server.server_address[1]))
    os.replace(port_file + ".tmp", port_file)

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
