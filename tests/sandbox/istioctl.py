"""istioctl stand-in (a test double): the real command-line contract, acting
on whatever API server the kubeconfig names.

Commands: version, install, uninstall, x precheck, analyze, manifest
generate, tag list/set/remove, proxy-status, proxy-config routes. Output and exit codes follow the real
tool's; the version is SANDBOX_ISTIO_VERSION.
"""

import argparse
import base64
import json
import os
import re
import ssl
import subprocess
import sys
import time
import http.client
import urllib.error
import urllib.parse
import urllib.request

import yaml

from . import upstream

VERSION = os.environ.get("SANDBOX_ISTIO_VERSION", upstream.TESTED[-1])
NAMESPACE = "istio-system"
FIELD_MANAGER = "istio-operator"
TAG_FIELD_MANAGER = "istio-ci"
ANALYZE_FAILED = 79
OWNER_LABEL = "install.operator.istio.io/owning-resource"
COMPONENT_LABEL = "operator.istio.io/component"
# manifests/profiles at 1.30 (../shared/upstream/istio/1.30.3/profiles): what each enables is read from the files
PROFILES = ("ambient", "default", "demo", "empty", "minimal", "openshift", "openshift-ambient", "preview", "remote",
            "stable")


class Failure(Exception):
    def __init__(self, message, code=1):
        Exception.__init__(self, message)
        self.code = code


# ---------------------------------------------------------------- API client

def _exec_token(spec):
    """A kubeconfig user's exec credential plugin, run as client-go runs it (Kubernetes docs, "client-go credential
    plugins"): the command with its args, the process environment plus the plugin's env entries, and the token read
    from the ExecCredential it prints. This is how `aws eks get-token` reaches istioctl on EKS."""
    env = dict(os.environ)
    for entry in spec.get("env") or []:
        env[entry["name"]] = entry["value"]
    env["KUBERNETES_EXEC_INFO"] = json.dumps({"apiVersion": spec.get("apiVersion"), "kind": "ExecCredential",
                                              "spec": {"interactive": False}})
    try:
        proc = subprocess.run([spec["command"]] + list(spec.get("args") or []), env=env, capture_output=True,
                              text=True, timeout=60, check=False)
    except OSError as exc:
        raise Failure("Error: exec plugin: %s" % exc)
    if proc.returncode != 0:
        raise Failure("Error: exec plugin: executable %s failed with exit code %d: %s"
                      % (spec["command"], proc.returncode, proc.stderr.strip()))
    try:
        return json.loads(proc.stdout)["status"]["token"]
    except (ValueError, KeyError, TypeError):
        raise Failure("Error: exec plugin: %s did not print an ExecCredential with a token" % spec["command"])


class _Connection(http.client.HTTPSConnection):
    """An HTTPS connection that sends a header given a list as one line per value, as Go's net/http sends a
    header of several values (client-go's impersonation sends Impersonate-Group once per group)."""

    def putheader(self, header, *values):
        if len(values) == 1 and isinstance(values[0], list):
            for value in values[0]:
                http.client.HTTPSConnection.putheader(self, header, value)
            return
        http.client.HTTPSConnection.putheader(self, header, *values)


class _Handler(urllib.request.HTTPSHandler):
    def __init__(self, context):
        urllib.request.HTTPSHandler.__init__(self, context=context)
        self.tls = context

    def https_open(self, req):
        return self.do_open(_Connection, req, context=self.tls)


class Kube(object):
    def __init__(self, kubeconfig=None, context=None, impersonate=None):
        path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or os.path.expanduser(
            "~/.kube/config")
        try:
            with open(path) as handle:
                config = yaml.safe_load(handle)
        except OSError as exc:
            raise Failure("Error: failed to load kubeconfig %s: %s" % (path, exc))
        name = context or config.get("current-context")
        ctx = next((c["context"] for c in config.get("contexts", []) if c["name"] == name), None)
        if ctx is None:
            raise Failure('Error: context "%s" does not exist' % name)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == ctx["cluster"])
        user = next((u["user"] for u in config.get("users", []) if u["name"] == ctx.get("user")), {})
        self.server = cluster["server"].rstrip("/")
        # client-go's TLS: the kubeconfig's CA (data or file), or no check when insecure-skip-tls-verify says so
        self.context = None
        if self.server.startswith("https://"):
            if cluster.get("insecure-skip-tls-verify"):
                self.context = ssl._create_unverified_context()  # nosec - asked for by the kubeconfig
            elif cluster.get("certificate-authority-data"):
                self.context = ssl.create_default_context(
                    cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
            else:
                self.context = ssl.create_default_context(cafile=cluster.get("certificate-authority"))
        self.token = user.get("token")
        if not self.token and user.get("exec"):
            self.token = _exec_token(user["exec"])
        # who the requests act as: --as/--as-group/--as-uid, else the kubeconfig user's as/as-groups/as-uid
        # (client-go's ImpersonationConfig; istioctl/pkg/cli/option.go's flags)
        impersonate = impersonate or {}
        self.impersonate = {"user": impersonate.get("user") or user.get("as"),
                            "groups": impersonate.get("groups") or user.get("as-groups") or [],
                            "uid": impersonate.get("uid") or user.get("as-uid")}
        # HTTPS_PROXY/NO_PROXY from the environment (Go's http.ProxyFromEnvironment, client-go's default)
        self.opener = urllib.request.build_opener(_Handler(self.context)) if self.server.startswith("https://") \
            else urllib.request.build_opener()

    def request(self, method, path, body=None, content_type="application/json", query=None):
        url = self.server + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": content_type, "Accept": "application/json",
                   "User-Agent": "istioctl/%s" % VERSION}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        # (groups without a user go out too: the API server refuses them)
        if self.impersonate["user"]:
            headers["Impersonate-User"] = self.impersonate["user"]
        if self.impersonate["groups"]:
            headers["Impersonate-Group"] = list(self.impersonate["groups"])
        if self.impersonate["uid"]:
            headers["Impersonate-Uid"] = self.impersonate["uid"]
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        for attempt in range(5):
            try:
                with self.opener.open(req, timeout=30) as response:
                    payload = response.read()
                    return json.loads(payload) if payload else {}
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return None
                if exc.code in (429, 500, 503) and attempt < 4:
                    time.sleep(0.2 * (attempt + 1))  # client-go style retry of retriable answers
                    continue
                text = exc.read().decode("utf-8", "replace")
                try:
                    text = json.loads(text).get("message", text)
                except ValueError:
                    pass
                raise Failure("Error: %s %s: %s" % (method, path, text))
            except (urllib.error.URLError, OSError) as exc:
                if attempt < 4:
                    time.sleep(0.2 * (attempt + 1))
                    continue
                raise Failure("Error: failed to connect to the Kubernetes API at %s: %s" % (self.server, exc))
        raise Failure("Error: the Kubernetes API at %s kept failing" % self.server)

    def get(self, path, **query):
        return self.request("GET", path, query=query or None)

    def apply(self, obj, manager=FIELD_MANAGER):
        path = object_path(obj, named=True)
        return self.request("PATCH", path, body=json.dumps(obj).encode(), content_type="application/apply-patch+yaml",
                            query={"fieldManager": manager, "force": "true"})

    def delete(self, obj, propagation="Background"):
        return self.request("DELETE", object_path(obj, named=True), body={"propagationPolicy": propagation})

    def faults(self):
        try:
            with urllib.request.urlopen(self.server + "/sandbox/faults", timeout=5, context=self.context) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return {}


PLURALS = {"CustomResourceDefinition": "customresourcedefinitions", "MutatingWebhookConfiguration":
           "mutatingwebhookconfigurations", "ValidatingWebhookConfiguration": "validatingwebhookconfigurations",
           "ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings", "Namespace": "namespaces",
           "ServiceAccount": "serviceaccounts", "ConfigMap": "configmaps", "Service": "services",
           "Deployment": "deployments", "Role": "roles", "RoleBinding": "rolebindings",
           "PodDisruptionBudget": "poddisruptionbudgets", "HorizontalPodAutoscaler": "horizontalpodautoscalers",
           "DaemonSet": "daemonsets", "Pod": "pods", "Secret": "secrets", "EnvoyFilter": "envoyfilters",
           "NetworkAttachmentDefinition": "network-attachment-definitions"}
CLUSTER_SCOPED = {"CustomResourceDefinition", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
                  "ClusterRole", "ClusterRoleBinding", "Namespace"}


