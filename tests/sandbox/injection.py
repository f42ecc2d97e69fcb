"""Istio's sidecar-injection webhook, emulated as an admission hook.

Active once istiod's MutatingWebhookConfiguration exists; gives pods the
shape Istio's injector gives them (classic sidecar up to 1.26, native
sidecar - an init container with restartPolicy Always - from 1.27)."""

import json

WEBHOOK_PREFIX = "istio-sidecar-injector"
INJECTOR_CONFIGMAP = ("istio-system", "istio-sidecar-injector")
EXCLUDED_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "local-path-storage")


def _version_tuple(version):
    parts = []
    for piece in str(version).split("-", maxsplit=1)[0].split(".")[:2]:
        try:
            parts.append(int(piece))
        except ValueError:
            parts.append(0)
    return tuple(parts + [0] * (2 - len(parts)))


def injector_values(api):
    """The injector's values (hub, tag, revision, CNI, native sidecars), or None when no webhook."""
    webhooks = api.registry.find("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations")
    items, dummy = api.list(webhooks)
    hooks = [w for w in items if w["metadata"]["name"].startswith(WEBHOOK_PREFIX)]
    if not hooks:
        return None
    configmaps = api.registry.find("", "v1", "configmaps")
    values = {}
    cm = api.find(configmaps, *INJECTOR_CONFIGMAP)
    if cm is not None:
        try:
            values = json.loads((cm.get("data") or {}).get("values") or "{}")
        except ValueError:
            values = {}
    revisions = set()
    for hook in hooks:
        revisions.add(hook["metadata"].get("labels", {}).get("istio.io/rev", "default"))
    values["_revisions"] = revisions
    return values


def wants_injection(api, pod, namespace_obj, values):
    ns_labels = (namespace_obj or {}).get("metadata", {}).get("labels") or {}
    meta = pod["metadata"]
    if meta.get("namespace") in EXCLUDED_NAMESPACES:
        return False
    if ns_labels.get("istio-injection") == "disabled":
        return False
    pod_flag = (meta.get("labels") or {}).get("sidecar.istio.io/inject") or \
        (meta.get("annotations") or {}).get("sidecar.istio.io/inject")
    if str(pod_flag).lower() == "false":
        return False
    if (pod.get("spec") or {}).get("hostNetwork"):
        return False
    if ns_labels.get("istio-injection") == "enabled":
        return True
    rev = ns_labels.get("istio.io/rev")
    if rev and rev in values.get("_revisions", set()):
        return True
    return str(pod_flag).lower() == "true" and "default" in values.get("_revisions", set())


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


