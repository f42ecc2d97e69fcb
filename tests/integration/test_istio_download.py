"""istio_install downloads istioctl and verifies Istio's published sha256 (a local file server stands in)."""

import functools
import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import time

import pytest

from playbook import REPO_COLLECTIONS, PlaybookRun, run_playbook
from sandbox import upstream

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INVENTORY = os.path.join(ROOT, "inventories", "sandbox")
VERSION = upstream.TESTED[-1]
ARCHIVE = "istioctl-%s-linux-amd64.tar.gz" % VERSION


def make_release(directory, istioctl_script, tamper=False):
    """Istio's release layout: VERSION/istioctl-VERSION-linux-amd64.tar.gz and its .sha256."""
    release = os.path.join(directory, VERSION)
    os.makedirs(release)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("istioctl")
        info.size = len(istioctl_script)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(istioctl_script))
    data = buffer.getvalue()
    with open(os.path.join(release, ARCHIVE + ".sha256"), "w") as handle:
        handle.write("%s  %s\n" % (hashlib.sha256(data).hexdigest(), ARCHIVE))
    if tamper:
        data = data[:-1] + bytes([data[-1] ^ 0xFF])
    with open(os.path.join(release, ARCHIVE), "wb") as handle:
        handle.write(data)


@pytest.fixture
def release_server(tmp_path):
    root = tmp_path / "releases"
    root.mkdir()
    requested = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # pylint: disable=arguments-differ
            requested.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield str(root), "http://127.0.0.1:%d" % server.server_address[1], requested
    server.shutdown()
    server.server_close()


def install_play(base_url, download_dir):
    return [{"name": "install", "ansible.builtin.include_role": {"name": "istio_demo.mesh.istio_install"},
             "vars": {"istio_install_istioctl_path": "", "istio_install_download_base_url": base_url,
                      "istio_install_download_dir": download_dir, "istio_install_version": VERSION,
                      "istio_install_wait_timeout": 60}}]


def test_verified_download_installs_and_tampered_archive_is_refused(sandbox, tmp_path, release_server):
    root, url, dummy = release_server
    with open(os.path.join(sandbox.state_dir, "bin", "istioctl"), "rb") as handle:
        script = handle.read()
    env = {"SANDBOX_STATE_DIR": sandbox.state_dir, "K8S_AUTH_KUBECONFIG": sandbox.kubeconfig,
           # the AWS identity the kubeconfig's `aws eks get-token` signs with
           "AWS_ACCESS_KEY_ID": sandbox.env["AWS_ACCESS_KEY_ID"],
           "AWS_SECRET_ACCESS_KEY": sandbox.env["AWS_SECRET_ACCESS_KEY"]}

    make_release(root, script, tamper=True)
    before = time.time()
    tampered_dir = str(tmp_path / "tampered")
    refused = run_playbook(tmp_path, install_play(url, tampered_dir), extra_args=["-i", INVENTORY], env=env)
    assert refused.rc != 0
    failed = [r for r in refused.results().values() if r.get("failed")]
    assert failed and "checksum" in failed[0]["msg"].lower(), failed
    assert not os.path.exists(os.path.join(tampered_dir, "istioctl"))
    assert not os.path.exists(os.path.join(tampered_dir, ARCHIVE))
    assert [e for e in sandbox.requests(before) if e["verb"] != "GET"] == []

    os.rename(os.path.join(root, VERSION), os.path.join(root, "old"))
    make_release(root, script)
    good_dir = str(tmp_path / "good")
    installed = run_playbook(tmp_path, install_play(url, good_dir), extra_args=["-i", INVENTORY], env=env)
    assert installed.rc == 0, installed.stdout[-3000:]
    assert os.access(os.path.join(good_dir, "istioctl"), os.X_OK)
    sandbox.kubectl("get", "deployment", "istiod", "-n", "istio-system")
    removed = run_playbook(tmp_path, [{"name": "remove", "ansible.builtin.include_role": {
        "name": "istio_demo.mesh.istio_install"}, "vars": {"istio_install_state": "absent"}}],
        extra_args=["-i", INVENTORY], env=env)
    assert removed.rc == 0, removed.stdout[-3000:]


def test_a_fleet_downloads_istioctl_once_into_the_cache_its_hosts_share(tmp_path, release_server):
    """Three hosts (a fleet's clusters) with forks 3 and one download directory: one host downloads and unpacks,
    the others find the verified archive and the binary, and change nothing."""
    root, url, requested = release_server
    script = b"#!/bin/sh\necho istioctl stand-in\n"
    make_release(root, script)
    cache = str(tmp_path / "cache")
    inventory = tmp_path / "fleet.json"
    inventory.write_text(json.dumps({"all": {"vars": {"ansible_connection": "local"},
                                             "hosts": {"dev": {}, "staging": {}, "prod": {}}}}))
    play = tmp_path / "download.yml"
    play.write_text(json.dumps([{"name": "fleet", "hosts": "all", "gather_facts": False, "tasks": [
        {"name": "get istioctl", "ansible.builtin.include_role": {"name": "istio_demo.mesh.istio_install",
                                                                  "tasks_from": "istioctl.yml"},
         "vars": {"istio_install_download_base_url": url, "istio_install_download_dir": cache,
                  "istio_install_version": VERSION}}]}]))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_COLLECTIONS_PATH=REPO_COLLECTIONS)
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory),
                           "--forks", "3", str(play)], env=env, capture_output=True, text=True, timeout=300,
                          check=False, cwd=str(tmp_path))
    run = PlaybookRun(proc)
    assert run.rc == 0, run.outline()
    downloads = [task["hosts"] for play_data in run.data["plays"] for task in play_data["tasks"]
                 if task["task"]["name"].endswith("Download istioctl and verify its published sha256")][0]
    changed = [host for host, result in downloads.items() if result.get("changed")]
    assert len(changed) == 1 and changed[0] in ("dev", "staging", "prod"), downloads
    assert [path for path in requested if path.endswith(".tar.gz")] == ["/%s/%s" % (VERSION, ARCHIVE)]
    with open(os.path.join(cache, "istioctl"), "rb") as handle:
        assert handle.read() == script
    assert os.access(os.path.join(cache, "istioctl"), os.X_OK)
