"""kubernetes.core 6.x's documented behaviours against the sandbox, beyond what the roles use: server-side apply's
field ownership (conflicts, force, shared and released fields), state: patched with each merge type and
k8s_json_patch, generate_name, lists, waits on every workload kind, k8s_info with wait, label selectors,
delete_options - each first in check mode with diff (nothing may change), then for real, then again (nothing
changes), each checked by what a user reads back afterwards."""

import hashlib
import json
import re
import time

import pytest
import yaml

from playbook import run_playbook


def k8s(task, module="kubernetes.core.k8s", **options):
    return {"name": task, module: options, "register": re.sub(r"\W+", "_", task)}


def get(sandbox, *args):
    return json.loads(sandbox.kubectl(*(["get"] + list(args) + ["-o", "json"])).stdout)


def exists(sandbox, *args):
    return sandbox.kubectl("get", *args, check=False).returncode == 0


@pytest.fixture
def ns(sandbox, request):
    name = "kc-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:8]
    sandbox.kubectl("create", "namespace", name)
    yield name
    sandbox.kubectl("delete", "namespace", name, "--wait=false", check=False)


def checked_then_done(sandbox, tmp_path, tasks, names, diffs=()):
    """Run tasks with --check --diff (each named task reports a change, those in diffs - changes to objects that
    exist - a diff; every write is a dry run), then for real (each changes), then again (none changes); return the
    real run."""
    started = time.time()  # the log is written as each answer goes out: entries are told apart by when they began
    check = run_playbook(tmp_path, tasks, extra_args=["--check", "--diff"], env=sandbox.env)
    assert check.rc == 0, check.stdout[-3000:]
    for name in names:
        assert check.result(name)["changed"] is True, name
    for name in diffs:
        diff = check.result(name).get("diff")
        assert diff and diff["before"] != diff["after"], name
    writes = sandbox.writes(started)
    assert writes and all(e["dry_run"] for e in writes), writes
    real = run_playbook(tmp_path, tasks, env=sandbox.env)
    assert real.rc == 0, real.stdout[-3000:]
    assert all(real.result(name)["changed"] is True for name in names)
    again = run_playbook(tmp_path, tasks, env=sandbox.env)
    assert again.rc == 0, again.stdout[-3000:]
    assert [name for name in names if again.result(name)["changed"]] == []
    return real


def owners(obj, *path):
    """The managers whose managedFields own the field at path (e.g. "f:spec", "f:replicas")."""
    found = []
    for entry in obj["metadata"].get("managedFields") or []:
        node = entry.get("fieldsV1") or {}
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            found.append(entry["manager"])
    return sorted(found)


def deployment(ns, replicas, labels=None):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": dict({"name": "web", "namespace": ns}, **({"labels": labels} if labels else {})),
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}


