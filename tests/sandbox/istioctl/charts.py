"""What `istioctl install` renders: Istio's own manifest-generate golden (../shared/upstream), retargeted to the
profile, revision, hub, tag and namespace asked, its components wired as the charts wire them."""

import json
import re

from .. import yamlio as yaml

from .. import upstream
from . import common
from .common import COMPONENT_LABEL, Failure, OWNER_LABEL, VERSION
from .kube import CLUSTER_SCOPED


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
        if old_ns != common.NAMESPACE:
            # the charts render .Release.Namespace wherever the golden has istio-system: metadata, webhook
            # Services, subjects, names (istio-reader-clusterrole-NS) and addresses (istiod.NS.svc:15012)
            value = re.sub(r"(?<![A-Za-z0-9-])%s(?![A-Za-z0-9-])" % re.escape(old_ns), common.NAMESPACE, value)
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
    objs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": common.NAMESPACE}}]
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
            meta["namespace"] = common.NAMESPACE
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
            ref["namespace"] = common.NAMESPACE
    if kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        hooks = []
        for hook in obj.get("webhooks") or []:
            service = (hook.get("clientConfig") or {}).get("service") or {}
            if service.get("name") in renames:
                service["name"] = renames[service["name"]]
            service["namespace"] = common.NAMESPACE
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
        data.setdefault("global", {}).update(hub=hub, tag=tag, istioNamespace=common.NAMESPACE)
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
