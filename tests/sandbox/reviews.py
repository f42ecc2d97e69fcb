"""The API server's review kinds: answered on create, never stored (kubernetes.io/docs/reference/access-authn-authz/
authorization/#checking-api-access, and authentication/#self-subject-review).

- ``SelfSubjectReview`` (authentication.k8s.io/v1, what ``kubectl auth whoami`` asks): the caller as the
  authenticator saw it. On EKS with the ``aws-auth`` ConfigMap (aws-iam-authenticator), the cluster's creator is
  ``kubernetes-admin`` in ``system:masters``; a mapped IAM identity gets the mapping's ``username`` (the ARN when it
  names none; ``{{AccountID}}`` and ``{{SessionName}}`` filled in) and ``groups``; everyone authenticated is in
  ``system:authenticated``.
- ``SelfSubjectAccessReview`` / ``SubjectAccessReview`` / ``LocalSubjectAccessReview`` (authorization.k8s.io/v1,
  what ``kubectl auth can-i`` asks): whether RBAC allows the request. ``system:masters`` is allowed everything (the
  API server's privileged group, before RBAC); otherwise the ClusterRoleBindings, and the RoleBindings of the
  request's namespace, whose subjects name the user, one of its groups or (``system:serviceaccount:NS:NAME``) its
  service account, and whose role has a rule matching the verb, API group, resource (``resource/subresource``) and
  name - the reason naming the binding, as the RBAC authorizer words it (plugin/pkg/auth/authorizer/rbac).

The sandbox answers as RBAC would; it does not enforce RBAC on its other requests.
"""

import json
import re

REVIEW_KINDS = {("authentication.k8s.io", "SelfSubjectReview"), ("authorization.k8s.io", "SelfSubjectAccessReview"),
                ("authorization.k8s.io", "SubjectAccessReview"), ("authorization.k8s.io", "LocalSubjectAccessReview")}
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"


def user_info(identity, mapping_entry=None):
    """The UserInfo of a caller the authenticator named ``identity`` (sandbox/server.py Authenticator)."""
    if identity in (None, "cluster-creator", "static-token"):
        return {"username": "kubernetes-admin", "groups": [MASTERS, AUTHENTICATED]}
    if identity.startswith("system:serviceaccount:") and identity.count(":") == 3:
        namespace, name = identity.split(":")[2:]
        return service_account_user(namespace, name)
    if identity.startswith("x509:"):
        name, groups = json.loads(identity[len("x509:"):])
        return {"username": name, "groups": groups + [AUTHENTICATED]}
    entry = mapping_entry or {}
    match = re.match(r"arn:[^:]+:(?:iam|sts)::(\d+):(?:assumed-role/[^/]+/(.+)|.*)$", identity)
    account, session = (match.group(1), match.group(2) or "") if match else ("", "")
    username = str(entry.get("username") or identity)
    username = username.replace("{{AccountID}}", account).replace("{{SessionName}}", session)
    groups = [str(g) for g in entry.get("groups") or []]
    extra = {"arn": [identity], "canonicalArn": [identity], "accountId": [account]} if match else {}
    info = {"username": username, "uid": "aws-iam-authenticator:%s:%s" % (account, identity),
            "groups": groups + [AUTHENTICATED]}
    if extra:
        info["extra"] = extra
    return info


def service_account_user(namespace, name):
    """The UserInfo of a ServiceAccount's token (kubernetes.io/docs/reference/access-authn-authz/authentication/,
    "Service account tokens")."""
    return {"username": "system:serviceaccount:%s:%s" % (namespace, name),
            "groups": ["system:serviceaccounts", "system:serviceaccounts:%s" % namespace, AUTHENTICATED]}


def _matches(values, wanted):
    return "*" in values or wanted in values


