"""Label and field selectors as the API server parses them."""

import re


class SelectorError(ValueError):
    pass


_REQ = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9._-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def _split(selector):
    parts, depth, cur = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def parse_label_selector(selector):
    """A list of (key, op, values) requirements."""
    reqs = []
    for part in _split(selector or ""):
        match = _REQ.match(part)
        if not match:
            raise SelectorError("unable to parse requirement: %r" % part.strip())
        negate, key, op, value, set_op, values = match.groups()
        if negate:
            if op or set_op:
                raise SelectorError("unable to parse requirement: %r" % part.strip())
            reqs.append((key, "!exists", []))
        elif op:
            reqs.append((key, "!=" if op == "!=" else "=", [value]))
        elif set_op:
            reqs.append((key, set_op, [v.strip() for v in values.split(",") if v.strip()]))
        else:
            reqs.append((key, "exists", []))
    return reqs


def label_matches(reqs, labels):
    labels = labels or {}
    for key, op, values in reqs:
        present = key in labels
        value = labels.get(key)
        if op == "=" and value != values[0]:
            return False
        if op == "!=" and present and value == values[0]:
            return False
        if op == "in" and value not in values:
            return False
        if op == "notin" and present and value in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
    return True


def selector_from_match(match):
    """A LabelSelector object (matchLabels/matchExpressions) as requirements."""
    reqs = [(k, "=", [v]) for k, v in (match or {}).get("matchLabels", {}).items()]
    for expr in (match or {}).get("matchExpressions", []) or []:
        op = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}[expr["operator"]]
        reqs.append((expr["key"], op, expr.get("values") or []))
    return reqs


FIELDS = {
    "metadata.name": lambda o: o.get("metadata", {}).get("name"),
    "metadata.namespace": lambda o: o.get("metadata", {}).get("namespace"),
    "status.phase": lambda o: (o.get("status") or {}).get("phase"),
    "spec.nodeName": lambda o: (o.get("spec") or {}).get("nodeName"),
    "spec.type": lambda o: (o.get("spec") or {}).get("type"),
    "type": lambda o: o.get("type"),
    "involvedObject.name": lambda o: (o.get("involvedObject") or {}).get("name"),
    "involvedObject.kind": lambda o: (o.get("involvedObject") or {}).get("kind"),
    "involvedObject.namespace": lambda o: (o.get("involvedObject") or {}).get("namespace"),
    "involvedObject.uid": lambda o: (o.get("involvedObject") or {}).get("uid"),
    # the rest of an Event's selectable fields (pkg/registry/core/event/strategy.go, ToSelectableFields)
    "involvedObject.apiVersion": lambda o: (o.get("involvedObject") or {}).get("apiVersion"),
    "involvedObject.resourceVersion": lambda o: (o.get("involvedObject") or {}).get("resourceVersion"),
    "involvedObject.fieldPath": lambda o: (o.get("involvedObject") or {}).get("fieldPath"),
    "reason": lambda o: o.get("reason"),
    "reportingComponent": lambda o: o.get("reportingComponent"),
    "source": lambda o: (o.get("source") or {}).get("component"),
}


def parse_field_selector(selector):
    reqs = []
    for part in _split(selector or ""):
        match = re.match(r"^\s*([A-Za-z.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not match:
            raise SelectorError("invalid selector: %r; can't understand %r" % (selector, part.strip()))
        field, op, value = match.groups()
        if field not in FIELDS:
            raise SelectorError('field label not supported: "%s"' % field)
        reqs.append((field, op != "!=", value))
    return reqs


def field_matches(reqs, obj):
    for field, equal, value in reqs:
        actual = FIELDS[field](obj)
        actual = "" if actual is None else str(actual)
        if (actual == value) != equal:
            return False
    return True
