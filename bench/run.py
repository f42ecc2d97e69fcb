"""make bench: the collection measured beside what a user would otherwise do.

1. site.yml cold and warm on a fresh sandbox, and the shell-script baseline
   (bench/baseline.sh) cold and warm on another fresh sandbox, twice each
   (the round with the lower cold time kept): wall time, tasks, API reads
   and writes (the sandbox's request log), time per role.
2. sidecar_info at 10, 100, 1000 and 5000 pods, listing every pod and only
   the violating ones: task time, the module's process alone, the sandbox's
   share, API requests, peak memory.
3. traffic_probe beside hey and wrk against nginx on loopback: maximum
   requests per second at one concurrency, latency at a fixed rate, and how
   closely the fixed rate is held.
4. A fleet: site.yml cold on one sandbox cluster and on three (ctl.py up
   --clusters 3, inventories/sandbox-fleet), forks 3: wall time ratio, tasks
   per cluster, and the CPU the controller and the clusters used.

Writes bench/results/latest.json and latest.md; keeps the history section of
the previous latest.json and adds this run to it. Reports, never fails on a
number: the exit status is non-zero only when a measurement could not be made.
"""

import argparse
import concurrent.futures
import datetime
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import sandboxrun  # noqa: E402  pylint: disable=wrong-import-position
from playbook import (  # noqa: E402  pylint: disable=wrong-import-position
    ansible_environment, local_play_argv, playbook_invocation)

BIN = os.path.dirname(sys.executable)
INVENTORY = os.path.join(ROOT, "inventories", "sandbox")
FLEET_INVENTORY = os.path.join(ROOT, "inventories", "sandbox-fleet")
RESULTS = os.path.join(HERE, "results")
WRITES = ("POST", "PUT", "PATCH", "DELETE")


# ---------------------------------------------------------------- helpers

def run(command, env=None, timeout=1200, cwd=None):
    started = time.monotonic()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd)
    return proc, time.monotonic() - started


def api_traffic(entries):
    """Requests split into object reads, watches, writes, and probe traffic through the service proxy."""
    proxied = [e for e in entries if "/proxy" in e["path"]]
    objects = [e for e in entries if "/proxy" not in e["path"]]
    reads = [e for e in objects if e["verb"] in ("GET", "HEAD") and not e.get("watch")]
    return {"requests": len(entries), "reads": len(reads), "watches": sum(1 for e in objects if e.get("watch")),
            "writes": sum(1 for e in objects if e["verb"] in WRITES), "proxied": len(proxied)}