def test_server_side_apply_owns_conflicts_forces_and_releases(sandbox, ns, tmp_path):
    ssa = {"field_manager": "ops"}
    first = run_playbook(tmp_path, [k8s("apply", definition=deployment(ns, 2, {"team": "shop"}), apply=True,
                                        server_side_apply=ssa, wait=True, wait_timeout=60)], env=sandbox.env)
    assert first.rc == 0, first.stdout[-3000:]
    assert first.result("apply")["result"]["status"]["readyReplicas"] == 2
    live = get(sandbox, "deploy", "web", "-n", ns, "--show-managed-fields")
    assert owners(live, "f:spec", "f:replicas") == ["ops"]

    # someone scales by hand: the replicas become kubectl's, and the next apply meets a conflict naming them
    sandbox.kubectl("scale", "deploy/web", "--replicas=3", "-n", ns)
    conflicted = run_playbook(tmp_path, [dict(k8s("reapply", definition=deployment(ns, 2, {"team": "shop"}),
                                                  apply=True, server_side_apply=ssa), ignore_errors=True)],
                              env=sandbox.env)
    failure = conflicted.result("reapply")
    assert failure.get("failed") is True
    assert "conflict" in failure["msg"].lower() and ".spec.replicas" in failure["msg"]
    assert get(sandbox, "deploy", "web", "-n", ns)["spec"]["replicas"] == 3

    # forcing takes the field back; leaving the label out of the configuration removes it (nobody else owns it)
    forced = run_playbook(tmp_path, [
        k8s("forced", definition=deployment(ns, 2, {"team": "shop"}), apply=True,
            server_side_apply=dict(ssa, force_conflicts=True)),
        k8s("released", definition=deployment(ns, 2), apply=True, server_side_apply=ssa),
        k8s("released again", definition=deployment(ns, 2), apply=True, server_side_apply=ssa)], env=sandbox.env)
    assert forced.rc == 0, forced.stdout[-3000:]
    assert forced.result("forced")["changed"] is True and forced.result("released")["changed"] is True
    assert forced.result("released again")["changed"] is False
    live = get(sandbox, "deploy", "web", "-n", ns, "--show-managed-fields")
    assert live["spec"]["replicas"] == 2 and "team" not in (live["metadata"].get("labels") or {})
    assert owners(live, "f:spec", "f:replicas") == ["ops"]


def test_shared_fields_stay_until_the_last_owner_lets_go(sandbox, ns, tmp_path):
    def config(data):
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared", "namespace": ns},
                "data": data}

    def apply(name, manager, data, **extra):
        return k8s(name, definition=config(data), apply=True,
                   server_side_apply=dict({"field_manager": manager}, **extra))

    run = run_playbook(tmp_path, [apply("a", "team-a", {"mode": "blue"}),
                                  apply("b", "team-b", {"mode": "blue", "size": "s"}),
                                  dict(apply("a changes mode", "team-a", {"mode": "green"}), ignore_errors=True)],
                       env=sandbox.env)
    assert run.result("b")["changed"] is True  # same value: shared, no conflict
    refused = run.result("a changes mode")
    assert refused.get("failed") is True and 'team-b' in refused["msg"] and ".data.mode" in refused["msg"]
    live = get(sandbox, "cm", "shared", "-n", ns, "--show-managed-fields")
    assert live["data"] == {"mode": "blue", "size": "s"}
    assert owners(live, "f:data", "f:mode") == ["team-a", "team-b"]

    run = run_playbook(tmp_path, [apply("b lets go of mode", "team-b", {"size": "s"})], env=sandbox.env)
    assert run.rc == 0, run.stdout[-3000:]
    assert get(sandbox, "cm", "shared", "-n", ns)["data"] == {"mode": "blue", "size": "s"}  # team-a still owns it
    run = run_playbook(tmp_path, [apply("a lets go of mode", "team-a", {})], env=sandbox.env)
    assert run.rc == 0, run.stdout[-3000:]
    assert get(sandbox, "cm", "shared", "-n", ns)["data"] == {"size": "s"}


