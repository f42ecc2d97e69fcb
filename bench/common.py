"""What the benchmarks share: paths, running a command, reading the sandbox's request log and the task timings."""

import datetime
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))  # sandboxrun, playbook: shared with the tests
from playbook import local_play_argv  # noqa: E402  pylint: disable=wrong-import-position

BIN = os.path.dirname(sys.executable)
INVENTORY = os.path.join(ROOT, "inventories", "sandbox")
FLEET_INVENTORY = os.path.join(ROOT, "inventories", "sandbox-fleet")
RESULTS = os.path.join(HERE, "results")
WRITES = ("POST", "PUT", "PATCH", "DELETE")


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
                   "ansible.builtin.validate_argument_spec", "ansible.builtin.meta",
                   # the bench's inventory uses the local connection, where its action writes in the worker
                   "istio_demo.mesh.local_file")


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


def callback_output(stdout):
    """The json callback's output in ``stdout`` (after any warnings Ansible printed before it), parsed; None if
    there is none."""
    start = stdout.find("{")
    try:
        return json.loads(stdout[start:]) if start >= 0 else None
    except ValueError:
        return None


def kept_payload(remote_tmp, module):
    """The one AnsiballZ payload of ``module`` that Ansible ran and kept (ANSIBLE_KEEP_REMOTE_FILES) under
    ``remote_tmp``."""
    payloads = [os.path.join(root, name) for root, dummy, names in os.walk(remote_tmp) for name in names
                if name.startswith("AnsiballZ_%s" % module)]
    if len(payloads) != 1:
        raise RuntimeError("expected one kept %s payload in %s, found %d" % (module, remote_tmp, len(payloads)))
    return payloads[0]
