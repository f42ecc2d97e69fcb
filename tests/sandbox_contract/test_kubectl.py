"""kubectl, a client nobody here wrote, against the emulated API server."""

import hashlib
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


SLEEPER = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: default}}
spec:
  restartPolicy: Never
  dnsConfig: {{options: [{{name: ndots, value: "2"}}]}}
  containers:
  - {{name: main, image: busybox, command: ["sleep", "infinity"]}}
  - {{name: second, image: busybox, command: ["sleep", "infinity"]}}
"""


def test_exec_runs_the_command_in_the_container_and_answers_its_exit_code(sandbox):
    sandbox.kubectl("apply", "-f", "-", stdin=SLEEPER.format(name="exec-target"))
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/exec-target", "--timeout=30s")
    pod_ip = sandbox.kubectl("get", "pod", "exec-target", "-o", "jsonpath={.status.podIP}").stdout
    resolv = sandbox.kubectl("exec", "exec-target", "-c", "main", "--", "cat", "/etc/resolv.conf").stdout
    # ClusterFirst: the namespace's search path first, the pod's dnsConfig option replacing the default ndots:5
    assert resolv.splitlines()[0] == "search default.svc.cluster.local svc.cluster.local cluster.local ec2.internal"
    assert "options ndots:2" in resolv.splitlines() and "ndots:5" not in resolv
    hosts = sandbox.kubectl("exec", "exec-target", "-c", "second", "--", "cat", "/etc/hosts").stdout
    assert "%s\texec-target" % pod_ip in hosts.splitlines()
    failed = sandbox.kubectl("exec", "exec-target", "-c", "main", "--", "sh", "-c", "echo out; exit 3", check=False)
    assert failed.returncode == 3 and failed.stdout == "out\n"
    assert "command terminated with exit code 3" in failed.stderr
    missing = sandbox.kubectl("exec", "exec-target", "-c", "main", "--", "cat", "/etc/nothing", check=False)
    assert missing.returncode == 1 and "No such file or directory" in missing.stderr
    # no such container, and a pod that has ended: refused before any stream opens
    wrong = sandbox.kubectl("exec", "exec-target", "-c", "third", "--", "true", check=False)
    assert wrong.returncode != 0 and "container third is not valid for pod exec-target" in wrong.stderr
    sandbox.kubectl("run", "exec-done", "--image=busybox", "--restart=Never", "--", "true")
    sandbox.kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/exec-done", "--timeout=30s")
    done = sandbox.kubectl("exec", "exec-done", "--", "true", check=False)
    assert done.returncode != 0 and \
        "cannot exec into a container in a completed pod; current phase is Succeeded" in done.stderr
    sandbox.kubectl("delete", "pod", "exec-target", "exec-done", "--grace-period=0", "--force")


def test_exec_through_the_python_client_streams_each_channel(sandbox):
    from kubernetes import client, config  # pylint: disable=import-outside-toplevel
    from kubernetes.stream import stream  # pylint: disable=import-outside-toplevel

    sandbox.kubectl("apply", "-f", "-", stdin=SLEEPER.format(name="exec-client"))
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/exec-client", "--timeout=30s")
    core = client.CoreV1Api(config.new_client_from_config(sandbox.identity_kubeconfig()))
    # without a container name, a pod of two is refused by the API server, naming both (the client reports the
    # refused WebSocket handshake with its status and body)
    try:
        stream(core.connect_get_namespaced_pod_exec, "exec-client", "default", command=["true"], stdout=True,
               stderr=True, stdin=False, tty=False)
        raise AssertionError("an exec without a container name was accepted")
    except client.exceptions.ApiException as exc:
        assert "Handshake status 400 Bad Request" in exc.reason
        assert "a container name must be specified for pod exec-client, choose one of: [main second]" in exc.reason
    response = stream(core.connect_get_namespaced_pod_exec, "exec-client", "default", container="main",
                      command=["sh", "-c", "echo to-out; cat /nothing; exit 4"], stdout=True, stderr=True,
                      stdin=False, tty=False, _preload_content=False)
    response.run_forever(timeout=10)
    assert response.read_stdout() == "to-out\n"
    assert response.read_stderr() == "cat: can't open '/nothing': No such file or directory\n"
    assert response.returncode == 4
    sandbox.kubectl("delete", "pod", "exec-client", "--grace-period=0", "--force")


def test_cp_copies_files_and_directories_through_tar_in_the_container(sandbox, tmp_path):
    # kubectl cp runs `tar -xmf - -C DIR` in the container to copy in and `tar cf - PATH` to copy out
    # (kubernetes.io/docs/reference/kubectl/generated/kubectl_cp/); each container has a file tree of its own
    sandbox.kubectl("apply", "-f", "-", stdin=SLEEPER.format(name="cp-target"))
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/cp-target", "--timeout=30s")
    source = tmp_path / "data"
    (source / "sub dir").mkdir(parents=True)
    (source / "sub dir" / "notes.txt").write_text("collection = kubernetes.core\n")
    blob = bytes(range(256)) * 64
    (source / "blob.bin").write_bytes(blob)
    sandbox.kubectl("cp", str(source), "default/cp-target:/tmp/data", "-c", "main")
    listed = sandbox.kubectl("exec", "cp-target", "-c", "main", "--", "find", "/tmp/data", "-type", "f").stdout
    assert sorted(listed.split("\n")[:-1]) == ["/tmp/data/blob.bin", "/tmp/data/sub dir/notes.txt"]
    digest = sandbox.kubectl("exec", "cp-target", "-c", "main", "--", "sha256sum", "/tmp/data/blob.bin").stdout
    assert digest.split()[0] == hashlib.sha256(blob).hexdigest()
    other = sandbox.kubectl("exec", "cp-target", "-c", "second", "--", "test", "-e", "/tmp/data", check=False)
    assert other.returncode == 1
    back = tmp_path / "back"
    sandbox.kubectl("cp", "default/cp-target:/tmp/data", str(back), "-c", "main")
    assert (back / "blob.bin").read_bytes() == blob
    assert (back / "sub dir" / "notes.txt").read_text() == "collection = kubernetes.core\n"
    # what is not there: tar's own words, passed on by kubectl, and nothing copied
    missing = sandbox.kubectl("cp", "default/cp-target:/tmp/nothing", str(tmp_path / "n"), "-c", "main", check=False)
    assert "tar: /tmp/nothing: No such file or directory" in missing.stdout + missing.stderr
    assert not (tmp_path / "n").exists()
    removed = sandbox.kubectl("exec", "cp-target", "-c", "main", "--", "sh", "-c",
                              "rm /tmp/data; echo $?; rm -r /tmp/data && test -e /tmp/data || echo gone")
    assert removed.stdout == "1\ngone\n" and "rm: '/tmp/data' is a directory" in removed.stderr
    sandbox.kubectl("delete", "pod", "cp-target", "--grace-period=0", "--force")


LOGGERS = """
apiVersion: batch/v1
kind: Job
metadata: {name: counter, namespace: default}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: low, image: busybox, command: [sh, -c, 'for i in $(seq 0 9); do echo $i; done']}
      - {name: high, image: busybox, command: [sh, -c, 'i=10; while [ $i -lt 20 ]; do echo $i; i=$((i+1)); done']}
