# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Bounded, measured HTTP probe: the engine behind ``traffic_probe``.

The probe in four files of one concern each: ``probe_spec`` checks the
options into a ``ProbeSpec``; ``http_target`` says where requests go and
speaks HTTP/1.1 to it; this file sends them (threads, then processes for
large loads, after an optional readiness wait) and holds the module's entry;
``probe_report`` turns the recorded samples into the report it returns.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os
import pickle
import re
import signal
import threading
import time
from urllib.parse import urlsplit, urlunsplit

from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError
from ansible_collections.istio_demo.mesh.plugins.module_utils.http_target import (
    classify_error,
    make_ssl_context,
    service_target,
    url_target,
    validate_service,
)
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_connection import connect, request_settings
from ansible_collections.istio_demo.mesh.plugins.module_utils.probe_report import failure_message, summarize
from ansible_collections.istio_demo.mesh.plugins.module_utils.probe_spec import (
    DETAIL_BYTES,
    ProbeInputError,
    validate_spec,
)


class Sample(object):
    __slots__ = ("start", "latency", "status", "error", "detail", "server", "key")

    def __init__(self, start, latency, status=None, error=None, detail=None, server=None, key=None):
        self.start = start
        self.latency = latency
        self.status = status
        self.error = error
        self.detail = detail
        self.server = server
        self.key = key


class _Worker(object):
    """One connection, reused while the server keeps it alive."""

    def __init__(self, target, spec):
        self.target = target
        self.spec = spec
        self.conn = None
        headers = dict(target.headers)
        headers.update(spec.headers)
        body = spec.body.encode("utf-8") if isinstance(spec.body, str) else spec.body
        self.request = target.request_bytes(spec.method, headers, body)
        self.head_only = spec.method == "HEAD"

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(self, clock):
        start = clock()
        try:
            if self.conn is None:
                self.conn = self.target.connect(self.spec.timeout)
                if self.spec.count_by and self.spec.count_by[0] == "header":
                    self.conn.wanted = self.spec.count_by[1]
            status, payload, will_close = self.conn.exchange(self.request, self.head_only)
            latency = clock() - start
            server = self.conn.server_header
            header = self.conn.wanted_value
            if will_close:
                self.close()
            detail = key = None
            if status not in self.spec.expect_status:
                detail = " ".join(payload[:DETAIL_BYTES].decode("utf-8", "replace").split())
            elif self.spec.count_by:
                key = header if self.spec.count_by[0] == "header" else _key_in(self.spec.count_by[1], payload)
            return Sample(start, latency, status=status, detail=detail, server=server, key=key)
        except Exception as exc:  # every transport failure is a measured outcome
            self.close()
            return Sample(start, clock() - start, error=(classify_error(exc), "%s: %s" % (
                type(exc).__name__, exc)))


def _key_in(pattern, payload):
    """What ``pattern`` finds in an answer's body: its group, or the whole match; None when it finds nothing."""
    found = pattern.search(payload.decode("utf-8", "replace"))
    if found is None:
        return None
    return found.group(1) if pattern.groups else found.group(0)


def run_probe(target, spec, clock=time.monotonic, sleep=time.sleep):
    """Send the requests ``spec`` describes to ``target``; return (samples, wall seconds).

    Request ``i`` is due at ``t0 + i / qps`` when a rate is set, so the rate
    holds over the run whatever the latency (as long as ``concurrency``
    workers can keep up); with ``qps`` 0 the workers send back to back.
    """
    lock = threading.Lock()
    samples = []
    state = {"next": 0}
    workers = spec.concurrency if spec.requests is None else min(spec.concurrency, spec.requests)
    t0 = clock()

    def next_slot():
        """When the next request is due, or None when the run is over."""
        with lock:
            index = state["next"]
            if spec.requests is not None and index >= spec.requests:
                return None
            if spec.until_file and os.path.exists(spec.until_file):
                return None
            if spec.qps > 0:
                due = t0 + index / spec.qps
                if spec.duration is not None and due - t0 >= spec.duration:
                    return None
            else:
                due = t0  # already past: send now
                if spec.duration is not None and clock() - t0 >= spec.duration:
                    return None
            state["next"] = index + 1
            return due

    def loop():
        worker = _Worker(target, spec)
        mine = []
        try:
            due = next_slot()
            while due is not None:
                wait = due - clock()
                if wait > 0:
                    sleep(wait)
                mine.append(worker.send(clock))
                due = next_slot()
        finally:
            worker.close()
            with lock:
                samples.extend(mine)

    threads = [threading.Thread(target=loop, name="probe-%d" % n) for n in range(workers)]
    for thread in threads:
        thread.daemon = True
        thread.start()
    for thread in threads:
        thread.join()
    return samples, clock() - t0


