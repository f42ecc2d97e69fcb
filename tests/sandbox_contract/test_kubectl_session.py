"""A kubectl session as a person types it against the sandbox, each step checked as the person would check it:
typed generators (protobuf bodies), generateName, DaemonSets, Jobs and StatefulSets brought to life, the API
server's own validation, nulls that remove fields, rollouts undone."""

import hashlib
import json
import re
import subprocess

import pytest

ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def obj(sandbox, *args):
    return json.loads(sandbox.kubectl(*(list(args) + ["-o", "json"])).stdout)


@pytest.fixture
def ns(sandbox, request):
    digest = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:6]
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-") + "-" + digest
    sandbox.kubectl("create", "namespace", name)  # a typed generator: a protobuf body
    yield name
    sandbox.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_typed_generators_send_protobuf_and_make_what_they_say(sandbox, ns):
    sandbox.kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=2", "-n", ns)
    sandbox.kubectl("create", "configmap", "settings", "--from-literal=color=blue", "-n", ns)
    sandbox.kubectl("create", "secret", "generic", "creds", "--from-literal=password=s3cr3t", "-n", ns)
    sandbox.kubectl("create", "serviceaccount", "robot", "-n", ns)
    sandbox.kubectl("expose", "deployment", "web", "--port=80", "--target-port=80", "-n", ns)
    sandbox.kubectl("rollout", "status", "deploy/web", "-n", ns, "--timeout=30s")
    deploy = obj(sandbox, "get", "deploy", "web", "-n", ns)
    assert deploy["spec"]["replicas"] == 2 and deploy["status"]["readyReplicas"] == 2
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert deploy["spec"]["template"]["spec"]["restartPolicy"] == "Always"  # defaulted, not "" from the wire
    assert obj(sandbox, "get", "configmap", "settings", "-n", ns)["data"] == {"color": "blue"}
    assert obj(sandbox, "get", "secret", "creds", "-n", ns)["data"] == {"password": "czNjcjN0"}
    service = obj(sandbox, "get", "service", "web", "-n", ns)
    assert service["spec"]["selector"] == {"app": "web"} and service["spec"]["ports"][0]["port"] == 80
    assert len(obj(sandbox, "get", "endpoints", "web", "-n", ns)["subsets"][0]["addresses"]) == 2
    before = sandbox.kubectl("get", "namespaces", "-o", "name").stdout
    dry = sandbox.kubectl("create", "namespace", "never-made", "--dry-run=server", "-o", "json")
    assert json.loads(dry.stdout)["status"]["phase"] == "Active"
    assert sandbox.kubectl("get", "namespaces", "-o", "name").stdout == before


def test_generate_name_draws_the_servers_suffix(sandbox, ns):
    manifest = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"generateName": "run-", "namespace": ns}, "data": {"a": "1"}})
    names = {sandbox.kubectl("create", "-f", "-", "-o", "name", stdin=manifest).stdout.strip() for dummy in range(3)}
    assert len(names) == 3
    for name in names:
        assert re.match(r"^configmap/run-[%s]{5}$" % ALPHABET, name), name


def test_daemonset_runs_a_pod_per_node_and_rolls_out(sandbox, ns):
    manifest = json.dumps({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": ns},
                           "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {
                               "metadata": {"labels": {"app": "agent"}},
                               "spec": {"containers": [{"name": "agent", "image": "busybox:1.37"}]}}}})
    sandbox.kubectl("apply", "-f", "-", stdin=manifest)
    sandbox.kubectl("rollout", "status", "ds/agent", "-n", ns, "--timeout=30s")
    nodes = {n["metadata"]["name"] for n in obj(sandbox, "get", "nodes")["items"]}
    pods = obj(sandbox, "get", "pods", "-n", ns, "-l", "app=agent")["items"]
    assert {p["spec"]["nodeName"] for p in pods} == nodes and len(pods) == len(nodes)
    status = obj(sandbox, "get", "ds", "agent", "-n", ns)["status"]
    assert status["desiredNumberScheduled"] == status["numberReady"] == len(nodes)
    sandbox.kubectl("set", "image", "ds/agent", "agent=busybox:1.36", "-n", ns)
    sandbox.kubectl("rollout", "status", "ds/agent", "-n", ns, "--timeout=30s")
    images = {p["spec"]["containers"][0]["image"] for p in obj(sandbox, "get", "pods", "-n", ns, "-l", "app=agent")[
        "items"] if not p["metadata"].get("deletionTimestamp")}
    assert images == {"busybox:1.36"}
    sandbox.kubectl("delete", "ds", "agent", "-n", ns, "--cascade=foreground", "--wait=true")
    assert obj(sandbox, "get", "pods", "-n", ns, "-l", "app=agent")["items"] == []


