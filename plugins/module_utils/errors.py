# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The root of every failure the collection's modules report."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class MeshError(Exception):
    """A failure to report as it is: ``message`` for the person, ``details`` into the task result.

    Every module reports it through run_engine below."""

    def __init__(self, message, **details):
        Exception.__init__(self, message)
        self.message = message
        self.details = details

    def fail(self, module, **extra):
        """Report the failure on ``module`` (fail_json with the message, the details and ``extra``)."""
        module.fail_json(msg=self.message, **dict(self.details, **extra))


def run_engine(module, engine, extra=None):
    """Run ``engine(module)`` and exit: exit_json with its result, or the MeshError's own report (fail). ``extra``
    (a function of the module) gives keys both outcomes carry; it is called once, after the engine."""
    try:
        result = engine(module)
    except MeshError as exc:
        exc.fail(module, **(extra(module) if extra else {}))
        raise  # (fail_json exits; a module double that does not is not left thinking the run succeeded)
    module.exit_json(**dict(result, **(extra(module) if extra else {})))
