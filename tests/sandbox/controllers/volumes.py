"""The external volume provisioner (a CSI driver's): claims bound to new volumes, volumes reclaimed."""

from .common import ControllerBase, short_hash


class VolumeProvisioner(ControllerBase):
    def on_claim(self, etype, obj):
        meta = obj["metadata"]
        if etype == "ADDED":
            self.later(self.settings.pod_start, self.provision_claim, meta["namespace"], meta["name"])
        elif etype == "DELETED" and (obj.get("spec") or {}).get("volumeName"):
            # reclaimPolicy Delete: the provisioner deletes the volume once its claim is gone
            volumes = self.kind("", "v1", "persistentvolumes")
            volume = self.api.find(volumes, None, obj["spec"]["volumeName"])
            if volume is not None and volume["spec"].get("persistentVolumeReclaimPolicy") == "Delete":
                self.api.delete(volumes, None, obj["spec"]["volumeName"])

    def provision_claim(self, namespace, name):
        """The external provisioner: a claim of a class whose CSI driver runs is bound to a new volume; one
        without a class (and no default class) or of a class whose driver does not run stays Pending, as it
        does on EKS without the EBS CSI driver add-on (REAL_EKS.md)."""
        claims = self.kind("", "v1", "persistentvolumeclaims")
        volumes = self.kind("", "v1", "persistentvolumes")
        classes = self.kind("storage.k8s.io", "v1", "storageclasses")
        claim = self.api.find(claims, namespace, name)
        if claim is None or (claim.get("status") or {}).get("phase") == "Bound":
            return
        class_name = (claim.get("spec") or {}).get("storageClassName")
        storage_class = self.api.find(classes, None, class_name) if class_name else None
        if storage_class is None or storage_class.get("provisioner") not in self.csi_drivers:
            if (claim.get("status") or {}).get("phase") != "Pending":
                self.api.replace(claims, namespace, name, dict(claim, status={"phase": "Pending"}),
                                 subresource="status")
            return
        volume_name = "pvc-" + claim["metadata"]["uid"]
        request = (((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        if self.api.find(volumes, None, volume_name) is None:
            self.api.create(volumes, None, {
                "apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": volume_name,
                             "annotations": {"pv.kubernetes.io/provisioned-by": storage_class["provisioner"]}},
                "spec": {"capacity": {"storage": request}, "accessModes": claim["spec"].get("accessModes") or [],
                         "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy", "Delete"),
                         "storageClassName": class_name,
                         "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": namespace,
                                      "name": name, "uid": claim["metadata"]["uid"]},
                         "csi": {"driver": storage_class["provisioner"], "volumeHandle": "vol-" + short_hash(
                             claim["metadata"]["uid"], 17)}}})
        claim = self.api.get(claims, namespace, name)
        claim["spec"]["volumeName"] = volume_name
        self.api.replace(claims, namespace, name, claim)
        claim = self.api.get(claims, namespace, name)
        self.api.replace(claims, namespace, name, dict(claim, status={
            "phase": "Bound", "accessModes": claim["spec"].get("accessModes") or [],
            "capacity": {"storage": request}}), subresource="status")
        for pod in self.api.list(self.kind("", "v1", "pods"), namespace)[0]:
            if (pod.get("status") or {}).get("phase") in (None, "Pending"):
                self.later(0, self.start_pod, namespace, pod["metadata"]["name"])

    def _unbound_claims(self, namespace, spec):
        claims = self.kind("", "v1", "persistentvolumeclaims")
        unbound = []
        for volume in spec.get("volumes") or []:
            claim_name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim_name:
                claim = self.api.find(claims, namespace, claim_name)
                if claim is None or (claim.get("status") or {}).get("phase") != "Bound":
                    unbound.append(claim_name)
        return unbound