def _rule_allows(rule, attrs):
    if "nonResourceURLs" in rule and attrs.get("path"):
        return _matches(rule.get("verbs") or [], attrs.get("verb")) and any(
            u == attrs["path"] or u == "*" or (u.endswith("*") and attrs["path"].startswith(u[:-1]))
            for u in rule.get("nonResourceURLs") or [])
    if attrs.get("path"):
        return False
    resource = attrs.get("resource", "")
    if attrs.get("subresource"):
        resource += "/" + attrs["subresource"]
    resources = rule.get("resources") or []
    return (_matches(rule.get("verbs") or [], attrs.get("verb", ""))
            and _matches(rule.get("apiGroups") or [], attrs.get("group", ""))
            and ("*" in resources or resource in resources
                 or (attrs.get("subresource") and "*/" + attrs["subresource"] in resources))
            and (not rule.get("resourceNames") or attrs.get("name") in rule["resourceNames"]))


def _subject_matches(subject, user, binding_namespace):
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user["username"]
    if kind == "Group":
        return name in user["groups"]
    if kind == "ServiceAccount":
        return user["username"] == "system:serviceaccount:%s:%s" % (subject.get("namespace") or binding_namespace,
                                                                    name)
    return False


def authorize(api, user, attrs):
    """(allowed, reason) for a request with these attributes (a SubjectAccessReview's resourceAttributes, or
    ``path``/``verb`` of nonResourceAttributes) by this user."""
    if MASTERS in user["groups"]:
        return True, ""
    roles = api.registry.find("rbac.authorization.k8s.io", "v1", "roles")
    cluster_roles = api.registry.find("rbac.authorization.k8s.io", "v1", "clusterroles")
    namespace = attrs.get("namespace") or None
    candidates = [(b, "ClusterRoleBinding") for b in api.list(
        api.registry.find("rbac.authorization.k8s.io", "v1", "clusterrolebindings"))[0]]
    if namespace:
        candidates += [(b, "RoleBinding") for b in api.list(
            api.registry.find("rbac.authorization.k8s.io", "v1", "rolebindings"), namespace)[0]]
    for binding, binding_kind in candidates:
        where = binding["metadata"].get("namespace")
        subject = next((s for s in binding.get("subjects") or [] if _subject_matches(s, user, where)), None)
        if subject is None:
            continue
        ref = binding.get("roleRef") or {}
        role = (api.find(cluster_roles, None, ref.get("name")) if ref.get("kind") == "ClusterRole"
                else api.find(roles, where, ref.get("name")))
        if role and any(_rule_allows(rule, attrs) for rule in role.get("rules") or []):
            binding_id = binding["metadata"]["name"] + ("/" + where if where else "")
            subject_id = subject["name"] + ("/" + (subject.get("namespace") or where or "")
                                            if subject["kind"] == "ServiceAccount" else "")
            return True, 'RBAC: allowed by %s "%s" of %s "%s" to %s "%s"' % (
                binding_kind, binding_id, ref.get("kind"), ref.get("name"), subject["kind"], subject_id)
    return False, ""


def answer(api, kind, body, user):
    """The review ``body`` with the status the API server gives it."""
    obj = dict(body or {})
    obj["apiVersion"] = "%s/%s" % (kind.group, kind.version)
    obj["kind"] = kind.kind
    obj["metadata"] = dict(obj.get("metadata") or {}, creationTimestamp=None)
    spec = obj.get("spec") or {}
    if kind.kind == "SelfSubjectReview":
        obj["status"] = {"userInfo": user}
        return obj
    if kind.kind in ("SubjectAccessReview", "LocalSubjectAccessReview"):
        subject = {"username": spec.get("user", ""), "groups": list(spec.get("groups") or [])}
        if kind.kind == "LocalSubjectAccessReview":
            spec.setdefault("resourceAttributes", {})["namespace"] = (obj["metadata"].get("namespace") or "")
    else:
        subject = user
    if spec.get("nonResourceAttributes"):
        attrs = dict(spec["nonResourceAttributes"])
    else:
        attrs = dict(spec.get("resourceAttributes") or {})
    allowed, reason = authorize(api, subject, attrs)
    obj["status"] = {"allowed": allowed}
    if reason:
        obj["status"]["reason"] = reason
    return obj
