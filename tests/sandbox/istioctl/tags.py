"""`istioctl tag list/set/remove`: the revision tags' webhooks and Services, as the revision-tags chart templates
make them."""

import json
import sys

from .. import yamlio as yaml

from . import common
from .common import Failure, TAG_FIELD_MANAGER, VERSION
from .kube import list_items, object_path


def deactivate_default_injector(kube):
    """The default revision's own injector stops answering istio-injection=enabled once a default tag takes over
    (istioctl/pkg/tag/util.go DeactivateIstioInjectionWebhook): its webhooks get selectors that never match."""
    for config in webhooks_with_revision(kube, "default"):
        for hook in config.get("webhooks") or []:
            hook["namespaceSelector"] = dict(NEVER_MATCH)
            hook["objectSelector"] = dict(NEVER_MATCH)
        config.update(apiVersion="admissionregistration.k8s.io/v1", kind="MutatingWebhookConfiguration")
        kube.request("PUT", object_path(config), body=config)


WEBHOOKS = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
NEVER_MATCH = {"matchLabels": {"istio.io/deactivated": "never-match"}}  # istioctl/pkg/util/common.go


def webhooks_with_revision(kube, revision):
    return list_items(kube, WEBHOOKS, labelSelector="istio.io/rev=%s,!istio.io/tag" % revision)


def _services_with_revision(kube, revision):
    return list_items(kube, "/api/v1/namespaces/%s/services" % common.NAMESPACE,
                      labelSelector="istio.io/rev=%s,!istio.io/tag,app=istiod" % revision)


def _tag_objects(kube, tag):
    return (list_items(kube, WEBHOOKS, labelSelector="istio.io/tag=%s" % tag),
            list_items(kube, "/api/v1/namespaces/%s/services" % common.NAMESPACE, labelSelector="istio.io/tag=%s" % tag))


def _namespaces_with_tag(kube, tag):
    return sorted(n["metadata"]["name"] for n in list_items(kube, "/api/v1/namespaces", labelSelector="istio.io/rev=%s" % tag))


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
        "service": {"name": "istiod" if rev == "default" else "istiod-" + rev, "namespace": common.NAMESPACE,
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
    name = "istio-revision-tag-%s" % tag if common.NAMESPACE == "istio-system" else "istio-revision-tag-%s-%s" % (
        tag, common.NAMESPACE)
    webhook = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
               "metadata": {"name": name, "labels": labels}, "webhooks": hooks}
    selector = {"app": "istiod", "istio.io/rev": rev} if revision and revision != "default" else {
        "app": "istiod", "istio": "pilot"}
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "istiod-revision-tag-%s" % tag, "namespace": common.NAMESPACE,
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
                "istiod" if rev == "default" else "istiod-" + rev), "namespace": common.NAMESPACE, "path": "/validate",
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
            webhooks_with_revision(kube, tag) or _services_with_revision(kube, tag)):
        raise Failure('Error: cannot create revision tag "%s": found existing control plane revision with same name'
                      % tag)
    canonical = webhooks_with_revision(kube, revision)
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
        deactivate_default_injector(kube)
    for obj in objects:
        # server-side apply as istioctl's kube client applies (pkg/kube/client.go ApplyYAMLContents: field manager
        # istio-ci, forced): labels another manager set - an install's, on the default tag it made - stay
        kube.apply(obj, manager=TAG_FIELD_MANAGER)
    print('Revision tag "%s" created, referencing control plane revision "%s". To enable injection using this\n'
          "revision tag, use 'kubectl label namespace <common.NAMESPACE> istio.io/rev=%s'" % (tag, revision, tag))
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
    for hook in list_items(kube, WEBHOOKS, labelSelector="istio.io/rev"):
        labels = hook["metadata"].get("labels") or {}
        found[(labels.get("istio.io/tag", ""), labels["istio.io/rev"])] = True
    for svc in list_items(kube, "/api/v1/namespaces/%s/services" % common.NAMESPACE, labelSelector="istio.io/rev"):
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
