"""local_file's engine: the options it refuses, the files it writes and removes, and the watcher that removes a
file once the ansible-playbook process above it has ended."""

import os
import stat
import subprocess
import sys
import time

import pytest

from ansible_collections.istio_demo.mesh.plugins.module_utils import local_file


def params(**given):
    values = dict((name, spec.get("default")) for name, spec in local_file.ARGUMENT_SPEC.items())
    values.update(given)
    return values


@pytest.mark.parametrize("given, named", [
    (dict(content="x"), "path=None, temporary_prefix=None are invalid: expected exactly one"),
    (dict(path="/tmp/a", temporary_prefix="b.", content="x"), "expected exactly one"),
    (dict(temporary_prefix="b.", state="absent"), "temporary_prefix='b.' is invalid with state=absent"),
    (dict(temporary_prefix="a/b.", content="x"), "temporary_prefix='a/b.' is invalid: expected a file name prefix"),
    (dict(path="/tmp/a"), "content is missing"),
    (dict(path="/tmp/a", state="absent", remove_after_play=True), "remove_after_play=true is invalid"),
    (dict(path="/tmp/a", content="x", mode="rw"), "mode='rw' is invalid: expected octal permissions"),
    (dict(path="/tmp/a", content="x", mode="01777"), "mode='01777' is invalid"),
])
def test_options_that_do_not_go_together_are_refused_naming_them(tmp_path, given, named):
    with pytest.raises(local_file.LocalFileError) as error:
        local_file.run(params(**given))
    assert named in error.value.message


def test_a_temporary_file_is_new_private_and_in_tmpdir(tmp_path, monkeypatch):
    monkeypatch.setattr(local_file.tempfile, "tempdir", str(tmp_path))
    first = local_file.run(params(temporary_prefix="keys.", content="[p]\nsecret = s\n"))
    second = local_file.run(params(temporary_prefix="keys.", content="other"))
    assert first["changed"] and first["path"] != second["path"]
    assert os.path.dirname(first["path"]) == str(tmp_path) and os.path.basename(first["path"]).startswith("keys.")
    assert stat.S_IMODE(os.stat(first["path"]).st_mode) == 0o600
    with open(first["path"]) as handle:
        assert handle.read() == "[p]\nsecret = s\n"
    assert "watcher" not in first  # none asked for


def test_check_mode_makes_no_temporary_file(tmp_path, monkeypatch):
    monkeypatch.setattr(local_file.tempfile, "tempdir", str(tmp_path))
    assert local_file.run(params(temporary_prefix="keys.", content="x"), check_mode=True) == dict(changed=True, path=None)
    assert os.listdir(str(tmp_path)) == []


def test_a_named_file_is_written_with_its_directories_then_left_alone(tmp_path):
    path = str(tmp_path / "reports" / "deep" / "fleet-site.md")
    old = os.umask(0o022)
    try:
        assert local_file.run(params(path=path, content="| a |\n"), check_mode=True)["changed"]
        assert not os.path.exists(path)
        assert local_file.run(params(path=path, content="| a |\n")) == dict(changed=True, path=path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644  # what the umask gives, as a shell's > would
        assert local_file.run(params(path=path, content="| a |\n")) == dict(changed=False, path=path)
        assert local_file.run(params(path=path, content="| b |\n"))["changed"]
        assert local_file.run(params(path=path, content="| b |\n", mode="0600"))["changed"]
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        os.umask(old)
    with open(path) as handle:
        assert handle.read() == "| b |\n"
    assert os.listdir(os.path.dirname(path)) == ["fleet-site.md"]  # no scratch file left beside it


def test_absent_removes_the_file_once(tmp_path):
    path = tmp_path / "keys"
    path.write_text("x")
    assert local_file.run(params(path=str(path), state="absent"), check_mode=True)["changed"]
    assert path.exists()
    assert local_file.run(params(path=str(path), state="absent")) == dict(changed=True, path=str(path))
    assert not path.exists()
    assert local_file.run(params(path=str(path), state="absent")) == dict(changed=False, path=str(path))


def _script(path, text):
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def test_the_ansible_playbook_process_watched_is_the_topmost(tmp_path):
    # Ansible's workers are forks of ansible-playbook with its command line: the play is the one at the top
    probe = "import sys; sys.path[:0] = %r; " % sys.path + \
        "from ansible_collections.istio_demo.mesh.plugins.module_utils import local_file; " \
        "print(local_file.playbook_ancestor())"
    worker = _script(tmp_path / "ansible-playbook-worker", "#!/bin/sh\n%s -c \"$1\"\n" % sys.executable)
    play = _script(tmp_path / "ansible-playbook", "#!/bin/sh\necho $$\n%s \"$1\"\n" % worker)
    # a narrow COLUMNS (as a terminal may export) must not cut the command lines ps reads
    env = dict(os.environ, COLUMNS="40")
    top, found = subprocess.check_output([play, probe], env=env).decode().split()
    assert found == top
    assert subprocess.check_output([sys.executable, "-c", probe]).decode().strip() == "None"


def test_the_watcher_removes_the_file_once_the_watched_process_ends(tmp_path):
    path = tmp_path / "keys"
    path.write_text("secret")
    watched = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        assert local_file.watch(str(path), watched.pid) == watched.pid
        assert path.exists()  # the watched process still runs
    finally:
        watched.stdin.close()
        watched.wait()
    deadline = time.time() + 30
    while path.exists():
        assert time.time() < deadline, "the watcher left the file after its process ended"
        time.sleep(0.1)
