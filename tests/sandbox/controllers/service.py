"""The service controller: a LoadBalancer Service gets its load balancer (through sandbox/cloud.py when the sandbox
runs with AWS, else a made-up ELB name)."""

import hashlib

from .common import ControllerBase


class ServiceController(ControllerBase):
    def on_service(self, etype, obj):
        meta = obj["metadata"]
        if etype == "DELETED":
            self._delete_endpoints(meta["namespace"], meta["name"])
            if self.dataplane is not None:
                self.dataplane.remove_load_balancer(meta["namespace"], meta["name"])
            return
        # each controller on its own, as in kube-controller-manager: the endpoints controller failing (no new
        # content in a Terminating namespace) does not keep the service controller from the Service
        if not meta.get("deletionTimestamp"):
            self._safe(self.reconcile_endpoints, meta["namespace"], meta["name"])
        if self.cloud is not None:
            if obj.get("spec", {}).get("type") == "LoadBalancer" or meta.get("finalizers"):
                first = not (obj.get("status") or {}).get("loadBalancer", {}).get("ingress")
                self.later(self.settings.load_balancer if first else 0, self.cloud_reconcile,
                           meta["namespace"], meta["name"])
        elif obj.get("spec", {}).get("type") == "LoadBalancer":
            if not (obj.get("status") or {}).get("loadBalancer", {}).get("ingress"):
                self.later(self.settings.load_balancer, self.provision_load_balancer, meta["namespace"], meta["name"])
            elif self.dataplane is not None:
                self.dataplane.ensure_load_balancer(obj)

    def on_target_group_binding(self, etype, obj):
        if etype != "DELETED" and self.cloud is not None:
            self.cloud.release_binding(self.kind("elbv2.k8s.aws", "v1beta1", "targetgroupbindings"),
                                       obj["metadata"]["namespace"], obj["metadata"]["name"])

    def cloud_reconcile(self, namespace, name):
        services = self.kind("", "v1", "services")
        refused = self.cloud.reconcile(services, namespace, name, self.dataplane)
        svc = self.api.find(services, namespace, name)
        if not refused or svc is None or self.refusals.get(svc["metadata"]["uid"]) == refused:
            return
        # the Warning `kubectl describe service` shows: the service controller's SyncLoadBalancerFailed
        # (k8s.io/cloud-provider controllers/service/controller.go), the AWS Load Balancer Controller's
        # FailedBuildModel (its service reconciler, recorder "service"); once per cause, as the recorder aggregates
        self.refusals[svc["metadata"]["uid"]] = refused
        controller, why = refused
        if controller == "in-tree":
            self.record(svc, "SyncLoadBalancerFailed", "Error syncing load balancer: failed to ensure load balancer: "
                        + why, "service-controller", "Warning")
        else:
            self.record(svc, "FailedBuildModel", "Failed build model due to " + why, "service", "Warning")

    def refresh_load_balancers(self):
        """Look at every Service again (after a fault knob changed what the controllers would do)."""
        if self.cloud is None:
            return
        services, dummy = self.api.list(self.kind("", "v1", "services"))
        for svc in services:
            if (svc.get("spec") or {}).get("type") == "LoadBalancer" or svc["metadata"].get("finalizers"):
                self.later(0, self.cloud_reconcile, svc["metadata"]["namespace"], svc["metadata"]["name"])

    def provision_load_balancer(self, namespace, name):
        services = self.kind("", "v1", "services")
        svc = self.api.find(services, namespace, name)
        if svc is None or svc["spec"].get("type") != "LoadBalancer":
            return
        digest = hashlib.sha256(svc["metadata"]["uid"].encode()).hexdigest()
        hostname = "%s-%d.us-east-1.elb.amazonaws.com" % (digest[:32], int(digest[32:40], 16) % 10 ** 10)
        status = {"loadBalancer": {"ingress": [{"hostname": hostname}]}}
        self.api.replace(services, namespace, name, dict(svc, status=status), subresource="status")
