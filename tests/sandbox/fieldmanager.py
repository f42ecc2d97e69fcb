"""Field ownership (metadata.managedFields) as kube-apiserver keeps it for server-side apply.

Follows kubernetes.io/docs/reference/using-api/server-side-apply/:

- every write names a manager (the fieldManager query parameter, else the client's User-Agent up to its first
  "/"); an Apply records the fields of the applied configuration, any other write (create, update, patch) the
  fields whose value it changed ("Field management": ownership moves to whoever last changed a value);
- an Apply that would change a value another manager owns is refused with 409 Conflict, a cause per field
  (reason FieldManagerConflict) - unless forced, when the ownership moves to the applier ("Conflicts");
- managers that apply the same value share the field;
- a field an applier applied before and omits now is removed from the object when no other manager owns it, and
  only released when another does ("Field management", last paragraphs);
- entries are told apart by manager, operation and subresource; an entry left without fields is dropped.

Paths are tuples of FieldsV1 keys ("f:spec", "f:containers", 'k:{"name":"web"}', ...); the path of an element of
an associative list is the path of its "k:" key (its "." entry in FieldsV1).
"""

import copy
import json

from . import patch as patching

# the object's identity and bookkeeping are never tracked (the field manager strips them before comparing)
UNTRACKED_METADATA = ("name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                      "managedFields", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "generateName")


def tracked(obj, subresource=None, has_status=False):
    """The paths of an object or applied configuration that the field manager tracks."""
    if not isinstance(obj, dict):
        return set()
    body = copy.deepcopy(obj)
    meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    for field in UNTRACKED_METADATA:
        meta.pop(field, None)
    if not meta:
        body.pop("metadata", None)
    if has_status:
        # a write to the main resource resets status, a write to /status everything but status
        body = {"status": body.get("status")} if subresource == "status" else \
            {k: v for k, v in body.items() if k != "status"}
    return flatten(patching.field_set(body))


def flatten(fields, prefix=()):
    out = set()
    for key, sub in (fields or {}).items():
        if key == ".":
            out.add(prefix)
        elif sub:
            out |= flatten(sub, prefix + (key,))
        else:
            out.add(prefix + (key,))
    return out


def nest(paths):
    """FieldsV1 from a set of paths."""
    out = {}
    items = {path for path in paths if path and path[-1].startswith("k:")}
    for path in paths:
        node = out
        for key in path:
            node = node.setdefault(key, {})
        if path in items:
            node["."] = {}
    return out


def render(path):
    """A path as the real server prints it: .spec.template.spec.containers[name="web"].image"""
    text = ""
    for key in path:
        if key.startswith("f:"):
            text += "." + key[2:]
        elif key.startswith("k:"):
            pairs = json.loads(key[2:])
            text += "[" + ",".join("%s=%s" % (k, json.dumps(v)) for k, v in sorted(pairs.items())) + "]"
        elif key.startswith("v:"):
            text += "[=%s]" % key[2:]
    return text


def _step(node, key):
    """(found, child) one key down from node."""
    if key.startswith("f:") and isinstance(node, dict):
        return (key[2:] in node), node.get(key[2:])
    if key.startswith("k:") and isinstance(node, list):
        wanted = json.loads(key[2:])
        for item in node:
            if isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items()):
                return True, item
    return False, None


def value_at(obj, path):
    node = obj
    for key in path:
        found, node = _step(node, key)
        if not found:
            return False, None
    return True, node


def _remove(obj, path):
    found, parent = value_at(obj, path[:-1])
    if not found:
        return
    key = path[-1]
    if key.startswith("f:") and isinstance(parent, dict):
        parent.pop(key[2:], None)
    elif key.startswith("k:") and isinstance(parent, list):
        dummy, item = _step(parent, key)
        if item is not None:
            parent.remove(item)


def _prune_empty(obj, paths):
    """Maps and lists a removal left empty go too (the real server omits empty optional fields)."""
    parents = sorted({path[:i] for path in paths for i in range(1, len(path))}, key=len, reverse=True)
    for parent in parents:
        found, value = value_at(obj, parent)
        if found and value in ({}, []):
            _remove(obj, parent)


def _entries(managed):
    """[(identity, entry, paths)] of a managedFields list."""
    return [((e.get("manager"), e.get("operation"), e.get("subresource") or ""), e,
             flatten(e.get("fieldsV1") or {})) for e in managed or []]


def _entry(previous, identity, paths, api_version, stamp):
    manager, operation, subresource = identity
    fields = nest(paths)
    if previous is not None and previous.get("fieldsV1") == fields:
        return previous  # an unchanged entry keeps its time
    entry = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": stamp,
             "fieldsType": "FieldsV1", "fieldsV1": fields}
    if subresource:
        entry["subresource"] = subresource
    return entry


