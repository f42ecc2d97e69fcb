# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local_file module's action: on a host reached with the local connection and without become, the file is
the controller's own, so the worker writes it itself (module_utils.local_file) and no module process starts - a
play's tasks cost about half a second each for that process alone. Anywhere else the module runs on the host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.istio_demo.mesh.plugins.module_utils.local_file import ARGUMENT_SPEC, LocalFileError, run

MODULE = "istio_demo.mesh.local_file"


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _supports_check_mode = True

    def _in_worker(self):
        return getattr(self._connection, "transport", None) == "local" and not self._play_context.become

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        if not self._in_worker():
            result.update(self._execute_module(module_name=MODULE, module_args=self._task.args, task_vars=task_vars))
            return result
        dummy, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            result.update(run(params, check_mode=self._task.check_mode))
        except LocalFileError as exc:
            raise AnsibleActionFail(exc.message)
        return result
