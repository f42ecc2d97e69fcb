"""The probe engine against real HTTP servers on loopback."""

import os

import pytest

from ansible_collections.istio_demo.mesh.plugins.module_utils import http_target, traffic
from ansible_collections.istio_demo.mesh.plugins.module_utils.probe_report import failure_message, percentile, summarize
from ansible_collections.istio_demo.mesh.plugins.module_utils.probe_spec import ProbeInputError, validate_spec
from ansible_collections.istio_demo.mesh.plugins.module_utils.traffic import Sample

import httpservers


def run(url, **options):
    spec = validate_spec(**options)
    return traffic.probe(http_target.url_target(url, validate_certs=spec.validate_certs), spec)


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("options, names", [
    (dict(requests=-1), ["requests=-1", "between 1 and"]),
    (dict(requests=0), ["requests=0"]),
    (dict(duration=-2.5), ["duration=-2.5", "seconds > 0"]),
    (dict(duration=0), ["duration=0"]),
    (dict(duration=7200), ["duration=7200", "<= 3600"]),
    (dict(qps=10), ["qps=10", "no bound", "requests", "duration"]),
    (dict(qps=-1, requests=3), ["qps=-1", ">= 0"]),
    (dict(concurrency=0), ["concurrency=0", "between 1 and"]),
    (dict(concurrency=-4), ["concurrency=-4"]),
    (dict(timeout=0), ["timeout=0", "> 0"]),
    (dict(expect_status=[200, 999]), ["expect_status", "999", "100 and 599"]),
    (dict(expect_status=[]), ["expect_status=[]", "non-empty"]),
    (dict(expect_status=["ok"]), ["expect_status='ok'"]),
    (dict(min_success_ratio=1.5), ["min_success_ratio=1.5", "0.0 and 1.0"]),
    (dict(headers={"bad header": "x"}), ["headers", "bad header"]),
    (dict(headers={"X-Ok": "a\r\nInjected: 1"}), ["headers[X-Ok]", "line breaks"]),
    (dict(requests="many"), ["requests='many'"]),
])
def test_bad_load_shape_is_refused_with_option_value_and_expectation(options, names):
    with pytest.raises(ProbeInputError) as info:
        validate_spec(**options)
    for text in names:
        assert text in str(info.value)


@pytest.mark.parametrize("url, expected", [
    ("example.com/v1", "http:// or https://"),
    ("ftp://example.com/", "http:// or https://"),
    ("http:///v1", "with a host"),
    ("http://example.com:99999/", "between 1 and 65535"),
    ("", "absolute"),
])
def test_bad_url_is_refused(url, expected):
    with pytest.raises(ProbeInputError) as info:
        http_target.url_target(url)
    assert "url=%r" % url in str(info.value)
    assert expected in str(info.value)


@pytest.mark.parametrize("service, option", [
    ({"namespace": "My_App", "name": "web", "port": 80}, "service.namespace"),
    ({"namespace": "my-app", "name": "9web", "port": 80}, "service.name"),
    ({"namespace": "my-app", "name": "web", "port": 0}, "service.port"),
    ({"namespace": "my-app", "name": "web", "port": 70000}, "service.port"),
    ({"namespace": "my-app", "name": "web", "port": "Http_Web"}, "service.port"),
    ({"namespace": "my-app", "name": "web", "port": 80, "path": "v1"}, "service.path"),
])
def test_bad_service_is_refused(service, option):
    with pytest.raises(ProbeInputError) as info:
        http_target.validate_service(service)
    assert str(info.value).startswith(option + "=")


def test_default_bound_is_ten_requests():
    spec = validate_spec()
    assert spec.requests == 10 and spec.duration is None and spec.qps == 0


def test_service_proxy_path_follows_the_api_contract():
    assert http_target.service_proxy_path("my-app", "nginx-svc", 80, "/v1") == \
        "/api/v1/namespaces/my-app/services/nginx-svc:80/proxy/v1"
    assert http_target.service_proxy_path("my-app", "web", "https-web", "/", "https") == \
        "/api/v1/namespaces/my-app/services/https:web:https-web/proxy/"
    target = http_target.service_target("https://api.example.com:6443/prefix", "ns", "svc", 8080, "/x")
    assert (target.scheme, target.host, target.port) == ("https", "api.example.com", 6443)
    assert target.path == "/prefix/api/v1/namespaces/ns/services/svc:8080/proxy/x"