def test_patched_with_each_merge_type_and_json_patch(sandbox, ns, tmp_path):
    sandbox.kubectl("create", "deployment", "web", "--image=nginx:1.27", "-n", ns)
    sandbox.kubectl("create", "configmap", "settings", "--from-literal=color=blue", "--from-literal=keep=yes",
                    "-n", ns)
    tasks = [
        k8s("strategic", state="patched", kind="Deployment", name="web", namespace=ns, definition={
            "spec": {"template": {"spec": {"containers": [{"name": "nginx", "env": [
                {"name": "MODE", "value": "demo"}]}]}}}}),
        k8s("merge", state="patched", kind="ConfigMap", name="settings", namespace=ns, merge_type=["merge"],
            definition={"data": {"color": None, "size": "m"}}),
        k8s("json", module="kubernetes.core.k8s_json_patch", kind="Deployment", name="web", namespace=ns,
            patch=[{"op": "replace", "path": "/spec/replicas", "value": 2},
                   {"op": "add", "path": "/metadata/labels/tier", "value": "front"}]),
    ]
    checked_then_done(sandbox, tmp_path, tasks, ["strategic", "merge", "json"], diffs=["strategic", "merge", "json"])
    live = get(sandbox, "deploy", "web", "-n", ns)
    container = live["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.27" and container["env"] == [{"name": "MODE", "value": "demo"}]
    assert live["spec"]["replicas"] == 2 and live["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert get(sandbox, "cm", "settings", "-n", ns)["data"] == {"keep": "yes", "size": "m"}


def test_waits_on_every_workload_kind_lists_and_k8s_info(sandbox, ns, tmp_path):
    def workload(kind, name, **spec):
        pod = {"metadata": {"labels": {"app": name}},
               "spec": {"containers": [{"name": "main", "image": "busybox:1.37"}]}}
        if kind == "Job":
            pod["spec"]["restartPolicy"] = "Never"
        else:
            spec["selector"] = {"matchLabels": {"app": name}}
        return {"apiVersion": "batch/v1" if kind == "Job" else "apps/v1", "kind": kind,
                "metadata": {"name": name, "namespace": ns}, "spec": dict(spec, template=pod)}

    nodes = len(get(sandbox, "nodes")["items"])
    tasks = [
        k8s("daemonset", definition=workload("DaemonSet", "agent"), wait=True, wait_timeout=60),
        k8s("statefulset", definition=dict(workload("StatefulSet", "db", replicas=2, serviceName="db")),
            wait=True, wait_timeout=60),
        k8s("job", definition=workload("Job", "once"), wait=True, wait_timeout=60,
            wait_condition={"type": "Complete", "status": "True"}),
        k8s("list", definition={"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one", "namespace": ns}, "data": {"n": "1"}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "two", "namespace": ns}, "data": {"n": "2"}},
        ]}),
    ]
    real = checked_then_done(sandbox, tmp_path, tasks, ["daemonset", "statefulset", "job", "list"])
    assert real.result("daemonset")["result"]["status"]["numberReady"] == nodes
    assert real.result("statefulset")["result"]["status"]["readyReplicas"] == 2
    assert real.result("job")["result"]["status"]["succeeded"] == 1
    assert {c["metadata"]["name"]: c["data"] for c in get(sandbox, "cm", "one", "two", "-n", ns)["items"]} == {
        "one": {"n": "1"}, "two": {"n": "2"}}

    info = run_playbook(tmp_path, [k8s("pods", module="kubernetes.core.k8s_info", kind="Pod", namespace=ns,
                                       label_selectors=["app=db"], wait=True, wait_timeout=60,
                                       wait_condition={"type": "Ready", "status": "True"})], env=sandbox.env)
    assert info.rc == 0, info.stdout[-3000:]
    pods = info.result("pods")["resources"]
    assert sorted(p["metadata"]["name"] for p in pods) == ["db-0", "db-1"]
    assert all(p["status"]["phase"] == "Running" for p in pods)


