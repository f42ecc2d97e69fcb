"""The retry layer every Kubernetes module shares, against real HTTP servers on loopback: per-request retries of
429/5xx answers and dropped connections, Retry-After honoured, retries while connecting, and every retry noted
for the module to report."""

import json
import threading
import time
import types

import pytest

from ansible_collections.istio_demo.mesh.plugins.module_utils import k8s_connection as kc
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_module import check_retry_options
from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

kubernetes = pytest.importorskip("kubernetes")

VERSION = json.dumps({"major": "1", "minor": "32", "gitVersion": "v1.32.0"})


def scripted(*answers):
    """An answer function giving ``answers`` in turn, then the last one for ever; each answer is (status, body) or
    "drop" (the connection closed without an answer)."""
    queue = list(answers)
    lock = threading.Lock()

    def answer(handler):
        with lock:
            current = queue.pop(0) if len(queue) > 1 else queue[0]
        if current == "drop":
            handler.close_connection = True
            handler.connection.shutdown(2)
            raise ConnectionAbortedError("dropped on purpose")
        return current
    return answer


def client_for(url):
    """A client shaped as kubernetes.core's (configuration, client.client = the ApiClient)."""
    configuration = kubernetes.client.Configuration()
    configuration.host = url
    api = kubernetes.client.ApiClient(configuration)
    return types.SimpleNamespace(configuration=configuration, client=types.SimpleNamespace(client=api)), api


def retrying(holder, retries):
    """The client's requests retried as connect() sets them up; the RetryLog they are noted in."""
    log = kc.RetryLog()
    kc.install_retries(holder, kc.retry_policy(retries, 0.01, log))
    return log


def get(api, url, path):
    return api.rest_client.request("GET", url + path)


def test_transient_answers_are_retried_per_request_and_noted(server):
    url, recorder = server(scripted((503, "busy"), (500, "oops"), (200, "fine")))
    holder, api = client_for(url)
    log = retrying(holder, 3)
    response = get(api, url, "/api/v1/namespaces")
    assert response.status == 200 and recorder.count == 3
    assert log.events == [{"method": "GET", "path": "/api/v1/namespaces", "reason": "HTTP 503"},
                          {"method": "GET", "path": "/api/v1/namespaces", "reason": "HTTP 500"}]
    assert log.warning().startswith("retried 2 Kubernetes API request(s) after transient failures, with backoff")


def test_retries_stop_at_the_limit_and_other_answers_are_not_retried(server):
    url, recorder = server(scripted((503, "busy")))
    holder, api = client_for(url)
    log = retrying(holder, 2)
    assert get(api, url, "/api").status == 503  # the last answer, given back for the caller to report
    assert recorder.count == 3 and len(log.events) == 2
    url, recorder = server(scripted((404, "no")))
    holder, api = client_for(url)
    log = retrying(holder, 2)
    assert get(api, url, "/api/v1/namespaces/x").status == 404
    assert recorder.count == 1 and log.events == [] and log.warning() is None


def test_a_dropped_connection_is_retried(server):
    url, recorder = server(scripted("drop", (200, "fine")))
    holder, api = client_for(url)
    log = retrying(holder, 2)
    assert get(api, url, "/version").status == 200
    assert recorder.count == 2 and len(log.events) == 1
    assert log.events[0]["path"] == "/version" and log.events[0]["reason"] != "HTTP 200"


def test_retry_after_is_honoured(server):
    arrivals = []

    def answer(handler):
        arrivals.append(time.monotonic())
        return (429, "slow down") if len(arrivals) == 1 else (200, "fine")

    url, recorder = server(answer, headers={"Retry-After": "1"})
    holder, api = client_for(url)
    log = retrying(holder, 2)
    assert get(api, url, "/apis").status == 200
    # the server asked for a second; the backoff alone would have waited 10 ms
    assert len(arrivals) == 2 and arrivals[1] - arrivals[0] >= 0.9
    assert log.events[0]["reason"] == "HTTP 429"


class Module(object):
    """What connect() uses of an AnsibleK8SModule: its params, requires(), server_side_dry_run."""

    server_side_dry_run = False

    def __init__(self, tmp_path, url, **params):
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "k", "cluster": {"server": url}}],
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
            "users": [{"name": "u", "user": {"token": "t"}}]}))
        self.params = dict((name, None) for name in AUTH_ARG_SPEC)
        self.params.update(kubeconfig=str(kubeconfig), validate_certs=True, persist_config=None, api_retries=5,
                           api_backoff=0.01)
        self.params.update(params)

    def requires(self, *args, **kwargs):
        pass


def discovery(version_answers):
    """An API server's discovery: /version answered from ``version_answers`` (then 200), the rest empty."""
    version = scripted(*(list(version_answers) + [(200, VERSION)]))
    bodies = {"/api": {"kind": "APIVersions", "versions": ["v1"]},
              "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
              "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": []}}

    def answer(handler):
        path = handler.path.split("?")[0]
        if path == "/version":
            return version(handler)
        return 200, json.dumps(bodies.get(path, {"kind": "Status", "code": 404}))
    return answer


def test_connecting_retries_and_notes_what_it_retried(server, tmp_path):
    url, recorder = server(discovery([(503, "starting"), (429, "busy")]))
    module = Module(tmp_path, url)
    client = kc.connect(module)
    assert client.retry_log is module.mesh_retry_log
    assert [e["reason"] for e in module.mesh_retry_log.events] == ["HTTP 503", "HTTP 429"]
    assert all(e["path"] == "/version" for e in module.mesh_retry_log.events)


def test_connecting_gives_up_after_api_retries_naming_the_settings(server, tmp_path):
    url, recorder = server(discovery([(503, "down")] * 50))
    module = Module(tmp_path, url, api_retries=1)
    with pytest.raises(kc.K8sConnectionError) as raised:
        kc.connect(module)
    assert "cannot connect to the Kubernetes API with kubeconfig=.../kubeconfig" in str(raised.value)
    assert len(module.mesh_retry_log.events) >= 1


@pytest.mark.parametrize("params, words", [
    ({"api_retries": -1, "api_backoff": 0.5}, "api_retries=-1 is invalid: expected 0 or more retries"),
    ({"api_retries": 1, "api_backoff": -2.0}, "api_backoff=-2.0 is invalid: expected 0 or more seconds"),
])
def test_retry_options_are_checked(params, words):
    with pytest.raises(MeshError) as raised:
        check_retry_options(params)
    assert str(raised.value) == words
