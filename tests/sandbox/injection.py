"""Istio's sidecar-injection webhook, emulated as an admission hook.

Active once istiod's MutatingWebhookConfiguration exists; gives pods the
shape Istio's injector gives them (../shared/upstream/istio/1.30.3/inject/
holds the real webhook's output; tests/fidelity holds this one against it):
a classic sidecar, or a native one - an init container with restartPolicy
Always - when the cluster runs Kubernetes 1.33 or newer."""

import json

from . import yamlio as yaml

from .api import ApiError
from .selection import label_matches, selector_from_match

# an injector's own configuration, and a revision tag's (istioctl tag set: istio-revision-tag-TAG)
WEBHOOK_PREFIXES = ("istio-sidecar-injector", "istio-revision-tag-")
INJECTOR_CONFIGMAP = "istio-sidecar-injector"
EXCLUDED_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "local-path-storage")


def matching_injector(api, pod, namespace_obj):
    """What the API server does before calling a webhook: the first webhook of an injector's
    MutatingWebhookConfiguration whose namespaceSelector matches the pod's namespace labels and whose
    objectSelector matches the pod's labels (the real configurations carry four such webhooks, rev.namespace,
    rev.object, namespace and object; a revision tag's carry the rev.* pair for istio.io/rev=TAG). Configurations
    are taken in name order, as the API server calls them; once one injected, the next sees the proxy and leaves
    the pod. Returns (revision, webhook) or None."""
    webhooks = api.registry.find("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations")
    items, dummy = api.list(webhooks)
    ns_labels = (namespace_obj or {}).get("metadata", {}).get("labels") or {}
    pod_labels = pod["metadata"].get("labels") or {}
    for config in sorted(items, key=lambda c: c["metadata"]["name"]):
        if not config["metadata"]["name"].startswith(WEBHOOK_PREFIXES):
            continue
        for hook in config.get("webhooks") or []:
            if not hook.get("name", "").endswith("sidecar-injector.istio.io"):
                continue
            if label_matches(selector_from_match(hook.get("namespaceSelector")), ns_labels) and \
                    label_matches(selector_from_match(hook.get("objectSelector")), pod_labels):
                revision = (config["metadata"].get("labels") or {}).get("istio.io/rev", "default")
                return revision, hook
    return None


def call_webhook(api, hook):
    """What the API server meets calling the webhook's Service: the namespace the Service is in (the injector's
    values live there), or, with no Service or no ready endpoint behind it, the error a failurePolicy Fail webhook
    rejects the pod with (k8s.io/apiserver/pkg/admission/plugin/webhook: 'failed calling webhook', code 500)."""
    service = (hook.get("clientConfig") or {}).get("service") or {}
    namespace, name = service.get("namespace") or "istio-system", service.get("name") or "istiod"
    svc = api.find(api.registry.find("", "v1", "services"), namespace, name)
    if svc is None:
        problem = 'service "%s" not found' % name
    else:
        pods, dummy = api.list(api.registry.find("", "v1", "pods"), namespace)
        selector = (svc.get("spec") or {}).get("selector") or {}
        ready = [p for p in pods if selector and all((p["metadata"].get("labels") or {}).get(k) == v
                                                     for k, v in selector.items())
                 and any(c.get("type") == "Ready" and c.get("status") == "True"
                         for c in (p.get("status") or {}).get("conditions") or [])]
        problem = None if ready else 'no endpoints available for service "%s"' % name
    if problem is None:
        return namespace
    if hook.get("failurePolicy", "Fail") == "Ignore":
        return None
    raise ApiError(500, "InternalError", 'Internal error occurred: failed calling webhook "%s": failed to call '
                   'webhook: Post "https://%s.%s.svc:443%s?timeout=%ds": %s' % (
                       hook.get("name"), name, namespace, service.get("path") or "/inject",
                       hook.get("timeoutSeconds") or 10, problem))


def injector_values(api, revision, namespace):
    """The values of the revision's injector (data.values of its istio-sidecar-injector ConfigMap)."""
    configmaps = api.registry.find("", "v1", "configmaps")
    name = INJECTOR_CONFIGMAP if revision == "default" else "%s-%s" % (INJECTOR_CONFIGMAP, revision)
    cm = api.find(configmaps, namespace, name)
    try:
        values = json.loads(((cm or {}).get("data") or {}).get("values") or "{}")
    except ValueError:
        values = {}
    values["revision"] = values.get("revision") or revision
    return values


