"""verify.yml writes the mesh report: a healthy mesh, then a failing one (a pod without its sidecar, a route
answering 503), each checked in the HTML, the Markdown and the PNG a person would open."""

import html
import struct

import pytest

from playbook import collection_playbook


def playbook(sandbox, tmp_path, name, *extra):
    return collection_playbook(sandbox, tmp_path, name, *extra)[2]


def png_size(path):
    with open(path, "rb") as handle:
        head = handle.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", "not a PNG"
    return struct.unpack(">II", head[16:24])


def pods(sandbox):
    names = sandbox.kubectl("get", "pods", "-n", "my-app", "-o", "jsonpath={.items[*].metadata.name}").stdout
    return names.split()


@pytest.fixture(scope="module")
def mesh(sandbox, tmp_path_factory):
    run = playbook(sandbox, tmp_path_factory.mktemp("site"), "site.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    # the summary at the end of site.yml says how to open each addon
    for addon, command in (("kiali", "port-forward svc/kiali 20001:20001, then open http://localhost:20001"),
                           ("jaeger", "port-forward svc/tracing 16686:80, then open http://localhost:16686")):
        assert "%s: kubectl -n istio-system %s" % (addon, command) in run.stdout, run.stdout[-3000:]
    yield
    run = playbook(sandbox, tmp_path_factory.mktemp("teardown"), "teardown.yml")
    assert run.returncode == 0, run.stdout[-3000:]


def test_the_report_of_a_healthy_mesh(sandbox, mesh, tmp_path):
    run = playbook(sandbox, tmp_path, "verify.yml", "-e", "mesh_report_dir=%s" % tmp_path)
    assert run.returncode == 0, run.stdout[-3000:]
    page = (tmp_path / "mesh-report.html").read_text()
    assert "PASSING: all" in page and "FAIL" not in page
    for name in pods(sandbox):
        assert html.escape(name) in page
    svg = html.unescape(page[page.index("<svg"):page.index("</svg>")])  # Graphviz writes "-" as &#45;
    for edge in ("/v1", "/v2", "my-app-v1-svc", "my-app-v2-svc", "ingress gateway", "nginx", "100% ok"):
        assert edge in svg, edge
    # how to open each addon, as the observability role says it
    assert "kubectl -n istio-system port-forward svc/kiali 20001:20001, then open http://localhost:20001" in page
    assert "http://" not in page.split("<body>")[0] and "<link" not in page and "<script" not in page
    width, height = png_size(tmp_path / "mesh-graph.png")
    assert width > 300 and height > 100
    assert "report: %s" % (tmp_path / "mesh-report.html") in run.stdout  # the terminal names the report


def test_a_failing_mesh_shows_its_failures_at_the_top(sandbox, mesh, tmp_path):
    sandbox.kubectl("label", "namespace", "my-app", "istio-injection-")
    victim = sandbox.kubectl("get", "pods", "-n", "my-app", "-l", "app=my-app-v1", "-o",
                             "jsonpath={.items[0].metadata.name}").stdout
    sandbox.kubectl("delete", "pod", "-n", "my-app", victim)
    sandbox.kubectl("scale", "deployment", "my-app-v2", "-n", "my-app", "--replicas=0")
    sandbox.kubectl("rollout", "status", "deployment/my-app-v1", "-n", "my-app", "--timeout=60s")
    try:
        run = playbook(sandbox, tmp_path, "verify.yml", "-e", "mesh_report_dir=%s" % tmp_path)
        assert run.returncode != 0
        top = (tmp_path / "mesh-report.md").read_text().split("\n## ")[0]  # the title and the failures
        uninjected = [p for p in pods(sandbox) if p.startswith("my-app-v1-") and p != victim]
        assert "FAILING" in top
        assert any("%s in my-app has no istio-proxy" % p in top for p in uninjected), top
        assert "route ingress gateway /v2: 0 of 10 answered as expected (503 x10)" in top
        page = (tmp_path / "mesh-report.html").read_text()
        banner = page[page.index('id="status"'):page.index("<table>")]
        assert "FAILING" in banner and "503 x10" in banner
        assert "0% ok" in page and "#c62828" in page  # the /v2 edge, in red
        assert png_size(tmp_path / "mesh-graph.png")[0] > 300
        assert "FAIL  route ingress gateway /v2" in run.stdout
    finally:
        sandbox.kubectl("label", "namespace", "my-app", "istio-injection=enabled", "--overwrite")
        sandbox.kubectl("scale", "deployment", "my-app-v2", "-n", "my-app", "--replicas=2")
