"""The API server's own validation of built-in kinds, beyond their OpenAPI schemas: the rules of
kubernetes/pkg/apis/core/validation/validation.go (ValidatePodSpec, validateContainers, ValidateService...) and
pkg/apis/apps/validation/validation.go (ValidateDeploymentSpec, ValidateStatefulSetUpdate...), with the field
paths and messages the real server answers (field.Required, field.Invalid, field.Duplicate, field.Forbidden).

Each function returns causes: {"field", "reason", "message"} as the 422 Status carries them."""

import json
import re

from .selection import label_matches, selector_from_match

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
WORKLOADS = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"}
# fields of a StatefulSet spec an update may change (ValidateStatefulSetUpdate)
STATEFULSET_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                       "minReadySeconds")


def required(path):
    return {"field": path, "reason": "FieldValueRequired", "message": "Required value"}


def schema_error_causes(error):
    """A jsonschema ValidationError (an object against its OpenAPI schema) as the causes the API server reports:
    for missing properties, field.Required on each one's own path - what both the built-in validation
    (field.Required(fldPath.Child(name), "")) and the custom-resource validation (apiextensions-apiserver's
    kubeOpenAPIResultToFieldErrors: RequiredFailCode -> field.Required) answer; otherwise the schema's complaint
    on the field. Both render an index as "[i]": field.Path (k8s.io/apimachinery/pkg/util/validation/field/
    path.go) and kube-openapi's array validator (k8s.io/kube-openapi/pkg/validation/validate/slice_validator.go),
    "spec.containers[0].env[0].name"."""
    path = ""
    for part in error.absolute_path:
        path += "[%d]" % part if isinstance(part, int) else ("." if path else "") + str(part)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        if missing:
            return [required((path + "." if path else "") + name) for name in missing]
    return [{"field": path or "<root>", "message": "Invalid value: %s" % error.message}]


def go_value(value):
    """A value as field.Invalid prints it (Go's %#v): strings quoted, string maps as map[string]string{...}."""
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        pairs = ["%s:%s" % (json.dumps(k), json.dumps(v)) for k, v in sorted(value.items())]
        return "map[string]string{%s}" % ", ".join(pairs)
    return json.dumps(value, sort_keys=True)


def invalid(path, value, detail):
    shown = go_value(value)
    return {"field": path, "reason": "FieldValueInvalid", "message": "Invalid value: %s: %s" % (shown, detail)}


def label_key_causes(path, labels):
    """metav1validation.ValidateLabels: each key a qualified name (optional DNS-subdomain prefix and '/')."""
    causes = []
    for key in labels or {}:
        prefix, dummy, name = key.rpartition("/")
        if (prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix))) or len(name) > 63 or \
                not QUALIFIED_NAME.match(name or ""):
            causes.append(invalid(path, key, "name part must consist of alphanumeric characters, '-', '_' or '.', "
                                             "and must start and end with an alphanumeric character"))
    return causes


def _containers(path, containers, seen, require_image=True):
    causes = []
    for index, container in enumerate(containers or []):
        if not isinstance(container, dict):
            continue
        here = "%s[%d]" % (path, index)
        name = container.get("name") or ""
        if not name:
            causes.append(required(here + ".name"))
        elif not DNS_LABEL.match(name) or len(name) > 63:
            causes.append(invalid(here + ".name", name, "a lowercase RFC 1123 label must consist of lower case "
                                                        "alphanumeric characters or '-'"))
        elif name in seen:
            causes.append({"field": here + ".name", "reason": "FieldValueDuplicate",
                           "message": "Duplicate value: %s" % json.dumps(name)})
        seen.add(name)
        if require_image and not (container.get("image") or "").strip():
            causes.append(required(here + ".image"))
    return causes


def pod_spec_causes(path, spec):
    """ValidatePodSpec: at least one container; containers and init containers named uniquely, each with an
    image; restartPolicy Always, OnFailure or Never."""
    if not isinstance(spec, dict):
        return []
    causes = []
    if not spec.get("containers"):
        causes.append(required(path + ".containers"))
    seen = set()
    causes.extend(_containers(path + ".initContainers", spec.get("initContainers"), seen))
    causes.extend(_containers(path + ".containers", spec.get("containers"), seen))
    policy = spec.get("restartPolicy")
    if policy is not None and policy not in ("Always", "OnFailure", "Never"):
        causes.append({"field": path + ".restartPolicy", "reason": "FieldValueNotSupported",
                       "message": 'Unsupported value: %s: supported values: "Always", "OnFailure", "Never"'
                                  % json.dumps(policy)})
    return causes