def iso_seconds(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# Actions that run in the controller's worker alone; every other action starts a module process on the host.
CONTROLLER_ONLY = ("ansible.builtin.set_fact", "ansible.builtin.assert", "ansible.builtin.debug",
                   "ansible.builtin.fail", "ansible.builtin.include_tasks", "ansible.builtin.include_role",
                   "ansible.builtin.validate_argument_spec", "ansible.builtin.meta")


def task_report(data):
    """(tasks run, {role: seconds}, objects applied, {action: [tasks, seconds]}) from the json callback's
    output."""
    tasks, roles, objects, kinds = 0, {}, 0, {}
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            info = task["task"]
            hosts = list(task.get("hosts", {}).values())
            if not hosts or all(h.get("skipped") for h in hosts):
                continue
            tasks += 1
            duration = info.get("duration") or {}
            seconds = iso_seconds(duration["end"]) - iso_seconds(duration["start"]) if duration.get("end") else 0.0
            name = info.get("name", "")
            role = name.split(" : ", 1)[0].split(".")[-1] if " : " in name else "(playbook)"
            roles[role] = roles.get(role, 0.0) + seconds
            action = hosts[0].get("action") or "(unknown)"
            kind = kinds.setdefault(action, [0, 0.0])
            kind[0] += 1
            kind[1] += seconds
            for host in hosts:
                objects += len(host.get("objects") or [])
    per_kind = {k: [v[0], round(v[1], 2)] for k, v in sorted(kinds.items(), key=lambda kv: -kv[1][1])}
    return tasks, {k: round(v, 2) for k, v in sorted(roles.items(), key=lambda kv: -kv[1])}, objects, per_kind


def ratio(a, b):
    return round(a / b, 2) if b else None


# ---------------------------------------------------------------- 1. the whole demo

def site_run(sandbox, label):
    start = len(sandbox.requests())
    argv, env = playbook_invocation("site.yml", INVENTORY, env={"SANDBOX_STATE_DIR": sandbox.state_dir},
                                    base=sandbox.env)
    proc, wall = run(argv, env=env)
    if proc.returncode != 0:
        raise RuntimeError("site.yml (%s) failed:\n%s" % (label, proc.stdout[-3000:] + proc.stderr[-2000:]))
    data = callback_output(proc.stdout)
    tasks, roles, objects, kinds = task_report(data)
    stats = data.get("stats", {}).get("localhost", {})
    module_tasks = sum(n for action, (n, dummy) in kinds.items() if action not in CONTROLLER_ONLY)
    report = {"wall_s": round(wall, 2), "tasks": tasks, "changed": stats.get("changed"),
              "objects_applied": objects, "per_role_s": roles, "per_action": kinds,
              "module_tasks": module_tasks,
              "module_s": round(sum(sec for action, (dummy, sec) in kinds.items() if action not in CONTROLLER_ONLY), 2),
              "tasks_s": round(sum(sec for dummy, sec in kinds.values()), 2)}
    report.update(api_traffic(sandbox.requests()[start:]))
    return report


def script_run(sandbox, manifests, label):
    state = sandbox.state
    start = len(sandbox.requests())
    # ELB hostnames do not resolve here: ingress_url.py turns the load balancer's hostname into the sandbox's
    # loopback address for it, as the sandbox inventory's ingress_address_map does for site.yml
    resolver = "env SANDBOX_CA=%s %s %s %s" % (
        os.path.join(sandbox.state_dir, "ca.crt"), sys.executable, os.path.join(HERE, "ingress_url.py"), sandbox.api)
    proc, wall = run(["bash", os.path.join(HERE, "baseline.sh"), manifests, os.path.join(sandbox.state_dir, "addons", state["istio_version"]),
                      state["aws"]["node_security_group_id"], state["aws"]["cluster_security_group_id"], resolver],
                     env=dict(sandbox.env))
    if proc.returncode != 0:
        raise RuntimeError("baseline.sh (%s) failed:\n%s" % (label, proc.stdout[-2000:] + proc.stderr[-2000:]))
    report = {"wall_s": round(wall, 2)}
    report.update(api_traffic(sandbox.requests()[start:]))
    return report


def site_round(work, index):
    """site.yml cold then warm on a fresh sandbox."""
    state_dir = os.path.join(work, "site-%d" % index)
    sandbox = sandboxrun.start(state_dir)
    try:
        return site_run(sandbox, "cold"), site_run(sandbox, "warm")
    finally:
        sandboxrun.stop(state_dir)


def script_round(work, index):
    """The script cold then warm on a fresh sandbox, from the manifests the roles render."""
    state_dir = os.path.join(work, "script-%d" % index)
    sandbox = sandboxrun.start(state_dir)
    try:
        manifests = os.path.join(work, "manifests-%d" % index)
        os.makedirs(manifests, exist_ok=True)
        render, env = playbook_invocation(os.path.join(HERE, "render.yml"), INVENTORY, "-e", "bench_dir=" + manifests,
                                          env={"SANDBOX_STATE_DIR": sandbox.state_dir,
                                               "ANSIBLE_STDOUT_CALLBACK": "default"}, base=sandbox.env)
        proc, _elapsed = run(render, env=env)
        if proc.returncode != 0:
            raise RuntimeError("render.yml failed:\n" + proc.stdout[-2000:])
        return script_run(sandbox, manifests, "cold"), script_run(sandbox, manifests, "warm")
    finally:
        sandboxrun.stop(state_dir)


def whole_demo(work, rounds=2):
    """site.yml and the script, each ``rounds`` times on fresh sandboxes, alternating; for each, the round with the
    lower cold time is kept (one machine's noise moved the script's cold time by a third between runs), and every
    round's cold time is listed."""
    out = {}
    sites, scripts = [], []
    for index in range(rounds):
        sites.append(site_round(work, index))
        scripts.append(script_round(work, index))
    out["site_cold"], out["site_warm"] = min(sites, key=lambda pair: pair[0]["wall_s"])
    out["script_cold"], out["script_warm"] = min(scripts, key=lambda pair: pair[0]["wall_s"])
    out["cold_rounds_s"] = {"site": [pair[0]["wall_s"] for pair in sites],
                            "script": [pair[0]["wall_s"] for pair in scripts]}
    cold, warm = out["site_cold"], out["site_warm"]
    managed = max(cold["objects_applied"], 1)
    out["ratios"] = {
        "cold_wall_collection_over_script": ratio(cold["wall_s"], out["script_cold"]["wall_s"]),
        "warm_wall_collection_over_script": ratio(warm["wall_s"], out["script_warm"]["wall_s"]),
        "warm_over_cold_wall": ratio(warm["wall_s"], cold["wall_s"]),
        "warm_reads_per_managed_object": ratio(warm["reads"], managed),
        "cold_requests_collection_over_script": ratio(cold["requests"], out["script_cold"]["requests"]),
    }
    out["targets"] = {
        "warm site.yml makes zero writes": warm["writes"] == 0,
        "at most 3 API reads per managed object (warm)": out["ratios"]["warm_reads_per_managed_object"] <= 3,
        "warm wall time at most half of cold": out["ratios"]["warm_over_cold_wall"] <= 0.5,
        "cold wall time within 1.5x of the script": out["ratios"]["cold_wall_collection_over_script"] <= 1.5,
    }
    return out


# ---------------------------------------------------------------- 4. a fleet

def process_cpu_s(pids):
    """User + system CPU seconds the processes have used so far (/proc/PID/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (proc(5), counted from the field after comm)
    return total / ticks


def fleet_run(work, count):
    """site.yml cold on ``count`` fresh sandbox clusters, forks 3: wall, tasks per cluster, CPU seconds."""
    state_dir = os.path.join(work, "fleet-%d" % count)
    subprocess.run([sys.executable, sandboxrun.CTL, "--state-dir", state_dir, "up", "--clusters", str(count)],
                   check=True, timeout=300, capture_output=True)
    try:
        with open(os.path.join(state_dir, "state.json")) as handle:
            pids = list(json.load(handle)["pids"].values())
        argv, env = playbook_invocation(
            "site.yml", INVENTORY if count == 1 else FLEET_INVENTORY, "--forks", "3",
            "-e", "mesh_fleet_summary_dir=" + state_dir,
            env={"SANDBOX_STATE_DIR" if count == 1 else "SANDBOX_FLEET_DIR": state_dir})
        sandbox_cpu = process_cpu_s(pids)
        before = os.times()
        proc, wall = run(argv, env=env)
        after = os.times()
        if proc.returncode != 0:
            raise RuntimeError("site.yml on %d cluster(s) failed:\n%s" % (count, proc.stdout[-3000:]))
        data = callback_output(proc.stdout)
        per_host = {}
        for play in data.get("plays", []):
            for task in play.get("tasks", []):
                for host, result in task.get("hosts", {}).items():
                    if not result.get("skipped"):
                        per_host[host] = per_host.get(host, 0) + 1
        controller = (after.children_user - before.children_user) + (after.children_system - before.children_system)
        return {"clusters": count, "wall_s": round(wall, 2), "tasks_per_cluster": per_host,
                "controller_cpu_s": round(controller, 1), "sandbox_cpu_s": round(process_cpu_s(pids) - sandbox_cpu, 1),
                "changed": {h: s.get("changed") for h, s in data.get("stats", {}).items()}}
    finally:
        sandboxrun.stop(state_dir)


def fleet(work):
    one, three = fleet_run(work, 1), fleet_run(work, 3)
    cores = os.cpu_count() or 1
    busy = (three["controller_cpu_s"] + three["sandbox_cpu_s"]) / three["wall_s"]
    return {"one": one, "three": three, "ratios": {
        "wall_three_over_one": ratio(three["wall_s"], one["wall_s"]),
        "controller_cpu_three_over_one": ratio(three["controller_cpu_s"], one["controller_cpu_s"]),
        "cores_busy_with_three": round(busy, 2), "cores": cores}}


# ---------------------------------------------------------------- 1b. what one task costs before any work

FLOOR_TASKS = 10


def floor_play(namespace):
    """Three kinds of task, FLOOR_TASKS of each, one after the other: a controller-only task (set_fact), Ansible's
    own module that does nothing (ping: Ansible's cost for any module task - the worker, the AnsiballZ payload, the
    interpreter, Ansible's module start-up and exit) and the collection's k8s_info reading one Namespace (the same
    plus the kubernetes client, the kubeconfig and one GET)."""
    tasks = []
    for index in range(FLOOR_TASKS):
        tasks.append({"name": "set_fact %d" % index, "ansible.builtin.set_fact": {"bench_fact": index}})
    for index in range(FLOOR_TASKS):
        tasks.append({"name": "ping %d" % index, "ansible.builtin.ping": {}})
    for index in range(FLOOR_TASKS):
        tasks.append({"name": "k8s_info %d" % index,
                      "istio_demo.mesh.k8s_info": {"kind": "Namespace", "name": namespace}})
    return [{"name": "bench floor", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]


def median_run(argv, env, times=5):
    """The median wall seconds of ``times`` runs of ``argv``."""
    walls = []
    for dummy in range(times):
        proc, wall = run(argv, env=env)
        if proc.returncode != 0:
            raise RuntimeError("%s failed:\n%s" % (" ".join(argv), proc.stderr[-2000:]))
        walls.append(wall)
    return statistics.median(walls)


def floors(work):
    """The median seconds of a controller-only task, of Ansible's ping and of the collection's k8s_info (one GET),
    and of importing the kubernetes client (kubernetes.config and kubernetes.dynamic, what kubernetes.core's client
    loads) beyond an empty interpreter's start - on a sandbox of its own."""
    state_dir = os.path.join(work, "floor")
    sandbox = sandboxrun.start(state_dir)
    try:
        env = ansible_environment(base=sandbox.env)
        data, dummy = local_play_run(work, "floor", floor_play("default"), env)
        seconds = {}
        for task in data["plays"][0]["tasks"]:
            duration = task["task"]["duration"]
            kind = task["task"]["name"].rsplit(" ", 1)[0]
            seconds.setdefault(kind, []).append(iso_seconds(duration["end"]) - iso_seconds(duration["start"]))
        # one k8s_info task again, its payload kept, to time its process alone and its imports apart from the
        # controller's side of the task
        kept = os.path.join(work, "floor-kept")
        play = floor_play("default")
        play[0]["tasks"] = play[0]["tasks"][-1:]
        local_play_run(work, "floor-kept", play, dict(env, ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_REMOTE_TMP=kept))
        payload = kept_payload(kept, "k8s_info")
        process = median_run([sys.executable, payload], env)
        imports = import_seconds([sys.executable, "-X", "importtime", payload], env)
    finally:
        sandboxrun.stop(state_dir)
    empty = median_run([sys.executable, "-c", "pass"], env)
    client = median_run([sys.executable, "-c", "import kubernetes.config, kubernetes.dynamic"], env)
    # the first task of a kind also builds its AnsiballZ payload: the median is the steady cost
    return {"tasks_each": FLOOR_TASKS,
            "set_fact_s": round(statistics.median(seconds["set_fact"]), 3),
            "ping_s": round(statistics.median(seconds["ping"]), 3),
            "k8s_info_s": round(statistics.median(seconds["k8s_info"]), 3),
            "k8s_info_process_s": round(process, 3), "k8s_info_imports_s": round(imports, 3),
            "interpreter_s": round(empty, 3), "client_import_s": round(client - empty, 3)}


def callback_output(stdout):
    """The json callback's output in ``stdout`` (after any warnings Ansible printed before it), parsed; None if
    there is none."""
    start = stdout.find("{")
    try:
        return json.loads(stdout[start:]) if start >= 0 else None
    except ValueError:
        return None


def local_play_run(work, name, play, env):
    """Write ``play`` to ``work``/``name``.yml and run it on localhost: the json callback's output, parsed, and the
    run's wall seconds. A failed run raises with the failed task's message (or the output's end)."""
    path = os.path.join(work, name + ".yml")
    with open(path, "w") as handle:
        json.dump(play, handle)
    proc, wall = run(local_play_argv(path), env=env)
    data = callback_output(proc.stdout)
    if proc.returncode != 0:
        messages = [host.get("msg") for play_data in (data or {}).get("plays", []) for task in play_data["tasks"]
                    for host in task["hosts"].values() if host.get("failed")]
        raise RuntimeError("the %s play failed: %s" % (name, messages[0] if messages else proc.stdout[-2000:]))
    return data, wall


def import_seconds(argv, env):
    """The seconds a process spent importing: the sum of the cumulative times of its top-level imports, from
    python -X importtime's report on stderr ('import time: self | cumulative | name', nested names indented)."""
    proc, dummy = run(argv, env=env)
    if proc.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (" ".join(argv), proc.stderr[-2000:]))
    total = 0
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[2][1:2] not in (" ", ""):
            if parts[1].strip().isdigit():
                total += int(parts[1])
    return total / 1e6


# ---------------------------------------------------------------- 2. sidecar_info at scale

def injected_pod(namespace, index):
    name = "web-%05d" % index
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {
            "app": "web", "security.istio.io/tlsMode": "istio", "service.istio.io/canonical-name": "web",
            "service.istio.io/canonical-revision": "v1"}},
        "spec": {
            "initContainers": [{"name": "istio-init", "image": "docker.io/istio/proxyv2:1.27.3",
                                "args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m",
                                         "REDIRECT", "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020"]}],
            "containers": [{"name": "hello", "image": "gcr.io/google-samples/hello-app:1.0"},
                           {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.27.3",
                            "args": ["proxy", "sidecar"]}]},
    }