# as fast as possible, from this many requests (or any duration) on, the workers run in several processes
PROCESS_MIN_REQUESTS = 500


def process_count(spec):
    """How many processes share the workers: one per core the probe may use (at most one per worker) when it sends
    as fast as it can - Python threads share one interpreter lock, so one process keeps one core busy however many
    workers it has. A fixed rate, a short run or one worker stay in one process."""
    if spec.qps > 0 or spec.concurrency < 2 or not hasattr(os, "fork"):
        return 1
    if spec.requests is not None and spec.requests < PROCESS_MIN_REQUESTS:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, spec.concurrency))


def _share(total, parts, index):
    """The ``index``-th of ``parts`` near-equal shares of ``total``."""
    return total // parts + (1 if index < total % parts else 0)


def _child_spec(spec, processes, index):
    child = copy.copy(spec)
    child.concurrency = _share(spec.concurrency, processes, index)
    if spec.requests is not None:
        child.requests = _share(spec.requests, processes, index)
    return child


def run_probe_processes(target, spec, processes):
    """``run_probe`` with the workers spread over ``processes`` forked processes, each timing its own exchanges
    exactly as ``run_probe`` does; their samples come back through a pipe and are merged. Returns (samples, wall
    seconds from the first fork to the last process's end - the monotonic clock is the machine's, so the
    processes' times compare)."""
    t0 = time.monotonic()
    children = []
    for index in range(processes):
        try:
            read_end, write_end = os.pipe()
            pid = os.fork()
        except OSError as exc:  # no process or pipe left: stop the ones started, and say so
            _stop(children)
            raise MeshError("traffic probe: cannot start probe process %d of %d: %s" % (index + 1, processes, exc))
        if pid == 0:  # the child: probe, send the samples back, leave without running the parent's exit handlers
            status = 0
            try:
                os.close(read_end)
                samples, dummy = run_probe(target, _child_spec(spec, processes, index))
                answer = (time.monotonic(), [(s.start, s.latency, s.status, s.error, s.detail, s.server, s.key)
                                             for s in samples])
            except BaseException as exc:  # reported by the parent, with what went wrong
                answer, status = "%s: %s" % (type(exc).__name__, exc), 1
            try:
                with os.fdopen(write_end, "wb") as pipe:
                    pipe.write(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
            finally:
                os._exit(status)
        os.close(write_end)
        children.append((pid, read_end))
    samples, ends, failures = [], [], []
    for pid, read_end in children:
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        dummy, status = os.waitpid(pid, 0)
        try:
            answer = pickle.loads(data) if data else "it ended with status %d and sent nothing" % status
        except Exception:  # cut short: the process was killed while it wrote
            answer = "it ended with status %d and sent an incomplete answer" % status
        if status != 0 or not isinstance(answer, tuple):
            failures.append(str(answer))
            continue
        ends.append(answer[0])
        samples.extend(Sample(start, latency, status=code, error=error, detail=detail, server=server, key=key)
                       for start, latency, code, error, detail, server, key in answer[1])
    if failures:
        raise MeshError("traffic probe: %d of %d probe processes failed: %s" % (
            len(failures), processes, "; ".join(failures)))
    return samples, max(ends) - t0


def _stop(children):
    """End the probe processes started so far and reap them."""
    for pid, read_end in children:
        os.close(read_end)
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:  # already gone
            pass
        os.waitpid(pid, 0)


def await_ready(target, spec, timeout, clock=time.monotonic, sleep=time.sleep, ready_server=None):
    """Before measuring: one request at a time until one gets an expected status - or, with ``ready_server`` (a
    regular expression), any answer whose Server header matches it (the service behind the load balancer itself
    answered, so what it answers is for the measurement to count) - for at most ``timeout`` seconds, backing off
    from 0.5 s to 5 s between tries. A new cloud load balancer takes minutes before its name resolves (dns errors),
    then before its targets are healthy (resets, its own 503): that is waited out here and reported, not counted
    against the measurement. Returns {"ready", "waited_s", "attempts", "last"}."""
    server_re = re.compile(ready_server) if ready_server else None
    start = clock()
    attempts = 0
    delay = 0.5
    last = None
    worker = _Worker(target, spec)
    try:
        while True:
            attempts += 1
            sample = worker.send(clock)
            if sample.error is None and (sample.status in spec.expect_status or (
                    server_re is not None and server_re.search(sample.server or ""))):
                return {"ready": True, "waited_s": round(clock() - start, 3), "attempts": attempts, "last": None}
            last = ("%s %s" % sample.error if sample.error else "HTTP %s %s" % (sample.status, sample.detail or "")).strip()
            left = timeout - (clock() - start)
            if left <= 0:
                return {"ready": False, "waited_s": round(clock() - start, 3), "attempts": attempts, "last": last}
            worker.close()
            sleep(min(delay, left))  # backoff between readiness tries, bounded by the timeout
            delay = min(delay * 2, 5.0)
    finally:
        worker.close()


def probe(target, spec, ready_timeout=0, ready_server=None, processes=None):
    """Run the probe and return its report; with ``ready_timeout`` wait for the target first (report: ``wait``).
    ``processes``: how many processes share the workers (None: ``process_count(spec)``)."""
    wait = None
    if ready_timeout:
        wait = await_ready(target, spec, ready_timeout, ready_server=ready_server)
        if not wait["ready"]:
            report = summarize([], 0.0, spec, target.display_url)
            report["wait"] = wait
            report["processes"] = 0
            return report
    if processes is None:
        processes = process_count(spec)
    if processes > 1:
        samples, wall = run_probe_processes(target, spec, processes)
    else:
        samples, wall = run_probe(target, spec)
    report = summarize(samples, wall, spec, target.display_url)
    report["processes"] = processes
    if wait is not None:
        report["wait"] = wait
    return report


# ---------------------------------------------------------------- the traffic_probe module


def _spec_from(params):
    return validate_spec(
        requests=params["requests"], duration=params["duration"], qps=params["qps"],
        concurrency=params["concurrency"], timeout=params["timeout"], method=params["method"],
        headers=params["headers"], body=params["body"], validate_certs=params["validate_certs"],
        expect_status=params["expect_status"], min_success_ratio=params["min_success_ratio"],
        count_by=params["count_by"], expect_shares=params["expect_shares"], share_sigmas=params["share_sigmas"],
        until_file=params["until_file"])


def _target(module, spec, extra_path=None):
    """The target of the options; ``extra_path`` (one of ``paths``) appended to the url's or the Service's path."""
    params = module.params
    if params["url"]:  # the argument spec asks for exactly one of url and service
        url = params["url"]
        if extra_path is not None:
            parts = urlsplit(url)
            url = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + extra_path, parts.query, ""))
        return url_target(url, validate_certs=spec.validate_certs)
    namespace, name, port, path, scheme = validate_service(params["service"])
    if extra_path is not None:
        path = path.rstrip("/") + extra_path
    client = connect(module)  # its K8sConnectionError is a MeshError, reported as it is
    host, headers, tls, proxy = request_settings(client)
    if proxy:
        raise ProbeInputError("proxy=%s is set for the Kubernetes connection, but traffic_probe reaches "
                              "Services without an HTTP proxy: unset proxy or probe a url" % proxy)
    context = None
    if str(host).startswith("https"):
        context = make_ssl_context(**tls)
    return service_target(host, namespace, name, port, path, scheme=scheme, headers=headers,
                          ssl_context=context)


