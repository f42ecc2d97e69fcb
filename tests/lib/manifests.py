"""Small manifests the contract tests apply: one plain hello app and what it needs."""


def hello_app(namespace, namespace_labels):
    """A namespace with ``namespace_labels`` (how it joins the mesh), a namespace ``plain`` outside the mesh, and in
    the first one the hello app (one replica, port 8080) behind Service ``hello`` on port 80; as YAML text."""
    labels = ", ".join("%s: %s" % item for item in sorted(namespace_labels.items()))
    return """
apiVersion: v1
kind: Namespace
metadata: {name: %(ns)s, labels: {%(labels)s}}
---
apiVersion: v1
kind: Namespace
metadata: {name: plain}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello, namespace: %(ns)s}
spec:
  replicas: 1
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec:
      containers:
      - {name: hello, image: "gcr.io/google-samples/hello-app:1.0", ports: [{containerPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: hello, namespace: %(ns)s}
spec: {selector: {app: hello}, ports: [{port: 80, targetPort: 8080}]}
""" % {"ns": namespace, "labels": labels}