def post(sandbox, path, body):
    """A POST with the sandbox's static token, trusting its CA."""
    headers = {"Content-Type": "application/json"}
    if sandbox.token:
        headers["Authorization"] = "Bearer " + sandbox.token
    request = urllib.request.Request(sandbox.api + path, data=json.dumps(body).encode(), method="POST",
                                     headers=headers)
    with sandbox.open(request, timeout=30) as response:
        response.read()


MODULE_RSS = (
    "import resource, subprocess, sys, time\n"
    "started = time.perf_counter()\n"
    "subprocess.run([sys.executable, sys.argv[1]], stdout=subprocess.DEVNULL, check=True)\n"
    "print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def kept_payload(remote_tmp, module):
    """The one AnsiballZ payload of ``module`` that Ansible ran and kept (ANSIBLE_KEEP_REMOTE_FILES) under
    ``remote_tmp``."""
    payloads = [os.path.join(root, name) for root, dummy, names in os.walk(remote_tmp) for name in names
                if name.startswith("AnsiballZ_%s" % module)]
    if len(payloads) != 1:
        raise RuntimeError("expected one kept %s payload in %s, found %d" % (module, remote_tmp, len(payloads)))
    return payloads[0]


def module_alone(remote_tmp, env):
    """(seconds, peak resident MiB) of the module's own process: the AnsiballZ payload Ansible ran (kept with
    ANSIBLE_KEEP_REMOTE_FILES) run again alone, read-only, under a parent that times it and reports its child's
    peak - the task's duration less this is the controller's side (starting the worker, reading, tagging and
    registering the result)."""
    proc, dummy = run([sys.executable, "-c", MODULE_RSS, kept_payload(remote_tmp, "sidecar_info")], env=env)
    if proc.returncode != 0:
        raise RuntimeError("sidecar_info's payload failed when run alone:\n%s" % proc.stderr[-2000:])
    seconds, rss_kib = proc.stdout.split()[-2:]
    return round(float(seconds), 3), round(int(rss_kib) / 1024.0, 1)  # ru_maxrss is in KiB on Linux


def wait_running(sandbox, namespace, size, timeout=900):
    """Poll until all ``size`` pods of ``namespace`` run (the sandbox's kubelet started each, and wrote its status
    and events), so that sidecar_info is measured on a cluster at rest, not beside its controllers' work."""
    deadline = time.monotonic() + timeout
    path = "/api/v1/namespaces/%s/pods?fieldSelector=status.phase%%3DRunning" % namespace
    while True:
        status, body = sandbox.api_get(path, timeout=120)
        running = len(json.loads(body)["items"]) if status == 200 else 0
        if running >= size:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("%d of %d pods in %s run after %d s" % (running, size, namespace, timeout))
        time.sleep(1)  # a poll's interval, not a wait for something unnamed: the loop ends on the count


def sidecar_run(sandbox, work, namespace, size, env, reported):
    """One playbook of one sidecar_info task over ``namespace``: its row (task seconds, the sandbox's share, the
    payload alone, requests)."""
    options = {"namespace": namespace, "require": ["injected", "init", "labels"], "pods_reported": reported}
    play = [{"name": "bench", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "inspect", "istio_demo.mesh.sidecar_info": options}]}]
    start = len(sandbox.requests())
    env = dict(env, ANSIBLE_REMOTE_TMP=os.path.join(work, "remote-%d-%s" % (size, reported)))
    data, wall = local_play_run(work, "sidecar-%d-%s" % (size, reported), play, env)
    task = data["plays"][0]["tasks"][0]
    result = task["hosts"]["localhost"]
    duration = task["task"]["duration"]
    seconds = iso_seconds(duration["end"]) - iso_seconds(duration["start"])
    if result["summary"]["total"] != size:
        raise RuntimeError("sidecar_info saw %s pods, expected %d" % (result["summary"]["total"], size))
    row = {"pods": size, "module_s": round(seconds, 3), "playbook_s": round(wall, 2),
           "pods_listed": len(result["pods"])}
    entries = sandbox.requests()[start:]
    row.update(api_traffic(entries))
    # the sandbox's own time answering them (its request log's ms: until the answer was ready to send): the
    # part of module time a real API server, not the module, would spend
    row["api_server_s"] = round(sum(e.get("ms") or 0 for e in entries) / 1000.0, 3)
    row["process_s"], row["peak_rss_mb"] = module_alone(env["ANSIBLE_REMOTE_TMP"], env)
    return row


