"""A control-plane namespace that was there before the collection installed Istio (here holding a plug-in CA's
cacerts secret) stays through teardown.yml's purge, with what it holds; one the collection made goes."""

from playbook import PlaybookRun, collection_playbook


def test_teardown_leaves_an_istio_system_it_did_not_make(sandbox, tmp_path):
    sandbox.kubectl("create", "namespace", "istio-system")
    sandbox.kubectl("create", "secret", "generic", "cacerts", "-n", "istio-system", "--from-literal=ca-cert.pem=x")
    for name in ("site.yml", "teardown.yml"):
        rc, stats, proc = collection_playbook(sandbox, tmp_path, name)
        assert rc == 0, PlaybookRun(proc).outline()
    assert "namespace istio-system stays" in proc.stdout
    assert sandbox.kubectl("get", "secret", "cacerts", "-n", "istio-system", check=False).returncode == 0
    labels = sandbox.kubectl("get", "namespace", "istio-system", "-o", "jsonpath={.metadata.labels}").stdout
    assert "istio_demo.mesh" not in labels  # not marked as the collection's on the way
    sandbox.kubectl("delete", "namespace", "istio-system")


def test_teardown_removes_the_istio_system_it_made(sandbox, tmp_path):
    for name in ("site.yml", "teardown.yml"):
        rc, stats, proc = collection_playbook(sandbox, tmp_path, name)
        assert rc == 0, PlaybookRun(proc).outline()
    assert sandbox.kubectl("get", "namespace", "istio-system", check=False).returncode != 0
