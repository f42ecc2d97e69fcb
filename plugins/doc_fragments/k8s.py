# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module of the collection that talks to the Kubernetes API shares in its documentation: the retry
options k8s_module adds to each, and the module_defaults group."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  api_retries:
    description:
      - How many times one API request (and connecting, which asks the server's version) is retried after a
        transient failure (429, 500, 502, 503, 504, a dropped connection) before the task fails.
      - Every retry is returned in RV(api_retries) and summed up in a warning.
      - C(0) turns retries off.
    type: int
    default: 5
  api_backoff:
    description:
      - Seconds before the first retry; each further retry waits twice as long, at most 8 seconds, unless the
        server's C(Retry-After) asks for longer.
    type: float
    default: 0.5
attributes:
  action_group:
    support: full
    membership: [istio_demo.mesh.k8s]
    description: Part of the C(istio_demo.mesh.k8s) group for C(module_defaults).
"""