def workload_causes(kind, obj):
    """ValidateDeploymentSpec / ValidateReplicaSetSpec / ValidateStatefulSetSpec / ValidateDaemonSetSpec /
    ValidateJobSpec: a selector that is not empty and matches the template's labels, and a valid pod template."""
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    causes = []
    selector = spec.get("selector")
    labels = (template.get("metadata") or {}).get("labels") or {}
    if kind != "Job" or selector is not None:
        if not selector or not ((selector.get("matchLabels") or selector.get("matchExpressions"))):
            causes.append(required("spec.selector"))
        elif not label_matches(selector_from_match(selector), labels):
            causes.append(invalid("spec.template.metadata.labels", labels,
                                  "`selector` does not match template `labels`"))
    causes.extend(label_key_causes("spec.template.metadata.labels", labels))
    template_spec = template.get("spec")
    if template_spec is None:
        causes.append(required("spec.template.spec"))
    else:
        causes.extend(pod_spec_causes("spec.template.spec", template_spec))
        policy = template_spec.get("restartPolicy")
        if kind == "Job" and policy not in (None, "OnFailure", "Never"):
            causes.append({"field": "spec.template.spec.restartPolicy", "reason": "FieldValueNotSupported",
                           "message": 'Unsupported value: %s: supported values: "OnFailure", "Never"'
                                      % json.dumps(policy)})
        elif kind != "Job" and policy not in (None, "Always"):
            causes.append({"field": "spec.template.spec.restartPolicy", "reason": "FieldValueNotSupported",
                           "message": 'Unsupported value: %s: supported values: "Always"' % json.dumps(policy)})
    return causes


def update_causes(kind, obj, old):
    """Fields the server refuses to change (field.Forbidden / "field is immutable")."""
    if old is None:
        return []
    spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
    causes = []
    if kind in ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet") and \
            spec.get("selector") != old_spec.get("selector"):
        causes.append(invalid("spec.selector", spec.get("selector"), "field is immutable"))
    if kind == "StatefulSet":
        changed = [k for k in set(spec) | set(old_spec) if k not in STATEFULSET_MUTABLE and k != "selector"
                   and spec.get(k) != old_spec.get(k)]
        if changed:
            causes.append({"field": "spec", "reason": "FieldValueForbidden",
                           "message": "Forbidden: updates to statefulset spec for fields other than 'replicas', "
                                      "'ordinals', 'template', 'updateStrategy', "
                                      "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"})
    if kind == "Job" and spec.get("template") != old_spec.get("template"):
        causes.append(invalid("spec.template", spec.get("template"), "field is immutable"))
    if kind == "Service" and old_spec.get("type") == "LoadBalancer" and spec.get("type") == "LoadBalancer" and \
            spec.get("loadBalancerClass") != old_spec.get("loadBalancerClass"):
        # validateLoadBalancerClassField (pkg/apis/core/validation/validation.go): the class of a LoadBalancer
        # Service may not change, nor be set or unset, while it stays a LoadBalancer
        causes.append(invalid("spec.loadBalancerClass", spec.get("loadBalancerClass"), "may not change once set"))
    if kind == "Service" and old_spec.get("clusterIP") not in (None, "") and \
            spec.get("clusterIP") not in (None, "", old_spec.get("clusterIP")):
        causes.append(invalid("spec.clusterIP", spec.get("clusterIP"), "field is immutable"))
    return causes


def service_causes(obj):
    """validateLoadBalancerClassField on any write: a class only on a LoadBalancer Service, and a qualified name."""
    spec = obj.get("spec") or {}
    cls = spec.get("loadBalancerClass")
    if cls is None:
        return []
    if spec.get("type") != "LoadBalancer":
        return [{"field": "spec.loadBalancerClass", "reason": "FieldValueForbidden",
                 "message": "Forbidden: may only be used when `type` is 'LoadBalancer'"}]
    prefix, dummy, name = cls.rpartition("/")
    if (prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix))) or len(name) > 63 or \
            not QUALIFIED_NAME.match(name or ""):
        return [invalid("spec.loadBalancerClass", cls, "name part must consist of alphanumeric characters, '-', '_' "
                                                       "or '.', and must start and end with an alphanumeric character")]
    return []


def revision_causes(obj, old):
    """ValidateControllerRevision / ValidateControllerRevisionUpdate (pkg/apis/apps/validation/validation.go): data
    is mandatory, the revision is non-negative, and data never changes once written."""
    causes = []
    if obj.get("data") is None:
        causes.append({"field": "data", "reason": "FieldValueRequired", "message": "Required value: data is mandatory"})
    revision = obj.get("revision")
    if isinstance(revision, int) and revision < 0:
        causes.append(invalid("revision", revision, "must be greater than or equal to 0"))
    if old is not None and obj.get("data") != old.get("data"):
        raw = json.dumps(obj.get("data"), separators=(",", ":"), sort_keys=True).encode()
        shown = "runtime.RawExtension{Raw:[]uint8{%s}, Object:runtime.Object(nil)}" % ", ".join(
            "0x%x" % b for b in raw)
        causes.append({"field": "data", "reason": "FieldValueInvalid",
                       "message": "Invalid value: %s: field is immutable" % shown})
    return causes