def in_process_costs(size):
    """Seconds, in this process, for the parts of sidecar_info's work at ``size`` pods: parsing the LIST's JSON,
    judging every pod (inspection.inspect_pod), and Ansible's exit_json masking of no_log values over the result
    (remove_values, which it runs on every module result)."""
    sys.path.insert(0, os.path.join(ROOT, "build", "collections"))
    from ansible.module_utils.common.parameters import remove_values  # pylint: disable=import-outside-toplevel
    from ansible.module_utils.common import json as module_json  # pylint: disable=import-outside-toplevel
    from ansible_collections.istio_demo.mesh.plugins.module_utils import inspection  # pylint: disable=import-outside-toplevel
    text = json.dumps({"items": [injected_pod("load", i) for i in range(size)]})
    started = time.perf_counter()
    pods = json.loads(text)["items"]
    parsed = time.perf_counter()
    reports = [inspection.inspect_pod(p, {}, True, ["injected", "init", "labels"]) for p in pods]
    judged = time.perf_counter()
    result = remove_values({"pods": reports, "summary": inspection.summarize(reports)[0]}, set())
    masked = time.perf_counter()
    # what exit_json prints: the result through the module encoder of the profile the module runs with
    encoder = module_json.get_module_encoder("legacy", module_json.Direction.MODULE_TO_CONTROLLER)
    encoded = json.dumps(result, cls=encoder)
    printed = time.perf_counter()
    return {"pods": size, "parse_s": round(parsed - started, 3), "judge_s": round(judged - parsed, 3),
            "mask_s": round(masked - judged, 3), "encode_s": round(printed - masked, 3),
            "result_mib": round(len(encoded) / 1048576.0, 1)}


def sidecar_scaling(work, sizes):
    state_dir = os.path.join(work, "pods")
    sandbox = sandboxrun.start(state_dir)
    rows = []
    try:
        # the sandbox's kubeconfig; each task's AnsiballZ payload kept, to run it again alone
        env = ansible_environment({"ANSIBLE_KEEP_REMOTE_FILES": "1"}, base=sandbox.env)
        # one run first, so that every measured run finds the client's API discovery cache as a second run would
        sizes = [0] + list(sizes)
        for size in sizes:
            namespace = "scale-%d" % size
            post(sandbox, "/api/v1/namespaces",
                 {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            with concurrent.futures.ThreadPoolExecutor(8) as pool:  # no pods for the warm-up run
                list(pool.map(lambda i, ns=namespace: post(sandbox, "/api/v1/namespaces/%s/pods" % ns,
                                                           injected_pod(ns, i)), range(size)))
            wait_running(sandbox, namespace, size)
            row = sidecar_run(sandbox, work, namespace, size, env, "all")
            brief = sidecar_run(sandbox, work, namespace, size, env, "violating")
            row["violating"] = dict((key, brief[key]) for key in (
                "module_s", "process_s", "api_server_s", "peak_rss_mb", "pods_listed", "requests"))
            if size:
                rows.append(row)
    finally:
        sandboxrun.stop(state_dir)
    # ms per pod: the slope of module time against pods (least squares)
    xs, ys = [r["pods"] for r in rows], [r["module_s"] * 1000 for r in rows]
    mean_x, mean_y = statistics.mean(xs), statistics.mean(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)
    largest = max(rows, key=lambda r: r["pods"])
    return {"rows": rows, "in_process": in_process_costs(largest["pods"]), "ms_per_pod": round(slope, 3),
            "fixed_ms": round(mean_y - slope * mean_x, 1), "targets": sidecar_targets(rows)}


def sidecar_targets(rows):
    """The issue's target (at most 2 s of module time at the largest size), for both ways of listing the pods, with
    and without the sandbox's own time answering the LIST - which a real API server spends on its side, not the
    module."""
    largest = max(rows, key=lambda r: r["pods"])
    targets = {"requests constant in the number of pods": len({r["requests"] for r in rows}) == 1}
    for label, row in (("every pod listed", largest), ("only violating pods listed", largest.get("violating"))):
        if row:
            targets["at most 2 s of module time at %d pods, %s" % (largest["pods"], label)] = row["module_s"] <= 2.0
            targets["at most 2 s at %d pods, %s, without the sandbox's answer time" % (largest["pods"], label)] = (
                row["module_s"] - row["api_server_s"] <= 2.0)
    return targets


# ---------------------------------------------------------------- 3. traffic_probe beside hey and wrk

NGINX_CONF = """
worker_processes 1;
daemon off;
error_log stderr warn;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/www;
    }}
}}
"""


def free_port():
    import socket  # pylint: disable=import-outside-toplevel
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_nginx(work):
    directory = os.path.join(work, "nginx")
    os.makedirs(os.path.join(directory, "www"), exist_ok=True)
    for path in (work, directory, os.path.join(directory, "www")):
        os.chmod(path, 0o755)  # nginx's workers run as another user when started by root
    with open(os.path.join(directory, "www", "index.html"), "w") as handle:
        handle.write("<html><body><h1>hello from the bench</h1></body></html>\n")
    port = free_port()
    conf = os.path.join(directory, "nginx.conf")
    with open(conf, "w") as handle:
        handle.write(NGINX_CONF.format(dir=directory, port=port))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    log = open(os.path.join(directory, "error.log"), "w")  # pylint: disable=consider-using-with
    proc = subprocess.Popen([nginx, "-c", conf, "-p", directory], stdout=subprocess.DEVNULL,
                            stderr=log)  # pylint: disable=consider-using-with
    url = "http://127.0.0.1:%d/index.html" % port
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                response.read()
            return proc, url
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                with open(os.path.join(directory, "error.log")) as handle:
                    raise RuntimeError("nginx did not serve %s: %s" % (url, handle.read()[-1000:]))
            time.sleep(0.05)  # polling nginx's port until it answers (start-up, not a measurement)


def probe(work, url, seconds, concurrency, qps=None):
    options = {"url": url, "duration": seconds, "concurrency": concurrency, "min_success_ratio": 0.99}
    if qps:
        options["qps"] = qps
    play = [{"name": "bench", "hosts": "localhost", "gather_facts": False,
             "tasks": [{"name": "probe", "istio_demo.mesh.traffic_probe": options}]}]
    data, dummy = local_play_run(work, "probe", play, ansible_environment())
    result = data["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return {"rps": result["rps"], "requests": result["requests"], "success_ratio": result["success_ratio"],
            "p50_ms": result["latency_ms"]["p50"], "p99_ms": result["latency_ms"]["p99"],
            "processes": result["processes"]}


def hey(url, seconds, concurrency, qps=None):
    command = ["hey", "-z", "%ds" % seconds, "-c", str(concurrency)]
    if qps:
        command += ["-q", "%.3f" % (qps / concurrency)]  # hey's rate is per worker
    proc, _elapsed = run(command + [url])
    text = proc.stdout
    percentiles = dict((int(p), float(s) * 1000) for p, s in re.findall(r"(\d+)%+ in ([0-9.]+) secs", text))
    return {"rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", text).group(1)),
            "requests": sum(int(n) for n in re.findall(r"\[\d{3}\]\s+(\d+) responses", text)),
            "p50_ms": round(percentiles.get(50, 0), 3), "p99_ms": round(percentiles.get(99, 0), 3)}


