# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The traffic probe's inputs: ``validate_spec`` turns raw options into a ``ProbeSpec`` (the load shape and the
verdict), or raises ``ProbeInputError`` naming the option, the value and what is expected."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re

from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ERROR_KINDS = ("timeout", "connection_refused", "dns", "tls", "connection_reset", "protocol", "other")
MAX_CONCURRENCY = 512
MAX_DURATION_S = 3600.0
MAX_REQUESTS = 10000000
DEFAULT_REQUESTS = 10
FIRST_ERRORS_KEPT = 5
DETAIL_BYTES = 200
PERCENTILES = (50, 90, 99)
# an HTTP header name: a token (RFC 9110, 5.1)
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class ProbeInputError(MeshError, ValueError):
    """Bad input: the message names the option, the value and what is expected."""


class ProbeSpec(object):
    """The load shape and verdict of one probe, already validated."""

    def __init__(self, requests=None, duration=None, qps=0.0, concurrency=1, timeout=5.0,
                 method="GET", headers=None, body=None, validate_certs=True,
                 expect_status=(200,), min_success_ratio=1.0, count_by=None, expect_shares=None, share_sigmas=4.0,
                 until_file=None):
        self.requests = requests
        self.duration = duration
        self.qps = qps
        self.concurrency = concurrency
        self.timeout = timeout
        self.method = method
        self.headers = dict(headers or {})
        self.body = body
        self.validate_certs = validate_certs
        self.expect_status = tuple(expect_status)
        self.min_success_ratio = min_success_ratio
        # ("pattern", compiled regular expression) or ("header", lower-case name as bytes), or None
        self.count_by = count_by
        self.expect_shares = dict(expect_shares or {})
        self.share_sigmas = share_sigmas
        # the run ends once this file exists (a probe in the background, stopped by whoever started it)
        self.until_file = until_file


def _bad(option, value, expected):
    return ProbeInputError("%s=%r is invalid: expected %s" % (option, value, expected))


def _number(option, value, cast, expected):
    if isinstance(value, bool):
        raise _bad(option, value, expected)
    try:
        return cast(value)
    except (TypeError, ValueError):
        raise _bad(option, value, expected)


