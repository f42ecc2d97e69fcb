"""The kinds the emulated API server serves, built in and from CRDs."""

import threading


class Kind(object):
    def __init__(self, group, version, kind, plural, namespaced=True, short_names=(), singular=None,
                 subresources=(), verbs=None, categories=()):
        self.group = group
        self.version = version
        self.kind = kind
        self.plural = plural
        self.namespaced = namespaced
        self.short_names = list(short_names)
        self.singular = singular or kind.lower()
        self.subresources = set(subresources)
        self.verbs = verbs or ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        self.categories = list(categories)
        self.schema = None  # openAPIV3Schema for CRD kinds

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def storage_key(self):
        """Objects are stored once per group/resource whatever the version."""
        return (self.group, self.plural)

    def resource_entry(self):
        entry = {
            "name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
            "kind": self.kind, "verbs": self.verbs,
        }
        if self.short_names:
            entry["shortNames"] = self.short_names
        if self.categories:
            entry["categories"] = self.categories
        return entry

    def subresource_entries(self):
        out = []
        for sub in sorted(self.subresources):
            verbs = ["get", "patch", "update"]
            kind = self.kind
            if sub == "proxy":
                verbs = ["create", "delete", "get", "patch", "update"]
                kind = "ServiceProxyOptions" if self.kind == "Service" else "PodProxyOptions"
            elif sub == "scale":
                kind = "Scale"
                group_kind = {"group": "autoscaling", "version": "v1"}
                out.append(dict({"name": "%s/%s" % (self.plural, sub), "singularName": "",
                                 "namespaced": self.namespaced, "kind": kind, "verbs": verbs}, **group_kind))
                continue
            elif sub in ("log", "exec", "portforward", "eviction", "binding"):
                verbs = ["get"] if sub == "log" else ["create", "get"]
                kind = {"log": "Pod", "exec": "PodExecOptions", "portforward": "PodPortForwardOptions",
                        "eviction": "Eviction", "binding": "Binding"}[sub]
            out.append({"name": "%s/%s" % (self.plural, sub), "singularName": "", "namespaced": self.namespaced,
                        "kind": kind, "verbs": verbs})
        return out


