"""Every Kubernetes module of the collection has the one shape: it takes api_retries / api_backoff, retries the
API server's transient answers while connecting and after, and reports each retry (api_retries and a warning) -
on success and on failure; bad retry options are refused before anything is sent."""

import time

import pytest

from playbook import refusal, run_cases, run_playbook

HELLO = "us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0"
MODULES = {
    "manifest": dict(definition={"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "shape", "namespace": "shape"}, "data": {"a": "1"}}),
    "sidecar_info": dict(namespace=["shape"]),
    "k8s_info": dict(kind="Service", namespace="shape", name="hello"),
    "istioctl": dict(state="absent", precheck=False),
    "traffic_probe": dict(service={"namespace": "shape", "name": "hello", "port": 80, "path": "/"}, requests=3),
}


@pytest.fixture(scope="module")
def app(sandbox):
    sandbox.kubectl("create", "namespace", "shape")
    sandbox.kubectl("create", "deployment", "hello", "--image=" + HELLO, "--port=8080", "-n", "shape")
    sandbox.kubectl("expose", "deployment", "hello", "--port=80", "--target-port=8080", "-n", "shape")
    sandbox.kubectl("rollout", "status", "deploy/hello", "-n", "shape", "--timeout=60s")
    yield
    sandbox.kubectl("delete", "namespace", "shape", "--wait=false", check=False)


def run(sandbox, tmp_path, module, **extra):
    task = {"name": "case", "register": "case", "istio_demo.mesh." + module: dict(MODULES[module], **extra)}
    return run_playbook(tmp_path, [task], env=sandbox.env)


# traffic_probe's only requests to the API server are the probe's own (through the service proxy): measured, not
# retried - its api_retries stay empty, and its bad-option refusals are below
RETRYING = sorted(set(MODULES) - {"traffic_probe"})


@pytest.mark.parametrize("module", RETRYING)
def test_each_kubernetes_module_retries_and_reports_it(sandbox, tmp_path, app, module):
    start = time.time()
    sandbox.faults(fail_next=2, error_codes=[503])  # the first two API requests
    try:
        done = run(sandbox, tmp_path, module, api_backoff=0.05)
    finally:
        sandbox.faults(fail_next=0, error_codes=[429, 500, 503])
    assert done.rc == 0, done.stdout[-3000:]
    result = done.result("case")
    # the module's own requests (istioctl, the program, speaks for itself)
    own = [e for e in sandbox.requests(start) if not e["user_agent"].startswith("istioctl/")][:3]
    assert [e["status"] for e in own][:2] == [503, 503] and own[2]["status"] != 503, own
    assert result["api_retries"] == [{"method": e["verb"], "path": e["path"], "reason": "HTTP 503"} for e in own[:2]], own
    assert any("retried 2 Kubernetes API request(s) after transient failures" in w
               for w in result.get("warnings", [])), result.get("warnings")


@pytest.mark.parametrize("module", RETRYING)
def test_each_kubernetes_module_gives_up_after_api_retries_and_says_so(sandbox, tmp_path, app, module):
    sandbox.faults(fail_next=2, error_codes=[503])
    try:
        done = run(sandbox, tmp_path, module, api_retries=1, api_backoff=0.05)
    finally:
        sandbox.faults(fail_next=0, error_codes=[429, 500, 503])
    assert done.rc != 0
    result = done.result("case")
    # the server's own words for the 503 it gave
    assert "injected fault" in result["msg"] and "Traceback" not in result["msg"], result["msg"]
    assert len(result["api_retries"]) == 1 and result["api_retries"][0]["reason"] == "HTTP 503"
    assert any("retried 1 Kubernetes API request(s)" in w for w in result.get("warnings", []))


def test_traffic_probe_returns_its_api_retries_empty(sandbox, tmp_path, app):
    done = run(sandbox, tmp_path, "traffic_probe")
    assert done.rc == 0, done.stdout[-3000:]
    assert done.result("case")["api_retries"] == [] and done.result("case")["succeeded"] == 3


BAD_RETRY_OPTIONS = [
    ("api_retries", -1, "api_retries=-1 is invalid: expected 0 or more retries"),
    ("api_backoff", -0.5, "api_backoff=-0.5 is invalid: expected 0 or more seconds"),
]
BAD_RETRY_CASES = [(module, option, value, words) for module in sorted(MODULES)
                   for option, value, words in BAD_RETRY_OPTIONS]


@pytest.fixture(scope="module")
def bad_retry_outcomes(sandbox, tmp_path_factory):
    """Every module with each bad retry option, in one play (run_cases): (outcomes, run, the requests meanwhile)."""
    start = time.time()
    tasks = [{"istio_demo.mesh." + module: dict(MODULES[module], **{option: value})}
             for module, option, value, dummy in BAD_RETRY_CASES]
    outcomes, run = run_cases(tmp_path_factory.mktemp("bad-retry"), tasks, env=sandbox.env)
    return outcomes, run, sandbox.requests(start)


@pytest.mark.parametrize("index", range(len(BAD_RETRY_CASES)),
                         ids=["%s-%s" % (module, option) for module, option, dummy, dummy in BAD_RETRY_CASES])
def test_bad_retry_options_are_refused_before_any_request(bad_retry_outcomes, index):
    outcomes, run, requests = bad_retry_outcomes
    assert refusal(outcomes, run, index) == BAD_RETRY_CASES[index][3]
    assert requests == []  # no case sent a request


def test_k8s_info_returns_what_kubernetes_core_k8s_info_returns(sandbox, tmp_path, app):
    """The same read through both modules gives the same objects: a person can swap one for the other."""
    tasks = [{"name": name, "register": name.replace(".", "_"), module: options}
             for name, module, options in (
                 ("ours", "istio_demo.mesh.k8s_info", dict(kind="Deployment", api_version="apps/v1",
                                                           namespace="shape", label_selectors=["app=hello"])),
                 ("theirs", "kubernetes.core.k8s_info", dict(kind="Deployment", api_version="apps/v1",
                                                             namespace="shape", label_selectors=["app=hello"])),
                 ("unserved", "istio_demo.mesh.k8s_info", dict(kind="Widget", api_version="example.com/v1")),
                 ("missing", "istio_demo.mesh.k8s_info", dict(kind="Service", namespace="shape", name="nothing")))]
    done = run_playbook(tmp_path, tasks, env=sandbox.env)
    assert done.rc == 0, done.stdout[-3000:]
    ours, theirs = done.result("ours"), done.result("theirs")
    assert [r["metadata"]["uid"] for r in ours["resources"]] == [r["metadata"]["uid"] for r in theirs["resources"]]
    assert len(ours["resources"]) == 1 and ours["api_found"] is True and ours["changed"] is False
    assert done.result("unserved")["api_found"] is False and done.result("unserved")["resources"] == []
    assert done.result("missing")["resources"] == [] and done.result("missing")["api_found"] is True