def validate_spec(requests=None, duration=None, qps=None, concurrency=1, timeout=5.0,
                  method="GET", headers=None, body=None, validate_certs=True,
                  expect_status=None, min_success_ratio=1.0, count_by=None, expect_shares=None, share_sigmas=4.0,
                  until_file=None):
    """Check the load shape and verdict options; return a ``ProbeSpec``.

    ``requests`` and ``duration`` bound the run (one of them; with neither,
    ``DEFAULT_REQUESTS`` requests are sent unless a ``qps`` was given, since a
    rate with no bound is almost always a forgotten bound).
    """
    if requests is not None:
        requests = _number("requests", requests, int, "a whole number of requests >= 1")
        if requests < 1 or requests > MAX_REQUESTS:
            raise _bad("requests", requests, "a whole number of requests between 1 and %d" % MAX_REQUESTS)
    if duration is not None:
        duration = _number("duration", duration, float, "a number of seconds > 0")
        if not (0 < duration <= MAX_DURATION_S) or math.isnan(duration):
            raise _bad("duration", duration, "a number of seconds > 0 and <= %d" % MAX_DURATION_S)
    if qps is not None:
        qps = _number("qps", qps, float, "requests per second >= 0 (0 = as fast as possible)")
        if qps < 0 or math.isnan(qps) or math.isinf(qps):
            raise _bad("qps", qps, "requests per second >= 0 (0 = as fast as possible)")
        if requests is None and duration is None:
            raise ProbeInputError(
                "qps=%r has no bound: set requests (a count) or duration (seconds) as well, "
                "so that the probe stops by itself" % (qps,))
    else:
        qps = 0.0
    if requests is None and duration is None:
        requests = DEFAULT_REQUESTS
    concurrency = _number("concurrency", concurrency, int, "a whole number of workers >= 1")
    if concurrency < 1 or concurrency > MAX_CONCURRENCY:
        raise _bad("concurrency", concurrency, "a whole number of workers between 1 and %d" % MAX_CONCURRENCY)
    timeout = _number("timeout", timeout, float, "a number of seconds > 0")
    if not timeout > 0 or math.isinf(timeout):
        raise _bad("timeout", timeout, "a number of seconds > 0")
    method = str(method or "GET").upper()
    headers = headers or {}
    for name, value in headers.items():
        if not HEADER_NAME.match(str(name)):
            raise ProbeInputError("headers has an invalid header name %r: expected an HTTP token "
                                  "(letters, digits and !#$%%&'*+.^_`|~-)" % (name,))
        if "\r" in str(value) or "\n" in str(value):
            raise ProbeInputError("headers[%s] is invalid: a header value may not contain line breaks" % name)
    if expect_status is None:
        expect_status = [200]
    if not isinstance(expect_status, (list, tuple)) or not expect_status:
        raise _bad("expect_status", expect_status, "a non-empty list of HTTP status codes (100-599)")
    codes = []
    for code in expect_status:
        number = _number("expect_status", code, int, "a non-empty list of HTTP status codes (100-599)")
        if not 100 <= number <= 599:
            raise ProbeInputError("expect_status contains %r, which is not an HTTP status code: "
                                  "expected codes between 100 and 599" % (code,))
        codes.append(number)
    min_success_ratio = _number("min_success_ratio", min_success_ratio, float, "a ratio between 0.0 and 1.0")
    if not 0.0 <= min_success_ratio <= 1.0:
        raise _bad("min_success_ratio", min_success_ratio, "a ratio between 0.0 and 1.0")
    counting = validate_count_by(count_by)
    shares = validate_shares(expect_shares, counting, share_sigmas)
    return ProbeSpec(requests=requests, duration=duration, qps=qps, concurrency=concurrency,
                     timeout=timeout, method=method, headers=headers, body=body,
                     validate_certs=True if validate_certs is None else bool(validate_certs),
                     expect_status=sorted(set(codes)), min_success_ratio=min_success_ratio,
                     count_by=counting, expect_shares=shares, share_sigmas=share_sigmas, until_file=until_file)


def validate_count_by(count_by):
    """("pattern", regex) or ("header", name) from the count_by option (its spec allows exactly one), or None."""
    if not count_by:
        return None
    if count_by.get("header"):
        name = str(count_by["header"])
        if not HEADER_NAME.match(name):
            raise _bad("count_by.header", name, "an HTTP header name such as x-version")
        return "header", name.lower().encode("latin-1")
    pattern = count_by.get("pattern")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise _bad("count_by.pattern", pattern, "a regular expression (%s)" % exc)
    if compiled.groups > 1:
        raise _bad("count_by.pattern", pattern, "a regular expression with at most one group, whose text is the "
                                                "answer's key, such as 'Version: (\\S+)'")
    return "pattern", compiled


def validate_shares(expect_shares, counting, sigmas):
    """The expected share of each key (fractions summing to 1), checked against count_by and share_sigmas."""
    if not expect_shares:
        return {}
    if counting is None:
        raise ProbeInputError("expect_shares=%r needs count_by: expected count_by.pattern or count_by.header to "
                              "say how an answer names its key" % (expect_shares,))
    shares = {}
    for key, value in expect_shares.items():
        share = _number("expect_shares[%s]" % key, value, float, "a fraction between 0.0 and 1.0")
        if not 0.0 <= share <= 1.0 or math.isnan(share):
            raise _bad("expect_shares[%s]" % key, value, "a fraction between 0.0 and 1.0")
        shares[str(key)] = share
    if abs(sum(shares.values()) - 1.0) > 0.001:
        raise ProbeInputError("expect_shares=%r sums to %.3f: expected fractions that sum to 1.0, such as "
                              "{'1.0.0': 0.9, '2.0.0': 0.1}" % (expect_shares, sum(shares.values())))
    if not sigmas > 0 or math.isinf(sigmas):
        raise _bad("share_sigmas", sigmas, "a number of standard deviations > 0")
    return shares