WRK_PACE = """
-- each connection waits {delay} ms between requests: {concurrency} connections make about {qps} requests/s
function delay()
  return {delay}
end
"""


def wrk(work, url, seconds, concurrency, qps=None):
    command = ["wrk", "-t", str(min(2, concurrency)), "-c", str(concurrency), "-d", "%ds" % seconds, "--latency"]
    if qps:
        script = os.path.join(work, "pace.lua")
        with open(script, "w") as handle:
            handle.write(WRK_PACE.format(delay=int(round(1000.0 * concurrency / qps)), concurrency=concurrency,
                                         qps=qps))
        command += ["-s", script]
    proc, _elapsed = run(command + [url])
    text = proc.stdout

    def ms(value, unit):
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    found = dict((int(p), ms(v, u)) for p, v, u in re.findall(r"\s(\d+)%\s+([0-9.]+)(us|ms|s)\b", text))
    return {"rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", text).group(1)),
            "requests": int(re.search(r"(\d+) requests in", text).group(1)),
            "p50_ms": round(found.get(50, 0), 3), "p99_ms": round(found.get(99, 0), 3)}


def traffic(work, seconds, concurrency, qps):
    for tool in ("hey", "wrk"):
        if not shutil.which(tool):
            raise RuntimeError("%s is not installed (make bench installs the Debian packages nginx-light, hey, wrk)"
                               % tool)
    nginx, url = start_nginx(work)
    try:
        out = {"url_kind": "nginx on loopback, a 57-byte page", "concurrency": concurrency, "seconds": seconds,
               "fixed_qps": qps}
        out["max"] = {"probe": probe(work, url, seconds, concurrency), "hey": hey(url, seconds, concurrency),
                      "wrk": wrk(work, url, seconds, concurrency)}
        out["fixed"] = {"probe": probe(work, url, seconds, concurrency, qps),
                        "hey": hey(url, seconds, concurrency, qps),
                        "wrk": wrk(work, url, seconds, concurrency, qps)}
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
    mx, fx = out["max"], out["fixed"]
    out["ratios"] = {
        "max_rps_probe_over_hey": ratio(mx["probe"]["rps"], mx["hey"]["rps"]),
        "max_rps_probe_over_wrk": ratio(mx["probe"]["rps"], mx["wrk"]["rps"]),
        "fixed_rate_held_probe": ratio(fx["probe"]["rps"], qps),
        "fixed_rate_held_hey": ratio(fx["hey"]["rps"], qps),
        "fixed_rate_held_wrk": ratio(fx["wrk"]["rps"], qps),
        "fixed_p50_probe_over_wrk": ratio(fx["probe"]["p50_ms"], fx["wrk"]["p50_ms"]),
        "fixed_p99_probe_over_wrk": ratio(fx["probe"]["p99_ms"], fx["wrk"]["p99_ms"]),
        "fixed_p50_probe_over_hey": ratio(fx["probe"]["p50_ms"], fx["hey"]["p50_ms"]),
        "fixed_p99_probe_over_hey": ratio(fx["probe"]["p99_ms"], fx["hey"]["p99_ms"]),
    }
    r = out["ratios"]
    out["targets"] = {
        "max rps at least hey's": r["max_rps_probe_over_hey"] >= 1.0,
        "max rps at least 0.6 of wrk's": r["max_rps_probe_over_wrk"] >= 0.6,
        "fixed rate held within 2%": abs(r["fixed_rate_held_probe"] - 1) <= 0.02,
        # the probe must not add latency of its own: at most 20% above wrk's (below is better, not worse)
        "p50 at most 20% above wrk's at the same rate": r["fixed_p50_probe_over_wrk"] <= 1.2,
        "p99 at most 20% above wrk's at the same rate": r["fixed_p99_probe_over_wrk"] <= 1.2,
    }
    return out


# ---------------------------------------------------------------- results

def machine():
    ansible = subprocess.run([os.path.join(BIN, "ansible"), "--version"], capture_output=True, text=True,
                             check=False).stdout.splitlines()[0]
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            check=False).stdout.strip()
    return {"cores": os.cpu_count(), "python": platform.python_version(), "ansible_core": ansible,
            "platform": platform.platform(), "commit": commit or "unknown"}


def history_entry(results, label):
    entry = {"when": results["when"], "label": label, "commit": results["machine"]["commit"]}
    demo = results.get("demo")
    if demo:
        for key in ("site_cold", "site_warm", "script_cold", "script_warm"):
            entry[key + "_s"] = demo[key]["wall_s"]
        entry["site_warm_reads"] = demo["site_warm"]["reads"]
        entry["site_warm_writes"] = demo["site_warm"]["writes"]
        entry["site_cold_tasks"] = demo["site_cold"]["tasks"]
    side = results.get("sidecar_info")
    if side:
        entry["sidecar_ms_per_pod"] = side["ms_per_pod"]
    fl = results.get("fleet")
    if fl:
        entry["fleet_3_over_1"] = fl["ratios"]["wall_three_over_one"]
    tr = results.get("traffic")
    if tr:
        entry["probe_max_rps"] = tr["max"]["probe"]["rps"]
        entry["probe_over_hey"] = tr["ratios"]["max_rps_probe_over_hey"]
    return entry


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def module_floor(results):
    """A sentence on what one module process costs before any work: sidecar_info's payload at its smallest size,
    run alone (this run's sidecar part), when measured."""
    rows = (results.get("sidecar_info") or {}).get("rows") or []
    timed = [r for r in rows if r.get("process_s")]
    if not timed:
        return ""
    small = min(timed, key=lambda r: r["pods"])
    return (" One module process alone - sidecar_info at %d pods, the interpreter, Ansible's module start-up, the "
            "kubernetes client's import and three requests - took %.2f s in this run; %d of the warm run's tasks start "
            "one." % (small["pods"], small["process_s"], results["demo"]["site_warm"]["module_tasks"]))