def _paths(value):
    """The ``paths`` option, checked: None, or paths each starting with '/'."""
    if value is None:
        return None
    if not value:
        raise ProbeInputError("paths=[] is invalid: expected at least one path such as /v1 (or leave paths unset)")
    for index, path in enumerate(value):
        if not isinstance(path, str) or not path.startswith("/") or any(c in path for c in " #"):
            raise ProbeInputError("paths[%d]=%r is invalid: expected a URL path starting with '/', such as /v1"
                                  % (index, path))
    return list(value)


def probe_side_by_side(targets, spec, ready_timeout=0, ready_server=None):
    """Probe every target at the same time, each in threads of this process with its own ``spec.concurrency``
    workers (never forked: a fork beside running threads is unsafe), for the same bound or until ``spec.until_file``
    exists; return their reports in the targets' order. A probe that raised raises here, once all have ended."""
    reports = [None] * len(targets)
    errors = []

    def run(index, target):
        try:
            reports[index] = probe(target, spec, ready_timeout=ready_timeout, ready_server=ready_server, processes=1)
        except Exception as exc:  # pylint: disable=broad-except  # re-raised below, after every probe has ended
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(index, target), name="path-%d" % index)
               for index, target in enumerate(targets)]
    for thread in threads:
        thread.daemon = True
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return reports


