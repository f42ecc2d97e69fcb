"""Where the real files come from when ../shared/upstream is absent: downloaded once by release tag into the
cache, then read from it; a file that is neither there nor downloadable is named."""

import pytest

from sandbox import upstream


@pytest.fixture
def isolated(monkeypatch, tmp_path, server):
    """No shared tree, an empty cache, and a local server standing in for raw.githubusercontent.com."""
    empty = tmp_path / "no-upstream"
    empty.mkdir()
    monkeypatch.setenv("ISTIO_DEMO_UPSTREAM_DIR", str(empty))
    monkeypatch.setattr(upstream, "ROOT", str(tmp_path / "repo"))  # no ../shared beside it either
    monkeypatch.setattr(upstream, "CACHE", str(tmp_path / "cache"))
    return monkeypatch


def test_a_release_file_is_downloaded_by_tag_once_then_read_from_the_cache(isolated, server):
    answers = {"/1.29.6/samples/addons/kiali.yaml": (200, "kind: ServiceAccount\n")}
    url, recorder = server(lambda request: answers.get(request.path, (404, "no")))
    isolated.setattr(upstream, "RAW", url + "/%s/%s")
    assert upstream.shared_dir() is None
    assert upstream.read("1.29.6", "addons/kiali.yaml") == "kind: ServiceAccount\n"
    assert upstream.read("1.29.6", "addons/kiali.yaml") == "kind: ServiceAccount\n"
    assert recorder.paths == ["/1.29.6/samples/addons/kiali.yaml"]


def test_a_file_nowhere_to_be_found_is_named(isolated, server):
    url, dummy = server(lambda request: (404, "no"))
    isolated.setattr(upstream, "RAW", url + "/%s/%s")
    with pytest.raises(upstream.Missing, match="istio/1.29.6/addons/loki.yaml.*could not be fetched"):
        upstream.path("1.29.6", "addons/loki.yaml")