def object_path(obj, named=True):
    api_version = obj["apiVersion"]
    base = "/api/v1" if api_version == "v1" else "/apis/" + api_version
    kind = obj["kind"]
    if kind not in CLUSTER_SCOPED:
        base += "/namespaces/" + obj["metadata"].get("namespace", NAMESPACE)
    base += "/" + PLURALS[kind]
    if named:
        base += "/" + obj["metadata"]["name"]
    return base


# ---------------------------------------------------------------- manifests

GOLDEN = "manifest-generate/all_on.golden-show-in-gh-pull-request.yaml"
GOLDEN_HUB = "registry.istio.io/testing"
GOLDEN_RELEASE = "1.30.3"
MARKS = {"Base": "Istio core", "Pilot": "Istiod", "Cni": "CNI", "Ztunnel": "Ztunnel",
         "IngressGateways": "Ingress gateways", "EgressGateways": "Egress gateways"}


def _upstream_docs(relative):
    """Documents of an upstream file of the installed release, else of the newest tested release (the goldens
    exist for 1.30.3 only: an older release gets 1.30.3's objects with its own images)."""
    try:
        text = upstream.read(VERSION, relative)
    except upstream.Missing:
        text = upstream.read(GOLDEN_RELEASE, relative)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def crds():
    """Istio's own CRDs with their OpenAPI schemas: the base chart's files/crd-all.gen.yaml of the release, which
    its templates render (the manifest-generate golden's copies are test data and lag behind it)."""
    return [doc for doc in _upstream_docs("crds/istio-crd-all.gen.yaml") if doc["kind"] == "CustomResourceDefinition"]


def profile_components(profile, values):
    """The components a profile enables: profiles/default.yaml overlaid by profiles/PROFILE.yaml (the real
    files), then --set components.X.enabled."""
    enabled = {}
    for name in ("default", profile) if profile != "default" else ("default",):
        doc = _upstream_docs("profiles/%s.yaml" % name)[0]
        comps = (doc.get("spec") or {}).get("components") or {}
        for key, mark in (("base", "Base"), ("pilot", "Pilot"), ("cni", "Cni"), ("ztunnel", "Ztunnel")):
            if key in comps:
                enabled[mark] = bool((comps[key] or {}).get("enabled"))
        for key, mark, gateway in (("ingressGateways", "IngressGateways", "istio-ingressgateway"),
                                   ("egressGateways", "EgressGateways", "istio-egressgateway")):
            for entry in comps.get(key) or []:
                if entry.get("name") == gateway:
                    enabled[mark] = bool(entry.get("enabled"))
    for key, mark in (("components.base.enabled", "Base"), ("components.pilot.enabled", "Pilot"),
                      ("components.cni.enabled", "Cni"), ("components.ztunnel.enabled", "Ztunnel")):
        if key in values:
            enabled[mark] = str(values[key]).lower() == "true"
    if "_ingress_enabled" in values:
        enabled["IngressGateways"] = values["_ingress_enabled"]
    return [mark for mark in ("Base", "Pilot", "Cni", "Ztunnel", "IngressGateways", "EgressGateways")
            if enabled.get(mark)]


def _component(obj):
    """Which component of the golden an object belongs to."""
    labels = obj["metadata"].get("labels") or {}
    name = obj["metadata"]["name"]
    if obj["kind"] == "CustomResourceDefinition" or name == "istio-reader-service-account":
        return "Base"
    if labels.get(COMPONENT_LABEL):
        return labels[COMPONENT_LABEL]
    if name.startswith("istio-ingressgateway"):
        return "IngressGateways"
    if name.startswith("istio-egressgateway"):
        return "EgressGateways"
    return "Pilot"


def _golden_objects():
    objs = crds() + [doc for doc in _upstream_docs(GOLDEN) if doc["kind"] != "CustomResourceDefinition"]
    for relative, mark in (("manifest-generate/istio-cni.golden.yaml", "Cni"),
                           ("manifest-generate/ztunnel.golden.yaml", "Ztunnel")):
        for doc in _upstream_docs(relative):
            doc.setdefault("metadata", {}).setdefault("labels", {})[COMPONENT_LABEL] = mark
            if doc.get("kind") == "DaemonSet":
                # the goldens hold the DaemonSet alone; its chart also makes the ServiceAccount it runs as
                # (manifests/charts/ztunnel/templates/serviceaccount.yaml, istio-cni/templates/serviceaccount.yaml),
                # applied before it as istioctl orders kinds
                account = ((doc.get("spec") or {}).get("template") or {}).get("spec", {}).get("serviceAccountName")
                if account:
                    objs.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
                        "name": account, "namespace": doc["metadata"].get("namespace"),
                        "labels": dict(doc["metadata"]["labels"])}})
            objs.append(doc)
    return objs


def _retarget(value, hub, tag, old_ns):
    """Images of the golden's test hub and tag become the release's; its namespace becomes the install's."""
    if isinstance(value, dict):
        return dict((k, _retarget(v, hub, tag, old_ns)) for k, v in value.items())
    if isinstance(value, list):
        return [_retarget(v, hub, tag, old_ns) for v in value]
    if isinstance(value, str):
        if value.startswith(GOLDEN_HUB + "/"):
            value = hub + value[len(GOLDEN_HUB):]
            # the golden's tag is "latest", with the chart's variant after it (ztunnel's "latest-distroless")
            value = re.sub(r":latest(-[a-z]+)?$", lambda m: ":" + tag + (m.group(1) or ""), value)
        if old_ns != NAMESPACE:
            # the charts render .Release.Namespace wherever the golden has istio-system: metadata, webhook
            # Services, subjects, names (istio-reader-clusterrole-NS) and addresses (istiod.NS.svc:15012)
            value = re.sub(r"(?<![A-Za-z0-9-])%s(?![A-Za-z0-9-])" % re.escape(old_ns), NAMESPACE, value)
    return value


REVISIONED = ("istiod", "istio", "istio-sidecar-injector", "values")


def _revision_name(kind, name, revision):
    """Names a revision gives the control plane's objects (the istiod chart's `-{{ .Values.revision }}`)."""
    if not revision:
        return name
    if name in REVISIONED:
        return "%s-%s" % (name, revision)
    # the reader role too (istio-discovery/templates/reader-clusterrole.yaml: istio-reader-clusterrole-REV-NS)
    for prefix in ("istiod-clusterrole", "istiod-gateway-controller", "istio-validator", "istio-reader-clusterrole"):
        if name.startswith(prefix + "-"):
            return "%s-%s%s" % (prefix, revision, name[len(prefix):])
    return name


def manifests(profile="demo", revision="", values=None):
    """Everything install applies, in order (CRDs first, as the real installer does): the objects real
    `istioctl manifest generate` renders (the release's golden), for the components the profile enables, with the
    release's images, the install's namespace and revision, and the labels `istioctl install` adds to each
    (owning resource, component, revision)."""
    values = values or {}
    hub = values.get("hub") or values.get("global.hub") or values.get("values.global.hub") or "docker.io/istio"
    tag = values.get("tag") or values.get("global.tag") or values.get("values.global.tag") or VERSION
    components = profile_components(profile, values)
    rev = revision or "default"
    objs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}]
    pilot_env = dict((k[len("values.pilot.env."):], str(v)) for k, v in values.items()
                     if k.startswith("values.pilot.env."))
    if profile in ("ambient", "openshift-ambient") or values.get("values.profile") == "ambient":
        # the istiod chart's profile-ambient values (manifests/charts/istio-control/istio-discovery/files/
        # profile-ambient.yaml): pilot.env.PILOT_ENABLE_AMBIENT "true"
        pilot_env.setdefault("PILOT_ENABLE_AMBIENT", "true")
    cni = "Cni" in components or str(values.get("values.pilot.cni.enabled", "")).lower() == "true"
    renames = {}
    chosen = []
    for obj in _golden_objects():
        component = _component(obj)
        if component not in components:
            continue
        obj = _retarget(obj, hub, tag, "istio-system")
        meta = obj["metadata"]
        if obj["kind"] != "CustomResourceDefinition" and obj["kind"] not in CLUSTER_SCOPED:
            meta["namespace"] = NAMESPACE
        if component == "Pilot":
            new = _revision_name(obj["kind"], meta["name"], revision)
            renames[meta["name"]] = new
            meta["name"] = new
        labels = meta.setdefault("labels", {})
        labels.update({OWNER_LABEL: "installed-state", COMPONENT_LABEL: component})
        if obj["kind"] != "CustomResourceDefinition":
            labels["istio.io/rev"] = rev
        if "app.kubernetes.io/version" in labels:
            labels["app.kubernetes.io/version"] = VERSION
        chosen.append((component, obj))
    for component, obj in chosen:
        _wire(obj, component, revision, renames, pilot_env, cni, hub, tag)
        if obj["kind"] == "Service" and obj["metadata"]["name"] == "istio-ingressgateway" and \
                values.get("_ingress_k8s"):
            _overlay_service(obj, values["_ingress_k8s"])
        objs.append(obj)
    order = {"CustomResourceDefinition": 0}
    return [objs[0]] + sorted(objs[1:], key=lambda o: order.get(o["kind"], 1))