def causes_for(kind, obj, old=None):
    """Every rule above that applies to ``kind`` (a kind name)."""
    causes = label_key_causes("metadata.labels", (obj.get("metadata") or {}).get("labels"))
    if kind == "Service":
        causes.extend(service_causes(obj))
    if kind == "Pod":
        causes.extend(pod_spec_causes("spec", obj.get("spec") or {}))
    elif kind in WORKLOADS:
        causes.extend(workload_causes(kind, obj))
    elif kind == "CronJob":
        job = ((obj.get("spec") or {}).get("jobTemplate") or {})
        causes.extend(pod_spec_causes("spec.jobTemplate.spec.template.spec",
                                      ((job.get("spec") or {}).get("template") or {}).get("spec")))
    elif kind == "ControllerRevision":
        causes.extend(revision_causes(obj, old))
    causes.extend(update_causes(kind, obj, old))
    return causes


def port_causes(obj):
    """Port ranges, which the API server checks beyond the OpenAPI schema."""
    causes = []

    def check(path, value):
        if isinstance(value, int) and not isinstance(value, bool) and not 1 <= value <= 65535:
            causes.append({"field": path, "message": "Invalid value: %d: must be between 1 and 65535, inclusive"
                                                     % value})

    spec = obj.get("spec") or {}
    if obj.get("kind") == "Service":
        for n, port in enumerate(spec.get("ports") or []):
            if isinstance(port, dict):
                check("spec.ports[%d].port" % n, port.get("port"))
                check("spec.ports[%d].targetPort" % n, port.get("targetPort"))
    pod_specs = [("spec", spec)] if obj.get("kind") == "Pod" else []
    template = spec.get("template") if isinstance(spec, dict) else None
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        pod_specs.append(("spec.template.spec", template["spec"]))
    for prefix, pod in pod_specs:
        for field in ("containers", "initContainers"):
            for n, container in enumerate(pod.get(field) or []):
                for m, port in enumerate((container or {}).get("ports") or [] if isinstance(container, dict) else []):
                    if isinstance(port, dict):
                        check("%s.%s[%d].ports[%d].containerPort" % (prefix, field, n, m), port.get("containerPort"))
    return causes


# names of these kinds are DNS labels (at most 63 characters); others are DNS subdomains (253)
LABEL_NAME_KINDS = {"Namespace", "Service"}
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def metadata_causes(group, kind, obj):
    """The object's name, label values and annotation size (apimachinery's ObjectMeta validation)."""
    causes = []
    name = obj["metadata"].get("name", "")
    pattern = DNS_LABEL if kind in LABEL_NAME_KINDS else DNS_SUBDOMAIN
    if group == "rbac.authorization.k8s.io":
        # RBAC's names are path segments (pkg/apis/rbac/validation: path.ValidatePathSegmentName): anything but
        # "." and ".." without "/" or "%" - system:discovery is one
        if name in (".", "..") or "/" in name or "%" in name or not name:
            causes.append({"field": "metadata.name", "message": 'Invalid value: "%s": may not be \'.\' or '
                                                                "'..' and may not contain '/' or '%%'" % name})
    elif kind != "Event" and (len(name) > (63 if kind in LABEL_NAME_KINDS else 253) or not pattern.match(name)):
        causes.append({"field": "metadata.name", "message": 'Invalid value: "%s": a lowercase RFC 1123 %s must '
                                                            'consist of lower case alphanumeric characters or '
                                                            "'-'" % (name, "label" if pattern is DNS_LABEL
                                                                     else "subdomain")})
    for key, value in (obj["metadata"].get("labels") or {}).items():
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
            causes.append({"field": "metadata.labels", "message": 'Invalid value: "%s": a valid label must be an '
                                                                  'empty string or consist of alphanumeric '
                                                                  "characters, '-', '_' or '.'" % (value,)})
    annotations = obj["metadata"].get("annotations") or {}
    if sum(len(k) + len(str(v)) for k, v in annotations.items()) > 262144:
        # apimachinery ValidateAnnotationsSize (TotalAnnotationSizeLimitB, 256 KiB): what a client-side apply of
        # a big CRD meets, its last-applied-configuration annotation holding the whole object
        causes.append({"field": "metadata.annotations", "message": "Too long: must have at most 262144 bytes"})
    return causes
