"""kubectl, a client nobody here wrote, against the emulated API server."""

import json

import yaml

APP = """
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web, version: v1}}
    spec:
      containers:
      - name: hello
        image: gcr.io/google-samples/hello-app:1.0
        ports: [{{containerPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {ns}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
"""


def test_create_get_label_apply_delete(sandbox):
    manifest = APP.format(ns="kubectl-a")
    created = sandbox.kubectl("create", "-f", "-", stdin=manifest)
    assert "namespace/kubectl-a created" in created.stdout
    assert "deployment.apps/web created" in created.stdout
    again = sandbox.kubectl("create", "-f", "-", stdin=manifest, check=False)
    assert again.returncode != 0 and "AlreadyExists" in again.stderr

    sandbox.kubectl("rollout", "status", "deployment/web", "-n", "kubectl-a", "--timeout=30s")
    pods = sandbox.kubectl("get", "pods", "-n", "kubectl-a", "-l", "app=web", "-o", "json")
    items = json.loads(pods.stdout)["items"]
    assert len(items) == 2
    assert all(p["status"]["phase"] == "Running" for p in items)
    table = sandbox.kubectl("get", "pods", "-n", "kubectl-a").stdout
    assert "READY" in table and "1/1" in table and "Running" in table

    sandbox.kubectl("label", "namespace", "kubectl-a", "istio-injection=enabled")
    ns = yaml.safe_load(sandbox.kubectl("get", "namespace", "kubectl-a", "-o", "yaml").stdout)
    assert ns["metadata"]["labels"]["istio-injection"] == "enabled"
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == "kubectl-a"

    # the replicas kubectl create set are kubectl-create's: a server-side apply changing them meets a conflict
    # naming the owner and the field, and takes them over only when forced
    scaled = manifest.replace("replicas: 2", "replicas: 3")
    refused = sandbox.kubectl("apply", "--server-side", "-f", "-", stdin=scaled, check=False)
    assert refused.returncode != 0
    assert 'conflict with "kubectl-create" using apps/v1: .spec.replicas' in refused.stderr
    assert json.loads(sandbox.kubectl("get", "deploy", "web", "-n", "kubectl-a", "-o", "json").stdout)[
        "spec"]["replicas"] == 2
    applied = sandbox.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=scaled)
    assert "deployment.apps/web serverside-applied" in applied.stdout
    sandbox.kubectl("rollout", "status", "deployment/web", "-n", "kubectl-a", "--timeout=30s")
    deploy = json.loads(sandbox.kubectl("get", "deploy", "web", "-n", "kubectl-a", "-o", "json", "--show-managed-fields").stdout)
    assert deploy["spec"]["replicas"] == 3 and deploy["status"]["readyReplicas"] == 3
    managers = [m["manager"] for m in deploy["metadata"]["managedFields"]]
    assert "kubectl" in managers

    answer = sandbox.kubectl("get", "--raw", "/api/v1/namespaces/kubectl-a/services/web:80/proxy/").stdout
    assert "Hello, world!" in answer and "Version: 1.0.0" in answer

    sandbox.kubectl("delete", "namespace", "kubectl-a", "--wait=true", "--timeout=30s")
    gone = sandbox.kubectl("get", "namespace", "kubectl-a", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    leftovers = sandbox.kubectl("get", "pods", "-n", "kubectl-a", "-o", "json")
    assert json.loads(leftovers.stdout)["items"] == []


def test_client_side_apply_is_idempotent(sandbox):
    manifest = APP.format(ns="kubectl-b")
    sandbox.kubectl("apply", "-f", "-", stdin=manifest)
    second = sandbox.kubectl("apply", "-f", "-", stdin=manifest)
    assert "namespace/kubectl-b unchanged" in second.stdout
    assert "deployment.apps/web unchanged" in second.stdout
    sandbox.kubectl("delete", "-f", "-", "--wait=true", stdin=manifest)


def test_invalid_object_is_refused_with_422(sandbox):
    bad = APP.format(ns="default").split("---")[2].replace("port: 80,", "port: 99999,").replace("name: web", "name: bad")
    result = sandbox.kubectl("create", "-f", "-", stdin=bad, check=False)
    assert result.returncode != 0
    assert "is invalid" in result.stderr and "99999" in result.stderr


POD = """
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {ns}
spec:
  containers:
  - name: hello
    image: gcr.io/google-samples/hello-app:1.0
    env: [{env}]
"""


def test_validation_answers_the_same_after_many_writes(sandbox):
    """The sandbox reads kubernetes_validate's schema files once and keeps them (tests/sandbox/api.py): a Pod whose
    env entry has no name (the schema's required "name" of EnvVar; the real server answers 422 too,
    field.Required on spec.containers[0].env[0].name) is refused the same way before and after many valid Pods
    were validated against the kept schema, and valid Pods still pass after a refused one."""
    sandbox.kubectl("create", "namespace", "kubectl-v")
    bad = POD.format(name="bad", ns="kubectl-v", env="{value: x}")
    first = sandbox.kubectl("create", "-f", "-", stdin=bad, check=False)
    assert first.returncode != 0
    assert 'Pod "bad" is invalid: spec.containers[0].env[0].name: Required value' in first.stderr

    many = "---".join(POD.format(name="ok-%d" % i, ns="kubectl-v", env="{name: GREETING, value: '%d'}" % i)
                      for i in range(30))
    created = sandbox.kubectl("create", "-f", "-", stdin=many)
    assert created.stdout.count("created") == 30

    again = sandbox.kubectl("create", "-f", "-", stdin=bad, check=False)
    assert again.returncode == first.returncode and again.stderr == first.stderr
    after = sandbox.kubectl("create", "-f", "-", stdin=POD.format(name="ok-after", ns="kubectl-v",
                                                                  env="{name: GREETING, value: hello}"))
    assert "pod/ok-after created" in after.stdout
    names = [p["metadata"]["name"] for p in
             json.loads(sandbox.kubectl("get", "pods", "-n", "kubectl-v", "-o", "json").stdout)["items"]]
    assert "bad" not in names and len(names) == 31
    sandbox.kubectl("delete", "namespace", "kubectl-v", "--wait=true", "--timeout=60s")