def _wire(obj, component, revision, renames, pilot_env, cni, hub, tag):
    """References between the control plane's objects follow its revision's names; the injector's values and
    istiod's environment carry the --set values the sandbox's injector reads."""
    kind, meta = obj["kind"], obj["metadata"]
    rev = revision or "default"
    for ref in ([obj.get("roleRef")] if obj.get("roleRef") else []) + (obj.get("subjects") or []):
        if ref.get("name") in renames:
            ref["name"] = renames[ref["name"]]
        if ref.get("namespace"):
            ref["namespace"] = NAMESPACE
    if kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        hooks = []
        for hook in obj.get("webhooks") or []:
            service = (hook.get("clientConfig") or {}).get("service") or {}
            if service.get("name") in renames:
                service["name"] = renames[service["name"]]
            service["namespace"] = NAMESPACE
            for selector in ("namespaceSelector", "objectSelector"):
                for expr in (hook.get(selector) or {}).get("matchExpressions") or []:
                    if expr.get("key") == "istio.io/rev" and expr.get("values") == ["default"]:
                        expr["values"] = [rev]
            # a revision's injector answers only for its own revision label (rev.* webhooks)
            if kind == "MutatingWebhookConfiguration" and revision and not hook["name"].startswith("rev."):
                continue
            hooks.append(hook)
        obj["webhooks"] = hooks
    if component == "Pilot" and kind in ("Deployment", "Service", "HorizontalPodAutoscaler"):
        if kind == "HorizontalPodAutoscaler":
            target = obj["spec"].get("scaleTargetRef") or {}
            target["name"] = renames.get(target.get("name"), target.get("name"))
        elif revision:
            selector = {"app": "istiod", "istio.io/rev": revision}
            if kind == "Deployment":
                obj["spec"]["selector"] = {"matchLabels": selector}
                obj["spec"]["template"]["metadata"].setdefault("labels", {}).update(selector)
            else:
                obj["spec"]["selector"] = selector
    if kind == "Deployment":
        template = obj["spec"]["template"]
        template["metadata"].setdefault("labels", {})["istio.io/rev"] = rev
        # istiod runs as its revision's account (istio-discovery/templates/deployment.yaml: serviceAccountName
        # istiod-{{ .Values.revision }})
        account = template["spec"].get("serviceAccountName")
        if component == "Pilot" and account in renames:
            template["spec"]["serviceAccountName"] = renames[account]
        # the gateway charts render the revision into the pod's annotation too (the golden: istio.io/rev default)
        if "istio.io/rev" in (template["metadata"].get("annotations") or {}):
            template["metadata"]["annotations"]["istio.io/rev"] = rev
        if component == "Pilot":
            container = template["spec"]["containers"][0]
            env = [e for e in container.get("env") or [] if e.get("name") not in pilot_env and e.get("name") != "REVISION"]
            env.append({"name": "REVISION", "value": rev})
            env.extend({"name": k, "value": v} for k, v in sorted(pilot_env.items()))
            container["env"] = env
    if kind == "ConfigMap" and meta["name"].startswith("istio-sidecar-injector"):
        data = json.loads(obj["data"]["values"])
        data.setdefault("global", {}).update(hub=hub, tag=tag, istioNamespace=NAMESPACE)
        data["revision"] = revision or ""
        pilot = data.setdefault("pilot", {})
        pilot.setdefault("env", {}).update(pilot_env)
        pilot.setdefault("cni", {})["enabled"] = cni
        obj["data"]["values"] = json.dumps(data, sort_keys=True)


def _overlay_service(service, k8s):
    """IstioOperator KubernetesResourcesSpec: serviceAnnotations on the Service, service merged into its spec
    (istio.io docs, IstioOperator Options, "KubernetesResourcesSpec")."""
    annotations = k8s.get("serviceAnnotations") or {}
    for key, value in annotations.items():
        if not isinstance(value, str):
            # what an unescaped annotation name in --set makes: a nested map where a string belongs
            raise Failure("Error: failed to unmarshal IstioOperator: json: cannot unmarshal object into Go struct "
                          "field KubernetesResourcesSpec.spec.components.ingressGateways.k8s.serviceAnnotations of "
                          "type string (key %r)" % key)
    if annotations:
        service["metadata"]["annotations"] = dict(annotations)
    for key, value in (k8s.get("service") or {}).items():
        if key == "ports":
            continue
        service["spec"][key] = value


def component_of(obj):
    return obj["metadata"].get("labels", {}).get(COMPONENT_LABEL, "Base")


# ---------------------------------------------------------------- commands

def split_path(key):
    """istioctl's --set path: split on dots, except dots escaped as \\. (operator/pkg/util/path.go,
    PathFromString); an annotation name such as service.beta.kubernetes.io/x must be escaped."""
    parts, current, escaped = [], "", False
    for char in key:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ".":
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


GATEWAY_PATHS = (["components", "ingressGateways[0]", "k8s"],
                 ["components", "ingressGateways[name:istio-ingressgateway]", "k8s"])


def _gateway_k8s(values, key, value):
    """--set components.ingressGateways[0].k8s.<...>=v -> the ingress gateway's k8s settings (a nested map)."""
    parts = split_path(key)
    for prefix in GATEWAY_PATHS:
        if parts[:len(prefix)] == prefix and len(parts) > len(prefix):
            node = values.setdefault("_ingress_k8s", {})
            for part in parts[len(prefix):-1]:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise Failure("Error: --set %s: path %s is not a map" % (key, part))
            node[parts[-1]] = value
            return True
    return False


def parse_sets(sets, files):
    values = {}
    for path in files or []:
        try:
            with open(path) as handle:
                doc = yaml.safe_load(handle) or {}
        except OSError as exc:
            raise Failure("Error: could not read %s: %s" % (path, exc))
        if doc.get("kind") != "IstioOperator":
            raise Failure('Error: %s: expected kind "IstioOperator", got %r' % (path, doc.get("kind")))
        spec = doc.get("spec") or {}
        if spec.get("profile"):
            values["profile"] = spec["profile"]
        for gateway in (spec.get("components") or {}).get("ingressGateways") or []:
            # IstioOperator overlays merge gateway entries by name: enabled and k8s of istio-ingressgateway
            if gateway.get("name") == "istio-ingressgateway" and gateway.get("k8s"):
                values["_ingress_k8s"] = gateway["k8s"]
            if gateway.get("name") == "istio-ingressgateway" and "enabled" in gateway:
                values["_ingress_enabled"] = str(gateway["enabled"]).lower() == "true"
        for key, value in _flatten(spec).items():
            values.setdefault(key, value)
    for item in sets or []:
        if "=" not in item:
            raise Failure("Error: --set %s: expected key=value" % item)
        key, value = item.split("=", 1)
        if key in ("components.ingressGateways[0].enabled",
                   "components.ingressGateways[name:istio-ingressgateway].enabled"):
            # the profiles' first ingress gateway is istio-ingressgateway (profiles/*.yaml)
            values["_ingress_enabled"] = value.lower() == "true"
        elif not _gateway_k8s(values, key, value):
            values[key] = value
    return values


def _flatten(tree, prefix=""):
    out = {}
    for key, value in (tree or {}).items():
        path = prefix + key
        if isinstance(value, dict):
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


def deployments_ready(kube, names, timeout):
    deadline = time.time() + timeout
    pending = list(names)
    while pending and time.time() < deadline:
        still = []
        for name in pending:
            dep = kube.get("/apis/apps/v1/namespaces/%s/deployments/%s" % (NAMESPACE, name))
            status = (dep or {}).get("status") or {}
            spec = (dep or {}).get("spec") or {}
            if not dep or status.get("availableReplicas", 0) < spec.get("replicas", 1) or \
                    status.get("observedGeneration") != dep["metadata"].get("generation"):
                still.append(name)
        pending = still
        if pending:
            time.sleep(0.3)  # the real istioctl polls readiness too
    return pending


