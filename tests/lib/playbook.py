"""Run a playbook the way a user would and read back each task's result."""

import json
import os
import subprocess
import sys

import yaml

REPO_COLLECTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "build", "collections")


class PlaybookRun(object):
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        start = proc.stdout.find("{")
        self.data = json.loads(proc.stdout[start:]) if start >= 0 else {}

    def results(self):
        """{task name: result on localhost}, in play order."""
        found = {}
        for play in self.data.get("plays", []):
            for task in play.get("tasks", []):
                for host_result in task.get("hosts", {}).values():
                    found[task["task"]["name"]] = host_result
        return found

    def result(self, name):
        return self.results()[name]

    def outline(self):
        """What a person reads first when a run went wrong: each failed task with its message, each changed task."""
        lines = []
        for play in self.data.get("plays", []):
            for task in play.get("tasks", []):
                for host_result in task.get("hosts", {}).values():
                    name = task["task"]["name"]
                    if host_result.get("failed"):
                        items = [r.get("msg", "") for r in host_result.get("results", []) if r.get("failed")]
                        lines.append("FAILED %s: %s" % (name, " ".join([str(host_result.get("msg", ""))] + items)))
                    elif host_result.get("changed"):
                        lines.append("changed %s" % name)
        return "\n".join(lines) or self.stdout[-3000:]


def ansible_environment(env=None, base=None, collections_path=None):
    """The environment ansible-playbook runs in, as a user's would: ``base`` (this process's environment when None)
    with the json callback, this Python for the modules and the repository's collections (or
    ``collections_path``), no colour or localhost warnings, and neither this process's PYTHONPATH nor its sandbox;
    ``env`` adds to it (SANDBOX_STATE_DIR for the single sandbox)."""
    run_env = dict(os.environ if base is None else base)
    run_env.update({
        "ANSIBLE_STDOUT_CALLBACK": "json",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_COLLECTIONS_PATH": collections_path or REPO_COLLECTIONS,
    })
    run_env.pop("PYTHONPATH", None)
    run_env.pop("SANDBOX_STATE_DIR", None)
    run_env.update(env or {})
    return run_env


def local_play_argv(path, *extra):
    """ansible-playbook's argv for the play file ``path`` on localhost, without an inventory file."""
    return [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
            path] + list(extra)


def run_playbook(tmp_path, tasks, extra_args=(), env=None, collections_path=None, verbosity=0, environment=None):
    """Write ``tasks`` into a localhost play under ``tmp_path`` and run it (``environment``: the play's)."""
    play = [{"name": "test", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    if environment:
        play[0]["environment"] = environment
    path = os.path.join(str(tmp_path), "play.yml")
    with open(path, "w") as handle:
        yaml.safe_dump(play, handle, sort_keys=False)
    run_env = ansible_environment(env, collections_path=collections_path)
    command = local_play_argv(path, *extra_args)
    if verbosity:
        command.append("-" + "v" * verbosity)
    proc = subprocess.run(command, cwd=str(tmp_path), env=run_env, capture_output=True, text=True, check=False,
                          timeout=600)
    return PlaybookRun(proc)


def run_cases(tmp_path, tasks, **kwargs):
    """Run independent ``tasks`` (each one task, a "case") in one play - one ansible-playbook run instead of one a
    case - each in a block whose rescue keeps the failed task's result, so a case that fails ends only itself (what
    the failed task's role or block would have done next does not run, as in a play of its own). ``kwargs`` as
    run_playbook's. Returns ([each case's result, in order: the failed task's with "failed": true, the task's own
    when it passed, None when it did not run], the PlaybookRun)."""
    play = []
    for index, task in enumerate(tasks):
        play.append({"name": "case %d" % index, "block": [dict(task, name="case %d" % index)],
                     "rescue": [{"name": "case %d failed" % index, "ansible.builtin.set_fact": {
                         "case_failure_%d" % index: "{{ ansible_failed_result }}"}}]})
    run = run_playbook(tmp_path, play, **kwargs)
    results = run.results()
    outcomes = []
    for index in range(len(tasks)):
        rescued = results.get("case %d failed" % index)
        if rescued is not None:
            outcomes.append(dict(rescued["ansible_facts"]["case_failure_%d" % index], failed=True))
        else:
            outcomes.append(results.get("case %d" % index))
    return outcomes, run


def refusal(outcomes, run, index, case=None):
    """The message of case ``index`` of run_cases' ``outcomes``, asserting the case failed: the failed task's msg,
    then those of its failed loop items."""
    failed = outcomes[index]
    assert failed and failed.get("failed"), "%s was not refused: %s" % (
        case or "case %d" % index, failed or run.stdout[-2000:])
    items = [i.get("msg", "") for i in failed.get("results", []) if i.get("failed")]
    return " ".join([failed.get("msg", "")] + items)


def option_ids(cases):
    """Test ids for (options, expected) cases: the options each case sets, such as ``url+requests``."""
    return ["+".join(options) or "none" for options, dummy in cases]


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def playbook_invocation(name, inventory, *extra, env=None, base=None):
    """(argv, environment) that run the collection's playbook ``name`` (under playbooks/, or a path) on
    ``inventory`` as a user would (``ansible_environment(env, base)``)."""
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory,
            os.path.join(ROOT, "playbooks", name)] + list(extra)
    return argv, ansible_environment(env, base)


def collection_playbook(sandbox, tmp_path, name, *extra):
    """Run one of the collection's playbooks with the sandbox inventory; return (rc, stats, process)."""
    argv, env = playbook_invocation(name, os.path.join(ROOT, "inventories", "sandbox"), *extra,
                                    env={"SANDBOX_STATE_DIR": sandbox.state_dir})
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, check=False, cwd=str(tmp_path))
    return proc.returncode, PlaybookRun(proc).data.get("stats", {}).get("localhost", {}), proc


def verify_report(sandbox, tmp_path, *extra):
    """Run verify.yml (``extra``: its tags and variables) with its report written under ``tmp_path``; return (rc,
    the report's Markdown or '' when verify.yml wrote none, PlaybookRun)."""
    rc, dummy_stats, proc = collection_playbook(sandbox, tmp_path, "verify.yml", "-e",
                                                "mesh_report_dir=" + str(tmp_path), *extra)
    report = os.path.join(str(tmp_path), "mesh-report.md")
    text = ""
    if os.path.exists(report):
        with open(report) as handle:
            text = handle.read()
    return rc, text, PlaybookRun(proc)


def fleet_playbook(inventory, tmp_path, name, *extra, env=None, forks=3):
    """ansible-playbook NAME across ``inventory``'s hosts (one per cluster) with ``forks``, its fleet summary and each
    cluster's report under ``tmp_path``; return the PlaybookRun."""
    argv, run_env = playbook_invocation(name, inventory, "--forks", str(forks),
                                        "-e", "mesh_fleet_summary_dir=%s" % tmp_path,
                                        "-e", "mesh_report_dir=%s/{{ inventory_hostname }}" % tmp_path, *extra, env=env)
    return PlaybookRun(subprocess.run(argv, env=run_env, capture_output=True, text=True, timeout=1200, check=False,
                                      cwd=str(tmp_path)))
