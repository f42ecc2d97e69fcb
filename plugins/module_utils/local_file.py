# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The engine of the local_file module and of its action plugin: a file written whole from text (a new private
temporary file, or a named one with its parent directories), or removed; and a watcher that removes a file once
the ansible-playbook process that wrote it has gone, however it ended.

It needs nothing but the standard library, so that the action plugin can run it in the controller's worker when
the connection is local (no module process), and the module on any other host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import tempfile

from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    path=dict(type="path"),
    temporary_prefix=dict(type="str"),
    content=dict(type="str", no_log=True),
    mode=dict(type="str"),
    remove_after_play=dict(type="bool", default=False),
)

PLAYBOOK_COMMAND = "ansible-playbook"


class LocalFileError(MeshError):
    """The options cannot be used, or the file could not be written or removed."""


def check(params):
    """Refuse options that do not go together, before anything is written."""
    path, prefix, state = params.get("path"), params.get("temporary_prefix"), params["state"]
    if bool(path) == bool(prefix):
        raise LocalFileError("path=%r, temporary_prefix=%r are invalid: expected exactly one - the file to write or "
                             "remove, or the prefix of a new temporary file" % (path, prefix))
    if prefix and state != "present":
        raise LocalFileError("temporary_prefix=%r is invalid with state=%s: expected state=present (a temporary "
                             "file is made new; remove it by path)" % (prefix, state))
    if prefix and os.sep in prefix:
        raise LocalFileError("temporary_prefix=%r is invalid: expected a file name prefix without %s (the file goes "
                             "in the temporary directory, TMPDIR)" % (prefix, os.sep))
    if state == "present" and params.get("content") is None:
        raise LocalFileError("content is missing: expected the text to write with state=present")
    if state == "absent" and params.get("remove_after_play"):
        raise LocalFileError("remove_after_play=true is invalid with state=absent: expected state=present")
    mode = params.get("mode")
    if mode is not None:
        try:
            value = int(mode, 8)
        except ValueError:
            value = -1
        if not 0 <= value <= 0o777:
            raise LocalFileError("mode=%r is invalid: expected octal permissions such as '0600'" % (mode,))


def run(params, check_mode=False, playbook_pid=None):
    """The result of the options; raises LocalFileError. ``playbook_pid``: the ansible-playbook process the
    watcher waits for (found among this process's ancestors when None)."""
    check(params)
    if params["state"] == "absent":
        return _remove(params["path"], check_mode)
    mode = int(params["mode"], 8) if params.get("mode") is not None else None
    data = params["content"].encode("utf-8")
    if params.get("temporary_prefix"):
        if check_mode:
            return dict(changed=True, path=None)
        path = _write_temporary(params["temporary_prefix"], data, mode)
    else:
        path = params["path"]
        if _same(path, data, mode):
            return dict(changed=False, path=path)
        if check_mode:
            return dict(changed=True, path=path)
        _write_named(path, data, mode)
    result = dict(changed=True, path=path)
    if params.get("remove_after_play"):
        result["watcher"] = watch(path, playbook_pid)
    return result


def _remove(path, check_mode):
    if not os.path.lexists(path):
        return dict(changed=False, path=path)
    if not check_mode:
        try:
            os.unlink(path)
        except OSError as exc:
            raise LocalFileError("removing %s failed: %s" % (path, exc.strerror or exc))
    return dict(changed=True, path=path)


def _write_temporary(prefix, data, mode):
    """A new file only this user reads (mkstemp makes it 0600), in TMPDIR; removed again if the write fails."""
    try:
        handle, path = tempfile.mkstemp(prefix=prefix)
    except OSError as exc:
        where = tempfile.gettempdir()
        raise LocalFileError("making a temporary file %s* in %s failed: %s" % (prefix, where, exc.strerror or exc))
    try:
        if mode is not None:
            os.fchmod(handle, mode)
        _write_all(handle, data)
    except OSError as exc:
        os.close(handle)
        os.unlink(path)
        raise LocalFileError("writing %s failed: %s" % (path, exc.strerror or exc))
    os.close(handle)
    return path


def _same(path, data, mode):
    try:
        with open(path, "rb") as handle:
            same = handle.read() == data
        return same and (mode is None or (os.stat(path).st_mode & 0o777) == mode)
    except (IOError, OSError):
        return False


def _write_named(path, data, mode):
    """``path`` replaced whole (a file beside it renamed over it), its parent directories made when missing."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        handle, scratch = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    except OSError as exc:
        raise LocalFileError("writing %s failed: %s" % (path, exc.strerror or exc))
    try:
        # without mode: the permissions a new file gets from the umask (mkstemp's 0600 is for secrets)
        os.fchmod(handle, mode if mode is not None else 0o666 & ~_umask())
        _write_all(handle, data)
        os.close(handle)
        handle = None
        os.rename(scratch, path)
    except OSError as exc:
        if handle is not None:
            os.close(handle)
        os.unlink(scratch)
        raise LocalFileError("writing %s failed: %s" % (path, exc.strerror or exc))


def _write_all(handle, data):
    view = memoryview(data)
    while view:
        view = view[os.write(handle, view):]


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def playbook_ancestor(pid=None):
    """The topmost process from ``pid`` (default: this one) up whose command line runs ansible-playbook, read with
    ps(1) as on Linux and macOS alike: Ansible's workers are forks of it with the same command line and end with
    their task, so the nearest is not the one to wait for. None when there is none (no ansible-playbook above)."""
    pid = os.getpid() if pid is None else pid
    found = None
    while pid > 1:
        try:
            # -ww: the whole command line, whatever width COLUMNS or a terminal gives ps
            output = subprocess.check_output(["ps", "-ww", "-o", "ppid=", "-o", "args=", "-p", str(pid)],
                                             stderr=subprocess.DEVNULL).decode("utf-8", "replace").strip()
        except (OSError, subprocess.CalledProcessError):
            break
        parent, _sep, args = output.partition(" ")
        if PLAYBOOK_COMMAND in args:
            found = pid
        try:
            pid = int(parent)
        except ValueError:
            break
    return found


def watch(path, playbook_pid=None):
    """Start a watcher in a session of its own (so that killing the play's process group leaves it) that removes
    ``path`` once ``playbook_pid`` has ended - coreutils' ``tail --pid`` waits for it. Returns the process watched,
    or None when no ansible-playbook process is found (the play's own removal is then the only one)."""
    pid = playbook_pid or playbook_ancestor()
    if not pid:
        return None
    script = 'trap "" HUP INT TERM; tail --pid="$1" -f /dev/null; rm -f "$2"'
    try:
        subprocess.Popen(["sh", "-c", script, "watch", str(pid), path], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                         close_fds=True)
    except OSError as exc:
        raise LocalFileError("starting the watcher that removes %s after the play failed: %s" % (
            path, exc.strerror or exc))
    return pid
