"""1. The whole demo: site.yml and the shell-script baseline, cold and warm; 1b. what one task costs before any work
(set_fact, ping, k8s_info, the client's import)."""

import os
import statistics
import sys

# common first: it puts tests/lib (sandboxrun, playbook) on the path
from common import (
    CONTROLLER_ONLY,
    HERE,
    INVENTORY,
    api_traffic,
    callback_output,
    iso_seconds,
    kept_payload,
    local_play_run,
    ratio,
    run,
    task_report,
)
import sandboxrun  # noqa: E402  pylint: disable=wrong-import-position
from playbook import ansible_environment, playbook_invocation  # noqa: E402  pylint: disable=wrong-import-position


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
