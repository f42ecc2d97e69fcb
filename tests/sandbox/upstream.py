"""Real Istio files the sandbox and the fidelity tests are held against.

They are read from the workplace's ``../shared/upstream/`` tree (beside the
repository, or named by ``ISTIO_DEMO_UPSTREAM_DIR``); when it is absent they
are downloaded by release tag from the public istio/istio repository into a
cache (``~/.cache/istio_demo_mesh/upstream``). Release tags do not move, so
a cached file stays right. The project never keeps a copy of them.
"""

import os
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RAW = "https://raw.githubusercontent.com/istio/istio/%s/%s"
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "istio_demo_mesh", "upstream")

# The releases the collection is tested with (README "Supported Istio releases").
TESTED = ("1.28.10", "1.29.6", "1.30.3")
ADDONS = ("prometheus", "grafana", "jaeger", "kiali", "loki")
# Where each file lives in istio/istio at a release tag (../shared/upstream/README.md).
SOURCES = {
    "addons/%s.yaml": "samples/addons/%s.yaml",
    "crds/istio-crd-all.gen.yaml": "manifests/charts/base/files/crd-all.gen.yaml",
    "crds/gateway-api-crd.yaml": "tests/integration/pilot/testdata/gateway-api-crd.yaml",
    "profiles/%s.yaml": "manifests/profiles/%s.yaml",
    "manifest-generate/%s.yaml": "operator/cmd/mesh/testdata/manifest-generate/output/%s.yaml",
    "inject/%s": "pkg/kube/inject/testdata/inject/%s",
    "injection-template.yaml": "manifests/charts/istio-control/istio-discovery/files/injection-template.yaml",
}


class Missing(Exception):
    """Neither the shared tree nor the release download has the file."""


def shared_dir():
    """The ../shared/upstream tree, or None."""
    named = os.environ.get("ISTIO_DEMO_UPSTREAM_DIR")
    candidates = [named] if named else []
    candidates.append(os.path.join(os.path.dirname(ROOT), "shared", "upstream"))
    for path in candidates:
        if path and os.path.isdir(os.path.join(path, "istio")):
            return path
    return None


def _remote_path(relative):
    for pattern, remote in SOURCES.items():
        if "%s" in pattern:
            head, tail = pattern.split("%s")
            if relative.startswith(head) and relative.endswith(tail):
                return remote % relative[len(head):len(relative) - len(tail)]
        elif relative == pattern:
            return remote
    return None


def path(version, relative):
    """Local path of ``istio/<version>/<relative>``: from the shared tree, else downloaded once into the cache."""
    shared = shared_dir()
    if shared:
        local = os.path.join(shared, "istio", version, relative)
        if os.path.exists(local):
            return local
    cached = os.path.join(CACHE, version, relative)
    if os.path.exists(cached):
        return cached
    remote = _remote_path(relative)
    if remote is None:
        raise Missing("istio/%s/%s: not in %s and not downloadable by name" % (version, relative, shared))
    url = RAW % (version, remote)
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # nosec - a fixed https URL at a release tag
            body = response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise Missing("istio/%s/%s: not in the shared tree (%s) and %s could not be fetched: %s"
                      % (version, relative, shared or "absent", url, exc))
    os.makedirs(os.path.dirname(cached), exist_ok=True)
    partial = cached + ".part"
    with open(partial, "wb") as handle:
        handle.write(body)
    os.replace(partial, cached)
    return cached


def read(version, relative):
    with open(path(version, relative)) as handle:
        return handle.read()