def module_task_floor(results, per_task, actual):
    """A sentence comparing ``per_task`` (what a module task would have to cost for a target) and ``actual`` (what
    one cost in the run) with what this run measured one to cost before any work (the floor part), when measured."""
    fl = results.get("floor")
    if not fl:
        return ""
    floor = fl["ping_s"] + fl["client_import_s"]
    split = ""
    if fl.get("k8s_info_process_s"):
        split = ("; of it the controller's side - the worker, the payload, reading the result back - %.2f s, and "
                 "%.2f s of its process's %.2f s were imports" % (fl["k8s_info_s"] - fl["k8s_info_process_s"],
                                                                  fl["k8s_info_imports_s"], fl["k8s_info_process_s"]))
    sentence = (" Before any work, a module task costs Ansible %.2f s here (ping) and the kubernetes client's import "
                "%.2f s more, so one of the collection's modules that talks to Kubernetes cannot cost less than %.2f "
                "s (k8s_info reading one Namespace took %.2f s%s): "
                % (fl["ping_s"], fl["client_import_s"], floor, fl["k8s_info_s"], split))
    if per_task < floor:
        return sentence + "%.2f s is below that floor, so the target needs fewer module tasks, not faster ones." % (
            per_task)
    return sentence + ("%.2f s is above it, and the run's %.2f s a module task is %.2f s over it: what the modules "
                       "do beyond the floor (kubernetes.core's code they load, their requests, their results) is "
                       "where the target lies." % (per_task, actual, actual - floor))


def sidecar_floor(side, largest):
    """A sentence on what of sidecar_info's time at its largest size is Ansible's handling of the result (masking,
    encoding, and the controller's side) and its start-up, beside the 2 s target, when measured."""
    alone = side.get("in_process") or {}
    if "encode_s" not in alone or not largest.get("process_s"):
        return ""
    controller = largest["module_s"] - largest["process_s"]
    handling = alone["mask_s"] + alone["encode_s"] + controller
    floor = handling + side["fixed_ms"] / 1000.0
    sentence = (" Ansible's handling of the %.1f MiB result alone - masking %.2f s and encoding %.2f s in the module, "
                "the controller's side %.2f s - is %.2f s; with the module's start-up (%.2f s), %.2f s that do not "
                "depend on how the module reads or judges the pods (%.2f s for both)"
                % (alone["result_mib"], alone["mask_s"], alone["encode_s"], controller, handling,
                   side["fixed_ms"] / 1000.0, floor, alone["parse_s"] + alone["judge_s"]))
    if floor > 2.0:
        return sentence + ": over the 2 s target on their own, so with every pod listed the result's size stands " \
            "in the way, not the module's work."
    return sentence + ": under the 2 s target; the rest is the sandbox's answer and the module's own work."


def tasks_to_remove(excess, per_task):
    """How many module tasks of ``per_task`` seconds would have to go, from both runs, to shed ``excess`` s of
    the difference a target sets (never negative)."""
    return max(int(math.ceil(excess / per_task)), 0) if per_task > 0 else None


