"""Controllers: rollouts, scaling, garbage collection, half-failed installs."""

import json
import subprocess
import time

import yaml

from sandbox import injection

DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: roll, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: roll}}
  template:
    metadata: {labels: {app: roll}}
    spec:
      containers: [{name: hello, image: "gcr.io/google-samples/hello-app:IMAGE"}]
"""


def _json(sandbox, *args):
    return json.loads(sandbox.kubectl(*(list(args) + ["-o", "json"])).stdout)


def test_template_change_rolls_out_a_new_replicaset_and_delete_collects_dependents(sandbox):
    sandbox.kubectl("apply", "-f", "-", stdin=DEPLOY.replace("IMAGE", "1.0"))
    sandbox.kubectl("rollout", "status", "deploy/roll", "--timeout=30s")
    first = _json(sandbox, "get", "rs", "-l", "app=roll")["items"]
    assert len(first) == 1
    sandbox.kubectl("apply", "-f", "-", stdin=DEPLOY.replace("IMAGE", "2.0"))
    sandbox.kubectl("rollout", "status", "deploy/roll", "--timeout=30s")
    sets = {rs["metadata"]["name"]: rs for rs in _json(sandbox, "get", "rs", "-l", "app=roll")["items"]}
    assert len(sets) == 2
    old = sets.pop(first[0]["metadata"]["name"])
    assert old["spec"]["replicas"] == 0
    new = list(sets.values())[0]
    assert new["spec"]["replicas"] == 2
    assert new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    pods = _json(sandbox, "get", "pods", "-l", "app=roll")["items"]
    assert len(pods) == 2
    assert all(p["spec"]["containers"][0]["image"].endswith(":2.0") for p in pods)
    deploy = _json(sandbox, "get", "deploy", "roll")
    assert deploy["metadata"]["generation"] == 2 and deploy["status"]["observedGeneration"] == 2

    sandbox.kubectl("scale", "deploy/roll", "--replicas=3")
    sandbox.kubectl("rollout", "status", "deploy/roll", "--timeout=30s")
    assert len(_json(sandbox, "get", "pods", "-l", "app=roll")["items"]) == 3

    sandbox.kubectl("delete", "deploy", "roll", "--wait=true")
    assert _json(sandbox, "get", "rs", "-l", "app=roll")["items"] == []
    assert _json(sandbox, "get", "pods", "-l", "app=roll")["items"] == []


def test_half_failed_install_is_repaired_by_the_next_run(sandbox):
    env = dict(sandbox.env)
    sandbox.faults(istioctl_fail_install=True)
    try:
        failed = subprocess.run(["istioctl", "install", "-y", "--set", "profile=demo"], env=env, capture_output=True,
                                text=True, timeout=120, check=False)
    finally:
        sandbox.faults(istioctl_fail_install=False)
    assert failed.returncode != 0
    assert "Ingress gateways encountered an error" in failed.stderr
    names = [d["metadata"]["name"] for d in _json(sandbox, "get", "deploy", "-n", "istio-system")["items"]]
    assert names == ["istiod"]
    repaired = subprocess.run(["istioctl", "install", "-y", "--set", "profile=demo"], env=env, capture_output=True,
                              text=True, timeout=120, check=False)
    assert repaired.returncode == 0, repaired.stderr
    names = sorted(d["metadata"]["name"] for d in _json(sandbox, "get", "deploy", "-n", "istio-system")["items"])
    assert names == ["istio-egressgateway", "istio-ingressgateway", "istiod"]
    prompt = subprocess.run(["istioctl", "install", "--set", "profile=demo"], env=env, capture_output=True, text=True,
                            input="n\n", timeout=60, check=False)
    assert "Proceed? (y/N)" in prompt.stdout and prompt.returncode != 0
    removed = subprocess.run(["istioctl", "uninstall", "-y", "--purge"], env=env, capture_output=True, text=True,
                             timeout=120, check=False)
    assert removed.returncode == 0


def test_manifest_generate_and_revisions(sandbox):
    generated = subprocess.run(["istioctl", "manifest", "generate", "--set", "profile=demo", "--revision", "canary"],
                               env=sandbox.env, capture_output=True, text=True, timeout=60, check=False)
    docs = [d for d in yaml.safe_load_all(generated.stdout) if d]
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("Deployment", "istiod-canary") in names
    assert ("MutatingWebhookConfiguration", "istio-sidecar-injector-canary") in names
    bad = subprocess.run(["istioctl", "install", "-y", "--set", "profile=galaxy"], env=sandbox.env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode != 0 and "profile galaxy" in bad.stderr


def test_cni_mode_uses_istio_validation():
    pod = {"metadata": {"name": "p", "namespace": "n", "labels": {"app": "a"}},
           "spec": {"containers": [{"name": "c", "image": "x"}]}}
    injection.inject(pod, {"global": {"tag": "1.22.0"}, "pilot": {"cni": {"enabled": True}}})
    init = pod["spec"]["initContainers"]
    assert [c["name"] for c in init] == ["istio-validation"]
    assert "--run-validation" in init[0]["args"] and "--skip-rule-apply" in init[0]["args"]
    assert [c["name"] for c in pod["spec"]["containers"]] == ["c", "istio-proxy"]


def _job(name, command, **spec):
    return json.dumps({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default"},
                       "spec": dict(spec, template={"spec": {"restartPolicy": "Never", "containers": [
                           {"name": "main", "image": "busybox:1.37", "command": command}]}})})


def test_containers_run_their_command_and_jobs_follow(sandbox):
    # as kubectl shows it: a Job whose container sleeps is Running while it sleeps, then Complete; `exit 3` fails
    # the pod and the Job retries up to its backoffLimit; a command the sandbox cannot run (a server) runs until
    # deleted, and activeDeadlineSeconds ends its Job
    sandbox.kubectl("create", "-f", "-", stdin=_job("sleeper", ["sleep", "5"]))
    sandbox.kubectl("create", "-f", "-", stdin=_job("failing", ["sh", "-c", "echo no; exit 3"], backoffLimit=1))
    server = _job("server", ["nginx", "-g", "daemon off;"], activeDeadlineSeconds=4)
    sandbox.kubectl("create", "-f", "-", stdin=server)
    sandbox.kubectl("wait", "pod", "-l", "job-name=sleeper", "--for=condition=Ready", "--timeout=30s")
    job = _json(sandbox, "get", "job", "sleeper")
    assert job["status"].get("active") == 1 and not job["status"].get("succeeded"), job["status"]
    sandbox.kubectl("wait", "job/sleeper", "--for=condition=Complete", "--timeout=60s")
    pod = _json(sandbox, "get", "pod", "-l", "job-name=sleeper")["items"][0]
    assert pod["status"]["phase"] == "Succeeded"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"

    sandbox.kubectl("wait", "job/failing", "--for=condition=Failed", "--timeout=60s")
    pods = _json(sandbox, "get", "pod", "-l", "job-name=failing")["items"]
    assert len(pods) == 2 and {p["status"]["phase"] for p in pods} == {"Failed"}  # backoffLimit 1: one retry
    assert {p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] for p in pods} == {3}
    assert _json(sandbox, "get", "job", "failing")["status"]["conditions"][-1]["reason"] == "BackoffLimitExceeded"

    sandbox.kubectl("wait", "job/server", "--for=condition=Failed", "--timeout=60s")
    failed = _json(sandbox, "get", "job", "server")["status"]
    assert failed["conditions"][-1]["reason"] == "DeadlineExceeded", failed
    assert failed["conditions"][-1]["message"] == "Job was active longer than specified deadline"
    for name in ("sleeper", "failing", "server"):
        sandbox.kubectl("delete", "job", name, "--cascade=foreground", "--wait=false")


def test_a_pod_runs_only_as_a_service_account_that_exists(sandbox):
    # the ServiceAccount admission plugin: a pod (and so a Deployment's pods) naming a missing account is refused,
    # the ReplicaSet records why and creates the pods once the account exists
    refused = sandbox.kubectl("run", "lonely", "--image=busybox:1.37", "--restart=Never",
                              "--overrides", json.dumps({"spec": {"serviceAccountName": "ghost"}}), check=False)
    assert refused.returncode != 0
    assert 'error looking up service account default/ghost: serviceaccount "ghost" not found' in refused.stderr
    sandbox.kubectl("create", "deployment", "haunted", "--image=busybox:1.37")
    sandbox.kubectl("patch", "deployment", "haunted", "--type=merge", "-p",
                    json.dumps({"spec": {"template": {"spec": {"serviceAccountName": "ghost"}}}}))
    deadline = time.monotonic() + 30
    events = []
    while not events and time.monotonic() < deadline:  # the controller's FailedCreate, polled
        events = [e for e in _json(sandbox, "get", "events", "--field-selector", "reason=FailedCreate")["items"]
                  if 'serviceaccount "ghost" not found' in e["message"]]
    assert events and events[0]["involvedObject"]["kind"] == "ReplicaSet"
    sandbox.kubectl("create", "serviceaccount", "ghost")
    sandbox.kubectl("rollout", "status", "deployment/haunted", "--timeout=60s")
    pods = _json(sandbox, "get", "pods", "-l", "app=haunted")["items"]
    assert pods and {p["spec"]["serviceAccountName"] for p in pods} == {"ghost"}
    sandbox.kubectl("delete", "deployment", "haunted")


def test_pods_stop_gracefully_and_foreground_deletion_waits_for_dependents(sandbox):
    # a deleted pod keeps running, with its deletionTimestamp, until its containers stop: `sleep` as a container's
    # PID 1 ignores SIGTERM, so it is killed when the grace period ends; a foreground deletion of its Job keeps the
    # Job (finalizer foregroundDeletion) until the pod is gone
    sandbox.kubectl("create", "-f", "-", stdin=_job("graceful", ["sleep", "600"]))
    sandbox.kubectl("wait", "pod", "-l", "job-name=graceful", "--for=condition=Ready", "--timeout=30s")
    pod = _json(sandbox, "get", "pod", "-l", "job-name=graceful")["items"][0]["metadata"]["name"]
    sandbox.kubectl("delete", "job", "graceful", "--cascade=foreground", "--wait=false")
    held = _json(sandbox, "get", "job", "graceful")
    assert "foregroundDeletion" in held["metadata"]["finalizers"] and held["metadata"]["deletionTimestamp"]
    stopping = _json(sandbox, "get", "pod", pod)
    assert stopping["metadata"]["deletionGracePeriodSeconds"] == 30
    assert stopping["status"]["phase"] == "Running"
    # a shorter grace period ends it sooner, and the Job follows its last dependent
    sandbox.kubectl("delete", "pod", pod, "--grace-period=1")
    sandbox.kubectl("wait", "job/graceful", "--for=delete", "--timeout=30s")

    # a background deletion of the Job (the garbage collector deletes its pod gracefully): the Job is gone, its pod
    # still runs out its grace period (what kubernetes.core's k8s_gc target checks)
    sandbox.kubectl("create", "-f", "-", stdin=_job("background", ["sleep", "600"]))
    sandbox.kubectl("wait", "pod", "-l", "job-name=background", "--for=condition=Ready", "--timeout=30s")
    sandbox.kubectl("delete", "job", "background", "--cascade=background")
    left = _json(sandbox, "get", "pod", "-l", "job-name=background")["items"]
    assert [p["status"]["phase"] for p in left] == ["Running"] and left[0]["metadata"]["deletionTimestamp"]
    sandbox.kubectl("delete", "pod", left[0]["metadata"]["name"], "--grace-period=0", "--force")

    # a server process stops at once on SIGTERM: its pod is gone as soon as the DELETE is answered
    sandbox.kubectl("run", "server", "--image=nginx:1.27", "--command", "--", "nginx", "-g", "daemon off;")
    sandbox.kubectl("wait", "pod/server", "--for=condition=Ready", "--timeout=30s")
    sandbox.kubectl("delete", "pod", "server", "--wait=false")
    assert sandbox.kubectl("get", "pod", "server", check=False).returncode != 0


def test_string_data_is_written_into_data_and_never_stored(sandbox):
    made = json.loads(sandbox.kubectl("create", "-o", "json", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "written", "namespace": "default"},
        "data": {"kept": "a2VwdA==", "over": "b2xk"}, "stringData": {"over": "new", "plain": "text"}})).stdout)
    assert made["data"] == {"kept": "a2VwdA==", "over": "bmV3", "plain": "dGV4dA=="}
    assert "stringData" not in made and made["type"] == "Opaque"
    sandbox.kubectl("delete", "secret", "written")


def test_eviction_respects_the_pods_disruption_budget(sandbox, tmp_path):
    # POST pods/NAME/eviction (kubernetes.io/docs/concepts/scheduling-eviction/api-eviction/): 429 while a budget
    # allows no disruption, else the pod is deleted
    sandbox.kubectl("create", "deployment", "guarded", "--image=nginx:1.27", "--replicas=2")
    sandbox.kubectl("rollout", "status", "deployment/guarded", "--timeout=60s")
    sandbox.kubectl("create", "pdb", "guarded", "--selector=app=guarded", "--min-available=2")
    pods = [p["metadata"]["name"] for p in _json(sandbox, "get", "pods", "-l", "app=guarded")["items"]]
    body = tmp_path / "eviction.json"
    body.write_text(json.dumps({"apiVersion": "policy/v1", "kind": "Eviction",
                                "metadata": {"name": pods[0], "namespace": "default"}}))
    path = "/api/v1/namespaces/default/pods/%s/eviction" % pods[0]
    refused = sandbox.kubectl("create", "--raw", path, "-f", str(body), check=False)
    assert refused.returncode != 0 and "disruption budget" in refused.stderr, refused.stderr
    sandbox.kubectl("patch", "pdb", "guarded", "--type=merge", "-p", '{"spec": {"minAvailable": 1}}')
    evicted = json.loads(sandbox.kubectl("create", "--raw", path, "-f", str(body)).stdout)
    assert evicted["status"] == "Success"
    assert sandbox.kubectl("get", "pod", pods[0], check=False).returncode != 0
    sandbox.kubectl("delete", "pdb", "guarded")
    sandbox.kubectl("delete", "deployment", "guarded")


def test_pods_go_where_affinity_and_taints_let_them(sandbox):
    # kube-scheduler's filters and the taint manager (kubernetes.io/docs/concepts/scheduling-eviction/)
    nodes = sorted(n["metadata"]["name"] for n in _json(sandbox, "get", "nodes")["items"])
    pinned = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pinned", "namespace": "default"},
              "spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                  "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                                          "values": [nodes[1]]}]}]}}},
                       "containers": [{"name": "c", "image": "nginx:1.27"}]}}
    sandbox.kubectl("create", "-f", "-", stdin=json.dumps(pinned))
    sandbox.kubectl("wait", "pod/pinned", "--for=condition=Ready", "--timeout=30s")
    assert _json(sandbox, "get", "pod", "pinned")["spec"]["nodeName"] == nodes[1]
    # a NoSchedule taint keeps a new pod pinned there Pending, with the scheduler's reason
    sandbox.kubectl("taint", "node", nodes[1], "dedicated=infra:NoSchedule")
    waiting_pod = dict(pinned, metadata={"name": "waiting", "namespace": "default"})
    sandbox.kubectl("create", "-f", "-", stdin=json.dumps(waiting_pod))
    sandbox.kubectl("wait", "pod/waiting", "--for=jsonpath={.status.conditions[0].reason}=Unschedulable",
                    "--timeout=30s")
    waiting = _json(sandbox, "get", "pod", "waiting")["status"]
    assert waiting["phase"] == "Pending" and "untolerated taint" in waiting["conditions"][0]["message"]
    assert _json(sandbox, "get", "pod", "pinned")["status"]["phase"] == "Running"  # NoSchedule evicts nothing
    # NoExecute evicts the pod that does not tolerate it; once the taints go, the waiting pod is scheduled
    sandbox.kubectl("taint", "node", nodes[1], "drain=now:NoExecute")
    sandbox.kubectl("wait", "pod/pinned", "--for=delete", "--timeout=30s")
    sandbox.kubectl("taint", "node", nodes[1], "dedicated-", "drain-")
    assert "taints" not in _json(sandbox, "get", "node", nodes[1])["spec"]  # omitempty: no empty list left
    sandbox.kubectl("wait", "pod/waiting", "--for=condition=Ready", "--timeout=30s")
    assert _json(sandbox, "get", "pod", "waiting")["spec"]["nodeName"] == nodes[1]
    sandbox.kubectl("delete", "pod", "waiting")


def test_a_statefulset_without_a_service_name_is_accepted(sandbox):
    # spec.serviceName is optional (kubernetes/kubernetes#130233); kubernetes.core's k8s_scale target makes one
    made = sandbox.kubectl("create", "-f", "-", check=False, stdin=json.dumps({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "nameless", "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "nameless"}},
                 "template": {"metadata": {"labels": {"app": "nameless"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}}))
    assert made.returncode == 0, made.stderr
    sandbox.kubectl("rollout", "status", "statefulset/nameless", "--timeout=60s")
    sandbox.kubectl("delete", "statefulset", "nameless")


def _daemonset(name, container, grace):
    """A DaemonSet of one container ``c`` labelled app=NAME, as JSON for kubectl apply."""
    return json.dumps({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": "default"},
                       "spec": {"selector": {"matchLabels": {"app": name}},
                                "template": {"metadata": {"labels": {"app": name}},
                                             "spec": {"terminationGracePeriodSeconds": grace,
                                                      "containers": [dict(container, name="c")]}}}})


def test_a_daemonset_update_replaces_each_pod_after_the_old_one_has_stopped(sandbox):
    # RollingUpdate with maxSurge 0: a node gets its new pod once the old one is gone; the old pods sleep as PID 1,
    # so each waits its grace period out (2 s here)
    def daemonset(image):
        return _daemonset("sleepers", {"image": image, "command": ["sleep", "600"]}, 2)
    sandbox.kubectl("apply", "-f", "-", stdin=daemonset("busybox:1.36"))
    sandbox.kubectl("rollout", "status", "daemonset/sleepers", "--timeout=60s")
    sandbox.kubectl("apply", "-f", "-", stdin=daemonset("busybox:1.37"))
    stopping = [p for p in _json(sandbox, "get", "pods", "-l", "app=sleepers")["items"]
                if p["metadata"].get("deletionTimestamp")]
    assert stopping and all(p["spec"]["containers"][0]["image"] == "busybox:1.36" for p in stopping)
    sandbox.kubectl("rollout", "status", "daemonset/sleepers", "--timeout=60s")
    pods = _json(sandbox, "get", "pods", "-l", "app=sleepers")["items"]
    assert sorted(p["spec"]["containers"][0]["image"] for p in pods) == ["busybox:1.37"] * len(
        _json(sandbox, "get", "nodes")["items"])
    sandbox.kubectl("delete", "daemonset", "sleepers")


def test_a_statefulset_update_rolls_its_pods_from_the_highest_ordinal(sandbox):
    def statefulset(image):
        return json.dumps({"apiVersion": "apps/v1", "kind": "StatefulSet",
                           "metadata": {"name": "ordered", "namespace": "default"},
                           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "ordered"}},
                                    "template": {"metadata": {"labels": {"app": "ordered"}},
                                                 "spec": {"containers": [{"name": "c", "image": image}]}}}})
    sandbox.kubectl("apply", "-f", "-", stdin=statefulset("nginx:1.26"))
    sandbox.kubectl("rollout", "status", "statefulset/ordered", "--timeout=60s")
    before = _json(sandbox, "get", "statefulset", "ordered")["status"]
    sandbox.kubectl("apply", "-f", "-", stdin=statefulset("nginx:1.27"))
    done = sandbox.kubectl("rollout", "status", "statefulset/ordered", "--timeout=60s", check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    status = _json(sandbox, "get", "statefulset", "ordered")["status"]
    assert status["currentRevision"] == status["updateRevision"] != before["currentRevision"]
    images = {p["metadata"]["name"]: p["spec"]["containers"][0]["image"]
              for p in _json(sandbox, "get", "pods", "-l", "app=ordered")["items"]}
    assert images == {"ordered-0": "nginx:1.27", "ordered-1": "nginx:1.27"}
    # each revision is a ControllerRevision named as the pods' controller-revision-hash label names it
    revisions = {r["metadata"]["name"]: r for r in _json(sandbox, "get", "controllerrevisions", "-l", "app=ordered")[
        "items"]}
    assert sorted(r["revision"] for r in revisions.values()) == [1, 2]
    assert revisions[status["updateRevision"]]["revision"] == 2
    assert revisions[before["currentRevision"]]["revision"] == 1
    assert all(r["metadata"]["name"].endswith("-" + r["metadata"]["labels"]["controller.kubernetes.io/hash"])
               for r in revisions.values())
    sandbox.kubectl("delete", "statefulset", "ordered")


INIT = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: default}}
spec:
  restartPolicy: {policy}
  initContainers:
  - {{name: setup, image: busybox:1.37, command: [sh, -c, '{script}']}}
  containers:
  - {{name: app, image: busybox:1.37, command: [sleep, "600"]}}
"""