def cmd_install(args, kube):
    """Apply component by component (base, pilot, CNI, ztunnel, gateways) and wait for each one's workloads with
    the full --readiness-timeout before the next (../shared/upstream/README.md), as the real installer does."""
    values = parse_sets(args.set, args.filename)
    profile = values.pop("profile", None) or "default"
    if profile not in PROFILES:
        raise Failure('Error: generate config: could not read profile %s: no such profile; available profiles: %s'
                      % (profile, ", ".join(sorted(PROFILES))))
    revision = args.revision or values.pop("revision", "") or ""
    components = profile_components(profile, values)
    if not args.skip_confirmation:
        sys.stdout.write('This will install the Istio %s "%s" profile (with components: %s) into the cluster. '
                         "Proceed? (y/N) " % (VERSION, profile, ", ".join(MARKS[c] for c in components)))
        sys.stdout.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            print("Cancelled.")
            return 1
    objs = manifests(profile, revision, values)
    fail_half_way = kube.faults().get("istioctl_fail_install")
    timeout = _seconds(args.readiness_timeout)
    kube.apply(objs[0])  # the namespace
    for component in components:
        owned = [o for o in objs[1:] if component_of(o) == component]
        if fail_half_way and component == "IngressGateways":
            raise Failure("\u2718 Ingress gateways encountered an error: failed to wait for resource: resources not "
                          "ready after %s: context deadline exceeded\n  Deployment/%s/istio-ingressgateway "
                          "(container failed to start: ContainerCreating)\nError: failed to install manifests: "
                          "errors occurred during operation" % (args.readiness_timeout, NAMESPACE))
        for obj in owned:
            kube.apply(obj)
        pending = deployments_ready(kube, [o["metadata"]["name"] for o in owned if o["kind"] == "Deployment"],
                                    timeout)
        if pending:
            raise Failure("\u2718 %s encountered an error: failed to wait for resource: resources not ready after %s: "
                          "context deadline exceeded\n%s\nError: failed to install manifests: errors occurred during "
                          "operation" % (MARKS[component], args.readiness_timeout, "\n".join(
                              "  Deployment/%s/%s (container failed to start)" % (NAMESPACE, n) for n in pending)))
        print("\u2714 %s installed" % MARKS[component])
    if "Pilot" in components:
        install_default_tag(kube, revision, values)
    print("\u2714 Installation complete")
    return 0


def install_default_tag(kube, revision, values):
    """What `istioctl install` deploys after the manifests (operator/pkg/webhook/webhook.go WebhooksToDeploy,
    1.30.3): the default revision tag - MutatingWebhookConfiguration istio-revision-tag-default, Validating
    WebhookConfiguration istiod-default-validator and Service istiod-revision-tag-default - pointing at the revision
    installed, when no default tag exists yet or this is an install without a revision, unless the operator manages
    webhooks (detectIfTagWebhookIsNeeded). They carry the install's labels (istio.io/rev of the revision, the
    chart's operator.istio.io/component: Pilot, owning-resource-not-pruned), so `istioctl uninstall --revision R`
    of that revision prunes them (operator/pkg/uninstall/prune.go lists by istio.io/rev and component)."""
    if str(values.get("values.global.operatorManageWebhooks", "")).lower() == "true":
        return
    exists = _items(kube, WEBHOOKS, labelSelector="app=sidecar-injector,istio.io/tag=default")
    if exists and revision:
        return
    canonical = _webhooks_with_revision(kube, revision or "default")
    if len(canonical) != 1:
        return  # "If tag cannot be created could be remote cluster install, don't fail out."
    install_labels = {OWNER_LABEL: "installed-state", COMPONENT_LABEL: "Pilot",
                      "install.operator.istio.io/owning-resource-not-pruned": "true",
                      "operator.istio.io/managed": "Reconcile", "operator.istio.io/version": VERSION}
    _deactivate_default_injector(kube)
    for obj in tag_objects("default", revision, canonical[0], install_labels):
        kube.apply(obj)


def _deactivate_default_injector(kube):
    """The default revision's own injector stops answering istio-injection=enabled once a default tag takes over
    (istioctl/pkg/tag/util.go DeactivateIstioInjectionWebhook): its webhooks get selectors that never match."""
    for config in _webhooks_with_revision(kube, "default"):
        for hook in config.get("webhooks") or []:
            hook["namespaceSelector"] = dict(NEVER_MATCH)
            hook["objectSelector"] = dict(NEVER_MATCH)
        config.update(apiVersion="admissionregistration.k8s.io/v1", kind="MutatingWebhookConfiguration")
        kube.request("PUT", object_path(config), body=config)


def _seconds(text):
    text = str(text)
    total = 0.0
    number = ""
    for ch in text:
        if ch.isdigit() or ch == ".":
            number += ch
        else:
            total += float(number or 0) * {"h": 3600, "m": 60, "s": 1}.get(ch, 1)
            number = ""
    return total + float(number or 0)


# What `istioctl uninstall` prunes (operator/pkg/uninstall/prune.go, 1.30.3): these kinds, listed across all
# namespaces, in this order; the cluster-scoped ones after the namespaced ones, CRDs and NetworkAttachmentDefinitions
# only on --purge.
PRUNED_NAMESPACED = [("/apis/apps/v1", "Deployment"), ("/apis/apps/v1", "DaemonSet"), ("/api/v1", "Service"),
                     ("/api/v1", "ConfigMap"), ("/api/v1", "Pod"), ("/api/v1", "Secret"), ("/api/v1", "ServiceAccount"),
                     ("/apis/rbac.authorization.k8s.io/v1", "RoleBinding"), ("/apis/rbac.authorization.k8s.io/v1", "Role"),
                     ("/apis/policy/v1", "PodDisruptionBudget"), ("/apis/autoscaling/v2", "HorizontalPodAutoscaler"),
                     ("/apis/networking.istio.io/v1alpha3", "EnvoyFilter")]
