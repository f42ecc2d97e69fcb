"""One AWS identity for the whole play: the AWS modules, the kubernetes client's exec credential and istioctl's.

On EKS the kubeconfig runs `aws eks get-token` for every client; it signs with whatever AWS identity its process
finds. Here the kubeconfig's exec plugin does what get-token does with credentials (resolve them as botocore does,
sign an STS request the sandbox's AWS checks) and records which key it signed with and which process ran it. The
playbook's process carries other, wrong keys in its environment: only the play's identity may be used.
"""

import json
import os
import signal
import subprocess
import sys
import time

from playbook import ROOT, playbook_invocation
from playbook import collection_playbook as playbook

PLUGIN = '''#!%(python)s
import json, os, subprocess, sys
import traceback
import boto3
def failed(kind, value, tb):
    sys.stderr.write(" ".join(traceback.format_exception(kind, value, tb)[-1:]).replace(chr(10), " ") + repr(
        sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_") and "SECRET" not in k)))
sys.excepthook = failed
session = boto3.session.Session(region_name="us-east-1")
key = session.get_credentials().access_key
with open("/proc/%%d/cmdline" %% os.getppid(), "rb") as handle:
    parent = handle.read().replace(b"\\0", b" ").decode()
with open(sys.argv[1], "a") as log:
    log.write(json.dumps({"key": key, "parent": parent}) + "\\n")
# then what the sandbox kubeconfig's plugin does (aws eks get-token): the token the API server checks
sys.stdout.write(subprocess.run(sys.argv[2:], check=True, capture_output=True, text=True).stdout)
'''


def exec_kubeconfig(sandbox, tmp_path):
    plugin = tmp_path / "get-token"
    plugin.write_text(PLUGIN % {"python": sys.executable})
    plugin.chmod(0o755)
    log = tmp_path / "identities.log"
    with open(sandbox.kubeconfig) as handle:
        config = json.load(handle)
    real = config["users"][0]["user"]["exec"]
    config["users"][0]["user"] = {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(plugin),
        "args": [str(log), real["command"]] + real["args"], "interactiveMode": "Never"}}
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    return str(path), log


def test_every_process_of_the_play_uses_the_plays_aws_identity(cluster, tmp_path, monkeypatch):
    kubeconfig, log = exec_kubeconfig(cluster, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-plays-secret")
    # and IRSA's web identity, as on an AWX pod on EKS: botocore's chain takes it before a profile's keys
    token = tmp_path / "irsa-token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/awx-pod")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # where the play's temporary credentials file goes
    rc, stats, proc = playbook(cluster, tmp_path, "site.yml", "--tags", "aws,istio", "-e",
                               "mesh_kubeconfig=" + kubeconfig)
    failed = [line for line in proc.stdout.splitlines() if '"msg"' in line]
    assert rc == 0, "\n".join(failed[-3:])
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert {r["key"] for r in records} == {cluster.state["aws"]["access_key"]}, records
    assert [r for r in records if "sandbox.istioctl" in r["parent"]], "istioctl never ran the exec plugin"
    assert [r for r in records if "AnsiballZ" in r["parent"]], "no module's kubernetes client ran it"
    assert cluster.state["aws"]["secret_key"] not in proc.stdout + proc.stderr
    assert not [name for name in os.listdir(str(scratch)) if name.startswith("istio-demo-mesh-aws.")]  # removed


def test_a_kubeconfig_whose_plugin_runs_as_another_profile_is_refused_before_anything_is_written(cluster, tmp_path,
                                                                                                 monkeypatch):
    # as `aws eks update-kubeconfig --profile platform-admin` writes it: the profile in the exec plugin's env
    with open(cluster.kubeconfig) as handle:
        config = json.load(handle)
    config["users"][0]["user"]["exec"]["env"] = [{"name": "AWS_PROFILE", "value": "platform-admin"}]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps(config))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    rc, stats, proc = playbook(cluster, tmp_path, "site.yml", "--tags", "aws,istio", "-e",
                               "mesh_kubeconfig=" + str(kubeconfig))
    assert rc != 0
    message = [line for line in proc.stdout.splitlines() if "outranks the play's AWS identity" in line]
    assert message and "with AWS_PROFILE=platform-admin in its exec env" in message[0], proc.stdout[-2000:]
    assert "(the keys in mesh_aws_access_key)" in message[0] and str(kubeconfig) in message[0], message[0]
    assert os.listdir(str(scratch)) == []  # no keys file was written


def _until(check, what, timeout):
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, what
        time.sleep(0.2)


def test_the_keys_file_does_not_outlive_a_play_killed_outright(cluster, tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    argv, env = playbook_invocation("site.yml", os.path.join(ROOT, "inventories", "sandbox"), "--tags", "aws,istio",
                                    env={"SANDBOX_STATE_DIR": cluster.state_dir, "TMPDIR": str(scratch)})

    def keys_files():
        return [name for name in os.listdir(str(scratch)) if name.startswith("istio-demo-mesh-aws.")]

    # the play, its workers and their modules in a group of their own, killed together as a cancelled job is
    play = subprocess.Popen(argv, env=env, cwd=str(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        _until(lambda: keys_files() or play.poll() is not None, "the play wrote no keys file", 300)
        assert play.poll() is None, "the play ended before it could be killed"
        os.killpg(play.pid, signal.SIGKILL)
        play.wait(timeout=60)
        # nothing of the play ran after the kill, yet the keys do not stay on disk
        _until(lambda: not keys_files(), "the keys file outlived the killed play: %s" % keys_files(), 30)
    finally:
        if play.poll() is None:
            os.killpg(play.pid, signal.SIGKILL)
