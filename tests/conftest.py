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


def pytest_configure(config):
    config.addinivalue_line("markers", "minutes(n): the file takes about n minutes; the longest files start first")


def pytest_collection_modifyitems(session, config, items):  # pylint: disable=unused-argument
    """The files marked as taking minutes first, longest first (the rest keep their order): two workers that take a
    file at a time then finish together, instead of one running a long file alone at the end. The Makefile turns
    off xdist's own reordering (by number of tests), which would undo this."""
    def minutes(item):
        marker = item.get_closest_marker("minutes")
        return -(marker.args[0] if marker else 0)
    items.sort(key=minutes)


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
def suite_sandboxes(tmp_path_factory):
    """suite name -> its sandbox, each started on first use (once per worker) in its own state directory."""
    started = {}

    def get(suite):
        if suite not in started:
            state_dir = str(tmp_path_factory.mktemp("sandbox-" + suite) / "state")
            started[suite] = (state_dir, sandboxrun.start(state_dir))
        return started[suite][1]
    try:
        yield get
    finally:
        for state_dir, dummy in started.values():
            sandboxrun.stop(state_dir)


@pytest.fixture(scope="module")
def sandbox(suite_sandboxes, request):
    """The sandbox of this test's suite (tests/SUITE/): the files of one suite share it, as they always have; no
    file meets what another suite's files left behind, whichever worker runs them and in whatever order."""
    return suite_sandboxes(os.path.basename(os.path.dirname(str(request.fspath))))


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
