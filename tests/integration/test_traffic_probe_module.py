"""traffic_probe as a user runs it: from a playbook, through ansible-playbook."""

import json
import os

import pytest

import httpservers
from playbook import option_ids, refusal, run_cases, run_playbook


def probe_task(name="probe", ignore_errors=False, **options):
    task = {"name": name, "istio_demo.mesh.traffic_probe": options}
    if ignore_errors:
        task["ignore_errors"] = True
    return task


def test_probe_reports_and_passes_in_normal_and_check_mode(server, tmp_path):
    url, seen = server(httpservers.ok_answer)
    for extra in ([], ["--check"]):
        run = run_playbook(tmp_path, [probe_task(url=url + "/v1", requests=12, concurrency=2)], extra)
        assert run.rc == 0, run.stdout
        result = run.result("probe")
        assert result["changed"] is False
        assert result["requests"] == 12
        assert result["status_codes"] == {"200": 12}
        assert result["success_ratio"] == 1.0
        assert set(result["latency_ms"]) == {"min", "mean", "p50", "p90", "p99", "max"}
        assert result["rps"] > 0 and result["duration_s"] > 0
        assert result["errors"] == {}
    assert seen.count == 24


def test_failed_verdict_fails_the_task_with_the_report(server, tmp_path):
    url, dummy = server(httpservers.cycling_answer([200, 503]))
    run = run_playbook(tmp_path, [probe_task(url=url, requests=10)])
    assert run.rc != 0
    result = run.result("probe")
    assert result["failed"] is True
    assert result["status_codes"] == {"200": 5, "503": 5}
    for text in ("5 of 10", "success_ratio 0.5000", "503: 5", "HTTP 503"):
        assert text in result["msg"]


BAD_INPUT = [
    (dict(url="example.com/v1"), ["url='example.com/v1'", "http:// or https://"]),
    (dict(url="URL", service={"name": "web", "port": 80}), ["mutually exclusive: url|service"]),
    (dict(requests=3), ["one of the following is required: url, service"]),
    (dict(url="URL", requests=5, duration=3), ["mutually exclusive: requests|duration"]),
    (dict(url="URL", method="FETCH"), ["value of method must be one of", "got: FETCH"]),
    (dict(service={"name": "web", "port": 80, "scheme": "gopher"}), ["value of scheme must be one of: http, https, got: gopher found in service"]),
    (dict(url="URL", requests=-5), ["requests=-5", "between 1 and"]),
    (dict(url="URL", qps=20), ["qps=20.0", "no bound"]),
    (dict(url="URL", expect_status=[200, 777]), ["expect_status", "777", "100 and 599"]),
    (dict(url="URL", concurrency=0), ["concurrency=0"]),
    (dict(url="URL", duration=-1), ["duration=-1.0"]),
    (dict(url="URL", min_success_ratio=2), ["min_success_ratio=2.0"]),
    (dict(service={"namespace": "Bad_NS", "name": "web", "port": 80}), ["service.namespace='Bad_NS'"]),
    (dict(service={"name": "web", "port": 80, "path": "v1"}), ["service.path='v1'", "starting with '/'"]),
    (dict(url="URL", count_by={"pattern": "x", "header": "y"}),
     ["parameters are mutually exclusive: pattern|header found in count_by"]),
    (dict(url="URL", count_by={}), ["one of the following is required: pattern, header found in count_by"]),
    (dict(url="URL", count_by={"header": "x-version"}, expect_shares={"a": 0.5}), ["sums to 0.500"]),
]


@pytest.fixture(scope="module")
def bad_input_outcomes(tmp_path_factory):
    """Every BAD_INPUT case in one play (run_cases), against one server: (outcomes, run, requests it got)."""
    url, seen, stop = httpservers.serve(httpservers.ok_answer)
    try:
        tasks = [probe_task(**dict(options, url=url) if options.get("url") == "URL" else options)
                 for options, dummy in BAD_INPUT]
        outcomes, run = run_cases(tmp_path_factory.mktemp("bad-input"), tasks)
        return outcomes, run, seen.count
    finally:
        stop()


@pytest.mark.parametrize("index", range(len(BAD_INPUT)), ids=option_ids(BAD_INPUT))
def test_bad_input_fails_before_any_request(bad_input_outcomes, index):
    outcomes, run, requests = bad_input_outcomes
    message = refusal(outcomes, run, index)
    for text in BAD_INPUT[index][1]:
        assert text in message, message
    assert requests == 0  # no case sent a request


