"""`istioctl install`, `uninstall` and `manifest generate`: what they write, wait for, prune and print."""

import sys
import time

from .. import yamlio as yaml

from . import common
from .charts import MARKS, component_of, manifests, profile_components
from .common import COMPONENT_LABEL, Failure, OWNER_LABEL, PROFILES, VERSION
from .kube import PLURALS, list_items
from .status import data_plane
from .tags import WEBHOOKS, deactivate_default_injector, tag_objects, webhooks_with_revision


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
            dep = kube.get("/apis/apps/v1/namespaces/%s/deployments/%s" % (common.NAMESPACE, name))
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
                          "errors occurred during operation" % (args.readiness_timeout, common.NAMESPACE))
        for obj in owned:
            kube.apply(obj)
        pending = deployments_ready(kube, [o["metadata"]["name"] for o in owned if o["kind"] == "Deployment"],
                                    timeout)
        if pending:
            raise Failure("\u2718 %s encountered an error: failed to wait for resource: resources not ready after %s: "
                          "context deadline exceeded\n%s\nError: failed to install manifests: errors occurred during "
                          "operation" % (MARKS[component], args.readiness_timeout, "\n".join(
                              "  Deployment/%s/%s (container failed to start)" % (common.NAMESPACE, n) for n in pending)))
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
    exists = list_items(kube, WEBHOOKS, labelSelector="app=sidecar-injector,istio.io/tag=default")
    if exists and revision:
        return
    canonical = webhooks_with_revision(kube, revision or "default")
    if len(canonical) != 1:
        return  # "If tag cannot be created could be remote cluster install, don't fail out."
    install_labels = {OWNER_LABEL: "installed-state", COMPONENT_LABEL: "Pilot",
                      "install.operator.istio.io/owning-resource-not-pruned": "true",
                      "operator.istio.io/managed": "Reconcile", "operator.istio.io/version": VERSION}
    deactivate_default_injector(kube)
    for obj in tag_objects("default", revision, canonical[0], install_labels):
        kube.apply(obj)


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
        for item in list_items(kube, "%s/%s" % (base, PLURALS[kind]), labelSelector=selector):
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
        found = set((h["metadata"].get("labels") or {}).get("istio.io/rev") or "default" for h in list_items(kube, WEBHOOKS))
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


def cmd_manifest_generate(args, kube):
    values = parse_sets(args.set, args.filename)
    profile = values.pop("profile", None) or "default"
    if profile not in PROFILES:
        raise Failure("Error: could not read profile %s" % profile)
    docs = manifests(profile, args.revision or values.pop("revision", ""), values)
    print(yaml.safe_dump_all(docs, sort_keys=False), end="")
    return 0
