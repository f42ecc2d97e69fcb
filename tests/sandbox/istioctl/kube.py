"""The stand-in's API client: the kubeconfig's cluster, user (client certificate, token or exec plugin) and
impersonation, as client-go reads them."""

import base64
import json
import os
import ssl
import subprocess
import time
import http.client
import urllib.error
import urllib.parse
import urllib.request

from .. import yamlio as yaml

from . import common
from .common import FIELD_MANAGER, Failure, VERSION


def _exec_token(spec):
    """A kubeconfig user's exec credential plugin, run as client-go runs it (Kubernetes docs, "client-go credential
    plugins"): the command with its args, the process environment plus the plugin's env entries, and the token read
    from the ExecCredential it prints. This is how `aws eks get-token` reaches istioctl on EKS."""
    env = dict(os.environ)
    for entry in spec.get("env") or []:
        env[entry["name"]] = entry["value"]
    env["KUBERNETES_EXEC_INFO"] = json.dumps({"apiVersion": spec.get("apiVersion"), "kind": "ExecCredential",
                                              "spec": {"interactive": False}})
    try:
        proc = subprocess.run([spec["command"]] + list(spec.get("args") or []), env=env, capture_output=True,
                              text=True, timeout=60, check=False)
    except OSError as exc:
        raise Failure("Error: exec plugin: %s" % exc)
    if proc.returncode != 0:
        raise Failure("Error: exec plugin: executable %s failed with exit code %d: %s"
                      % (spec["command"], proc.returncode, proc.stderr.strip()))
    try:
        return json.loads(proc.stdout)["status"]["token"]
    except (ValueError, KeyError, TypeError):
        raise Failure("Error: exec plugin: %s did not print an ExecCredential with a token" % spec["command"])


class _Connection(http.client.HTTPSConnection):
    """An HTTPS connection that sends a header given a list as one line per value, as Go's net/http sends a
    header of several values (client-go's impersonation sends Impersonate-Group once per group)."""

    def putheader(self, header, *values):
        if len(values) == 1 and isinstance(values[0], list):
            for value in values[0]:
                http.client.HTTPSConnection.putheader(self, header, value)
            return
        http.client.HTTPSConnection.putheader(self, header, *values)


class _Handler(urllib.request.HTTPSHandler):
    def __init__(self, context):
        urllib.request.HTTPSHandler.__init__(self, context=context)
        self.tls = context

    def https_open(self, req):
        return self.do_open(_Connection, req, context=self.tls)


