#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: local_file
short_description: Write a file whole from text - a private temporary one, or a report - or remove it
version_added: 0.5.0
author:
  - istio_demo.mesh developers (@istio-demo-mesh)
description:
  - Writes a file whole from O(content) - a new private temporary file (O(temporary_prefix), mode C(0600), in the
    temporary directory C(TMPDIR) names) or a named file (O(path), with its missing parent directories, replaced
    in one rename) - or removes it (O(state=absent)).
  - With O(remove_after_play=true), a watcher in a session of its own removes the file once the C(ansible-playbook)
    process that ran the task has ended, however it ended (a play killed outright, a cancelled job), as a safety
    net behind the play's own removal. It waits with coreutils' C(tail --pid).
  - On a host reached with the C(local) connection, without C(become), the module's action plugin does the work in
    Ansible's worker on the controller and starts no module process; on any other host the module runs there.
    Either way the result is the same.
  - The collection's play writes its temporary AWS credentials file and the fleet summary with it.
options:
  state:
    description:
      - C(present) writes the file; C(absent) removes it (nothing to do when it does not exist).
    type: str
    choices: [present, absent]
    default: present
  path:
    description:
      - The file to write or remove. Exactly one of O(path) and O(temporary_prefix).
    type: path
  temporary_prefix:
    description:
      - Make a new file whose name starts with this prefix in the temporary directory (C(TMPDIR), else the
        system's), readable by this user only; RV(path) names it. Exactly one of O(path) and O(temporary_prefix).
        A name, not a path.
    type: str
  content:
    description:
      - The text to write (UTF-8). Required with O(state=present). Never returned or logged by the module; give the
        task C(no_log) when it holds a secret, so that Ansible does not show the task's arguments either.
    type: str
  mode:
    description:
      - Octal permissions, such as C('0600'). Default - C(0600) for a temporary file, what the umask gives a new
        file for O(path).
    type: str
  remove_after_play:
    description:
      - Start the watcher that removes the file once the C(ansible-playbook) process above the task has ended. No
        watcher when there is none (a module run by another program); RV(watcher) says which process is watched.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Says whether the file would be written or removed, and writes nothing.
  diff_mode:
    support: none
    description: The content is not shown; it may be a secret.
requirements:
  - ps(1) and coreutils' tail (for O(remove_after_play))
notes:
  - Unlike C(ansible.builtin.copy) with C(content), which runs a module process on the controller even with the
    C(local) connection, this costs the play no process there.
"""

EXAMPLES = r"""
- name: Write credentials to a private temporary file that does not outlive the play
  istio_demo.mesh.local_file:
    temporary_prefix: my-play-aws.
    content: |
      [my-play]
      aws_access_key_id = {{ access_key }}
      aws_secret_access_key = {{ secret_key }}
    remove_after_play: true
  register: credentials
  no_log: true

- name: Remove it when the play ends
  istio_demo.mesh.local_file:
    path: "{{ credentials.path }}"
    state: absent

- name: Write a report beside the playbooks, making its directory
  istio_demo.mesh.local_file:
    path: "{{ playbook_dir }}/reports/summary.md"
    content: "{{ summary }}"
"""

RETURN = r"""
path:
  description: The file written or removed; null for a temporary file in check mode (none was made).
  returned: always
  type: str
  sample: /tmp/my-play-aws.k3j9x2ab
watcher:
  description:
    - The C(ansible-playbook) process the watcher waits for (O(remove_after_play)); null when no such process was
      found above the task.
  returned: when O(remove_after_play=true) and the file was written
  type: int
  sample: 4242
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import run_engine
from ansible_collections.istio_demo.mesh.plugins.module_utils.local_file import ARGUMENT_SPEC, run


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_engine(module, lambda module: run(module.params, module.check_mode))


if __name__ == "__main__":
    main()
