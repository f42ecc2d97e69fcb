"""Shared pytest set-up: the collection and the test helpers on sys.path."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
COLLECTIONS = os.path.join(ROOT, "build", "collections")

for path in (os.path.join(HERE, "lib"), COLLECTIONS):
    if path not in sys.path:
        sys.path.insert(0, path)

if not os.path.isdir(os.path.join(COLLECTIONS, "ansible_collections", "istio_demo", "mesh")):
    raise RuntimeError("run 'make setup' first: %s/ansible_collections/istio_demo/mesh is missing" % COLLECTIONS)


import pytest  # noqa: E402

import httpservers  # noqa: E402
import sandboxrun  # noqa: E402


@pytest.fixture
def server():
    """Start loopback HTTP servers for a test; stop them after it."""
    started = []

    def start(answer, tls_context=None, headers=None):
        url, recorder, stop = httpservers.serve(answer, tls_context, headers)
        started.append(stop)
        return url, recorder

    yield start
    for stop in started:
        stop()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """The sandbox, started once per test session in its own state directory."""
    state_dir = str(tmp_path_factory.mktemp("sandbox") / "state")
    running = sandboxrun.start(state_dir)
    try:
        yield running
    finally:
        sandboxrun.stop(state_dir)


@pytest.fixture
def cluster(tmp_path_factory, request):
    """A sandbox of its own for one test, of the flavour (and load-balancer mode) the test asks for through
    indirect parametrization (up's options, e.g. ("--flavour", "karpenter")); stopped after it."""
    options = getattr(request, "param", ())
    state_dir = str(tmp_path_factory.mktemp("eks") / "state")
    running = sandboxrun.start(state_dir, *options)
    try:
        yield running
    finally:
        sandboxrun.stop(state_dir)


@pytest.fixture
def kube(sandbox):
    """kubernetes Python client configured from the sandbox's kubeconfig."""
    import kubernetes  # pylint: disable=import-outside-toplevel
    return kubernetes.config.new_client_from_config(config_file=sandbox.identity_kubeconfig())
