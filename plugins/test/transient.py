# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The transient_failure test: whether a task failed for a reason worth another try."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

# 429/5xx answers of the Kubernetes API (as kubernetes.core reports them:
# a status code, the reason phrase or the Status body) and dropped connections.
TRANSIENT = re.compile(
    r"(\(4(29)\)|\(50[0234]\)|\"code\":\s*(429|50[0234])\b|status\s*[=:]?\s*(429|50[0234])\b|"
    r"Too ?Many ?Requests|Service ?Unavailable|Internal ?Server ?Error|Bad ?Gateway|Gateway ?Time-?out|"
    r"RemoteDisconnected|Connection aborted|Connection reset|ProtocolError|IncompleteRead)", re.IGNORECASE)


def transient_failure(result):
    """True when ``result`` (a registered task result) failed with a 429/5xx answer or a dropped connection."""
    if not isinstance(result, dict):
        raise AnsibleFilterError("transient_failure expects a registered task result (a mapping), got %s"
                                 % type(result).__name__)
    if not result.get("failed"):
        return False
    if result.get("status") in (429, 500, 502, 503, 504) or result.get("error") in (429, 500, 502, 503, 504):
        return True
    return bool(TRANSIENT.search(str(result.get("msg", "")) + " " + str(result.get("reason", ""))))


class TestModule(object):
    def tests(self):
        return {"transient_failure": transient_failure}
