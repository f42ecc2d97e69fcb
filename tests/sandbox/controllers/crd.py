"""The CRD controller: a new CustomResourceDefinition's names accepted, the kind served, Established."""

from ..api import now
from .common import ControllerBase


class CrdController(ControllerBase):
    def on_crd(self, etype, obj):
        if etype == "DELETED":
            return
        conditions = (obj.get("status") or {}).get("conditions") or []
        if not any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            self.later(self.settings.crd_established, self.establish_crd, obj["metadata"]["name"])

    def establish_crd(self, name):
        crds = self.kind("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        crd = self.api.find(crds, None, name)
        if crd is None:
            return
        for new_kind in self.api.registry.crd_kinds(crd):
            self.api.registry.add(new_kind)
        stamp = now()
        names = dict(crd["spec"].get("names") or {})
        names.setdefault("singular", names.get("kind", "").lower())
        names.setdefault("listKind", names.get("kind", "") + "List")
        status = {"conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found",
             "lastTransitionTime": stamp},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": stamp}],
            "acceptedNames": names,
            "storedVersions": [v["name"] for v in crd["spec"].get("versions") or [] if v.get("storage")]}
        self.api.replace(crds, None, name, dict(crd, status=status), subresource="status")
