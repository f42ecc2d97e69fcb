# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The probe's report from its samples: counts, histogram, success ratio, exact latency percentiles and the
shares by key; ``failure_message`` says why a probe failed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

from ansible_collections.istio_demo.mesh.plugins.module_utils.probe_spec import ERROR_KINDS, FIRST_ERRORS_KEPT, PERCENTILES


def percentile(sorted_values, pct):
    """Exact nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    rank = int(math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def summarize(samples, wall, spec, url):
    """The probe report: counts, histogram, ratio, exact latency percentiles."""
    codes = {}
    errors = dict((kind, 0) for kind in ERROR_KINDS)
    first_errors = []
    latencies = []
    successes = 0
    for sample in sorted(samples, key=lambda s: s.start):
        if sample.error is not None:
            kind, message = sample.error
            errors[kind] += 1
            if len(first_errors) < FIRST_ERRORS_KEPT:
                first_errors.append("%s (%s)" % (message, kind))
            continue
        latencies.append(sample.latency * 1000.0)
        key = str(sample.status)
        codes[key] = codes.get(key, 0) + 1
        if sample.status in spec.expect_status:
            successes += 1
        elif len(first_errors) < FIRST_ERRORS_KEPT:
            first_errors.append("HTTP %d (expected %s)%s" % (
                sample.status, ", ".join(str(c) for c in spec.expect_status),
                ": " + sample.detail if sample.detail else ""))
    total = len(samples)
    latencies.sort()
    latency = {"min": None, "mean": None, "max": None}
    latency.update(("p%d" % p, None) for p in PERCENTILES)
    if latencies:
        latency["min"] = round(latencies[0], 3)
        latency["max"] = round(latencies[-1], 3)
        latency["mean"] = round(sum(latencies) / len(latencies), 3)
        for p in PERCENTILES:
            latency["p%d" % p] = round(percentile(latencies, p), 3)
    ratio = float(successes) / total if total else 0.0
    report = {
        "url": url,
        "method": spec.method,
        "requests": total,
        "succeeded": successes,
        "status_codes": codes,
        "success_ratio": round(ratio, 4),
        "min_success_ratio": spec.min_success_ratio,
        "latency_ms": latency,
        "rps": round(total / wall, 2) if wall > 0 else 0.0,
        "duration_s": round(wall, 3),
        "qps": spec.qps,
        "concurrency": spec.concurrency,
        "errors": dict((k, v) for k, v in errors.items() if v),
        "first_errors": first_errors,
        "passed": total > 0 and ratio >= spec.min_success_ratio,
    }
    if spec.count_by:
        report.update(count_shares(samples, successes, spec))
        report["passed"] = report["passed"] and all(c["passed"] for c in report["share_checks"])
    return report


def count_shares(samples, successes, spec):
    """How the answers with an expected status divide by key; with expect_shares, each key's measured share against
    its expected one within share_sigmas standard deviations of a binomial draw of that many answers (a key expected
    at 0 or 1 must be measured at exactly 0 or 1)."""
    counts = {}
    for sample in samples:
        if sample.key is not None:
            counts[sample.key] = counts.get(sample.key, 0) + 1
    shares = dict((key, round(float(n) / successes, 4)) for key, n in counts.items()) if successes else {}
    checks = []
    for key in sorted(set(spec.expect_shares) | set(counts)) if spec.expect_shares else []:
        expected = spec.expect_shares.get(key, 0.0)
        measured = float(counts.get(key, 0)) / successes if successes else 0.0
        tolerance = spec.share_sigmas * math.sqrt(expected * (1.0 - expected) / successes) if successes else 0.0
        checks.append({"key": key, "expected": expected, "measured": round(measured, 4),
                       "tolerance": round(tolerance, 4),
                       "passed": successes > 0 and abs(measured - expected) <= tolerance + 1e-9})
    return {"counts": counts, "shares": shares, "uncounted": successes - sum(counts.values()), "share_checks": checks}


def failure_message(report):
    """Why the verdict failed, in one paragraph a person can act on."""
    wait = report.get("wait")
    if wait and not wait["ready"]:
        return ("traffic probe of %s: the target did not answer with an expected status within ready_timeout "
                "(%s s, %d tries); last: %s. A new cloud load balancer can take minutes before its name resolves "
                "and its targets are healthy: raise ready_timeout, or check the load balancer, its source ranges and "
                "its scheme (an internal one is not reachable from outside the VPC)"
                % (report["url"], wait["waited_s"], wait["attempts"], wait["last"]))
    off = [c for c in report.get("share_checks") or [] if not c["passed"]]
    shares = ""
    if off:
        shares = "; shares off: %s (of %d answers counted by key)" % ("; ".join(
            "%s measured %.4f, expected %.4f +/- %.4f" % (c["key"], c["measured"], c["expected"], c["tolerance"])
            for c in off), report["succeeded"])
    return ("traffic probe of %s failed: %d of %d requests succeeded (success_ratio %.4f, "
            "min_success_ratio %s); status codes %s; errors %s; first errors: %s%s" % (
                report["url"], report["succeeded"], report["requests"], report["success_ratio"],
                report["min_success_ratio"], _histogram(report["status_codes"]),
                _histogram(report["errors"]), "; ".join(report["first_errors"]) or "none", shares))


def _histogram(counts):
    if not counts:
        return "{}"
    return "{" + ", ".join("%s: %d" % (k, counts[k]) for k in sorted(counts)) + "}"