def injector_accepts(pod):
    """What the injector itself refuses after the webhook matched: the pod's sidecar.istio.io/inject annotation
    set to false, host networking, and the namespaces it always ignores (pkg/kube/inject/webhook.go)."""
    meta = pod["metadata"]
    if meta.get("namespace") in EXCLUDED_NAMESPACES:
        return False
    flag = (meta.get("annotations") or {}).get("sidecar.istio.io/inject") or \
        (meta.get("labels") or {}).get("sidecar.istio.io/inject")
    if str(flag).lower() == "false":
        return False
    return not (pod.get("spec") or {}).get("hostNetwork")


def _workload(pod):
    meta = pod["metadata"]
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == "ReplicaSet":
            name = ref["name"]
            template_hash = (meta.get("labels") or {}).get("pod-template-hash")
            if template_hash and name.endswith("-" + template_hash):
                return name[:-len(template_hash) - 1], "apps/v1", "deployments"
            return name, "apps/v1", "replicasets"
        return ref["name"], ref.get("apiVersion", "v1"), ref.get("kind", "").lower() + "s"
    return meta.get("name") or meta.get("generateName", "pod").rstrip("-"), "v1", "pods"


def _canonical(labels, workload):
    """Canonical service name and revision: the first label present, in the order Istio reads them
    (pkg/kube/inject: canonical-name, app.kubernetes.io/name, app; canonical-revision, app.kubernetes.io/version,
    version)."""
    name = next((labels[k] for k in ("service.istio.io/canonical-name", "app.kubernetes.io/name", "app")
                 if labels.get(k)), workload)
    revision = next((labels[k] for k in ("service.istio.io/canonical-revision", "app.kubernetes.io/version",
                                         "version") if labels.get(k)), "latest")
    return name, revision


def native_sidecars(pod, values, k8s_minor):
    """Native sidecars as injection-template.yaml decides them: the pod's sidecar.istio.io/nativeSidecar
    annotation, else ENABLE_NATIVE_SIDECARS, whose default ``auto`` means Kubernetes 1.33 or newer
    (pkg/kube/inject/webhook.go, DetectNativeSidecar, minVersion 33; ../shared/upstream/README.md)."""
    annotation = ((pod["metadata"].get("annotations") or {}).get("sidecar.istio.io/nativeSidecar") or "").lower()
    if annotation in ("true", "false"):
        return annotation == "true"
    setting = str(((values.get("pilot") or {}).get("env") or {}).get("ENABLE_NATIVE_SIDECARS", "auto")).lower()
    if setting in ("true", "false"):
        return setting == "true"
    return k8s_minor >= 33


def hold_application(pod, values):
    """holdApplicationUntilProxyStarts as the injector merges it (pkg/kube/inject/webhook.go reorderPod, 1.30.3):
    the pod's proxy.istio.io/config annotation (ProxyConfig, YAML or JSON), else the injector's
    global.proxy.holdApplicationUntilProxyStarts."""
    text = (pod["metadata"].get("annotations") or {}).get("proxy.istio.io/config")
    if text:
        try:
            config = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            config = {}
        if isinstance(config, dict) and "holdApplicationUntilProxyStarts" in config:
            return bool(config["holdApplicationUntilProxyStarts"])
    return bool(((values.get("global") or {}).get("proxy") or {}).get("holdApplicationUntilProxyStarts"))


def _field(path):
    return {"fieldRef": {"fieldPath": path}}


def _limit(resource):
    return {"resourceFieldRef": {"divisor": "1", "resource": resource}}


VOLUMES = ("workload-socket", "credential-socket", "workload-certs", "istio-envoy", "istio-data", "istio-podinfo",
           "istio-token", "istiod-ca-cert", "istio-ca-crl")