def _assemble(rows, api_version, stamp):
    """managedFields from (identity, previous entry, paths) rows; an entry whose fields did not change stays as it
    was (time and apiVersion), one left without fields is dropped."""
    return [_entry(previous, identity, paths, api_version, stamp) for identity, previous, paths in rows if paths]


def _manager_text(identity, entry):
    manager, operation, subresource = identity
    text = json.dumps(manager)
    if operation != "Apply":
        text += " using " + (entry.get("apiVersion") or "")
    if subresource:
        text += " with subresource " + json.dumps(subresource)
    return text


class FieldConflict(Exception):
    """An Apply met fields other managers own; api.py answers it with 409 Conflict and these causes."""

    def __init__(self, message, causes):
        super().__init__(message)
        self.message = message
        self.causes = causes


def conflict_error(conflicts):
    """The refusal as kube-apiserver answers an Apply that meets other managers' fields (structured-merge-diff's
    Conflicts.Error wrapped by the field manager: "Apply failed with N conflict(s): ...")."""
    causes = [{"reason": "FieldManagerConflict", "message": "conflict with " + who, "field": render(path)}
              for who, path in conflicts]
    if len(conflicts) == 1:
        who, path = conflicts[0]
        detail = "conflict with %s: %s" % (who, render(path))
    else:
        detail = "\n".join("conflicts with %s:" % who + "".join(
            "\n- " + render(path) for other, path in conflicts if other == who)
            for who in sorted({who for who, dummy in conflicts}))
    message = "Apply failed with %d conflict%s: %s" % (len(conflicts), "" if len(conflicts) == 1 else "s", detail)
    return FieldConflict(message, causes)


def apply(managed, manager, api_version, current, applied, merged, force, stamp, has_status=False):
    """An Apply by manager of the configuration applied onto current (merged = current with applied merged in).

    Returns (object, managedFields); raises FieldConflict (the real server's 409) when the apply would change fields other managers
    own and force is off."""
    identity = (manager, "Apply", "")
    applied_paths = tracked(applied, has_status=has_status)
    rows = _entries(managed)
    conflicts = []
    for other, entry, paths in rows:
        if other == identity:
            continue
        for path in sorted(applied_paths & paths):
            before, after = value_at(current, path), value_at(merged, path)
            if path and path[-1].startswith("k:"):
                continue  # an element of a list is not a value: its fields are
            if before[0] and before != after:
                conflicts.append((_manager_text(other, entry), path))
    if conflicts and not force:
        raise conflict_error(conflicts)
    taken = {path for dummy, path in conflicts}
    mine = next((paths for other, dummy, paths in rows if other == identity), set())
    released = mine - applied_paths
    result = copy.deepcopy(merged)
    out_rows = []
    for other, entry, paths in rows:
        if other == identity:
            continue
        kept = paths - taken  # empty unless forced: conflicts without force were refused above
        out_rows.append((other, entry, kept))
    still_owned = set().union(*[paths for dummy, dummy2, paths in out_rows])
    gone = [path for path in released if path not in still_owned and
            not any(owned[:len(path)] == path for owned in still_owned | applied_paths)]
    removed = []
    for path in sorted(gone, key=len):  # an element first: its fields go with it
        if not any(path[:len(done)] == done for done in removed):
            _remove(result, path)
            removed.append(path)
    _prune_empty(result, gone)
    previous = next((entry for other, entry, dummy in rows if other == identity), None)
    out_rows.append((identity, previous, applied_paths))
    return result, _assemble(out_rows, api_version, stamp)


def update(managed, manager, api_version, old, new, stamp, subresource=None, has_status=False):
    """A non-apply write by manager from old (None on create) to new: the fields whose value it changed become its
    own and leave every other manager; fields it removed leave every manager."""
    identity = (manager, "Update", subresource or "")
    new_paths = tracked(new, subresource, has_status)
    old_paths = tracked(old, subresource, has_status) if old is not None else set()
    # an element of an associative list changes hands only when it appears; its fields by their values
    changed = {path for path in new_paths
               if old is None or (value_at(old, path)[0] is False if path and path[-1].startswith("k:")
                                  else value_at(old, path) != value_at(new, path))}
    removed = old_paths - new_paths
    rows = _entries(managed)
    out_rows = []
    for other, entry, paths in rows:
        if other == identity:
            continue
        kept = paths - changed - removed
        out_rows.append((other, entry, kept))
    previous = next((entry for other, entry, dummy in rows if other == identity), None)
    mine = next((paths for other, dummy, paths in rows if other == identity), set())
    out_rows.append((identity, previous, (mine - removed) | changed))
    return _assemble(out_rows, api_version, stamp)
