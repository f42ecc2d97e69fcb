"""Objects checked against their OpenAPI schemas, as the API server checks them: a built-in kind against the schema
kubernetes_validate carries for the server's release, a custom resource against its CRD's structural schema; and
what decoding into the typed object does to JSON nulls and to emptied omitempty fields before the object is
stored."""

import functools

from . import validation

try:
    import kubernetes_validate
    import kubernetes_validate.utils
except ImportError:  # validation of built-in kinds is then skipped
    kubernetes_validate = None
else:
    # kubernetes_validate.validate() lists the schema versions it carries and reads and parses the kind's schema
    # and the whole _definitions.json from disk on every call (all_versions and schema_contents in
    # kubernetes_validate/utils.py), tens of milliseconds a write: with every write validated, a few thousand pods
    # (each with its events and status updates) kept the sandbox busy for minutes. Those files never change while
    # it runs, so each is listed or parsed once; validate() itself is unchanged.
    for _name in ("all_versions", "schema_contents"):
        setattr(kubernetes_validate.utils, _name, functools.lru_cache(maxsize=None)(
            getattr(kubernetes_validate.utils, _name)))

try:
    import jsonschema
except ImportError:
    jsonschema = None

# the Kubernetes release whose schemas the built-in kinds are held to (the sandbox's API server version)
KUBE_VERSION = "1.32"


def _builtin_schema(kind):
    """(the kind's JSON schema, the shared definitions) as kubernetes_validate carries them, or (None, None)."""
    if kubernetes_validate is None:
        return None, None
    version = [v for v in kubernetes_validate.utils.all_versions()
               if kubernetes_validate.utils.major_minor(v) <= KUBE_VERSION][-1]
    group = kind.group.split(".")[0] if kind.group else ""
    base = "kubernetes-json-schema/v%s-local/" % version
    try:
        schema = kubernetes_validate.utils.schema_contents(
            base + "%s-%s.json" % (kind.kind.lower(), "%s-%s" % (group, kind.version) if group else kind.version),
            KUBE_VERSION)
        definitions = kubernetes_validate.utils.schema_contents(base + "_definitions.json", KUBE_VERSION)["$defs"]
    except (OSError, kubernetes_validate.utils.VersionNotSupportedError, KeyError):
        return None, None
    return schema, definitions


# Fields of the typed objects that are tagged omitempty and that clients empty to remove what they held: an empty
# list is not written out again (k8s.io/api core/v1 types.go NodeSpec: Taints []Taint `json:"taints,omitempty"`),
# so `kubectl taint node N key-` on the last taint leaves a node without spec.taints.
OMITTED_WHEN_EMPTY = {("", "Node"): (("spec", "taints"),)}


def drop_empty(kind, obj):
    for path in OMITTED_WHEN_EMPTY.get((kind.group, kind.kind), ()):
        parent = obj
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and parent.get(path[-1]) in ([], {}):
            del parent[path[-1]]


def decode_nulls(kind, obj):
    """What decoding into the typed object does to JSON nulls (k8s.io/apimachinery's JSON serializer over
    sigs.k8s.io/json, Go's encoding/json rules: decode.go literalStore/indirect): a struct field given null is left
    unset, so it is not stored; a map entry given null holds the element's zero value - resource.Quantity's
    UnmarshalJSON takes null as zero ("0", apimachinery pkg/api/resource/quantity.go), a string is "". So a merge
    patch that
    replaces a list of containers keeping ``memory: null`` (kubernetes.core's apply, dropping a field) is stored
    with that request at 0, not refused."""
    if not isinstance(obj, dict) or not _has_null(obj):
        return
    schema, definitions = _builtin_schema(kind)
    if schema is not None:
        _decode(obj, schema, definitions, 0)


def _has_null(value):
    if isinstance(value, dict):
        return any(v is None or _has_null(v) for v in value.values())
    if isinstance(value, list):
        return any(v is None or _has_null(v) for v in value)
    return False


def _resolve(node, definitions):
    while isinstance(node, dict) and "$ref" in node:
        node = definitions.get(node["$ref"].rsplit("/", 1)[-1]) or {}
    return node or {}


def _zero(node, definitions):
    node = _resolve(node, definitions)
    kinds = [t for option in node.get("oneOf") or [node] for t in
             (option.get("type") if isinstance(option.get("type"), list) else [option.get("type")])]
    if "number" in kinds and "string" in kinds:
        return "0"  # resource.Quantity
    if kinds[:1] == ["string"]:
        return ""
    return None


def _decode(value, node, definitions, depth):
    node = _resolve(node, definitions)
    if depth > 40:
        return
    if isinstance(value, dict):
        properties = node.get("properties")
        items = node.get("additionalProperties")
        for key in list(value):
            if value[key] is None:
                zero = _zero(items, definitions) if isinstance(items, dict) and not properties else None
                if zero is None:
                    del value[key]
                else:
                    value[key] = zero
            elif properties and key in properties:
                _decode(value[key], properties[key], definitions, depth + 1)
            elif isinstance(items, dict):
                _decode(value[key], items, definitions, depth + 1)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for item in value:
            _decode(item, node["items"], definitions, depth + 1)


def builtin_causes(kind, obj):
    body = {k: v for k, v in obj.items() if k != "status"}  # status is the controllers' to write
    try:
        kubernetes_validate.validate(body, KUBE_VERSION, strict=False)
    except kubernetes_validate.ValidationError as exc:
        # the OpenAPI schema calls a field without omitempty required where the server's own validation does not:
        # a StatefulSet's spec.serviceName is optional (kubernetes/kubernetes#130233 marks it so: "This field is
        # NOT required")
        return [c for c in validation.schema_error_causes(exc)
                if not (kind.kind == "StatefulSet" and c.get("field") == "spec.serviceName"
                        and c.get("reason") == "FieldValueRequired")]
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError):
        return []
    return []


def schema_causes(schema, obj):
    cleaned = _schema_for_jsonschema(schema)
    body = {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind")}
    props = dict(cleaned.get("properties") or {})
    for key in ("metadata", "apiVersion", "kind"):
        props.pop(key, None)
    cleaned["properties"] = props
    causes = []
    for error in jsonschema.Draft4Validator(cleaned).iter_errors(body):
        for cause in validation.schema_error_causes(error):
            if cause not in causes:  # one "required" error per missing property, each naming them all
                causes.append(cause)
    return causes


def _schema_for_jsonschema(schema):
    """Kubernetes' structural schemas use x-kubernetes-* extensions; keep the rest."""
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key == "x-kubernetes-int-or-string" and value:
                out.pop("type", None)
                out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
                continue
            if key.startswith("x-kubernetes-"):
                continue
            if key == "nullable":
                continue
            out[key] = _schema_for_jsonschema(value)
        if schema.get("x-kubernetes-int-or-string"):
            out.pop("type", None)
        return out
    if isinstance(schema, list):
        return [_schema_for_jsonschema(v) for v in schema]
    return schema


def causes(kind, obj, builtin):
    """A custom resource against its CRD's schema; a built-in kind against kubernetes_validate's; [] when the
    library for it is missing."""
    if kind.schema is not None and jsonschema is not None:
        return schema_causes(kind.schema, obj)
    if builtin and kubernetes_validate is not None:
        return builtin_causes(kind, obj)
    return []