def inject(pod, values, k8s_minor=32):
    """Mutate ``pod`` as istiod's injector does with its default template (injection-template.yaml at 1.30:
    the ``istio-init`` container, or ``istio-validation`` with Istio CNI; the proxy as an init container with
    restartPolicy Always when native sidecars are on, else appended after the application's containers)."""
    spec = pod.setdefault("spec", {})
    meta = pod["metadata"]
    containers = spec.setdefault("containers", [])
    if any(c.get("name") == "istio-proxy" for c in containers + (spec.get("initContainers") or [])):
        return
    glob = values.get("global") or {}
    version = str(glob.get("tag") or "1.30.3")
    hub = glob.get("hub") or "docker.io/istio"
    image = "%s/proxyv2:%s" % (hub, version)
    revision = values.get("revision") or "default"
    cni = bool(((values.get("pilot") or {}).get("cni") or {}).get("enabled"))
    native = native_sidecars(pod, values, k8s_minor)
    labels = meta.setdefault("labels", {})
    workload, owner_api, owner_plural = _workload(pod)
    canonical_name, canonical_revision = _canonical(labels, workload)
    labels["security.istio.io/tlsMode"] = "istio"
    labels["service.istio.io/canonical-name"] = canonical_name
    labels["service.istio.io/canonical-revision"] = canonical_revision
    if glob.get("network"):
        labels["topology.istio.io/network"] = glob["network"]
    app_containers = [c.get("name") for c in containers]
    namespace = meta.get("namespace", "default")
    init_name = "istio-validation" if cni else "istio-init"
    iptables_args = ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*",
                     "-x", "", "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info"]
    if cni:
        iptables_args += ["--run-validation", "--skip-rule-apply"]
    resources = {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "128Mi"}}
    proxy_security = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "privileged": False,
                      "readOnlyRootFilesystem": True, "runAsGroup": 1337, "runAsNonRoot": True, "runAsUser": 1337}
    init = {"name": init_name, "image": image, "args": iptables_args, "resources": resources,
            "securityContext": proxy_security if cni else {
                "allowPrivilegeEscalation": False, "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
                "privileged": False, "readOnlyRootFilesystem": False, "runAsGroup": 0, "runAsNonRoot": False,
                "runAsUser": 0}}
    ports = [p for c in containers for p in c.get("ports") or []]
    env = [
        {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
        # the template's CA_ADDR: global.caAddress, else istiod[-REV].<global.istioNamespace>.svc:15012
        {"name": "CA_ADDR", "value": glob.get("caAddress") or "istiod%s.%s.svc:15012" % (
            "" if revision == "default" else "-" + revision, glob.get("istioNamespace") or "istio-system")},
        {"name": "POD_NAME", "valueFrom": _field("metadata.name")},
        {"name": "POD_NAMESPACE", "valueFrom": _field("metadata.namespace")},
        {"name": "INSTANCE_IP", "valueFrom": _field("status.podIP")},
        {"name": "SERVICE_ACCOUNT", "valueFrom": _field("spec.serviceAccountName")},
        {"name": "HOST_IP", "valueFrom": _field("status.hostIP")},
        {"name": "ISTIO_CPU_LIMIT", "valueFrom": _limit("limits.cpu")},
        {"name": "PROXY_CONFIG", "value": "{}\n"},
        {"name": "ISTIO_META_POD_PORTS", "value": "[\n" + ",\n".join(
            "    " + json.dumps(p, separators=(",", ":")) for p in ports) + "\n]"},
        {"name": "ISTIO_META_APP_CONTAINERS", "value": ",".join(app_containers)},
        {"name": "GOMEMLIMIT", "valueFrom": _limit("limits.memory")},
        {"name": "GOMAXPROCS", "valueFrom": _limit("limits.cpu")},
        {"name": "ISTIO_META_CLUSTER_ID", "value": "Kubernetes"},
        {"name": "ISTIO_META_NODE_NAME", "valueFrom": _field("spec.nodeName")},
        {"name": "ISTIO_META_INTERCEPTION_MODE", "value": "REDIRECT"},
        {"name": "ISTIO_META_WORKLOAD_NAME", "value": workload},
        {"name": "ISTIO_META_OWNER", "value": "kubernetes://apis/%s/namespaces/%s/%s/%s" % (
            owner_api, namespace, owner_plural, workload)},
        {"name": "ISTIO_META_MESH_ID", "value": "cluster.local"},
        {"name": "TRUST_DOMAIN", "value": "cluster.local"},
    ]
    ready = {"httpGet": {"path": "/healthz/ready", "port": 15021}}
    proxy = {"name": "istio-proxy", "image": image,
             "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
                      "--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error",
                      "--log_output_level=default:info"],
             "env": env,
             "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
             "readinessProbe": dict(ready, failureThreshold=4, periodSeconds=15, timeoutSeconds=3),
             "startupProbe": dict(ready, failureThreshold=600, periodSeconds=1, timeoutSeconds=3),
             "resources": resources, "securityContext": proxy_security,
             "volumeMounts": [{"mountPath": "/var/run/secrets/workload-spiffe-uds", "name": "workload-socket"},
                              {"mountPath": "/var/run/secrets/credential-uds", "name": "credential-socket"},
                              {"mountPath": "/var/run/secrets/workload-spiffe-credentials", "name": "workload-certs"},
                              {"mountPath": "/var/run/secrets/istio", "name": "istiod-ca-cert"},
                              {"mountPath": "/var/run/secrets/istio/crl", "name": "istio-ca-crl"},
                              {"mountPath": "/var/lib/istio/data", "name": "istio-data"},
                              {"mountPath": "/etc/istio/proxy", "name": "istio-envoy"},
                              {"mountPath": "/var/run/secrets/tokens", "name": "istio-token"},
                              {"mountPath": "/etc/istio/pod", "name": "istio-podinfo"}]}
    inits = spec.setdefault("initContainers", [])
    inits.insert(0, init)
    if native:
        proxy["restartPolicy"] = "Always"
        proxy["lifecycle"] = {"preStop": {"exec": {"command": [
            "pilot-agent", "request", "--debug-port=15020", "POST", "drain"]}}}
        inits.insert(1, proxy)
    elif hold_application(pod, values):
        # a classic sidecar that holds the application: first among the containers, and the kubelet starts the next
        # only once its postStart hook (pilot-agent wait: Envoy is ready) returns (injection-template.yaml $holdProxy;
        # webhook.go reorderPod moves it first)
        proxy["lifecycle"] = {"postStart": {"exec": {"command": ["pilot-agent", "wait"]}}}
        containers.insert(0, proxy)
    else:
        containers.append(proxy)
    spec.setdefault("volumes", []).extend([
        {"name": "workload-socket", "emptyDir": {}},
        {"name": "credential-socket", "emptyDir": {}},
        {"name": "workload-certs", "emptyDir": {}},
        {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
        {"name": "istio-data", "emptyDir": {}},
        {"name": "istio-podinfo", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}}]}},
        {"name": "istio-token", "projected": {"sources": [{"serviceAccountToken": {
            "audience": "istio-ca", "expirationSeconds": 43200, "path": "istio-token"}}]}},
        {"name": "istiod-ca-cert", "configMap": {"name": "istio-ca-root-cert"}},
        {"name": "istio-ca-crl", "configMap": {"name": "istio-ca-crl", "optional": True}},
    ])
    annotations = meta.setdefault("annotations", {})
    annotations["istio.io/rev"] = revision
    annotations["kubectl.kubernetes.io/default-container"] = app_containers[0] if app_containers else "istio-proxy"
    annotations["kubectl.kubernetes.io/default-logs-container"] = annotations[
        "kubectl.kubernetes.io/default-container"]
    annotations["prometheus.io/path"] = "/stats/prometheus"
    annotations["prometheus.io/port"] = "15020"
    annotations["prometheus.io/scrape"] = "true"
    if cni:
        # what the CNI plugin reads back from the pod (injection-template.yaml, istio_cni.enabled)
        annotations["sidecar.istio.io/interceptionMode"] = "REDIRECT"
        annotations["traffic.sidecar.istio.io/excludeInboundPorts"] = "15020"
        annotations["traffic.sidecar.istio.io/includeInboundPorts"] = "*"
        annotations["traffic.sidecar.istio.io/includeOutboundIPRanges"] = "*"
    annotations["sidecar.istio.io/status"] = json.dumps({
        "initContainers": [init_name] + (["istio-proxy"] if native else []),
        "containers": None if native else ["istio-proxy"],
        "volumes": list(VOLUMES), "imagePullSecrets": None, "revision": revision}, separators=(",", ":"))


def admission_hook(api, kind, obj, old, dry_run):
    """Injection runs on Pod CREATE only, as Istio's webhook rules say."""
    if kind.kind != "Pod" or old is not None:
        return
    namespaces = api.registry.find("", "v1", "namespaces")
    ns = api.find(namespaces, None, obj["metadata"].get("namespace"))
    match = matching_injector(api, obj, ns)
    if match is None:
        return
    revision, hook = match
    namespace = call_webhook(api, hook)
    if namespace is None or not injector_accepts(obj):
        return
    inject(obj, injector_values(api, revision, namespace), int(getattr(api, "k8s_version", "1.32.9").split(".")[1]))
