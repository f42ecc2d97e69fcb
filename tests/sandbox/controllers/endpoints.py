"""The endpoints and EndpointSlice controllers: a Service's ready and not-ready pod addresses."""

from ..api import ApiError
from ..selection import label_matches, selector_from_match
from .common import ControllerBase, owner_ref, pod_ready, short_hash, target_port


class EndpointsController(ControllerBase):
    def reconcile_endpoints_in(self, namespace):
        services = self.kind("", "v1", "services")
        items, dummy = self.api.list(services, namespace)
        for svc in items:
            self.reconcile_endpoints(namespace, svc["metadata"]["name"])

    def reconcile_endpoints(self, namespace, name):
        services = self.kind("", "v1", "services")
        pods = self.kind("", "v1", "pods")
        endpoints = self.kind("", "v1", "endpoints")
        slices = self.kind("discovery.k8s.io", "v1", "endpointslices")
        svc = self.api.find(services, namespace, name)
        if svc is None or not (svc.get("spec") or {}).get("selector"):
            return
        reqs = selector_from_match({"matchLabels": svc["spec"]["selector"]})
        items, dummy = self.api.list(pods, namespace)
        members = [p for p in items if label_matches(reqs, p["metadata"].get("labels"))
                   and (p.get("status") or {}).get("podIP") and not p["metadata"].get("deletionTimestamp")]
        ready = [p for p in members if pod_ready(p)]
        not_ready = [p for p in members if not pod_ready(p)]
        ports = [{"name": p.get("name"), "port": target_port(p, members), "protocol": p.get("protocol", "TCP")}
                 for p in svc["spec"].get("ports") or []]
        for port in ports:
            if port["name"] is None:
                del port["name"]

        def address(pod):
            return {"ip": pod["status"]["podIP"], "nodeName": pod["spec"].get("nodeName"),
                    "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod["metadata"]["name"],
                                  "uid": pod["metadata"]["uid"]}}

        subset = {"ports": ports}
        if ready:
            subset["addresses"] = [address(p) for p in ready]
        if not_ready:
            subset["notReadyAddresses"] = [address(p) for p in not_ready]
        body = {"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": name, "namespace": namespace, "labels": dict(svc["metadata"].get("labels") or {})},
                "subsets": [subset] if members else []}
        if not body["subsets"]:
            del body["subsets"]
        self._ensure(endpoints, namespace, name, body, ("subsets", "metadata.labels"))
        slice_body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                      "metadata": {"name": name + "-" + short_hash(name, 5), "namespace": namespace,
                                   "labels": dict(svc["metadata"].get("labels") or {},
                                                  **{"kubernetes.io/service-name": name,
                                                     "endpointslice.kubernetes.io/managed-by":
                                                         "endpointslice-controller.k8s.io"}),
                                   "ownerReferences": [owner_ref(svc)]},
                      "addressType": "IPv4",
                      "endpoints": [{"addresses": [p["status"]["podIP"]],
                                     "conditions": {"ready": pod_ready(p), "serving": pod_ready(p),
                                                    "terminating": False},
                                     "nodeName": p["spec"].get("nodeName"),
                                     "targetRef": {"kind": "Pod", "namespace": namespace,
                                                   "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}}
                                    for p in members],
                      "ports": ports}
        self._ensure(slices, namespace, slice_body["metadata"]["name"], slice_body, ("endpoints", "ports"))

    def _ensure(self, kind, namespace, name, body, fields):
        current = self.api.find(kind, namespace, name)
        if current is None:
            self.api.create(kind, namespace, body)
            return
        differs = False
        for field in fields:
            path = field.split(".")
            a, b = current, body
            for part in path:
                a = (a or {}).get(part)
                b = (b or {}).get(part)
            differs = differs or a != b
        if differs:
            merged = dict(current)
            for key, value in body.items():
                if key != "metadata":
                    merged[key] = value
            if "subsets" not in body:
                merged.pop("subsets", None)
            merged["metadata"] = dict(current["metadata"], labels=body["metadata"].get("labels"))
            self.api.replace(kind, namespace, name, merged)

    def _delete_endpoints(self, namespace, name):
        endpoints = self.kind("", "v1", "endpoints")
        try:
            self.api.delete(endpoints, namespace, name)
        except ApiError:
            pass