PRUNED_CLUSTER = [("/apis/admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"),
                  ("/apis/admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
                  ("/apis/rbac.authorization.k8s.io/v1", "ClusterRole"),
                  ("/apis/rbac.authorization.k8s.io/v1", "ClusterRoleBinding")]
PRUNED_ON_PURGE = [("/apis/apiextensions.k8s.io/v1", "CustomResourceDefinition"),
                   ("/apis/k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition")]
# a revision's uninstall keeps the base (CRDs, the reader role) and components it does not know
PRUNED_COMPONENTS = ("Pilot", "IngressGateways", "EgressGateways", "Cni", "Ztunnel")


def installed_objects(kube, revision=None):
    """GetPrunedResources: with --purge every object carrying the component label; else those whose istio.io/rev is
    the revision and whose component is one of PRUNED_COMPONENTS - wherever they are (gateways installed into other
    namespaces, the CNI's DaemonSet, the pods themselves)."""
    if revision is None:
        selector = COMPONENT_LABEL
        kinds = PRUNED_NAMESPACED + PRUNED_CLUSTER + PRUNED_ON_PURGE
    else:
        selector = "istio.io/rev=%s,%s in (%s),%s" % (revision or "default", COMPONENT_LABEL,
                                                      ",".join(PRUNED_COMPONENTS), COMPONENT_LABEL)
        kinds = PRUNED_NAMESPACED + PRUNED_CLUSTER
    found = []
    for base, kind in kinds:
        for item in _items(kube, "%s/%s" % (base, PLURALS[kind]), labelSelector=selector):
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", "v1" if base == "/api/v1" else base[len("/apis/"):])
            found.append(item)
    return found


def _gvk(obj):
    """How client-go prints a GroupVersionKind (schema.GroupVersionKind.String)."""
    group, version = obj["apiVersion"].rpartition("/")[::2]
    return "%s/%s, Kind=%s" % (group, version, obj["kind"])


def proxies_of_revision(kube, revision):
    """The proxies (POD.NAMESPACE) of the control plane ``revision``: the sandbox's stand-in for the proxy IDs
    istiod reports for the proxies connected to it (proxyinfo.GetIDsFromProxyInfo) - the data plane's proxies of
    that revision."""
    return sorted(p["ID"] for p in data_plane(kube) if p["Revision"] == (revision or "default"))


def cmd_uninstall(args, kube):
    """operator/cmd/mesh/uninstall.go at 1.30.3: the revision must exist, the objects to prune are listed, and the
    warnings preCheckWarnings gives (all resources with --purge; else the proxies still pointing at the revision
    and the gateways about to go) are printed, then confirmed unless -y."""
    if not args.purge and not args.revision and not args.filename:
        raise Failure("Error: at least one of the --revision (or --set revision=<revision>), --filename or --purge "
                      "flags must be set")
    if args.revision and not args.purge:
        # istioctl finds the revision among all MutatingWebhookConfigurations: each counts for its istio.io/rev
        # label, a tag's too, and one without the label - EKS's pod-identity-webhook - for "default"
        # (istioctl/pkg/tag/revision.go ListRevisionDescriptions, 1.30.3)
        found = set((h["metadata"].get("labels") or {}).get("istio.io/rev") or "default" for h in _items(kube, WEBHOOKS))
        if args.revision not in found:
            raise Failure("Error: could not find target revision")
    if args.purge and (args.revision or args.filename):
        print("Purge uninstall will remove all Istio resources, ignoring the specified revision or operator file")
    objs = installed_objects(kube, None if args.purge else args.revision)
    message = ""
    if args.purge:
        message = "All Istio resources will be pruned from the cluster\n"
    elif not objs:
        print("No resources will be pruned from the cluster. Please double check the input configs")
        print("\u2714 Uninstall complete")
        return 0
    else:
        proxies = proxies_of_revision(kube, args.revision) if args.revision else []
        if proxies:
            message += "There are still %d proxies pointing to the control plane revision %s\n" % (
                len(proxies), args.revision)
            if len(proxies) <= 30:
                message += "\n".join(proxies) + "\n"
            message += ("If you proceed with the uninstall, these proxies will become detached from any control "
                        "plane and will not function correctly.\n")
        gateways = [o["metadata"]["name"] for o in objs if o["kind"] == "Deployment" and "gateway" in
                    o["metadata"]["name"]]
        if gateways:
            message += ("You are about to remove the following gateways: %s. To avoid downtime, please quit this "
                        "command and reinstall the gateway(s) with a revision that is not being removed from the "
                        "cluster.\n" % ", ".join(gateways))
    if args.skip_confirmation:
        sys.stdout.write(message)
    elif message:
        sys.stdout.write(message + "Proceed? (y/N) ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            print("Cancelled.")
            return 1
    for obj in objs:
        # DeleteResource: foreground deletion; an object already gone is reported, not an error
        name = "%s/%s.%s" % (_gvk(obj), obj["metadata"]["name"], obj["metadata"].get("namespace", ""))
        if kube.delete(obj, propagation="Foreground") is None:
            print("object: %s is not being deleted because it no longer exists" % name)
        else:
            print("  Removed %s." % name)
    print("\u2714 Uninstall complete")
    return 0


def control_plane(kube):
    listing = kube.get("/api/v1/namespaces/%s/pods" % NAMESPACE, labelSelector="app=istiod") or {}
    running = [p for p in listing.get("items", []) if (p.get("status") or {}).get("phase") == "Running"]
    out = []
    for pod in running:
        image = pod["spec"]["containers"][0]["image"]
        out.append({"Component": "istiod", "Revision": pod["metadata"]["labels"].get("istio.io/rev", "default"),
                    "Info": {"version": image.rsplit(":", 1)[-1], "revision": "sandbox", "golang_version": "go1.24",
                             "status": "Clean", "tag": image.rsplit(":", 1)[-1]}})
    return out


def data_plane(kube):
    listing = kube.get("/api/v1/pods") or {}
    out = []
    for pod in listing.get("items", []):
        spec = pod.get("spec") or {}
        proxies = [c for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
                   if c.get("name") == "istio-proxy" or (
                       "proxyv2" in c.get("image", "") and pod["metadata"]["namespace"] == NAMESPACE)]
        if proxies and (pod.get("status") or {}).get("phase") == "Running":
            meta = pod["metadata"]
            # the revision whose istiod the proxy dials: its injector's (annotation) or, for a gateway, its own label
            revision = (meta.get("annotations") or {}).get("istio.io/rev") or \
                (meta.get("labels") or {}).get("istio.io/rev") or "default"
            out.append({"ID": "%s.%s" % (meta["name"], meta["namespace"]),
                        "IstioVersion": proxies[0]["image"].rsplit(":", 1)[-1], "Revision": revision})
    return out


def istiod_pods(kube):
    """{revision: [running istiod pod names]} in the Istio namespace."""
    out = {}
    for pod in _items(kube, "/api/v1/namespaces/%s/pods" % NAMESPACE, labelSelector="app=istiod"):
        if (pod.get("status") or {}).get("phase") == "Running":
            rev = (pod["metadata"].get("labels") or {}).get("istio.io/rev") or "default"
            out.setdefault(rev, []).append(pod["metadata"]["name"])
    return dict((rev, sorted(names)) for rev, names in out.items())


def cmd_version(args, kube):
    client = {"version": VERSION, "revision": "sandbox", "golang_version": "go1.24", "status": "Clean",
              "tag": VERSION}
    result = {"clientVersion": client}
    mesh = []
    if args.remote:
        mesh = control_plane(kube)
        if mesh:
            result["meshVersion"] = mesh
            result["dataPlaneVersion"] = data_plane(kube)
        else:
            # the real tool says so on stdout, before the JSON, when no control plane runs
            print('Istio is not present in the cluster: no running Istio pods in namespace "%s"' % NAMESPACE)
    if args.output == "json":
        print(json.dumps(result, indent=2))
    elif args.output == "yaml":
        print(yaml.safe_dump(result), end="")
    elif args.short or args.output == "short":
        print(VERSION)
    else:
        print("client version: %s" % VERSION)
        if mesh:
            print("control plane version: %s" % ", ".join(sorted(set(m["Info"]["version"] for m in mesh))))
            planes = result.get("dataPlaneVersion") or []
            versions = sorted(set(p["IstioVersion"] for p in planes))
            counts = ["%s (%d proxies)" % (v, sum(1 for p in planes if p["IstioVersion"] == v)) for v in versions]
            print("data plane version: %s" % (", ".join(counts) or "none"))
    return 0


# The Kubernetes minimum `istioctl x precheck` enforces, by Istio minor release (finding IST0142, an Error): the
# constant MinK8SVersion of each release's source (istioctl/pkg/install/k8sversion/version.go) - 29 at 1.27
# (../shared/upstream/README.md), 30 at 1.28.10 and at 1.29.6, 32 at 1.30.3. It is a floor only: istio.io's
# support status gives each release a supported range (1.28: 1.30-1.34, 1.29: 1.31-1.35, 1.30: 1.32-1.36).
K8S_MINIMUM = ((30, 32), (28, 30), (27, 29))
RED, YELLOW, RESET = "\033[31m", "\033[33m", "\033[0m"


def k8s_minimum(version=None):
    minor = int((version or VERSION).split(".")[1])
    return next((k for istio, k in K8S_MINIMUM if minor >= istio), 28)


def cmd_precheck(args, kube):
    """As the real command: findings on stdout (coloured when stdout is a terminal), exit 1 for any finding of
    Warning or worse; the success line on stderr, exit 0 (../shared/upstream/README.md)."""
    version = kube.get("/version") or {}
    minor = int("".join(ch for ch in str(version.get("minor", "0")) if ch.isdigit()) or 0)
    problems = list(kube.faults().get("precheck_findings") or [])
    minimum = k8s_minimum()
    if minor and minor < minimum:
        problems.append("Error [IST0142] (Cluster) The Kubernetes version v1.%d is lower than the minimum version "
                        "1.%d supported by Istio %s." % (minor, minimum, VERSION))
    if problems:
        colour = sys.stdout.isatty()
        for line in problems:
            tint = RED if line.startswith("Error") else YELLOW
            print(tint + line + RESET if colour else line)
        return 1
    sys.stderr.write("\u2714 No issues found when checking the cluster. Istio is safe to install or upgrade!\n"
                     "  To get started, check out https://istio.io/latest/docs/setup/getting-started/.\n")
    return 0


def _list_all(kube, path, namespace=None):
    if namespace:
        parts = path.split("/")
        path = "/".join(parts[:-1]) + "/namespaces/%s/%s" % (namespace, parts[-1])
    listing = kube.get(path) or {}
    return listing.get("items", [])


def cmd_analyze(args, kube):
    namespace = None if args.all_namespaces else (args.namespace or "default")
    messages = []
    gateways = {}
    for version in ("v1", "v1beta1", "v1alpha3"):
        items = _list_all(kube, "/apis/networking.istio.io/%s/gateways" % version)
        if items:
            gateways = {"%s/%s" % (g["metadata"]["namespace"], g["metadata"]["name"]): g for g in items}
            break
    services = {"%s/%s" % (s["metadata"]["namespace"], s["metadata"]["name"])
                for s in _list_all(kube, "/api/v1/services")}
    for version in ("v1", "v1beta1", "v1alpha3"):
        vss = _list_all(kube, "/apis/networking.istio.io/%s/virtualservices" % version, namespace)
        if vss:
            break
    for vs in vss:
        ns = vs["metadata"]["namespace"]
        origin = "VirtualService %s/%s" % (ns, vs["metadata"]["name"])
        for ref in (vs.get("spec") or {}).get("gateways") or []:
            if ref == "mesh":
                continue
            key = ref if "/" in ref else "%s/%s" % (ns, ref)
            if key not in gateways:
                messages.append({"code": "IST0101", "level": "Error", "origin": origin,
                                 "message": 'Referenced gateway not found: "%s"' % ref})
        for route in (vs.get("spec") or {}).get("http") or []:
            for dest in route.get("route") or []:
                host = (dest.get("destination") or {}).get("host", "")
                pieces = host.split(".")
                key = "%s/%s" % (pieces[1] if len(pieces) > 1 else ns, pieces[0])
                if "." not in host.replace(".svc.cluster.local", "").split(".", 1)[-1] and key not in services:
                    messages.append({"code": "IST0101", "level": "Error", "origin": origin,
                                     "message": 'Referenced host not found: "%s"' % host})
    for ns in _list_all(kube, "/api/v1/namespaces"):
        name = ns["metadata"]["name"]
        labels = ns["metadata"].get("labels") or {}
        if namespace and name != namespace:
            continue
        if name in ("kube-system", "kube-public", "kube-node-lease", NAMESPACE):
            continue
        if "istio-injection" not in labels and "istio.io/rev" not in labels:
            if _list_all(kube, "/api/v1/pods", name):
                messages.append({"code": "IST0102", "level": "Info", "origin": "Namespace %s" % name,
                                 "message": 'The namespace is not enabled for Istio injection. Run \'kubectl label '
                                            'namespace %s istio-injection=enabled\' to enable it, or \'kubectl label '
                                            'namespace %s istio-injection=disabled\' to explicitly mark it as not '
                                            'needing injection.' % (name, name)})
    for message in messages:
        message["documentationUrl"] = "https://istio.io/v%s/docs/reference/config/analysis/%s/" % (
            ".".join(VERSION.split(".")[:2]), message["code"].lower())
    if args.output == "json":
        print(json.dumps(messages, indent=2))
    elif args.output == "yaml":
        print(yaml.safe_dump(messages), end="")
    elif messages:
        for message in messages:
            print("%s [%s] (%s) %s" % (message["level"], message["code"], message["origin"], message["message"]))
    else:
        print("\u2714 No validation issues found when analyzing %s." % (
            "all namespaces" if namespace is None else "namespace: %s" % namespace))
    if any(m["level"] == "Error" for m in messages):
        if args.output not in ("json", "yaml"):
            sys.stderr.write("Error: Analyzers found issues when analyzing %s.\nSee https://istio.io/v%s/docs/"
                             "reference/config/analysis for more information about causes and resolutions.\n" % (
                                 "all namespaces" if namespace is None else "namespace: %s" % namespace,
                                 ".".join(VERSION.split(".")[:2])))
        return ANALYZE_FAILED
    return 0


def cmd_manifest_generate(args, kube):
    values = parse_sets(args.set, args.filename)
    profile = values.pop("profile", None) or "default"
    if profile not in PROFILES:
        raise Failure("Error: could not read profile %s" % profile)
    docs = manifests(profile, args.revision or values.pop("revision", ""), values)
    print(yaml.safe_dump_all(docs, sort_keys=False), end="")
    return 0


# ---------------------------------------------------------------- revision tags
# After istioctl/pkg/tag (tag.go, generate.go, util.go) and the istiod chart's revision-tags-mwc.yaml and
# revision-tags-svc.yaml at 1.30.3: a tag is a MutatingWebhookConfiguration istio-revision-tag-TAG (labels
# istio.io/tag and the revision's istio.io/rev) whose webhooks send pods of namespaces labelled istio.io/rev=TAG to
# the revision's istiod, and a Service istiod-revision-tag-TAG. Tags are user-managed: the operator labels are
# stripped, so `istioctl uninstall` (even --purge) leaves them.

WEBHOOKS = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
NEVER_MATCH = {"matchLabels": {"istio.io/deactivated": "never-match"}}  # istioctl/pkg/util/common.go


def _items(kube, path, **query):
    return (kube.get(path, **query) or {}).get("items") or []


def _webhooks_with_revision(kube, revision):
    return _items(kube, WEBHOOKS, labelSelector="istio.io/rev=%s,!istio.io/tag" % revision)


def _services_with_revision(kube, revision):
    return _items(kube, "/api/v1/namespaces/%s/services" % NAMESPACE,
                  labelSelector="istio.io/rev=%s,!istio.io/tag,app=istiod" % revision)


def _tag_objects(kube, tag):
    return (_items(kube, WEBHOOKS, labelSelector="istio.io/tag=%s" % tag),
            _items(kube, "/api/v1/namespaces/%s/services" % NAMESPACE, labelSelector="istio.io/tag=%s" % tag))


def _namespaces_with_tag(kube, tag):
    return sorted(n["metadata"]["name"] for n in _items(kube, "/api/v1/namespaces", labelSelector="istio.io/rev=%s" % tag))


def _hook(prefix, client, namespace_selector, object_selector):
    return {"name": prefix + "sidecar-injector.istio.io", "clientConfig": json.loads(json.dumps(client)),
            "sideEffects": "None",
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"],
                       "scope": "*"}],
            "failurePolicy": "Fail", "reinvocationPolicy": "Never", "admissionReviewVersions": ["v1"],
            "matchPolicy": "Equivalent", "timeoutSeconds": 10,
            "namespaceSelector": {"matchExpressions": namespace_selector},
            "objectSelector": {"matchExpressions": object_selector}}


