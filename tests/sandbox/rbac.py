"""RBAC as the API server enforces it: each request's attributes, the decision (sandbox/reviews.py authorize), the
403 a refused request gets, impersonation, and the default roles every cluster starts with.

Sources: the request attributes follow k8s.io/apiserver pkg/endpoints/request RequestInfoFactory (verbs get / list /
watch / create / update / patch / delete / deletecollection; a namespace's status and finalize are its
subresources); the refusal text follows pkg/authorization/... "forbidden" responses as kubectl prints them
(`pods "x" is forbidden: User "u" cannot delete resource "pods" in API group "" in the namespace "n"`);
impersonation follows kubernetes.io/docs/reference/access-authn-authz/authentication/#user-impersonation (verb
impersonate on users, groups, serviceaccounts, uids); the default roles and bindings are the bootstrap policy's
(kubernetes.io/docs/reference/access-authn-authz/rbac/#default-roles-and-role-bindings)."""

from .api import ApiError, query_bool
from .reviews import AUTHENTICATED, authorize, service_account_user

BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
ANNOTATIONS = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz",
                  "/version", "/version/"]
PUBLIC_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]


def _cluster_role(name, rules):
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name, "labels": dict(BOOTSTRAP_LABELS), "annotations": dict(ANNOTATIONS)},
            "rules": rules}


def _binding(name, groups):
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": dict(BOOTSTRAP_LABELS), "annotations": dict(ANNOTATIONS)},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g} for g in groups]}


def bootstrap_policy():
    """(ClusterRoles, ClusterRoleBindings) the API server makes at start: the ones that let any authenticated
    user discover the API and ask about itself, and cluster-admin for system:masters."""
    roles = [
        _cluster_role("cluster-admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                                        {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        _cluster_role("system:discovery", [{"nonResourceURLs": DISCOVERY_URLS, "verbs": ["get"]}]),
        _cluster_role("system:public-info-viewer", [{"nonResourceURLs": PUBLIC_URLS, "verbs": ["get"]}]),
        _cluster_role("system:basic-user", [
            {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
            {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews",
                                                                  "selfsubjectrulesreviews"], "verbs": ["create"]}]),
    ]
    bindings = [_binding("cluster-admin", ["system:masters"]),
                _binding("system:discovery", [AUTHENTICATED]),
                _binding("system:basic-user", [AUTHENTICATED]),
                _binding("system:public-info-viewer", [AUTHENTICATED, "system:unauthenticated"])]
    return roles, bindings


def request_attributes(method, path, query):
    """What the authorizer is asked about a request: a resource request's verb, group, resource, subresource,
    namespace and name, or a non-resource request's path and verb."""
    parts = [p for p in path.split("/") if p]
    verb = method.lower()
    if not parts or parts[0] not in ("api", "apis") or (parts[0] == "api" and len(parts) < 3) or \
            (parts[0] == "apis" and len(parts) < 4):
        return {"path": path, "verb": verb}
    group, rest = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in ("status", "finalize"):
            rest = rest[2:]
    attrs = {"group": group, "namespace": namespace, "resource": rest[0], "name": rest[1] if len(rest) > 1 else "",
             "subresource": "/".join(rest[2:]) if len(rest) > 2 else ""}
    named = bool(attrs["name"])
    if query_bool(query.get("watch")):
        attrs["verb"] = "watch"
    else:
        attrs["verb"] = {"get": "get" if named else "list", "head": "get" if named else "list", "post": "create",
                         "put": "update", "patch": "patch",
                         "delete": "delete" if named else "deletecollection"}.get(verb, verb)
    if query.get("fieldSelector", "").startswith("metadata.name=") and attrs["verb"] in ("list", "watch"):
        attrs["name"] = query["fieldSelector"][len("metadata.name="):].split(",", 1)[0]
    return attrs


def forbidden(user, attrs):
    """The 403 a refused request gets."""
    who = 'User "%s"' % user["username"]
    if attrs.get("path"):
        message = 'forbidden: %s cannot %s path "%s"' % (who, attrs["verb"], attrs["path"])
        return ApiError(403, "Forbidden", message)
    resource = attrs["resource"] + ("/" + attrs["subresource"] if attrs.get("subresource") else "")
    scope = 'in the namespace "%s"' % attrs["namespace"] if attrs.get("namespace") else "at the cluster scope"
    subject = '%s "%s"' % (attrs["resource"], attrs["name"]) if attrs.get("name") else attrs["resource"]
    message = '%s is forbidden: %s cannot %s resource "%s" in API group "%s" %s' % (
        subject, who, attrs["verb"], resource, attrs.get("group", ""), scope)
    return ApiError(403, "Forbidden", message,
                    {"name": attrs.get("name") or None, "group": attrs.get("group", ""), "kind": attrs["resource"]})


def impersonate(api, user, headers):
    """The user a request acts as: ``user``, or the one its Impersonate-User / Impersonate-Group headers name when
    ``user`` may impersonate each of them (verb impersonate on users, serviceaccounts or groups); else 403."""
    target = headers.get("Impersonate-User")
    groups = headers.get_all("Impersonate-Group") or []
    if not target:
        if groups:
            raise ApiError(500, "InternalError", "requested Impersonate-Group without Impersonate-User")
        return user
    checks = []
    if target.startswith("system:serviceaccount:") and target.count(":") == 3:
        dummy, dummy2, namespace, name = target.split(":")
        checks.append({"verb": "impersonate", "group": "", "resource": "serviceaccounts", "namespace": namespace,
                       "name": name})
        acting = service_account_user(namespace, name)
    else:
        checks.append({"verb": "impersonate", "group": "", "resource": "users", "namespace": "", "name": target})
        acting = {"username": target, "groups": [AUTHENTICATED]}
    for group in groups:
        checks.append({"verb": "impersonate", "group": "", "resource": "groups", "namespace": "", "name": group})
    for attrs in checks:
        allowed, dummy = authorize(api, user, attrs)
        if not allowed:
            raise forbidden(user, attrs)
    if groups:
        acting["groups"] = [g for g in groups if g != AUTHENTICATED] + [AUTHENTICATED]
        if target.startswith("system:serviceaccount:"):
            acting["groups"] = [g for g in service_account_user(*target.split(":")[2:])["groups"]
                                if g != AUTHENTICATED] + acting["groups"]
    return acting
