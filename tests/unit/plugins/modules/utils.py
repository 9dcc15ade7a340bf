# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's main() in-process with given args; exit_json/fail_json become exceptions."""

from __future__ import annotations

import contextlib
import json

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes


class ModuleExit(BaseException):  # like SystemExit: must pass through broad "except Exception"
    def __init__(self, result, failed):
        super().__init__(result)
        self.result = result
        self.failed = failed


@contextlib.contextmanager
def module_args(args):
    """Patch the module's input. 2.19+ ships patch_module_args; older cores read basic._ANSIBLE_ARGS."""
    args = dict(args)
    args.setdefault("_ansible_remote_tmp", "/tmp")
    args.setdefault("_ansible_keep_remote_files", False)
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:
        patch_module_args = None
    if patch_module_args is not None:
        with patch_module_args(args):
            yield
    else:
        old = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = old


def run_module(main, args, monkeypatch):
    """Run ``main`` and return (result, failed)."""

    def exit_json(self, **kwargs):
        kwargs.setdefault("changed", False)
        raise ModuleExit(kwargs, False)

    def fail_json(self, **kwargs):
        raise ModuleExit(kwargs, True)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    with module_args(args):
        with pytest.raises(ModuleExit) as info:
            main()
    return info.value.result, info.value.failed
