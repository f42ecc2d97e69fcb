"""The results: the machine, the history entry, the explanations and the Markdown report."""

import math
import os
import platform
import subprocess

from common import BIN, ROOT


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