def test_job_runs_to_completion(sandbox, ns):
    sandbox.kubectl("create", "job", "once", "--image=busybox:1.37", "-n", ns, "--", "echo", "hi")
    sandbox.kubectl("wait", "--for=condition=complete", "job/once", "-n", ns, "--timeout=30s")
    job = obj(sandbox, "get", "job", "once", "-n", ns)
    assert job["status"]["succeeded"] == 1 and job["status"].get("completionTime")
    assert {c["type"] for c in job["status"]["conditions"]} == {"Complete", "SuccessCriteriaMet"}
    assert "Completed" in sandbox.kubectl("get", "pods", "-n", ns, "-l", "job-name=once").stdout
    sandbox.kubectl("delete", "job", "once", "-n", ns, "--wait=true")
    assert obj(sandbox, "get", "pods", "-n", ns, "-l", "job-name=once")["items"] == []


def test_statefulset_makes_ordered_pods_with_bound_claims(sandbox, ns):
    manifest = json.dumps({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": ns},
                           "spec": {"serviceName": "db", "replicas": 2, "selector": {"matchLabels": {"app": "db"}},
                                    "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [
                                        {"name": "db", "image": "postgres:17",
                                         "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
                                    "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                                        "accessModes": ["ReadWriteOnce"],
                                        "resources": {"requests": {"storage": "1Gi"}}}}]}})
    sandbox.kubectl("apply", "-f", "-", stdin=manifest)
    sandbox.kubectl("rollout", "status", "sts/db", "-n", ns, "--timeout=30s")
    pods = sorted(p["metadata"]["name"] for p in obj(sandbox, "get", "pods", "-n", ns, "-l", "app=db")["items"])
    assert pods == ["db-0", "db-1"]
    claims = {c["metadata"]["name"]: c for c in obj(sandbox, "get", "pvc", "-n", ns)["items"]}
    assert sorted(claims) == ["data-db-0", "data-db-1"]
    assert all(c["status"]["phase"] == "Bound" and c["spec"]["storageClassName"] == "gp3" for c in claims.values())
    sandbox.kubectl("delete", "sts", "db", "-n", ns, "--wait=true")
    # the default retention policy keeps the claims (whenDeleted: Retain)
    assert sorted(c["metadata"]["name"] for c in obj(sandbox, "get", "pvc", "-n", ns)["items"]) == sorted(claims)


@pytest.mark.parametrize("change, field, words", [
    (lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("image"),
     "spec.template.spec.containers[0].image", "Required value"),
    (lambda d: d["spec"]["selector"]["matchLabels"].update(app="other"),
     "spec.template.metadata.labels", "`selector` does not match template `labels`"),
    (lambda d: d["spec"]["template"]["spec"]["containers"].append({"name": "web", "image": "x"}),
     "spec.template.spec.containers[1].name", 'Duplicate value: "web"'),
    (lambda d: d["metadata"].update(labels={"bad key!": "x"}), "metadata.labels", "Invalid value"),
], ids=["no-image", "selector", "duplicate-container", "label-key"])
def test_the_servers_own_validation_refuses_with_the_field(sandbox, ns, change, field, words):
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
              "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                  "metadata": {"labels": {"app": "web"}},
                  "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}
    change(deploy)
    refused = sandbox.kubectl("apply", "-f", "-", stdin=json.dumps(deploy), check=False)
    assert refused.returncode != 0
    assert "is invalid" in refused.stderr and field in refused.stderr and words in refused.stderr
    assert obj(sandbox, "get", "deploy", "-n", ns)["items"] == []