def test_init_containers_run_before_the_app_containers(sandbox):
    # kubernetes.io's init-containers page: the pod is Pending (kubectl: Init:0/1) while its init container runs,
    # and its app containers start only after it has ended with 0; a failing one fails a pod that never restarts
    sandbox.kubectl("apply", "-f", "-", stdin=INIT.format(name="initialized", policy="Always",
                                                          script="echo preparing; sleep 3"))
    sandbox.kubectl("wait", "--for=jsonpath={.status.initContainerStatuses[0].started}=true", "pod/initialized",
                    "--timeout=30s")
    early = json.loads(sandbox.kubectl("get", "pod", "initialized", "-o", "json").stdout)["status"]
    assert "running" in early["initContainerStatuses"][0]["state"] and early["phase"] == "Pending"
    assert early["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/initialized", "--timeout=30s")
    status = json.loads(sandbox.kubectl("get", "pod", "initialized", "-o", "json").stdout)["status"]
    assert status["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert sandbox.kubectl("logs", "initialized", "-c", "setup").stdout == "preparing\n"
    sandbox.kubectl("apply", "-f", "-", stdin=INIT.format(name="init-fails", policy="Never", script="exit 5"))
    sandbox.kubectl("wait", "--for=jsonpath={.status.phase}=Failed", "pod/init-fails", "--timeout=30s")
    failed = json.loads(sandbox.kubectl("get", "pod", "init-fails", "-o", "json").stdout)["status"]
    assert failed["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 5
    assert failed["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    sandbox.kubectl("delete", "pod", "initialized", "init-fails", "--grace-period=0", "--force")


def test_an_image_the_registry_does_not_hold_fails_to_pull_and_stalls_the_rollout(sandbox):
    # kubernetes.io's images page: the kubelet reports ErrImagePull, then ImagePullBackOff while it retries; the
    # Deployment's new pods never become available, a pause is reported as such, and the old ones keep serving
    sandbox.kubectl("create", "deployment", "pull", "--image=nginx:1.27", "--replicas=2")
    sandbox.kubectl("rollout", "status", "deploy/pull", "--timeout=30s")
    sandbox.kubectl("set", "image", "deploy/pull", "nginx=nginx:1.0.23449928384992872784")
    sandbox.kubectl("wait", "deploy/pull", "--for=jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/"
                    "revision}=2", "--timeout=10s")
    newest = [rs for rs in _json(sandbox, "get", "rs", "-l", "app=pull")["items"]
              if rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"][0]
    sandbox.kubectl("wait", "pod", "-l", "pod-template-hash=" + newest["metadata"]["labels"]["pod-template-hash"],
                    "--timeout=30s", "--for=jsonpath={.status.containerStatuses[0].state.waiting.reason}=ImagePullBackOff")
    stalled = sandbox.kubectl("rollout", "status", "deploy/pull", "--timeout=3s", check=False)
    assert stalled.returncode != 0
    events = sandbox.kubectl("get", "events", "--field-selector", "reason=Failed", "-o", "json").stdout
    assert 'docker.io/library/nginx:1.0.23449928384992872784: not found' in events
    deploy = _json(sandbox, "get", "deploy", "pull")
    assert deploy["status"]["availableReplicas"] == 2
    sandbox.kubectl("rollout", "pause", "deploy/pull")
    sandbox.kubectl("wait", "deploy/pull", "--for=jsonpath={.status.conditions[1].reason}=DeploymentPaused",
                    "--timeout=10s")
    sandbox.kubectl("rollout", "resume", "deploy/pull")
    sandbox.kubectl("rollout", "undo", "deploy/pull")
    sandbox.kubectl("rollout", "status", "deploy/pull", "--timeout=30s")
    unknown = sandbox.kubectl("run", "made-up", "--image=i_made_this_up:and_this_too", "--restart=Never")
    assert unknown.returncode == 0
    sandbox.kubectl("wait", "pod/made-up", "--timeout=30s",
                    "--for=jsonpath={.status.containerStatuses[0].state.waiting.reason}=ImagePullBackOff")
    assert _json(sandbox, "get", "pod", "made-up")["status"]["phase"] == "Pending"
    sandbox.kubectl("delete", "deploy", "pull")
    sandbox.kubectl("delete", "pod", "made-up")


def test_a_daemonset_keeps_its_history_and_rolls_back_as_kubernetes_io_shows(sandbox):
    # kubernetes.io/docs/tasks/manage-daemon/rollback-daemon-set/, step by step: `rollout history` lists the
    # revisions (the controller's ControllerRevisions), `rollout undo --to-revision=1` answers "rolled back", the
    # rollback finishes, and the first template's revision is the newest again (renumbered, never copied)
    def daemonset(image):
        return _daemonset("keeper", {"image": image}, 0)
    sandbox.kubectl("apply", "-f", "-", stdin=daemonset("nginx:1.26"))
    sandbox.kubectl("rollout", "status", "daemonset/keeper", "--timeout=60s")
    sandbox.kubectl("apply", "-f", "-", stdin=daemonset("nginx:1.27"))
    sandbox.kubectl("rollout", "status", "daemonset/keeper", "--timeout=60s")

    history = sandbox.kubectl("rollout", "history", "daemonset/keeper").stdout.split()
    assert history[:4] == ["daemonset.apps/keeper", "REVISION", "CHANGE-CAUSE", "1"] and history[5] == "2"
    first = sandbox.kubectl("rollout", "history", "daemonset/keeper", "--revision=1").stdout
    assert "nginx:1.26" in first and "nginx:1.27" not in first
    revisions = _json(sandbox, "get", "controllerrevisions", "-l", "app=keeper")["items"]
    assert sorted(r["revision"] for r in revisions) == [1, 2]
    for revision in revisions:
        ref = revision["metadata"]["ownerReferences"][0]
        assert ref["kind"] == "DaemonSet" and ref["name"] == "keeper" and ref["controller"] is True
        assert revision["data"]["spec"]["template"]["$patch"] == "replace"
        assert revision["metadata"]["name"] == "keeper-" + revision["metadata"]["labels"]["controller-revision-hash"]
        assert revision["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == str(
            revision["revision"])
    table = sandbox.kubectl("get", "controllerrevisions", "-l", "app=keeper").stdout.splitlines()
    assert table[0].split() == ["NAME", "CONTROLLER", "REVISION", "AGE"]
    assert all(line.split()[1] == "daemonset.apps/keeper" for line in table[1:])

    undone = sandbox.kubectl("rollout", "undo", "daemonset/keeper", "--to-revision=1")
    assert undone.stdout.strip() == "daemonset.apps/keeper rolled back"
    sandbox.kubectl("rollout", "status", "daemonset/keeper", "--timeout=60s")
    images = set(p["spec"]["containers"][0]["image"] for p in _json(sandbox, "get", "pods", "-l", "app=keeper")["items"])
    assert images == {"nginx:1.26"}
    revisions = {r["metadata"]["name"]: r["revision"]
                 for r in _json(sandbox, "get", "controllerrevisions", "-l", "app=keeper")["items"]}
    assert sorted(revisions.values()) == [2, 3]
    pods_hash = set(p["metadata"]["labels"]["controller-revision-hash"]
                    for p in _json(sandbox, "get", "pods", "-l", "app=keeper")["items"])
    assert {"keeper-" + h for h in pods_hash} == {name for name, number in revisions.items() if number == 3}

    # the revision is immutable: its data cannot be changed, only the revision number
    name = next(iter(revisions))
    refused = sandbox.kubectl("patch", "controllerrevision", name, "--type=merge", "-p",
                              '{"data": {"spec": {"template": {"metadata": {"labels": {"app": "other"}}}}}}',
                              check=False)
    assert refused.returncode != 0 and "data: Invalid value" in refused.stderr and "field is immutable" in refused.stderr
    sandbox.kubectl("delete", "daemonset", "keeper", "--wait=true")
    assert _json(sandbox, "get", "controllerrevisions", "-l", "app=keeper")["items"] == []
