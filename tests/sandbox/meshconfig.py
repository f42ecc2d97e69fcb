"""Where the control plane runs and which namespace is Istio's root, as istiod's own objects say.

istiod's namespace is wherever `istioctl install` put it (values.global.istioNamespace; istio-system unless
told). The root namespace - where mesh-wide PeerAuthentications and DestinationRules live - is meshConfig's
rootNamespace, which the istiod chart renders as the install's namespace unless meshConfig.rootNamespace says
otherwise (manifest generate's pilot_default golden: an install into istio-control has
`rootNamespace: istio-control`; istio.io/latest/docs/reference/config/istio.mesh.v1alpha1/ "rootNamespace").
"""

import yaml

DEFAULT = "istio-system"


def control_plane_namespace(api):
    """The namespace of the istiod Deployments (any revision), or istio-system when there is none yet."""
    deployments = api.registry.find("apps", "v1", "deployments")
    if deployments is None:
        return DEFAULT
    found = api.list(deployments, None, label_selector="app=istiod")[0]
    return found[0]["metadata"]["namespace"] if found else DEFAULT


def root_namespace(api):
    """meshConfig.rootNamespace of the mesh config (ConfigMap istio in istiod's namespace), else that namespace."""
    namespace = control_plane_namespace(api)
    configmaps = api.registry.find("", "v1", "configmaps")
    config = api.find(configmaps, namespace, "istio") if configmaps is not None else None
    try:
        mesh = yaml.safe_load(((config or {}).get("data") or {}).get("mesh") or "") or {}
    except yaml.YAMLError:
        mesh = {}
    return (mesh.get("rootNamespace") if isinstance(mesh, dict) else None) or namespace
