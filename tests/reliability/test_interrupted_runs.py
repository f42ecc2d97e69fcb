"""A site run stopped after the install, during the apps or during the addons: teardown then leaves a clean
cluster, and a new run converges."""

import pytest

from playbook import collection_playbook as playbook

pytestmark = pytest.mark.minutes(3)


@pytest.fixture(scope="module")
def clean(sandbox):
    return {"objects": sandbox.snapshot(), "rules": sandbox.security_group_rules()}


def assert_clean(sandbox, clean):
    after = sandbox.snapshot()
    assert {k: v["uid"] for k, v in after.items()} == {k: v["uid"] for k, v in clean["objects"].items()}
    assert sandbox.security_group_rules() == clean["rules"]


@pytest.mark.parametrize("point, faults, extra", [
    ("after the install", {}, ["--tags", "aws,istio"]),
    ("during the apps", {"never_ready": ["my-app/my-app-v2-*"]}, ["-e", "demo_apps_wait_timeout=5"]),
    ("during the addons", {"never_ready": ["istio-system/kiali-*"]}, ["-e", "observability_wait_timeout=5"]),
])
def test_teardown_after_a_partial_run_leaves_a_clean_cluster(sandbox, tmp_path, clean, point, faults, extra):
    sandbox.faults(**faults)
    try:
        rc, stats, proc = playbook(sandbox, tmp_path, "site.yml", *extra)
    finally:
        sandbox.faults(never_ready=[])
    if faults:
        assert rc != 0, "the run should have stopped %s" % point
    rc, stats, proc = playbook(sandbox, tmp_path, "teardown.yml")
    assert rc == 0, proc.stdout[-3000:]
    assert_clean(sandbox, clean)


def test_a_run_after_a_failed_one_converges(sandbox, tmp_path, clean):
    sandbox.faults(never_ready=["my-app/my-app-v1-*"])
    try:
        rc, stats, proc = playbook(sandbox, tmp_path, "site.yml", "-e", "demo_apps_wait_timeout=5")
    finally:
        sandbox.faults(never_ready=[])
    assert rc != 0
    # the pods' readiness probes pass once the fault is gone, as on a cluster; the rerun needs nothing else
    rc, stats, proc = playbook(sandbox, tmp_path, "site.yml")
    assert rc == 0, proc.stdout[-3000:]
    rc, stats, proc = playbook(sandbox, tmp_path, "teardown.yml")
    assert rc == 0, proc.stdout[-3000:]
    assert_clean(sandbox, clean)