# ---------------------------------------------------------------- statistics

@pytest.mark.parametrize("values, pct, expected", [
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50, 5),
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90, 9),
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99, 10),
    (list(range(1, 1001)), 99, 990),
    (list(range(1, 1001)), 50, 500),
    ([42], 99, 42),
    ([], 50, None),
])
def test_percentile_is_exact_nearest_rank(values, pct, expected):
    assert percentile(values, pct) == expected


def test_summary_counts_statuses_errors_and_latency():
    spec = validate_spec(requests=6, expect_status=[200, 204])
    samples = [
        Sample(0.0, 0.010, status=200),
        Sample(0.1, 0.020, status=204),
        Sample(0.2, 0.030, status=503, detail="no healthy upstream"),
        Sample(0.3, 0.040, status=200),
        Sample(0.4, 0.001, error=("connection_refused", "ConnectionRefusedError: refused")),
        Sample(0.5, 5.000, error=("timeout", "TimeoutError: timed out")),
    ]
    report = summarize(samples, 2.0, spec, "http://x/")
    assert report["requests"] == 6
    assert report["status_codes"] == {"200": 2, "204": 1, "503": 1}
    assert report["succeeded"] == 3
    assert report["success_ratio"] == 0.5
    assert report["errors"] == {"connection_refused": 1, "timeout": 1}
    assert report["latency_ms"]["min"] == 10.0
    assert report["latency_ms"]["max"] == 40.0
    assert report["latency_ms"]["mean"] == 25.0
    assert report["latency_ms"]["p50"] == 20.0
    assert report["rps"] == 3.0
    assert report["passed"] is False
    assert report["first_errors"][0] == "HTTP 503 (expected 200, 204): no healthy upstream"
    message = failure_message(report)
    for text in ("3 of 6", "success_ratio 0.5000", "200: 2", "503: 1", "connection_refused: 1",
                 "no healthy upstream"):
        assert text in message


# ---------------------------------------------------------------- real servers

