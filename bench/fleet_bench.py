"""4. A fleet: site.yml on one sandbox cluster and on three, forks 3."""

import json
import os
import subprocess
import sys

# common first: it puts tests/lib (sandboxrun, playbook) on the path
from common import FLEET_INVENTORY, INVENTORY, callback_output, ratio, run
import sandboxrun  # noqa: E402  pylint: disable=wrong-import-position
from playbook import playbook_invocation  # noqa: E402  pylint: disable=wrong-import-position


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