def test_paths_are_probed_in_one_run_each_with_its_report_and_a_failing_one_is_named(server, tmp_path):
    url, seen = server(lambda handler: (503 if handler.path == "/base/v2" else 200, "from %s\n" % handler.path))
    run = run_playbook(tmp_path, [probe_task(url=url + "/base/", paths=["/v1", "/v2", "/v3"], requests=3,
                                             ignore_errors=True)])
    result = run.result("probe")
    assert result["failed"] is True
    assert [(r["path"], r["url"][len(url):], r["status_codes"], r["failed"]) for r in result["results"]] == [
        ("/v1", "/base/v1", {"200": 3}, False), ("/v2", "/base/v2", {"503": 3}, True),
        ("/v3", "/base/v3", {"200": 3}, False)]
    assert result["msg"].startswith("1 of 3 paths failed: /v2: traffic probe of %s/base/v2 failed" % url)
    assert seen.paths == ["/base/v1"] * 3 + ["/base/v2"] * 3 + ["/base/v3"] * 3

    run = run_playbook(tmp_path, [probe_task(url=url, paths=["/v1", "/v3"], requests=2)])
    assert run.rc == 0, run.stdout
    assert [r["succeeded"] for r in run.result("probe")["results"]] == [2, 2]
    assert run.result("probe")["msg"] == "every path answered: /v1 2/2; /v3 2/2"


def test_paths_side_by_side_are_probed_at_once_in_one_task_each_with_its_report(server, tmp_path):
    url, seen = server(httpservers.slow_answer(0.2))
    run = run_playbook(tmp_path, [probe_task(url=url, paths=["/v1", "/v2"], requests=2, paths_mode="side_by_side"),
                                  probe_task(name="in turn", url=url, paths=["/v1", "/v2"], requests=2)])
    assert run.rc == 0, run.stdout
    assert [(r["path"], r["succeeded"], r["processes"]) for r in run.result("probe")["results"]] == [
        ("/v1", 2, 1), ("/v2", 2, 1)]
    # side by side, /v1 and /v2 were both in flight (one worker each); then in turn, /v1's requests all came first
    assert seen.paths[:4].count("/v1") == 2 and seen.paths[4:] == ["/v1", "/v1", "/v2", "/v2"]
    assert seen.peak == 2
    run = run_playbook(tmp_path, [probe_task(url=url, requests=1, paths_mode="side_by_side")])
    assert run.rc != 0 and "paths_mode=side_by_side needs paths" in run.result("probe")["msg"]


@pytest.mark.parametrize("paths, expected", [
    (["/v1", "v2"], "paths[1]='v2' is invalid: expected a URL path starting with '/'"),
    ([], "paths=[] is invalid"),
])
def test_bad_paths_fail_before_any_request(server, tmp_path, paths, expected):
    url, seen = server(httpservers.ok_answer)
    run = run_playbook(tmp_path, [probe_task(url=url, paths=paths, requests=1)])
    assert run.rc != 0 and expected in run.result("probe")["msg"], run.result("probe")["msg"]
    assert seen.count == 0


def test_header_values_never_reach_the_output(server, tmp_path):
    url, seen = server(httpservers.ok_answer)
    run = run_playbook(tmp_path, [probe_task(url=url, requests=1, headers={"Authorization": "Bearer t0ps3cret"})],
                       verbosity=3)
    assert run.rc == 0, run.stdout
    assert seen.headers[0]["Authorization"] == "Bearer t0ps3cret"
    assert "t0ps3cret" not in run.stdout + run.stderr


def fake_api_server(token):
    """Just enough of an API server for kubernetes.core's client and the proxy
    subresource: /version, /api, /apis and
    /api/v1/namespaces/NS/services/NAME:PORT/proxy/PATH, behind a bearer token."""
    def answer(handler):
        if handler.headers.get("Authorization") != "Bearer " + token:
            return 401, json.dumps({"kind": "Status", "code": 401, "reason": "Unauthorized"})
        if handler.path == "/version":
            return 200, json.dumps({"major": "1", "minor": "32", "gitVersion": "v1.32.0"})
        if handler.path == "/api":
            return 200, json.dumps({"kind": "APIVersions", "versions": ["v1"]})
        if handler.path == "/apis":
            return 200, json.dumps({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
        prefix = "/api/v1/namespaces/my-app/services/nginx-svc:80/proxy"
        if handler.path.startswith(prefix):
            return 200, "Hello version: %s\n" % handler.path[len(prefix):]
        return 404, json.dumps({"kind": "Status", "code": 404, "reason": "NotFound"})
    return answer


def write_kubeconfig(tmp_path, server_url, token):
    path = os.path.join(str(tmp_path), "kubeconfig")
    with open(path, "w") as handle:
        json.dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "probe",
            "clusters": [{"name": "c", "cluster": {"server": server_url}}],
            "users": [{"name": "u", "user": {"token": token}}],
            "contexts": [{"name": "probe", "context": {"cluster": "c", "user": "u"}}],
        }, handle)
    return path


