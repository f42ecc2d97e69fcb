"""The collection as another estate gets it: built, installed, called by FQCN."""

import glob
import os
import subprocess
import sys

import yaml

import httpservers
from playbook import run_playbook

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def test_built_tarball_installs_and_its_module_runs_outside_the_repo(server, tmp_path):
    dist = tmp_path / "dist"
    installed = tmp_path / "collections"
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(dist), ROOT],
                   check=True, capture_output=True, text=True)
    tarballs = glob.glob(str(dist / "istio_demo-mesh-*.tar.gz"))
    with open(os.path.join(ROOT, "galaxy.yml")) as handle:
        version = yaml.safe_load(handle)["version"]
    assert [os.path.basename(t) for t in tarballs] == ["istio_demo-mesh-%s.tar.gz" % version]
    listing = subprocess.run(["tar", "-tzf", tarballs[0]], check=True, capture_output=True, text=True).stdout
    assert "plugins/modules/traffic_probe.py" in listing
    for unwanted in (".venv/", "build/", ".sandbox/"):
        assert unwanted not in listing

    # Dependencies (kubernetes.core, amazon.aws) come with the ansible package, so
    # the install needs no Galaxy server.
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(installed))
    env.pop("PYTHONPATH", None)
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", "--no-deps",
                    "-p", str(installed), tarballs[0]], check=True, capture_output=True, text=True,
                   cwd=str(tmp_path), env=env)
    assert (installed / "ansible_collections" / "istio_demo" / "mesh" / "MANIFEST.json").is_file()

    doc = subprocess.run([os.path.join(BIN, "ansible-doc"), "istio_demo.mesh.traffic_probe"], capture_output=True,
                         text=True, env=env, cwd=str(tmp_path), check=False)
    assert doc.returncode == 0, doc.stderr
    assert "min_success_ratio" in doc.stdout and str(installed) in doc.stdout

    url, seen = server(httpservers.ok_answer)
    outside = tmp_path / "estate"
    outside.mkdir()
    run = run_playbook(outside, [{"name": "probe", "istio_demo.mesh.traffic_probe": {"url": url, "requests": 3}}],
                       collections_path=str(installed))
    assert run.rc == 0, run.stdout + run.stderr
    assert run.result("probe")["status_codes"] == {"200": 3}
    assert seen.count == 3
