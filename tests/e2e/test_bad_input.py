# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad-input corpus, end-to-end sample (issue 7): the unit corpus (tests/unit/plugins/test_bad_input_corpus.py)
covers every case in-process; this runs a sample of each module and the lookup through ansible-playbook and checks
what a user sees: the task fails, the message names the option, there is no traceback anywhere in the output, and
the emulator's request log stays empty (nothing was sent, not even a sign-in)."""
from __future__ import annotations

import json

import pytest

from security.helpers import play, task

GUID = "0a1b2c3d-0001-4000-8000-00000000f011"

# (task name, module or "lookup", args, option names the message must contain)
CASES = [
    ("token conflicting credentials", "token", {"client_certificate_path": "/etc/hostname"},
     ("client_secret", "client_certificate_path")),
    ("token http login_url", "token", {"login_url": "http://127.0.0.1:9"}, ("login_url",)),
    ("token bad client_id", "token", {"client_id": "my-app"}, ("client_id",)),
    ("token missing assertion file", "token", {"client_secret": "", "client_assertion_file": "/nonexistent/a.jwt"},
     ("client_assertion_file",)),
    ("token_info bad leeway", "token_info", {"leeway": "a minute"}, ("leeway",)),
    ("token_info http api_url", "token_info", {"api_url": "http://127.0.0.1:9"}, ("api_url",)),
    ("alert_info bad severity", "alert_info", {"severity": ["Critical"]}, ("severity",)),
    ("alert_info bad datetime", "alert_info", {"created_after": "2026-02-30T00:00:00Z"}, ("created_after",)),
    ("alert_info overflowing age", "alert_info", {"updated_after": "999999999999d"}, ("updated_after",)),
    ("alert_info page_size over cap", "alert_info", {"page_size": 10001}, ("page_size",)),
    ("alert_export missing dest dir", "alert_export", {"dest": "/nonexistent/dir/alerts.jsonl"}, ("dest",)),
    ("alert_export columns for jsonl", "alert_export", {"dest": "/tmp/a.jsonl", "columns": ["id"]}, ("columns",)),
    ("alert bad status", "alert", {"id": "da637", "status": "Closed"}, ("status",)),
    ("alert bad determination", "alert", {"id": "da637", "determination": "Aliens"}, ("determination",)),
    ("alert id path", "alert", {"id": "..", "status": "Resolved"}, ("id",)),
    ("machine_info bad ip", "machine_info", {"ip": "999.1.1.1"}, ("ip",)),
    ("machine_info timeout text", "machine_info", {"timeout": "soon"}, ("timeout",)),
    ("machine_info name with newline", "machine_info", {"name": "a\nb"}, ("name",)),
    ("machine_isolation both selectors", "machine_isolation",
     {"machine": "a", "machines": ["b"], "comment": "x"}, ("machine", "machines")),
    ("machine_isolation bad state", "machine_isolation", {"machine": "a", "state": "gone", "comment": "x"},
     ("state",)),
    ("machine_isolation no comment", "machine_isolation", {"machine": "a"}, ("comment",)),
    ("machine_isolation bad cloud", "machine_isolation", {"machine": "a", "comment": "x", "cloud": "azure"},
     ("cloud",)),
    ("machine_action_info bad id", "machine_action_info", {"id": "not-a-guid"}, ("id",)),
    ("machine_action_info bad type", "machine_action_info", {"type": ["Reboot"]}, ("type",)),
    ("machine_action_info missing ca_path", "machine_action_info", {"ca_path": "/nonexistent/ca.pem"},
     ("ca_path",)),
    ("lookup bad client_id", "lookup", {"client_id": "my-app"}, ("client_id",)),
    ("lookup http api_url", "lookup", {"api_url": "http://127.0.0.1:9"}, ("api_url",)),
    ("lookup conflicting credentials", "lookup", {"client_assertion_file": "/etc/hostname"},
     ("client_secret", "client_assertion_file")),
    ("lookup password without certificate", "lookup", {"client_certificate_password": "pw"},
     ("client_certificate_password",)),
]


def _lookup_task(name, args):
    kwargs = ", ".join("%s=%s" % (k, json.dumps(v)) for k, v in args.items())
    return ("    - name: %s\n      ansible.builtin.debug:\n        msg: \"{{ lookup('defender.endpoint.token', %s) }}\"\n"
            "      ignore_errors: true\n" % (name, kwargs.replace('"', "'")))


def test_bad_input_fails_before_any_request(emulator, ansible):
    emulator.reset()
    tasks = [(_lookup_task(n, a) if mod == "lookup" else task(n, mod, a)) for n, mod, a, _options in CASES]
    run = ansible.playbook(play(*tasks), verbosity=1)
    for name, _mod, _args, options in CASES:
        record = run.task(name)
        assert record is not None, name
        assert record["status"] == "failed", "%s: %r" % (name, record["result"])
        msg = record["result"].get("msg") or ""
        for option in options:
            assert option in msg, "%s: message does not name %s: %s" % (name, option, msg)
        assert "Traceback" not in msg and "MODULE FAILURE" not in msg, "%s: %s" % (name, msg)
        assert "Traceback" not in str(record["result"].get("exception") or ""), name
    assert "Traceback" not in run.stdout and "Traceback" not in run.stderr
    assert emulator.control.requests() == [], "a request reached the emulator"
    assert run.stats["localhost"]["ignored"] == len(CASES)


@pytest.mark.parametrize("verbosity", [0, 3])
def test_type_errors_are_ansibles_own_clear_messages(emulator, ansible, verbosity):
    """Wrong types are caught by Ansible's argument spec with its message; at -vvv too, no traceback."""
    emulator.reset()
    run = ansible.playbook(play(task("list for int", "machine_info", {"timeout": [30]}),
                                task("dict for list", "alert_info", {"severity": {"High": True}}),
                                task("text for int", "alert_info", {"limit": "all"}),
                                task("text for bool", "machine_isolation", {"machine": "a", "comment": "x",
                                                                            "wait": "maybe"})),
                           verbosity=verbosity)
    for name, option in (("list for int", "timeout"), ("dict for list", "severity"), ("text for int", "limit"),
                         ("text for bool", "wait")):
        record = run.task(name)
        assert record["status"] == "failed" and option in record["result"]["msg"], record
    assert "Traceback" not in run.stdout + run.stderr
    assert emulator.control.requests() == []
