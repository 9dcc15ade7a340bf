# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the token module and hides a successful result from output and logs, as no_log would.

The module returns a bearer token, which a module cannot mask by itself (Ansible drops ``_ansible_*``
keys from module results); this action marks the result no_log. ``register`` still gets all of it.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):

    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result.update(self._execute_module(module_name=self._task.resolved_action or self._task.action,
                                           module_args=self._task.args, task_vars=task_vars))
        if result.get("access_token"):
            result["_ansible_no_log"] = True  # a failure carries no token and stays readable
        return result
