"""What decides whether a pod may run on a node, as kube-scheduler's filters and the taint manager decide it:
nodeSelector, required node affinity (nodeSelectorTerms: matchExpressions on the node's labels, matchFields on
metadata.name; the terms ORed, a term's requirements ANDed), and taints with their tolerations (NoSchedule and
NoExecute keep a pod off, NoExecute also evicts a running pod that does not tolerate it).
Sources: kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/ and taint-and-toleration/."""


def _requirement_met(requirement, value, present):
    operator = requirement.get("operator")
    values = requirement.get("values") or []
    if operator == "In":
        return present and value in values
    if operator == "NotIn":
        return not present or value not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and values:
        try:
            number, bound = int(value), int(values[0])
        except ValueError:
            return False
        return number > bound if operator == "Gt" else number < bound
    return False


def _term_met(term, node):
    labels = node["metadata"].get("labels") or {}
    for requirement in term.get("matchExpressions") or []:
        key = requirement.get("key")
        if not _requirement_met(requirement, labels.get(key), key in labels):
            return False
    for requirement in term.get("matchFields") or []:
        if requirement.get("key") != "metadata.name" or \
                not _requirement_met(requirement, node["metadata"]["name"], True):
            return False
    return bool(term.get("matchExpressions") or term.get("matchFields"))


def tolerated(taint, tolerations):
    for toleration in tolerations or []:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        if toleration.get("operator") == "Exists":
            if not toleration.get("key") or toleration["key"] == taint.get("key"):
                return True
        elif toleration.get("key") == taint.get("key") and \
                (toleration.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def untolerated(node, tolerations, effects=("NoSchedule", "NoExecute")):
    """The node's taints of these effects the tolerations do not tolerate."""
    return [t for t in (node.get("spec") or {}).get("taints") or []
            if t.get("effect") in effects and not tolerated(t, tolerations)]


def fits(spec, node):
    """None when a pod of this spec may be scheduled on the node, else the scheduler's reason."""
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return "node(s) didn't match Pod's node affinity/selector"
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms")
    if terms and not any(_term_met(term, node) for term in terms):
        return "node(s) didn't match Pod's node affinity/selector"
    taints = untolerated(node, spec.get("tolerations"))
    if taints:
        return "node(s) had untolerated taint {%s: %s}" % (taints[0].get("key"), taints[0].get("value") or "")
    return None