class Kube(object):
    def __init__(self, kubeconfig=None, context=None, impersonate=None):
        path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or os.path.expanduser(
            "~/.kube/config")
        try:
            with open(path) as handle:
                config = yaml.safe_load(handle)
        except OSError as exc:
            raise Failure("Error: failed to load kubeconfig %s: %s" % (path, exc))
        name = context or config.get("current-context")
        ctx = next((c["context"] for c in config.get("contexts", []) if c["name"] == name), None)
        if ctx is None:
            raise Failure('Error: context "%s" does not exist' % name)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == ctx["cluster"])
        user = next((u["user"] for u in config.get("users", []) if u["name"] == ctx.get("user")), {})
        self.server = cluster["server"].rstrip("/")
        # client-go's TLS: the kubeconfig's CA (data or file), or no check when insecure-skip-tls-verify says so
        self.context = None
        if self.server.startswith("https://"):
            if cluster.get("insecure-skip-tls-verify"):
                self.context = ssl._create_unverified_context()  # nosec - asked for by the kubeconfig
            elif cluster.get("certificate-authority-data"):
                self.context = ssl.create_default_context(
                    cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
            else:
                self.context = ssl.create_default_context(cafile=cluster.get("certificate-authority"))
        self.token = user.get("token")
        if not self.token and user.get("exec"):
            self.token = _exec_token(user["exec"])
        # who the requests act as: --as/--as-group/--as-uid, else the kubeconfig user's as/as-groups/as-uid
        # (client-go's ImpersonationConfig; istioctl/pkg/cli/option.go's flags)
        impersonate = impersonate or {}
        self.impersonate = {"user": impersonate.get("user") or user.get("as"),
                            "groups": impersonate.get("groups") or user.get("as-groups") or [],
                            "uid": impersonate.get("uid") or user.get("as-uid")}
        # HTTPS_PROXY/NO_PROXY from the environment (Go's http.ProxyFromEnvironment, client-go's default)
        self.opener = urllib.request.build_opener(_Handler(self.context)) if self.server.startswith("https://") \
            else urllib.request.build_opener()

    def request(self, method, path, body=None, content_type="application/json", query=None):
        url = self.server + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": content_type, "Accept": "application/json",
                   "User-Agent": "istioctl/%s" % VERSION}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        # (groups without a user go out too: the API server refuses them)
        if self.impersonate["user"]:
            headers["Impersonate-User"] = self.impersonate["user"]
        if self.impersonate["groups"]:
            headers["Impersonate-Group"] = list(self.impersonate["groups"])
        if self.impersonate["uid"]:
            headers["Impersonate-Uid"] = self.impersonate["uid"]
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        for attempt in range(5):
            try:
                with self.opener.open(req, timeout=30) as response:
                    payload = response.read()
                    return json.loads(payload) if payload else {}
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return None
                if exc.code in (429, 500, 503) and attempt < 4:
                    time.sleep(0.2 * (attempt + 1))  # client-go style retry of retriable answers
                    continue
                text = exc.read().decode("utf-8", "replace")
                try:
                    text = json.loads(text).get("message", text)
                except ValueError:
                    pass
                raise Failure("Error: %s %s: %s" % (method, path, text))
            except (urllib.error.URLError, OSError) as exc:
                if attempt < 4:
                    time.sleep(0.2 * (attempt + 1))
                    continue
                raise Failure("Error: failed to connect to the Kubernetes API at %s: %s" % (self.server, exc))
        raise Failure("Error: the Kubernetes API at %s kept failing" % self.server)

    def get(self, path, **query):
        return self.request("GET", path, query=query or None)

    def apply(self, obj, manager=FIELD_MANAGER):
        path = object_path(obj, named=True)
        return self.request("PATCH", path, body=json.dumps(obj).encode(), content_type="application/apply-patch+yaml",
                            query={"fieldManager": manager, "force": "true"})

    def delete(self, obj, propagation="Background"):
        return self.request("DELETE", object_path(obj, named=True), body={"propagationPolicy": propagation})

    def faults(self):
        try:
            with urllib.request.urlopen(self.server + "/sandbox/faults", timeout=5, context=self.context) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return {}


PLURALS = {"CustomResourceDefinition": "customresourcedefinitions", "MutatingWebhookConfiguration":
           "mutatingwebhookconfigurations", "ValidatingWebhookConfiguration": "validatingwebhookconfigurations",
           "ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings", "Namespace": "namespaces",
           "ServiceAccount": "serviceaccounts", "ConfigMap": "configmaps", "Service": "services",
           "Deployment": "deployments", "Role": "roles", "RoleBinding": "rolebindings",
           "PodDisruptionBudget": "poddisruptionbudgets", "HorizontalPodAutoscaler": "horizontalpodautoscalers",
           "DaemonSet": "daemonsets", "Pod": "pods", "Secret": "secrets", "EnvoyFilter": "envoyfilters",
           "NetworkAttachmentDefinition": "network-attachment-definitions"}


CLUSTER_SCOPED = {"CustomResourceDefinition", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
                  "ClusterRole", "ClusterRoleBinding", "Namespace"}


def object_path(obj, named=True):
    api_version = obj["apiVersion"]
    base = "/api/v1" if api_version == "v1" else "/apis/" + api_version
    kind = obj["kind"]
    if kind not in CLUSTER_SCOPED:
        base += "/namespaces/" + obj["metadata"].get("namespace", common.NAMESPACE)
    base += "/" + PLURALS[kind]
    if named:
        base += "/" + obj["metadata"]["name"]
    return base


def list_items(kube, path, **query):
    return (kube.get(path, **query) or {}).get("items") or []
