"""The collection's Jinja plugins stay light: a task that uses any test or filter of the collection makes Ansible
load all of them in that task's worker, so whatever they import is paid by every such task (a role's checks, its
set_facts). A Kubernetes client or boto3 imported there cost each of those tasks about 0.2 s."""

import json
import os
import subprocess
import sys

HEAVY = ("kubernetes", "boto3", "botocore")

LOAD = """
import json, sys
from ansible.plugins.loader import init_plugin_loader, filter_loader, test_loader
init_plugin_loader()
assert test_loader.get("istio_demo.mesh.dns_label") is not None
assert test_loader.get("istio_demo.mesh.istio_release") is not None
assert filter_loader.get("istio_demo.mesh.canary_plan") is not None
assert filter_loader.get("istio_demo.mesh.sg_wanted_rules") is not None
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in %r)))
""" % (HEAVY,)


def test_loading_every_test_and_filter_of_the_collection_imports_no_cloud_client():
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(repo, "build", "collections"))
    proc = subprocess.run([sys.executable, "-c", LOAD], env=env, capture_output=True, text=True, check=False,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
