# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module: the module base fails cleanly (no traceback, no secret) for unexpected and OS errors."""

from __future__ import annotations

import json
import os

from ansible_collections.defender.endpoint.plugins.module_utils import module as module_base


def test_unexpected_exceptions_become_a_clean_failure(monkeypatch):
    from ansible_collections.defender.endpoint.tests.unit.plugins.modules.utils import run_module

    def main():
        m = module_base.DefenderModule(argument_spec={}, supports_check_mode=True)

        def boom(_module):
            raise KeyError("-".join(("secret", "looking", "text")))  # not in the source line
        m.run(boom)

    result, failed = run_module(main, {"access_token": "a.b.c"}, monkeypatch)
    assert failed and "unexpected KeyError" in result["msg"] and "secret-looking-text" not in json.dumps(result)
    assert "Traceback" not in result["msg"]


def test_os_errors_are_reported_with_the_file(monkeypatch, tmp_path):
    from ansible_collections.defender.endpoint.tests.unit.plugins.modules.utils import run_module
    target = os.path.join(str(tmp_path), "missing", "x.jsonl")

    def main():
        m = module_base.DefenderModule(argument_spec={}, supports_check_mode=True)
        m.run(lambda _m: open(target, "w", encoding="utf-8"))

    result, failed = run_module(main, {"access_token": "a.b.c"}, monkeypatch)
    assert failed and "No such file" in result["msg"] and target in result["msg"]