def tag_objects(tag, revision, canonical, install_labels=None):
    """The tag's objects as `istioctl tag generate` renders them for ``revision`` whose own injector webhook
    configuration is ``canonical``: the MutatingWebhookConfiguration, for the default tag the Validating
    WebhookConfiguration istiod-default-validator (istioctl/pkg/tag/generate.go Generate; the default chart's
    validatingwebhook.yaml), and the Service. A tag set by hand is user-managed: labels naming operator.istio.io are
    stripped (generateLabels with UserManaged); ``install_labels`` are those `istioctl install` gives the default
    tag it makes."""
    rev = revision or "default"
    # the canonical webhook's client configuration: its Service (istiod or istiod-REVISION), path and CA bundle
    client = ((canonical.get("webhooks") or [{}])[0].get("clientConfig") or {}) or {
        "service": {"name": "istiod" if rev == "default" else "istiod-" + rev, "namespace": NAMESPACE,
                    "path": "/inject", "port": 443}}
    not_false = [{"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}]
    hooks = [
        _hook("rev.namespace.", client,
              [{"key": "istio.io/rev", "operator": "In", "values": [tag]},
               {"key": "istio-injection", "operator": "DoesNotExist"}], not_false),
        _hook("rev.object.", client,
              [{"key": "istio.io/rev", "operator": "DoesNotExist"},
               {"key": "istio-injection", "operator": "DoesNotExist"}],
              not_false + [{"key": "istio.io/rev", "operator": "In", "values": [tag]}]),
    ]
    if tag == "default":
        hooks += [
            _hook("namespace.", client,
                  [{"key": "istio-injection", "operator": "In", "values": ["enabled"]}], not_false),
            _hook("object.", client,
                  [{"key": "istio-injection", "operator": "DoesNotExist"},
                   {"key": "istio.io/rev", "operator": "DoesNotExist"}],
                  [{"key": "sidecar.istio.io/inject", "operator": "In", "values": ["true"]},
                   {"key": "istio.io/rev", "operator": "DoesNotExist"}]),
        ]
    labels = {"istio.io/tag": tag, "istio.io/rev": rev, "app": "sidecar-injector", "release": "istio",
              "app.kubernetes.io/name": "istiod", "app.kubernetes.io/instance": "istio",
              "app.kubernetes.io/part-of": "istio", "app.kubernetes.io/version": VERSION}
    labels.update(install_labels or {})
    name = "istio-revision-tag-%s" % tag if NAMESPACE == "istio-system" else "istio-revision-tag-%s-%s" % (
        tag, NAMESPACE)
    webhook = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
               "metadata": {"name": name, "labels": labels}, "webhooks": hooks}
    selector = {"app": "istiod", "istio.io/rev": rev} if revision and revision != "default" else {
        "app": "istiod", "istio": "pilot"}
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "istiod-revision-tag-%s" % tag, "namespace": NAMESPACE,
                        "labels": dict(labels, app="istiod", istio="pilot")},
           "spec": {"ports": [{"port": 15010, "name": "grpc-xds", "protocol": "TCP"},
                              {"port": 15012, "name": "https-dns", "protocol": "TCP"},
                              {"port": 443, "name": "https-webhook", "targetPort": 15017, "protocol": "TCP"},
                              {"port": 15014, "name": "http-monitoring", "protocol": "TCP"}],
                    "selector": selector}}
    if tag != "default":
        return [webhook, svc]
    validator_labels = dict(labels, app="istiod", istio="istiod")
    validator = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "istiod-default-validator", "labels": validator_labels},
        "webhooks": [{
            "name": "validation.istio.io",
            "clientConfig": {"service": {"name": (client.get("service") or {}).get("name") or (
                "istiod" if rev == "default" else "istiod-" + rev), "namespace": NAMESPACE, "path": "/validate",
                "port": 443}},
            "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [
                "security.istio.io", "networking.istio.io", "telemetry.istio.io", "extensions.istio.io"],
                "apiVersions": ["*"], "resources": ["*"], "scope": "*"}],
            "failurePolicy": "Ignore", "sideEffects": "None", "admissionReviewVersions": ["v1"],
            "matchPolicy": "Equivalent", "timeoutSeconds": 10, "namespaceSelector": {},
            "objectSelector": {"matchExpressions": [{"key": "istio.io/rev", "operator": "DoesNotExist"}]}}]}
    return [webhook, validator, svc]


