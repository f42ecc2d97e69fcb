"""The fidelity suite reads Istio's real files (sandbox/upstream.py finds them). Without them it cannot hold
anything against the real thing: it skips saying so, and under CI (CI=true) that skip is a failure."""

import os

import pytest
import yaml

from sandbox import upstream


def _need(version, relative):
    try:
        return upstream.path(version, relative)
    except upstream.Missing as exc:
        message = "Istio's real files are not available: %s (put ../shared/upstream beside the repository, name it " \
                  "with ISTIO_DEMO_UPSTREAM_DIR, or allow downloads from raw.githubusercontent.com)" % exc
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; under CI a skipped fidelity suite is a failure")
        pytest.skip(message)
        raise


@pytest.fixture(scope="session")
def real():
    """real(version, relative) -> path of that upstream file, or skip/fail as above."""
    return _need


def load_all(path):
    with open(path) as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]