def test_service_target_goes_through_the_api_server_proxy_with_kubeconfig_auth(server, tmp_path):
    token = "kube-t0ken-value"
    url, seen = server(fake_api_server(token))
    kubeconfig = write_kubeconfig(tmp_path, url, token)
    task = probe_task(service={"namespace": "my-app", "name": "nginx-svc", "port": 80, "path": "/v2"},
                      requests=5, kubeconfig=kubeconfig)
    run = run_playbook(tmp_path, [task], verbosity=3)
    assert run.rc == 0, run.stdout
    result = run.result("probe")
    assert result["status_codes"] == {"200": 5}
    assert result["url"].endswith("/api/v1/namespaces/my-app/services/nginx-svc:80/proxy/v2")
    proxied = [p for p in seen.paths if "/proxy/" in p]
    assert proxied == ["/api/v1/namespaces/my-app/services/nginx-svc:80/proxy/v2"] * 5
    assert token not in run.stdout + run.stderr

    task = probe_task(service={"namespace": "my-app", "name": "nginx-svc", "port": 80}, paths=["/v1", "/v2"],
                      requests=2, kubeconfig=kubeconfig)
    run = run_playbook(tmp_path, [task])
    assert run.rc == 0, run.stdout
    assert [r["url"].split("/proxy", 1)[1] for r in run.result("probe")["results"]] == ["/v1", "/v2"]
    assert [p for p in seen.paths if "/proxy/" in p][5:] == [
        "/api/v1/namespaces/my-app/services/nginx-svc:80/proxy/v1"] * 2 + [
        "/api/v1/namespaces/my-app/services/nginx-svc:80/proxy/v2"] * 2


def test_service_that_does_not_answer_fails_with_the_api_servers_words(server, tmp_path):
    token = "another-token"
    url, dummy = server(fake_api_server(token))
    kubeconfig = write_kubeconfig(tmp_path, url, token)
    task = probe_task(service={"namespace": "my-app", "name": "missing", "port": 80}, requests=2,
                      kubeconfig=kubeconfig)
    run = run_playbook(tmp_path, [task])
    assert run.rc != 0
    result = run.result("probe")
    assert result["status_codes"] == {"404": 2}
    assert "HTTP 404" in result["msg"] and "NotFound" in result["msg"]


def test_missing_kubeconfig_is_named(tmp_path):
    task = probe_task(service={"namespace": "my-app", "name": "web", "port": 80},
                      kubeconfig=os.path.join(str(tmp_path), "no-such-kubeconfig"))
    run = run_playbook(tmp_path, [task])
    assert run.rc != 0
    message = run.result("probe")["msg"]
    assert "kubeconfig=" in message and "does not exist" in message
    assert "no-such-kubeconfig" in message


def test_a_split_is_measured_by_the_version_each_answer_names(server, tmp_path):
    url, seen = server(httpservers.versions_answer(["1.0.0"] * 9 + ["2.0.0"]))
    run = run_playbook(tmp_path, [probe_task(url=url, requests=200, concurrency=2,
                                             count_by={"pattern": r"Version: (\S+)"},
                                             expect_shares={"1.0.0": 0.9, "2.0.0": 0.1}),
                                  probe_task(name="off", url=url, requests=200, ignore_errors=True,
                                             count_by={"header": "x-version"},
                                             expect_shares={"1.0.0": 0.5, "2.0.0": 0.5})])
    assert run.rc == 0, run.stdout
    result = run.result("probe")
    assert result["counts"] == {"1.0.0": 180, "2.0.0": 20} and result["passed"] is True
    assert [c["passed"] for c in result["share_checks"]] == [True, True]
    off = run.result("off")
    assert off["failed"] is True and "shares off: 1.0.0 measured 0.9000, expected 0.5000" in off["msg"]