def cmd_tag_set(args, kube):
    if len(args.tag) != 1:
        raise Failure("Error: must provide a tag for modification" if not args.tag else
                      "Error: must provide a single tag for creation")
    if not args.revision:
        raise Failure('Error: required flag(s) "revision" not set')
    tag, revision = args.tag[0], args.revision
    if not args.overwrite and tag != "default" and (
            _webhooks_with_revision(kube, tag) or _services_with_revision(kube, tag)):
        raise Failure('Error: cannot create revision tag "%s": found existing control plane revision with same name'
                      % tag)
    canonical = _webhooks_with_revision(kube, revision)
    if not canonical and not _services_with_revision(kube, revision):
        raise Failure('Error: cannot modify tag: cannot find MutatingWebhookConfiguration or Service with revision "%s"'
                      % revision)
    if len(canonical) > 1:
        raise Failure('Error: cannot modify tag: found multiple canonical webhooks or services with revision "%s"'
                      % revision)
    if not args.overwrite and any(_tag_objects(kube, tag)):
        raise Failure('Error: revision tag "%s" already exists, and --overwrite is false' % tag)
    objects = tag_objects(tag, revision, canonical[0] if canonical else {})
    if tag == "default":
        _deactivate_default_injector(kube)
    for obj in objects:
        # server-side apply as istioctl's kube client applies (pkg/kube/client.go ApplyYAMLContents: field manager
        # istio-ci, forced): labels another manager set - an install's, on the default tag it made - stay
        kube.apply(obj, manager=TAG_FIELD_MANAGER)
    print('Revision tag "%s" created, referencing control plane revision "%s". To enable injection using this\n'
          "revision tag, use 'kubectl label namespace <NAMESPACE> istio.io/rev=%s'" % (tag, revision, tag))
    return 0


def cmd_tag_remove(args, kube):
    if len(args.tag) != 1:
        raise Failure("Error: must provide a tag for removal" if not args.tag else
                      "Error: must provide a single tag for removal")
    tag = args.tag[0]
    webhooks, services = _tag_objects(kube, tag)
    if not webhooks and not services:
        raise Failure('Error: cannot remove tag "%s": cannot find MutatingWebhookConfiguration or Service for tag' % tag)
    namespaces = _namespaces_with_tag(kube, tag)
    if namespaces and not args.skip_confirmation:
        sys.stdout.write('Caution, found %d namespace(s) still injected by tag "%s": %s\nProceed with operation? '
                         "[y/N]" % (len(namespaces), tag, " ".join(namespaces)))
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            print("Aborting operation.")
            return 0
    for obj in webhooks:
        kube.delete(dict(obj, apiVersion="admissionregistration.k8s.io/v1", kind="MutatingWebhookConfiguration"))
    for obj in services:
        kube.delete(dict(obj, apiVersion="v1", kind="Service"))
    print("Revision tag %s removed" % tag)
    return 0


def cmd_tag_list(args, kube):
    found = {}
    for hook in _items(kube, WEBHOOKS, labelSelector="istio.io/rev"):
        labels = hook["metadata"].get("labels") or {}
        found[(labels.get("istio.io/tag", ""), labels["istio.io/rev"])] = True
    for svc in _items(kube, "/api/v1/namespaces/%s/services" % NAMESPACE, labelSelector="istio.io/rev"):
        labels = svc["metadata"].get("labels") or {}
        found[(labels.get("istio.io/tag", ""), labels["istio.io/rev"])] = True
    tagged_revisions = set(rev for tag, rev in found if tag)
    rows = sorted(({"tag": tag, "revision": rev, "namespaces": _namespaces_with_tag(kube, tag) if tag else []}
                   for tag, rev in found if tag or rev not in tagged_revisions),
                  key=lambda r: (r["revision"], r["tag"]))
    if args.output in ("json", "yaml"):
        text = json.dumps(rows, indent="\t")
        print(text if args.output == "json" else yaml.safe_dump(rows, sort_keys=False), end="\n")
        return 0
    if args.output not in ("", "table"):
        raise Failure("Error: unknown format: %s" % args.output)
    if not rows:
        print("No Istio revision tags found.")
        return 0
    width = [max(len(h), *(len(r[k] if k != "namespaces" else ",".join(r[k])) for r in rows)) + 1
             for h, k in (("TAG", "tag"), ("REVISION", "revision"))]
    print("%-*s%-*s%s" % (width[0], "TAG", width[1], "REVISION", "NAMESPACES"))
    for row in rows:
        print("%-*s%-*s%s" % (width[0], row["tag"], width[1], row["revision"], ",".join(row["namespaces"])))
    return 0


def cmd_proxy_status(args, kube):
    """istioctl proxy-status: every proxy connected to a control plane, with the istiod pod it is connected to (the
    ISTIOD column: a pod of the revision the proxy was injected by - its discovery address is that revision's
    istiod Service - not the revision's name); a proxy whose revision has no running istiod is connected to none and
    not listed. NAMESPACE narrows the list to one namespace."""
    rows = []
    pods = istiod_pods(kube)
    for plane in data_plane(kube):
        if args.namespace and not plane["ID"].endswith("." + args.namespace):
            continue
        names = pods.get(plane["Revision"])
        if names:
            # a proxy stays on the istiod replica it dialled; spread over the replicas by its name
            rows.append((plane["ID"], names[sum(map(ord, plane["ID"])) % len(names)], plane["IstioVersion"]))
    width = [max([len("NAME")] + [len(r[0]) for r in rows]) + 3, max([len("ISTIOD")] + [len(r[1]) for r in rows]) + 3]
    print("%-*s%-15s%-11s%-11s%-11s%-11s%-13s%-*s%s" % (width[0], "NAME", "CLUSTER", "CDS", "LDS", "EDS", "RDS",
                                                        "ECDS", width[1], "ISTIOD", "VERSION"))
    for name, istiod, version in sorted(rows):
        print("%-*s%-15s%-11s%-11s%-11s%-11s%-13s%-*s%s" % (width[0], name, "Kubernetes", "SYNCED", "SYNCED", "SYNCED",
                                                            "SYNCED", "NOT SENT", width[1], istiod, version))
    return 0