def _builtin():
    k = Kind
    return [
        k("", "v1", "Namespace", "namespaces", namespaced=False, short_names=["ns"], subresources=["status", "finalize"]),
        k("", "v1", "Pod", "pods", short_names=["po"],
          subresources=["status", "log", "exec", "portforward", "proxy", "eviction", "binding"], categories=["all"]),
        k("", "v1", "Service", "services", short_names=["svc"], subresources=["status", "proxy"], categories=["all"]),
        k("", "v1", "Endpoints", "endpoints", short_names=["ep"]),
        k("", "v1", "ConfigMap", "configmaps", short_names=["cm"]),
        k("", "v1", "Secret", "secrets"),
        k("", "v1", "ServiceAccount", "serviceaccounts", short_names=["sa"]),
        k("", "v1", "Event", "events", short_names=["ev"]),
        k("", "v1", "Node", "nodes", namespaced=False, short_names=["no"], subresources=["status"]),
        k("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short_names=["pvc"], subresources=["status"]),
        k("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False, short_names=["pv"],
          subresources=["status"]),
        k("storage.k8s.io", "v1", "StorageClass", "storageclasses", namespaced=False, short_names=["sc"]),
        k("storage.k8s.io", "v1", "CSIDriver", "csidrivers", namespaced=False),
        k("", "v1", "ResourceQuota", "resourcequotas", short_names=["quota"], subresources=["status"]),
        k("", "v1", "LimitRange", "limitranges", short_names=["limits"]),
        k("apps", "v1", "Deployment", "deployments", short_names=["deploy"], subresources=["status", "scale"],
          categories=["all"]),
        k("apps", "v1", "ReplicaSet", "replicasets", short_names=["rs"], subresources=["status", "scale"],
          categories=["all"]),
        k("apps", "v1", "StatefulSet", "statefulsets", short_names=["sts"], subresources=["status", "scale"],
          categories=["all"]),
        k("apps", "v1", "DaemonSet", "daemonsets", short_names=["ds"], subresources=["status"], categories=["all"]),
        k("apps", "v1", "ControllerRevision", "controllerrevisions"),
        k("batch", "v1", "Job", "jobs", subresources=["status"], categories=["all"]),
        k("batch", "v1", "CronJob", "cronjobs", short_names=["cj"], subresources=["status"], categories=["all"]),
        k("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
        k("rbac.authorization.k8s.io", "v1", "Role", "roles"),
        k("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
        k("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
        k("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
        k("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
          "mutatingwebhookconfigurations", namespaced=False),
        k("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
          "validatingwebhookconfigurations", namespaced=False),
        # GA since Kubernetes 1.30 (served by EKS 1.32); the Gateway API's CRD bundles ship one. Stored, not
        # enforced: the sandbox evaluates no CEL
        k("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies",
          namespaced=False, subresources=["status"]),
        k("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding",
          "validatingadmissionpolicybindings", namespaced=False),
        k("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
          namespaced=False, short_names=["crd", "crds"], subresources=["status"]),
        k("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short_names=["pdb"], subresources=["status"]),
        k("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short_names=["hpa"],
          subresources=["status"], categories=["all"]),
        k("networking.k8s.io", "v1", "Ingress", "ingresses", short_names=["ing"], subresources=["status"]),
        k("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short_names=["netpol"]),
        k("coordination.k8s.io", "v1", "Lease", "leases"),
        # review kinds: answered on create, never stored (sandbox/reviews.py)
        k("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", namespaced=False,
          verbs=["create"]),
        k("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", namespaced=False,
          verbs=["create"]),
        k("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", namespaced=False,
          verbs=["create"]),
        k("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", verbs=["create"]),
    ]


class Registry(object):
    """Group/version/kind lookup; CRDs add and remove kinds at run time."""

    def __init__(self):
        self.lock = threading.RLock()
        self.kinds = []
        for kind in _builtin():
            self.add(kind)
        self.builtin_groups = set(k.group for k in self.kinds)

    def add(self, kind):
        with self.lock:
            self.kinds = [k for k in self.kinds if not (k.group == kind.group and k.version == kind.version
                                                        and k.plural == kind.plural)]
            self.kinds.append(kind)

    def remove_group_resource(self, group, plural):
        with self.lock:
            self.kinds = [k for k in self.kinds if not (k.group == group and k.plural == plural)]

    def find(self, group, version, plural):
        with self.lock:
            for kind in self.kinds:
                if kind.group == group and kind.version == version and kind.plural == plural:
                    return kind
        return None

    def by_kind(self, api_version, kind_name):
        group, dummy, version = api_version.rpartition("/")
        with self.lock:
            for kind in self.kinds:
                if kind.group == group and kind.version == version and kind.kind == kind_name:
                    return kind
        return None

    def groups(self):
        """{group: [versions]} in discovery order, core group excluded: the built-in groups first, then the groups
        CRDs serve. The aggregator orders APIServices by groupPriorityMinimum, highest first, then by the
        APIService's name VERSION.GROUP (the APIService API: "The secondary sort is based on the alphabetical
        comparison of the name of the object"); every CRD group has 1000 (apiextensions-apiserver's
        crdregistration), below every built-in group. So kubectl, which takes the first group serving a resource
        name, reads `gateway` as gateway.networking.k8s.io before networking.istio.io."""
        out = {}
        with self.lock:
            for kind in self.kinds:
                if kind.group:
                    versions = out.setdefault(kind.group, [])
                    if kind.version not in versions:
                        versions.append(kind.version)
        builtin = [g for g in out if g in self.builtin_groups]
        added = sorted((g for g in out if g not in self.builtin_groups),
                       key=lambda g: min("%s.%s" % (v, g) for v in out[g]))
        return dict((g, out[g]) for g in builtin + added)

    def in_version(self, group, version):
        with self.lock:
            return [k for k in self.kinds if k.group == group and k.version == version]

    def crd_kinds(self, crd):
        """The Kind objects a CRD object defines (served versions only)."""
        spec = crd.get("spec", {})
        names = spec.get("names", {})
        out = []
        for version in spec.get("versions", []):
            if not version.get("served", True):
                continue
            subresources = list((version.get("subresources") or {}).keys())
            kind = Kind(spec.get("group"), version.get("name"), names.get("kind"), names.get("plural"),
                        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                        short_names=names.get("shortNames") or [], singular=names.get("singular"),
                        subresources=subresources, categories=names.get("categories") or [])
            kind.schema = (version.get("schema") or {}).get("openAPIV3Schema")
            kind.storage = bool(version.get("storage"))
            out.append(kind)
        return out
