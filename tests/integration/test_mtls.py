"""playbooks/mtls.yml on the demo as site.yml left it: STRICT refuses the client without a sidecar and answers the
one with a sidecar, PERMISSIVE answers both, each proven by client pods that come and go; a rerun changes nothing;
a policy that lets plaintext through where STRICT promised otherwise fails the proof, naming the client and the
target, and so does a target that is not there (a failed call is no refusal); check mode writes only dry runs."""

import json
import time

import pytest

from playbook import PlaybookRun, collection_playbook, verify_report

pytestmark = pytest.mark.minutes(3)


def mtls(sandbox, tmp_path, *extra):
    rc, stats, proc = collection_playbook(sandbox, tmp_path, "mtls.yml", *extra)
    return rc, stats, PlaybookRun(proc)


def proof(run):
    facts = [r["ansible_facts"]["mtls_proof"] for r in run.results().values()
             if "mtls_proof" in (r.get("ansible_facts") or {})]
    assert facts, run.outline()
    return sorted((p["client"], p["target"], p["exit_code"], p["answered"]) for p in facts[-1])


def leftovers(sandbox):
    """The proof's client pods and namespace, if any were left."""
    pods = sandbox.kubectl("get", "pods", "-A", "-l", "app=mtls-proof-client", "-o", "name").stdout.strip()
    namespace = sandbox.kubectl("get", "ns", "mtls-plaintext-client", check=False).returncode == 0
    return pods, namespace


TARGETS = ["my-app-v1-svc.my-app:80", "my-app-v2-svc.my-app:80"]


@pytest.fixture(scope="module")
def demo(sandbox, tmp_path_factory):
    rc, stats, proc = collection_playbook(sandbox, tmp_path_factory.mktemp("site"), "site.yml")
    assert rc == 0, PlaybookRun(proc).outline()
    yield
    sandbox.kubectl("delete", "peerauthentication", "--all", "-n", "my-app")


def test_check_mode_writes_only_dry_runs(sandbox, demo, tmp_path):
    start = time.time()
    rc, stats, run = mtls(sandbox, tmp_path, "--check")
    assert rc == 0, run.outline()
    assert stats["changed"] > 0
    assert all(e["dry_run"] for e in sandbox.writes(start))


def test_strict_refuses_plaintext_and_permissive_lets_it_through(sandbox, demo, tmp_path):
    rc, stats, run = mtls(sandbox, tmp_path)
    assert rc == 0, run.outline()
    assert proof(run) == [("meshed", t, 0, True) for t in TARGETS] + [("plaintext", t, 56, False) for t in TARGETS]
    policies = json.loads(sandbox.kubectl("get", "peerauthentication", "-n", "my-app", "-o", "json").stdout)["items"]
    assert dict((p["metadata"]["name"], p["spec"]["mtls"]["mode"]) for p in policies) == {
        "default": "STRICT", "nginx-plaintext-entry": "PERMISSIVE"}
    assert leftovers(sandbox) == ("", False)
    rc, stats, run = mtls(sandbox, tmp_path)
    assert rc == 0 and stats["changed"] == 0, run.outline()
    # verify.yml proves the mode in force and the NGINX proxy, reached from outside the mesh, still answers
    rc, text, run = verify_report(sandbox, tmp_path, "--tags", "mtls,nginx")
    assert rc == 0, run.outline()
    assert "| mutual TLS STRICT | pass | plaintext clients refused, meshed clients answered |" in text
    assert "| plaintext | my-app-v1-svc.my-app:80 | 56 | no | refusal |" in text
    assert "| route nginx /v1 | pass |" in text
    assert leftovers(sandbox) == ("", False)

    rc, stats, run = mtls(sandbox, tmp_path, "-e", "mtls_mode=PERMISSIVE")
    assert rc == 0, run.outline()
    assert proof(run) == [("meshed", t, 0, True) for t in TARGETS] + [("plaintext", t, 0, True) for t in TARGETS]


def test_a_policy_that_lets_plaintext_through_fails_the_strict_proof(sandbox, demo, tmp_path):
    loophole = {"mtls_plaintext_workloads": [{"name": "v1-open", "namespace": "my-app",
                                              "selector": {"app": "my-app-v1"}}]}
    try:
        rc, stats, run = mtls(sandbox, tmp_path, "-e", json.dumps(loophole))
    finally:
        sandbox.kubectl("delete", "peerauthentication", "v1-open", "-n", "my-app", check=False)
    assert rc != 0
    message = " ".join(run.outline().split())
    assert "mtls_mode=STRICT is not proven: the plaintext client got an answer from my-app-v1-svc.my-app:80" in message
    assert "expected a refusal (connection reset, curl exit 56)" in message and "my-app-v2-svc" not in message
    assert leftovers(sandbox) == ("", False)


def test_a_service_that_is_not_there_fails_the_strict_proof_instead_of_passing_as_refused(sandbox, demo, tmp_path):
    # a plaintext client that cannot resolve or reach the target proves nothing about mTLS
    rc, stats, run = mtls(sandbox, tmp_path, "-e", json.dumps({"mtls_targets": ["my-app-v9-svc.my-app:80"]}))
    assert rc != 0
    message = " ".join(run.outline().split())
    assert ("the plaintext client could not use my-app-v9-svc.my-app:80 (curl exit 6: the name does not resolve"
            in message), message
    assert "the service must answer for the proof to mean anything" in message
    assert "the meshed client could not use my-app-v9-svc.my-app:80" in message
    assert leftovers(sandbox) == ("", False)
