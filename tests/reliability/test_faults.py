"""site.yml against an API server that answers 7% of requests with 429/500/503 and drops 3%, 200 ms late: the
collection retries what is safe to retry and says so; each run either converges or fails naming the fault, a calm
rerun then converges, and over several seeds the faults are ridden out at least once."""

import time

import pytest

from playbook import PlaybookRun
from playbook import collection_playbook as playbook

FLAKY = {"error_rate": 0.07, "error_codes": [429, 500, 503], "drop_rate": 0.03, "latency_ms": 200}
CALM = {"error_rate": 0.0, "drop_rate": 0.0, "latency_ms": 0}
FAULT_WORDS = ("429", "500", "503", "injected fault", "ProtocolError", "Connection aborted", "RemoteDisconnected")


@pytest.fixture(scope="module")
def clean(sandbox):
    return {"objects": sandbox.snapshot(), "rules": sandbox.security_group_rules()}


def failed_message(proc):
    """The message of the first failed task (with its failed loop items)."""
    for result in PlaybookRun(proc).results().values():
        if result.get("failed"):
            items = [r.get("msg", "") for r in result.get("results", []) if r.get("failed")]
            return " ".join([result.get("msg", "")] + items)
    return ""


def under_faults(sandbox, tmp_path, seed, *args):
    """Run a playbook under the faults (seeded); return (rc, stats, proc, the requests it met)."""
    start = time.time()
    sandbox.faults(seed=seed, **FLAKY)
    try:
        rc, stats, proc = playbook(sandbox, tmp_path, *args)
    finally:
        sandbox.faults(**CALM)
    return rc, stats, proc, sandbox.requests(start)


def assert_converged_or_named_the_fault(rc, proc, met):
    """The promise for one run under faults: it met faults, said it retried, and either converged or failed with a
    message that names the fault in words (no traceback)."""
    assert [e for e in met if e["status"] in (429, 500, 503)], "the knobs should have faulted some requests"
    assert "Kubernetes API request(s) after transient failures, with backoff" in proc.stdout, proc.stdout[-3000:]
    if rc != 0:
        message = failed_message(proc)
        assert message and "Traceback" not in message, proc.stdout[-3000:]
        assert any(word in message for word in FAULT_WORDS), message


def test_site_under_faults_converges_or_names_the_fault_then_a_calm_run_converges(sandbox, tmp_path, clean):
    rc, stats, proc, met = under_faults(sandbox, tmp_path, 6, "site.yml")
    assert_converged_or_named_the_fault(rc, proc, met)
    if rc != 0:
        rc, stats, proc = playbook(sandbox, tmp_path, "site.yml")
        assert rc == 0, proc.stdout[-3000:]
    # converged: a calm rerun changes nothing and writes nothing, and verify.yml proves the mesh
    mark = time.time()
    rc, stats, proc = playbook(sandbox, tmp_path, "site.yml")
    assert rc == 0 and stats.get("changed") == 0, proc.stdout[-3000:]
    assert sandbox.writes(mark) == []
    rc, stats, proc = playbook(sandbox, tmp_path, "verify.yml")
    assert rc == 0, proc.stdout[-3000:]


def test_over_several_seeds_a_run_under_faults_converges(sandbox, tmp_path, clean):
    """On a converged mesh, site.yml's apps, ingress and proxy steps under faults, seed after
    seed: every run keeps the promise, and at least one of them converges (rc 0, nothing changed) through the
    faults rather than around them."""
    rc, stats, proc = playbook(sandbox, tmp_path, "site.yml")  # converged whatever ran before (warm when it did)
    assert rc == 0, proc.stdout[-3000:]
    outcomes = []
    for seed in (11, 12, 13):
        rc, stats, proc, met = under_faults(sandbox, tmp_path, seed, "site.yml", "--tags", "apps,ingress,nginx")
        assert_converged_or_named_the_fault(rc, proc, met)
        outcomes.append((seed, rc, stats.get("changed")))
    assert any(rc == 0 and changed == 0 for dummy, rc, changed in outcomes), outcomes
    # and teardown leaves the cluster as it was
    rc, stats, proc = playbook(sandbox, tmp_path, "teardown.yml")
    assert rc == 0, proc.stdout[-3000:]
    after = sandbox.snapshot()
    assert {k: v["uid"] for k, v in after.items()} == {k: v["uid"] for k, v in clean["objects"].items()}
    assert sandbox.security_group_rules() == clean["rules"]
