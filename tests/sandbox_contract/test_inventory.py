"""inventories/sandbox points the collection (and its dependencies) at the sandbox."""

import os

from playbook import run_playbook

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INVENTORY = os.path.join(ROOT, "inventories", "sandbox")
KUBE = {"kubeconfig": "{{ mesh_kubeconfig }}", "context": "{{ mesh_kube_context }}"}
AWS = {"region": "{{ mesh_aws_region }}", "endpoint_url": "{{ mesh_aws_endpoint_url }}",
       "access_key": "{{ mesh_aws_access_key }}", "secret_key": "{{ mesh_aws_secret_key }}"}
APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: probe-me, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: probe-me}}
  template:
    metadata: {labels: {app: probe-me}}
    spec:
      containers: [{name: hello, image: "gcr.io/google-samples/hello-app:1.0", ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: probe-me, namespace: default}
spec: {selector: {app: probe-me}, ports: [{name: http, port: 80, targetPort: 8080}]}
"""


def test_inventory_reaches_the_emulated_cluster_and_aws(sandbox, tmp_path):
    env = {"SANDBOX_STATE_DIR": sandbox.state_dir}
    for key in ("KUBECONFIG", "K8S_AUTH_KUBECONFIG", "AWS_ENDPOINT_URL"):
        env[key] = ""  # the inventory alone must be enough
    tasks = [
        {"name": "app", "kubernetes.core.k8s": dict(
            KUBE, definition="{{ lookup('ansible.builtin.template', 'app.yml') | from_yaml_all }}",
            wait=True, wait_sleep=1, wait_timeout=60)},
        {"name": "probe", "register": "probe",
         "istio_demo.mesh.traffic_probe": dict(KUBE, service={"namespace": "default", "name": "probe-me",
                                                              "port": "http", "path": "/"},
                                               requests=20, concurrency=4)},
        {"name": "groups", "register": "groups",
         "amazon.aws.ec2_security_group_info": dict(AWS, filters={
             "tag:kubernetes.io/cluster/demo": "owned"})},
    ]
    (tmp_path / "app.yml").write_text(APP)
    # the AWS identity `aws eks get-token` signs with, from the inventory, as the collection's playbooks give it
    identity = {"AWS_ACCESS_KEY_ID": "{{ mesh_aws_access_key }}", "AWS_SECRET_ACCESS_KEY": "{{ mesh_aws_secret_key }}"}
    run = run_playbook(tmp_path, tasks, extra_args=["-i", INVENTORY], env=env, environment=identity)
    assert run.rc == 0, run.stdout[-4000:]
    probe = run.result("probe")
    assert probe["status_codes"] == {"200": 20}
    assert probe["url"].endswith("/api/v1/namespaces/default/services/probe-me:http/proxy/")
    names = sorted(g["group_name"] for g in run.result("groups")["security_groups"])
    # the default flavour is terraform-aws-eks: the cluster group EKS makes and the module's node group
    assert names == ["demo-node-20261101000000000000000002", "eks-cluster-sg-demo-1234567890"]
