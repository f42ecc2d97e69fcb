"""playbooks/traffic_shift.yml on the demo as site.yml left it: 90/10 -> 50/50 -> 0/100 between the two versions,
each step measured through the ingress; a rerun changes nothing; a step whose version cannot answer puts the last
good weights back and fails naming the step; check mode only dry-runs (bad steps: the reliability bad-input
table)."""

import json
import time

import pytest

from playbook import PlaybookRun, collection_playbook, verify_report

pytestmark = pytest.mark.minutes(3)


def shift(sandbox, tmp_path, *extra):
    rc, stats, proc = collection_playbook(sandbox, tmp_path, "traffic_shift.yml", *extra)
    return rc, stats, PlaybookRun(proc)


def probes(run):
    """Each step's probe result, in order (the JSON callback keeps every included task's result)."""
    return [host for play in run.data["plays"] for task in play["tasks"] for host in task["hosts"].values()
            if task["task"]["name"].endswith(" : Probe the shifted path through the ingress, counting answers by version")]


def waits(run):
    """Each step's wait until the gateway's proxies hold its weights, in order."""
    return [host for play in run.data["plays"] for task in play["tasks"] for host in task["hosts"].values()
            if " : Wait until the gateway's proxies route with the weights of step " in task["task"]["name"]]


def weights(sandbox):
    vs = json.loads(sandbox.kubectl("get", "virtualservice", "my-app-shift", "-n", "my-app", "-o", "json").stdout)
    return dict((r["destination"]["subset"], r.get("weight", 0)) for r in vs["spec"]["http"][0]["route"])


@pytest.fixture(scope="module")
def demo(sandbox, tmp_path_factory):
    rc, stats, proc = collection_playbook(sandbox, tmp_path_factory.mktemp("site"), "site.yml")
    assert rc == 0, PlaybookRun(proc).outline()


def test_check_mode_dry_runs_the_steps_and_probes_nothing(sandbox, demo, tmp_path):
    start = time.time()
    rc, stats, run = shift(sandbox, tmp_path, "--check")
    assert rc == 0, run.outline()
    assert stats["changed"] > 0 and probes(run) == []
    assert all(e["dry_run"] for e in sandbox.writes(start))


def test_each_step_is_measured_within_its_tolerance_and_a_rerun_changes_nothing(sandbox, demo, tmp_path):
    rc, stats, run = shift(sandbox, tmp_path)
    assert rc == 0, run.outline()
    measured = probes(run)
    assert [sorted((c["key"], c["expected"]) for c in p["share_checks"]) for p in measured] == [
        [("1.0.0", 0.9), ("2.0.0", 0.1)], [("1.0.0", 0.5), ("2.0.0", 0.5)], [("1.0.0", 0.0), ("2.0.0", 1.0)]]
    assert all(p["passed"] and p["requests"] == 400 and p["success_ratio"] == 1.0 for p in measured)
    # each step was measured once the ingress gateway's proxy held its weights (istioctl proxy-config routes)
    held = [[(d["subset"], d["weight"]) for proxy in w["proxies"] for r in proxy["routes"]
             if r["config"] == "my-app/my-app-shift" for d in r["destinations"]] for w in waits(run)]
    assert held == [[("v1", 90), ("v2", 10)], [("v1", 50), ("v2", 50)], [("v2", 100)]]
    assert all(w["in_effect"] for w in waits(run))
    assert measured[2]["counts"] == {"2.0.0": 400}
    assert weights(sandbox) == {"v1": 0, "v2": 100}
    rc, stats, run = shift(sandbox, tmp_path)
    assert rc == 0 and stats["changed"] == 0, run.outline()
    assert [p["counts"] for p in probes(run)] == [{"2.0.0": 400}]  # the weights it holds, proven again
    # verify.yml measures the shift it finds and the report puts the weights beside the split
    rc, text, run = verify_report(sandbox, tmp_path, "--tags", "traffic_shift")
    assert rc == 0, run.outline()
    assert "## Traffic split: route weights v1 0, v2 100" in text
    assert "| 2.0.0 | 1.000 | 1.000 | +/- 0.000 | 400 | pass |" in text


def test_a_failing_step_puts_the_last_good_weights_back_and_names_the_step(sandbox, demo, tmp_path):
    sandbox.kubectl("scale", "deployment", "my-app-v1", "-n", "my-app", "--replicas=0")
    try:
        rc, stats, run = shift(sandbox, tmp_path, "-e", json.dumps(
            {"traffic_shift_steps": [{"v1": 0, "v2": 100}, {"v1": 50, "v2": 50}]}))
    finally:
        sandbox.kubectl("scale", "deployment", "my-app-v1", "-n", "my-app", "--replicas=2")
        sandbox.kubectl("rollout", "status", "deployment/my-app-v1", "-n", "my-app", "--timeout=60s")
    assert rc != 0
    message = " ".join(run.outline().split())
    assert 'traffic_shift step 2 ({"v1": 50, "v2": 50}) failed' in message, message
    assert "no healthy upstream" in message and 'The weights are back at {"v1": 0, "v2": 100}' in message
    assert weights(sandbox) == {"v1": 0, "v2": 100}