def explain(results):
    """Sentences, with this run's numbers, for every target not met and what stands in its way."""
    notes = []
    demo = results.get("demo")
    if demo and not demo["targets"]["warm wall time at most half of cold"]:
        cold, warm = demo["site_cold"], demo["site_warm"]
        per_task = warm["module_s"] / max(warm["module_tasks"], 1)
        # what a module task may cost for warm <= cold / 2, the rest of the warm run as it is
        needed = max(cold["wall_s"] / 2 - (warm["wall_s"] - warm["module_s"]), 0) / max(warm["module_tasks"], 1)
        notes.append(
            "Warm site.yml took %.1f s for %d tasks (%.2f s a task) and cold %.1f s: on the sandbox a cold run adds "
            "only %.1f s of real work (pods are ready in about a second, the load balancer answers at once), so the "
            "warm run is bounded by what every task costs, not by the cluster: %d tasks that start a module process "
            "took %.1f s (%.2f s each - Ansible's module start-up, the compile of the collection's code out of its "
            "zip, the kubernetes client's import, then a few requests), the %d that run in the controller alone "
            "%.1f s, and ansible-playbook's own start and the steps between tasks %.1f s. For warm to be half of "
            "cold here, a module task would have to cost about %.2f s. It makes no write and %d object reads. On "
            "EKS a cold run also waits for image pulls and an ELB (minutes), which warm runs skip."
            % (warm["wall_s"], warm["tasks"], warm["wall_s"] / max(warm["tasks"], 1), cold["wall_s"],
               cold["wall_s"] - warm["wall_s"], warm["module_tasks"], warm["module_s"],
               per_task, warm["tasks"] - warm["module_tasks"], warm["tasks_s"] - warm["module_s"],
               warm["wall_s"] - warm["tasks_s"], needed, warm["reads"]))
        # removing a module task takes its seconds off both runs: (W - n x) <= (C - n x) / 2 when n >= (2W - C) / x
        notes[-1] += module_task_floor(results, needed, per_task) + (
            " Or, at this run's %.2f s a module task, %s of the warm run's %d module tasks would have to go (from the "
            "cold run too) for warm to be half of cold." % (
                per_task, tasks_to_remove(2 * warm["wall_s"] - cold["wall_s"], per_task), warm["module_tasks"]))
    if demo and not demo["targets"]["cold wall time within 1.5x of the script"]:
        cold, warm, script = demo["site_cold"], demo["site_warm"], demo["script_cold"]
        budget = 1.5 * script["wall_s"] - (cold["wall_s"] - warm["wall_s"])
        notes.append(
            "Cold site.yml took %.2fx the script's time (%.1f s and %.1f s). The warm run, which changes nothing, "
            "shows what the %d tasks cost on their own: %.1f s; the cold run adds %.1f s of work on the cluster "
            "(the install, the rollouts, the waits), which the script does too. For cold to be 1.5x the script, the "
            "tasks' own cost would have to fall to %.1f s, %.2f s a task.%s"
            % (demo["ratios"]["cold_wall_collection_over_script"], cold["wall_s"], script["wall_s"], warm["tasks"],
               warm["wall_s"], cold["wall_s"] - warm["wall_s"], max(budget, 0), max(budget, 0) / max(warm["tasks"], 1),
               module_floor(results)))
        per_task = warm["module_s"] / max(warm["module_tasks"], 1)
        notes[-1] += (" At %.2f s a module task, %s of the %d module tasks would have to go for cold to be 1.5x the "
                      "script." % (per_task, tasks_to_remove(cold["wall_s"] - 1.5 * script["wall_s"], per_task),
                                   warm["module_tasks"]))
    side = results.get("sidecar_info")
    if side and not side["targets"]["requests constant in the number of pods"]:
        notes.append("sidecar_info's requests were %s at %s pods." % (
            [r["requests"] for r in side["rows"]], [r["pods"] for r in side["rows"]]))
    if side and not all(side["targets"].values()):
        largest = max(side["rows"], key=lambda r: r["pods"])
        notes.append("sidecar_info took %.2f s of module time at %d pods: %.0f ms fixed (the interpreter, Ansible's "
                     "module start-up, the kubernetes client's import and discovery) and %.3f ms a pod. Of it, %.2f s "
                     "was the sandbox's API server (Python) building the LIST's answer - time a real API server "
                     "spends on its side too, but not the module's work. Measured alone at %d pods: parsing the "
                     "JSON %.2f s, judging the pods %.2f s, and %.2f s for Ansible's exit_json walking the whole "
                     "result to mask no_log values. The module's process alone took %.2f s; the other %.2f s of the "
                     "task are the controller's (reading the %d pods' reports back, tagging and registering them). "
                     "Both grow with the returned reports, about 1 KiB a pod: with pods_reported=violating (every "
                     "pod judged the same, only those with a violation listed) the task took %.2f s, %.2f s of it "
                     "the sandbox answering (%.2f s without).%s"
                     % (largest["module_s"], largest["pods"], side["fixed_ms"], side["ms_per_pod"],
                        largest.get("api_server_s", 0), side["in_process"]["pods"], side["in_process"]["parse_s"],
                        side["in_process"]["judge_s"], side["in_process"]["mask_s"], largest["process_s"],
                        largest["module_s"] - largest["process_s"], largest["pods"],
                        largest["violating"]["module_s"], largest["violating"]["api_server_s"],
                        largest["violating"]["module_s"] - largest["violating"]["api_server_s"],
                        sidecar_floor(side, largest)))
    tr = results.get("traffic")
    if tr:
        r = tr["ratios"]
        if not (tr["targets"]["max rps at least hey's"] and tr["targets"]["max rps at least 0.6 of wrk's"]):
            notes.append("traffic_probe reached %.2f of hey's and %.2f of wrk's requests per second (%.0f, %.0f and "
                         "%.0f): its %d workers ran in %d process(es), one per core of %d, each a Python interpreter "
                         "parsing every answer, beside nginx on the same cores; hey's goroutines and wrk's event loops "
                         "spend less CPU a request."
                         % (r["max_rps_probe_over_hey"], r["max_rps_probe_over_wrk"], tr["max"]["probe"]["rps"],
                            tr["max"]["hey"]["rps"], tr["max"]["wrk"]["rps"], tr["concurrency"],
                            tr["max"]["probe"].get("processes") or 1, os.cpu_count() or 1))
        if r["fixed_p50_probe_over_wrk"] < 0.8 or r["fixed_p99_probe_over_wrk"] < 0.8:
            notes.append("At the fixed rate traffic_probe reports lower latencies than wrk (p50 %.2fx, p99 %.2fx): it "
                         "times each exchange around the blocking socket calls of its own thread, while wrk's single "
                         "event loop per thread also counts the wait for its turn; hey, measured like the probe but "
                         "with Go's scheduler in between, reports p50 %.2f ms and p99 %.2f ms."
                         % (r["fixed_p50_probe_over_wrk"], r["fixed_p99_probe_over_wrk"],
                            tr["fixed"]["hey"]["p50_ms"], tr["fixed"]["hey"]["p99_ms"]))
    fl = results.get("fleet")
    if fl:
        one, three, r = fl["one"], fl["three"], fl["ratios"]
        notes.append(
            "Three clusters took %.2fx the wall time of one (%.1f s and %.1f s, forks 3). The play does the same "
            "tasks on each cluster (%s), so the controller's CPU grew %.2fx (%.0f s and %.0f s): each task is an "
            "Ansible worker and, for most, a Python module process - CPU work, not waiting. With the three clusters' "
            "own processes (%.0f s) the run kept %.2f of the machine's %d cores busy: on %d cores three clusters "
            "cannot take less than about %.0f s, however many forks; with a core per fork the ratio would approach "
            "1 plus the summary's few tasks."
            % (r["wall_three_over_one"], one["wall_s"], three["wall_s"],
               ", ".join("%s %d" % kv for kv in sorted(three["tasks_per_cluster"].items())),
               r["controller_cpu_three_over_one"] or 0, one["controller_cpu_s"], three["controller_cpu_s"],
               three["sandbox_cpu_s"], r["cores_busy_with_three"], r["cores"], r["cores"],
               (three["controller_cpu_s"] + three["sandbox_cpu_s"]) / max(r["cores"], 1)))
    return notes