def test_immutable_fields_stay(sandbox, ns):
    sandbox.kubectl("create", "deployment", "web", "--image=nginx:1.27", "-n", ns)
    refused = sandbox.kubectl("patch", "deploy", "web", "-n", ns, "--type", "merge", "-p",
                              '{"spec":{"selector":{"matchLabels":{"app":"web","tier":"x"}},"template":{"metadata":'
                              '{"labels":{"app":"web","tier":"x"}}}}}', check=False)
    assert refused.returncode != 0 and "spec.selector" in refused.stderr and "field is immutable" in refused.stderr


def test_null_removes_a_field_and_a_rollout_is_undone(sandbox, ns):
    sandbox.kubectl("create", "deployment", "web", "--image=nginx:1.27", "-n", ns)
    sandbox.kubectl("set", "resources", "deploy/web", "-n", ns, "--requests=cpu=10m,memory=64Mi")
    sandbox.kubectl("patch", "deploy", "web", "-n", ns, "-p",
                    '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","resources":{"requests":'
                    '{"memory":null}}}]}}}}')
    resources = obj(sandbox, "get", "deploy", "web", "-n", ns)["spec"]["template"]["spec"]["containers"][0][
        "resources"]
    assert resources == {"requests": {"cpu": "10m"}}
    sandbox.kubectl("label", "deploy", "web", "-n", ns, "team=shop")
    sandbox.kubectl("annotate", "deploy", "web", "-n", ns, "owner=ops")
    sandbox.kubectl("patch", "deploy", "web", "-n", ns, "--type", "merge", "-p", '{"metadata":{"labels":{"team":null}}}')
    meta = obj(sandbox, "get", "deploy", "web", "-n", ns)["metadata"]
    assert "team" not in meta["labels"] and meta["annotations"]["owner"] == "ops"
    sandbox.kubectl("set", "image", "deploy/web", "nginx=nginx:1.28", "-n", ns)
    sandbox.kubectl("rollout", "status", "deploy/web", "-n", ns, "--timeout=30s")
    sandbox.kubectl("rollout", "undo", "deploy/web", "-n", ns)
    sandbox.kubectl("rollout", "status", "deploy/web", "-n", ns, "--timeout=30s")
    image = obj(sandbox, "get", "deploy", "web", "-n", ns)["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "nginx:1.27"
    sandbox.kubectl("scale", "deploy/web", "--replicas=3", "-n", ns)
    sandbox.kubectl("rollout", "status", "deploy/web", "-n", ns, "--timeout=30s")
    assert len(obj(sandbox, "get", "pods", "-n", ns, "-l", "app=web")["items"]) == 3


def test_rollout_history_describe_and_watch(sandbox, ns):
    sandbox.kubectl("create", "deployment", "web", "--image=nginx:1.27", "-n", ns)
    sandbox.kubectl("rollout", "status", "deploy/web", "-n", ns, "--timeout=30s")
    sandbox.kubectl("set", "image", "deploy/web", "nginx=nginx:1.28", "-n", ns)
    sandbox.kubectl("rollout", "status", "deploy/web", "-n", ns, "--timeout=30s")
    history = sandbox.kubectl("rollout", "history", "deploy/web", "-n", ns).stdout
    assert re.findall(r"^(\d+)\s", history, re.M) == ["1", "2"]
    assert "nginx:1.27" in sandbox.kubectl("rollout", "history", "deploy/web", "-n", ns, "--revision=1").stdout
    sandbox.kubectl("rollout", "undo", "deploy/web", "-n", ns)
    sandbox.kubectl("rollout", "status", "deploy/web", "-n", ns, "--timeout=30s")
    # the undone revision comes back as the newest (revision 1 becomes 3)
    history = sandbox.kubectl("rollout", "history", "deploy/web", "-n", ns).stdout
    assert re.findall(r"^(\d+)\s", history, re.M) == ["2", "3"]

    described = sandbox.kubectl("describe", "deploy", "web", "-n", ns).stdout
    assert re.search(r"Annotations:\s+deployment\.kubernetes\.io/revision: 3", described)
    assert re.search(r"Replicas:\s+1 desired \| 1 updated \| 1 total \| 1 available \| 0 unavailable", described)
    assert re.search(r"Normal\s+ScalingReplicaSet\s+.*deployment-controller\s+Scaled up replica set web-", described)
    pod = obj(sandbox, "get", "pods", "-n", ns, "-l", "app=web")["items"][0]["metadata"]["name"]
    described = sandbox.kubectl("describe", "pod", pod, "-n", ns).stdout
    assert re.search(r"Normal\s+Scheduled\s+.*default-scheduler\s+Successfully assigned %s/%s to " % (ns, pod),
                     described)
    assert re.search(r"Normal\s+Started\s+.*kubelet\s+Started container nginx", described)

    # a watch prints the rows a table prints, for the events it sees: one per change of the scaled deployment
    watch = subprocess.Popen(["kubectl", "get", "deploy", "web", "-n", ns, "-w", "--output-watch-events"],
                             env=sandbox.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        header = watch.stdout.readline()
        assert header.split() == ["EVENT", "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        assert watch.stdout.readline().split()[:3] == ["ADDED", "web", "1/1"]
        sandbox.kubectl("scale", "deploy/web", "--replicas=2", "-n", ns)
        rows = []
        while not rows or rows[-1][2] != "2/2":
            rows.append(watch.stdout.readline().split())
        assert all(row[:2] == ["MODIFIED", "web"] and len(row) == 6 for row in rows)
    finally:
        watch.kill()
        watch.communicate()


def test_server_dry_run_on_each_writing_verb_and_orphaning_delete(sandbox, ns):
    sandbox.kubectl("create", "deployment", "web", "--image=nginx:1.27", "-n", ns)
    sandbox.kubectl("rollout", "status", "deploy/web", "-n", ns, "--timeout=30s")
    before = obj(sandbox, "get", "deploy", "web", "-n", ns)
    for verb in (["label", "deploy", "web", "tier=front"], ["annotate", "deploy", "web", "owner=ops"],
                 ["scale", "deploy/web", "--replicas=3"], ["set", "image", "deploy/web", "nginx=nginx:1.28"],
                 ["patch", "deploy", "web", "--type", "merge", "-p", '{"spec":{"paused":true}}'],
                 ["expose", "deploy", "web", "--port=80"], ["create", "configmap", "never", "--from-literal=a=1"],
                 ["delete", "deploy", "web"]):
        answer = sandbox.kubectl(*(verb + ["-n", ns, "--dry-run=server"]))
        # kubectl patch prints its usual line; the others say it was a server dry run
        assert "(server dry run)" in answer.stdout or verb[0] == "patch", verb
    after = obj(sandbox, "get", "deploy", "web", "-n", ns)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert not sandbox.kubectl("get", "svc,cm", "-n", ns, "-o", "name").stdout.count("never")
    assert sandbox.kubectl("get", "svc", "web", "-n", ns, check=False).returncode != 0

    replicasets = obj(sandbox, "get", "rs", "-n", ns, "-l", "app=web")["items"]
    sandbox.kubectl("delete", "deploy", "web", "-n", ns, "--cascade=orphan")
    orphans = obj(sandbox, "get", "rs", "-n", ns, "-l", "app=web")["items"]
    assert [r["metadata"]["uid"] for r in orphans] == [r["metadata"]["uid"] for r in replicasets]
    assert all(not r["metadata"].get("ownerReferences") for r in orphans)
    pods = obj(sandbox, "get", "pods", "-n", ns, "-l", "app=web")["items"]
    assert len(pods) == 1 and pods[0]["status"]["phase"] == "Running"