---
apiVersion: v1
kind: Pod
metadata: {name: crasher, namespace: default}
spec:
  containers:
  - {name: c, image: busybox, command: [sh, -c, 'echo starting; date +%s; exit 1']}
"""


def test_logs_are_what_the_container_wrote_and_a_crashing_container_restarts(sandbox):
    sandbox.kubectl("apply", "-f", "-", stdin=LOGGERS)
    sandbox.kubectl("wait", "--for=condition=Complete", "job/counter", "--timeout=30s")
    assert sandbox.kubectl("logs", "job/counter", "-c", "high", "--tail=3").stdout == "17\n18\n19\n"
    # (kubectl reads the containers' logs from a map, so in no fixed order: each container's log whole and in order)
    both = sandbox.kubectl("logs", "job/counter", "--all-containers").stdout.split()
    low, high = [str(n) for n in range(10)], [str(n) for n in range(10, 20)]
    assert both in (low + high, high + low)
    pod = sandbox.kubectl("get", "pods", "-l", "job-name=counter", "-o", "jsonpath={.items[0].metadata.name}").stdout
    stamped = sandbox.kubectl("logs", pod, "-c", "low", "--timestamps", "--tail=1").stdout
    assert stamped.endswith("Z 9\n") and stamped.startswith("20")
    # the API server itself refuses a pod of two containers without a name (kubectl defaults the first)
    status, body = sandbox.api_get("/api/v1/namespaces/default/pods/%s/log" % pod)
    assert status == 400 and "a container name must be specified for pod %s, choose one of: [low high]" % pod in body
    # restartPolicy Always: the kubelet restarts the container that exited, with a back-off, and keeps its last run
    sandbox.kubectl("wait", "--for=jsonpath={.status.containerStatuses[0].restartCount}=2", "pod/crasher",
                    "--timeout=30s")
    # (restarted, the container runs a moment before it exits again and waits out its back-off)
    sandbox.kubectl("wait", "--for=jsonpath={.status.containerStatuses[0].state.waiting.reason}=CrashLoopBackOff",
                    "pod/crasher", "--timeout=30s")
    crasher = json.loads(sandbox.kubectl("get", "pod", "crasher", "-o", "json").stdout)
    state = crasher["status"]["containerStatuses"][0]
    assert state["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert state["lastState"]["terminated"]["exitCode"] == 1 and state["lastState"]["terminated"]["reason"] == "Error"
    assert crasher["status"]["conditions"][[c["type"] for c in crasher["status"]["conditions"]].index("Ready")][
        "status"] == "False"
    previous = sandbox.kubectl("logs", "crasher", "--previous").stdout.splitlines()
    assert previous[0] == "starting" and previous[1].isdigit()
    sandbox.kubectl("delete", "job", "counter", "--cascade=foreground")
    sandbox.kubectl("delete", "pod", "crasher")
