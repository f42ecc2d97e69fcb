"""site.yml against an API server that answers 10% of requests with 429/500/503 or drops them, 200 ms late:
the collection retries what is safe to retry, says so, and ends with the same cluster as a calm run."""

import pytest

from playbook import PlaybookRun
from test_check_mode_and_teardown import playbook, rules, snapshot, writes

FLAKY = {"error_rate": 0.07, "error_codes": [429, 500, 503], "drop_rate": 0.03, "latency_ms": 200, "seed": 6}
CALM = {"error_rate": 0.0, "drop_rate": 0.0, "latency_ms": 0}


@pytest.fixture(scope="module")
def clean(sandbox):
    return {"objects": snapshot(sandbox), "rules": rules(sandbox)}


def failed_message(proc):
    """The message of the first failed task (with its failed loop items)."""
    for result in PlaybookRun(proc).results().values():
        if result.get("failed"):
            items = [r.get("msg", "") for r in result.get("results", []) if r.get("failed")]
            return " ".join([result.get("msg", "")] + items)
    return ""


def test_site_converges_through_a_flaky_api_server(sandbox, tmp_path, clean):
    start = len(sandbox.requests())
    sandbox.faults(**FLAKY)
    try:
        rc, stats, proc = playbook(sandbox, tmp_path, "site.yml")
    finally:
        sandbox.faults(**CALM)
    log = sandbox.requests()[start:]
    faulted = [e for e in log if e["status"] in (429, 500, 503)]
    assert faulted, "the fault knobs should have answered some requests with 429/500/503"
    # the run says that it rode out trouble
    assert "Kubernetes API request(s) after transient failures, with backoff" in proc.stdout, proc.stdout[-3000:]
    if rc != 0:
        # allowed: a clear failure - the API's answer in words, no traceback - then a calm run converges
        message = failed_message(proc)
        assert message and "Traceback" not in message, proc.stdout[-3000:]
        assert any(text in message for text in ("429", "500", "503", "injected fault", "ProtocolError")), message
        rc, stats, proc = playbook(sandbox, tmp_path, "site.yml")
        assert rc == 0, proc.stdout[-3000:]
    # converged: a calm rerun changes nothing, and verify.yml proves the mesh
    mark = len(sandbox.requests())
    rc, stats, proc = playbook(sandbox, tmp_path, "site.yml")
    assert rc == 0 and stats.get("changed") == 0, proc.stdout[-3000:]
    assert writes(sandbox.requests()[mark:]) == []
    rc, stats, proc = playbook(sandbox, tmp_path, "verify.yml")
    assert rc == 0, proc.stdout[-3000:]
    # and teardown leaves the cluster as it was
    rc, stats, proc = playbook(sandbox, tmp_path, "teardown.yml")
    assert rc == 0, proc.stdout[-3000:]
    after = snapshot(sandbox)
    assert {k: v["uid"] for k, v in after.items()} == {k: v["uid"] for k, v in clean["objects"].items()}
    assert rules(sandbox) == clean["rules"]
