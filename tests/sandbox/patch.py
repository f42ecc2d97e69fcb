"""Patch semantics of the Kubernetes API: JSON merge (RFC 7386), strategic
merge (list merge keys, $patch directives), JSON patch (RFC 6902) and the
merge half of server-side apply."""

import copy
import json

import jsonpatch

# Lists merged element-wise by a key in strategic merge, by field name.
# (The real server reads these from the Go types; these are the ones the
# demo's objects use.)
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "imagePullSecrets": "name",
    "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "ports": "containerPort", "hostAliases": "ip", "conditions": "type",
    "ownerReferences": "uid", "finalizers": None, "topologySpreadConstraints": "topologyKey",
    "tolerations": None, "args": None, "command": None,
}
# Service ports merge by "port", container ports by "containerPort".
SERVICE_PORT_KEY = "port"


class PatchError(ValueError):
    pass


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _list_key(field, items, kind=None):
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict)), {})
        if "containerPort" in sample:
            return "containerPort"
        if "port" in sample:
            return SERVICE_PORT_KEY
    return MERGE_KEYS.get(field)


def strategic_merge(target, patch, kind=None, field=None):
    """Strategic merge patch for the fields the demo uses."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if key.startswith("$setElementOrder/") or key.startswith("$deleteFromPrimitiveList/"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, key)
        elif isinstance(value, dict):
            merged = strategic_merge(result.get(key), value, field=key)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = value
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            if isinstance(result.get(name), list):
                result[name] = [v for v in result[name] if v not in value]
    if isinstance(retain, list):
        for key in list(result.keys()):
            if key not in retain:
                result.pop(key)
    return result


def _merge_list(current, patch, field):
    merge_key = _list_key(field, patch + (current or []))
    if merge_key is None or not all(isinstance(i, dict) for i in patch):
        if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
            return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
        return copy.deepcopy(patch)
    result = [copy.deepcopy(i) for i in (current or [])]
    if any(i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if "$patch" not in i]
    for item in patch:
        key = item.get(merge_key)
        index = next((n for n, cur in enumerate(result) if isinstance(cur, dict) and cur.get(merge_key) == key), None)
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
            continue
        if index is None:
            result.append(strategic_merge({}, item))
        else:
            result[index] = strategic_merge(result[index], item)
    return result


def json_patch(target, operations):
    try:
        return jsonpatch.apply_patch(target, operations)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as exc:
        raise PatchError(str(exc))


def field_set(obj, prefix=""):
    """managedFields-style FieldsV1 for an applied configuration."""
    if not isinstance(obj, dict):
        return {}
    out = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind") and not prefix:
            continue
        if isinstance(value, dict):
            out["f:" + key] = field_set(value, prefix + key + ".") or {}
        elif isinstance(value, list) and value and all(isinstance(i, dict) for i in value):
            merge_key = _list_key(key, value)
            entries = {}
            for item in value:
                if merge_key and merge_key in item:
                    entries["k:" + json.dumps({merge_key: item[merge_key]}, separators=(",", ":"))] = \
                        dict(field_set(item, prefix + key + "."), **{".": {}})
            out["f:" + key] = entries
        else:
            out["f:" + key] = {}
    return out
