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

One file per benchmark (demo_bench.py, sidecar_bench.py, traffic_bench.py,
fleet_bench.py), what they share in common.py, the report in report.py.

Writes bench/results/latest.json and latest.md; keeps the history section of
the previous latest.json and adds this run to it. Reports, never fails on a
number: the exit status is non-zero only when a measurement could not be made.
"""

import argparse
import datetime
import json
import os
import shutil
import tempfile

from common import RESULTS
from demo_bench import floors, whole_demo
from fleet_bench import fleet
from report import history_entry, machine, markdown
from sidecar_bench import sidecar_scaling
from traffic_bench import traffic


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
