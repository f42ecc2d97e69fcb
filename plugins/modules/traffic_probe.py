#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: traffic_probe
short_description: Send a bounded, measured burst of HTTP requests and judge the answers
version_added: 0.2.0
author:
  - istio_demo.mesh developers (@istio-demo-mesh)
description:
  - Sends HTTP requests to a URL (an ingress load balancer, a port-forward) or to a Kubernetes
    Service through the API server's service-proxy subresource, and reports what came back -
    a status-code histogram, the success ratio, exact latency percentiles, the achieved rate
    and transport errors counted by kind.
  - Replaces C(while sleep 1; do curl ...; done) loops with a probe that stops by itself,
    holds a fixed rate when asked to and fails with a report instead of scrolling forever.
  - The module only reads, so it runs in check mode too.
  - Request I(i) of a fixed-rate run is sent at I(i/qps) seconds after the start, so the rate
    holds over the run as long as O(concurrency) workers can keep up with the latency.
options:
  url:
    description:
      - Absolute C(http://) or C(https://) URL to send requests to.
      - Mutually exclusive with O(service); one of the two is required.
      - Credentials in the URL (C(http://user:pass@host/)) are sent as basic authentication
        and never reported.
    type: str
  service:
    description:
      - A Kubernetes Service reached through the API server's proxy subresource
        (C(/api/v1/namespaces/NS/services/NAME:PORT/proxy/PATH)), with the connection options
        below (kubeconfig, context, ...).
      - Mutually exclusive with O(url); one of the two is required.
    type: dict
    suboptions:
      namespace:
        description: Namespace of the Service.
        type: str
        default: default
      name:
        description: Name of the Service.
        type: str
        required: true
      port:
        description: Service port, as a number or as the port's name.
        type: raw
        required: true
      path:
        description: Path requested from the Service; must start with C(/).
        type: str
        default: /
      scheme:
        description: Scheme the API server uses to reach the Service's pods.
        type: str
        choices: [http, https]
        default: http
  requests:
    description:
      - Number of requests to send. Mutually exclusive with O(duration).
      - When neither O(requests) nor O(duration) is given, 10 requests are sent, unless O(qps)
        is set, which then needs an explicit bound.
    type: int
  duration:
    description:
      - Seconds to keep sending requests (at most 3600). Mutually exclusive with O(requests).
    type: float
  qps:
    description:
      - Requests per second to hold over the run; C(0) sends as fast as the workers can.
      - A rate needs a bound, so O(requests) or O(duration) must be set with it.
    type: float
  concurrency:
    description:
      - Number of workers sending requests at the same time, each over its own keep-alive
        connection (1 to 512).
      - With O(qps=0) and a run of 500 requests or more (or a O(duration)), the workers are spread over
        one process per CPU core the module may use (RV(processes)), since Python threads share one interpreter
        lock, so one process keeps one core busy however many workers it runs. Each exchange is timed the
        same way in every process and the samples are merged into one report.
    type: int
    default: 1
  timeout:
    description:
      - Seconds to wait for a connection and for each read of an answer before the request
        counts as a C(timeout) error.
    type: float
    default: 5
  method:
    description: HTTP method of every request.
    type: str
    choices: [GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS]
    default: GET
  headers:
    description:
      - Extra request headers. Their values are hidden from logs because they often carry
        credentials.
    type: dict
  body:
    description: Request body, sent with every request.
    type: str
  expect_status:
    description: HTTP status codes that count as a success.
    type: list
    elements: int
    default: [200]
  min_success_ratio:
    description:
      - Fraction of requests (0.0 to 1.0) that must succeed for the task to pass. Transport
        errors count as failures.
    type: float
    default: 1.0
  paths:
    description:
      - Probe each of these paths in turn, in one module run, with the same options - each appended to the path of
        O(url) or of O(service.path) (a trailing C(/) dropped). The routes of one entry point, checked without a
        loop that starts a module process a route (about half a second each before any request).
      - Every path is checked before the first request. The result is RV(results), one report a path; the task
        fails when any path fails, naming each.
    type: list
    elements: str
    version_added: 0.4.0
  paths_mode:
    description:
      - How O(paths) are probed. V(in_turn) probes one path after the other.
      - V(side_by_side) probes every path at the same time, each with its own O(concurrency) workers, for the same
        O(requests) or O(duration), and all end once O(until_file) exists - several routes watched in the
        background (C(async)) during an upgrade by one module process instead of one a route. The workers then
        stay in this module's process (RV(processes) is 1), whatever O(qps).
      - V(side_by_side) needs O(paths).
    type: str
    choices: [in_turn, side_by_side]
    default: in_turn
    version_added: 0.5.0
  ready_timeout:
    description:
      - Seconds to wait, before measuring, until the target answers one request with an expected status (one
        request at a time, backing off up to 5 s). A new cloud load balancer needs minutes before its name resolves
        and its targets are healthy; the wait is reported in RV(wait) and not counted in the measurement.
      - C(0) measures at once.
    type: float
    default: 0
  ready_server:
    description:
      - With O(ready_timeout), a regular expression for the C(Server) header of an answer that ends the wait whatever
        its status - the service behind the load balancer answered itself (Istio's gateway says C(istio-envoy)), so a
        503 of its own is a result to measure, not a load balancer still starting.
    type: str
  count_by:
    description:
      - Count the answers with an expected status by a key each one carries - the version a demo app names in its
        body, a header set by the service - and return RV(counts) and RV(shares). Either O(count_by.pattern) or
        O(count_by.header).
    type: dict
    version_added: 0.3.0
    suboptions:
      pattern:
        description:
          - "A regular expression searched in each answer's body; its one group (or the whole match) is the key,
            such as C(Version: (\\S+)) for the hello app's C(Version: 2.0.0)."
        type: str
      header:
        description: A response header whose value is the key, such as C(x-version).
        type: str
  expect_shares:
    description:
      - 'With O(count_by), the share of the counted answers each key should get, as fractions that sum to 1, such as
        C({"1.0.0": 0.9, "2.0.0": 0.1}) for a 90/10 split. A key not listed is expected at 0.'
      - A measured share passes within O(share_sigmas) standard deviations of a random split of that many answers
        (the way Envoy splits weighted traffic, one random draw per request), so the tolerance shrinks as more
        requests are sent; a share expected at 0 or 1 must be exactly 0 or 1. Each key is reported in
        RV(share_checks), and a share outside its tolerance fails the probe.
    type: dict
    version_added: 0.3.0
  share_sigmas:
    description: How many standard deviations from its expected share a measured share may be (see O(expect_shares)).
    type: float
    default: 4.0
    version_added: 0.3.0
  until_file:
    description:
      - End the run as soon as this file exists (looked for before each request), at the latest when O(requests)
        or O(duration) is reached. For a probe that runs in the background (C(async)) for as long as something
        else takes - an upgrade, a restart - and is stopped by creating the file.
      - The report covers the requests sent until then; RV(duration_s) says how long that was.
    type: path
    version_added: 0.3.0
  validate_certs:
    description:
      - Whether to verify TLS certificates.
      - For O(url) targets verification is B(on) unless this is set to V(false).
      - For O(service) targets this applies to the API server and, when unset, the
        kubeconfig's setting is used.
    type: bool
    aliases: [verify_ssl]
extends_documentation_fragment:
  - istio_demo.mesh.k8s
  - kubernetes.core.k8s_auth_options
attributes:
  check_mode:
    support: full
    description: The module only reads; it sends the same requests in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to diff.
requirements:
  - python >= 3.9
  - kubernetes >= 24.2.0 (only for O(service) targets)
notes:
  - Latency is measured from the moment a request is sent until its answer has been read,
    for requests that got an HTTP answer; percentiles are exact (nearest rank) over all of
    them, not estimated.
  - O(service) targets need the C(services/proxy) C(get) permission in the Service's namespace.
  - HTTP proxies configured in the connection options are not supported for O(service) targets.
seealso:
  - module: kubernetes.core.k8s_info
"""

EXAMPLES = r"""
- name: Probe both routes of the ingress gateway in one task
  istio_demo.mesh.traffic_probe:
    url: "http://{{ ingress_host }}"
    paths: [/v1, /v2]
    requests: 20
  register: probes
  # probes.results[1].path == "/v2", probes.results[1].succeeded == 20

- name: Probe the ingress gateway's /v1 route
  istio_demo.mesh.traffic_probe:
    url: "http://{{ ingress_host }}/v1"
    requests: 20

- name: Hold 50 requests per second for 30 seconds and accept 99% success
  istio_demo.mesh.traffic_probe:
    url: "http://{{ ingress_host }}/v2"
    duration: 30
    qps: 50
    concurrency: 4
    min_success_ratio: 0.99

- name: Reach a Service through the API server, without exposing it
  istio_demo.mesh.traffic_probe:
    service:
      namespace: my-app
      name: nginx-svc
      port: 80
      path: /v1
    requests: 10
    kubeconfig: ~/.kube/config

- name: Record the answer without failing, then decide
  istio_demo.mesh.traffic_probe:
    url: https://mesh.example.com/healthz
    expect_status: [200, 204]
    min_success_ratio: 0
  register: health

- name: Prove a 90/10 split between the demo app's two versions, by the version each answer names
  istio_demo.mesh.traffic_probe:
    url: "http://{{ ingress_host }}/app"
    requests: 400
    count_by:
      pattern: 'Version: (\S+)'
    expect_shares: {"1.0.0": 0.9, "2.0.0": 0.1}

- name: Watch both routes at the same time, in the background, until /tmp/stop-probing exists
  istio_demo.mesh.traffic_probe:
    url: "http://{{ ingress_host }}"
    paths: [/v1, /v2]
    paths_mode: side_by_side
    duration: 1800
    qps: 5
    min_success_ratio: 0
    until_file: /tmp/stop-probing
  async: 1900
  poll: 0
  register: watch

- name: Probe in the background while something else happens (at most 30 minutes)
  istio_demo.mesh.traffic_probe:
    url: "http://{{ ingress_host }}/v1"
    duration: 1800
    qps: 5
    until_file: /tmp/stop-probing
  async: 1900
  poll: 0
  register: background

- name: Stop it once the work is done, and read its report
  ansible.builtin.file:
    path: /tmp/stop-probing
    state: touch

- name: Wait for the report
  ansible.builtin.async_status:
    jid: "{{ background.ansible_job_id }}"
  register: background_report
  until: background_report.finished
  retries: 60
  delay: 1

- name: Show the latency percentiles
  ansible.builtin.debug:
    msg: "p50 {{ health.latency_ms.p50 }} ms, p99 {{ health.latency_ms.p99 }} ms"
"""

RETURN = r"""
url:
  description: Where the requests went (credentials removed).
  returned: without O(paths); with it, in each of RV(results)
  type: str
  sample: http://a1b2c3-123456.us-east-1.elb.amazonaws.com/v1
method:
  description: HTTP method used.
  returned: without O(paths); with it, in each of RV(results)
  type: str
  sample: GET
requests:
  description: Number of requests sent.
  returned: without O(paths); with it, in each of RV(results)
  type: int
  sample: 20
succeeded:
  description: Number of requests answered with one of O(expect_status).
  returned: without O(paths); with it, in each of RV(results)
  type: int
  sample: 20
status_codes:
  description: Histogram of the HTTP status codes received, keyed by code.
  returned: without O(paths); with it, in each of RV(results)
  type: dict
  sample: {"200": 19, "503": 1}
success_ratio:
  description: RV(succeeded) divided by RV(requests).
  returned: without O(paths); with it, in each of RV(results)
  type: float
  sample: 0.95
min_success_ratio:
  description: The ratio the run had to reach.
  returned: without O(paths); with it, in each of RV(results)
  type: float
  sample: 1.0
latency_ms:
  description: Latency in milliseconds of the requests that got an answer; null values when none did.
  returned: without O(paths); with it, in each of RV(results)
  type: dict
  contains:
    min:
      description: Fastest answer.
      type: float
    mean:
      description: Arithmetic mean.
      type: float
    p50:
      description: Median (nearest rank).
      type: float
    p90:
      description: 90th percentile (nearest rank).
      type: float
    p99:
      description: 99th percentile (nearest rank).
      type: float
    max:
      description: Slowest answer.
      type: float
  sample: {"min": 1.2, "mean": 2.9, "p50": 2.4, "p90": 4.8, "p99": 9.7, "max": 11.0}
rps:
  description: Requests completed per second over the whole run.
  returned: without O(paths); with it, in each of RV(results)
  type: float
  sample: 49.8
duration_s:
  description: Wall time of the run in seconds.
  returned: without O(paths); with it, in each of RV(results)
  type: float
  sample: 30.02
qps:
  description: The requested rate (0 = as fast as possible).
  returned: without O(paths); with it, in each of RV(results)
  type: float
  sample: 50.0
concurrency:
  description: Number of workers.
  returned: without O(paths); with it, in each of RV(results)
  type: int
  sample: 4
processes:
  description:
    - How many processes ran the workers - more than one only as fast as possible (O(qps=0)) over 500
      requests or more or a O(duration), one per CPU core and at most one per worker; C(0) when the target
      was not ready and nothing was measured.
  returned: without O(paths); with it, in each of RV(results)
  type: int
  sample: 2
  version_added: 0.3.0
errors:
  description:
    - Transport failures counted by kind - C(timeout), C(connection_refused), C(dns), C(tls),
      C(connection_reset), C(protocol), C(other). Kinds that did not occur are left out.
  returned: without O(paths); with it, in each of RV(results)
  type: dict
  sample: {"connection_refused": 2}
first_errors:
  description: The first few failures in words (transport errors and unexpected status codes).
  returned: without O(paths); with it, in each of RV(results)
  type: list
  elements: str
  sample: ["HTTP 503 (expected 200): no healthy upstream"]
wait:
  description: How the wait for readiness went (with O(ready_timeout)).
  returned: when O(ready_timeout) is set (with O(paths), in each of RV(results))
  type: dict
  contains:
    ready:
      description: Whether the target answered with an expected status in time.
      type: bool
    waited_s:
      description: Seconds waited.
      type: float
    attempts:
      description: Requests sent while waiting.
      type: int
    last:
      description: The last failure seen while waiting, or null.
      type: str
  sample: {ready: true, waited_s: 42.5, attempts: 9, last: null}
counts:
  description: With O(count_by), the answers with an expected status by key.
  returned: when O(count_by) is set (with O(paths), in each of RV(results))
  type: dict
  version_added: 0.3.0
  sample: {"1.0.0": 362, "2.0.0": 38}
shares:
  description: With O(count_by), each key's share of the answers with an expected status.
  returned: when O(count_by) is set (with O(paths), in each of RV(results))
  type: dict
  version_added: 0.3.0
  sample: {"1.0.0": 0.905, "2.0.0": 0.095}
uncounted:
  description: With O(count_by), answers with an expected status that carried no key.
  returned: when O(count_by) is set (with O(paths), in each of RV(results))
  type: int
  version_added: 0.3.0
  sample: 0
share_checks:
  description: With O(expect_shares), each key's measured share beside the expected one and its tolerance.
  returned: when O(count_by) is set (with O(paths), in each of RV(results))
  type: list
  elements: dict
  version_added: 0.3.0
  contains:
    key:
      description: The key.
      type: str
    expected:
      description: The expected share.
      type: float
    measured:
      description: The measured share.
      type: float
    tolerance:
      description: How far the measured share may be from the expected one.
      type: float
    passed:
      description: Whether it is within the tolerance.
      type: bool
  sample: [{key: "2.0.0", expected: 0.1, measured: 0.095, tolerance: 0.06, passed: true}]
passed:
  description: Whether the run met O(min_success_ratio) (and O(expect_shares), when given).
  returned: without O(paths); with it, in each of RV(results)
  type: bool
  sample: true
api_retries:
  description: Every Kubernetes API request that was retried after a transient failure, with the reason.
  returned: always
  type: list
  elements: dict
  contains:
    method:
      description: HTTP method.
      type: str
    path:
      description: Request path.
      type: str
    reason:
      description: C(HTTP 503), C(ProtocolError) (dropped connection) and so on.
      type: str
  sample: []
results:
  description:
    - With O(paths), one report a path in their order - the fields above, with C(path) (the path probed),
      C(failed) (whether its verdict failed) and C(msg); RV(api_retries) stays at the top.
  returned: with O(paths)
  type: list
  elements: dict
  sample: [{path: /v1, url: "http://a1b2.elb.amazonaws.com/v1", requests: 20, succeeded: 20, failed: false}]
"""

from ansible_collections.istio_demo.mesh.plugins.module_utils import traffic
from ansible_collections.istio_demo.mesh.plugins.module_utils.probe_spec import METHODS
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_module import run_k8s_module


def argument_spec():
    """The module's own options (k8s_module adds the connection and retry options)."""
    spec = dict(
        url=dict(type="str"),
        service=dict(type="dict", options=dict(
            namespace=dict(type="str", default="default"),
            name=dict(type="str", required=True),
            port=dict(type="raw", required=True),
            path=dict(type="str", default="/"),
            scheme=dict(type="str", choices=["http", "https"], default="http"),
        )),
        requests=dict(type="int"),
        duration=dict(type="float"),
        qps=dict(type="float"),
        concurrency=dict(type="int", default=1),
        timeout=dict(type="float", default=5.0),
        method=dict(type="str", default="GET",
                    choices=list(METHODS)),
        headers=dict(type="dict", no_log=True),
        body=dict(type="str"),
        expect_status=dict(type="list", elements="int", default=[200]),
        min_success_ratio=dict(type="float", default=1.0),
        count_by=dict(type="dict", options=dict(pattern=dict(type="str"), header=dict(type="str")),
                      mutually_exclusive=[("pattern", "header")], required_one_of=[("pattern", "header")]),
        expect_shares=dict(type="dict"),
        share_sigmas=dict(type="float", default=4.0),
        until_file=dict(type="path"),
        ready_timeout=dict(type="float", default=0.0),
        ready_server=dict(type="str"),
        paths=dict(type="list", elements="str"),
        paths_mode=dict(type="str", choices=["in_turn", "side_by_side"], default="in_turn"),
    )
    return spec


def main():
    # the Kubernetes connection is only used to probe a Service through the API server
    run_k8s_module(argument_spec(), traffic.probe_module, check_k8s=False,
                   mutually_exclusive=[("url", "service"), ("requests", "duration")],
                   required_one_of=[("url", "service")])


if __name__ == "__main__":
    main()