def inject(pod, values):
    """Mutate ``pod`` as istiod's injector would."""
    spec = pod.setdefault("spec", {})
    meta = pod["metadata"]
    containers = spec.setdefault("containers", [])
    if any(c.get("name") == "istio-proxy" for c in containers + (spec.get("initContainers") or [])):
        return
    glob = values.get("global") or {}
    version = str(glob.get("tag") or "1.14.1")
    hub = glob.get("hub") or "docker.io/istio"
    image = "%s/proxyv2:%s" % (hub, version)
    revision = values.get("revision") or "default"
    cni = bool((values.get("istio_cni") or {}).get("enabled") or (values.get("cni") or {}).get("enabled"))
    native_env = ((values.get("pilot") or {}).get("env") or {}).get("ENABLE_NATIVE_SIDECARS")
    native = _version_tuple(version) >= (1, 27) if native_env is None else str(native_env).lower() == "true"
    labels = meta.setdefault("labels", {})
    app = labels.get("app") or labels.get("app.kubernetes.io/name")
    workload, owner_api, owner_plural = _workload(pod)
    labels["security.istio.io/tlsMode"] = "istio"
    labels["service.istio.io/canonical-name"] = app or workload
    labels["service.istio.io/canonical-revision"] = labels.get("version") or labels.get(
        "app.kubernetes.io/version") or "latest"
    app_containers = [c.get("name") for c in containers]
    namespace = meta.get("namespace", "default")
    init_name = "istio-validation" if cni else "istio-init"
    excluded_ports = "15090,15021,15020"
    iptables_args = ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*",
                     "-x", "", "-b", "*", "-d", excluded_ports, "--log_output_level=default:info"]
    if cni:
        iptables_args += ["--run-validation", "--skip-rule-apply"]
    resources = {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "10m", "memory": "40Mi"}}
    init = {"name": init_name, "image": image, "args": iptables_args, "resources": resources,
            "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "securityContext": {"allowPrivilegeEscalation": False, "privileged": False, "readOnlyRootFilesystem": False,
                                "runAsGroup": 1337 if cni else 0, "runAsNonRoot": cni, "runAsUser": 1337 if cni else 0,
                                "capabilities": {"add": [] if cni else ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]}}}
    env = [
        {"name": "JWT_POLICY", "value": "third-party-jwt"},
        {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
        {"name": "CA_ADDR", "value": "istiod%s.istio-system.svc:15012" % (
            "" if revision == "default" else "-" + revision)},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
        {"name": "INSTANCE_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
        {"name": "SERVICE_ACCOUNT",
         "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.serviceAccountName"}}},
        {"name": "HOST_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.hostIP"}}},
        {"name": "PROXY_CONFIG", "value": "{}\n"},
        {"name": "ISTIO_META_POD_PORTS", "value": json.dumps([p for c in containers for p in c.get("ports") or []])},
        {"name": "ISTIO_META_APP_CONTAINERS", "value": ",".join(app_containers)},
        {"name": "ISTIO_META_CLUSTER_ID", "value": "Kubernetes"},
        {"name": "ISTIO_META_INTERCEPTION_MODE", "value": "REDIRECT"},
        {"name": "ISTIO_META_WORKLOAD_NAME", "value": workload},
        {"name": "ISTIO_META_OWNER", "value": "kubernetes://apis/%s/namespaces/%s/%s/%s" % (
            owner_api, namespace, owner_plural, workload)},
        {"name": "ISTIO_META_MESH_ID", "value": "cluster.local"},
        {"name": "TRUST_DOMAIN", "value": "cluster.local"},
    ]
    proxy = {"name": "istio-proxy", "image": image,
             "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
                      "--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error",
                      "--log_output_level=default:info", "--concurrency", "2"],
             "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
             "env": env, "resources": resources, "imagePullPolicy": "IfNotPresent",
             "readinessProbe": {"httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
                                "initialDelaySeconds": 1, "timeoutSeconds": 3, "periodSeconds": 2,
                                "successThreshold": 1, "failureThreshold": 30},
             "securityContext": {"allowPrivilegeEscalation": False, "privileged": False,
                                 "readOnlyRootFilesystem": True, "runAsGroup": 1337, "runAsNonRoot": True,
                                 "runAsUser": 1337, "capabilities": {"drop": ["ALL"]}},
             "volumeMounts": [{"mountPath": "/var/run/secrets/workload-spiffe-uds", "name": "workload-socket"},
                              {"mountPath": "/var/run/secrets/credential-uds", "name": "credential-socket"},
                              {"mountPath": "/var/run/secrets/workload-spiffe-credentials", "name": "workload-certs"},
                              {"mountPath": "/var/run/secrets/istio", "name": "istiod-ca-cert"},
                              {"mountPath": "/var/lib/istio/data", "name": "istio-data"},
                              {"mountPath": "/etc/istio/proxy", "name": "istio-envoy"},
                              {"mountPath": "/var/run/secrets/tokens", "name": "istio-token"},
                              {"mountPath": "/etc/istio/pod", "name": "istio-podinfo"}],
             "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}
    inits = spec.setdefault("initContainers", [])
    inits.insert(0, init)
    if native:
        proxy["restartPolicy"] = "Always"
        proxy["startupProbe"] = {"httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
                                 "initialDelaySeconds": 0, "timeoutSeconds": 3, "periodSeconds": 1,
                                 "successThreshold": 1, "failureThreshold": 600}
        inits.insert(1, proxy)
    else:
        containers.insert(1 if containers else 0, proxy)
    spec.setdefault("volumes", []).extend([
        {"name": "workload-socket", "emptyDir": {}},
        {"name": "credential-socket", "emptyDir": {}},
        {"name": "workload-certs", "emptyDir": {}},
        {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
        {"name": "istio-data", "emptyDir": {}},
        {"name": "istio-podinfo", "downwardAPI": {"defaultMode": 420, "items": [
            {"path": "labels", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}},
            {"path": "annotations", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.annotations"}}]}},
        {"name": "istio-token", "projected": {"defaultMode": 420, "sources": [{"serviceAccountToken": {
            "audience": "istio-ca", "expirationSeconds": 43200, "path": "istio-token"}}]}},
        {"name": "istiod-ca-cert", "configMap": {"defaultMode": 420, "name": "istio-ca-root-cert"}},
    ])
    annotations = meta.setdefault("annotations", {})
    annotations["kubectl.kubernetes.io/default-container"] = app_containers[0] if app_containers else "istio-proxy"
    annotations["kubectl.kubernetes.io/default-logs-container"] = annotations[
        "kubectl.kubernetes.io/default-container"]
    annotations["prometheus.io/path"] = "/stats/prometheus"
    annotations["prometheus.io/port"] = "15020"
    annotations["prometheus.io/scrape"] = "true"
    annotations["istio.io/rev"] = revision
    annotations["sidecar.istio.io/status"] = json.dumps({
        "initContainers": [init_name] + (["istio-proxy"] if native else []),
        "containers": [] if native else ["istio-proxy"],
        "volumes": ["workload-socket", "credential-socket", "workload-certs", "istio-envoy", "istio-data",
                    "istio-podinfo", "istio-token", "istiod-ca-cert"],
        "imagePullSecrets": None, "revision": revision}, separators=(",", ":"))


def admission_hook(api, kind, obj, old, dry_run):
    """Injection runs on Pod CREATE only, as Istio's webhook rules say."""
    if kind.kind != "Pod" or old is not None:
        return
    values = injector_values(api)
    if values is None:
        return
    namespaces = api.registry.find("", "v1", "namespaces")
    ns = api.find(namespaces, None, obj["metadata"].get("namespace"))
    if wants_injection(api, obj, ns, values):
        inject(obj, values)