def markdown(results):
    m = results["machine"]
    out = ["# Benchmark results", "",
           "`make bench`, %s, commit %s. Machine: %d cores, Python %s, %s." % (
               results["when"], m["commit"], m["cores"], m["python"], m["ansible_core"]), ""]
    demo = results.get("demo")
    if demo:
        out += ["## The whole demo (site.yml beside the shell script)", ""]
        rows = []
        for key in ("site_cold", "site_warm", "script_cold", "script_warm"):
            r = demo[key]
            rows.append([key.replace("_", " "), r["wall_s"], r.get("tasks", "-"), r["requests"], r["reads"],
                         r["watches"], r["writes"], r.get("proxied", 0)])
        out += [table(["run", "wall s", "tasks", "API requests", "object reads", "watches", "writes",
                       "probe requests via service proxy"], rows), ""]
        out += [table(["ratio", "value"], [[k.replace("_", " "), v] for k, v in demo["ratios"].items()]), ""]
        if demo.get("cold_rounds_s"):
            out += ["Each was run %d times on fresh sandboxes, alternating; the table keeps the round with the lower "
                    "cold time. Cold times of every round: site.yml %s s, the script %s s." % (
                        len(demo["cold_rounds_s"]["site"]), ", ".join(str(v) for v in demo["cold_rounds_s"]["site"]),
                        ", ".join(str(v) for v in demo["cold_rounds_s"]["script"])), ""]
        out += ["Objects applied by the roles: %d. Time per role, cold / warm (s):" % demo["site_cold"]["objects_applied"], ""]
        roles = sorted(set(demo["site_cold"]["per_role_s"]) | set(demo["site_warm"]["per_role_s"]))
        per_role = [[r, demo["site_cold"]["per_role_s"].get(r), demo["site_warm"]["per_role_s"].get(r)] for r in roles]
        out += [table(["role", "cold s", "warm s"], per_role), ""]
        warm = demo["site_warm"]
        out += ["Where the warm run's %.2f s go: %.2f s in its %d tasks (%d of them start a module process, %.2f s; "
                "the rest run in the controller's worker alone), %.2f s in ansible-playbook's start, the parsing of "
                "the playbook and the roles, and between tasks. By task kind:" % (
                    warm["wall_s"], warm["tasks_s"], warm["tasks"], warm["module_tasks"], warm["module_s"],
                    warm["wall_s"] - warm["tasks_s"]), ""]
        out += [table(["action", "tasks", "warm s", "s a task"],
                      [[action, n, sec, round(sec / n, 2) if n else None]
                       for action, (n, sec) in warm["per_action"].items()]), ""]
        out += [table(["target", "met"], [[k, "yes" if v else "no"] for k, v in demo["targets"].items()]), ""]
    fl = results.get("floor")
    if fl:
        out += ["## What one task costs before any work", "",
                "%d of each task kind in one play on a sandbox; the median (the first of a kind also builds its "
                "module's payload). The client's import: `import kubernetes.config, kubernetes.dynamic`, less an "
                "empty interpreter's start (median of 5)." % fl["tasks_each"], ""]
        out += [table(["what", "s"], [
            ["set_fact (the controller alone)", fl["set_fact_s"]],
            ["ansible.builtin.ping (any module task: worker, payload, interpreter, Ansible's module start and exit)",
             fl["ping_s"]],
            ["istio_demo.mesh.k8s_info, one Namespace (ping's cost, the client, the kubeconfig, one GET)",
             fl["k8s_info_s"]],
            ["k8s_info's process alone (its kept payload run again, median of 5)", fl.get("k8s_info_process_s")],
            ["of it, its imports (python -X importtime)", fl.get("k8s_info_imports_s")],
            ["the kubernetes client's import alone", fl["client_import_s"]],
            ["an empty interpreter's start", fl["interpreter_s"]]]), ""]
    side = results.get("sidecar_info")
    if side:
        out += ["## sidecar_info at scale", ""]
        out += [table(["pods", "module s", "its process alone s", "of it the sandbox answering s", "playbook s",
                       "API requests", "reads", "module peak RSS MiB"],
                      [[r["pods"], r["module_s"], r.get("process_s"), r.get("api_server_s"), r["playbook_s"],
                        r["requests"], r["reads"], r.get("peak_rss_mb")] for r in side["rows"]]), ""]
        out += ["With `pods_reported: violating` (the same judgement of every pod; `pods` lists only those with a "
                "violation - none here):", ""]
        out += [table(["pods", "module s", "its process alone s", "of it the sandbox answering s", "API requests",
                       "pods listed", "module peak RSS MiB"],
                      [[r["pods"], r["violating"]["module_s"], r["violating"]["process_s"],
                        r["violating"]["api_server_s"], r["violating"]["requests"], r["violating"]["pods_listed"],
                        r["violating"]["peak_rss_mb"]] for r in side["rows"] if r.get("violating")]), ""]
        out += ["%.3f ms per pod on top of %.0f ms fixed (least squares over the sizes)." % (
            side["ms_per_pod"], side["fixed_ms"]), ""]
        out += [table(["target", "met"], [[k, "yes" if v else "no"] for k, v in side["targets"].items()]), ""]
    fl = results.get("fleet")
    if fl:
        out += ["## A fleet: site.yml on one and on three clusters (forks 3)", ""]
        rows = [[r["clusters"], r["wall_s"], ", ".join("%s %d" % kv for kv in sorted(r["tasks_per_cluster"].items())),
                 r["controller_cpu_s"], r["sandbox_cpu_s"], ", ".join("%s %s" % kv for kv in sorted(r["changed"].items()))]
                for r in (fl["one"], fl["three"])]
        out += [table(["clusters", "wall s", "tasks per cluster", "controller CPU s", "clusters' CPU s", "changed"],
                      rows), ""]
        out += [table(["ratio", "value"], [[k.replace("_", " "), v] for k, v in fl["ratios"].items()]), ""]
    tr = results.get("traffic")
    if tr:
        out += ["## traffic_probe beside hey and wrk", "",
                "Against %s, concurrency %d, %d s per run; fixed rate %d requests/s." % (
                    tr["url_kind"], tr["concurrency"], tr["seconds"], tr["fixed_qps"]), ""]
        rows = []
        for mode in ("max", "fixed"):
            for tool in ("probe", "hey", "wrk"):
                r = tr[mode][tool]
                rows.append([mode, tool, r["rps"], r["requests"], r["p50_ms"], r["p99_ms"]])
        out += [table(["run", "tool", "requests/s", "requests", "p50 ms", "p99 ms"], rows), ""]
        if tr["max"]["probe"].get("processes"):
            out += ["traffic_probe ran its %d workers in %d process(es) as fast as possible and in %d at the fixed "
                    "rate." % (tr["concurrency"], tr["max"]["probe"]["processes"],
                               tr["fixed"]["probe"]["processes"]), ""]
        out += [table(["ratio", "value"], [[k.replace("_", " "), v] for k, v in tr["ratios"].items()]), ""]
        out += [table(["target", "met"], [[k, "yes" if v else "no"] for k, v in tr["targets"].items()]), ""]
    notes = explain(results) + results.get("notes", [])
    if notes:
        out += ["## What the numbers say", ""] + ["- " + n for n in notes] + [""]
    out += ["## History", ""]
    keys = ["when", "label", "commit", "site_cold_s", "site_warm_s", "script_cold_s", "site_warm_reads",
            "site_warm_writes", "site_cold_tasks", "sidecar_ms_per_pod", "probe_max_rps", "probe_over_hey",
            "fleet_3_over_1"]
    out += [table(keys, [[h.get(k) for k in keys] for h in results["history"]]), ""]
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["demo", "floor", "sidecar_info", "traffic", "fleet"], action="append")
    parser.add_argument("--label", default="make bench")
    parser.add_argument("--sizes", default="10,100,1000,5000")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--qps", type=int, default=400)
    parser.add_argument("--output", default=RESULTS)
    args = parser.parse_args()
    parts = args.only or ["demo", "floor", "sidecar_info", "traffic", "fleet"]
    os.makedirs(args.output, exist_ok=True)
    latest = os.path.join(args.output, "latest.json")
    previous = {}
    if os.path.exists(latest):
        with open(latest) as handle:
            previous = json.load(handle)
    results = {"when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": machine(), "notes": previous.get("notes", [])}
    work = tempfile.mkdtemp(prefix="mesh-bench-")
    try:
        if "demo" in parts:
            print("bench: the whole demo (site.yml and the script, cold and warm)", flush=True)
            results["demo"] = whole_demo(work)
        if "floor" in parts:
            print("bench: what a task costs before any work (set_fact, ping, k8s_info, the client's import)",
                  flush=True)
            results["floor"] = floors(work)
        if "sidecar_info" in parts:
            print("bench: sidecar_info at %s pods" % args.sizes, flush=True)
            results["sidecar_info"] = sidecar_scaling(work, [int(s) for s in args.sizes.split(",")])
        if "traffic" in parts:
            print("bench: traffic_probe, hey and wrk against nginx", flush=True)
            results["traffic"] = traffic(work, args.seconds, args.concurrency, args.qps)
        if "fleet" in parts:
            print("bench: site.yml on one and on three sandbox clusters, forks 3", flush=True)
            results["fleet"] = fleet(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for part in ("demo", "floor", "sidecar_info", "traffic", "fleet"):
        if part not in results and part in previous:
            results[part] = previous[part]  # a partial run keeps the other parts' last numbers
    results["history"] = previous.get("history", []) + [history_entry(results, args.label)]
    with open(latest, "w") as handle:
        json.dump(results, handle, indent=2, sort_keys=True)
        handle.write("\n")
    with open(os.path.join(args.output, "latest.md"), "w") as handle:
        handle.write(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