def _camel(name):
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def proto_json(value, keep_keys=False):
    """An Envoy admin dump (snake_case field names) as istioctl prints its messages: protojson, lowerCamelCase field
    names (istioctl/pkg/util/proto/messageslice.go, protomarshal.Marshal); the keys of a map field such as
    filter_metadata, and of the Structs in it, are data and stay as they are."""
    if isinstance(value, list):
        return [proto_json(item, keep_keys) for item in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key == "@type":
            continue  # the dumped route configs are unpacked from their Any
        name = key if keep_keys else _camel(key)
        if key == "filter_metadata" and not keep_keys:
            out[name] = {k: proto_json(v, True) for k, v in item.items()}
        else:
            out[name] = proto_json(item, keep_keys)
    return out


def _proxy_pod(kube, target, namespace):
    """The pod a proxy-config argument names (istioctl's InferPodInfoFromTypedResource): POD, POD.NAMESPACE, or
    TYPE/NAME for a Deployment (deploy, deployment, deployments), whose first running pod is taken."""
    kind, dummy, name = target.rpartition("/")
    if "." in name:
        name, namespace = name.split(".", 1)
    if not kind:
        return name, namespace
    if kind not in ("deploy", "deployment", "deployments"):
        raise Failure("Error: unsupported resource type %s" % kind)
    deployment = kube.get("/apis/apps/v1/namespaces/%s/deployments/%s" % (namespace, name))
    if deployment is None:
        raise Failure('Error: deployments.apps "%s" not found' % name)
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    pods = kube.get("/api/v1/namespaces/%s/pods" % namespace,
                    labelSelector=",".join("%s=%s" % item for item in sorted(labels.items()))) or {}
    running = sorted(p["metadata"]["name"] for p in pods.get("items", [])
                     if (p.get("status") or {}).get("phase") == "Running")
    if not running:
        raise Failure("Error: no running pods for deployment %s" % name)
    return running[0], namespace


def cmd_proxy_config(args, kube):
    """istioctl proxy-config routes: the route configuration the proxy's Envoy holds, read from its admin port through
    a port-forward (istioctl/pkg/writer/envoy/configdump/route.go): -o json prints the RouteConfigurations, the
    dynamic ones first; the default table lists each route with its virtual host, match and VirtualService."""
    name, namespace = _proxy_pod(kube, args.target, args.namespace or "default")
    if kube.get("/api/v1/namespaces/%s/pods/%s" % (namespace, name)) is None:
        raise Failure('Error: pods "%s" not found' % name)
    dump = kube.get("/sandbox/portforward/%s/%s/15000/config_dump" % (namespace, name))
    if dump is None:
        raise Failure("Error: failed to execute command on sidecar: config_dump not found")
    routes = []
    for section in dump.get("configs") or []:
        routes.extend(entry["route_config"] for entry in section.get("dynamic_route_configs") or [])
        routes.extend(entry["route_config"] for entry in section.get("static_route_configs") or [])
    if args.name:
        routes = [r for r in routes if r.get("name") == args.name]
    if args.output in ("json", "yaml"):
        out = proto_json(routes)
        print(json.dumps(out, indent=4) if args.output == "json" else yaml.safe_dump(out, default_flow_style=False))
        return 0
    rows = [("NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE")]
    for route in routes:
        for host in route.get("virtual_hosts") or []:
            for entry in host.get("routes") or []:
                match = entry.get("match") or {}
                described = ("PathPrefix:" + match["path_separated_prefix"] if "path_separated_prefix" in match
                             else match.get("path") or (match.get("prefix", "/") + "*"))
                config = ((entry.get("metadata") or {}).get("filter_metadata") or {}).get("istio", {}).get("config", "")
                pieces = config.split("/")
                rows.append((route.get("name", ""), host.get("name", ""), ", ".join(host.get("domains") or []),
                             described, "%s.%s" % (pieces[7], pieces[5]) if len(pieces) == 8 else ""))
    widths = [max(len(r[i]) for r in rows) + 5 for i in range(4)]
    for row in rows:
        print("".join(cell.ljust(width) for cell, width in zip(row, widths)) + row[4])
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="istioctl", add_help=True)
    parser.add_argument("--kubeconfig", "-c")
    parser.add_argument("--context")
    parser.add_argument("--istioNamespace", "-i", default=None)
    parser.add_argument("--vklog", default=None)
    parser.add_argument("--as", dest="as_user", default=None)
    parser.add_argument("--as-group", dest="as_group", action="append", default=[])
    parser.add_argument("--as-uid", dest="as_uid", default=None)
    sub = parser.add_subparsers(dest="command", required=True)
    version = sub.add_parser("version")
    version.add_argument("--remote", default="true", type=lambda v: str(v).lower() != "false", nargs="?", const=True)
    version.add_argument("-o", "--output", default="")
    version.add_argument("--short", "-s", action="store_true")
    for name in ("install", "upgrade"):
        install = sub.add_parser(name)
        install.add_argument("-y", "--skip-confirmation", action="store_true")
        install.add_argument("--set", "-s", action="append")
        install.add_argument("-f", "--filename", action="append")
        install.add_argument("-r", "--revision", default="")
        install.add_argument("--readiness-timeout", default="5m0s")
        install.add_argument("--verify", action="store_true")
    uninstall = sub.add_parser("uninstall")
    uninstall.add_argument("-y", "--skip-confirmation", action="store_true")
    uninstall.add_argument("--purge", action="store_true")
    uninstall.add_argument("-r", "--revision", default="")
    uninstall.add_argument("-f", "--filename", action="append")
    experimental = sub.add_parser("x", aliases=["experimental"])
    xsub = experimental.add_subparsers(dest="xcommand", required=True)
    xsub.add_parser("precheck")
    analyze = sub.add_parser("analyze")
    analyze.add_argument("-n", "--namespace")
    analyze.add_argument("-A", "--all-namespaces", action="store_true")
    analyze.add_argument("-o", "--output", default="log")
    manifest = sub.add_parser("manifest")
    msub = manifest.add_subparsers(dest="mcommand", required=True)
    generate = msub.add_parser("generate")
    generate.add_argument("--set", "-s", action="append")
    generate.add_argument("-f", "--filename", action="append")
    generate.add_argument("-r", "--revision", default="")
    tag = sub.add_parser("tag")
    tsub = tag.add_subparsers(dest="tcommand", required=True)
    tag_list = tsub.add_parser("list")
    tag_list.add_argument("-o", "--output", default="table")
    tag_set = tsub.add_parser("set")
    tag_set.add_argument("tag", nargs="*")
    tag_set.add_argument("-r", "--revision", default="")
    tag_set.add_argument("--overwrite", action="store_true")
    tag_set.add_argument("-y", "--skip-confirmation", action="store_true")
    tag_remove = tsub.add_parser("remove")
    tag_remove.add_argument("tag", nargs="*")
    tag_remove.add_argument("-y", "--skip-confirmation", action="store_true")
    config = sub.add_parser("proxy-config", aliases=["pc"])
    csub = config.add_subparsers(dest="pccommand", required=True)
    routes = csub.add_parser("route", aliases=["routes", "r"])
    routes.add_argument("target")
    routes.add_argument("-n", "--namespace")
    routes.add_argument("-o", "--output", default="short", choices=["json", "yaml", "short"])
    routes.add_argument("--name", default="")
    status = sub.add_parser("proxy-status", aliases=["ps"])
    status.add_argument("pod", nargs="?", default=None)
    status.add_argument("-n", "--namespace")
    return parser


GLOBAL_FLAGS = {"--kubeconfig": "kubeconfig", "-c": "kubeconfig", "--context": "context",
                "--istioNamespace": "istioNamespace", "-i": "istioNamespace", "--vklog": "vklog", "--as": "as_user",
                "--as-group": "as_group", "--as-uid": "as_uid"}


def split_global_flags(argv):
    """Cobra takes persistent flags anywhere on the line; argparse wants them first."""
    front, rest = [], []
    index = 0
    while index < len(argv):
        arg = argv[index]
        name = arg.split("=", 1)[0]
        if name in GLOBAL_FLAGS:
            if "=" in arg:
                front.append(arg)
            else:
                front.extend(argv[index:index + 2])
                index += 1
        else:
            rest.append(arg)
        index += 1
    return front + rest


def main(argv=None):
    global NAMESPACE  # pylint: disable=global-statement
    args = build_parser().parse_args(split_global_flags(sys.argv[1:] if argv is None else argv))
    # the control-plane namespace: --istioNamespace for every command, values.global.istioNamespace for install
    for item in getattr(args, "set", None) or []:
        if item.startswith("values.global.istioNamespace="):
            NAMESPACE = item.split("=", 1)[1]
    if getattr(args, "istioNamespace", None):
        NAMESPACE = args.istioNamespace
    try:
        if args.command == "manifest":
            return cmd_manifest_generate(args, None)
        if args.command == "version" and not args.remote:
            return cmd_version(args, None)
        kube = Kube(args.kubeconfig, args.context,
                    {"user": args.as_user, "groups": args.as_group, "uid": args.as_uid})
        if args.command in ("install", "upgrade"):
            return cmd_install(args, kube)
        if args.command == "uninstall":
            return cmd_uninstall(args, kube)
        if args.command == "version":
            return cmd_version(args, kube)
        if args.command in ("x", "experimental"):
            return cmd_precheck(args, kube)
        if args.command == "analyze":
            return cmd_analyze(args, kube)
        if args.command == "tag":
            return {"list": cmd_tag_list, "set": cmd_tag_set, "remove": cmd_tag_remove}[args.tcommand](args, kube)
        if args.command in ("proxy-config", "pc"):
            return cmd_proxy_config(args, kube)
        return cmd_proxy_status(args, kube)
    except Failure as exc:
        sys.stderr.write(str(exc) + "\n")
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