def test_healthy_server_gets_every_request_and_passes(server):
    url, seen = server(httpservers.ok_answer)
    report = run(url + "/v1", requests=25, concurrency=3)
    assert seen.count == 25
    assert set(seen.paths) == {"/v1"}
    assert report["requests"] == 25
    assert report["status_codes"] == {"200": 25}
    assert report["success_ratio"] == 1.0
    assert report["passed"] is True
    assert report["errors"] == {}
    lat = report["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert lat["min"] <= lat["mean"] <= lat["max"]


def test_mixed_server_gives_the_exact_histogram_and_ratio(server):
    url, seen = server(httpservers.cycling_answer([200, 200, 503, 200, 404, 200, 200, 503, 200, 200]))
    report = run(url, requests=20)
    assert report["status_codes"] == {"200": 14, "503": 4, "404": 2}
    assert report["success_ratio"] == 0.7
    assert report["passed"] is False
    assert "HTTP 503" in report["first_errors"][0]
    assert "status 503" in report["first_errors"][0]
    assert run(url, requests=10, min_success_ratio=0.7)["passed"] is True
    assert run(url, requests=10, expect_status=[200, 404, 503])["success_ratio"] == 1.0


def test_slow_server_latency_is_measured_and_timeouts_are_counted(server):
    url, dummy = server(httpservers.slow_answer(0.2))
    slow = run(url, requests=3, timeout=2)
    assert slow["status_codes"] == {"200": 3}
    assert slow["latency_ms"]["min"] >= 200
    timed_out = run(url, requests=2, timeout=0.05)
    assert timed_out["errors"] == {"timeout": 2}
    assert timed_out["success_ratio"] == 0.0
    assert timed_out["latency_ms"]["p50"] is None
    assert "timeout" in failure_message(timed_out)


def test_refused_connection_is_counted_by_kind():
    report = run(httpservers.refused_url(), requests=4, concurrency=2)
    assert report["errors"] == {"connection_refused": 4}
    assert report["requests"] == 4
    assert report["passed"] is False
    assert "connection_refused" in report["first_errors"][0]


def test_unknown_host_is_a_dns_error():
    report = run("http://probe-target.invalid/", requests=1)
    assert report["errors"] == {"dns": 1}


def test_tls_is_verified_by_default_and_can_be_turned_off(server):
    context, dummy = httpservers.self_signed_context()
    url, seen = server(httpservers.ok_answer, tls_context=context)
    assert url.startswith("https://")
    verified = run(url, requests=2)
    assert verified["errors"] == {"tls": 2}
    assert seen.count == 0
    unverified = run(url, requests=2, validate_certs=False)
    assert unverified["status_codes"] == {"200": 2}


def test_concurrency_is_real(server):
    url, seen = server(httpservers.slow_answer(0.1))
    report = run(url, requests=8, concurrency=4)
    assert report["status_codes"] == {"200": 8}
    assert seen.peak == 4


def test_paths_side_by_side_are_probed_at_the_same_time_in_this_process_each_with_its_report(server):
    url, seen = server(httpservers.slow_answer(0.1))
    # as fast as possible for a duration: alone, such a probe forks a process per core
    spec = validate_spec(duration=0.5, concurrency=2)
    targets = [http_target.url_target(url + path, validate_certs=True) for path in ("/v1", "/v2", "/v3")]
    reports = traffic.probe_side_by_side(targets, spec)
    assert [r["url"] for r in reports] == [url + "/v1", url + "/v2", url + "/v3"]
    assert all(r["requests"] >= 2 and r["status_codes"] == {"200": r["requests"]} for r in reports), reports
    assert [r["processes"] for r in reports] == [1, 1, 1]  # beside threads, never forked
    assert seen.peak == 6  # two workers a path, all three paths at once
    assert sorted(set(seen.paths)) == ["/v1", "/v2", "/v3"]


def test_paths_side_by_side_all_end_once_the_stop_file_exists(server, tmp_path):
    url, seen = server(httpservers.ok_answer)
    stop = tmp_path / "stop"
    stop.write_text("")
    targets = [http_target.url_target(url + path, validate_certs=True) for path in ("/v1", "/v2")]
    reports = traffic.probe_side_by_side(targets, validate_spec(duration=600, qps=5, until_file=str(stop)))
    assert [r["requests"] for r in reports] == [0, 0] and seen.count == 0


def test_a_path_whose_probe_raises_raises_once_every_path_ended(server, monkeypatch):
    url, seen = server(httpservers.ok_answer)
    real = traffic.probe

    def probe(target, spec, **kwargs):
        if target.display_url.endswith("/v2"):
            raise traffic.MeshError("traffic probe: broken for %s" % target.display_url)
        return real(target, spec, **kwargs)

    monkeypatch.setattr(traffic, "probe", probe)
    targets = [http_target.url_target(url + path, validate_certs=True) for path in ("/v1", "/v2")]
    with pytest.raises(traffic.MeshError, match="broken for .*/v2"):
        traffic.probe_side_by_side(targets, validate_spec(requests=4))
    assert seen.paths == ["/v1"] * 4  # the other path ran to its end


def test_as_fast_as_possible_the_workers_share_the_cores_and_every_request_is_counted_once(server):
    url, seen = server(httpservers.slow_answer(0.01))
    report = run(url, requests=600, concurrency=4)
    assert report["processes"] == min(len(os.sched_getaffinity(0)), 4)
    assert seen.count == 600 and seen.peak == 4
    assert report["requests"] == 600 and report["status_codes"] == {"200": 600}
    lat = report["latency_ms"]
    assert 10.0 <= lat["min"] <= lat["p50"] <= lat["p99"] <= lat["max"]


@pytest.mark.parametrize("options", [
    dict(requests=600, qps=100, concurrency=4),  # a fixed rate: one clock decides when each request is due
    dict(requests=10, concurrency=4),  # too short to be worth a process
    dict(requests=600, concurrency=1),
])
def test_a_fixed_rate_a_short_run_or_one_worker_stays_in_one_process(options):
    assert traffic.process_count(validate_spec(**options)) == 1


def test_a_failed_probe_process_fails_the_probe_naming_what_went_wrong(server, monkeypatch):
    url, seen = server(httpservers.ok_answer)

    def broken(target, spec, clock=None):
        raise RuntimeError("no sockets left")

    monkeypatch.setattr(traffic, "run_probe", broken)  # inherited by the forked processes
    with pytest.raises(traffic.MeshError) as info:
        traffic.run_probe_processes(http_target.url_target(url), validate_spec(requests=600, concurrency=2), 2)
    assert str(info.value) == ("traffic probe: 2 of 2 probe processes failed: RuntimeError: no sockets left; "
                               "RuntimeError: no sockets left")
    assert seen.count == 0


def test_a_probe_process_that_cannot_start_stops_the_ones_started(server, monkeypatch):
    url, seen = server(httpservers.ok_answer)
    forks = []
    real_fork = traffic.os.fork

    def fork_once():
        if forks:
            raise OSError(11, "Resource temporarily unavailable")
        forks.append(real_fork())
        return forks[-1]

    monkeypatch.setattr(traffic.os, "fork", fork_once)
    with pytest.raises(traffic.MeshError) as info:
        traffic.run_probe_processes(http_target.url_target(url), validate_spec(duration=30, concurrency=2), 2)
    assert str(info.value) == ("traffic probe: cannot start probe process 2 of 2: [Errno 11] Resource temporarily "
                               "unavailable")
    with pytest.raises(ChildProcessError):  # the first one was stopped and reaped, not left probing for 30 s
        os.waitpid(forks[0], os.WNOHANG)


def test_headers_method_body_and_url_credentials_are_sent(server):
    url, seen = server(httpservers.ok_answer)
    target_url = url.replace("http://", "http://probe:s3cret@") + "/v2?x=1"
    report = run(target_url, requests=1, method="POST", body="ping", headers={"X-Probe": "yes"})
    assert report["status_codes"] == {"200": 1}
    assert seen.paths == ["/v2?x=1"]
    assert seen.headers[0]["X-Probe"] == "yes"
    assert seen.headers[0]["Authorization"] == "Basic cHJvYmU6czNjcmV0"
    assert "s3cret" not in report["url"]


def test_fixed_rate_is_held_within_five_percent(server):
    url, seen = server(httpservers.ok_answer)
    report = run(url, requests=60, qps=40, concurrency=2)
    assert seen.count == 60
    assert abs(report["rps"] - 40) / 40 <= 0.05, report


def test_duration_bound_sends_rate_times_duration(server):
    url, seen = server(httpservers.ok_answer)
    report = run(url, duration=1.0, qps=30)
    assert report["requests"] == 30
    assert seen.count == 30


def test_duration_bound_without_rate_stops_by_itself(server):
    url, seen = server(httpservers.ok_answer)
    report = run(url, duration=0.3)
    assert report["requests"] == seen.count > 0
    assert report["duration_s"] >= 0.3


def test_a_target_that_answers_late_is_awaited_then_measured(server):
    # a fresh load balancer: 503 (targets not yet healthy) three times, then healthy
    answers = iter([503, 503, 503])
    url, seen = server(lambda handler: (next(answers, 200), "hello\n"))
    spec = validate_spec(requests=5)
    report = traffic.probe(http_target.url_target(url), spec, ready_timeout=30)
    assert report["wait"]["ready"] is True and report["wait"]["attempts"] == 4
    assert report["status_codes"] == {"200": 5} and report["requests"] == 5 and report["passed"]
    assert seen.count == 4 + 5


def test_a_target_that_never_answers_fails_naming_the_wait():
    spec = validate_spec(requests=5, timeout=0.5)
    # .invalid never resolves (RFC 2606): the wait sees dns errors until its timeout
    report = traffic.probe(http_target.url_target("http://lb.invalid/v1"), spec, ready_timeout=1)
    assert report["wait"]["ready"] is False and report["wait"]["attempts"] >= 2
    assert report["wait"]["last"].startswith("dns") and not report["passed"]
    assert "ready_timeout" in failure_message(report)


def test_an_answer_from_the_service_itself_ends_the_wait_and_its_failure_is_measured(server):
    # the gateway answers 503 for a broken route: that is the result, not a load balancer still starting
    def answer(handler):
        handler.server_version = "istio-envoy"
        handler.sys_version = ""
        return 503, "no healthy upstream\n"
    url, seen = server(answer)
    spec = validate_spec(requests=3)
    report = traffic.probe(http_target.url_target(url), spec, ready_timeout=30, ready_server="^istio-envoy$")
    assert report["wait"] == {"ready": True, "waited_s": report["wait"]["waited_s"], "attempts": 1, "last": None}
    assert report["status_codes"] == {"503": 3} and not report["passed"]


# ---------------------------------------------------------------- counting answers by key (a traffic split)

def test_answers_are_counted_by_the_version_they_name_in_the_body(server):
    url, seen = server(httpservers.versions_answer(["1.0.0"] * 9 + ["2.0.0"]))
    report = run(url, requests=100, concurrency=4, count_by={"pattern": r"Version: (\S+)"})
    assert report["counts"] == {"1.0.0": 90, "2.0.0": 10} and report["uncounted"] == 0
    assert report["shares"] == {"1.0.0": 0.9, "2.0.0": 0.1}
    assert report["share_checks"] == [] and report["passed"]


def test_answers_are_counted_by_a_header_and_a_split_within_its_tolerance_passes(server):
    url, seen = server(httpservers.versions_answer(["a"] * 3 + ["b"]))
    report = run(url, requests=400, count_by={"header": "x-version"}, expect_shares={"a": 0.8, "b": 0.2})
    assert report["counts"] == {"a": 300, "b": 100}
    # 400 answers at p=0.2: standard deviation 0.02, 4 of them
    assert [(c["key"], c["measured"], c["tolerance"], c["passed"]) for c in report["share_checks"]] == [
        ("a", 0.75, 0.08, True), ("b", 0.25, 0.08, True)]
    assert report["passed"]


def test_a_split_off_its_expected_shares_fails_naming_each_key(server):
    url, seen = server(httpservers.versions_answer(["1.0.0", "2.0.0"]))
    report = run(url, requests=200, count_by={"pattern": r"Version: (\S+)"},
                 expect_shares={"1.0.0": 0.9, "2.0.0": 0.1})
    assert report["success_ratio"] == 1.0 and not report["passed"]
    message = failure_message(report)
    assert "1.0.0 measured 0.5000, expected 0.9000 +/- 0.0849" in message
    assert "2.0.0 measured 0.5000, expected 0.1000 +/- 0.0849" in message


def test_a_key_expected_at_zero_must_get_nothing_and_an_unlisted_key_counts_as_expected_at_zero(server):
    url, seen = server(httpservers.versions_answer(["2.0.0"] * 49 + ["3.0.0"]))
    report = run(url, requests=50, count_by={"pattern": r"Version: (\S+)"},
                 expect_shares={"1.0.0": 0.0, "2.0.0": 1.0})
    checks = dict((c["key"], c) for c in report["share_checks"])
    assert checks["1.0.0"]["passed"] and not checks["2.0.0"]["passed"] and not checks["3.0.0"]["passed"]
    assert checks["3.0.0"]["expected"] == 0.0 and checks["3.0.0"]["measured"] == 0.02 and not report["passed"]


def test_answers_without_the_key_are_uncounted_and_failures_are_not_counted(server):
    url, seen = server(httpservers.cycling_answer([200, 503]))
    report = run(url, requests=10, count_by={"pattern": r"Version: (\S+)"}, min_success_ratio=0)
    assert report["counts"] == {} and report["uncounted"] == 5 and report["shares"] == {}


@pytest.mark.parametrize("options, names", [
    (dict(count_by={"pattern": "Version: ("}), ["count_by.pattern='Version: ('", "regular expression"]),
    (dict(count_by={"pattern": "(a)(b)"}), ["count_by.pattern", "at most one group"]),
    (dict(count_by={"header": "bad header"}), ["count_by.header='bad header'"]),
    (dict(expect_shares={"a": 1.0}), ["expect_shares", "needs count_by"]),
    (dict(count_by={"header": "x"}, expect_shares={"a": 0.9, "b": 0.2}), ["sums to 1.100", "sum to 1.0"]),
    (dict(count_by={"header": "x"}, expect_shares={"a": 1.5}), ["expect_shares[a]=1.5", "between 0.0 and 1.0"]),
    (dict(count_by={"header": "x"}, expect_shares={"a": 1.0}, share_sigmas=0), ["share_sigmas=0"]),
])
def test_bad_counting_options_are_refused(options, names):
    with pytest.raises(ProbeInputError) as info:
        validate_spec(requests=3, **options)
    for text in names:
        assert text in str(info.value)