def test_generate_name_label_selectors_and_delete_options(sandbox, ns, tmp_path):
    def config(name, labels):
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, "labels": labels},
                "data": {"a": "1"}}

    generated = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": ns}, "data": {"a": "1"}}
    check = run_playbook(tmp_path, [k8s("generated", generate_name="run-", definition=generated)],
                         extra_args=["--check"], env=sandbox.env)
    assert check.rc == 0 and check.result("generated")["changed"] is True, check.stdout[-3000:]
    assert not [c for c in get(sandbox, "cm", "-n", ns)["items"] if c["metadata"]["name"].startswith("run-")]
    made = run_playbook(tmp_path, [k8s("first", generate_name="run-", definition=generated),
                                   k8s("second", generate_name="run-", definition=generated)], env=sandbox.env)
    assert made.rc == 0, made.stdout[-3000:]
    names = {made.result(n)["result"]["metadata"]["name"] for n in ("first", "second")}
    assert len(names) == 2 and all(re.match(r"^run-[a-z0-9]{5}$", n) for n in names), names

    # a stream of documents: a List would make kubectl validate against /openapi/v2, which the sandbox does not
    # serve (README, "What the sandbox does not emulate")
    sandbox.kubectl("apply", "-f", "-", stdin="---\n".join(yaml.safe_dump(config(name, {"tier": tier})) for name, tier in (
        ("cache-1", "cache"), ("cache-2", "cache"), ("db", "db"))))
    sandbox.kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=2", "-n", ns)
    sandbox.kubectl("rollout", "status", "deploy/web", "-n", ns, "--timeout=30s")
    uid = get(sandbox, "deploy", "web", "-n", ns)["metadata"]["uid"]
    tasks = [
        k8s("by label", state="absent", kind="ConfigMap", namespace=ns, label_selectors=["tier=cache"],
            delete_all=True),
        k8s("orphaned", state="absent", kind="Deployment", name="web", namespace=ns, wait=True, wait_timeout=60,
            delete_options={"propagationPolicy": "Orphan", "preconditions": {"uid": uid}}),
    ]
    checked_then_done(sandbox, tmp_path, tasks, ["by label", "orphaned"])
    left = sorted(c["metadata"]["name"] for c in get(sandbox, "cm", "-n", ns, "-l", "tier")["items"])
    assert left == ["db"]
    assert not exists(sandbox, "deploy", "web", "-n", ns)
    replicasets = get(sandbox, "rs", "-n", ns, "-l", "app=web")["items"]
    assert len(replicasets) == 1 and not replicasets[0]["metadata"].get("ownerReferences")
    assert len(get(sandbox, "pods", "-n", ns, "-l", "app=web")["items"]) == 2  # the orphans keep running

    sandbox.kubectl("create", "deployment", "web", "--image=nginx:1.27", "-n", ns)
    stale = run_playbook(tmp_path, [dict(k8s("stale uid", state="absent", kind="Deployment", name="web",
                                             namespace=ns, delete_options={"preconditions": {"uid": uid}}),
                                         ignore_errors=True)], env=sandbox.env)
    assert stale.result("stale uid").get("failed") is True and "Precondition failed" in stale.result("stale uid")[
        "msg"]
    assert exists(sandbox, "deploy", "web", "-n", ns)


def test_client_side_apply_that_drops_a_resource_request_is_accepted(sandbox, ns, tmp_path):
    # kubernetes.core's apply (k8s_apply target): a merge patch replaces the container list, keeping the dropped
    # request as `memory: null`; decoding into the typed object gives that map entry a zero Quantity, so the
    # Deployment is accepted (in check mode too) rather than refused as invalid
    def applied(requests, name):
        body = deployment(ns, 1)
        body["spec"]["template"]["spec"]["containers"][0]["resources"] = {
            "requests": requests, "limits": {"cpu": "100m", "memory": "100Mi"}}
        return k8s(name, definition=body, apply=True)

    first = run_playbook(tmp_path, [applied({"cpu": "100m", "memory": "100Mi"}, "create")], env=sandbox.env)
    assert first.rc == 0, first.stdout[-3000:]
    for extra in (["--check"], []):
        run = run_playbook(tmp_path, [applied({"cpu": "50m"}, "drop memory")], extra_args=extra, env=sandbox.env)
        assert run.rc == 0, run.stdout[-3000:]
        result = run.result("drop memory")
        assert result["changed"] is True
        resources = result["result"]["spec"]["template"]["spec"]["containers"][0]["resources"]
        assert resources["requests"] == {"cpu": "50m", "memory": "0"}, resources
    stored = get(sandbox, "deployment", "web", "-n", ns)["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert stored["requests"] == {"cpu": "50m", "memory": "0"}
