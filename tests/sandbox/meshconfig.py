"""Where the control plane runs and which namespace is Istio's root, as istiod's own objects say.

istiod's namespace is wherever `istioctl install` put it (values.global.istioNamespace; istio-system unless
told). The root namespace - where mesh-wide PeerAuthentications and DestinationRules live - is meshConfig's
rootNamespace, which the istiod chart renders as the install's namespace unless meshConfig.rootNamespace says
otherwise (manifest generate's pilot_default golden: an install into istio-control has
`rootNamespace: istio-control`; istio.io/latest/docs/reference/config/istio.mesh.v1alpha1/ "rootNamespace").
"""

from . import yamlio as yaml

DEFAULT = "istio-system"


def _as_of_now(api, key, compute):
    """``compute()``, kept until the next write: the data plane asks on every request, and the answer can only
    change when an object does (each write moves the API's resourceVersion)."""
    version = api.rv  # an int read without the lock: a stale value only means one more compute
    cache = api.__dict__.setdefault("_meshconfig", {})
    kept = cache.get(key)
    if kept is not None and kept[0] == version:
        return kept[1]
    value = compute()
    cache[key] = (version, value)
    return value


def control_plane_namespace(api):
    """The namespace of the istiod Deployments (any revision), or istio-system when there is none yet."""
    return _as_of_now(api, "control_plane_namespace", lambda: _control_plane_namespace(api))


def root_namespace(api):
    """meshConfig.rootNamespace of the mesh config (ConfigMap istio in istiod's namespace), else that namespace."""
    return _as_of_now(api, "root_namespace", lambda: _root_namespace(api))


def _control_plane_namespace(api):
    deployments = api.registry.find("apps", "v1", "deployments")
    if deployments is None:
        return DEFAULT
    found = api.list(deployments, None, label_selector="app=istiod")[0]
    return found[0]["metadata"]["namespace"] if found else DEFAULT


def _root_namespace(api):
    namespace = _control_plane_namespace(api)
    configmaps = api.registry.find("", "v1", "configmaps")
    config = api.find(configmaps, namespace, "istio") if configmaps is not None else None
    try:
        mesh = yaml.safe_load(((config or {}).get("data") or {}).get("mesh") or "") or {}
    except yaml.YAMLError:
        mesh = {}
    return (mesh.get("rootNamespace") if isinstance(mesh, dict) else None) or namespace