def probe_module(module):
    """Validate everything, then probe (each of ``paths`` in turn, or side by side, when given); return the report,
    or raise MeshError with it when the probe failed."""
    spec = _spec_from(module.params)
    paths = _paths(module.params.get("paths"))
    side_by_side = module.params.get("paths_mode") == "side_by_side"
    if side_by_side and paths is None:
        raise ProbeInputError("paths_mode=side_by_side needs paths: expected the paths to probe at the same time, "
                              "such as [/v1, /v2] (or leave paths_mode at in_turn)")
    ready_timeout = module.params["ready_timeout"]
    if ready_timeout < 0:
        raise ProbeInputError("ready_timeout=%r is invalid: expected seconds >= 0 (0: measure at once)" % ready_timeout)
    ready_server = module.params["ready_server"]
    if ready_server:
        try:
            re.compile(ready_server)
        except re.error as exc:
            raise ProbeInputError("ready_server=%r is invalid: expected a regular expression (%s)" % (ready_server, exc))
    if paths is None:
        report = probe(_target(module, spec), spec, ready_timeout=ready_timeout, ready_server=ready_server)
        if not report["passed"]:
            raise MeshError(failure_message(report), **report)
        return dict(report, changed=False, msg=_answered(report))
    targets = [_target(module, spec, path) for path in paths]  # every path checked before the first request
    if side_by_side:
        reports = probe_side_by_side(targets, spec, ready_timeout=ready_timeout, ready_server=ready_server)
    else:
        reports = (probe(target, spec, ready_timeout=ready_timeout, ready_server=ready_server) for target in targets)
    results = []
    for path, report in zip(paths, reports):
        results.append(dict(report, path=path, failed=not report["passed"],
                            msg=_answered(report) if report["passed"] else failure_message(report)))
    failed = [r for r in results if r["failed"]]
    if failed:
        raise MeshError("%d of %d paths failed: %s" % (len(failed), len(results), " | ".join(
            "%s: %s" % (r["path"], r["msg"]) for r in failed)), results=results)
    return dict(changed=False, results=results, msg="every path answered: %s" % "; ".join(
        "%s %d/%d" % (r["path"], r["succeeded"], r["requests"]) for r in results))


def _answered(report):
    return "%d of %d requests to %s succeeded" % (report["succeeded"], report["requests"], report["url"])
