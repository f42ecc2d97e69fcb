"""make docs: the docs site a person browses - every module with its options, every role with its entry points and
variables, every test, filter and lookup plugin - rendered by antsibull-docs and Sphinx with no warning (a warning fails the build)."""

import glob
import html
import os
import re
import subprocess

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs")
    proc = subprocess.run(["make", "-C", ROOT, "docs", "DOCS=%s" % out], capture_output=True, text=True, timeout=900,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "WARNING" not in proc.stdout + proc.stderr and "ERROR" not in proc.stdout + proc.stderr
    return os.path.join(str(out), "html", "collections", "istio_demo", "mesh")


def page_text(path):
    """The page as a person reads it: tags dropped, spaces collapsed, typographic quotes plain."""
    with open(path) as handle:
        text = html.unescape(re.sub(r"<[^>]+>", " ", handle.read()))
    return re.sub(r"\s+", " ", text).replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')


def module_docs():
    for path in sorted(glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))):
        with open(path) as handle:
            source = handle.read()
        yield os.path.basename(path)[:-3], yaml.safe_load(source.split('DOCUMENTATION = r"""', 1)[1].split('"""')[0])


@pytest.mark.parametrize("name, doc", list(module_docs()), ids=lambda value: value if isinstance(value, str) else "")
def test_every_module_has_its_page_with_its_options(site, name, doc):
    text = page_text(os.path.join(site, "%s_module.html" % name))
    assert re.sub(r"\s+", " ", doc["short_description"]) in text
    for option in doc.get("options") or {}:
        assert option in text, "%s: option %s is not on its page" % (name, option)
    if "istio_demo.mesh.k8s" in doc.get("extends_documentation_fragment", []):
        assert "api_retries" in text and "kubeconfig" in text  # the options every Kubernetes module shares


def test_every_role_and_plugin_has_its_page(site):
    for spec_path in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml"))):
        role = spec_path.split(os.sep)[-3]
        with open(spec_path) as handle:
            entry_points = yaml.safe_load(handle)["argument_specs"]
        text = page_text(os.path.join(site, "%s_role.html" % role))
        for entry_point, spec in entry_points.items():
            assert "Entry point %s" % entry_point in text, (role, entry_point)
            for variable in spec.get("options") or {}:
                assert variable in text, (role, variable)
    for doc_path in sorted(glob.glob(os.path.join(ROOT, "plugins", "test", "*.yml"))):
        name = os.path.basename(doc_path)[:-4]
        assert os.path.isfile(os.path.join(site, "%s_test.html" % name)), name
    for doc_path in sorted(glob.glob(os.path.join(ROOT, "plugins", "filter", "*.yml"))):
        name = os.path.basename(doc_path)[:-4]
        assert os.path.isfile(os.path.join(site, "%s_filter.html" % name)), name
    for doc_path in sorted(glob.glob(os.path.join(ROOT, "plugins", "lookup", "*.py"))):
        name = os.path.basename(doc_path)[:-3]
        assert os.path.isfile(os.path.join(site, "%s_lookup.html" % name)), name


def test_references_to_kubernetes_core_resolve_inside_the_site(site):
    text = open(os.path.join(site, "k8s_info_module.html")).read()
    assert 'href="../../kubernetes/core/k8s_info_module.html' in text
